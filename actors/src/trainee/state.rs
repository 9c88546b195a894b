//! [`TraineeState`]: the invariants a trainee holds across workouts. Capacity and waitlists are
//! each workout's business; what only the trainee can decide is that their bookings never overlap
//! and that they are live in at most one session.

use crate::error::DomainError;
use crate::schedule::{Slot, first_overlap};
use uuid::Uuid;

/// A trainee's current registrations and live session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraineeState {
    bookings: Vec<Slot>,
    live_in: Option<Uuid>,
}

impl TraineeState {
    /// From the trainee's booked or waitlisted registrations in scheduled or live workouts, and
    /// the workout they are live in, if any.
    pub fn new(bookings: Vec<Slot>, live_in: Option<Uuid>) -> Self {
        Self { bookings, live_in }
    }

    /// The workout the trainee is live in, if any.
    pub fn live_in(&self) -> Option<Uuid> {
        self.live_in
    }

    /// `Ok` if `candidate` overlaps none of the trainee's other registrations.
    pub fn check_can_book(&self, candidate: &Slot) -> Result<(), DomainError> {
        match first_overlap(&self.bookings, candidate) {
            Some(with) => Err(DomainError::Overlap { with }),
            None => Ok(()),
        }
    }

    /// `Ok` unless the trainee is live in another workout (rejoining the same one is fine).
    pub fn check_can_join(&self, workout_id: Uuid) -> Result<(), DomainError> {
        match self.live_in {
            Some(live) if live != workout_id => {
                Err(DomainError::AlreadyInSession { workout_id: live })
            }
            _ => Ok(()),
        }
    }

    /// Records a join; only a live session counts (a waiting room does not block another join).
    pub fn joined(&mut self, workout_id: Uuid, live: bool) {
        if live {
            self.live_in = Some(workout_id);
        }
    }

    /// Records leaving `workout_id`; leaving any other workout changes nothing.
    pub fn left(&mut self, workout_id: Uuid) {
        if self.live_in == Some(workout_id) {
            self.live_in = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeDelta};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn slot(n: u128, start_minute: i64, duration: u32) -> Slot {
        Slot::new(
            id(n),
            DateTime::UNIX_EPOCH + TimeDelta::minutes(start_minute),
            duration,
        )
    }

    #[test]
    fn bookings_may_touch_but_not_overlap() {
        let trainee = TraineeState::new(vec![slot(1, 60, 60)], None);
        assert_eq!(trainee.check_can_book(&slot(2, 0, 60)), Ok(()));
        assert_eq!(
            trainee.check_can_book(&slot(2, 90, 60)),
            Err(DomainError::Overlap { with: id(1) })
        );
        assert_eq!(
            trainee.check_can_book(&slot(1, 90, 60)),
            Ok(()),
            "same workout is ignored"
        );
    }

    #[test]
    fn live_in_one_session_blocks_joining_another() {
        let mut trainee = TraineeState::default();
        trainee.joined(id(1), true);
        assert_eq!(
            trainee.check_can_join(id(2)),
            Err(DomainError::AlreadyInSession { workout_id: id(1) })
        );
        assert_eq!(
            trainee.check_can_join(id(1)),
            Ok(()),
            "rejoining the same session"
        );

        trainee.left(id(2));
        assert_eq!(
            trainee.live_in(),
            Some(id(1)),
            "leaving another workout changes nothing"
        );
        trainee.left(id(1));
        assert_eq!(trainee.check_can_join(id(2)), Ok(()));
    }

    #[test]
    fn a_waiting_room_does_not_count_as_live() {
        let mut trainee = TraineeState::default();
        trainee.joined(id(1), false);
        assert_eq!(trainee.live_in(), None);
        assert_eq!(trainee.check_can_join(id(2)), Ok(()));
    }
}
