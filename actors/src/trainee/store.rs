//! A trainee's bookings in PostgreSQL.

use crate::schedule::Slot;
use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

/// Slots of the trainee's booked or waitlisted places in workouts still to come or live.
pub async fn active_bookings(pool: &PgPool, trainee_id: Uuid) -> anyhow::Result<Vec<Slot>> {
    let rows = sqlx::query!(
        "SELECT w.id, w.starts_at, w.duration_minutes
         FROM registrations r JOIN workouts w ON w.id = r.workout_id
         WHERE r.trainee_id = $1 AND r.status IN ('booked', 'waitlisted') AND w.state IN ('scheduled', 'live')",
        trainee_id
    )
    .fetch_all(pool)
    .await
    .context("failed to load the trainee's bookings")?;
    rows.into_iter()
        .map(|r| {
            Ok(Slot::new(
                r.id,
                r.starts_at,
                u32::try_from(r.duration_minutes)?,
            ))
        })
        .collect()
}

/// The live workout the trainee is in (joined, not left), if any.
pub async fn live_session(pool: &PgPool, trainee_id: Uuid) -> anyhow::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT w.id FROM registrations r JOIN workouts w ON w.id = r.workout_id
         WHERE r.trainee_id = $1 AND r.status = 'booked' AND r.joined_at IS NOT NULL AND r.left_at IS NULL
           AND w.state = 'live'
         LIMIT 1",
        trainee_id
    )
    .fetch_optional(pool)
    .await
    .context("failed to look up the trainee's live session")
}
