//! The workout state machine: lifecycle, roster, capacity and waitlist.
//!
//! Commands are decided and applied in two steps:
//! - [`Workout::decide`] checks a [`Command`] against the rules and the current state and returns
//!   the [`Event`]s it causes, without changing anything (an empty list means "nothing to do");
//! - [`Workout::apply`] folds one event into the state and never fails: an event is a fact that
//!   was already decided. Applying each event once, in order, reaches the new state.
//!
//! [`Workout::handle`] does both. Time is always passed in (`now`), never read, so every rule is
//! testable without a clock.
//!
//! Invariants, kept by `decide` and relied on by `apply`: at most `capacity` trainees are booked; a
//! waitlist exists only while the workout is full; waitlist positions are exactly `1..=n` in FIFO
//! order; nobody is both booked and waitlisted.

use crate::error::DomainError;
use crate::schedule::{Slot, check_schedule, saturating_add};
use bus_contracts::v1::{JoinState, RegistrationStatus, WorkoutState};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{HashMap, VecDeque};
use uuid::Uuid;

/// Timing rules, configurable so tests and deployments can tune them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// How long before its start time a workout may be started.
    pub start_window: TimeDelta,
    /// How long after its planned end a live workout is ended automatically.
    pub auto_end_grace: TimeDelta,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            start_window: TimeDelta::minutes(15),
            auto_end_grace: TimeDelta::minutes(10),
        }
    }
}

/// A trainee's presence in the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presence {
    /// When they (last) joined.
    pub joined_at: DateTime<Utc>,
    /// When they left, if they have.
    pub left_at: Option<DateTime<Utc>>,
}

impl Presence {
    fn is_here(&self) -> bool {
        self.left_at.is_none()
    }
}

/// Everything needed to rebuild a [`Workout`], as loaded from PostgreSQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkoutSnapshot {
    /// Workout id.
    pub id: Uuid,
    /// The trainer who teaches it.
    pub trainer_id: Uuid,
    /// Planned start.
    pub starts_at: DateTime<Utc>,
    /// Planned duration in minutes.
    pub duration_minutes: u32,
    /// Places.
    pub capacity: u32,
    /// Lifecycle state.
    pub state: WorkoutState,
    /// Booked trainees, in booking order.
    pub booked: Vec<Uuid>,
    /// Waitlisted trainees, in position order (first is position 1).
    pub waitlist: Vec<Uuid>,
    /// Trainees who joined, with when they joined and left.
    pub present: Vec<(Uuid, Presence)>,
}

/// A request to change a workout. `by` is the authenticated caller where it matters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Move the workout (trainer only, while scheduled).
    Reschedule {
        /// Caller.
        by: Uuid,
        /// New start.
        starts_at: DateTime<Utc>,
        /// New duration; `None` keeps the current one.
        duration_minutes: Option<u32>,
    },
    /// Call the workout off (trainer only, while scheduled).
    Cancel {
        /// Caller.
        by: Uuid,
        /// Why, for the trainees.
        reason: Option<String>,
    },
    /// Go live (trainer only, from the start window on).
    Start {
        /// Caller.
        by: Uuid,
    },
    /// End the live session (trainer only).
    End {
        /// Caller.
        by: Uuid,
    },
    /// End the session if it has overrun its grace period; sent by a timer, a no-op otherwise.
    AutoEnd,
    /// Take a place, or a waitlist position if the workout is full.
    Book {
        /// Who books.
        trainee: Uuid,
    },
    /// Give up a place or waitlist position.
    CancelBooking {
        /// Who cancels.
        trainee: Uuid,
    },
    /// Enter the waiting room, or the session if it is live (booked trainees only).
    Join {
        /// Who joins.
        trainee: Uuid,
    },
    /// Leave the waiting room or session.
    Leave {
        /// Who leaves.
        trainee: Uuid,
    },
}

