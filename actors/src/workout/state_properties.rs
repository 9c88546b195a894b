//! Property tests of the workout state machine: random sessions over every [`Command`], sent by
//! the trainer and by a stranger, at moments around the start window and the auto-end deadline,
//! checked after every step against the rules the module documents and against a reference
//! roster kept apart from the machine.
//!
//! The unit tests in `tests` pin each rule at its boundaries; these look for the sequences nobody
//! thought to write down (a promotion right after a cancellation, a reschedule into the start
//! window, a leave after the end).

#![allow(clippy::unwrap_used, reason = "a broken test setup should fail loudly")]

use super::tests::{
    BOOKED, STRANGER, TRAINER, assert_roster_invariants, minutes, start, trainee, workout,
};
use super::*;
use crate::schedule::DURATION_MINUTES;
use WorkoutState::{Cancelled, Ended, Live, Scheduled};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use std::collections::HashSet;

/// The trainees of every session: few enough that the same people book, cancel and book again.
/// `BOOKED` holds a place from the outset.
fn pool() -> Vec<Uuid> {
    std::iter::once(BOOKED)
        .chain((1..12).map(trainee))
        .collect()
}

/// Mostly the workout's trainer; sometimes a stranger trying the trainer's commands.
fn caller() -> impl Strategy<Value = Uuid> {
    prop_oneof![3 => Just(TRAINER), 1 => Just(STRANGER)]
}

/// Any command. Weighted towards the roster so the waitlist fills up, with cancellation rare
/// since it ends the interesting part of a session. New starts fall from two hours before the
/// original start to five after, so reschedules both succeed and land in the past; durations
/// include the first refused value on either side.
fn any_command() -> impl Strategy<Value = Command> {
    let someone = || prop::sample::select(pool());
    let starts_at = (-120_i64..=300).prop_map(|m| start() + minutes(m));
    let duration =
        prop::sample::select(vec![None, Some(4), Some(5), Some(45), Some(240), Some(241)]);
    let reason = prop::option::of(Just("trainer is ill".to_string()));
    prop_oneof![
        1 => (caller(), starts_at, duration).prop_map(|(by, starts_at, duration_minutes)| {
            Command::Reschedule { by, starts_at, duration_minutes }
        }),
        1 => (caller(), reason).prop_map(|(by, reason)| Command::Cancel { by, reason }),
        2 => caller().prop_map(|by| Command::Start { by }),
        1 => caller().prop_map(|by| Command::End { by }),
        1 => Just(Command::AutoEnd),
        6 => someone().prop_map(|trainee| Command::Book { trainee }),
        4 => someone().prop_map(|trainee| Command::CancelBooking { trainee }),
        2 => someone().prop_map(|trainee| Command::Join { trainee }),
        1 => someone().prop_map(|trainee| Command::Leave { trainee }),
    ]
}

/// A point of the workout's own timeline; moments are taken from it so they follow a reschedule.
#[derive(Clone, Copy, Debug)]
enum Mark {
    WindowOpens,
    Starts,
    Ends,
    AutoEndDue,
}

/// When a command is sent: a mark of the workout's current timeline plus `seconds`.
#[derive(Clone, Copy, Debug)]
struct When {
    mark: Mark,
    seconds: i64,
}

impl When {
    fn at(self, w: &Workout, rules: &Rules) -> DateTime<Utc> {
        let mark = match self.mark {
            Mark::WindowOpens => w.starts_at() - rules.start_window,
            Mark::Starts => w.starts_at(),
            Mark::Ends => w.ends_at(),
            Mark::AutoEndDue => w.auto_end_at(rules),
        };
        mark + TimeDelta::seconds(self.seconds)
    }
}

/// Exactly on a mark and one second either side half of the time, since that is where rules
/// flip; otherwise anywhere from three hours before to three hours after.
fn any_moment() -> impl Strategy<Value = When> {
    let mark = prop::sample::select(vec![
        Mark::WindowOpens,
        Mark::Starts,
        Mark::Ends,
        Mark::AutoEndDue,
    ]);
    let seconds = prop_oneof![
        1 => Just(-1_i64),
        1 => Just(0),
        1 => Just(1),
        3 => -3 * 3_600_i64..=3 * 3_600,
    ];
    (mark, seconds).prop_map(|(mark, seconds)| When { mark, seconds })
}

