//! `WorkoutActor`: the single writer of one workout.
//!
//! Each command is decided by the pure state machine; the resulting events are written in one
//! guarded transaction (with their domain events in the outbox) and only then applied in memory,
//! so memory never runs ahead of PostgreSQL.
//!
//! The exception is presence (join and leave): thousands of trainees join within seconds, and one
//! transaction each through a single writer cannot keep up. Presence is applied at once and
//! written behind in batches every [`crate::entity::FLUSH_INTERVAL`]. It is soft state: a crash
//! loses at most that interval of join times, and a trainee who reconnects simply joins again.
//! The same flush tells the waiting room how many are in it.
//!
//! While the workout is live, its [`LiveSession`](super::live::LiveSession) runs beside the
//! actor (started on activation or at the start); at the end the actor takes its final board and
//! stores everyone's results with the end. Lifecycle changes are announced on the live subject
//! once written.

use super::live::LiveHandle;
use super::state::{Command, Event, Presence, Workout};
use super::store;
use crate::entity::{CommandError, Entity, EntityActor, Outcome, detached, ready, to_value};
use crate::env::Env;
use crate::live::summary::summarize;
use crate::placement::lease::Fence;
use actix::ActorFutureExt as _;
use bus_contracts::ErrorCode;
use bus_contracts::subjects;
use bus_contracts::v1::{
    ActorKind, Booking, JoinState, Joined, LiveMessage, WireError, WorkoutCommand, WorkoutState,
    WorkoutStatus, live_codec,
};
use chrono::DateTime;
use chrono::Utc;
use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The entity behind a workout's actor.
pub struct WorkoutEntity {
    workout: Workout,
    version: i64,
    /// Presence changed since the last flush.
    unsaved_presence: HashSet<Uuid>,
    /// When it went live.
    started_at: Option<DateTime<Utc>>,
    /// The live session, while live.
    live: Option<LiveHandle>,
    /// The waiting room changed since it was last told.
    waiting_changed: bool,
    /// This activation's lease epoch, stamped on live messages.
    epoch: u64,
    /// This activation's lease, as the live session checks it before each frame.
    fence: Option<Fence>,
}

impl Entity for WorkoutEntity {
    const KIND: ActorKind = ActorKind::Workout;
    const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
    type Command = WorkoutCommand;

