//! The reads the live routes need from PostgreSQL: who may follow a workout and where it stands,
//! and everyone's result once it ended (read once per node and shared by its clients).

use super::view::Initial;
use crate::accounts::Role;
use crate::auth::AuthUser;
use crate::error::ApiError;
use anyhow::Context;
use apistos::ApiComponent;
use cultfit_actors::db;
use schemars::JsonSchema;
use serde::Serialize;
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

/// Someone allowed to follow a workout, and where it stood when they came.
#[derive(Clone, Copy, Debug)]
pub struct Admitted {
    /// Where the workout stood.
    pub initial: Initial,
    /// Whether they hold a booked place (trainees may publish energy only then).
    pub booked: bool,
}

impl Admitted {
    /// 409 `invalid_state` unless the workout is live now; `what` names what needs it.
    pub fn require_live(self, what: &str) -> Result<Self, ApiError> {
        if self.initial.state == bus_contracts::v1::WorkoutState::Live {
            return Ok(self);
        }
        Err(ApiError::client(
            bus_contracts::ErrorCode::InvalidState,
            format!("{what} only while the workout is live"),
        ))
    }
}

/// Admits `user` to `workout_id`'s live stream: its trainer, or a trainee with a booked place.
/// 404 for an unknown workout, 403 for anyone else.
pub async fn admit(pool: &PgPool, workout_id: Uuid, user: AuthUser) -> Result<Admitted, ApiError> {
    let row = sqlx::query!(
        r#"SELECT w.state::text AS "state!", w.trainer_id, w.starts_at, w.started_at, w.ended_at,
                  (r.status = 'booked') AS "booked?",
                  (SELECT count(*) FROM registrations p
                    WHERE p.workout_id = w.id AND p.joined_at IS NOT NULL AND p.left_at IS NULL)
                    AS "present!"
           FROM workouts w
           LEFT JOIN registrations r ON r.workout_id = w.id AND r.trainee_id = $2
           WHERE w.id = $1"#,
        workout_id,
        user.id
    )
    .fetch_optional(pool)
    .await
    .context("failed to read the workout for its live stream")?
    .ok_or_else(|| ApiError::not_found("workout"))?;
    let booked = row.booked.unwrap_or(false);
    let allowed = match user.role {
        Role::Trainer => row.trainer_id == user.id,
        Role::Trainee => booked,
    };
    if !allowed {
        return Err(ApiError::forbidden(
            "only the workout's trainer and its booked trainees may follow it",
        ));
    }
    Ok(Admitted {
        initial: Initial {
            state: db::workout_state(&row.state)?,
            starts_at: row.starts_at,
            started_at: row.started_at,
            ended_at: row.ended_at,
            present: u32::try_from(row.present).unwrap_or(u32::MAX),
        },
        booked,
    })
}

/// A participant's result as the `ended` event carries it (the full one, with curves, is at
/// `GET /workouts/{id}/results/me`).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema, ApiComponent)]
pub struct EndedResult {
    /// Final place (1 is best).
    pub rank: i32,
    /// How many were ranked.
    pub participants: i64,
    /// Energy points.
    pub energy: i64,
    /// Estimated kcal.
    pub calories: f32,
    /// Seconds with effort.
    pub active_seconds: i32,
}

/// Everyone's result in an ended workout, by trainee.
pub async fn results(
    pool: &PgPool,
    workout_id: Uuid,
) -> anyhow::Result<HashMap<Uuid, EndedResult>> {
    let rows = sqlx::query!(
        "SELECT trainee_id, rank, energy, calories, active_seconds,
                count(*) OVER () AS participants
         FROM results WHERE workout_id = $1",
        workout_id
    )
    .fetch_all(pool)
    .await
    .context("failed to read results")?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let result = EndedResult {
                rank: r.rank,
                participants: r.participants.unwrap_or_default(),
                energy: r.energy,
                calories: r.calories,
                active_seconds: r.active_seconds,
            };
            (r.trainee_id, result)
        })
        .collect())
}