/// A session to play: a capacity and the commands sent to the workout, each at its moment.
fn any_session() -> impl Strategy<Value = (u32, Vec<(Command, When)>)> {
    (
        1_u32..6,
        prop::collection::vec((any_command(), any_moment()), 1..64),
    )
}

/// Why a command was refused, by rule rather than by wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    NotYourWorkout,
    InvalidState(WorkoutState),
    TooEarly {
        opens_at: DateTime<Utc>,
    },
    InvalidSchedule,
    AlreadyRegistered(RegistrationStatus),
    NotRegistered,
    NotBooked,
    /// Checks across workouts (overlaps, another live session), never made by this machine.
    AcrossWorkouts,
}

impl Refusal {
    fn of(error: &DomainError) -> Self {
        match *error {
            DomainError::NotYourWorkout => Self::NotYourWorkout,
            DomainError::InvalidState { state, .. } => Self::InvalidState(state),
            DomainError::TooEarly { opens_at } => Self::TooEarly { opens_at },
            DomainError::InvalidSchedule(_) => Self::InvalidSchedule,
            DomainError::AlreadyRegistered { status } => Self::AlreadyRegistered(status),
            DomainError::NotRegistered => Self::NotRegistered,
            DomainError::NotBooked => Self::NotBooked,
            DomainError::Overlap { .. } | DomainError::AlreadyInSession { .. } => {
                Self::AcrossWorkouts
            }
        }
    }
}

/// The roster as the rules describe it, kept apart from the machine and updated only from the
/// commands it accepted: places in booking order, and a FIFO queue.
#[derive(Clone, Debug)]
struct Roster {
    booked: Vec<Uuid>,
    waiting: VecDeque<Uuid>,
}

impl Roster {
    fn registration(&self, trainee: Uuid) -> Option<(RegistrationStatus, Option<u32>)> {
        if self.booked.contains(&trainee) {
            return Some((RegistrationStatus::Booked, None));
        }
        (1..)
            .zip(&self.waiting)
            .find(|(_, t)| **t == trainee)
            .map(|(position, _)| (RegistrationStatus::Waitlisted, Some(position)))
    }

    /// Follows a command the machine accepted; returns the roster events it must have caused.
    fn follow(&mut self, command: &Command, capacity: u32) -> Vec<Event> {
        match *command {
            Command::Book { trainee } if self.booked.len() < capacity as usize => {
                self.booked.push(trainee);
                vec![Event::Booked { trainee }]
            }
            Command::Book { trainee } => {
                self.waiting.push_back(trainee);
                let position = count(self.waiting.len());
                vec![Event::Waitlisted { trainee, position }]
            }
            Command::CancelBooking { trainee } if self.booked.contains(&trainee) => {
                self.booked.retain(|t| *t != trainee);
                let mut events = vec![Event::BookingCancelled { trainee }];
                if let Some(next) = self.waiting.pop_front() {
                    self.booked.push(next);
                    events.push(Event::Promoted { trainee: next });
                }
                events
            }
            Command::CancelBooking { trainee } => {
                self.waiting.retain(|t| *t != trainee);
                vec![Event::LeftWaitlist { trainee }]
            }
            Command::Cancel { .. } => {
                self.booked.clear();
                self.waiting.clear();
                vec![]
            }
            _ => vec![],
        }
    }
}

