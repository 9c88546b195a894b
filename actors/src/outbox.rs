//! The outbox relay: publishes domain events written by actors into the `EVENTS` stream.
//!
//! Events are inserted in the same transaction as the change they describe, so a change is never
//! committed without its event, and a NATS outage delays events instead of losing them. One relay
//! at a time (a transaction-scoped advisory lock) publishes in id order; each message carries its
//! outbox id as `Nats-Msg-Id`, so a batch re-sent after a crash is de-duplicated by JetStream.

use anyhow::Context;
use async_nats::HeaderMap;
use async_nats::jetstream;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const BATCH: i64 = 200;
/// Poll even without a wake-up, to pick up events left by a crashed node.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Arbitrary, fixed: identifies the relay's advisory lock.
const RELAY_LOCK: i64 = 0x6375_6c74_6669_7401;

/// Relay until the task is aborted.
pub fn spawn(
    pool: PgPool,
    js: jetstream::Context,
    wake: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match relay_batch(&pool, &js).await {
                Ok(sent) if sent as i64 == BATCH => continue,
                Ok(_) => {}
                Err(err) => tracing::warn!(error = ?err, "outbox relay failed; will retry"),
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    })
}

/// Publish one batch; returns how many events were sent.
async fn relay_batch(pool: &PgPool, js: &jetstream::Context) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await.context("failed to begin transaction")?;
    let locked = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#,
        RELAY_LOCK
    )
    .fetch_one(&mut *tx)
    .await
    .context("failed to take the relay lock")?;
    if !locked {
        return Ok(0);
    }
    let rows = sqlx::query!(
        "SELECT id, subject, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
        BATCH
    )
    .fetch_all(&mut *tx)
    .await
    .context("failed to read the outbox")?;
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", row.id.to_string().as_str());
        let payload = serde_json::to_vec(&row.payload).context("failed to encode event")?;
        js.publish_with_headers(row.subject, headers, payload.into())
            .await
            .context("failed to publish event")?
            .await
            .context("event not acknowledged by JetStream")?;
        ids.push(row.id);
    }
    sqlx::query!(
        "UPDATE outbox SET published_at = now() WHERE id = ANY($1)",
        &ids
    )
    .execute(&mut *tx)
    .await
    .context("failed to mark events published")?;
    tx.commit().await.context("failed to commit relay batch")?;
    metrics::counter!(crate::metrics::OUTBOX_PUBLISHED).increment(ids.len() as u64);
    Ok(ids.len())
}