    fn load(
        env: Arc<Env>,
        id: Uuid,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<Option<Self>>>>> {
        Box::pin(async move {
            let loaded = store::load(&env.pool, id).await?;
            Ok(loaded.map(|l| WorkoutEntity {
                workout: l.workout,
                version: l.version,
                unsaved_presence: HashSet::new(),
                started_at: l.started_at,
                live: None,
                waiting_changed: false,
                epoch: 0,
                fence: None,
            }))
        })
    }

    fn handle(&mut self, command: WorkoutCommand, env: &Arc<Env>, epoch: u64) -> Outcome<Self> {
        if let WorkoutCommand::Roster { from } = command {
            return self.roster(from);
        }
        let Some(command) = to_domain(command) else {
            return ready(to_value(&status(&self.workout, epoch)));
        };
        let events = match self.workout.decide(&command, Utc::now(), &env.rules) {
            Ok(events) => events,
            Err(err) => return ready(Err(err.into())),
        };
        if events
            .iter()
            .all(|e| matches!(e, Event::Joined { .. } | Event::Left { .. }))
        {
            for event in &events {
                self.workout.apply(event);
                if let Event::Joined { trainee, .. } | Event::Left { trainee, .. } = event {
                    self.unsaved_presence.insert(*trainee);
                }
                if let (Event::Joined { trainee, .. }, Some(live)) = (event, &self.live) {
                    live.add(*trainee);
                }
            }
            self.waiting_changed = self.workout.state() == WorkoutState::Scheduled;
            return ready(reply(&command, &self.workout, epoch));
        }
        let (pool, id, version, outbox) = (
            env.pool.clone(),
            self.workout.id(),
            self.version,
            env.outbox.clone(),
        );
        let presence = self.take_unsaved_presence();
        // Ending computes everyone's results and stores them with the end, atomically.
        let ending = events.iter().find_map(|e| match e {
            Event::Ended { at, .. } => Some(*at),
            _ => None,
        });
        let finishing = match (ending, &self.live) {
            (Some(at), Some(live)) => Some(live.finish(at)),
            (Some(_), None) => {
                // Unreachable while activation starts the session of a live workout; failing
                // restarts the actor, which starts it (and replays the samples) again.
                return ready(Err(CommandError::Fatal(anyhow::anyhow!(
                    "ending a workout without its live session"
                ))));
            }
            (None, _) => None,
        };
        let env = env.clone();
        let write = async move {
            let board = match finishing {
                Some(finishing) => Some(
                    finishing
                        .await
                        .ok_or_else(|| anyhow::anyhow!("the live session went away"))?,
                ),
                None => None,
            };
            let results = match (ending, board) {
                (Some(ended_at), Some(board)) => {
                    let users: Vec<Uuid> = (0..board.len())
                        .map(|slot| board.user(slot as u32))
                        .collect();
                    let bodies = store::bodies(&pool, &users).await?;
                    summarize(&board, ended_at.timestamp_millis(), &bodies)
                }
                _ => Vec::new(),
            };
            let next = store::persist(&pool, id, version, &events, &presence, &results).await?;
            anyhow::Ok((next, events))
        };
        Box::pin(actix::fut::wrap_future(write).map(
            move |written, actor: &mut EntityActor<Self>, _| {
                let (next, events) = written.map_err(CommandError::Fatal)?;
                let me = actor
                    .entity_mut()
                    .ok_or_else(|| CommandError::Fatal(anyhow::anyhow!("workout state gone")))?;
                for event in &events {
                    me.workout.apply(event);
                    match event {
                        Event::Started { at } => {
                            me.started_at = Some(*at);
                            me.go_live(&env);
                        }
                        Event::Ended { .. } | Event::Cancelled { .. } => me.live = None,
                        _ => {}
                    }
                    if let Some(message) = live_message(event, epoch) {
                        announce(&env, id, &message);
                    }
                }
                me.version = next;
                outbox.notify_one();
                reply(&command, &me.workout, epoch)
            },
        ))
    }

    fn can_passivate(&self) -> bool {
        // A live session keeps its actor (the live path needs it); everything else reloads cheaply.
        self.workout.state() != WorkoutState::Live && self.unsaved_presence.is_empty()
    }

    fn activated(&mut self, env: &Arc<Env>, epoch: u64, fence: Fence) {
        self.epoch = epoch;
        self.fence = Some(fence);
        if self.workout.state() == WorkoutState::Live {
            metrics::counter!(crate::metrics::LIVE_SESSIONS_RESUMED).increment(1);
        }
        self.go_live(env);
    }

    fn flush(
        &mut self,
        env: &Arc<Env>,
    ) -> Option<Pin<Box<dyn Future<Output = anyhow::Result<()>>>>> {
        if std::mem::take(&mut self.waiting_changed) {
            let message = LiveMessage::Waiting {
                epoch: self.epoch,
                participants_waiting: self.workout.present_count(),
                starts_at: self.workout.starts_at(),
            };
            announce(env, self.workout.id(), &message);
        }
        if self.unsaved_presence.is_empty() {
            return None;
        }
        let changes = self.take_unsaved_presence();
        let (pool, id) = (env.pool.clone(), self.workout.id());
        Some(Box::pin(async move {
            store::save_presence(&pool, id, &changes).await
        }))
    }
}

impl WorkoutEntity {
    /// Starts the live session if the workout is live and it is not running yet (after the
    /// start, or on activation: a restart or failover replays the samples).
    fn go_live(&mut self, env: &Arc<Env>) {
        if self.workout.state() != WorkoutState::Live || self.live.is_some() {
            return;
        }
        let Some(fence) = self.fence.clone() else {
            return; // not activated yet: activation goes live
        };
        let Some(started_at) = self.started_at else {
            tracing::error!(workout.id = %self.workout.id(), "live workout without a start time");
            return;
        };
        self.live = Some(LiveHandle::start(
            env.clone(),
            self.workout.id(),
            self.epoch,
            fence,
            started_at,
            self.workout.ever_present(),
        ));
    }