/// Why the rules refuse `command` at `now`, or `None` if they accept it: the trainer's commands
/// check the caller, then the state, then the time; the roster's check the state, then the
/// registration. Exhaustive on purpose: a new command does not compile until it is given its
/// rules here (and a generator in [`any_command`]).
fn refusal(
    w: &Workout,
    roster: &Roster,
    command: &Command,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Option<Refusal> {
    let trainer_only = |by: Uuid, allowed: WorkoutState| {
        if by != w.trainer_id() {
            Some(Refusal::NotYourWorkout)
        } else {
            (w.state() != allowed).then_some(Refusal::InvalidState(w.state()))
        }
    };
    let open = (!matches!(w.state(), Scheduled | Live)).then_some(Refusal::InvalidState(w.state()));
    match command {
        Command::Reschedule {
            by,
            starts_at,
            duration_minutes,
        } => trainer_only(*by, Scheduled).or_else(|| {
            let duration = duration_minutes.unwrap_or(w.duration_minutes());
            (*starts_at <= now || !DURATION_MINUTES.contains(&duration))
                .then_some(Refusal::InvalidSchedule)
        }),
        Command::Cancel { by, .. } => trainer_only(*by, Scheduled),
        Command::Start { by } => trainer_only(*by, Scheduled).or_else(|| {
            let opens_at = w.starts_at() - rules.start_window;
            (now < opens_at).then_some(Refusal::TooEarly { opens_at })
        }),
        Command::End { by } => trainer_only(*by, Live),
        Command::AutoEnd | Command::Leave { .. } => None,
        Command::Book { trainee } => open.or_else(|| {
            let registration = roster.registration(*trainee);
            registration.map(|(status, _)| Refusal::AlreadyRegistered(status))
        }),
        Command::CancelBooking { trainee } => open.or_else(|| {
            roster
                .registration(*trainee)
                .is_none()
                .then_some(Refusal::NotRegistered)
        }),
        Command::Join { trainee } => {
            open.or_else(|| (!roster.booked.contains(trainee)).then_some(Refusal::NotBooked))
        }
    }
}

/// The lifecycle state an accepted command leads to; every other command keeps the state.
fn state_after(w: &Workout, command: &Command, now: DateTime<Utc>, rules: &Rules) -> WorkoutState {
    match command {
        Command::Start { .. } => Live,
        Command::End { .. } => Ended,
        Command::Cancel { .. } => Cancelled,
        Command::AutoEnd if w.state() == Live && now >= w.auto_end_at(rules) => Ended,
        _ => w.state(),
    }
}

fn is_lifecycle(event: &Event) -> bool {
    matches!(
        event,
        Event::Rescheduled { .. }
            | Event::Cancelled { .. }
            | Event::Started { .. }
            | Event::Ended { .. }
    )
}

fn is_roster(event: &Event) -> bool {
    matches!(
        event,
        Event::Booked { .. }
            | Event::Waitlisted { .. }
            | Event::BookingCancelled { .. }
            | Event::LeftWaitlist { .. }
            | Event::Promoted { .. }
    )
}

fn is_here(w: &Workout, trainee: Uuid) -> bool {
    w.presence(trainee).is_some_and(|p| p.is_here())
}

/// What a command returns: its events, or why it was refused.
type Outcome = Result<Vec<Event>, DomainError>;

/// Checks one step: the command was refused exactly when the rules say so, a refusal changed
/// nothing, and an accepted command made exactly the change its events announce.
fn check_step(
    before: &Workout,
    after: &Workout,
    roster: &mut Roster,
    command: &Command,
    now: DateTime<Utc>,
    rules: &Rules,
    result: &Outcome,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        result.as_ref().err().map(Refusal::of),
        refusal(before, roster, command, now, rules),
        "accepted or refused against the rules"
    );
    if let Command::Reschedule { by, .. }
    | Command::Cancel { by, .. }
    | Command::Start { by }
    | Command::End { by } = command
    {
        prop_assert!(
            result.is_err() || *by == before.trainer_id(),
            "only the trainer runs the lifecycle"
        );
    }
    let events = match result {
        Err(_) => {
            prop_assert_eq!(after, before, "a refused command changed the workout");
            return Ok(());
        }
        Ok(events) => events,
    };
    prop_assert_eq!(
        (after.id(), after.trainer_id(), after.capacity()),
        (before.id(), before.trainer_id(), before.capacity())
    );

    // Lifecycle: only the allowed transitions, each announced by exactly its event.
    prop_assert_eq!(after.state(), state_after(before, command, now, rules));
    let lifecycle = match (before.state(), after.state(), command) {
        (Scheduled, Live, _) => vec![Event::Started { at: now }],
        (Scheduled, Cancelled, Command::Cancel { reason, .. }) => vec![Event::Cancelled {
            reason: reason.clone(),
            at: now,
        }],
        (Live, Ended, _) => vec![Event::Ended {
            at: now,
            automatic: *command == Command::AutoEnd,
        }],
        (from, to, Command::Reschedule { .. }) if from == to => vec![Event::Rescheduled {
            starts_at: after.starts_at(),
            duration_minutes: after.duration_minutes(),
        }],
        (from, to, _) if from == to => vec![],
        (from, to, _) => {
            return Err(TestCaseError::fail(format!(
                "{from:?} → {to:?} is not a transition"
            )));
        }
    };
    let announced: Vec<Event> = events.iter().filter(|e| is_lifecycle(e)).cloned().collect();
    prop_assert_eq!(announced, lifecycle, "lifecycle events");
    let schedule = match command {
        Command::Reschedule {
            starts_at,
            duration_minutes,
            ..
        } => (
            *starts_at,
            duration_minutes.unwrap_or(before.duration_minutes()),
        ),
        _ => (before.starts_at(), before.duration_minutes()),
    };
    prop_assert_eq!((after.starts_at(), after.duration_minutes()), schedule);
    if matches!(before.state(), Ended | Cancelled) {
        // Over is over. `Leave` alone is accepted in every state, so departures from the room
        // are still recorded.
        prop_assert!(
            events.iter().all(|e| matches!(e, Event::Left { .. })),
            "{:?}",
            events
        );
        prop_assert_eq!(
            (&after.booked, &after.waitlist),
            (&before.booked, &before.waitlist)
        );
    }

    // Roster: what the reference roster did, announced in the same order; FIFO promotions.
    let announced: Vec<Event> = events.iter().filter(|e| is_roster(e)).cloned().collect();
    prop_assert_eq!(
        announced,
        roster.follow(command, before.capacity()),
        "roster events"
    );
    prop_assert_eq!(&after.booked, &roster.booked, "booked, in booking order");
    prop_assert_eq!(
        &after.waitlist,
        &roster.waiting,
        "the waitlist, in FIFO order"
    );
    for event in events {
        match event {
            Event::Promoted { trainee } => {
                prop_assert_eq!(Some(trainee), before.waitlist.front(), "promotes the head");
            }
            Event::Waitlisted { trainee, position } => {
                prop_assert_eq!(Some(trainee), after.waitlist.back(), "a newcomer goes last");
                prop_assert_eq!(*position, after.waitlist_count());
            }
            _ => {}
        }
    }

    // Presence: joins and leaves at `now`, as announced, and nothing else.
    let mut present = before.present.clone();
    for event in events {
        match *event {
            Event::Joined { trainee, at, live } => {
                prop_assert!(!is_here(before, trainee) && after.is_booked(trainee));
                prop_assert_eq!((at, live), (now, before.state() == Live));
                let joined = Presence {
                    joined_at: now,
                    left_at: None,
                };
                present.insert(trainee, joined);
            }
            Event::Left { trainee, at } => {
                prop_assert!(is_here(before, trainee));
                prop_assert_eq!(at, now);
                present.get_mut(&trainee).unwrap().left_at = Some(now);
            }
            _ => {}
        }
    }
    prop_assert_eq!(
        &after.present,
        &present,
        "presence changes as its events say"
    );
    match *command {
        Command::Join { trainee } => prop_assert!(is_here(after, trainee)),
        Command::Leave { trainee } | Command::CancelBooking { trainee } => {
            prop_assert!(!is_here(after, trainee));
        }
        _ => {}
    }
    Ok(())
}

