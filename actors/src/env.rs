//! What every actor on a worker shares: connections, settings, and the local registry.

use crate::client::ActorClient;
use crate::placement::host::Registry;
use crate::workout::state::Rules;
use std::sync::Arc;
use std::time::Duration;

/// Shared by every actor of a worker node.
pub struct Env {
    /// PostgreSQL, the system of record.
    pub pool: sqlx::PgPool,
    /// The node's NATS connection.
    pub nats: async_nats::Client,
    /// For commands to other actors (a trainee's actor books through the workout's).
    pub client: ActorClient,
    /// Workout timing rules.
    pub rules: Rules,
    /// Actors active on this node.
    pub registry: Arc<Registry>,
    /// This node's id.
    pub node_id: String,
    /// Lease time-to-live.
    pub lease_ttl: Duration,
    /// Wakes the outbox relay after a write that enqueued domain events.
    pub outbox: Arc<tokio::sync::Notify>,
    /// How often a live workout publishes a ranking frame.
    pub tick: Duration,
    /// Snapshots of live workouts' boards.
    pub snapshots: async_nats::jetstream::kv::Store,
    /// How often a live workout snapshots its board; `None`: never.
    pub snapshot_every: Option<Duration>,
}
