//! Password hashing with argon2id (m = 19 MiB, t = 2, p = 1, OWASP's baseline).
//!
//! One hash costs ~15 ms of CPU, so it never runs on an async worker: a fixed set of threads (one
//! per core) takes hashes from a queue, so a login flood queues here instead of starving every
//! other route of CPU. Dedicated threads rather than tokio's blocking pool also bound memory: each
//! hash allocates 19 MiB, and glibc keeps freed memory in per-thread arenas, so hashing on whatever
//! blocking thread happens to be free grew an api node to 1.3 GB after 10 000 logins.

use anyhow::Context;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
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
        let matches = self
            .run(move || {
                argon2()
                    .verify_password(plain.as_bytes(), phc.as_str())
                    .is_ok()
            })
            .await?;
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

fn argon2() -> Argon2<'static> {
    // These constant parameters are valid; Params::DEFAULT is the fallback only in theory.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or(Params::DEFAULT);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(plain: &str) -> anyhow::Result<String> {
    argon2()
        .hash_password(plain.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("failed to hash password: {e}"))
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
    fn debug_never_shows_the_password() {
        assert_eq!(
            format!("{:?}", Password::new("hunter22")),
            "Password(<redacted>)"
        );
    }
}