    /// Who holds the live board's slots from `from` on: a `RosterPage`, for readers of the live
    /// subject (frames name slots). Refused while not live, and while the board is not in place.
    fn roster(&self, from: u32) -> Outcome<Self> {
        let Some(live) = &self.live else {
            return ready(Err(CommandError::Rejected(WireError::new(
                ErrorCode::InvalidState,
                "the workout is not live",
            ))));
        };
        let page = live.roster(from);
        detached(async move {
            match page.await {
                Some(page) => to_value(&page),
                None => Err(CommandError::Rejected(WireError::new(
                    ErrorCode::Unavailable,
                    "the live board is not in place yet",
                ))),
            }
        })
    }

    /// Presence changed since the last write, now to be written.
    fn take_unsaved_presence(&mut self) -> Vec<(Uuid, Presence)> {
        let workout = &self.workout;
        self.unsaved_presence
            .drain()
            .filter_map(|trainee| workout.presence(trainee).map(|p| (trainee, p)))
            .collect()
    }
}

/// What the live subject hears about a written event, if anything.
fn live_message(event: &Event, epoch: u64) -> Option<LiveMessage> {
    Some(match event {
        Event::Started { at } => LiveMessage::Started { epoch, at: *at },
        Event::Ended { at, .. } => LiveMessage::Ended { epoch, at: *at },
        Event::Cancelled { reason, .. } => LiveMessage::Cancelled {
            epoch,
            reason: reason.clone(),
        },
        Event::Rescheduled { starts_at, .. } => LiveMessage::Rescheduled {
            epoch,
            starts_at: *starts_at,
        },
        _ => return None,
    })
}

/// Publishes `message` on the workout's live subject, in the background (core NATS: clients that
/// miss it catch up from the state they read when they connect).
fn announce(env: &Env, workout_id: Uuid, message: &LiveMessage) {
    let payload = live_codec::encode(message);
    let nats = env.nats.clone();
    actix::spawn(async move {
        let subject = subjects::workout_live(workout_id);
        if let Err(err) = nats.publish(subject, payload.into()).await {
            tracing::warn!(error = %err, "failed to announce on the live subject");
        }
    });
}

/// The domain command for a wire command; `None` for queries (`Get`).
fn to_domain(command: WorkoutCommand) -> Option<Command> {
    Some(match command {
        WorkoutCommand::Reschedule {
            by,
            starts_at,
            duration_minutes,
        } => Command::Reschedule {
            by,
            starts_at,
            duration_minutes,
        },
        WorkoutCommand::Cancel { by, reason } => Command::Cancel { by, reason },
        WorkoutCommand::Start { by } => Command::Start { by },
        WorkoutCommand::End { by } => Command::End { by },
        WorkoutCommand::AutoEnd => Command::AutoEnd,
        WorkoutCommand::Book { trainee_id } => Command::Book {
            trainee: trainee_id,
        },
        WorkoutCommand::CancelBooking { trainee_id } => Command::CancelBooking {
            trainee: trainee_id,
        },
        WorkoutCommand::Join { trainee_id } => Command::Join {
            trainee: trainee_id,
        },
        WorkoutCommand::Leave { trainee_id } => Command::Leave {
            trainee: trainee_id,
        },
        WorkoutCommand::Get | WorkoutCommand::Roster { .. } => return None,
    })
}

/// What each command answers, read from the state after it was applied.
fn reply(
    command: &Command,
    workout: &Workout,
    epoch: u64,
) -> Result<serde_json::Value, CommandError> {
    match command {
        Command::Book { trainee } => {
            let (status, waitlist_position) = workout.registration(*trainee).ok_or_else(|| {
                CommandError::Fatal(anyhow::anyhow!("booking not in the roster after booking"))
            })?;
            to_value(&Booking {
                status,
                waitlist_position,
            })
        }
        Command::Join { trainee } => to_value(&Joined {
            state: workout.join_state(*trainee).unwrap_or(JoinState::Waiting),
            starts_at: workout.starts_at(),
            duration_minutes: Some(workout.duration_minutes()),
        }),
        _ => to_value(&status(workout, epoch)),
    }
}

fn status(workout: &Workout, epoch: u64) -> WorkoutStatus {
    WorkoutStatus {
        id: workout.id(),
        state: workout.state(),
        starts_at: workout.starts_at(),
        duration_minutes: workout.duration_minutes(),
        capacity: workout.capacity(),
        booked_count: workout.booked_count(),
        waitlist_count: workout.waitlist_count(),
        epoch,
        present: Some(workout.present_count()),
    }
}
