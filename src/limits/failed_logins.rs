//! Failed logins per account: a password-guessing brake that costs nothing while it brakes.
//!
//! Every failed login spends one cell of a governor limiter keyed by the account (whether or not
//! it exists, so the answer tells nothing about existence). A failure that finds the quota spent
//! locks the account until governor says the next cell is available; while it is locked, every
//! login for it, even with the right password, is refused *before* the password is hashed.
//!
//! Two structures, each with one job:
//! - the governor limiter is the truth: how many failures the account still has. A denied check
//!   spends nothing, so the lock lasts exactly until one more guess is allowed.
//! - the lock cache (moka, bounded, each entry expiring when its lock ends) only answers "is this
//!   account locked?" before the hash. Governor cannot be asked that without spending a cell,
//!   and a successful login must not spend one. If the cache ever evicts a lock under pressure,
//!   the next failure finds the limiter still spent and locks again: at most one extra guess.
//!
//! Accounts are keyed by a SHA-256 digest of the normalised email (trimmed, lower-cased): a fixed
//! 16 bytes whatever length is sent, and no email address held in memory.

use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use moka::Expiry;
use moka::future::Cache;
use sha2::{Digest as _, Sha256};
use std::time::{Duration, Instant};

/// Most accounts locked at once; beyond it the oldest locks are evicted (see the module docs).
const MAX_LOCKED_ACCOUNTS: u64 = 100_000;

/// The key an account's failures are counted under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AccountKey([u8; 16]);

impl AccountKey {
    /// The key of the account `email` names (or would name).
    pub fn of(email: &str) -> Self {
        let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        AccountKey(key)
    }
}

/// Failed-login budgets and the accounts locked for now.
pub struct FailedLogins {
    failures: DefaultKeyedRateLimiter<AccountKey>,
    /// Locked accounts, each with the instant its lock ends.
    locked: Cache<AccountKey, Instant>,
}

/// A lock cache entry expires when its lock ends.
struct UntilUnlocked;

impl Expiry<AccountKey, Instant> for UntilUnlocked {
    fn expire_after_create(
        &self,
        _: &AccountKey,
        until: &Instant,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(until.saturating_duration_since(created_at))
    }
}

impl FailedLogins {
    /// `quota` failures per account.
    pub fn new(quota: Quota) -> Self {
        FailedLogins {
            failures: RateLimiter::keyed(quota),
            locked: Cache::builder()
                .max_capacity(MAX_LOCKED_ACCOUNTS)
                .expire_after(UntilUnlocked)
                .build(),
        }
    }

    /// How much longer `account` stays locked, if it is.
    pub async fn locked_for(&self, account: AccountKey) -> Option<Duration> {
        let until = self.locked.get(&account).await?;
        let wait = until.saturating_duration_since(Instant::now());
        (!wait.is_zero()).then_some(wait)
    }

    /// Count a failed login for `account`. If this failure found the quota spent, the account is
    /// now locked and the wait until its lock ends is returned.
    pub async fn failed(&self, account: AccountKey) -> Option<Duration> {
        let not_until = self.failures.check_key(&account).err()?;
        let wait = not_until.wait_time_from(self.failures.clock().now());
        self.locked.insert(account, Instant::now() + wait).await;
        Some(wait)
    }

    /// Forget accounts whose budget is full again (see [`super::Limits::retain_recent`]).
    pub fn retain_recent(&self) {
        self.failures.retain_recent();
        self.failures.shrink_to_fit();
    }

    /// Accounts with failures still counted against them.
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    /// Whether no account has failures counted against it.
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn three_per_minute() -> FailedLogins {
        FailedLogins::new(Quota::per_minute(NonZeroU32::MIN.saturating_add(2)))
    }

    #[test]
    fn an_account_is_the_same_whatever_the_case_and_surrounding_blanks() {
        assert_eq!(
            AccountKey::of(" Asha@Example.COM\t"),
            AccountKey::of("asha@example.com")
        );
        assert_ne!(
            AccountKey::of("asha@example.com"),
            AccountKey::of("asha@example.co")
        );
    }

    #[tokio::test]
    async fn the_failure_after_the_quota_locks_the_account_until_the_next_cell() {
        let logins = three_per_minute();
        let asha = AccountKey::of("asha@example.com");
        for n in 1..=3 {
            assert_eq!(logins.failed(asha).await, None, "failure {n}");
            assert_eq!(logins.locked_for(asha).await, None, "after failure {n}");
        }

        let wait = logins.failed(asha).await;

        // One cell of 3/m comes back every 20 s.
        assert!(
            wait.is_some_and(|w| w > Duration::from_secs(19) && w <= Duration::from_secs(20)),
            "{wait:?}"
        );
        let locked = logins.locked_for(asha).await;
        assert!(
            locked.is_some_and(|w| w > Duration::from_secs(19) && w <= Duration::from_secs(20)),
            "{locked:?}"
        );
    }

    #[tokio::test]
    async fn one_accounts_lock_leaves_the_others_alone() {
        let logins = three_per_minute();
        let asha = AccountKey::of("asha@example.com");
        for _ in 0..4 {
            logins.failed(asha).await;
        }
        let ravi = AccountKey::of("ravi@example.com");
        assert_eq!(logins.locked_for(ravi).await, None);
        assert_eq!(logins.failed(ravi).await, None);
        assert_eq!(logins.len(), 2);
    }
}