/// Something that happened to a workout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The workout moved.
    Rescheduled {
        /// New start.
        starts_at: DateTime<Utc>,
        /// Duration in effect after the move.
        duration_minutes: u32,
    },
    /// The workout was called off; every registration is released.
    Cancelled {
        /// Why, for the trainees.
        reason: Option<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The workout went live; everyone in the waiting room is now live.
    Started {
        /// When.
        at: DateTime<Utc>,
    },
    /// The workout ended.
    Ended {
        /// When.
        at: DateTime<Utc>,
        /// Ended by the grace-period timer rather than the trainer.
        automatic: bool,
    },
    /// A trainee took a place.
    Booked {
        /// Who.
        trainee: Uuid,
    },
    /// A trainee joined the back of the waitlist.
    Waitlisted {
        /// Who.
        trainee: Uuid,
        /// Their 1-based position.
        position: u32,
    },
    /// A booked trainee gave up their place.
    BookingCancelled {
        /// Who.
        trainee: Uuid,
    },
    /// A waitlisted trainee left the waitlist; those behind move up one position.
    LeftWaitlist {
        /// Who.
        trainee: Uuid,
    },
    /// The first waitlisted trainee got a freed place; the rest move up one position.
    Promoted {
        /// Who.
        trainee: Uuid,
    },
    /// A booked trainee entered the waiting room (`live: false`) or the live session.
    Joined {
        /// Who.
        trainee: Uuid,
        /// When.
        at: DateTime<Utc>,
        /// Whether the workout was live at the time.
        live: bool,
    },
    /// A trainee left the waiting room or session.
    Left {
        /// Who.
        trainee: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
}

/// One workout session, owned by exactly one actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workout {
    id: Uuid,
    trainer_id: Uuid,
    starts_at: DateTime<Utc>,
    duration_minutes: u32,
    capacity: u32,
    state: WorkoutState,
    /// In booking order.
    booked: Vec<Uuid>,
    /// FIFO; position = index + 1.
    waitlist: VecDeque<Uuid>,
    /// Everyone who joined, including those who left since.
    present: HashMap<Uuid, Presence>,
}

impl Workout {
    /// Rebuilds a workout from its stored state. The snapshot is trusted: PostgreSQL only ever
    /// holds what applying this machine's events produced.
    pub fn restore(snapshot: WorkoutSnapshot) -> Self {
        Self {
            id: snapshot.id,
            trainer_id: snapshot.trainer_id,
            starts_at: snapshot.starts_at,
            duration_minutes: snapshot.duration_minutes,
            capacity: snapshot.capacity,
            state: snapshot.state,
            booked: snapshot.booked,
            waitlist: snapshot.waitlist.into(),
            present: snapshot.present.into_iter().collect(),
        }
    }

    /// The events `command` causes at `now`, or the rule it breaks. Changes nothing.
    pub fn decide(
        &self,
        command: &Command,
        now: DateTime<Utc>,
        rules: &Rules,
    ) -> Result<Vec<Event>, DomainError> {
        match command {
            Command::Reschedule {
                by,
                starts_at,
                duration_minutes,
            } => self.decide_reschedule(*by, *starts_at, *duration_minutes, now),
            Command::Cancel { by, reason } => {
                self.check_trainer(*by)?;
                self.check_state("cancel", &[WorkoutState::Scheduled])?;
                Ok(vec![Event::Cancelled {
                    reason: reason.clone(),
                    at: now,
                }])
            }
            Command::Start { by } => self.decide_start(*by, now, rules),
            Command::End { by } => {
                self.check_trainer(*by)?;
                self.check_state("end", &[WorkoutState::Live])?;
                Ok(vec![Event::Ended {
                    at: now,
                    automatic: false,
                }])
            }
            Command::AutoEnd => Ok(self.decide_auto_end(now, rules)),
            Command::Book { trainee } => self.decide_book(*trainee),
            Command::CancelBooking { trainee } => self.decide_cancel_booking(*trainee, now),
            Command::Join { trainee } => self.decide_join(*trainee, now),
            Command::Leave { trainee } => Ok(self.decide_leave(*trainee, now)),
        }
    }

