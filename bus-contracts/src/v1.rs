//! Version 1 wire types. Additive changes only (see the crate docs).
//!
//! Every command travels as JSON in a NATS request to the owning actor's subject and is answered
//! with a [`Reply`]. Times are RFC 3339 UTC; ids are UUIDs.

pub mod energy;
pub mod frames;
pub mod live_codec;
pub mod roster;

use crate::ErrorCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The kinds of virtual actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// One per workout session.
    Workout,
    /// One per trainee.
    Trainee,
    /// One per trainer.
    Trainer,
}

impl ActorKind {
    /// The plural used in subjects and lease keys.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActorKind::Workout => "workouts",
            ActorKind::Trainee => "trainees",
            ActorKind::Trainer => "trainers",
        }
    }
}

/// Lifecycle of a workout: scheduled → live → ended, or scheduled → cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkoutState {
    /// Bookable; not started yet.
    Scheduled,
    /// Started by its trainer.
    Live,
    /// Over; results follow.
    Ended,
    /// Called off before it started.
    Cancelled,
}

impl WorkoutState {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            WorkoutState::Scheduled => "scheduled",
            WorkoutState::Live => "live",
            WorkoutState::Ended => "ended",
            WorkoutState::Cancelled => "cancelled",
        }
    }
}

/// Where a trainee stands in a workout's roster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStatus {
    /// Has a place.
    Booked,
    /// Queued for a place (FIFO).
    Waitlisted,
    /// Gave up the place, or the workout was cancelled.
    Cancelled,
}

/// What a trainee sees after joining.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinState {
    /// In the waiting room: the workout has not started.
    Waiting,
    /// In the live session.
    Live,
}

/// A schedule for a new or rescheduled workout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewWorkout {
    /// Id chosen by the caller (so a retried create is idempotent).
    pub id: Uuid,
    /// Workout type, e.g. `hiit`.
    pub workout_type: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Start time.
    pub starts_at: DateTime<Utc>,
    /// Duration in minutes (5..=240).
    pub duration_minutes: u32,
    /// Places (1..=100 000).
    pub capacity: u32,
}

/// Commands to a `TrainerActor` (`cultfit.v1.trainers.<trainer_id>.cmd`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TrainerCommand {
    /// Create a workout taught by this trainer; its time must not overlap another of theirs.
    CreateWorkout {
        /// The workout.
        workout: NewWorkout,
    },
    /// Move one of this trainer's workouts; the new time must not overlap another of theirs.
    RescheduleWorkout {
        /// Which workout.
        workout_id: Uuid,
        /// New start.
        starts_at: DateTime<Utc>,
        /// New duration, if it changes.
        duration_minutes: Option<u32>,
    },
}

/// Commands to a `TraineeActor` (`cultfit.v1.trainees.<trainee_id>.cmd`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TraineeCommand {
    /// Book a place (or a waitlist position); must not overlap the trainee's other bookings.
    Book {
        /// Which workout.
        workout_id: Uuid,
    },
    /// Enter a workout (waiting room or live); at most one live session at once.
    Join {
        /// Which workout.
        workout_id: Uuid,
    },
    /// Leave a workout that was joined.
    Leave {
        /// Which workout.
        workout_id: Uuid,
    },
}

