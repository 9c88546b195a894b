//! The api node as the simulator talks to it: JSON in and out, clear errors, accounts that are
//! registered once and logged into on later runs.

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

/// Every simulated account's password.
const PASSWORD: &str = "simulated-wearer-password";

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
    pub async fn account(
        &self,
        name: &str,
        role: &str,
        i: usize,
    ) -> anyhow::Result<(Uuid, String)> {
        let email = format!("{name}-{role}-{i}@sim.cultfit.test");
        let register = self
            .client
            .post(format!("{}/api/v1/auth/register", self.base))
            .json(&json!({
                "role": role,
                "full_name": format!("Sim {role} {i}"),
                "email": email,
                "mobile": "+919800000000",
                "password": PASSWORD,
            }));
        let response = register
            .send()
            .await
            .with_context(|| format!("registering: is the service running at {}?", self.base))?;
        let session: Value = if response.status() == StatusCode::CONFLICT {
            let login = self
                .client
                .post(format!("{}/api/v1/auth/login", self.base))
                .json(&json!({"email": email, "password": PASSWORD}));
            self.send(login, "logging in").await?
        } else if response.status().is_success() {
            response.json().await?
        } else {
            bail!("registering {email}: {}", response.status())
        };
        let id = session["user"]["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .context("no user id in the session")?;
        let token = session["access_token"]
            .as_str()
            .context("no access token")?;
        Ok((id, token.to_owned()))
    }
}
