//! The NATS side of the infrastructure: JetStream streams and KV buckets, created if missing.
//!
//! Every node calls [`ensure`] at start. Creation is idempotent; the first node to start decides
//! the settings (lease TTL, retention, replicas), so all nodes of a deployment must agree on them.
//! On a NATS cluster every stream and bucket is replicated `replicas` times (3 on three servers:
//! JetStream then survives the loss of one server without losing what it acknowledged).

use anyhow::Context;
use async_nats::jetstream::{self, kv, stream};
use bus_contracts::subjects;
use std::time::Duration;

/// Handles to the KV buckets placement needs.
#[derive(Clone)]
pub struct Buckets {
    /// Worker heartbeats.
    pub nodes: kv::Store,
    /// Actor leases.
    pub owners: kv::Store,
    /// Snapshots of live workouts' boards.
    pub snapshots: kv::Store,
}

/// How long the `ENERGY` stream keeps raw samples unless configured otherwise: long enough to
/// replay any session (they last at most a few hours) and to investigate a dispute the next days.
pub const DEFAULT_ENERGY_RETENTION: Duration = Duration::from_secs(3 * 24 * 3600);

/// How long a snapshot piece is kept at most (see [`ensure`]).
pub const SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// How the streams and buckets are created.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// TTL of the `owners` bucket: the actor lease.
    pub lease_ttl: Duration,
    /// How long the `ENERGY` stream keeps samples.
    pub energy_retention: Duration,
    /// Replicas of every stream and bucket (1 on one server, 3 on a three-server cluster).
    pub replicas: usize,
    /// Replicas of the `ENERGY` stream (usually `replicas`; 1 keeps samples on one server).
    pub energy_replicas: usize,
}

/// Create (or open) the streams and buckets.
pub async fn ensure(js: &jetstream::Context, layout: Layout) -> anyhow::Result<Buckets> {
    let Layout {
        lease_ttl,
        energy_retention,
        replicas,
        energy_replicas,
    } = layout;
    let nodes = bucket(
        js,
        kv::Config {
            bucket: subjects::NODES_BUCKET.to_owned(),
            description: "cultfit worker heartbeats".to_owned(),
            history: 1,
            max_age: Duration::from_secs(60),
            num_replicas: replicas,
            ..Default::default()
        },
    )
    .await?;
    let owners = bucket(
        js,
        kv::Config {
            bucket: subjects::OWNERS_BUCKET.to_owned(),
            description: "cultfit actor leases: key = <kind>.<id>, value = owner node".to_owned(),
            history: 1,
            max_age: lease_ttl,
            num_replicas: replicas,
            ..Default::default()
        },
    )
    .await?;
    let snapshots = bucket(
        js,
        kv::Config {
            bucket: subjects::SNAPSHOTS_BUCKET.to_owned(),
            description: "cultfit live-session snapshots: key = workouts.<id>[.<piece>]".to_owned(),
            history: 1,
            // Far beyond any session (at most four hours of history): a session's pieces are
            // removed when it ends, so this only sweeps what a crash left behind.
            max_age: SNAPSHOT_MAX_AGE,
            num_replicas: replicas,
            ..Default::default()
        },
    )
    .await?;
    js.get_or_create_stream(stream::Config {
        name: subjects::EVENTS_STREAM.to_owned(),
        subjects: vec![subjects::EVENTS_STREAM_SUBJECTS.to_owned()],
        max_age: Duration::from_secs(7 * 24 * 3600),
        duplicate_window: Duration::from_secs(120),
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .context("failed to create the EVENTS stream")?;
    // Every sample lands here (a wearable's publish is acknowledged once stored), so a workout's
    // owner can replay its session after a restart or failover. Duplicates are harmless (samples
    // carry `seq`), so no de-duplication window to speak of is paid for.
    js.get_or_create_stream(stream::Config {
        name: subjects::ENERGY_STREAM.to_owned(),
        subjects: vec![subjects::ENERGY_STREAM_SUBJECTS.to_owned()],
        max_age: energy_retention,
        duplicate_window: Duration::from_secs(1),
        num_replicas: energy_replicas,
        ..Default::default()
    })
    .await
    .context("failed to create the ENERGY stream")?;
    Ok(Buckets {
        nodes,
        owners,
        snapshots,
    })
}

async fn bucket(js: &jetstream::Context, config: kv::Config) -> anyhow::Result<kv::Store> {
    if let Ok(store) = js.get_key_value(config.bucket.as_str()).await {
        return Ok(store);
    }
    let name = config.bucket.clone();
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        // Another node created it between our get and create.
        Err(_) => js
            .get_key_value(name.as_str())
            .await
            .with_context(|| format!("failed to open KV bucket {name}")),
    }
}
