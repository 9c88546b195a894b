//! A workout's persistence: load it whole, and write the events a command produced.
//!
//! Every write is one transaction that first bumps `workouts.version` from the version the actor
//! loaded. If another writer got there first (a stale owner after failover), the bump matches no
//! row and the whole write is refused: the actor restarts and reloads.

use super::state::{Event, Presence, Workout, WorkoutSnapshot};
use crate::db;
use crate::live::calories::{Body, Sex};
use crate::live::curve;
use crate::live::summary::ParticipantResult;
use anyhow::{Context, anyhow};
use bus_contracts::subjects;
use bus_contracts::v1::{DomainEvent, RegistrationStatus};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A workout as loaded, with the version to guard the next write.
pub struct Loaded {
    /// The state machine.
    pub workout: Workout,
    /// When it went live, if it has.
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `workouts.version` at load time.
    pub version: i64,
}

/// Load a workout and its active roster; `None` if it does not exist.
pub async fn load(pool: &PgPool, id: Uuid) -> anyhow::Result<Option<Loaded>> {
    let Some(row) = sqlx::query!(
        r#"SELECT trainer_id, starts_at, duration_minutes, capacity, state::text AS "state!", version, started_at
           FROM workouts WHERE id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await
    .context("failed to load workout")?
    else {
        return Ok(None);
    };
    let registrations = sqlx::query!(
        r#"SELECT trainee_id, status::text AS "status!", joined_at, left_at
           FROM registrations
           WHERE workout_id = $1 AND status <> 'cancelled'
           ORDER BY waitlist_position NULLS FIRST, registered_at, trainee_id"#,
        id
    )
    .fetch_all(pool)
    .await
    .context("failed to load registrations")?;

    let mut snapshot = WorkoutSnapshot {
        id,
        trainer_id: row.trainer_id,
        starts_at: row.starts_at,
        duration_minutes: u32::try_from(row.duration_minutes)?,
        capacity: u32::try_from(row.capacity)?,
        state: db::workout_state(&row.state)?,
        booked: Vec::new(),
        waitlist: Vec::new(),
        present: Vec::new(),
    };
    for registration in registrations {
        match db::registration_status(&registration.status)? {
            RegistrationStatus::Booked => snapshot.booked.push(registration.trainee_id),
            RegistrationStatus::Waitlisted => snapshot.waitlist.push(registration.trainee_id),
            RegistrationStatus::Cancelled => {}
        }
        if let Some(joined_at) = registration.joined_at {
            snapshot.present.push((
                registration.trainee_id,
                Presence {
                    joined_at,
                    left_at: registration.left_at,
                },
            ));
        }
    }
    Ok(Some(Loaded {
        workout: Workout::restore(snapshot),
        started_at: row.started_at,
        version: row.version,
    }))
}

/// Write `events` atomically, guarded by `version`; returns the new version.
///
/// Presence changes not yet written (see `save_presence`) go into the same transaction, so a state
/// change (say, the end of the session) is never committed ahead of the joins that preceded it.
pub async fn persist(
    pool: &PgPool,
    id: Uuid,
    version: i64,
    events: &[Event],
    presence: &[(Uuid, Presence)],
    results: &[ParticipantResult],
) -> anyhow::Result<i64> {
    let mut tx = pool.begin().await.context("failed to begin transaction")?;
    let next = sqlx::query_scalar!(
        "UPDATE workouts SET version = version + 1, updated_at = now() WHERE id = $1 AND version = $2 RETURNING version",
        id,
        version
    )
    .fetch_optional(&mut *tx)
    .await
    .context("failed to bump workout version")?
    .ok_or_else(|| anyhow!("workout {id} was written by someone else (version {version} is stale)"))?;
    if !presence.is_empty() {
        write_presence(&mut tx, id, presence).await?;
    }
    for event in events {
        write(&mut tx, id, event).await?;
    }
    if !results.is_empty() {
        write_results(&mut tx, id, results).await?;
    }
    tx.commit()
        .await
        .context("failed to commit workout events")?;
    Ok(next)
}

async fn write(tx: &mut PgConnection, id: Uuid, event: &Event) -> anyhow::Result<()> {
    let events = subjects::workout_events(id);
    match event {
        Event::Rescheduled {
            starts_at,
            duration_minutes,
        } => {
            let minutes = i32::try_from(*duration_minutes)?;
            sqlx::query!(
                "UPDATE workouts SET starts_at = $2, duration_minutes = $3 WHERE id = $1",
                id,
                starts_at,
                minutes
            )
            .execute(&mut *tx)
            .await
            .context("failed to reschedule")?;
            let event = DomainEvent::Rescheduled {
                workout_id: id,
                starts_at: *starts_at,
                duration_minutes: *duration_minutes,
            };
            db::enqueue(tx, events, &event).await
        }
        Event::Cancelled { reason, at } => {
            sqlx::query!(
                "UPDATE workouts SET state = 'cancelled', cancelled_at = $2, cancel_reason = $3 WHERE id = $1",
                id,
                at,
                reason.as_deref()
            )
            .execute(&mut *tx)
            .await
            .context("failed to cancel workout")?;
            sqlx::query!(
                "UPDATE registrations SET status = 'cancelled', waitlist_position = NULL, cancelled_at = $2, updated_at = now()
                 WHERE workout_id = $1 AND status <> 'cancelled'",
                id,
                at
            )
            .execute(&mut *tx)
            .await
            .context("failed to release registrations")?;
            db::enqueue(
                tx,
                events,
                &DomainEvent::Cancelled {
                    workout_id: id,
                    reason: reason.clone(),
                },
            )
            .await
        }
        Event::Started { at } => {
            sqlx::query!(
                "UPDATE workouts SET state = 'live', started_at = $2 WHERE id = $1",
                id,
                at
            )
            .execute(&mut *tx)
            .await
            .context("failed to start workout")?;
            db::enqueue(
                tx,
                events,
                &DomainEvent::Started {
                    workout_id: id,
                    at: *at,
                },
            )
            .await
        }
        Event::Ended { at, automatic } => {
            sqlx::query!(
                "UPDATE workouts SET state = 'ended', ended_at = $2 WHERE id = $1",
                id,
                at
            )
            .execute(&mut *tx)
            .await
            .context("failed to end workout")?;
            db::enqueue(
                tx,
                events,
                &DomainEvent::Ended {
                    workout_id: id,
                    at: *at,
                    automatic: *automatic,
                },
            )
            .await
        }
        Event::Booked { trainee } => {
            register(tx, id, *trainee, RegistrationStatus::Booked, None).await?;
            db::enqueue(
                tx,
                events,
                &DomainEvent::Booked {
                    workout_id: id,
                    trainee_id: *trainee,
                },
            )
            .await
        }
        Event::Waitlisted { trainee, position } => {
            register(
                tx,
                id,
                *trainee,
                RegistrationStatus::Waitlisted,
                Some(i32::try_from(*position)?),
            )
            .await
        }
        Event::BookingCancelled { trainee } => {
            sqlx::query!(
                "UPDATE registrations SET status = 'cancelled', cancelled_at = now(), updated_at = now()
                 WHERE workout_id = $1 AND trainee_id = $2",
                id,
                trainee
            )
            .execute(&mut *tx)
            .await
            .context("failed to cancel booking")?;
            Ok(())
        }
        Event::LeftWaitlist { trainee } => {
            close_waitlist_gap(tx, id, *trainee).await?;
            sqlx::query!(
                "UPDATE registrations SET status = 'cancelled', waitlist_position = NULL, cancelled_at = now(), updated_at = now()
                 WHERE workout_id = $1 AND trainee_id = $2",
                id,
                trainee
            )
            .execute(&mut *tx)
            .await
            .context("failed to leave waitlist")?;
            Ok(())
        }
        Event::Promoted { trainee } => {
            close_waitlist_gap(tx, id, *trainee).await?;
            sqlx::query!(
                "UPDATE registrations SET status = 'booked', waitlist_position = NULL, updated_at = now()
                 WHERE workout_id = $1 AND trainee_id = $2",
                id,
                trainee
            )
            .execute(&mut *tx)
            .await
            .context("failed to promote from waitlist")?;
            db::enqueue(
                tx,
                events,
                &DomainEvent::Promoted {
                    workout_id: id,
                    trainee_id: *trainee,
                },
            )
            .await
        }
        Event::Joined { trainee, at, .. } => {
            sqlx::query!(
                "UPDATE registrations SET joined_at = $3, left_at = NULL, updated_at = now() WHERE workout_id = $1 AND trainee_id = $2",
                id,
                trainee,
                at
            )
            .execute(&mut *tx)
            .await
            .context("failed to record join")?;
            Ok(())
        }
        Event::Left { trainee, at } => {
            sqlx::query!(
                "UPDATE registrations SET left_at = $3, updated_at = now() WHERE workout_id = $1 AND trainee_id = $2",
                id,
                trainee,
                at
            )
            .execute(&mut *tx)
            .await
            .context("failed to record leave")?;
            Ok(())
        }
    }
}

/// Insert or re-activate a registration (a trainee may book again after cancelling).
async fn register(
    tx: &mut PgConnection,
    workout_id: Uuid,
    trainee_id: Uuid,
    status: RegistrationStatus,
    waitlist_position: Option<i32>,
) -> anyhow::Result<()> {
    sqlx::query!(
        "INSERT INTO registrations (workout_id, trainee_id, status, waitlist_position)
         VALUES ($1, $2, CAST($3::text AS registration_status), $4)
         ON CONFLICT (workout_id, trainee_id) DO UPDATE SET
             status = EXCLUDED.status, waitlist_position = EXCLUDED.waitlist_position,
             registered_at = now(), cancelled_at = NULL, joined_at = NULL, left_at = NULL, updated_at = now()",
        workout_id,
        trainee_id,
        db::registration_label(status),
        waitlist_position
    )
    .execute(&mut *tx)
    .await
    .context("failed to insert registration")?;
    Ok(())
}

/// Everyone queued behind `trainee` moves up one place.
async fn close_waitlist_gap(
    tx: &mut PgConnection,
    workout_id: Uuid,
    trainee: Uuid,
) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE registrations SET waitlist_position = waitlist_position - 1, updated_at = now()
         WHERE workout_id = $1 AND status = 'waitlisted'
           AND waitlist_position > (SELECT waitlist_position FROM registrations WHERE workout_id = $1 AND trainee_id = $2)",
        workout_id,
        trainee
    )
    .execute(&mut *tx)
    .await
    .context("failed to move the waitlist up")?;
    Ok(())
}

