//! A trainer's schedule in PostgreSQL.

use crate::db;
use crate::schedule::Slot;
use anyhow::Context;
use bus_contracts::subjects;
use bus_contracts::v1::{DomainEvent, NewWorkout};
use sqlx::PgPool;
use uuid::Uuid;

/// The trainer's scheduled and live workouts.
pub async fn active_slots(pool: &PgPool, trainer_id: Uuid) -> anyhow::Result<Vec<Slot>> {
    let rows = sqlx::query!(
        "SELECT id, starts_at, duration_minutes FROM workouts WHERE trainer_id = $1 AND state IN ('scheduled', 'live')",
        trainer_id
    )
    .fetch_all(pool)
    .await
    .context("failed to load the trainer's schedule")?;
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

/// Insert a new workout with its `scheduled` event. Idempotent on the id: a retried create of
/// the same workout inserts nothing and returns false.
pub async fn insert_workout(
    pool: &PgPool,
    trainer_id: Uuid,
    workout: &NewWorkout,
) -> anyhow::Result<bool> {
    let mut tx = pool.begin().await.context("failed to begin transaction")?;
    let inserted = sqlx::query!(
        "INSERT INTO workouts (id, workout_type, title, description, trainer_id, starts_at, duration_minutes, capacity)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        workout.id,
        workout.workout_type,
        workout.title,
        workout.description,
        trainer_id,
        workout.starts_at,
        i32::try_from(workout.duration_minutes)?,
        i32::try_from(workout.capacity)?,
    )
    .execute(&mut *tx)
    .await
    .context("failed to insert workout")?
    .rows_affected()
        == 1;
    if inserted {
        let event = DomainEvent::Scheduled {
            workout_id: workout.id,
            trainer_id,
            starts_at: workout.starts_at,
            duration_minutes: workout.duration_minutes,
        };
        db::enqueue(&mut tx, subjects::workout_events(workout.id), &event).await?;
    }
    tx.commit().await.context("failed to commit new workout")?;
    Ok(inserted)
}
