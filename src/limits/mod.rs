//! Rate limits on the public HTTP edges: who may knock how often before being told to wait.
//!
//! Five edges are limited, in two classes that share nothing:
//!
//! | edge | route | per client address | per user | per account |
//! |---|---|---|---|---|
//! | `register` | `POST /auth/register` | auth class | | |
//! | `login` | `POST /auth/login` | auth class | | failed logins |
//! | `refresh` | `POST /auth/refresh` | auth class | | |
//! | `energy` | `POST /workouts/{id}/energy` | live class | live | |
//! | `ticket` | `POST /workouts/{id}/live/tickets` | live class | live | |
//!
//! - **Per client address** ([`client_addr`]): the TCP peer, or behind a configured trusted
//!   proxy the address it forwarded for. IPv6 clients are budgeted by their /64. The auth class
//!   guards argon2 and account creation; the live class guards NATS publishing.
//! - **Per user**: one trainee cannot hammer the live edges from many addresses.
//! - **Failed logins per account** ([`failed_logins`]): password guessing against one account,
//!   from anywhere, is braked; a locked account is refused before its password is hashed.
//!
//! Every quota is governor's GCRA: a burst of `count`, refilled evenly over the period
//! ([`quota`]). A refused request is a 429 `rate_limited` problem with `Retry-After` (whole
//! seconds, at least 1), counted in `cultfit_http_rate_limited_total{edge, limit}`, and logged at
//! debug with the edge and the client address (never an email).
//!
//! The check runs in an extractor ([`guard`]) that stands first in each handler's arguments, so a
//! refused request costs no body parsing, argon2, PostgreSQL or NATS work. The defaults are sized
//! so honest heavy use never meets them: argon2 caps a 2-core node near 130 hashes/s, under the
//! auth class's 300/s, so `cultfit simulate` can sign up 50 000 trainees from one address.
//!
//! Memory: keyed state grows with the keys seen. [`spawn_housekeeping`] drops every key whose
//! budget is full again once a minute, so address or account spraying costs at most a minute's
//! worth of keys.
//!
//! Non-goals: limits shared between nodes (each api node counts for itself; N nodes behind a
//! balancer allow up to N times the quota), and the RFC 7239 `Forwarded` header.

pub mod client_addr;
pub mod failed_logins;
pub mod guard;
pub mod quota;

pub use client_addr::TrustedProxies;
pub use guard::{EnergyLimit, LoginLimit, RefreshLimit, RegisterLimit, TicketLimit};
pub use quota::QuotaSpec;

use crate::error::ApiError;
use actix_web::HttpRequest;
use failed_logins::FailedLogins;
use governor::DefaultKeyedRateLimiter;
use std::net::IpAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;
use uuid::Uuid;

/// Counter: requests refused with 429, by `edge` and `limit` (`address`, `user`, `account`).
pub const RATE_LIMITED: &str = "cultfit_http_rate_limited_total";

/// How often keys whose budget is full again are forgotten.
const HOUSEKEEPING_PERIOD: Duration = Duration::from_secs(60);

/// The limits of a node, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Register, login and refresh requests per client address.
    pub auth_per_address: QuotaSpec,
    /// Energy and ticket requests per client address.
    pub live_per_address: QuotaSpec,
    /// Energy and ticket requests per user.
    pub live_per_user: QuotaSpec,
    /// Failed logins per account.
    pub failed_logins: QuotaSpec,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
}

/// A rate-limited edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// `POST /auth/register`.
    Register,
    /// `POST /auth/login`.
    Login,
    /// `POST /auth/refresh`.
    Refresh,
    /// `POST /workouts/{id}/energy`.
    Energy,
    /// `POST /workouts/{id}/live/tickets`.
    Ticket,
}

impl Edge {
    /// Every edge.
    pub const ALL: [Edge; 5] = [
        Edge::Register,
        Edge::Login,
        Edge::Refresh,
        Edge::Energy,
        Edge::Ticket,
    ];

