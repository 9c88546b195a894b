//! `TrainerActor`: decides that a trainer's sessions never overlap.
//!
//! It holds no state between commands: the schedule is read from PostgreSQL for each command,
//! and the actor's strictly sequential handling is what makes check-then-write race-free.

use super::state::TrainerSchedule;
use super::store;
use crate::entity::{CommandError, Entity, Outcome, detached, to_value};
use crate::env::Env;
use crate::error::DomainError;
use crate::schedule::{Slot, check_schedule};
use crate::workout::store as workouts;
use bus_contracts::v1::{ActorKind, TrainerCommand, WorkoutCommand, WorkoutState, WorkoutStatus};
use bus_contracts::{ErrorCode, v1::WireError};
use chrono::Utc;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The entity behind a trainer's actor.
pub struct Trainer {
    id: Uuid,
}

impl Entity for Trainer {
    const KIND: ActorKind = ActorKind::Trainer;
    const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    type Command = TrainerCommand;

    fn load(
        env: Arc<Env>,
        id: Uuid,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<Option<Self>>>>> {
        Box::pin(async move {
            Ok(crate::db::has_role(&env.pool, id, "trainer")
                .await?
                .then_some(Trainer { id }))
        })
    }

    fn handle(&mut self, command: TrainerCommand, env: &Arc<Env>, epoch: u64) -> Outcome<Self> {
        let (env, trainer_id) = (env.clone(), self.id);
        detached(async move {
            match command {
                TrainerCommand::CreateWorkout { workout } => {
                    check_schedule(workout.starts_at, workout.duration_minutes, Utc::now())?;
                    let candidate =
                        Slot::new(workout.id, workout.starts_at, workout.duration_minutes);
                    let slots = store::active_slots(&env.pool, trainer_id)
                        .await
                        .map_err(CommandError::Fatal)?;
                    TrainerSchedule::new(slots).check_free(&candidate)?;
                    store::insert_workout(&env.pool, trainer_id, &workout)
                        .await
                        .map_err(CommandError::Fatal)?;
                    env.outbox.notify_one();
                    to_value(&WorkoutStatus {
                        id: workout.id,
                        state: WorkoutState::Scheduled,
                        starts_at: workout.starts_at,
                        duration_minutes: workout.duration_minutes,
                        capacity: workout.capacity,
                        booked_count: 0,
                        waitlist_count: 0,
                        epoch,
                        present: Some(0),
                    })
                }
                TrainerCommand::RescheduleWorkout {
                    workout_id,
                    starts_at,
                    duration_minutes,
                } => {
                    let current = workouts::summary(&env.pool, workout_id)
                        .await
                        .map_err(CommandError::Fatal)?
                        .ok_or_else(|| WireError::new(ErrorCode::NotFound, "workout not found"))?;
                    if current.trainer_id != trainer_id {
                        return Err(DomainError::NotYourWorkout.into());
                    }
                    let candidate = Slot::new(
                        workout_id,
                        starts_at,
                        duration_minutes.unwrap_or(current.duration_minutes),
                    );
                    let slots = store::active_slots(&env.pool, trainer_id)
                        .await
                        .map_err(CommandError::Fatal)?;
                    TrainerSchedule::new(slots).check_free(&candidate)?;
                    // The workout's own actor decides whether its state allows it.
                    let command = WorkoutCommand::Reschedule {
                        by: trainer_id,
                        starts_at,
                        duration_minutes,
                    };
                    let status: WorkoutStatus = env
                        .client
                        .call(ActorKind::Workout, workout_id, &command, None)
                        .await?;
                    to_value(&status)
                }
            }
        })
    }
}
