//! [`TrainerSchedule`]: the trainer's scheduled and live workouts, and the rule that a new or
//! moved workout must not overlap any of them.

use crate::error::DomainError;
use crate::schedule::{Slot, first_overlap};

/// The slots of a trainer's scheduled or live workouts (ended and cancelled ones no longer count).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrainerSchedule {
    slots: Vec<Slot>,
}

impl TrainerSchedule {
    /// A schedule from the trainer's scheduled or live workouts.
    pub fn new(slots: Vec<Slot>) -> Self {
        Self { slots }
    }

    /// `Ok` if `candidate` overlaps none of the trainer's other workouts.
    pub fn check_free(&self, candidate: &Slot) -> Result<(), DomainError> {
        match first_overlap(&self.slots, candidate) {
            Some(with) => Err(DomainError::Overlap { with }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeDelta};
    use uuid::Uuid;

    fn slot(id: u128, start_minute: i64, duration: u32) -> Slot {
        Slot::new(
            Uuid::from_u128(id),
            DateTime::UNIX_EPOCH + TimeDelta::minutes(start_minute),
            duration,
        )
    }

    #[test]
    fn back_to_back_is_free_and_partial_overlap_is_not() {
        let schedule = TrainerSchedule::new(vec![slot(1, 60, 60)]);
        assert_eq!(schedule.check_free(&slot(2, 120, 45)), Ok(()));
        assert_eq!(
            schedule.check_free(&slot(2, 100, 45)),
            Err(DomainError::Overlap {
                with: Uuid::from_u128(1)
            })
        );
    }

    #[test]
    fn rescheduling_a_workout_does_not_overlap_itself() {
        let schedule = TrainerSchedule::new(vec![slot(1, 60, 60)]);
        assert_eq!(schedule.check_free(&slot(1, 90, 60)), Ok(()));
    }
}
