//! A multi-node fixture: one NATS bus (a server or a three-server cluster), one database, several
//! `cultfit serve` processes with chosen roles and node ids, any of which can be killed with
//! SIGKILL.
#![allow(
    dead_code,
    reason = "each placement test uses a different part of the fixture"
)]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "fixtures fail loudly"
)]

use crate::helpers::{ApiClient, NatsBus, ServeProcess, database_url, spawn_serve};
use serde_json::Value;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// The lease TTL every cluster node runs with (`--lease-ttl-secs`).
pub const LEASE_TTL: Duration = Duration::from_secs(3);

/// The NATS deployment under a multi-node test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatsShape {
    /// One nats-server (the embedded setup).
    OneServer,
    /// Three nats-servers routed together, streams and buckets replicated three times.
    ThreeServers,
}

/// Declares a multi-node test twice, as a module with `on_one_nats_server` and
/// `on_a_nats_cluster`, both calling `body(shape)`: everything that holds on one server must
/// hold on the cluster operators run.
macro_rules! on_both_nats_shapes {
    ($name:ident, $body:path) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_one_nats_server() {
                $body(crate::cluster::NatsShape::OneServer).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_a_nats_cluster() {
                $body(crate::cluster::NatsShape::ThreeServers).await
            }
        }
    };
}
pub(crate) use on_both_nats_shapes;

/// What a node runs (`--role`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// HTTP facade only.
    Api,
    /// Actors only; serves just `/health/*` (and `/metrics`).
    Worker,
    /// Both.
    All,
}

impl Role {
    fn as_arg(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Worker => "worker",
            Role::All => "all",
        }
    }
}

/// One `cultfit serve` process of a [`Cluster`].
pub struct Node {
    pub role: Role,
    pub node_id: String,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub api: ApiClient,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    killed: bool,
}