    /// The `edge` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Edge::Register => "register",
            Edge::Login => "login",
            Edge::Refresh => "refresh",
            Edge::Energy => "energy",
            Edge::Ticket => "ticket",
        }
    }

    /// Whether the edge is in the live class (per-user budgets too) rather than the auth class.
    fn is_live(self) -> bool {
        matches!(self, Edge::Energy | Edge::Ticket)
    }

    /// The limits that apply to the edge.
    fn limits(self) -> &'static [Limit] {
        match self {
            Edge::Register | Edge::Refresh => &[Limit::Address],
            Edge::Login => &[Limit::Address, Limit::Account],
            Edge::Energy | Edge::Ticket => &[Limit::Address, Limit::User],
        }
    }
}

/// What a budget is kept per: the `limit` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Per client address.
    Address,
    /// Per signed-in user.
    User,
    /// Failed logins per account.
    Account,
}

impl Limit {
    /// The `limit` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Address => "address",
            Limit::User => "user",
            Limit::Account => "account",
        }
    }
}

/// Every budget of a node. Shared by its HTTP workers through `web::Data`.
pub struct Limits {
    trusted_proxies: TrustedProxies,
    auth_per_address: DefaultKeyedRateLimiter<IpAddr>,
    live_per_address: DefaultKeyedRateLimiter<IpAddr>,
    live_per_user: DefaultKeyedRateLimiter<Uuid>,
    failed_logins: FailedLogins,
}

impl Limits {
    /// Fresh budgets for `config`.
    pub fn new(config: &LimitsConfig) -> Self {
        Limits {
            trusted_proxies: config.trusted_proxies.clone(),
            auth_per_address: DefaultKeyedRateLimiter::keyed(config.auth_per_address.quota()),
            live_per_address: DefaultKeyedRateLimiter::keyed(config.live_per_address.quota()),
            live_per_user: DefaultKeyedRateLimiter::keyed(config.live_per_user.quota()),
            failed_logins: FailedLogins::new(config.failed_logins.quota()),
        }
    }

    /// Registers every `cultfit_http_rate_limited_total` series at zero, so dashboards see them
    /// before the first refusal.
    pub fn describe_metrics() {
        for edge in Edge::ALL {
            for limit in edge.limits() {
                metrics::counter!(RATE_LIMITED, "edge" => edge.as_str(), "limit" => limit.as_str())
                    .absolute(0);
            }
        }
    }

    /// The client address of `req` (see [`client_addr`]).
    pub fn client_addr(&self, req: &HttpRequest) -> IpAddr {
        client_addr::client_addr(req, &self.trusted_proxies)
    }

    /// Spend one cell of `client`'s budget for `edge`'s class.
    pub fn per_address(&self, edge: Edge, client: IpAddr) -> Result<(), ApiError> {
        let limiter = if edge.is_live() {
            &self.live_per_address
        } else {
            &self.auth_per_address
        };
        limiter
            .check_key(&client_addr::budget_key(client))
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(limiter.clock()));
                refused(edge, Limit::Address, client, wait)
            })
    }

    /// Spend one cell of `user`'s live budget.
    pub fn per_user(&self, edge: Edge, client: IpAddr, user: Uuid) -> Result<(), ApiError> {
        let limiter = &self.live_per_user;
        limiter.check_key(&user).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(limiter.clock()));
            refused(edge, Limit::User, client, wait)
        })
    }

    /// 429 while `account` is locked by failed logins.
    pub async fn login_unlocked(
        &self,
        client: IpAddr,
        account: failed_logins::AccountKey,
    ) -> Result<(), ApiError> {
        match self.failed_logins.locked_for(account).await {
            Some(wait) => Err(refused(Edge::Login, Limit::Account, client, wait)),
            None => Ok(()),
        }
    }

    /// Count a failed login; 429 if this failure locked the account.
    pub async fn login_failed(
        &self,
        client: IpAddr,
        account: failed_logins::AccountKey,
    ) -> Result<(), ApiError> {
        match self.failed_logins.failed(account).await {
            Some(wait) => Err(refused(Edge::Login, Limit::Account, client, wait)),
            None => Ok(()),
        }
    }

    /// Forget every key whose budget is full again, and give the memory back.
    pub fn retain_recent(&self) {
        for limiter in [&self.auth_per_address, &self.live_per_address] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.live_per_user.retain_recent();
        self.live_per_user.shrink_to_fit();
        self.failed_logins.retain_recent();
    }

    /// Keys held: addresses, users and accounts with a budget not yet full again.
    pub fn keys(&self) -> usize {
        self.auth_per_address.len()
            + self.live_per_address.len()
            + self.live_per_user.len()
            + self.failed_logins.len()
    }
}

