//! Test fixtures: a nats-server per test, a database per test, the real binary per test.
//!
//! Prerequisites come from `scripts/test`: `CULTFIT_PG_ADMIN_URL` (a PostgreSQL URL allowed to
//! create databases) and `CULTFIT_NATS_SERVER_BIN` (nats-server >= 2.11). Both have defaults that
//! match a machine where `scripts/test` has run once.
#![allow(
    dead_code,
    reason = "each test module uses a different part of the fixtures"
)]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "fixtures fail loudly"
)]

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection as _;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use uuid::Uuid;

/// The JWT secret every test app is started with, so tests can forge tokens.
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
/// A password that satisfies the rules.
pub const PASSWORD: &str = "correct-horse-battery";

fn admin_url() -> String {
    std::env::var("CULTFIT_PG_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn nats_server_bin() -> String {
    std::env::var("CULTFIT_NATS_SERVER_BIN").unwrap_or_else(|_| {
        format!(
            "{}/.local/nats-server-2.15.1/bin/nats-server",
            env!("CARGO_MANIFEST_DIR")
        )
    })
}

/// A nats-server with JetStream on a random port, killed on drop.
pub struct NatsServer {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(nats_server_bin())
            .args(["-a", "127.0.0.1", "-p", "-1", "-js", "-sd"])
            .arg(dir.path().join("js"))
            .arg("--ports_file_dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "failed to start nats-server: run scripts/test, or set CULTFIT_NATS_SERVER_BIN",
            );
        let ports_file = dir.path().join(format!("nats-server_{}.ports", child.id()));
        for _ in 0..200 {
            if let Ok(text) = std::fs::read_to_string(&ports_file)
                && let Ok(ports) = serde_json::from_str::<Value>(&text)
                && let Some(url) = ports["nats"][0].as_str()
            {
                return Self {
                    child,
                    url: url.to_owned(),
                    _dir: dir,
                };
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("nats-server did not report its port");
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How to start the app.
pub struct Options {
    pub roles: &'static str,
    pub rust_log: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            roles: "all",
            rust_log: "info",
        }
    }
}

/// A running `cultfit serve`, with its own database and NATS.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db_name: String,
    pub nats: NatsServer,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        let nats = NatsServer::start();
        let db_name = format!("cultfit_test_{}", Uuid::new_v4().simple());
        let admin = admin_url();
        let database_url = format!("{}/{db_name}", admin.rsplit_once('/').expect("admin url").0);

        let mut child = Command::new(env!("CARGO_BIN_EXE_cultfit"))
            .args([
                "serve",
                "--log-format",
                "json",
                "--http-addr",
                "127.0.0.1:0",
            ])
            .env("DATABASE_URL", &database_url)
            .env("NATS_URL", &nats.url)
            .env("CULTFIT_JWT_SECRET", JWT_SECRET)
            .env("CULTFIT_ROLES", options.roles)
            .env("RUST_LOG", options.rust_log)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("failed to start cultfit");

        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        collect_lines(
            child.stdout.take().expect("stdout"),
            logs.clone(),
            Some(addr_tx),
        );
        collect_lines(child.stderr.take().expect("stderr"), logs.clone(), None);

        let Ok(addr) = addr_rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!(
                "cultfit did not start:\n{}",
                logs.lock().unwrap().join("\n")
            );
        };
        Self {
            address: format!("http://{addr}"),
            client: reqwest::Client::new(),
            db_name,
            nats,
            child,
            logs,
        }
    }

    /// Every line the process wrote so far (stdout and stderr).
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Send SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("cultfit did not stop within 10 s of SIGTERM");
    }

    /// Drop the app's database out from under it (connections are terminated).
    pub async fn drop_database(&self) {
        let mut admin = sqlx::PgConnection::connect(&admin_url())
            .await
            .expect("admin connection");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE \"{}\" WITH (FORCE)",
            self.db_name
        )))
        .execute(&mut admin)
        .await
        .expect("drop database");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request failed")
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request failed")
    }

    pub async fn post_raw(&self, path: &str, body: &'static str) -> Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request failed")
    }

    pub async fn register(&self, body: &Value) -> Response {
        self.post_json("/api/v1/auth/register", body, None).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
            None,
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh_token}),
            None,
        )
        .await
    }

    pub async fn logout(&self, access_token: &str, refresh_token: &str) -> Response {
        self.post_json(
            "/api/v1/auth/logout",
            &json!({"refresh_token": refresh_token}),
            Some(access_token),
        )
        .await
    }

    pub async fn get_me(&self, token: &str) -> Response {
        self.get("/api/v1/me", Some(token)).await
    }

    pub async fn patch_me(&self, token: &str, body: &Value) -> Response {
        self.client
            .patch(self.url("/api/v1/me"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request failed")
    }

    /// Register a user of `role` with a unique email; returns the session JSON.
    pub async fn signed_up(&self, role: &str) -> Value {
        let response = self.register(&registration(role)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("session json")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect_lines(
    stream: impl std::io::Read + Send + 'static,
    logs: Arc<Mutex<Vec<String>>>,
    addr_tx: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(tx) = &addr_tx
                && let Ok(event) = serde_json::from_str::<Value>(&line)
                && event["message"] == "listening"
                && let Some(addr) = event["http.addr"].as_str()
            {
                let _ = tx.send(addr.to_owned());
            }
            logs.lock().unwrap().push(line);
        }
    });
}

/// A valid registration body with a unique email.
pub fn registration(role: &str) -> Value {
    json!({
        "role": role,
        "full_name": "Asha Verma",
        "email": format!("asha.{}@example.com", Uuid::new_v4().simple()),
        "mobile": "+919876543210",
        "password": PASSWORD,
    })
}

/// The body of a problem+json response, after checking its status and media type.
pub async fn problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status.as_u16());
    body
}