/// What every state of a session satisfies: the roster invariants of the module, a roster equal
/// to the reference one, and, while the workout is open, only booked trainees in the room.
fn check_invariants(w: &Workout, roster: &Roster, step: usize) -> Result<(), TestCaseError> {
    assert_roster_invariants(w, step);
    for trainee in pool() {
        prop_assert_eq!(w.registration(trainee), roster.registration(trainee));
    }
    if matches!(w.state(), Scheduled | Live) {
        for (trainee, presence) in &w.present {
            prop_assert!(
                !presence.is_here() || w.is_booked(*trainee),
                "{} is here unbooked",
                trainee
            );
        }
    }
    Ok(())
}

/// Plays a session on a scheduled workout with `BOOKED` in one of `capacity` places, checking
/// every step; returns each command's outcome.
fn play(capacity: u32, commands: &[(Command, When)]) -> Result<Vec<Outcome>, TestCaseError> {
    let rules = Rules::default();
    let mut w = workout(Scheduled, capacity);
    let mut roster = Roster {
        booked: vec![BOOKED],
        waiting: VecDeque::new(),
    };
    let mut outcomes = Vec::with_capacity(commands.len());
    for (step, (command, when)) in commands.iter().enumerate() {
        let now = when.at(&w, &rules);
        let before = w.clone();
        let result = w.handle(command, now, &rules);
        check_step(&before, &w, &mut roster, command, now, &rules, &result)
            .and_then(|()| check_invariants(&w, &roster, step))
            .map_err(|e| {
                TestCaseError::fail(format!(
                    "step {step}: {command:?} at {now} in {:?} → {result:?}: {e}",
                    before.state()
                ))
            })?;
        outcomes.push(result);
    }
    Ok(outcomes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Capacity, waitlist order and the lifecycle rules hold after every step of any session.
    #[test]
    fn any_command_sequence_keeps_capacity_waitlist_order_and_state_rules(
        (capacity, commands) in any_session(),
    ) {
        play(capacity, &commands)?;
    }
}

fn event_label(event: &Event) -> &'static str {
    match event {
        Event::Rescheduled { .. } => "rescheduled",
        Event::Cancelled { .. } => "cancelled",
        Event::Started { .. } => "started",
        Event::Ended {
            automatic: true, ..
        } => "ended automatically",
        Event::Ended {
            automatic: false, ..
        } => "ended by the trainer",
        Event::Booked { .. } => "booked",
        Event::Waitlisted { .. } => "waitlisted",
        Event::BookingCancelled { .. } => "booking cancelled",
        Event::LeftWaitlist { .. } => "left the waitlist",
        Event::Promoted { .. } => "promoted",
        Event::Joined { live: false, .. } => "joined the waiting room",
        Event::Joined { live: true, .. } => "joined live",
        Event::Left { .. } => "left",
    }
}

