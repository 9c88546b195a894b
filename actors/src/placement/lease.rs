//! Leases on JetStream KV: at most one live owner per entity.
//!
//! The `owners` bucket keeps one revision per key and expires entries after the lease TTL
//! (`max_age`). Acquiring is `create` (fails if anyone holds the key); the revision it returns
//! is the owner's **epoch**. A background task renews with `update(expected revision)` every
//! TTL/3; any failure (wrong revision, timeout, lost connection) *fences* the lease: the owner
//! must stop serving at once, because another node may take over as soon as the entry expires.

use anyhow::Context;
use async_nats::jetstream::kv;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};

/// Outcome of trying to acquire a lease.
pub enum Acquired {
    /// We hold it.
    Held(Lease),
    /// Someone else does (their node id, if it could be read).
    Taken(Option<String>),
}

/// A held lease, renewed in the background until released or fenced.
pub struct Lease {
    epoch: u64,
    shared: Arc<Shared>,
    release: Option<oneshot::Sender<()>>,
}

struct Shared {
    fenced: AtomicBool,
    fence: Notify,
    revision: AtomicU64,
}

impl Lease {
    /// Try to take `key` for `node_id`; renewals start immediately.
    pub async fn acquire(
        store: &kv::Store,
        key: String,
        node_id: &str,
        ttl: Duration,
    ) -> anyhow::Result<Acquired> {
        let revision = match store.create(&key, node_id.to_owned().into()).await {
            Ok(revision) => revision,
            Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => {
                let owner = store
                    .get(&key)
                    .await
                    .ok()
                    .flatten()
                    .map(|v| String::from_utf8_lossy(&v).into_owned());
                return Ok(Acquired::Taken(owner));
            }
            Err(err) => return Err(err).context("failed to create lease"),
        };
        let shared = Arc::new(Shared {
            fenced: AtomicBool::new(false),
            fence: Notify::new(),
            revision: AtomicU64::new(revision),
        });
        let (release, released) = oneshot::channel();
        tokio::spawn(renew(
            store.clone(),
            key,
            node_id.to_owned(),
            ttl,
            shared.clone(),
            released,
        ));
        Ok(Acquired::Held(Lease {
            epoch: revision,
            shared,
            release: Some(release),
        }))
    }

    /// The epoch: the revision at which this lease was created. Strictly increases across owners.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether renewal failed; the holder must stop serving.
    pub fn is_fenced(&self) -> bool {
        self.shared.fenced.load(Ordering::SeqCst)
    }

    /// Resolves when the lease is fenced.
    pub fn fenced(&self) -> impl Future<Output = ()> + 'static {
        let shared = self.shared.clone();
        async move {
            loop {
                let notified = shared.fence.notified();
                if shared.fenced.load(Ordering::SeqCst) {
                    return;
                }
                notified.await;
            }
        }
    }

    /// Stop renewing and delete the entry, so the next owner need not wait for it to expire.
    pub fn release(mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Dropping without release() also stops renewals; the entry then expires by itself.
        self.release.take();
    }
}

async fn renew(
    store: kv::Store,
    key: String,
    node_id: String,
    ttl: Duration,
    shared: Arc<Shared>,
    mut released: oneshot::Receiver<()>,
) {
    let mut tick = tokio::time::interval(ttl / 3);
    tick.tick().await;
    loop {
        tokio::select! {
            outcome = &mut released => {
                if outcome.is_ok() && !shared.fenced.load(Ordering::SeqCst) {
                    let revision = shared.revision.load(Ordering::SeqCst);
                    if let Err(err) = store.delete_expect_revision(&key, Some(revision)).await {
                        tracing::debug!(lease.key = %key, error = %err, "lease not deleted; it will expire");
                    }
                }
                return;
            }
            _ = tick.tick() => {
                let revision = shared.revision.load(Ordering::SeqCst);
                // A renewal must land well inside the TTL or it is worthless.
                let update = store.update(&key, node_id.clone().into(), revision);
                match tokio::time::timeout(ttl / 3, update).await {
                    Ok(Ok(next)) => {
                        shared.revision.store(next, Ordering::SeqCst);
                        metrics::counter!(crate::metrics::LEASE_RENEWALS, "outcome" => "ok").increment(1);
                    }
                    outcome => {
                        let reason = match outcome {
                            Ok(Err(err)) => err.to_string(),
                            _ => "renewal timed out".to_owned(),
                        };
                        tracing::warn!(lease.key = %key, reason, "lease lost: fencing the actor");
                        metrics::counter!(crate::metrics::LEASE_RENEWALS, "outcome" => "lost").increment(1);
                        shared.fenced.store(true, Ordering::SeqCst);
                        shared.fence.notify_waiters();
                        return;
                    }
                }
            }
        }
    }
}
