//! Leases on JetStream KV: at most one live owner per entity.
//!
//! The `owners` bucket keeps one revision per key and expires entries after the lease TTL
//! (`max_age`). Acquiring is `create` (fails if anyone holds the key); the revision it returns
//! is the owner's **epoch**. A background task renews with `update(expected revision)` every
//! TTL/3. Another owner's revision *fences* the lease at once: the owner must stop serving.
//! Transient failures (a timeout, a server restarting, a reconnect) are retried for as long as
//! the entry surely outlives the last renewal sent, then fence too, because another node may take
//! over as soon as the entry expires. Riding out a short bus outage this way keeps a session's
//! frames going instead of failing it over.

use anyhow::Context;
use async_nats::jetstream::kv;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

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
    /// Until when (ms after `since`) the holder may act, by the last renewal sent.
    valid_until_ms: AtomicU64,
    since: Instant,
}

impl Shared {
    fn hold_until(&self, until: Instant) {
        let ms = until.saturating_duration_since(self.since).as_millis();
        self.valid_until_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    fn holds(&self) -> bool {
        let now = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        !self.fenced.load(Ordering::SeqCst) && now < self.valid_until_ms.load(Ordering::SeqCst)
    }
}

/// A cheap view of a lease for whoever acts on the holder's behalf (the live session publishing
/// frames): whether the holder may still act *now*. Unlike [`Lease::is_fenced`], this needs no
/// renewal to have run: a process that was stopped (SIGSTOP, a long GC-like stall) and resumes
/// past its hold sees `false` before its renewal task has even woken.
#[derive(Clone)]
pub struct Fence(Arc<Shared>);

impl Fence {
    /// Whether the holder may act for the lease now.
    pub fn holds(&self) -> bool {
        self.0.holds()
    }
}

impl Lease {
    /// Try to take `key` for `node_id`; renewals start immediately.
    pub async fn acquire(
        store: &kv::Store,
        key: String,
        node_id: &str,
        ttl: Duration,
    ) -> anyhow::Result<Acquired> {
        let sent = Instant::now();
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
            valid_until_ms: AtomicU64::new(0),
            since: sent,
        });
        shared.hold_until(sent + hold_for(ttl));
        let (release, released) = oneshot::channel();
        tokio::spawn(renew(
            store.clone(),
            key,
            node_id.to_owned(),
            ttl,
            sent,
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

    /// The view of this lease that acting on the holder's behalf needs.
    pub fn fence(&self) -> Fence {
        Fence(self.shared.clone())
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

/// Renewals start this long after the last one.
fn renew_period(ttl: Duration) -> Duration {
    ttl / 3
}

/// How long after sending a renewal (or the create) the holder may keep serving without another
/// success. The server keeps the entry at least `ttl` from when it received the write, which is
/// after we sent it; the last sixth of the TTL is the margin for stopping the actor.
fn hold_for(ttl: Duration) -> Duration {
    ttl * 5 / 6
}

/// Pause between attempts after a renewal failed for a transient reason.
const RETRY_AFTER: Duration = Duration::from_millis(250);

async fn renew(
    store: kv::Store,
    key: String,
    node_id: String,
    ttl: Duration,
    sent: Instant,
    shared: Arc<Shared>,
    mut released: oneshot::Receiver<()>,
) {
    let mut valid_until = sent + hold_for(ttl);
    let mut next = sent + renew_period(ttl);
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
            () = tokio::time::sleep_until(next) => {
                let revision = shared.revision.load(Ordering::SeqCst);
                let sent = Instant::now();
                let update = store.update(&key, node_id.clone().into(), revision);
                // An answer after `valid_until` is worthless: the holder has stopped by then.
                let reason = match tokio::time::timeout_at(valid_until, update).await {
                    Ok(Ok(next_revision)) => {
                        shared.revision.store(next_revision, Ordering::SeqCst);
                        valid_until = sent + hold_for(ttl);
                        shared.hold_until(valid_until);
                        next = sent + renew_period(ttl);
                        metrics::counter!(crate::metrics::LEASE_RENEWALS, "outcome" => "ok").increment(1);
                        continue;
                    }
                    Ok(Err(err)) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                        // A renewal that timed out on our side may still have landed: then the
                        // entry holds our node id at a newer revision, and the lease is still
                        // ours. Anything else means another owner: fence at once.
                        match store.entry(&key).await {
                            Ok(Some(entry))
                                if entry.operation == kv::Operation::Put
                                    && entry.value.as_ref() == node_id.as_bytes() =>
                            {
                                shared.revision.store(entry.revision, Ordering::SeqCst);
                                next = Instant::now();
                                continue;
                            }
                            _ => err.to_string(),
                        }
                    }
                    transient => {
                        let reason = match transient {
                            Ok(Err(err)) => err.to_string(),
                            _ => "no renewal within the lease".to_owned(),
                        };
                        if Instant::now() + RETRY_AFTER < valid_until {
                            // The bus may be back in a moment (a server restarting, a reconnect):
                            // keep serving while the entry surely outlives us, and try again.
                            tracing::debug!(lease.key = %key, reason, "lease renewal failed; retrying");
                            metrics::counter!(crate::metrics::LEASE_RENEWALS, "outcome" => "retry").increment(1);
                            next = Instant::now() + RETRY_AFTER;
                            continue;
                        }
                        reason
                    }
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
