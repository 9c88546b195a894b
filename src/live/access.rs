//! The reads the live routes need from PostgreSQL: who may follow a workout and where it stands
//! (its [`Gate`], read once per node and second however many open at once), and everyone's
//! result once it ended (read once per node and shared by its clients).

use super::view::Initial;
use crate::accounts::Role;
use crate::auth::AuthUser;
use crate::error::ApiError;
use anyhow::Context;
use apistos::ApiComponent;
use cultfit_actors::db;
use moka::future::Cache;
use schemars::JsonSchema;
use serde::Serialize;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
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

/// How long a node trusts its read of a workout's gate. A class starting is a herd of stream
/// opens (10 000 apps in a few seconds): each would read the workout, its roster and its waiting
/// room; within this window they share one read instead, so the pool is not exhausted.
pub const GATE_TTL: Duration = Duration::from_secs(1);

/// Counter: reads of a workout's [`Gate`] from PostgreSQL (one per workout per second at most
/// while streams open, however many open).
pub const GATE_READS: &str = "cultfit_live_gate_reads_total";

/// What admitting anyone to a workout's live routes reads: the workout and who holds a place.
#[derive(Debug)]
pub struct Gate {
    read_at: Instant,
    trainer_id: Uuid,
    initial: Initial,
    booked: HashSet<Uuid>,
}

/// Each workout's [`Gate`], read at most once per [`GATE_TTL`] per node however many callers
/// ask at once (concurrent misses wait for one read); `None` for an unknown workout.
#[derive(Clone)]
pub struct Gates {
    cache: Cache<Uuid, Option<Arc<Gate>>>,
    pool: PgPool,
}

impl Gates {
    /// Gates read from `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(GATE_TTL)
                .build(),
            pool,
        }
    }

    /// Admits `user` to `workout_id`'s live routes: its trainer, or a trainee with a booked
    /// place. 404 for an unknown workout, 403 for anyone else. Reads may be up to [`GATE_TTL`]
    /// old, except that someone who booked since is let in (their place is read on its own).
    pub async fn admit(&self, workout_id: Uuid, user: AuthUser) -> Result<Admitted, ApiError> {
        let gate = self.gate(workout_id).await?;
        self.let_in(&gate, workout_id, user).await
    }

    /// [`Gates::admit`] with a workout read no earlier than `after`. A stream's channel knows
    /// every transition since it subscribed; its opening state must not be older, or a start,
    /// end or cancellation in between would reach the client from neither.
    pub async fn admit_read_after(
        &self,
        workout_id: Uuid,
        user: AuthUser,
        after: Instant,
    ) -> Result<Admitted, ApiError> {
        let mut gate = self.gate(workout_id).await?;
        if gate.read_at < after {
            self.cache.invalidate(&workout_id).await;
            gate = self.gate(workout_id).await?;
        }
        self.let_in(&gate, workout_id, user).await
    }

    async fn gate(&self, workout_id: Uuid) -> Result<Arc<Gate>, ApiError> {
        self.cache
            .try_get_with(workout_id, read_gate(&self.pool, workout_id))
            .await?
            .ok_or_else(|| ApiError::not_found("workout"))
    }

    async fn let_in(
        &self,
        gate: &Gate,
        workout_id: Uuid,
        user: AuthUser,
    ) -> Result<Admitted, ApiError> {
        let booked = match user.role {
            Role::Trainer => false,
            Role::Trainee if gate.booked.contains(&user.id) => true,
            Role::Trainee => holds_place(&self.pool, workout_id, user.id).await?,
        };
        let allowed = match user.role {
            Role::Trainer => gate.trainer_id == user.id,
            Role::Trainee => booked,
        };
        if !allowed {
            return Err(ApiError::forbidden(
                "only the workout's trainer and its booked trainees may follow it",
            ));
        }
        Ok(Admitted {
            initial: gate.initial,
            booked,
        })
    }

    /// [`Gates::admit`] for what needs the workout live now (energy, boards): a read from before
    /// the start is not trusted, so a workout seen not live is read again.
    pub async fn admit_live(
        &self,
        workout_id: Uuid,
        user: AuthUser,
        what: &str,
    ) -> Result<Admitted, ApiError> {
        let admitted = self.admit(workout_id, user).await?;
        if admitted.initial.state == bus_contracts::v1::WorkoutState::Live {
            return Ok(admitted);
        }
        self.admit_read_after(workout_id, user, Instant::now())
            .await?
            .require_live(what)
    }
}

async fn read_gate(pool: &PgPool, workout_id: Uuid) -> anyhow::Result<Option<Arc<Gate>>> {
    let read_at = Instant::now(); // everything committed before this is in the read
    metrics::counter!(GATE_READS).increment(1);
    let Some(row) = sqlx::query!(
        r#"SELECT w.state::text AS "state!", w.trainer_id, w.starts_at, w.started_at, w.ended_at,
                  (SELECT count(*) FROM registrations p
                    WHERE p.workout_id = w.id AND p.joined_at IS NOT NULL AND p.left_at IS NULL)
                    AS "present!"
           FROM workouts w WHERE w.id = $1"#,
        workout_id
    )
    .fetch_optional(pool)
    .await
    .context("failed to read the workout for its live routes")?
    else {
        return Ok(None);
    };
    let booked = sqlx::query_scalar!(
        "SELECT trainee_id FROM registrations WHERE workout_id = $1 AND status = 'booked'",
        workout_id
    )
    .fetch_all(pool)
    .await
    .context("failed to read the workout's roster")?;
    Ok(Some(Arc::new(Gate {
        read_at,
        trainer_id: row.trainer_id,
        initial: Initial {
            state: db::workout_state(&row.state)?,
            starts_at: row.starts_at,
            started_at: row.started_at,
            ended_at: row.ended_at,
            present: u32::try_from(row.present).unwrap_or(u32::MAX),
        },
        booked: booked.into_iter().collect(),
    })))
}

/// Whether `trainee` holds a booked place now (for someone the gate's read predates).
async fn holds_place(pool: &PgPool, workout_id: Uuid, trainee: Uuid) -> anyhow::Result<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT status = 'booked' AS "booked!" FROM registrations
           WHERE workout_id = $1 AND trainee_id = $2"#,
        workout_id,
        trainee
    )
    .fetch_optional(pool)
    .await
    .context("failed to read a registration")?
    .unwrap_or(false))
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
