//! The JSON shapes of workouts and rosters.

use apistos::ApiComponent;
use bus_contracts::v1::{RegistrationStatus, WorkoutState};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

/// Known workout types (extendable: add here, nothing else changes).
pub const WORKOUT_TYPES: [&str; 8] = [
    "hiit",
    "strength",
    "yoga",
    "dance",
    "cardio",
    "boxing",
    "pilates",
    "meditation",
];

/// The document's name for a workout type: a string, one of [`WORKOUT_TYPES`]. Only a schema
/// (fields stay `String`), so that adding a type stays a one-line change.
pub struct WorkoutType;

impl JsonSchema for WorkoutType {
    fn schema_name() -> String {
        "WorkoutType".to_owned()
    }

    fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        schemars::schema::SchemaObject {
            metadata: Some(Box::new(schemars::schema::Metadata {
                description: Some("The kind of session.".to_owned()),
                ..Default::default()
            })),
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            enum_values: Some(WORKOUT_TYPES.iter().map(|&t| t.into()).collect()),
            ..Default::default()
        }
        .into()
    }
}

/// Lifecycle state: `scheduled` (not started; bookable), `live` (in progress), `ended` (over) or
/// `cancelled` (called off).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema, ApiComponent)]
#[serde(rename_all = "lowercase")]
#[allow(
    missing_docs,
    reason = "described on the type: docs on variants would make its schema a `oneOf`, not an `enum`"
)]
pub enum State {
    Scheduled,
    Live,
    Ended,
    Cancelled,
}

impl From<WorkoutState> for State {
    fn from(state: WorkoutState) -> Self {
        match state {
            WorkoutState::Scheduled => State::Scheduled,
            WorkoutState::Live => State::Live,
            WorkoutState::Ended => State::Ended,
            WorkoutState::Cancelled => State::Cancelled,
        }
    }
}

/// Who teaches it.
#[derive(Clone, Debug, Serialize, JsonSchema, ApiComponent)]
pub struct TrainerRef {
    /// Trainer id.
    pub id: Uuid,
    /// Trainer's name.
    pub full_name: String,
}

/// A workout session.
#[derive(Clone, Debug, Serialize, JsonSchema, ApiComponent)]
pub struct WorkoutView {
    /// Id.
    pub id: Uuid,
    /// The kind of session.
    #[serde(rename = "type")]
    #[schemars(with = "WorkoutType")]
    pub workout_type: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// The trainer.
    pub trainer: TrainerRef,
    /// Start time (UTC).
    pub starts_at: DateTime<Utc>,
    /// Duration in minutes.
    pub duration_minutes: i32,
    /// Places.
    pub capacity: i32,
    /// Lifecycle state.
    pub state: State,
    /// Trainees holding a place.
    pub booked_count: i64,
    /// Trainees on the waitlist.
    pub waitlist_count: i64,
    /// When it actually went live (wearables count session time from here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it actually ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
}

/// A page of workouts.
#[derive(Clone, Debug, Serialize, JsonSchema, ApiComponent)]
pub struct WorkoutPage {
    /// Soonest first.
    pub items: Vec<WorkoutView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A registration's status: `booked` (has a place), `waitlisted` (queued for a place) or
/// `cancelled` (gave it up, or the workout was cancelled).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema, ApiComponent)]
#[serde(rename_all = "lowercase")]
#[allow(
    missing_docs,
    reason = "described on the type: docs on variants would make its schema a `oneOf`, not an `enum`"
)]
pub enum Status {
    Booked,
    Waitlisted,
    Cancelled,
}

impl From<RegistrationStatus> for Status {
    fn from(status: RegistrationStatus) -> Self {
        match status {
            RegistrationStatus::Booked => Status::Booked,
            RegistrationStatus::Waitlisted => Status::Waitlisted,
            RegistrationStatus::Cancelled => Status::Cancelled,
        }
    }
}

/// One trainee in a roster.
#[derive(Clone, Debug, Serialize, JsonSchema, ApiComponent)]
pub struct RosterEntry {
    /// Trainee id.
    pub trainee_id: Uuid,
    /// Trainee's name.
    pub full_name: String,
    /// Booked or waitlisted.
    pub status: Status,
    /// 1-based, while waitlisted.
    pub waitlist_position: Option<i32>,
    /// When the place (or position) was taken.
    pub registered_at: DateTime<Utc>,
    /// When the trainee last joined, if they did.
    pub joined_at: Option<DateTime<Utc>>,
}

/// A page of a roster: booked trainees in booking order, then the waitlist in order.
#[derive(Clone, Debug, Serialize, JsonSchema, ApiComponent)]
pub struct RosterPage {
    /// Entries.
    pub items: Vec<RosterEntry>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}