impl Node {
    /// Every line the process wrote so far (stdout and stderr).
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The log lines that parse as JSON.
    pub fn json_logs(&self) -> Vec<Value> {
        self.logs()
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    pub fn is_alive(&self) -> bool {
        !self.killed
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Several nodes sharing one nats-server and one database.
pub struct Cluster {
    // Declared before `nats` so the nodes stop before their NATS does.
    nodes: Vec<Node>,
    pub db_name: String,
    pub nats: NatsBus,
    /// What every node is started with (`RUST_LOG`, extra `serve` arguments).
    rust_log: String,
    serve_args: Vec<String>,
}

impl Cluster {
    /// Start one node per role, in order, on a bus of the given shape. The first node applies the
    /// migrations, so the others start only once it is listening.
    pub async fn start(shape: NatsShape, roles: &[Role]) -> Self {
        Self::start_logging(shape, roles, "info").await
    }

    /// As [`Cluster::start`], every node logging what `rust_log` lets through.
    pub async fn start_logging(shape: NatsShape, roles: &[Role], rust_log: &str) -> Self {
        Self::start_configured(shape, roles, rust_log, &[]).await
    }

    /// As [`Cluster::start`], every node given `serve_args` too.
    pub async fn start_with(shape: NatsShape, roles: &[Role], serve_args: &[&str]) -> Self {
        Self::start_configured(shape, roles, "info", serve_args).await
    }

    async fn start_configured(
        shape: NatsShape,
        roles: &[Role],
        rust_log: &str,
        serve_args: &[&str],
    ) -> Self {
        let nats = match shape {
            NatsShape::OneServer => NatsBus::start(),
            NatsShape::ThreeServers => NatsBus::start_cluster(),
        };
        assert!(!roles.is_empty(), "a cluster needs at least one node");
        let mut cluster = Self {
            nodes: Vec::with_capacity(roles.len()),
            db_name: format!("cultfit_test_{}", Uuid::new_v4().simple()),
            nats,
            rust_log: rust_log.to_owned(),
            serve_args: serve_args.iter().map(|&arg| arg.to_owned()).collect(),
        };
        for &role in roles {
            let node = cluster.spawn(role);
            cluster.nodes.push(node);
        }
        cluster.wait_until_ready(0).await;
        cluster.wait_for_heartbeats(0).await;
        cluster
    }

    /// Start one more node with `role` (after the others: the database is migrated) and wait
    /// until it is ready and, for a worker, announced. Returns its index.
    pub async fn add(&mut self, role: Role) -> usize {
        let node = self.spawn(role);
        self.nodes.push(node);
        let index = self.nodes.len() - 1;
        self.wait_until_ready(index).await;
        self.wait_for_heartbeats(index).await;
        index
    }

    fn spawn(&self, role: Role) -> Node {
        let node_id = Uuid::new_v4().to_string();
        let lease_ttl = LEASE_TTL.as_secs().to_string();
        let mut args = vec![
            "--role",
            role.as_arg(),
            "--node-id",
            &node_id,
            "--lease-ttl-secs",
            &lease_ttl,
        ];
        args.extend(self.serve_args.iter().map(String::as_str));
        let ServeProcess {
            child,
            logs,
            address,
        } = spawn_serve(
            &database_url(&self.db_name),
            &self.nats,
            &self.rust_log,
            &args,
            &[],
        );
        Node {
            role,
            api: ApiClient::new(address.clone()),
            node_id,
            address,
            child,
            logs,
            killed: false,
        }
    }

    /// Waits (up to 15 s) until every worker from node `first` on has put its heartbeat into KV
    /// bucket `nodes` (key `nodes.<node_id>`, or just `<node_id>`), so placement sees all of them
    /// from the start.
    async fn wait_for_heartbeats(&self, first: usize) {
        let client = self.nats.service_client().await;
        let jetstream = async_nats::jetstream::new(client);
        for node in self.nodes[first..].iter().filter(|n| n.role != Role::Api) {
            let mut seen = false;
            for _ in 0..75 {
                if let Ok(bucket) = jetstream.get_key_value("nodes").await {
                    for key in [format!("nodes.{}", node.node_id), node.node_id.clone()] {
                        seen |= matches!(bucket.get(key).await, Ok(Some(_)));
                    }
                }
                if seen {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert!(
                seen,
                "worker {} never put its heartbeat into KV `nodes`:\n{}",
                node.node_id,
                node.logs().join("\n")
            );
        }
    }

    /// Waits (up to 15 s) until every node from `first` on reports ready, so workers have joined
    /// `nodes` before a test sends its first command.
    async fn wait_until_ready(&self, first: usize) {
        let client = reqwest::Client::new();
        for node in &self.nodes[first..] {
            let url = format!("{}/health/ready", node.address);
            let mut ready = false;
            for _ in 0..75 {
                if client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    ready = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert!(
                ready,
                "node {} ({:?}) never became ready:\n{}",
                node.node_id,
                node.role,
                node.logs().join("\n")
            );
        }
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The request helpers of node `i` (an api or all node).
    pub fn api(&self, i: usize) -> &ApiClient {
        &self.nodes[i].api
    }

    /// The ids of the nodes with `role`.
    pub fn node_ids(&self, role: Role) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.role == role)
            .map(|n| n.node_id.clone())
            .collect()
    }

    /// The index of the node with `node_id`.
    pub fn index_of(&self, node_id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.node_id == node_id)
    }

    /// SIGTERM node `i` (graceful: drain, lease release) and wait for it to exit.
    pub fn terminate(&mut self, i: usize) -> std::process::ExitStatus {
        let node = &mut self.nodes[i];
        let status = Command::new("kill")
            .args(["-TERM", &node.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -TERM failed");
        for _ in 0..300 {
            if let Some(status) = node.child.try_wait().expect("try_wait") {
                node.killed = true;
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("node {i} did not stop within 15 s of SIGTERM");
    }

    /// Send `signal` (e.g. `STOP`, `CONT`) to node `i`.
    pub fn signal(&self, i: usize, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.nodes[i].child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// SIGKILL node `i` (no drain, no lease release) and reap it.
    pub fn kill9(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let status = Command::new("kill")
            .args(["-9", &node.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -9 failed");
        node.child.wait().expect("wait");
        node.killed = true;
    }

    /// The node holding the lease of workout `workout_id`: KV bucket `owners`, key
    /// `workouts.<id>`, value = the owner's node id. `None` if no lease is held.
    pub async fn owner_of(&self, workout_id: &str) -> Option<String> {
        let client = self.nats.service_client().await;
        let jetstream = async_nats::jetstream::new(client);
        let owners = jetstream.get_key_value("owners").await.ok()?;
        let value = owners
            .get(format!("workouts.{workout_id}"))
            .await
            .expect("read owners")?;
        Some(String::from_utf8(value.to_vec()).expect("owner is UTF-8"))
    }

    /// Polls [`Cluster::owner_of`] for up to `within` until it is `Some`.
    pub async fn wait_for_owner(&self, workout_id: &str, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let owner = self.owner_of(workout_id).await;
            if owner.is_some() || tokio::time::Instant::now() >= deadline {
                return owner;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every JSON log line of every node with `role`.
    pub fn json_logs_of(&self, role: Role) -> Vec<Value> {
        self.nodes
            .iter()
            .filter(|n| n.role == role)
            .flat_map(Node::json_logs)
            .collect()
    }
}
