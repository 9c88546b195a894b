//! `TraineeActor`: decides that a trainee's bookings never overlap and that they are in at most
//! one live session at once, then passes the command on to the workout's actor.
//!
//! Like the trainer's, it reads what it needs from PostgreSQL per command; sequential handling
//! per trainee makes check-then-book race-free.

use super::state::TraineeState;
use super::store;
use crate::entity::{CommandError, Entity, Outcome, detached, to_value};
use crate::env::Env;
use crate::workout::store as workouts;
use bus_contracts::ErrorCode;
use bus_contracts::v1::{
    ActorKind, Booking, Joined, TraineeCommand, WireError, WorkoutCommand, WorkoutStatus,
};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The entity behind a trainee's actor.
pub struct Trainee {
    id: Uuid,
}

impl Entity for Trainee {
    const KIND: ActorKind = ActorKind::Trainee;
    const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    type Command = TraineeCommand;

    fn load(
        env: Arc<Env>,
        id: Uuid,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<Option<Self>>>>> {
        Box::pin(async move {
            Ok(crate::db::has_role(&env.pool, id, "trainee")
                .await?
                .then_some(Trainee { id }))
        })
    }

    fn handle(&mut self, command: TraineeCommand, env: &Arc<Env>, _epoch: u64) -> Outcome<Self> {
        let (env, trainee_id) = (env.clone(), self.id);
        detached(async move {
            match command {
                TraineeCommand::Book { workout_id } => {
                    let target = workouts::summary(&env.pool, workout_id)
                        .await
                        .map_err(CommandError::Fatal)?
                        .ok_or_else(|| WireError::new(ErrorCode::NotFound, "workout not found"))?;
                    let bookings = store::active_bookings(&env.pool, trainee_id)
                        .await
                        .map_err(CommandError::Fatal)?;
                    TraineeState::new(bookings, None).check_can_book(&target.slot)?;
                    let booking: Booking = env
                        .client
                        .call(
                            ActorKind::Workout,
                            workout_id,
                            &WorkoutCommand::Book { trainee_id },
                            None,
                        )
                        .await?;
                    to_value(&booking)
                }
                TraineeCommand::Join { workout_id } => {
                    let live_in = store::live_session(&env.pool, trainee_id)
                        .await
                        .map_err(CommandError::Fatal)?;
                    TraineeState::new(Vec::new(), live_in).check_can_join(workout_id)?;
                    let joined: Joined = env
                        .client
                        .call(
                            ActorKind::Workout,
                            workout_id,
                            &WorkoutCommand::Join { trainee_id },
                            None,
                        )
                        .await?;
                    to_value(&joined)
                }
                TraineeCommand::Leave { workout_id } => {
                    let status: WorkoutStatus = env
                        .client
                        .call(
                            ActorKind::Workout,
                            workout_id,
                            &WorkoutCommand::Leave { trainee_id },
                            None,
                        )
                        .await?;
                    to_value(&status)
                }
            }
        })
    }
}