/// Write trainees' presence (join and leave times) in one statement.
pub async fn save_presence(
    pool: &PgPool,
    workout_id: Uuid,
    changes: &[(Uuid, Presence)],
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await.context("failed to get a connection")?;
    write_presence(&mut conn, workout_id, changes).await
}

async fn write_presence(
    db: &mut PgConnection,
    workout_id: Uuid,
    changes: &[(Uuid, Presence)],
) -> anyhow::Result<()> {
    let trainees: Vec<Uuid> = changes.iter().map(|(t, _)| *t).collect();
    let joined: Vec<_> = changes.iter().map(|(_, p)| p.joined_at).collect();
    let left: Vec<_> = changes.iter().map(|(_, p)| p.left_at).collect();
    sqlx::query!(
        "UPDATE registrations r SET joined_at = c.joined_at, left_at = c.left_at, updated_at = now()
         FROM unnest($2::uuid[], $3::timestamptz[], $4::timestamptz[]) AS c(trainee_id, joined_at, left_at)
         WHERE r.workout_id = $1 AND r.trainee_id = c.trainee_id",
        workout_id,
        &trainees,
        &joined,
        &left as &[Option<chrono::DateTime<chrono::Utc>>],
    )
    .execute(&mut *db)
    .await
    .context("failed to save presence")?;
    Ok(())
}

