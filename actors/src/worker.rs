//! A worker node: hosts actors and runs the background duties (heartbeat, outbox relay,
//! the live sweep that keeps live workouts owned and ends overdue ones).

use crate::bus::Buckets;
use crate::client::ActorClient;
use crate::env::Env;
use crate::placement::host::{Host, Registry};
use crate::placement::nodes::Heartbeat;
use crate::workout::state::Rules;
use crate::{outbox, workout};
use async_nats::jetstream;
use std::sync::Arc;
use std::time::Duration;

/// Settings of a worker.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// This node's id (unique per process).
    pub node_id: String,
    /// Lease time-to-live; must match the `owners` bucket's.
    pub lease_ttl: Duration,
    /// Workout timing rules.
    pub rules: Rules,
    /// How often a live workout publishes a ranking frame.
    pub tick: Duration,
    /// How often a live workout snapshots its board; `None`: never.
    pub snapshot_every: Option<Duration>,
}

/// A running worker.
pub struct Worker {
    host: Arc<Host>,
    heartbeat: Heartbeat,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Worker {
    /// Start hosting actors and announce this node.
    pub async fn start(
        pool: sqlx::PgPool,
        nats: async_nats::Client,
        buckets: &Buckets,
        client: ActorClient,
        config: WorkerConfig,
    ) -> anyhow::Result<Self> {
        let wake_outbox = Arc::new(tokio::sync::Notify::new());
        crate::metrics::describe_live();
        let env = Arc::new(Env {
            pool: pool.clone(),
            nats: nats.clone(),
            client: client.clone(),
            rules: config.rules,
            registry: Arc::new(Registry::default()),
            node_id: config.node_id.clone(),
            lease_ttl: config.lease_ttl,
            outbox: wake_outbox.clone(),
            tick: config.tick,
            snapshots: buckets.snapshots.clone(),
            snapshot_every: config.snapshot_every,
        });
        let workouts = env.registry.workouts();
        let host = Host::new(env, buckets.owners.clone(), client.directory().clone());
        let activations = host.serve_activations().await?;
        // Only announce ourselves once we can answer activations.
        let heartbeat = Heartbeat::start(buckets.nodes.clone(), config.node_id.clone(), workouts);
        let tasks = vec![
            activations,
            outbox::spawn(pool.clone(), jetstream::new(nats), wake_outbox),
            workout::live_sweep::spawn(pool, client),
        ];
        tracing::info!(node.id = %config.node_id, "worker started");
        Ok(Self {
            host,
            heartbeat,
            tasks,
        })
    }

    /// Stop taking activations, stop every actor (releasing leases so others take over at once),
    /// then stop the background duties.
    pub async fn drain(self) {
        self.heartbeat.drain();
        self.host.drain(Duration::from_secs(10)).await;
        for task in self.tasks {
            task.abort();
        }
    }
}
