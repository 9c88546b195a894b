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

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection as _;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;
use uuid::Uuid;

/// The JWT secret every test app is started with, so tests can forge tokens.
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
/// A password that satisfies the rules.
pub const PASSWORD: &str = "correct-horse-battery";

pub fn admin_url() -> String {
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

/// The locked bus of a test: one nats-server, or a three-server cluster, every server configured
/// by `cultfit nats-config` (the service account, the devices account, the auth callout) from one
/// secrets file, on ports picked at the first start. Killed on drop.
pub struct NatsBus {
    servers: Vec<BusServer>,
    /// Every server's client URL, comma separated (what `NATS_URL` and wearables are given).
    pub url: String,
    /// The bus secrets file (`CULTFIT_NATS_SECRETS`) every node of this deployment reads.
    pub secrets: std::path::PathBuf,
    /// Holds the secrets and each server's configuration, JetStream store and ports file.
    dir: tempfile::TempDir,
}

/// One nats-server of a [`NatsBus`]; `child` is `None` while it is down.
struct BusServer {
    child: Option<Child>,
    /// Its directory: `nats.conf`, `js/`, the ports file.
    dir: std::path::PathBuf,
}

impl NatsBus {
    /// One server.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// One server, with extra `cultfit nats-config` options (e.g. `--encrypt-callout`).
    pub fn start_with(config_args: &[&str]) -> Self {
        Self::launch(1, config_args)
    }

    /// Three servers routed to each other, JetStream clustered (streams and buckets need
    /// `--nats-replicas 3`, which [`spawn_serve`] passes).
    pub fn start_cluster() -> Self {
        Self::launch(3, &[])
    }

    /// Starts `n` servers; ports are picked free beforehand (routes need them), so a port taken
    /// in between by another process makes the start fail: it is then tried again afresh.
    fn launch(n: usize, config_args: &[&str]) -> Self {
        let mut last_failure = String::new();
        for _ in 0..3 {
            match Self::try_launch(n, config_args) {
                Ok(bus) => return bus,
                Err(why) => last_failure = why,
            }
        }
        panic!("the NATS bus did not start: {last_failure}");
    }

    fn try_launch(n: usize, config_args: &[&str]) -> Result<Self, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = dir.path().join("secrets.env");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let mut servers = Vec::with_capacity(n);
        for (i, (port, cluster_port)) in ports.iter().enumerate() {
            let server_dir = dir.path().join(format!("n{}", i + 1));
            std::fs::create_dir_all(&server_dir).expect("server dir");
            let mut args: Vec<String> = vec![
                "nats-config".into(),
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--server-name".into(),
                format!("test-n{}", i + 1),
                "--store-dir".into(),
                server_dir.join("js").display().to_string(),
                "--secrets".into(),
                secrets.display().to_string(),
            ];
            if n > 1 {
                let routes: Vec<String> = ports
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, (_, p))| format!("nats-route://127.0.0.1:{p}"))
                    .collect();
                args.extend([
                    "--cluster-name".into(),
                    "cultfit-test".into(),
                    "--cluster-port".into(),
                    cluster_port.to_string(),
                    "--routes".into(),
                    routes.join(","),
                ]);
            }
            args.extend(config_args.iter().map(|a| (*a).to_owned()));
            let config = Command::new(env!("CARGO_BIN_EXE_cultfit"))
                .args(&args)
                .output()
                .expect("cultfit nats-config");
            assert!(
                config.status.success(),
                "cultfit nats-config failed: {}",
                String::from_utf8_lossy(&config.stderr)
            );
            std::fs::write(server_dir.join("nats.conf"), &config.stdout).expect("nats.conf");
            servers.push(BusServer {
                child: None,
                dir: server_dir,
            });
        }
        let mut bus = Self {
            url: ports
                .iter()
                .map(|(port, _)| format!("nats://127.0.0.1:{port}"))
                .collect::<Vec<_>>()
                .join(","),
            servers,
            secrets,
            dir,
        };
        for i in 0..n {
            bus.start_server(i)?;
        }
        Ok(bus)
    }

    /// How many servers (the replica count of the streams and buckets).
    pub fn replicas(&self) -> usize {
        self.servers.len()
    }

    /// Which server (index) leads the JetStream stream `name` now.
    pub async fn stream_leader(&self, name: &str) -> usize {
        let js = async_nats::jetstream::new(self.service_client().await);
        let mut stream = js.get_stream(name).await.expect("the stream");
        let info = stream.info().await.expect("stream info");
        let leader = info
            .cluster
            .as_ref()
            .and_then(|c| c.leader.clone())
            .expect("a clustered stream with a leader");
        (1..=self.servers.len())
            .position(|i| leader == format!("test-n{i}"))
            .unwrap_or_else(|| panic!("unknown leader {leader}"))
    }

    /// Waits until every replica of stream `name` is current (a restarted server has caught up).
    pub async fn wait_until_replicas_current(&self, name: &str, within: Duration) {
        let js = async_nats::jetstream::new(self.service_client().await);
        let deadline = tokio::time::Instant::now() + within;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            if let Ok(mut stream) = js.get_stream(name).await
                && let Ok(info) = stream.info().await
                && let Some(cluster) = &info.cluster
            {
                last = format!("{cluster:?}");
                if cluster.leader.is_some()
                    && cluster.replicas.len() + 1 == self.servers.len()
                    && cluster.replicas.iter().all(|r| r.current && !r.offline)
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("the replicas of {name} did not all catch up: {last}");
    }

    /// The configuration `cultfit nats-config` wrote for server `i`.
    pub fn config(&self, i: usize) -> String {
        std::fs::read_to_string(self.servers[i].dir.join("nats.conf")).expect("nats.conf")
    }

    /// The client URL of server `i`.
    pub fn server_url(&self, i: usize) -> &str {
        self.url.split(',').nth(i).expect("no such server")
    }

    fn start_server(&mut self, i: usize) -> Result<(), String> {
        let server = &mut self.servers[i];
        let child = launch_nats(&server.dir)?;
        server.child = Some(child);
        Ok(())
    }

    /// Kill server `i` with SIGKILL (as a crash would).
    pub fn kill_server(&mut self, i: usize) {
        if let Some(mut child) = self.servers[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stop server `i` with SIGTERM (an orderly shutdown, as a restart by an operator would be)
    /// and wait for it to exit.
    pub fn terminate_server(&mut self, i: usize) {
        if let Some(mut child) = self.servers[i].child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Start server `i` again on its port with its JetStream store, so clients reconnect to the
    /// same URL and find their streams and buckets. Retries a few seconds while the port is not
    /// free yet.
    pub fn restart_server(&mut self, i: usize) {
        self.kill_server(i);
        self.start_again(i);
    }

    /// Start server `i` (stopped by [`NatsBus::kill_server`] or [`NatsBus::terminate_server`])
    /// again on its port with its JetStream store.
    pub fn start_again(&mut self, i: usize) {
        let mut last_failure = String::new();
        for _ in 0..20 {
            match self.start_server(i) {
                Ok(()) => return,
                Err(why) => last_failure = why,
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("nats-server {i} did not restart: {last_failure}");
    }

    /// Kill the first server (all of a one-server bus).
    pub fn kill(&mut self) {
        self.kill_server(0);
    }

    /// Crash and restart the first server.
    pub fn restart(&mut self) {
        self.restart_server(0);
    }

    /// An open nats-server (no accounts, no authentication: the bus before it was locked), for
    /// proving that `cultfit serve` refuses to run on one. Its secrets file does not exist.
    pub fn start_open() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let server_dir = dir.path().join("n1");
        std::fs::create_dir_all(&server_dir).expect("server dir");
        let port = free_port();
        std::fs::write(
            server_dir.join("nats.conf"),
            format!(
                "listen: \"127.0.0.1:{port}\"\njetstream {{ store_dir: {:?} }}\n",
                server_dir.join("js")
            ),
        )
        .expect("nats.conf");
        let mut bus = Self {
            servers: vec![BusServer {
                child: None,
                dir: server_dir,
            }],
            url: format!("nats://127.0.0.1:{port}"),
            secrets: dir.path().join("secrets.env"),
            dir,
        };
        bus.start_server(0).unwrap_or_else(|why| panic!("{why}"));
        bus
    }

    /// The service user's name and password, from the secrets file.
    pub fn service_credentials(&self) -> (String, String) {
        let text = std::fs::read_to_string(&self.secrets).expect("read the secrets file");
        let value = |key: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("no {key} in the secrets file"))
                .to_owned()
        };
        (value("CULTFIT_NATS_USER"), value("CULTFIT_NATS_PASSWORD"))
    }

    /// A connection as the service (what `cultfit serve` uses), for reading streams and buckets.
    pub async fn service_client(&self) -> async_nats::Client {
        self.try_service_client()
            .await
            .expect("service connection to nats")
    }

    /// [`NatsBus::service_client`], for a bus that may be down.
    pub async fn try_service_client(&self) -> Result<async_nats::Client, async_nats::ConnectError> {
        let (user, password) = self.service_credentials();
        async_nats::ConnectOptions::with_user_and_password(user, password)
            .connect(server_addrs(&self.url).as_slice())
            .await
    }
}

/// The servers of a comma-separated NATS URL.
pub fn server_addrs(url: &str) -> Vec<async_nats::ServerAddr> {
    url.split(',')
        .map(|u| u.trim().parse().expect("a NATS server URL"))
        .collect()
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Start nats-server with `dir/nats.conf`, its ports file in `dir`, and wait (up to 5 s) for the
/// ports file that says it listens. On failure the process is reaped.
fn launch_nats(dir: &std::path::Path) -> Result<Child, String> {
    let mut child = Command::new(nats_server_bin())
        .arg("-c")
        .arg(dir.join("nats.conf"))
        .arg("--ports_file_dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("failed to start nats-server: run scripts/test, or set CULTFIT_NATS_SERVER_BIN");
    let ports_file = dir.join(format!("nats-server_{}.ports", child.id()));
    for _ in 0..200 {
        if ports_file.exists() {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("nats-server exited early ({status})"));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err("nats-server did not report its ports".to_owned())
}

impl Drop for NatsBus {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill_server(i);
        }
    }
}

/// How to start the app.
pub struct Options {
    pub roles: &'static str,
    pub rust_log: &'static str,
    /// Extra `cultfit serve` arguments.
    pub args: &'static [&'static str],
}

impl Default for Options {
    fn default() -> Self {
        Self {
            roles: "all",
            rust_log: "info",
            args: &[],
        }
    }
}

/// A running `cultfit serve`, with its own database and NATS. Its request helpers live on
/// [`ApiClient`], reached through `Deref`.
pub struct TestApp {
    pub api: ApiClient,
    pub db_name: String,
    pub nats: NatsBus,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        Self::spawn_on(NatsBus::start(), options).await
    }

    /// Start the app on a NATS server the test prepared.
    pub async fn spawn_on(nats: NatsBus, options: Options) -> Self {
        let db_name = format!("cultfit_test_{}", Uuid::new_v4().simple());
        Self::spawn_on_database(nats, &database_url(&db_name), options).await
    }

    /// Start the app on a NATS server and a database the test prepared (e.g. on a private
    /// PostgreSQL server it will stop).
    pub async fn spawn_on_database(nats: NatsBus, url: &str, options: Options) -> Self {
        let db_name = url.rsplit('/').next().unwrap_or_default().to_owned();
        let process = spawn_serve(
            url,
            &nats,
            options.rust_log,
            options.args,
            &[("CULTFIT_ROLES", options.roles)],
        );
        Self {
            api: ApiClient::new(process.address),
            db_name,
            nats,
            child: process.child,
            logs: process.logs,
        }
    }

    /// Every line the process wrote so far (stdout and stderr).
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits (up to `within`) for a log line containing `needle`: lines reach the test through a
    /// pipe, so one written just before a response may not be here yet when the response is.
    pub async fn wait_for_log(&self, needle: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while !self.logs.lock().unwrap().iter().any(|l| l.contains(needle)) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the node never logged {needle:?}:\n{}",
                self.logs().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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
}

impl std::ops::Deref for TestApp {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.api
    }
}

/// HTTP access to one running node: one method per endpoint.
#[derive(Clone)]
pub struct ApiClient {
    pub address: String,
    pub client: reqwest::Client,
}

impl ApiClient {
    /// A client for the node listening on `address` (`http://host:port`).
    pub fn new(address: String) -> Self {
        Self {
            address,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The service's OpenAPI document (`Value::Null` if it cannot be read).
    pub async fn openapi(&self) -> Value {
        self.get("/openapi.json", None)
            .await
            .json()
            .await
            .unwrap_or_default()
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

    /// DELETE `path`.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.delete(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request failed")
    }

    /// GET `path` with query parameters (encoded here, so cursors and times go through as-is).
    pub async fn get_query(&self, path: &str, query: &[(&str, &str)], token: &str) -> Response {
        let mut url = reqwest::Url::parse(&self.url(path)).expect("url");
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        self.client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("request failed")
    }

    pub async fn create_workout(&self, token: &str, body: &Value) -> Response {
        self.post_json("/api/v1/workouts", body, Some(token)).await
    }

    pub async fn get_workout(&self, token: &str, id: &str) -> Response {
        self.get(&format!("/api/v1/workouts/{id}"), Some(token))
            .await
    }

    pub async fn list_workouts(&self, token: &str, query: &[(&str, &str)]) -> Response {
        self.get_query("/api/v1/workouts", query, token).await
    }

    pub async fn reschedule_workout(&self, token: &str, id: &str, body: &Value) -> Response {
        self.post_json(
            &format!("/api/v1/workouts/{id}/reschedule"),
            body,
            Some(token),
        )
        .await
    }

    pub async fn cancel_workout(&self, token: &str, id: &str, body: &Value) -> Response {
        self.post_json(&format!("/api/v1/workouts/{id}/cancel"), body, Some(token))
            .await
    }

    pub async fn start_workout(&self, token: &str, id: &str) -> Response {
        self.post_json(
            &format!("/api/v1/workouts/{id}/start"),
            &json!({}),
            Some(token),
        )
        .await
    }

    pub async fn end_workout(&self, token: &str, id: &str) -> Response {
        self.post_json(
            &format!("/api/v1/workouts/{id}/end"),
            &json!({}),
            Some(token),
        )
        .await
    }

    /// Book a place (or a waitlist position) for the caller.
    pub async fn book(&self, token: &str, id: &str) -> Response {
        self.post_json(
            &format!("/api/v1/workouts/{id}/registrations"),
            &json!({}),
            Some(token),
        )
        .await
    }

    /// Cancel the caller's registration.
    pub async fn cancel_booking(&self, token: &str, id: &str) -> Response {
        self.delete(
            &format!("/api/v1/workouts/{id}/registrations/me"),
            Some(token),
        )
        .await
    }

    /// The roster (its trainer only).
    pub async fn roster(&self, token: &str, id: &str, query: &[(&str, &str)]) -> Response {
        self.get_query(
            &format!("/api/v1/workouts/{id}/registrations"),
            query,
            token,
        )
        .await
    }

    pub async fn join_workout(&self, token: &str, id: &str) -> Response {
        self.post_json(
            &format!("/api/v1/workouts/{id}/join"),
            &json!({}),
            Some(token),
        )
        .await
    }

    pub async fn leave_workout(&self, token: &str, id: &str) -> Response {
        self.post_json(
            &format!("/api/v1/workouts/{id}/leave"),
            &json!({}),
            Some(token),
        )
        .await
    }

    /// Create a workout as `trainer_token`; panics unless 201. Returns the workout JSON.
    pub async fn created_workout(&self, trainer_token: &str, body: &Value) -> Value {
        let response = self.create_workout(trainer_token, body).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::CREATED, "create workout: {text}");
        serde_json::from_str(&text).expect("workout json")
    }

    /// Every roster entry, following `next_cursor` with pages of `limit`.
    pub async fn full_roster(&self, trainer_token: &str, id: &str, limit: usize) -> Vec<Value> {
        let limit = limit.to_string();
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut query = vec![("limit", limit.as_str())];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.as_str()));
            }
            let response = self.roster(trainer_token, id, &query).await;
            assert_eq!(response.status(), StatusCode::OK, "roster page");
            let page: Value = response.json().await.expect("roster json");
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
        panic!("the roster of {id} never ended");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A started `cultfit serve` process: its child, every line it logged, its HTTP address.
pub struct ServeProcess {
    pub child: Child,
    pub logs: Arc<Mutex<Vec<String>>>,
    pub address: String,
}

/// The URL of database `db_name` on the admin URL's server (created by the app if missing).
pub fn database_url(db_name: &str) -> String {
    let admin = admin_url();
    format!("{}/{db_name}", admin.rsplit_once('/').expect("admin url").0)
}

/// Start `cultfit serve --log-format json --http-addr 127.0.0.1:0 <extra_args>` and wait (up to
/// 30 s) for its "listening" line; panics with the logs so far if it does not come.
pub fn spawn_serve(
    database_url: &str,
    nats: &NatsBus,
    rust_log: &str,
    extra_args: &[&str],
    extra_env: &[(&str, &str)],
) -> ServeProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cultfit"))
        .args([
            "serve",
            "--log-format",
            "json",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .args(extra_args)
        .env("DATABASE_URL", database_url)
        .env("NATS_URL", &nats.url)
        .env("CULTFIT_NATS_SECRETS", &nats.secrets)
        .env("CULTFIT_NATS_REPLICAS", nats.replicas().to_string())
        .env("CULTFIT_JWT_SECRET", JWT_SECRET)
        .env("RUST_LOG", rust_log)
        // Many nodes share one PostgreSQL server in tests: keep each pool small.
        .env("CULTFIT_DB_MAX_CONNECTIONS", "6")
        .envs(extra_env.iter().copied())
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
        let _ = child.wait();
        panic!(
            "cultfit did not start:\n{}",
            logs.lock().unwrap().join("\n")
        );
    };
    ServeProcess {
        child,
        logs,
        address: format!("http://{addr}"),
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

/// A wearable's connection, made as real ones make it: the `nats_url`, `device_token` and
/// `inbox_prefix` that `join` returned, the token as the CONNECT `auth_token`.
pub async fn wearable_client(join: &Value) -> Result<async_nats::Client, async_nats::ConnectError> {
    let field = |name: &str| {
        join[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in the join answer {join}"))
            .to_owned()
    };
    async_nats::ConnectOptions::with_token(field("device_token"))
        .custom_inbox_prefix(field("inbox_prefix"))
        .connect(server_addrs(&field("nats_url")).as_slice())
        .await
}

/// A connection presenting `token` as its NATS token (which the auth callout judges).
pub async fn device_client(
    url: &str,
    token: &str,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::with_token(token.to_owned())
        .connect(server_addrs(url).as_slice())
        .await
}

/// A running `cultfit simulate` (the debug binary under test) against an api node, its stderr
/// collected line by line as it comes, so a test can inject a fault at a chosen phase. Its token
/// cache lives in a directory of its own, gone with it.
pub struct Simulation {
    child: tokio::process::Child,
    stderr: Arc<Mutex<Vec<String>>>,
    _cache_home: tempfile::TempDir,
}

impl Simulation {
    /// Starts `cultfit simulate --api-url <api> <args>` with the bus secrets of `nats`.
    pub fn start(api: &str, nats: &NatsBus, args: &[&str]) -> Self {
        use tokio::io::AsyncBufReadExt as _;
        let cache_home = tempfile::tempdir().expect("a cache directory");
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cultfit"))
            .args(["simulate", "--api-url", api])
            .args(args)
            .env("CULTFIT_NATS_SECRETS", &nats.secrets)
            .env("XDG_CACHE_HOME", cache_home.path())
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start cultfit simulate");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
        let collected = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                collected.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            stderr,
            _cache_home: cache_home,
        }
    }

    /// Waits (up to `within`) for a progress line containing `needle`.
    pub async fn wait_for(&self, needle: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "cultfit simulate never said {needle:?}:\n{}",
            self.stderr.lock().unwrap().join("\n")
        );
    }

    /// Waits (up to `within`) for the start and returns the id of the workout it runs.
    pub async fn started_workout(&self, within: Duration) -> String {
        self.wait_for("started: workout ", within).await;
        let lines = self.stderr.lock().unwrap();
        lines
            .iter()
            .find_map(|l| l.split("started: workout ").nth(1)?.split(',').next())
            .expect("the started line names the workout")
            .to_owned()
    }

    /// Waits for the end; its exit status, JSON report and everything it said on stderr.
    pub async fn finish(mut self) -> (bool, Value, String) {
        use tokio::io::AsyncReadExt as _;
        let mut stdout = Vec::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_end(&mut stdout).await;
        }
        let status = self.child.wait().await.expect("cultfit simulate exits");
        // Let the stderr reader catch up with the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stderr = self.stderr.lock().unwrap().join("\n");
        let report = serde_json::from_slice(&stdout).unwrap_or(Value::Null);
        (status.success(), report, stderr)
    }
}

/// A JWT over `claims` signed with HS256 and `secret` (with [`JWT_SECRET`], a token the app
/// accepts as its own), for forging tokens the API never issues.
pub fn sign_hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
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

/// The access token of a session returned by `signed_up`.
pub fn token(session: &Value) -> &str {
    session["access_token"].as_str().expect("access_token")
}

/// The user id of a session returned by `signed_up`.
pub fn user_id(session: &Value) -> &str {
    session["user"]["id"].as_str().expect("user.id")
}

/// The `id` of a workout (or any resource) JSON.
pub fn id_of(resource: &Value) -> &str {
    resource["id"].as_str().expect("id")
}

/// A time as RFC 3339 UTC with whole seconds (`2030-01-01T10:00:00Z`).
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses an RFC 3339 time from JSON (any offset, any precision).
pub fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time string"))
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

/// Two minutes from now (whole seconds): soon enough that the workout may be started at once.
pub fn soon() -> DateTime<Utc> {
    let now = Utc::now() + chrono::Duration::minutes(2);
    now - chrono::Duration::nanoseconds(i64::from(now.timestamp_subsec_nanos()))
}

/// A whole hour `hours` after a fixed base two days ahead; the base is fixed for the whole test
/// run, so slots computed at different moments of a test never shift.
pub fn hours_ahead(hours: i64) -> DateTime<Utc> {
    static BASE: OnceLock<DateTime<Utc>> = OnceLock::new();
    let base = *BASE.get_or_init(|| {
        let later = Utc::now() + chrono::Duration::days(2);
        later
            - chrono::Duration::seconds(later.timestamp() % 3600)
            - chrono::Duration::nanoseconds(i64::from(later.timestamp_subsec_nanos()))
    });
    base + chrono::Duration::hours(hours)
}

/// A valid create-workout body: a 60-minute yoga class for 20 starting at `starts_at`.
pub fn new_workout(starts_at: DateTime<Utc>) -> Value {
    json!({
        "type": "yoga",
        "title": "Sunrise flow",
        "description": "Gentle vinyasa to start the day.",
        "starts_at": rfc3339(starts_at),
        "duration_minutes": 60,
        "capacity": 20,
    })
}