/// Store a session's results in one statement. Idempotent: writing the same results again changes
/// nothing, so a retried end (after a crash between compute and commit) is harmless.
async fn write_results(
    tx: &mut PgConnection,
    workout_id: Uuid,
    results: &[ParticipantResult],
) -> anyhow::Result<()> {
    let users: Vec<Uuid> = results.iter().map(|r| r.user).collect();
    let ranks: Vec<i32> = results
        .iter()
        .map(|r| i32::try_from(r.rank).unwrap_or(i32::MAX))
        .collect();
    let energy: Vec<i64> = results.iter().map(|r| r.energy).collect();
    let calories: Vec<f32> = results.iter().map(|r| r.calories as f32).collect();
    let active: Vec<i32> = results
        .iter()
        .map(|r| i32::try_from(r.active_seconds).unwrap_or(i32::MAX))
        .collect();
    // Arrays of arrays cannot be UNNESTed into rows, so the per-minute ratings travel as one flat
    // array that each row slices (its 1-based bounds beside it): no text to parse per element.
    // The per-second curve goes packed, as it is stored.
    let mut per_minute: Vec<f32> = Vec::new();
    let mut minutes_from: Vec<i32> = Vec::with_capacity(results.len());
    let mut minutes_to: Vec<i32> = Vec::with_capacity(results.len());
    for r in results {
        minutes_from.push(i32::try_from(per_minute.len() + 1).unwrap_or(i32::MAX));
        per_minute.extend_from_slice(&r.per_minute_rating);
        minutes_to.push(i32::try_from(per_minute.len()).unwrap_or(i32::MAX));
    }
    let curves: Vec<Vec<u8>> = results
        .iter()
        .map(|r| curve::pack(&r.energy_curve))
        .collect();
    let bodies: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "method": r.method,
                "weight_kg": r.body.weight_kg,
                "age_years": r.body.age_years,
                "sex": r.body.sex,
            })
        })
        .collect();
    sqlx::query!(
        "INSERT INTO results (workout_id, trainee_id, rank, energy, calories, active_seconds,
                              per_minute_rating, energy_curve_packed, body_metrics)
         SELECT $1, u.trainee_id, u.rank, u.energy, u.calories, u.active_seconds,
                ($10::real[])[u.minutes_from:u.minutes_to], u.curve, u.body
         FROM unnest($2::uuid[], $3::int[], $4::bigint[], $5::real[], $6::int[], $7::int[], $8::int[], $9::bytea[], $11::jsonb[])
              AS u(trainee_id, rank, energy, calories, active_seconds, minutes_from, minutes_to, curve, body)
         ON CONFLICT (workout_id, trainee_id) DO UPDATE SET
             rank = EXCLUDED.rank, energy = EXCLUDED.energy, calories = EXCLUDED.calories,
             active_seconds = EXCLUDED.active_seconds, per_minute_rating = EXCLUDED.per_minute_rating,
             energy_curve = '{}', energy_curve_packed = EXCLUDED.energy_curve_packed,
             body_metrics = EXCLUDED.body_metrics",
        workout_id,
        &users,
        &ranks,
        &energy,
        &calories,
        &active,
        &minutes_from,
        &minutes_to,
        &curves,
        &per_minute,
        &bodies,
    )
    .execute(&mut *tx)
    .await
    .context("failed to write results")?;
    Ok(())
}

