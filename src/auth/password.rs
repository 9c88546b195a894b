//! Password hashing with argon2id (m = 19 MiB, t = 2, p = 1, OWASP's baseline).
//!
//! One hash costs ~15 ms of CPU, so it runs on the blocking pool, never on an async worker, and a
//! semaphore caps how many run at once: a login flood queues here instead of starving every other
//! route of CPU.

use anyhow::Context;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;

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
    permits: Arc<Semaphore>,
    // Verified against when the email is unknown, so both failures cost the same time.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// A hasher that runs at most `concurrency` hashes at once.
    pub fn new(concurrency: usize) -> anyhow::Result<Self> {
        let dummy_hash = hash_blocking("not-a-real-password-only-for-timing")?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
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
        let _permit = self
            .permits
            .acquire()
            .await
            .context("password hasher closed")?;
        tokio::task::spawn_blocking(work)
            .await
            .context("password hashing task failed")
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
