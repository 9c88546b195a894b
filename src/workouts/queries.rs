//! Read queries for workouts and rosters.

use super::cursor::{self, Keyset};
use super::views::{RosterEntry, RosterPage, State, Status, TrainerRef, WorkoutPage, WorkoutView};
use anyhow::Context;
use chrono::{DateTime, Utc};
use cultfit_actors::db;
use sqlx::PgPool;
use uuid::Uuid;

/// Filters of the upcoming-workouts listing.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct ListFilter {
    /// Only this type.
    pub workout_type: Option<String>,
    /// Only this trainer's.
    pub trainer_id: Option<Uuid>,
    /// Starting at or after.
    pub from: Option<DateTime<Utc>>,
    /// Starting before.
    pub to: Option<DateTime<Utc>>,
    /// Resume after this position.
    pub after: Option<Keyset>,
    /// Page size.
    pub limit: i64,
}

/// One workout; `None` if unknown.
pub async fn get(pool: &PgPool, id: Uuid) -> anyhow::Result<Option<WorkoutView>> {
    let filter = ListFilter {
        limit: 1,
        ..Default::default()
    };
    Ok(select(pool, &filter, Some(id)).await?.into_iter().next())
}

/// Who teaches a workout; `None` if unknown.
pub async fn trainer_of(pool: &PgPool, id: Uuid) -> anyhow::Result<Option<Uuid>> {
    sqlx::query_scalar!("SELECT trainer_id FROM workouts WHERE id = $1", id)
        .fetch_optional(pool)
        .await
        .context("failed to look up the workout's trainer")
}

/// Whether `trainee`'s wearable may publish energy for `workout`: still booked, and the workout
/// neither over nor called off. Asked by the auth callout for every wearable that connects.
pub async fn wearable_admissible(
    pool: &PgPool,
    workout_id: Uuid,
    trainee_id: Uuid,
) -> anyhow::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (
               SELECT 1 FROM registrations r JOIN workouts w ON w.id = r.workout_id
               WHERE r.workout_id = $1 AND r.trainee_id = $2 AND r.status = 'booked'
                 AND w.state IN ('scheduled', 'live')
           ) AS "admissible!""#,
        workout_id,
        trainee_id
    )
    .fetch_one(pool)
    .await
    .context("failed to check a wearable's registration")
}

/// Upcoming (scheduled or live) workouts, soonest first.
pub async fn list(pool: &PgPool, filter: &ListFilter) -> anyhow::Result<WorkoutPage> {
    let mut items = select(pool, filter, None).await?;
    let next_cursor = if items.len() as i64 > filter.limit {
        items.truncate(filter.limit as usize);
        items.last().map(|last| {
            Keyset {
                starts_at: last.starts_at,
                id: last.id,
            }
            .encode()
        })
    } else {
        None
    };
    Ok(WorkoutPage { items, next_cursor })
}

/// With `only`, that workout in any state; otherwise the listing (one extra row to detect a
/// next page).
async fn select(
    pool: &PgPool,
    filter: &ListFilter,
    only: Option<Uuid>,
) -> anyhow::Result<Vec<WorkoutView>> {
    let rows = sqlx::query!(
        r#"SELECT w.id, w.workout_type, w.title, w.description, w.trainer_id, u.full_name,
                  w.starts_at, w.duration_minutes, w.capacity, w.state::text AS "state!",
                  w.started_at, w.ended_at,
                  (SELECT count(*) FROM registrations r WHERE r.workout_id = w.id AND r.status = 'booked') AS "booked_count!",
                  (SELECT count(*) FROM registrations r WHERE r.workout_id = w.id AND r.status = 'waitlisted') AS "waitlist_count!"
           FROM workouts w JOIN users u ON u.id = w.trainer_id
           WHERE CASE WHEN $1::uuid IS NOT NULL THEN w.id = $1
                      ELSE w.state IN ('scheduled', 'live')
                           AND ($2::text IS NULL OR w.workout_type = $2)
                           AND ($3::uuid IS NULL OR w.trainer_id = $3)
                           AND ($4::timestamptz IS NULL OR w.starts_at >= $4)
                           AND ($5::timestamptz IS NULL OR w.starts_at < $5)
                           AND ($6::timestamptz IS NULL OR (w.starts_at, w.id) > ($6, $7::uuid))
                 END
           ORDER BY w.starts_at, w.id
           LIMIT $8"#,
        only,
        filter.workout_type.as_deref(),
        filter.trainer_id,
        filter.from,
        filter.to,
        filter.after.as_ref().map(|p| p.starts_at),
        filter.after.as_ref().map(|p| p.id),
        filter.limit + 1,
    )
    .fetch_all(pool)
    .await
    .context("failed to list workouts")?;
    rows.into_iter()
        .map(|r| {
            Ok(WorkoutView {
                id: r.id,
                workout_type: r.workout_type,
                title: r.title,
                description: r.description,
                trainer: TrainerRef {
                    id: r.trainer_id,
                    full_name: r.full_name,
                },
                starts_at: r.starts_at,
                duration_minutes: r.duration_minutes,
                capacity: r.capacity,
                state: State::from(db::workout_state(&r.state)?),
                booked_count: r.booked_count,
                waitlist_count: r.waitlist_count,
                started_at: r.started_at,
                ended_at: r.ended_at,
            })
        })
        .collect()
}

/// A page of a workout's roster, from `offset`.
pub async fn roster(
    pool: &PgPool,
    workout_id: Uuid,
    offset: i64,
    limit: i64,
) -> anyhow::Result<RosterPage> {
    let rows = sqlx::query!(
        r#"SELECT r.trainee_id, u.full_name, r.status::text AS "status!", r.waitlist_position, r.registered_at, r.joined_at
           FROM registrations r JOIN users u ON u.id = r.trainee_id
           WHERE r.workout_id = $1 AND r.status <> 'cancelled'
           ORDER BY r.waitlist_position NULLS FIRST, r.registered_at, r.trainee_id
           OFFSET $2 LIMIT $3"#,
        workout_id,
        offset,
        limit + 1
    )
    .fetch_all(pool)
    .await
    .context("failed to load roster")?;
    let more = rows.len() as i64 > limit;
    let items = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| {
            Ok(RosterEntry {
                trainee_id: r.trainee_id,
                full_name: r.full_name,
                status: Status::from(db::registration_status(&r.status)?),
                waitlist_position: r.waitlist_position,
                registered_at: r.registered_at,
                joined_at: r.joined_at,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(RosterPage {
        items,
        next_cursor: more.then(|| cursor::encode_offset(offset + limit)),
    })
}

/// A trainee's registration for a workout: its status and, while waitlisted, the position.
pub async fn registration(
    pool: &PgPool,
    workout_id: Uuid,
    trainee_id: Uuid,
) -> anyhow::Result<Option<(Status, Option<i32>)>> {
    let row = sqlx::query!(
        r#"SELECT status::text AS "status!", waitlist_position
           FROM registrations WHERE workout_id = $1 AND trainee_id = $2"#,
        workout_id,
        trainee_id
    )
    .fetch_optional(pool)
    .await
    .context("failed to read a registration")?;
    row.map(|r| {
        Ok((
            Status::from(db::registration_status(&r.status)?),
            r.waitlist_position,
        ))
    })
    .transpose()
}