/// The body metrics the calorie formulas need, for these trainees (unknown ones are absent).
pub async fn bodies(
    pool: &PgPool,
    trainees: &[Uuid],
) -> anyhow::Result<std::collections::HashMap<Uuid, Body>> {
    let rows = sqlx::query!(
        r#"SELECT id, weight_kg, birth_year, sex::text AS "sex?" FROM users WHERE id = ANY($1)"#,
        trainees
    )
    .fetch_all(pool)
    .await
    .context("failed to read body metrics")?;
    let this_year = chrono::Datelike::year(&chrono::Utc::now());
    Ok(rows
        .into_iter()
        .map(|r| {
            let body = Body {
                weight_kg: r.weight_kg,
                age_years: r
                    .birth_year
                    .and_then(|year| u32::try_from(this_year - year).ok()),
                sex: match r.sex.as_deref() {
                    Some("female") => Some(Sex::Female),
                    Some("male") => Some(Sex::Male),
                    _ => None,
                },
            };
            (r.id, body)
        })
        .collect())
}

/// Where and whose a workout is, for other actors' checks.
pub struct Summary {
    /// Its time slot.
    pub slot: crate::schedule::Slot,
    /// Its trainer.
    pub trainer_id: Uuid,
    /// Its duration in minutes.
    pub duration_minutes: u32,
}

/// A workout's slot and trainer; `None` if it does not exist.
pub async fn summary(pool: &PgPool, id: Uuid) -> anyhow::Result<Option<Summary>> {
    let row = sqlx::query!(
        "SELECT trainer_id, starts_at, duration_minutes FROM workouts WHERE id = $1",
        id
    )
    .fetch_optional(pool)
    .await
    .context("failed to load workout summary")?;
    row.map(|r| {
        let duration_minutes = u32::try_from(r.duration_minutes)?;
        Ok(Summary {
            slot: crate::schedule::Slot::new(id, r.starts_at, duration_minutes),
            trainer_id: r.trainer_id,
            duration_minutes,
        })
    })
    .transpose()
}

/// How these trainees appear on a live leaderboard: their name, or `None` for those who hide.
pub async fn display_names(
    pool: &PgPool,
    trainees: &[Uuid],
) -> anyhow::Result<Vec<(Uuid, Option<String>)>> {
    let rows = sqlx::query!(
        "SELECT id, full_name, hide_from_leaderboard FROM users WHERE id = ANY($1)",
        trainees
    )
    .fetch_all(pool)
    .await
    .context("failed to read display names")?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, (!r.hide_from_leaderboard).then_some(r.full_name)))
        .collect())
}
