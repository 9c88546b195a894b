//! The JSON shapes of workouts and rosters.

use apistos::api_component;
use bus_contracts::v1::{RegistrationStatus, WorkoutState};
use chrono::{DateTime, Utc};
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

/// Lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[api_component]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Not started; bookable.
    Scheduled,
    /// In progress.
    Live,
    /// Over.
    Ended,
    /// Called off.
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
#[derive(Clone, Debug, Serialize)]
#[api_component]
pub struct TrainerRef {
    /// Trainer id.
    pub id: Uuid,
    /// Trainer's name.
    pub full_name: String,
}

/// A workout session.
#[derive(Clone, Debug, Serialize)]
#[api_component]
pub struct WorkoutView {
    /// Id.
    pub id: Uuid,
    /// One of hiit, strength, yoga, dance, cardio, boxing, pilates, meditation.
    #[serde(rename = "type")]
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
#[derive(Clone, Debug, Serialize)]
#[api_component]
pub struct WorkoutPage {
    /// Soonest first.
    pub items: Vec<WorkoutView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A registration's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[api_component]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Has a place.
    Booked,
    /// Queued for a place.
    Waitlisted,
    /// Gave it up (or the workout was cancelled).
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
#[derive(Clone, Debug, Serialize)]
#[api_component]
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
#[derive(Clone, Debug, Serialize)]
#[api_component]
pub struct RosterPage {
    /// Entries.
    pub items: Vec<RosterEntry>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}
