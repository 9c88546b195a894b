//! [`DomainError`]: every way a domain rule can refuse a command, and the wire code each maps to.
//!
//! The state machines return these; the actor glue turns them into a [`WireError`] with `.into()`,
//! so the mapping onto the public [`ErrorCode`] vocabulary is decided here and nowhere else.

use bus_contracts::ErrorCode;
use bus_contracts::v1::{RegistrationStatus, WireError, WorkoutState};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A domain rule refused a command. The `Display` text is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Only the workout's own trainer may do this.
    #[error("only the trainer of this workout may do this")]
    NotYourWorkout,
    /// The workout's lifecycle state does not allow the action.
    #[error("cannot {action} {} workout", with_article(*.state))]
    InvalidState {
        /// The state the workout is in.
        state: WorkoutState,
        /// What was attempted, as a verb phrase (`"start"`, `"book"`).
        action: &'static str,
    },
    /// The workout cannot be started yet.
    #[error("the workout can be started from {opens_at}")]
    TooEarly {
        /// The earliest time it can be started.
        opens_at: DateTime<Utc>,
    },
    /// A start time or duration is not acceptable; the text says which.
    #[error("{0}")]
    InvalidSchedule(String),
    /// The time overlaps another workout of the same trainer or booking of the same trainee.
    #[error("overlaps workout {with}")]
    Overlap {
        /// The workout it overlaps.
        with: Uuid,
    },
    /// The trainee already holds a place or a waitlist position.
    #[error("already {} this workout", registered_as(*.status))]
    AlreadyRegistered {
        /// Booked or waitlisted.
        status: RegistrationStatus,
    },
    /// The trainee holds neither a place nor a waitlist position.
    #[error("no booking for this workout")]
    NotRegistered,
    /// Only trainees with a place may join (waitlisted ones may not).
    #[error("only booked trainees can join")]
    NotBooked,
    /// The trainee is live in another workout.
    #[error("already in the live session of workout {workout_id}")]
    AlreadyInSession {
        /// The workout the trainee is live in.
        workout_id: Uuid,
    },
}

impl DomainError {
    /// The stable wire code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            DomainError::NotYourWorkout | DomainError::NotBooked => ErrorCode::Forbidden,
            DomainError::InvalidState { .. } => ErrorCode::InvalidState,
            DomainError::TooEarly { .. } => ErrorCode::TooEarly,
            DomainError::InvalidSchedule(_) => ErrorCode::ValidationFailed,
            DomainError::Overlap { .. } => ErrorCode::ScheduleOverlap,
            DomainError::AlreadyRegistered { .. } => ErrorCode::AlreadyRegistered,
            DomainError::NotRegistered => ErrorCode::NotFound,
            DomainError::AlreadyInSession { .. } => ErrorCode::AlreadyInSession,
        }
    }
}

impl From<DomainError> for WireError {
    fn from(err: DomainError) -> Self {
        WireError::new(err.code(), err.to_string())
    }
}

/// "a cancelled", "an ended": so messages read as sentences.
fn with_article(state: WorkoutState) -> &'static str {
    match state {
        WorkoutState::Scheduled => "a scheduled",
        WorkoutState::Live => "a live",
        WorkoutState::Ended => "an ended",
        WorkoutState::Cancelled => "a cancelled",
    }
}

fn registered_as(status: RegistrationStatus) -> &'static str {
    match status {
        RegistrationStatus::Booked => "booked for",
        RegistrationStatus::Waitlisted => "on the waitlist of",
        // Never raised (a cancelled registration does not block booking again), but total.
        RegistrationStatus::Cancelled => "cancelled from",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_code_and_a_readable_message() {
        let id = Uuid::nil();
        let cases = [
            (
                DomainError::NotYourWorkout,
                ErrorCode::Forbidden,
                "only the trainer of this workout may do this",
            ),
            (
                DomainError::InvalidState {
                    state: WorkoutState::Cancelled,
                    action: "start",
                },
                ErrorCode::InvalidState,
                "cannot start a cancelled workout",
            ),
            (
                DomainError::InvalidState {
                    state: WorkoutState::Ended,
                    action: "book",
                },
                ErrorCode::InvalidState,
                "cannot book an ended workout",
            ),
            (
                DomainError::TooEarly {
                    opens_at: DateTime::UNIX_EPOCH,
                },
                ErrorCode::TooEarly,
                "the workout can be started from 1970-01-01 00:00:00 UTC",
            ),
            (
                DomainError::InvalidSchedule("bad".into()),
                ErrorCode::ValidationFailed,
                "bad",
            ),
            (
                DomainError::Overlap { with: id },
                ErrorCode::ScheduleOverlap,
                "overlaps workout 00000000-0000-0000-0000-000000000000",
            ),
            (
                DomainError::AlreadyRegistered {
                    status: RegistrationStatus::Waitlisted,
                },
                ErrorCode::AlreadyRegistered,
                "already on the waitlist of this workout",
            ),
            (
                DomainError::NotRegistered,
                ErrorCode::NotFound,
                "no booking for this workout",
            ),
            (
                DomainError::NotBooked,
                ErrorCode::Forbidden,
                "only booked trainees can join",
            ),
            (
                DomainError::AlreadyInSession { workout_id: id },
                ErrorCode::AlreadyInSession,
                "already in the live session of workout 00000000-0000-0000-0000-000000000000",
            ),
        ];
        for (err, code, message) in cases {
            assert_eq!(
                WireError::from(err.clone()),
                WireError::new(code, message),
                "{err:?}"
            );
        }
    }
}
