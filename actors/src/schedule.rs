//! Time slots and the overlap rule shared by trainers (no two sessions at once) and trainees (no
//! two bookings at once).
//!
//! A slot is the half-open interval `[starts_at, ends_at)`, so a workout ending at 10:00 and one
//! starting at 10:00 do not overlap.

use crate::error::DomainError;
use chrono::{DateTime, TimeDelta, Utc};
use std::ops::RangeInclusive;
use uuid::Uuid;

/// Allowed workout durations, in minutes.
pub const DURATION_MINUTES: RangeInclusive<u32> = 5..=240;

/// The time a workout occupies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The workout occupying the slot.
    pub workout_id: Uuid,
    /// First instant of the slot.
    pub starts_at: DateTime<Utc>,
    /// First instant after the slot.
    pub ends_at: DateTime<Utc>,
}

impl Slot {
    /// The slot of a workout starting at `starts_at` and lasting `duration_minutes`.
    pub fn new(workout_id: Uuid, starts_at: DateTime<Utc>, duration_minutes: u32) -> Self {
        let duration = TimeDelta::minutes(i64::from(duration_minutes));
        Self {
            workout_id,
            starts_at,
            ends_at: saturating_add(starts_at, duration),
        }
    }

    /// Whether the two slots share at least one instant.
    pub fn overlaps(&self, other: &Slot) -> bool {
        self.starts_at < other.ends_at && other.starts_at < self.ends_at
    }
}

/// The first of `slots` that overlaps `candidate`, ignoring the candidate's own workout (so
/// rescheduling a workout never collides with its old time).
pub fn first_overlap<'a>(
    slots: impl IntoIterator<Item = &'a Slot>,
    candidate: &Slot,
) -> Option<Uuid> {
    slots
        .into_iter()
        .find(|slot| slot.workout_id != candidate.workout_id && slot.overlaps(candidate))
        .map(|slot| slot.workout_id)
}

/// Checks a new or changed schedule: it must start after `now` and last an allowed duration.
pub fn check_schedule(
    starts_at: DateTime<Utc>,
    duration_minutes: u32,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    if starts_at <= now {
        return Err(DomainError::InvalidSchedule(
            "the start time must be in the future".into(),
        ));
    }
    if !DURATION_MINUTES.contains(&duration_minutes) {
        return Err(DomainError::InvalidSchedule(format!(
            "the duration must be {} to {} minutes",
            DURATION_MINUTES.start(),
            DURATION_MINUTES.end()
        )));
    }
    Ok(())
}

/// `at + by`, clamped to the representable range: `+` on `DateTime` panics on overflow, and
/// handlers must never panic, whatever a stored row holds.
pub(crate) fn saturating_add(at: DateTime<Utc>, by: TimeDelta) -> DateTime<Utc> {
    at.checked_add_signed(by)
        .unwrap_or(if by < TimeDelta::zero() {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::minutes(minute)
    }

    fn slot(id: u128, start_minute: i64, duration: u32) -> Slot {
        Slot::new(Uuid::from_u128(id), at(start_minute), duration)
    }

    #[test]
    fn overlap_is_half_open_and_ignores_the_same_workout() {
        // Existing: workout 1 from minute 60 to 120.
        let existing = [slot(1, 60, 60)];
        let cases = [
            ("back to back before", slot(2, 0, 60), None),
            ("back to back after", slot(2, 120, 30), None),
            ("overlaps the start", slot(2, 30, 31), Some(1)),
            ("overlaps the end", slot(2, 119, 30), Some(1)),
            ("inside", slot(2, 70, 10), Some(1)),
            ("around", slot(2, 0, 240), Some(1)),
            ("same workout moved", slot(1, 90, 60), None),
        ];
        for (name, candidate, expected) in cases {
            assert_eq!(
                first_overlap(&existing, &candidate),
                expected.map(Uuid::from_u128),
                "{name}"
            );
        }
    }

    #[test]
    fn schedule_needs_a_future_start_and_a_sane_duration() {
        let now = at(100);
        let cases = [
            (at(101), 5, true),
            (at(101), 240, true),
            (at(100), 30, false),
            (at(99), 30, false),
            (at(101), 4, false),
            (at(101), 241, false),
        ];
        for (starts_at, duration, ok) in cases {
            let result = check_schedule(starts_at, duration, now);
            assert_eq!(result.is_ok(), ok, "{starts_at} {duration}: {result:?}");
        }
    }

    #[test]
    fn slot_end_saturates_instead_of_panicking() {
        let slot = Slot::new(Uuid::nil(), DateTime::<Utc>::MAX_UTC, 60);
        assert_eq!(slot.ends_at, DateTime::<Utc>::MAX_UTC);
    }
}
