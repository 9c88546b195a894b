//! Setting up the simulated people: a trainer and N trainees, each signed in the cheapest way the
//! service still accepts (see [`super::token_cache`]), with a progress bar and a count of how.

use super::http::{Account, Http, SignedIn, email};
use super::progress::Progress;
use super::token_cache::{Entry, TokenCache, good_for};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How the accounts were signed in, for the report's `setup`.
#[derive(Debug, Default)]
pub struct Setup {
    /// Reused a cached access token.
    pub cached: usize,
    /// Exchanged a cached refresh token.
    pub refreshed: usize,
    /// Logged in with the password (argon2 on the service).
    pub logged_in: usize,
    /// Registered (argon2 on the service).
    pub registered: usize,
    /// Renewed with its refresh token just before booking and joining, its access token being
    /// too short by then for the rest of the run (see [`renewed_if_short`]).
    pub renewed_before_joining: usize,
    /// Wall time of the whole phase.
    pub elapsed: Duration,
}

impl Setup {
    fn count(&mut self, signed_in: &SignedIn) {
        match signed_in {
            SignedIn::Cached(_) => self.cached += 1,
            SignedIn::Refreshed(_) => self.refreshed += 1,
            SignedIn::LoggedIn(_) => self.logged_in += 1,
            SignedIn::Registered(_) => self.registered += 1,
        }
    }

    /// What the bar and the closing line say.
    fn describe(&self) -> String {
        format!(
            "{} cached, {} refreshed, {} logged in, {} registered",
            self.cached, self.refreshed, self.logged_in, self.registered
        )
    }

    /// The report's `setup` section.
    pub fn report(&self, cache: Option<&TokenCache>) -> Value {
        json!({
            "accounts_cached": self.cached,
            "accounts_refreshed": self.refreshed,
            "accounts_logged_in": self.logged_in,
            "accounts_registered": self.registered,
            "accounts_renewed_before_joining": self.renewed_before_joining,
            "seconds": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "token_cache": cache.map(|c| c.path().display().to_string()),
        })
    }
}

/// Signs in `<name>-trainer-0` and `<name>-trainee-1..=n`, `concurrency` at a time, reusing what
/// `cache` holds for tokens that must last `run`; writes the newest tokens back to `cache`.
/// Returns the trainer, the trainees in order, and how it went.
pub async fn sign_in_all(
    http: &Http,
    name: &str,
    n: usize,
    concurrency: usize,
    run: Duration,
    cache: Option<&mut TokenCache>,
    progress: &Progress,
) -> anyhow::Result<(Account, Vec<Account>, Setup)> {
    let began = Instant::now();
    let people: Vec<(&str, usize)> = std::iter::once(("trainer", 0))
        .chain((1..=n).map(|i| ("trainee", i)))
        .collect();
    let bar = progress.bar(people.len() as u64, "accounts");
    let mut setup = Setup::default();
    let mut signed_in = futures_util::stream::iter(people.iter().copied())
        .map(|(role, i)| {
            let cached = cache
                .as_deref()
                .and_then(|c| c.get(&email(name, role, i)).cloned());
            async move { sign_in(http, cached, name, role, i, run).await }
        })
        .buffered(concurrency.max(1));
    // Keep signing the others in after a failure: their tokens are worth caching for next time.
    let mut results = Vec::with_capacity(people.len());
    while let Some(result) = signed_in.next().await {
        if let Ok(account) = &result {
            setup.count(account);
        }
        results.push(result);
        bar.inc(1);
        bar.set_message(setup.describe());
    }
    drop(signed_in);
    bar.finish_and_clear();
    setup.elapsed = began.elapsed();
    let signed_in_now = people
        .iter()
        .zip(&results)
        .filter_map(|((role, i), result)| {
            let signed_in = result.as_ref().ok()?;
            Some((email(name, role, *i), signed_in.account()))
        });
    remember(cache, signed_in_now, progress);
    let accounts: Vec<Account> = results
        .into_iter()
        .map(|r| r.map(|signed_in| signed_in.account().clone()))
        .collect::<anyhow::Result<_>>()?;
    progress.line(&format!(
        "{} accounts ready in {:.2} s: {}",
        accounts.len(),
        setup.elapsed.as_secs_f64(),
        setup.describe()
    ));
    let mut accounts = accounts.into_iter();
    let trainer = accounts
        .next()
        .ok_or_else(|| anyhow::anyhow!("no trainer account"))?;
    Ok((trainer, accounts.collect(), setup))
}