/// Commands to a `WorkoutActor` (`cultfit.v1.workouts.<workout_id>.cmd`). `by` is the
/// authenticated caller; the actor checks it is the workout's trainer where that matters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkoutCommand {
    /// Move the workout (only while scheduled). Sent by the trainer's actor after its overlap check.
    Reschedule {
        /// Caller.
        by: Uuid,
        /// New start.
        starts_at: DateTime<Utc>,
        /// New duration, if it changes.
        duration_minutes: Option<u32>,
    },
    /// Call the workout off (unless live or ended); releases every registration.
    Cancel {
        /// Caller.
        by: Uuid,
        /// Shown to trainees.
        reason: Option<String>,
    },
    /// Go live (its trainer, from the start window before `starts_at`).
    Start {
        /// Caller.
        by: Uuid,
    },
    /// Finish (its trainer, only while live).
    End {
        /// Caller.
        by: Uuid,
    },
    /// Finish a live workout whose time plus grace has passed; a no-op otherwise.
    AutoEnd,
    /// Take a place, or a waitlist position when full. Sent by the trainee's actor.
    Book {
        /// The trainee.
        trainee_id: Uuid,
    },
    /// Give up a place or waitlist position; the first waitlisted trainee is promoted.
    CancelBooking {
        /// The trainee.
        trainee_id: Uuid,
    },
    /// Enter (booked trainees only). Sent by the trainee's actor.
    Join {
        /// The trainee.
        trainee_id: Uuid,
    },
    /// Leave after joining.
    Leave {
        /// The trainee.
        trainee_id: Uuid,
    },
    /// Current state, straight from the owner.
    Get,
    /// Who holds the live board's slots from `from` on (while live): a [`RosterPage`]. Readers
    /// of the live subject ask once per change, since frames name slots, not trainees.
    Roster {
        /// First slot wanted.
        from: u32,
    },
}

/// A failed command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    /// Stable code.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
}