/// Runs [`Limits::retain_recent`] every minute until the limits are dropped.
pub fn spawn_housekeeping(limits: &Arc<Limits>) {
    let limits: Weak<Limits> = Arc::downgrade(limits);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(HOUSEKEEPING_PERIOD);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await; // the first tick is immediate
        loop {
            every.tick().await;
            let Some(limits) = limits.upgrade() else {
                return;
            };
            limits.retain_recent();
            tracing::debug!(rate_limit.keys = limits.keys(), "rate limits tidied");
        }
    });
}

/// The 429 for a request refused by `limit` on `edge`, counted and logged.
fn refused(edge: Edge, limit: Limit, client: IpAddr, wait: Duration) -> ApiError {
    metrics::counter!(RATE_LIMITED, "edge" => edge.as_str(), "limit" => limit.as_str())
        .increment(1);
    tracing::debug!(
        http.edge = edge.as_str(),
        rate_limit = limit.as_str(),
        client.addr = %client,
        retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        "rate limited"
    );
    ApiError::rate_limited(wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus_contracts::ErrorCode;

    fn limits(auth: &str, live: &str, user: &str) -> Limits {
        let parse = |s: &str| s.parse::<QuotaSpec>().map_err(|e| e.to_string());
        let config = parse(auth).and_then(|auth| {
            Ok(LimitsConfig {
                auth_per_address: auth,
                live_per_address: parse(live)?,
                live_per_user: parse(user)?,
                failed_logins: parse("10/m")?,
                trusted_proxies: TrustedProxies::default(),
            })
        });
        match config {
            Ok(config) => Limits::new(&config),
            Err(err) => panic!("{err}"),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn the_auth_and_live_classes_keep_separate_budgets_per_address() {
        let limits = limits("2/m", "1/m", "10/m");
        let client = ip("203.0.113.9");
        for edge in [Edge::Register, Edge::Login] {
            assert!(limits.per_address(edge, client).is_ok(), "{edge:?}");
        }
        let refused = limits.per_address(Edge::Refresh, client);
        assert_eq!(
            refused.map_err(|e| e.code()).err(),
            Some(ErrorCode::RateLimited)
        );
        assert!(limits.per_address(Edge::Energy, client).is_ok());
        assert!(limits.per_address(Edge::Ticket, client).is_err());
        assert!(limits.per_address(Edge::Login, ip("203.0.113.10")).is_ok());
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_budget() {
        let limits = limits("1/m", "1/m", "1/m");
        assert!(limits.per_address(Edge::Login, ip("2001:db8::1")).is_ok());
        assert!(limits.per_address(Edge::Login, ip("2001:db8::2")).is_err());
        assert!(
            limits
                .per_address(Edge::Login, ip("2001:db8:0:1::1"))
                .is_ok()
        );
    }

    #[test]
    fn a_user_has_one_live_budget_whatever_the_address() {
        let limits = limits("1/m", "100/m", "2/m");
        let user = Uuid::now_v7();
        assert!(limits.per_user(Edge::Energy, ip("10.0.0.1"), user).is_ok());
        assert!(limits.per_user(Edge::Ticket, ip("10.0.0.2"), user).is_ok());
        assert!(limits.per_user(Edge::Energy, ip("10.0.0.3"), user).is_err());
        assert!(
            limits
                .per_user(Edge::Energy, ip("10.0.0.3"), Uuid::now_v7())
                .is_ok()
        );
    }

    #[test]
    fn spent_budgets_are_kept_until_full_again() {
        let limits = limits("1/h", "1000000/s", "1000000/s");
        assert!(limits.per_address(Edge::Login, ip("10.0.0.1")).is_ok());
        assert!(limits.per_address(Edge::Energy, ip("10.0.0.1")).is_ok());
        std::thread::sleep(Duration::from_millis(5));

        limits.retain_recent();

        // The live budget (a microsecond per cell) is full again; the auth one (an hour) is not.
        assert_eq!(limits.keys(), 1);
        assert!(limits.per_address(Edge::Login, ip("10.0.0.1")).is_err());
    }
}
