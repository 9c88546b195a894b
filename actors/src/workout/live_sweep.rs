//! Keeps every live workout owned, and ends those whose trainer forgot (`starts_at + duration +
//! grace` has passed).
//!
//! Every worker sweeps PostgreSQL each second and sends `AutoEnd` to each live workout's actor.
//! Delivering it activates the actor if nobody hosts it, which is what brings a live session
//! back after its worker died: nothing else would address the workout until its trainer ends it,
//! while wearables keep publishing into the stream. The actor decides whether the workout is
//! overdue; for the others, and for a second sweeper, the command is a cheap no-op.

use crate::client::ActorClient;
use bus_contracts::v1::{ActorKind, WorkoutCommand, WorkoutState, WorkoutStatus};
use sqlx::PgPool;
use std::time::Duration;

/// How often to sweep: bounds how long a live session stays unowned beyond the lease TTL.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Most live workouts addressed per sweep.
const SWEEP_LIMIT: i64 = 1000;

/// Sweep until the task is aborted.
pub fn spawn(pool: PgPool, client: ActorClient) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let live = sqlx::query_scalar!(
                "SELECT id FROM workouts WHERE state = 'live' ORDER BY starts_at LIMIT $1",
                SWEEP_LIMIT
            )
            .fetch_all(&pool)
            .await;
            let live = match live {
                Ok(ids) => ids,
                Err(err) => {
                    tracing::warn!(error = %err, "live sweep failed");
                    continue;
                }
            };
            // Concurrently: one workout waiting out a dead owner's lease must not hold up the rest.
            let sweeps = live.into_iter().map(|id| {
                let client = client.clone();
                async move {
                    let command = WorkoutCommand::AutoEnd;
                    let reply = client
                        .call::<_, WorkoutStatus>(ActorKind::Workout, id, &command, None)
                        .await;
                    match reply {
                        Ok(status) if status.state == WorkoutState::Ended => {
                            tracing::info!(workout.id = %id, "ended automatically");
                        }
                        Ok(_) => {}
                        Err(err) => {
                            tracing::warn!(workout.id = %id, error = %err, "live sweep failed")
                        }
                    }
                }
            });
            futures_util::future::join_all(sweeps).await;
        }
    })
}