impl WireError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The answer to every command: `{"ok": ...}` or `{"error": {code, message}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply<T> {
    /// Success.
    Ok(T),
    /// Failure.
    Error(WireError),
}

impl<T> From<Result<T, WireError>> for Reply<T> {
    fn from(result: Result<T, WireError>) -> Self {
        match result {
            Ok(value) => Reply::Ok(value),
            Err(err) => Reply::Error(err),
        }
    }
}

impl<T> From<Reply<T>> for Result<T, WireError> {
    fn from(reply: Reply<T>) -> Self {
        match reply {
            Reply::Ok(value) => Ok(value),
            Reply::Error(err) => Err(err),
        }
    }
}

/// The owner's view of a workout, returned by lifecycle commands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkoutStatus {
    /// Id.
    pub id: Uuid,
    /// State.
    pub state: WorkoutState,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// Duration in minutes.
    pub duration_minutes: u32,
    /// Places.
    pub capacity: u32,
    /// Booked trainees.
    pub booked_count: u32,
    /// Waitlisted trainees.
    pub waitlist_count: u32,
    /// Lease epoch of the owner that answered.
    pub epoch: u64,
    /// Trainees in the waiting room or the session right now (added in v1 after the first
    /// release: absent from older owners' replies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<u32>,
}

/// The outcome of a booking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// Booked or waitlisted.
    pub status: RegistrationStatus,
    /// 1-based position while waitlisted.
    pub waitlist_position: Option<u32>,
}

/// The outcome of a join.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    /// Waiting room or live.
    pub state: JoinState,
    /// When the workout starts (for the waiting room's countdown).
    pub starts_at: DateTime<Utc>,
    /// Its scheduled length, which bounds how long the wearable's credential lasts. Absent from
    /// workers that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<u32>,
}

/// Domain events, published on [`crate::subjects::workout_events`] for other services.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DomainEvent {
    /// A workout was created.
    Scheduled {
        /// Workout.
        workout_id: Uuid,
        /// Trainer.
        trainer_id: Uuid,
        /// Start.
        starts_at: DateTime<Utc>,
        /// Duration.
        duration_minutes: u32,
    },
    /// A workout moved.
    Rescheduled {
        /// Workout.
        workout_id: Uuid,
        /// New start.
        starts_at: DateTime<Utc>,
        /// New duration.
        duration_minutes: u32,
    },
    /// A workout was called off.
    Cancelled {
        /// Workout.
        workout_id: Uuid,
        /// Why.
        reason: Option<String>,
    },
    /// A workout went live.
    Started {
        /// Workout.
        workout_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// A workout finished.
    Ended {
        /// Workout.
        workout_id: Uuid,
        /// When.
        at: DateTime<Utc>,
        /// Ended by the grace timer rather than the trainer.
        automatic: bool,
    },
    /// A trainee got a place (directly or from the waitlist: see `Promoted`).
    Booked {
        /// Workout.
        workout_id: Uuid,
        /// Trainee.
        trainee_id: Uuid,
    },
    /// A waitlisted trainee got a place that was given up.
    Promoted {
        /// Workout.
        workout_id: Uuid,
        /// Trainee.
        trainee_id: Uuid,
    },
}

/// Asks a worker node to host an actor (request-reply on `node_activations`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationRequest {
    /// Kind of actor.
    pub kind: ActorKind,
    /// Entity id.
    pub id: Uuid,
    /// Refuse a workout ([`Activation::OverShare`]) if this node already hosts more than its share
    /// of the workers' workouts (bounded-load placement). Other kinds are never refused for
    /// load. Absent (older callers): no bound.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bounded: bool,
}

fn is_false(flag: &bool) -> bool {
    !*flag
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

/// A node's answer to an activation request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Activation {
    /// The actor is running on this node and subscribed.
    Active {
        /// Lease epoch.
        epoch: u64,
    },
    /// Another node holds the lease; retry the command.
    OwnedElsewhere {
        /// The holder.
        owner: String,
    },
    /// No such entity (e.g. an unknown workout id).
    Unknown,
    /// This node cannot host it now (draining, failing to load); try another.
    Unavailable {
        /// Why.
        reason: String,
    },
    /// This node already hosts its share of workouts (asked with `bounded`); try the next one.
    /// Only sent to callers that asked with `bounded`.
    OverShare {
        /// Workouts this node hosts (active or activating).
        hosted: u32,
        /// The most it should host with one more placed, as it counted.
        share: u32,
    },
}

/// A worker's heartbeat in the `nodes` bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeHeartbeat {
    /// Node id.
    pub node_id: String,
    /// Not taking new activations.
    pub draining: bool,
    /// Sent at.
    pub at: DateTime<Utc>,
    /// Workout actors this node hosts (active or activating): its load, for bounded-load
    /// placement. Put again whenever it changes, not only every heartbeat. Absent: none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub workouts: u32,
}

/// What a workout's owner publishes on [`crate::subjects::workout_live`]: lifecycle events and
/// one [`Frame`] per tick (in parts). Every message carries the owner's lease `epoch`, so a reader that has
/// seen a newer epoch (after a failover) can drop late messages from the previous owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveMessage {
    /// Before the start: how many are in the waiting room (sent when that changes).
    Waiting {
        /// Owner's lease epoch.
        epoch: u64,
        /// Trainees in the waiting room.
        participants_waiting: u32,
        /// Planned start, for the countdown.
        starts_at: DateTime<Utc>,
    },
    /// The workout went live.
    Started {
        /// Owner's lease epoch.
        epoch: u64,
        /// When.
        at: DateTime<Utc>,
    },
    /// One part of a tick's ranking, places naming board slots (see [`Frame`]).
    #[serde(rename = "slot_frame")]
    Frame(Frame),
    /// One part of a tick's ranking in the older form, names in every place (see
    /// [`NamedFrame`]): decoded, not published, not shown.
    #[serde(rename = "frame")]
    NamedFrame(NamedFrame),
    /// The workout ended; results are stored.
    Ended {
        /// Owner's lease epoch.
        epoch: u64,
        /// When.
        at: DateTime<Utc>,
    },
    /// The workout was called off.
    Cancelled {
        /// Owner's lease epoch.
        epoch: u64,
        /// Why, if the trainer said.
        reason: Option<String>,
    },
    /// The workout moved.
    Rescheduled {
        /// Owner's lease epoch.
        epoch: u64,
        /// New start.
        starts_at: DateTime<Utc>,
    },
}

impl LiveMessage {
    /// The publishing owner's lease epoch.
    pub fn epoch(&self) -> u64 {
        match self {
            LiveMessage::Waiting { epoch, .. }
            | LiveMessage::Started { epoch, .. }
            | LiveMessage::Ended { epoch, .. }
            | LiveMessage::Cancelled { epoch, .. }
            | LiveMessage::Rescheduled { epoch, .. } => *epoch,
            LiveMessage::Frame(frame) => frame.epoch,
            LiveMessage::NamedFrame(frame) => frame.epoch,
        }
    }
}

/// A tick's ranking, or one part of it: a large session's standings are split over several
/// messages (each at most [`Frame::MAX_STANDINGS`] entries) so none exceeds NATS's payload limit;
/// [`frames`] splits and reassembles them. Places name board slots; who holds a slot (and their
/// display name) is in the session's roster, which readers ask the owner for when `participants`
/// or `named` grows ([`WorkoutCommand::Roster`]), so names do not travel every tick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// Owner's lease epoch.
    pub epoch: u64,
    /// The live board this tick ranks: slots are only meaningful within it (a new owner, or the
    /// live session started again, makes a new one).
    pub board: Uuid,
    /// Tick number, from 1 at the start of the owner's activation.
    pub tick: u64,
    /// When the ranking was taken.
    pub at: DateTime<Utc>,
    /// Everyone ranked: board slots `0..participants`.
    pub participants: u32,
    /// Slots below this have their display names settled in the roster.
    pub named: u32,
    /// Samples accepted and rejected in this session so far (this activation, including replay).
    pub samples: SampleCounts,
    /// This part's index, from 0.
    pub part: u32,
    /// How many parts make up this tick.
    pub parts: u32,
    /// Rank of the first entry of `standings`, minus one.
    pub offset: u32,
    /// Consecutive places from `offset + 1`.
    pub standings: Vec<Placed>,
}

impl Frame {
    /// Most standings in one part (a few bytes each in binary, ≈ 30 as JSON: well under 1 MB).
    pub const MAX_STANDINGS: usize = 5_000;
}

/// One place in a frame, `[slot, energy, rating]`: the board slot (who holds it is in the
/// roster), cumulative energy points rounded down, and the latest rating (0..=100).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed(pub u32, pub i64, pub u8);

/// Who holds the board slots `from..from + entries.len()` of a live session (the reply to
/// [`WorkoutCommand::Roster`]). Slots are handed out in join order and never reused on a board,
/// so a reader keeps what it learnt and asks only for what is new.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterPage {
    /// The live board (see [`Frame::board`]).
    pub board: Uuid,
    /// The first slot of `entries`.
    pub from: u32,
    /// Slots below this have their display names settled; above, a name may still arrive.
    pub named: u32,
    /// Slots on the board now (the page may stop short of it: ask again from its end).
    pub participants: u32,
    /// One per slot, in slot order.
    pub entries: Vec<RosterEntry>,
}

/// A slot's holder, `[user_id, display_name]`; the name is `None` for trainees who hide from
/// leaderboards (or whose name is not known yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry(pub Uuid, pub Option<String>);

/// A tick's ranking as workouts' owners published it before slot frames ([`Frame`]): every
/// place with its trainee's id and display name, every tick. Still part of the v1 contract and
/// still decoded, so a reader meeting one from an older worker knows what it is; no longer
/// published, and readers do not show it (a rolling upgrade shows rankings again once the workers
/// are upgraded too).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedFrame {
    /// Owner's lease epoch.
    pub epoch: u64,
    /// Tick number, from 1 at the start of the owner's activation.
    pub tick: u64,
    /// When the ranking was taken.
    pub at: DateTime<Utc>,
    /// Everyone ranked.
    pub participants: u32,
    /// Samples accepted and rejected in this session so far (this activation, including replay).
    pub samples: SampleCounts,
    /// This part's index, from 0.
    pub part: u32,
    /// How many parts make up this tick.
    pub parts: u32,
    /// Rank of the first entry of `standings`, minus one.
    pub offset: u32,
    /// Consecutive places from `offset + 1`.
    pub standings: Vec<Standing>,
}

/// One place in a [`NamedFrame`], encoded as a JSON array `[user_id, energy, rating,
/// display_name]`. `display_name` is null for trainees who hide from leaderboards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing(
    /// The trainee.
    pub Uuid,
    /// Cumulative energy points, rounded down.
    pub i64,
    /// Latest rating, 0..=100.
    pub u8,
    /// Display name; `None` when hidden (or not known yet).
    pub Option<String>,
);

/// Samples counted by a workout's owner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleCounts {
    /// Put on the board.
    pub accepted: u64,
    /// Refused (any reason).
    pub rejected: u64,
}
