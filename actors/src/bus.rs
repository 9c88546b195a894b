//! The NATS side of the infrastructure: JetStream streams and KV buckets, created if missing.
//!
//! Every node calls [`ensure`] at start. Creation is idempotent; the first node to start decides
//! the bucket settings, so all nodes of a deployment must use the same lease TTL.

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
}

/// How long the `ENERGY` stream keeps raw samples unless configured otherwise: long enough to
/// replay any session (they last at most a few hours) and to investigate a dispute the next days.
pub const DEFAULT_ENERGY_RETENTION: Duration = Duration::from_secs(3 * 24 * 3600);

/// Create (or open) the streams and buckets.
pub async fn ensure(
    js: &jetstream::Context,
    lease_ttl: Duration,
    energy_retention: Duration,
) -> anyhow::Result<Buckets> {
    let nodes = bucket(
        js,
        kv::Config {
            bucket: subjects::NODES_BUCKET.to_owned(),
            description: "cultfit worker heartbeats".to_owned(),
            history: 1,
            max_age: Duration::from_secs(60),
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
            ..Default::default()
        },
    )
    .await?;
    js.get_or_create_stream(stream::Config {
        name: subjects::EVENTS_STREAM.to_owned(),
        subjects: vec![subjects::EVENTS_STREAM_SUBJECTS.to_owned()],
        max_age: Duration::from_secs(7 * 24 * 3600),
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .context("failed to create the EVENTS stream")?;
    // Wearables publish with core NATS (no acks to wait for); the stream captures every sample so
    // a workout's owner can replay its session after a restart or failover. Duplicates are
    // harmless (samples carry `seq`), so no de-duplication window is paid for.
    js.get_or_create_stream(stream::Config {
        name: subjects::ENERGY_STREAM.to_owned(),
        subjects: vec![subjects::ENERGY_STREAM_SUBJECTS.to_owned()],
        max_age: energy_retention,
        duplicate_window: Duration::from_secs(1),
        ..Default::default()
    })
    .await
    .context("failed to create the ENERGY stream")?;
    Ok(Buckets { nodes, owners })
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