fn refusal_label(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::NotYourWorkout => "not your workout",
        Refusal::InvalidState(_) => "invalid state",
        Refusal::TooEarly { .. } => "too early",
        Refusal::InvalidSchedule => "invalid schedule",
        Refusal::AlreadyRegistered(RegistrationStatus::Waitlisted) => "already waitlisted",
        Refusal::AlreadyRegistered(_) => "already booked",
        Refusal::NotRegistered => "not registered",
        Refusal::NotBooked => "not booked",
        Refusal::AcrossWorkouts => "across workouts",
    }
}

/// The generated sessions reach every event and every refusal of the machine, so the property
/// above is not vacuous: sessions that never filled up or never went live would pass it too.
#[test]
fn generated_sessions_reach_every_event_and_refusal() {
    let mut runner = TestRunner::deterministic();
    let mut seen = HashSet::new();
    for _ in 0..256 {
        let (capacity, commands) = any_session().new_tree(&mut runner).unwrap().current();
        for outcome in play(capacity, &commands).unwrap() {
            match outcome {
                Ok(events) => seen.extend(events.iter().map(event_label)),
                Err(error) => {
                    seen.insert(refusal_label(Refusal::of(&error)));
                }
            }
        }
    }
    let expected = [
        "rescheduled",
        "cancelled",
        "started",
        "ended automatically",
        "ended by the trainer",
        "booked",
        "waitlisted",
        "booking cancelled",
        "left the waitlist",
        "promoted",
        "joined the waiting room",
        "joined live",
        "left",
        "not your workout",
        "invalid state",
        "too early",
        "invalid schedule",
        "already waitlisted",
        "already booked",
        "not registered",
        "not booked",
    ];
    let missing: Vec<_> = expected.iter().filter(|l| !seen.contains(*l)).collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
}
