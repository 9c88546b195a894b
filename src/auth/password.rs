//! Password hashing with argon2id (m = 19 MiB, t = 2, p = 1, OWASP's baseline).
//!
//! One hash costs ~15 ms of CPU, so it never runs on an async worker: a fixed set of threads (one
//! per core) takes hashes from a queue, so a login flood queues here instead of starving every
//! other route of CPU. Dedicated threads rather than tokio's blocking pool also bound memory: each
//! hash allocates 19 MiB, and glibc keeps freed memory in per-thread arenas, so hashing on whatever
//! blocking thread happens to be free grew an api node to 1.3 GB after 10 000 logins. And each
//! thread hashes in one working memory of its own, allocated once ([`MEMORY`]): allocating it per
//! hash raised glibc's mmap threshold to 19 MiB, after which freed memory stayed in the allocator
//! (an api node held 393 MiB after 10 000 sign-ups with 46 MB live; 28 MiB with the threshold
//! pinned, but every hash then page-faulted 19 MiB afresh and sign-ups took 1.7 × as long).

use anyhow::Context;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordVerifier as _, Version};
use std::cell::RefCell;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A unit of hashing work for the hashing threads.
type Job = Box<dyn FnOnce() + Send>;

/// A password as received; `Debug` never shows it.
#[derive(Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    /// Wrap a plaintext password.
    pub fn new(plain: impl Into<String>) -> Self {
        Self(plain.into())
    }

    /// The plaintext, for validation and hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Hashes and verifies passwords off the async workers.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: mpsc::Sender<Job>,
    // Verified against when the email is unknown, so both failures cost the same time.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// A hasher that runs at most `concurrency` hashes at once, on as many threads of its own.
    /// The threads end when the last clone of the hasher is dropped.
    pub fn new(concurrency: usize) -> anyhow::Result<Self> {
        let dummy_hash = hash_blocking("not-a-real-password-only-for-timing")?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..concurrency.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job, not while hashing.
                        let next = queue.lock().map(|q| q.recv());
                        let Ok(Ok(job)) = next else { return };
                        // A panicking job fails its caller (its reply is dropped), not the thread.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .context("failed to start a password hashing thread")?;
        }
        Ok(Self {
            jobs,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The PHC string for a new password.
    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let plain = password.expose().to_owned();
        self.run(move || hash_blocking(&plain)).await?
    }

    /// Whether `password` matches `phc` (a stored hash). With `None`, burns the same time and
    /// returns false, so an unknown email cannot be told from a wrong password by timing.
    pub async fn verify(&self, password: &Password, phc: Option<String>) -> anyhow::Result<bool> {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy_hash.to_string());
        let plain = password.expose().to_owned();
        let matches = self.run(move || verify_blocking(&plain, &phc)).await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .map_err(|_| anyhow::anyhow!("password hasher closed"))?;
        result.await.context("password hashing failed")
    }
}

/// The parameters every new hash uses.
fn params() -> Params {
    // These constant parameters are valid; Params::DEFAULT is the fallback only in theory.
    Params::new(19 * 1024, 2, 1, None).unwrap_or(Params::DEFAULT)
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

thread_local! {
    /// This thread's argon2 working memory (19 MiB for [`params`]), kept between hashes.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2id with [`params`] of `password` and `salt` into `out`, in this thread's [`MEMORY`].
fn hash_into(password: &[u8], salt: &[u8], out: &mut [u8]) -> argon2::Result<()> {
    MEMORY.with_borrow_mut(|memory| {
        memory.resize(params().block_count(), Block::new());
        argon2().hash_password_into_with_memory(password, salt, out, memory.as_mut_slice())
    })
}

fn hash_blocking(plain: &str) -> anyhow::Result<String> {
    let salt = Salt::generate();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    hash_into(plain.as_bytes(), &salt, &mut out)
        .map_err(|e| anyhow::anyhow!("failed to hash password: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params())
            .map_err(|e| anyhow::anyhow!("failed to encode argon2 parameters: {e}"))?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("argon2 output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Whether `plain` matches the stored `phc`. A hash made with [`params`] (every hash this code
/// makes) is checked in this thread's [`MEMORY`]; any other (older parameters) by argon2 itself.
fn verify_blocking(plain: &str, phc: &str) -> bool {
    let Ok(stored) = PasswordHash::new(phc) else {
        return false;
    };
    let ours = stored.algorithm == Algorithm::Argon2id.ident()
        && stored.version == Some(Version::V0x13.into())
        && Params::try_from(&stored).is_ok_and(|p| p == params());
    let (Some(salt), Some(expected), true) = (&stored.salt, &stored.hash, ours) else {
        return argon2().verify_password(plain.as_bytes(), phc).is_ok();
    };
    let mut out = vec![0u8; expected.len()];
    hash_into(plain.as_bytes(), salt, &mut out).is_ok()
        // `Output` compares in constant time.
        && Output::new(&out).is_ok_and(|computed| &computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() -> anyhow::Result<()> {
        let hasher = PasswordHasher::new(1)?;
        let hash = hasher.hash(&Password::new("correct horse")).await?;
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify(&Password::new("correct horse"), Some(hash.clone()))
                .await?
        );
        assert!(
            !hasher
                .verify(&Password::new("wrong horse"), Some(hash))
                .await?
        );
        assert!(!hasher.verify(&Password::new("correct horse"), None).await?);
        Ok(())
    }

    #[test]
    fn hashes_agree_with_argon2s_own_both_ways() -> anyhow::Result<()> {
        use argon2::PasswordHasher as _;
        // Made by argon2 itself (as every hash stored before this code was): we verify it.
        let theirs = argon2()
            .hash_password(b"correct horse")
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .to_string();
        assert!(verify_blocking("correct horse", &theirs));
        assert!(!verify_blocking("correct horsf", &theirs));
        // Made here: argon2 itself verifies it.
        let ours = hash_blocking("correct horse")?;
        assert!(
            argon2()
                .verify_password(b"correct horse", ours.as_str())
                .is_ok()
        );
        assert!(
            argon2()
                .verify_password(b"correct horsf", ours.as_str())
                .is_err()
        );
        // Two hashes of one password differ (a fresh salt each).
        assert_ne!(ours, hash_blocking("correct horse")?);
        Ok(())
    }

    #[test]
    fn other_parameters_and_garbage_are_handled() -> anyhow::Result<()> {
        use argon2::PasswordHasher as _;
        let lighter = Params::new(8 * 1024, 1, 1, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        let older = Argon2::new(Algorithm::Argon2id, Version::V0x13, lighter)
            .hash_password(b"correct horse")
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .to_string();
        assert!(older.contains("m=8192,t=1,p=1"), "{older}");
        assert!(verify_blocking("correct horse", &older));
        assert!(!verify_blocking("wrong horse", &older));
        assert!(!verify_blocking("correct horse", "not a phc string"));
        assert!(!verify_blocking(
            "correct horse",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ"
        ));
        Ok(())
    }

    #[test]
    fn debug_never_shows_the_password() {
        assert_eq!(
            format!("{:?}", Password::new("hunter22")),
            "Password(<redacted>)"
        );
    }
}
