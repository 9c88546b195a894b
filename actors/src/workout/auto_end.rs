//! Ends live workouts whose trainer forgot: `starts_at + duration + grace` has passed.
//!
//! Every worker sweeps PostgreSQL periodically and sends `AutoEnd` to each overdue workout's
//! actor (activating it if needed). The actor decides; a second sweeper's command is a no-op.

use crate::client::ActorClient;
use bus_contracts::v1::{ActorKind, WorkoutCommand, WorkoutStatus};
use chrono::TimeDelta;
use sqlx::PgPool;
use std::time::Duration;

/// How often to sweep.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Sweep until the task is aborted.
pub fn spawn(pool: PgPool, client: ActorClient, grace: TimeDelta) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            tick.tick().await;
            let overdue = sqlx::query_scalar!(
                "SELECT id FROM workouts
                 WHERE state = 'live' AND starts_at + make_interval(mins => duration_minutes, secs => $1) <= now()
                 ORDER BY starts_at LIMIT 100",
                grace.as_seconds_f64()
            )
            .fetch_all(&pool)
            .await;
            let overdue = match overdue {
                Ok(ids) => ids,
                Err(err) => {
                    tracing::warn!(error = %err, "auto-end sweep failed");
                    continue;
                }
            };
            for id in overdue {
                let ended = client
                    .call::<_, WorkoutStatus>(
                        ActorKind::Workout,
                        id,
                        &WorkoutCommand::AutoEnd,
                        None,
                    )
                    .await;
                match ended {
                    Ok(status) => {
                        tracing::info!(workout.id = %id, state = status.state.as_str(), "auto-end sent")
                    }
                    Err(err) => tracing::warn!(workout.id = %id, error = %err, "auto-end failed"),
                }
            }
        }
    })
}
