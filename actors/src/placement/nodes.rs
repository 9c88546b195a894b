//! Worker membership: heartbeats in the `nodes` KV bucket and a directory of live workers.
//!
//! Every worker puts `{node_id, draining, at, workouts}` under its id every [`HEARTBEAT_INTERVAL`]
//! and whenever the number of workouts it hosts changes (bounded-load placement weighs it). Every
//! node (api or worker) watches the bucket and treats a worker as live while its last heartbeat
//! is younger than [`NODE_TIMEOUT`], so a killed worker drops out within seconds even before its
//! entry expires.

use crate::placement::rendezvous;
use anyhow::Context;
use async_nats::jetstream::kv;
use bus_contracts::v1::NodeHeartbeat;
use chrono::Utc;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// How often a worker announces itself.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// Silence after which a worker is considered gone.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(4);

/// The live workers as this node sees them.
#[derive(Clone, Default)]
pub struct Directory {
    nodes: Arc<RwLock<HashMap<String, NodeHeartbeat>>>,
    watcher: Arc<Mutex<Option<tokio::task::AbortHandle>>>,
}

impl Directory {
    /// Start watching the bucket; the directory fills as entries arrive.
    pub async fn watch(store: &kv::Store) -> anyhow::Result<Self> {
        let directory = Directory::default();
        // With history: the current heartbeats first, so a node that just started knows every
        // worker at once instead of after their next beat (a plain watch sees only new puts).
        let mut watch = store
            .watch_with_history(">")
            .await
            .context("failed to watch the nodes bucket")?;
        let nodes = directory.nodes.clone();
        let watcher = tokio::spawn(async move {
            while let Some(entry) = watch.next().await {
                let Ok(entry) = entry else { continue };
                let Ok(mut table) = nodes.write() else { return };
                match entry.operation {
                    kv::Operation::Put => {
                        if let Ok(heartbeat) = serde_json::from_slice::<NodeHeartbeat>(&entry.value)
                        {
                            table.insert(entry.key, heartbeat);
                        }
                    }
                    kv::Operation::Delete | kv::Operation::Purge => {
                        table.remove(&entry.key);
                    }
                }
            }
            tracing::warn!("nodes watch ended");
        });
        if let Ok(mut slot) = directory.watcher.lock() {
            *slot = Some(watcher.abort_handle());
        }
        Ok(directory)
    }

    /// Stop watching (before the connection drains: a watch polled during a drain panics inside
    /// async-nats 0.51).
    pub fn stop(&self) {
        if let Some(watcher) = self.watcher.lock().ok().and_then(|mut slot| slot.take()) {
            watcher.abort();
        }
    }

    /// Live, non-draining workers ranked by preference for `entity` (a lease key).
    pub fn ranked(&self, entity: &str) -> Vec<String> {
        let Ok(table) = self.nodes.read() else {
            return Vec::new();
        };
        let live = placeable(&table).map(|hb| hb.node_id.as_str());
        rendezvous::rank(live, entity)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// The live, non-draining workers other than `me`: how many, and the workouts they host
    /// (as of their last heartbeats).
    pub fn others_load(&self, me: &str) -> (u32, u32) {
        let Ok(table) = self.nodes.read() else {
            return (0, 0);
        };
        placeable(&table)
            .filter(|hb| hb.node_id != me)
            .fold((0, 0), |(workers, workouts), hb| {
                (workers + 1, workouts.saturating_add(hb.workouts))
            })
    }
}

/// The workers that take activations: heartbeat recent, not draining.
fn placeable(table: &HashMap<String, NodeHeartbeat>) -> impl Iterator<Item = &NodeHeartbeat> {
    let cutoff = Utc::now() - NODE_TIMEOUT;
    table
        .values()
        .filter(move |hb| !hb.draining && hb.at > cutoff)
}

/// Announce this worker until the returned handle is dropped or told to drain.
pub struct Heartbeat {
    draining: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    /// Start heartbeating as `node_id`, with the number of workouts `workouts` says this node
    /// hosts. A change of that number is put at once (after the put in flight), so that other
    /// workers weigh it before their next activation rather than a heartbeat later.
    pub fn start(store: kv::Store, node_id: String, mut workouts: watch::Receiver<u32>) -> Self {
        let (draining, mut draining_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
            loop {
                let heartbeat = NodeHeartbeat {
                    node_id: node_id.clone(),
                    draining: *draining_rx.borrow_and_update(),
                    at: Utc::now(),
                    workouts: *workouts.borrow_and_update(),
                };
                if let Ok(payload) = serde_json::to_vec(&heartbeat)
                    && let Err(err) = store.put(&node_id, payload.into()).await
                {
                    tracing::warn!(error = %err, "heartbeat failed");
                }
                tokio::select! {
                    _ = tick.tick() => {}
                    changed = draining_rx.changed() => if changed.is_err() { return },
                    // The registry lives as long as the worker; if it is gone, beat on the clock.
                    Ok(()) = workouts.changed() => {}
                }
            }
        });
        Self { draining, task }
    }

    /// Tell the others to stop sending activations here.
    pub fn drain(&self) {
        let _ = self.draining.send(true);
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}