    /// Folds one event into the state. Never fails: events are facts, already decided.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Rescheduled {
                starts_at,
                duration_minutes,
            } => {
                self.starts_at = *starts_at;
                self.duration_minutes = *duration_minutes;
            }
            Event::Cancelled { .. } => {
                self.state = WorkoutState::Cancelled;
                self.booked.clear();
                self.waitlist.clear();
            }
            // Presence is unchanged: `join_state` reads it against the state, so the waiting
            // room becomes live with the workout.
            Event::Started { .. } => self.state = WorkoutState::Live,
            Event::Ended { .. } => self.state = WorkoutState::Ended,
            Event::Booked { trainee } => self.booked.push(*trainee),
            // The position is for the reply; FIFO order alone determines it.
            Event::Waitlisted { trainee, .. } => self.waitlist.push_back(*trainee),
            Event::BookingCancelled { trainee } => self.booked.retain(|t| t != trainee),
            Event::LeftWaitlist { trainee } => self.waitlist.retain(|t| t != trainee),
            Event::Promoted { trainee } => {
                self.waitlist.retain(|t| t != trainee);
                self.booked.push(*trainee);
            }
            Event::Joined { trainee, at, .. } => {
                self.present.insert(
                    *trainee,
                    Presence {
                        joined_at: *at,
                        left_at: None,
                    },
                );
            }
            Event::Left { trainee, at } => {
                if let Some(presence) = self.present.get_mut(trainee) {
                    presence.left_at = Some(*at);
                }
            }
        }
    }

    /// Decides `command` and applies the resulting events; returns them for publishing.
    pub fn handle(
        &mut self,
        command: &Command,
        now: DateTime<Utc>,
        rules: &Rules,
    ) -> Result<Vec<Event>, DomainError> {
        let events = self.decide(command, now, rules)?;
        for event in &events {
            self.apply(event);
        }
        Ok(events)
    }

    /// Workout id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The trainer who teaches it.
    pub fn trainer_id(&self) -> Uuid {
        self.trainer_id
    }

    /// Planned start.
    pub fn starts_at(&self) -> DateTime<Utc> {
        self.starts_at
    }

    /// Planned end.
    pub fn ends_at(&self) -> DateTime<Utc> {
        self.slot().ends_at
    }

    /// Planned duration in minutes.
    pub fn duration_minutes(&self) -> u32 {
        self.duration_minutes
    }

    /// The time the workout occupies, for overlap checks.
    pub fn slot(&self) -> Slot {
        Slot::new(self.id, self.starts_at, self.duration_minutes)
    }

    /// Places.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Lifecycle state.
    pub fn state(&self) -> WorkoutState {
        self.state
    }

    /// Booked trainees.
    pub fn booked_count(&self) -> u32 {
        count(self.booked.len())
    }

    /// Waitlisted trainees.
    pub fn waitlist_count(&self) -> u32 {
        count(self.waitlist.len())
    }

    /// When a live workout is ended automatically: its planned end plus the grace period.
    pub fn auto_end_at(&self, rules: &Rules) -> DateTime<Utc> {
        saturating_add(self.ends_at(), rules.auto_end_grace)
    }

    /// Every trainee who ever joined (including those who left since).
    pub fn ever_present(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.present.keys().copied()
    }

    /// How many trainees are in the session (or its waiting room) now.
    pub fn present_count(&self) -> u32 {
        count(self.present.values().filter(|p| p.is_here()).count())
    }

    /// Where a trainee is in the session (joined, maybe left), if they ever joined.
    pub fn presence(&self, trainee: Uuid) -> Option<Presence> {
        self.present.get(&trainee).copied()
    }

    /// Whether `trainee` holds a place.
    pub fn is_booked(&self, trainee: Uuid) -> bool {
        self.booked.contains(&trainee)
    }

    /// Where `trainee` stands: booked, or waitlisted with a 1-based position; `None` if neither.
    pub fn registration(&self, trainee: Uuid) -> Option<(RegistrationStatus, Option<u32>)> {
        if self.is_booked(trainee) {
            return Some((RegistrationStatus::Booked, None));
        }
        let index = self.waitlist.iter().position(|t| *t == trainee)?;
        Some((RegistrationStatus::Waitlisted, Some(count(index + 1))))
    }

    /// Whether `trainee` is in the waiting room or the live session; `None` if not present, gone,
    /// or the workout is over.
    pub fn join_state(&self, trainee: Uuid) -> Option<JoinState> {
        if !self.present.get(&trainee).is_some_and(Presence::is_here) {
            return None;
        }
        match self.state {
            WorkoutState::Scheduled => Some(JoinState::Waiting),
            WorkoutState::Live => Some(JoinState::Live),
            WorkoutState::Ended | WorkoutState::Cancelled => None,
        }
    }

    fn decide_reschedule(
        &self,
        by: Uuid,
        starts_at: DateTime<Utc>,
        duration_minutes: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, DomainError> {
        self.check_trainer(by)?;
        self.check_state("reschedule", &[WorkoutState::Scheduled])?;
        let duration_minutes = duration_minutes.unwrap_or(self.duration_minutes);
        check_schedule(starts_at, duration_minutes, now)?;
        Ok(vec![Event::Rescheduled {
            starts_at,
            duration_minutes,
        }])
    }

    fn decide_start(
        &self,
        by: Uuid,
        now: DateTime<Utc>,
        rules: &Rules,
    ) -> Result<Vec<Event>, DomainError> {
        self.check_trainer(by)?;
        self.check_state("start", &[WorkoutState::Scheduled])?;
        // Early by up to the window so trainers can warm up; late is always fine.
        let opens_at = saturating_add(self.starts_at, -rules.start_window);
        if now < opens_at {
            return Err(DomainError::TooEarly { opens_at });
        }
        Ok(vec![Event::Started { at: now }])
    }

    fn decide_auto_end(&self, now: DateTime<Utc>, rules: &Rules) -> Vec<Event> {
        // A timer may fire late, twice, or after the trainer ended it: only act when due.
        if self.state == WorkoutState::Live && now >= self.auto_end_at(rules) {
            vec![Event::Ended {
                at: now,
                automatic: true,
            }]
        } else {
            vec![]
        }
    }

    fn decide_book(&self, trainee: Uuid) -> Result<Vec<Event>, DomainError> {
        self.check_state("book", &[WorkoutState::Scheduled, WorkoutState::Live])?;
        if let Some((status, _)) = self.registration(trainee) {
            return Err(DomainError::AlreadyRegistered { status });
        }
        if self.booked_count() < self.capacity {
            Ok(vec![Event::Booked { trainee }])
        } else {
            let position = self.waitlist_count().saturating_add(1);
            Ok(vec![Event::Waitlisted { trainee, position }])
        }
    }

    fn decide_cancel_booking(
        &self,
        trainee: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, DomainError> {
        self.check_state(
            "cancel a booking for",
            &[WorkoutState::Scheduled, WorkoutState::Live],
        )?;
        match self.registration(trainee) {
            Some((RegistrationStatus::Booked, _)) => {
                // Giving up the place while in the session also leaves it.
                let mut events = self.decide_leave(trainee, now);
                events.push(Event::BookingCancelled { trainee });
                // The freed place goes straight to the head of the queue.
                if let Some(&next) = self.waitlist.front() {
                    events.push(Event::Promoted { trainee: next });
                }
                Ok(events)
            }
            Some((RegistrationStatus::Waitlisted, _)) => Ok(vec![Event::LeftWaitlist { trainee }]),
            Some((RegistrationStatus::Cancelled, _)) | None => Err(DomainError::NotRegistered),
        }
    }

    fn decide_join(&self, trainee: Uuid, now: DateTime<Utc>) -> Result<Vec<Event>, DomainError> {
        self.check_state("join", &[WorkoutState::Scheduled, WorkoutState::Live])?;
        if !self.is_booked(trainee) {
            return Err(DomainError::NotBooked);
        }
        // Apps reconnect freely; joining again while present is not a new join.
        if self.join_state(trainee).is_some() {
            return Ok(vec![]);
        }
        Ok(vec![Event::Joined {
            trainee,
            at: now,
            live: self.state == WorkoutState::Live,
        }])
    }

    fn decide_leave(&self, trainee: Uuid, now: DateTime<Utc>) -> Vec<Event> {
        if self.present.get(&trainee).is_some_and(Presence::is_here) {
            vec![Event::Left { trainee, at: now }]
        } else {
            vec![]
        }
    }

    fn check_trainer(&self, by: Uuid) -> Result<(), DomainError> {
        if by == self.trainer_id {
            Ok(())
        } else {
            Err(DomainError::NotYourWorkout)
        }
    }

    fn check_state(
        &self,
        action: &'static str,
        allowed: &[WorkoutState],
    ) -> Result<(), DomainError> {
        if allowed.contains(&self.state) {
            Ok(())
        } else {
            Err(DomainError::InvalidState {
                state: self.state,
                action,
            })
        }
    }
}

/// A roster length as the wire's `u32`; rosters never exceed a `u32` capacity, so this never
/// actually saturates.
fn count(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a broken test setup should fail loudly")]
    use super::*;
    use std::collections::HashSet;

    pub(super) const TRAINER: Uuid = Uuid::from_u128(1);
    pub(super) const STRANGER: Uuid = Uuid::from_u128(2);
    pub(super) const BOOKED: Uuid = Uuid::from_u128(3);

    pub(super) fn trainee(n: u32) -> Uuid {
        Uuid::from_u128(1_000 + u128::from(n))
    }

    /// 2030-01-01 10:00 UTC, the start of every test workout.
    pub(super) fn start() -> DateTime<Utc> {
        DateTime::from_timestamp(1_893_492_000, 0).unwrap()
    }

    pub(super) fn minutes(n: i64) -> TimeDelta {
        TimeDelta::minutes(n)
    }

    /// A 60-minute workout in `state`, with `BOOKED` holding one of `capacity` places.
    pub(super) fn workout(state: WorkoutState, capacity: u32) -> Workout {
        Workout::restore(WorkoutSnapshot {
            id: Uuid::from_u128(100),
            trainer_id: TRAINER,
            starts_at: start(),
            duration_minutes: 60,
            capacity,
            state,
            booked: vec![BOOKED],
            waitlist: vec![],
            present: vec![],
        })
    }

    fn run(
        w: &mut Workout,
        command: Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, DomainError> {
        w.handle(&command, now, &Rules::default())
    }

    fn book(w: &mut Workout, who: Uuid) -> Result<Vec<Event>, DomainError> {
        run(w, Command::Book { trainee: who }, start() - minutes(60))
    }

    fn cancel_booking(w: &mut Workout, who: Uuid) -> Result<Vec<Event>, DomainError> {
        run(
            w,
            Command::CancelBooking { trainee: who },
            start() - minutes(60),
        )
    }

    fn registrations(w: &Workout, who: &[Uuid]) -> Vec<Option<(RegistrationStatus, Option<u32>)>> {
        who.iter().map(|t| w.registration(*t)).collect()
    }

    #[test]
    fn transitions_not_allowed_in_a_state_are_invalid_state() {
        use WorkoutState::{Cancelled, Ended, Live, Scheduled};
        let reschedule = Command::Reschedule {
            by: TRAINER,
            starts_at: start() + minutes(1_440),
            duration_minutes: None,
        };
        let cases = [
            (Cancelled, Command::Start { by: TRAINER }),
            (Live, Command::Start { by: TRAINER }),
            (Ended, Command::Start { by: TRAINER }),
            (Live, reschedule.clone()),
            (Ended, reschedule.clone()),
            (Cancelled, reschedule),
            (Scheduled, Command::End { by: TRAINER }),
            (Ended, Command::End { by: TRAINER }),
            (Cancelled, Command::End { by: TRAINER }),
            (
                Live,
                Command::Cancel {
                    by: TRAINER,
                    reason: None,
                },
            ),
            (
                Ended,
                Command::Cancel {
                    by: TRAINER,
                    reason: None,
                },
            ),
            (
                Cancelled,
                Command::Cancel {
                    by: TRAINER,
                    reason: None,
                },
            ),
            (
                Ended,
                Command::Book {
                    trainee: trainee(1),
                },
            ),
            (
                Cancelled,
                Command::Book {
                    trainee: trainee(1),
                },
            ),
            (Ended, Command::CancelBooking { trainee: BOOKED }),
            (Cancelled, Command::CancelBooking { trainee: BOOKED }),
            (Ended, Command::Join { trainee: BOOKED }),
            (Cancelled, Command::Join { trainee: BOOKED }),
        ];
        for (state, command) in cases {
            let w = workout(state, 10);
            let result = w.decide(&command, start(), &Rules::default());
            assert!(
                matches!(result, Err(DomainError::InvalidState { state: s, .. }) if s == state),
                "{state:?} {command:?}: {result:?}"
            );
        }
    }

    #[test]
    fn only_the_trainer_may_run_the_lifecycle() {
        let cases = [
            Command::Start { by: STRANGER },
            Command::Cancel {
                by: STRANGER,
                reason: None,
            },
            Command::End { by: STRANGER },
            Command::Reschedule {
                by: STRANGER,
                starts_at: start() + minutes(60),
                duration_minutes: None,
            },
        ];
        for command in cases {
            let result =
                workout(WorkoutState::Scheduled, 10).decide(&command, start(), &Rules::default());
            assert_eq!(result, Err(DomainError::NotYourWorkout), "{command:?}");
        }
    }

    #[test]
    fn start_opens_exactly_one_window_before_the_start() {
        let opens_at = start() - minutes(15);
        let cases = [
            (
                opens_at - TimeDelta::seconds(1),
                Err(DomainError::TooEarly { opens_at }),
            ),
            (opens_at, Ok(vec![Event::Started { at: opens_at }])),
            (
                start() + minutes(30),
                Ok(vec![Event::Started {
                    at: start() + minutes(30),
                }]),
            ),
        ];
        for (now, expected) in cases {
            let mut w = workout(WorkoutState::Scheduled, 10);
            assert_eq!(
                run(&mut w, Command::Start { by: TRAINER }, now),
                expected,
                "at {now}"
            );
        }
    }

    #[test]
    fn reschedule_validates_and_keeps_the_duration_unless_given() {
        let now = start() - minutes(60);
        let later = start() + minutes(120);
        let cases = [
            (later, None, Ok(60)),
            (later, Some(5), Ok(5)),
            (later, Some(240), Ok(240)),
            (later, Some(4), Err(())),
            (later, Some(241), Err(())),
            (now, None, Err(())),
            (now - minutes(1), Some(30), Err(())),
        ];
        for (starts_at, duration_minutes, expected) in cases {
            let mut w = workout(WorkoutState::Scheduled, 10);
            let result = run(
                &mut w,
                Command::Reschedule {
                    by: TRAINER,
                    starts_at,
                    duration_minutes,
                },
                now,
            );
            match expected {
                Ok(effective) => {
                    assert_eq!(
                        result,
                        Ok(vec![Event::Rescheduled {
                            starts_at,
                            duration_minutes: effective
                        }])
                    );
                    assert_eq!(
                        (w.starts_at(), w.duration_minutes()),
                        (starts_at, effective)
                    );
                }
                Err(()) => assert!(
                    matches!(result, Err(DomainError::InvalidSchedule(_))),
                    "{starts_at} {duration_minutes:?}: {result:?}"
                ),
            }
        }
    }

    #[test]
    fn cancelling_releases_every_registration() {
        let mut w = workout(WorkoutState::Scheduled, 1);
        book(&mut w, trainee(1)).unwrap();
        let reason = Some("trainer is ill".to_string());
        let events = run(
            &mut w,
            Command::Cancel {
                by: TRAINER,
                reason: reason.clone(),
            },
            start(),
        )
        .unwrap();
        assert_eq!(
            events,
            vec![Event::Cancelled {
                reason,
                at: start()
            }]
        );
        assert_eq!(w.state(), WorkoutState::Cancelled);
        assert_eq!((w.booked_count(), w.waitlist_count()), (0, 0));
        assert_eq!(w.registration(BOOKED), None);
    }

    #[test]
    fn a_full_workout_waitlists_and_promotes_in_order() {
        let mut w = workout(WorkoutState::Scheduled, 2);
        cancel_booking(&mut w, BOOKED).unwrap();
        let t: Vec<Uuid> = (0..5).map(trainee).collect();
        let events: Vec<Event> = t
            .iter()
            .flat_map(|who| book(&mut w, *who).unwrap())
            .collect();
        assert_eq!(
            events,
            vec![
                Event::Booked { trainee: t[0] },
                Event::Booked { trainee: t[1] },
                Event::Waitlisted {
                    trainee: t[2],
                    position: 1
                },
                Event::Waitlisted {
                    trainee: t[3],
                    position: 2
                },
                Event::Waitlisted {
                    trainee: t[4],
                    position: 3
                },
            ]
        );
        assert_eq!((w.booked_count(), w.waitlist_count()), (2, 3));

        let booked = Some((RegistrationStatus::Booked, None));
        let waiting = |n| Some((RegistrationStatus::Waitlisted, Some(n)));

        // A freed place goes to the head of the queue; the rest move up.
        let events = cancel_booking(&mut w, t[0]).unwrap();
        assert_eq!(
            events,
            vec![
                Event::BookingCancelled { trainee: t[0] },
                Event::Promoted { trainee: t[2] }
            ]
        );
        assert_eq!(
            registrations(&w, &t),
            vec![None, booked, booked, waiting(1), waiting(2)]
        );

        // Leaving the waitlist renumbers those behind.
        assert_eq!(
            cancel_booking(&mut w, t[3]),
            Ok(vec![Event::LeftWaitlist { trainee: t[3] }])
        );
        assert_eq!(
            registrations(&w, &t),
            vec![None, booked, booked, None, waiting(1)]
        );

        // Registering twice is refused, whichever the registration.
        let already = |status| Err(DomainError::AlreadyRegistered { status });
        assert_eq!(book(&mut w, t[1]), already(RegistrationStatus::Booked));
        assert_eq!(book(&mut w, t[4]), already(RegistrationStatus::Waitlisted));

        // Cancelling is not final, but re-booking goes to the back of the queue.
        assert_eq!(
            cancel_booking(&mut w, t[0]),
            Err(DomainError::NotRegistered)
        );
        assert_eq!(
            book(&mut w, t[0]),
            Ok(vec![Event::Waitlisted {
                trainee: t[0],
                position: 2
            }])
        );
    }

    #[test]
    fn booking_is_open_while_live() {
        let mut w = workout(WorkoutState::Live, 2);
        assert_eq!(
            book(&mut w, trainee(1)),
            Ok(vec![Event::Booked {
                trainee: trainee(1)
            }])
        );
    }

    pub(super) fn assert_roster_invariants(w: &Workout, step: usize) {
        let capacity = w.capacity as usize;
        assert!(w.booked.len() <= capacity, "step {step}: over capacity");
        assert!(
            w.waitlist.is_empty() || w.booked.len() == capacity,
            "step {step}: waitlist while not full"
        );
        let booked: HashSet<Uuid> = w.booked.iter().copied().collect();
        let waiting: HashSet<Uuid> = w.waitlist.iter().copied().collect();
        assert_eq!(booked.len(), w.booked.len(), "step {step}: booked twice");
        assert_eq!(
            waiting.len(),
            w.waitlist.len(),
            "step {step}: waitlisted twice"
        );
        assert!(
            booked.is_disjoint(&waiting),
            "step {step}: booked and waitlisted"
        );
        for (index, who) in w.waitlist.iter().enumerate() {
            let position = count(index + 1);
            assert_eq!(
                w.registration(*who),
                Some((RegistrationStatus::Waitlisted, Some(position))),
                "step {step}"
            );
        }
    }

    #[test]
    fn the_waiting_room_goes_live_with_the_workout() {
        let mut w = workout(WorkoutState::Scheduled, 10);
        let before = start() - minutes(5);
        let join = Command::Join { trainee: BOOKED };
        assert_eq!(
            run(&mut w, join.clone(), before),
            Ok(vec![Event::Joined {
                trainee: BOOKED,
                at: before,
                live: false
            }])
        );
        assert_eq!(w.join_state(BOOKED), Some(JoinState::Waiting));
        assert_eq!(
            run(&mut w, join.clone(), before),
            Ok(vec![]),
            "joining again is a no-op"
        );

        run(&mut w, Command::Start { by: TRAINER }, start()).unwrap();
        assert_eq!(w.join_state(BOOKED), Some(JoinState::Live));
    }

    #[test]
    fn only_booked_trainees_can_join() {
        let mut w = workout(WorkoutState::Live, 1);
        book(&mut w, trainee(1)).unwrap();
        assert_eq!(
            w.registration(trainee(1)),
            Some((RegistrationStatus::Waitlisted, Some(1)))
        );
        for who in [trainee(1), trainee(2)] {
            assert_eq!(
                run(&mut w, Command::Join { trainee: who }, start()),
                Err(DomainError::NotBooked)
            );
        }
    }

    #[test]
    fn a_trainee_can_leave_and_join_again() {
        let mut w = workout(WorkoutState::Live, 10);
        let (join, leave) = (
            Command::Join { trainee: BOOKED },
            Command::Leave { trainee: BOOKED },
        );
        let at = |m| start() + minutes(m);

        assert_eq!(
            run(&mut w, join.clone(), at(1)),
            Ok(vec![Event::Joined {
                trainee: BOOKED,
                at: at(1),
                live: true
            }])
        );
        assert_eq!(
            run(&mut w, leave.clone(), at(2)),
            Ok(vec![Event::Left {
                trainee: BOOKED,
                at: at(2)
            }])
        );
        assert_eq!(w.join_state(BOOKED), None);
        assert_eq!(
            run(&mut w, leave, at(3)),
            Ok(vec![]),
            "leaving twice is a no-op"
        );
        assert_eq!(
            run(&mut w, join, at(4)),
            Ok(vec![Event::Joined {
                trainee: BOOKED,
                at: at(4),
                live: true
            }])
        );
        assert_eq!(w.join_state(BOOKED), Some(JoinState::Live));
    }

    #[test]
    fn leaving_without_joining_is_a_no_op() {
        let mut w = workout(WorkoutState::Live, 10);
        assert_eq!(
            run(&mut w, Command::Leave { trainee: STRANGER }, start()),
            Ok(vec![])
        );
    }

    #[test]
    fn auto_end_waits_for_the_grace_period() {
        let rules = Rules::default();
        let due = workout(WorkoutState::Live, 10).auto_end_at(&rules);
        assert_eq!(due, start() + minutes(60 + 10));

        let cases = [
            (WorkoutState::Live, due - TimeDelta::seconds(1), vec![]),
            (
                WorkoutState::Live,
                due,
                vec![Event::Ended {
                    at: due,
                    automatic: true,
                }],
            ),
            (WorkoutState::Scheduled, due, vec![]),
            (WorkoutState::Ended, due, vec![]),
        ];
        for (state, now, expected) in cases {
            let mut w = workout(state, 10);
            assert_eq!(
                run(&mut w, Command::AutoEnd, now),
                Ok(expected.clone()),
                "{state:?} at {now}"
            );
            let after = if expected.is_empty() {
                state
            } else {
                WorkoutState::Ended
            };
            assert_eq!(w.state(), after);
        }
    }

    #[test]
    fn the_trainer_ends_a_live_workout() {
        let mut w = workout(WorkoutState::Live, 10);
        assert_eq!(
            run(&mut w, Command::End { by: TRAINER }, start()),
            Ok(vec![Event::Ended {
                at: start(),
                automatic: false
            }])
        );
        assert_eq!(w.state(), WorkoutState::Ended);
        assert_eq!(w.join_state(BOOKED), None);
    }

    #[test]
    fn cancelling_a_booking_while_present_also_leaves() {
        let mut w = workout(WorkoutState::Scheduled, 50);
        let t = trainee(49);
        let now = start() - minutes(5);
        w.handle(&Command::Book { trainee: t }, now, &Rules::default())
            .unwrap();
        w.handle(&Command::Join { trainee: t }, now, &Rules::default())
            .unwrap();
        assert_eq!(w.join_state(t), Some(JoinState::Waiting));

        let events = w
            .handle(
                &Command::CancelBooking { trainee: t },
                now,
                &Rules::default(),
            )
            .unwrap();

        assert!(
            matches!(events.first(), Some(Event::Left { .. })),
            "{events:?}"
        );
        assert_eq!(w.join_state(t), None);
    }
}

#[cfg(test)]
#[path = "state_properties.rs"]
mod properties;