/// The trainer again, renewed with its refresh token (and the new pair cached) if its access
/// token would not last `run` from now: setting a big class up — 50 000 sign-ins, joins and
/// device connections — can outlast it.
pub async fn trainer_lasting(
    http: &Http,
    name: &str,
    trainer: Account,
    run: Duration,
    cache: Option<&mut TokenCache>,
    progress: &Progress,
) -> anyhow::Result<Account> {
    let Some(renewed) = renewed_if_short(http, &trainer, run).await? else {
        return Ok(trainer);
    };
    remember(cache, [(email(name, "trainer", 0), &renewed)], progress);
    Ok(renewed)
}

/// `account`'s access token renewed with its refresh token if it would not last `run` from now;
/// `None` if it does. Signing 50 000 people in and then booking and joining them takes minutes,
/// so a token that was good for the run when signed in can expire before its trainee's turn.
pub async fn renewed_if_short(
    http: &Http,
    account: &Account,
    run: Duration,
) -> anyhow::Result<Option<Account>> {
    if good_for(&account.token, chrono::Utc::now().timestamp(), run) {
        return Ok(None);
    }
    let refresh_token = account.refresh_token.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "the access token of {} runs out and it has no refresh token",
            account.id
        )
    })?;
    let renewed = http.refresh(refresh_token).await?.ok_or_else(|| {
        anyhow::anyhow!("the service refused to refresh {}'s session", account.id)
    })?;
    Ok(Some(renewed))
}

/// Writes trainees renewed after [`sign_in_all`] (by their number) back to `cache`: their old
/// refresh tokens are spent (presenting one again would revoke the session).
pub fn remember_renewed(
    cache: Option<&mut TokenCache>,
    name: &str,
    renewed: &[(usize, Account)],
    progress: &Progress,
) {
    let renewed = renewed
        .iter()
        .map(|(i, account)| (email(name, "trainee", *i), account));
    remember(cache, renewed, progress);
}

/// Puts `accounts` (by email) into `cache` and saves it, if there are any; a cache that cannot
/// be written is said, not fatal.
fn remember<'a>(
    cache: Option<&mut TokenCache>,
    accounts: impl IntoIterator<Item = (String, &'a Account)>,
    progress: &Progress,
) {
    let Some(cache) = cache else {
        return;
    };
    let mut changed = false;
    for (email, account) in accounts {
        cache.put(email, entry(account));
        changed = true;
    }
    if changed && let Err(err) = cache.save() {
        progress.line(&format!("could not write the token cache: {err:#}"));
    }
}

/// What the cache keeps of `account`.
fn entry(account: &Account) -> Entry {
    Entry {
        user_id: account.id,
        access_token: account.token.clone(),
        refresh_token: account.refresh_token.clone(),
    }
}

/// Signs one account in: its cached access token if it lasts the run and the service accepts
/// it, else its cached refresh token, else registration or its password.
async fn sign_in(
    http: &Http,
    cached: Option<Entry>,
    name: &str,
    role: &str,
    i: usize,
    run: Duration,
) -> anyhow::Result<SignedIn> {
    if let Some(entry) = cached {
        let now = chrono::Utc::now().timestamp();
        // A 401 (another secret), or a user the service does not know (another database): on.
        if good_for(&entry.access_token, now, run)
            && let Some(id) = http.whoami(&entry.access_token).await
        {
            return Ok(SignedIn::Cached(Account {
                id,
                token: entry.access_token,
                refresh_token: entry.refresh_token,
            }));
        }
        if let Some(refresh_token) = &entry.refresh_token
            && let Some(account) = http.refresh(refresh_token).await?
        {
            return Ok(SignedIn::Refreshed(account));
        }
    }
    http.account(name, role, i).await
}
