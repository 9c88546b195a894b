//! The api node as the simulator talks to it: JSON in and out, clear errors, accounts that are
//! registered once and logged into on later runs (or reused from the token cache: see
//! [`super::token_cache`]).

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

/// Every simulated account's password.
const PASSWORD: &str = "simulated-wearer-password";

/// Rate-limited answers (429) an auth request waits out before giving up.
const MAX_RATE_LIMITED: u32 = 30;

/// The api node, with JSON in and out and clear errors.
#[derive(Clone)]
pub struct Http {
    /// The api node's base URL.
    pub base: String,
    client: reqwest::Client,
}

impl Http {
    /// A client for the api node at `base`.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
        }
    }

    /// Sends `request` (described as `what` in errors); the JSON body of a 2xx, else an error.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> anyhow::Result<Value> {
        let response = request
            .send()
            .await
            .with_context(|| format!("{what}: is the service running at {}?", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            bail!("{what}: {status}: {body}")
        }
    }

    /// `POST path` with a JSON body, as the holder of `token`.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<Value> {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body);
        self.send(request, &format!("POST {path}")).await
    }

    /// `GET path` as the holder of `token`.
    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        let request = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token);
        self.send(request, &format!("GET {path}")).await
    }

    /// Registers `<name>-<role>-<i>` or, if it exists from an earlier run, logs in.
    pub async fn account(&self, name: &str, role: &str, i: usize) -> anyhow::Result<SignedIn> {
        let email = email(name, role, i);
        let register = json!({
            "role": role,
            "full_name": format!("Sim {role} {i}"),
            "email": email,
            "mobile": "+919800000000",
            "password": PASSWORD,
        });
        let response = self
            .auth("/api/v1/auth/register", &register)
            .await
            .with_context(|| format!("registering: is the service running at {}?", self.base))?;
        if response.status() == StatusCode::CONFLICT {
            let login = json!({"email": email, "password": PASSWORD});
            let response = self
                .auth("/api/v1/auth/login", &login)
                .await
                .with_context(|| format!("logging in: is the service running at {}?", self.base))?;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                bail!("logging in {email}: {status}: {body}");
            }
            Ok(SignedIn::LoggedIn(Account::from_session(&body)?))
        } else if response.status().is_success() {
            Ok(SignedIn::Registered(Account::from_session(
                &response.json().await?,
            )?))
        } else {
            bail!("registering {email}: {}", response.status())
        }
    }

    /// Exchanges a refresh token for a new pair (no password hashing on the server); `None` if
    /// the service refuses it (expired, revoked, already used, or from another database).
    pub async fn refresh(&self, refresh_token: &str) -> anyhow::Result<Option<Account>> {
        let response = self
            .auth(
                "/api/v1/auth/refresh",
                &json!({"refresh_token": refresh_token}),
            )
            .await
            .with_context(|| format!("refreshing: is the service running at {}?", self.base))?;
        if !response.status().is_success() {
            return Ok(None);
        }
        Ok(Some(Account::from_session(&response.json().await?)?))
    }

    /// The id of the user `token` signs in, if the service accepts it (`GET /me`: a signature
    /// check and one lookup, no password hashing); `None` for a 401, a user it does not know, or
    /// any other refusal.
    pub async fn whoami(&self, token: &str) -> Option<Uuid> {
        let response = self
            .client
            .get(format!("{}/api/v1/me", self.base))
            .bearer_auth(token)
            .send()
            .await
            .ok()?;
        if response.status() != StatusCode::OK {
            return None;
        }
        let me: Value = response.json().await.ok()?;
        me["id"].as_str()?.parse().ok()
    }

    /// `POST path` on an auth edge, waiting out its rate limit: the edges share a budget per
    /// client address (300/s by default) that refreshing thousands of accounts may exceed.
    async fn auth(&self, path: &str, body: &Value) -> reqwest::Result<reqwest::Response> {
        let mut refused = 0;
        loop {
            let response = self
                .client
                .post(format!("{}{path}", self.base))
                .json(body)
                .send()
                .await?;
            if response.status() != StatusCode::TOO_MANY_REQUESTS || refused >= MAX_RATE_LIMITED {
                return Ok(response);
            }
            refused += 1;
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .unwrap_or(1);
            // Spread the waiting requests over the next second rather than all at its end.
            let jitter = Duration::from_millis(rand::random_range(0..1000));
            tokio::time::sleep(Duration::from_secs(wait) + jitter).await;
        }
    }
}

/// The simulated account `<name>-<role>-<i>`'s email.
pub fn email(name: &str, role: &str, i: usize) -> String {
    format!("{name}-{role}-{i}@sim.cultfit.test")
}

/// A signed-in simulated account.
#[derive(Clone, Debug)]
pub struct Account {
    /// The user id.
    pub id: Uuid,
    /// Its access token.
    pub token: String,
    /// Its refresh token (single use), if known.
    pub refresh_token: Option<String>,
}

impl Account {
    /// The account a session (`register`, `login`, `refresh`) signs in.
    fn from_session(session: &Value) -> anyhow::Result<Self> {
        let id = session["user"]["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .context("no user id in the session")?;
        let token = session["access_token"]
            .as_str()
            .context("no access token")?;
        Ok(Self {
            id,
            token: token.to_owned(),
            refresh_token: session["refresh_token"].as_str().map(str::to_owned),
        })
    }
}

/// An account ready for the run, and how it got there.
#[derive(Clone, Debug)]
pub enum SignedIn {
    /// Its cached access token was still good.
    Cached(Account),
    /// Its cached refresh token got a new pair.
    Refreshed(Account),
    /// It existed: logged in with its password.
    LoggedIn(Account),
    /// It was registered just now.
    Registered(Account),
}

impl SignedIn {
    /// The account.
    pub fn account(&self) -> &Account {
        match self {
            Self::Cached(a) | Self::Refreshed(a) | Self::LoggedIn(a) | Self::Registered(a) => a,
        }
    }
}
