//! [`LiveState`]: what an api node knows about one live workout, folded from the messages on its
//! live subject: lifecycle changes, and the newest complete tick (its parts put together by
//! [`Assembler`], which sits beside the workers' split in `bus-contracts`). The hub keeps only the
//! newest state per workout; each client derives its own events from it (see [`super::view`]),
//! so a slow client skips frames but never a lifecycle change.

use bus_contracts::v1::LiveMessage;
use bus_contracts::v1::frames::{Assembler, Standings};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The newest known state of a workout's live session.
#[derive(Clone, Debug, Default)]
pub struct LiveState {
    /// Highest owner epoch seen; messages from older epochs are ignored.
    pub epoch: u64,
    /// Waiting room: how many, and the planned start.
    pub waiting: Option<(u32, DateTime<Utc>)>,
    /// Newest planned start announced by a reschedule.
    pub rescheduled: Option<DateTime<Utc>>,
    /// When it went live.
    pub started: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended: Option<DateTime<Utc>>,
    /// Called off (with the reason, if any).
    pub cancelled: Option<Option<String>>,
    /// The newest complete tick.
    pub frame: Option<Arc<Standings>>,
}

impl LiveState {
    /// Folds one message in; returns whether anything changed. `assembler` collects frame parts.
    pub fn apply(&mut self, message: LiveMessage, assembler: &mut Assembler) -> bool {
        let epoch = match &message {
            LiveMessage::Waiting { epoch, .. }
            | LiveMessage::Started { epoch, .. }
            | LiveMessage::Ended { epoch, .. }
            | LiveMessage::Cancelled { epoch, .. }
            | LiveMessage::Rescheduled { epoch, .. } => *epoch,
            LiveMessage::Frame(frame) => frame.epoch,
        };
        if epoch < self.epoch {
            return false; // a previous owner's late message, after a failover
        }
        self.epoch = epoch;
        match message {
            LiveMessage::Waiting {
                participants_waiting,
                starts_at,
                ..
            } => self.waiting = Some((participants_waiting, starts_at)),
            LiveMessage::Started { at, .. } => self.started = Some(at),
            LiveMessage::Ended { at, .. } => self.ended = Some(at),
            LiveMessage::Cancelled { reason, .. } => self.cancelled = Some(reason),
            LiveMessage::Rescheduled { starts_at, .. } => self.rescheduled = Some(starts_at),
            LiveMessage::Frame(frame) => match assembler.add(frame) {
                Some(standings) if self.is_newer(&standings) => {
                    self.frame = Some(Arc::new(standings));
                }
                _ => return false,
            },
        }
        true
    }

    fn is_newer(&self, standings: &Standings) -> bool {
        self.frame
            .as_ref()
            .is_none_or(|f| (standings.epoch, standings.tick) > (f.epoch, f.tick))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus_contracts::v1::{Frame, SampleCounts, Standing};
    use uuid::Uuid;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + s, 0).unwrap_or_default()
    }

    fn part(epoch: u64, tick: u64, part: u32, parts: u32, users: &[u128]) -> LiveMessage {
        LiveMessage::Frame(Frame {
            epoch,
            tick,
            at: at(0),
            participants: 3,
            samples: SampleCounts::default(),
            part,
            parts,
            offset: part * 2,
            standings: users
                .iter()
                .map(|&u| Standing(Uuid::from_u128(u), 10, 50, None))
                .collect(),
        })
    }

    #[test]
    fn a_tick_is_published_once_all_its_parts_are_in() {
        let (mut state, mut asm) = (LiveState::default(), Assembler::default());
        assert!(!state.apply(part(1, 1, 1, 2, &[3]), &mut asm));
        assert!(state.frame.is_none());
        assert!(state.apply(part(1, 1, 0, 2, &[1, 2]), &mut asm));
        let frame = state.frame.clone().unwrap_or_else(|| panic!("no frame"));
        let order: Vec<u128> = frame.entries.iter().map(|s| s.0.as_u128()).collect();
        assert_eq!(order, vec![1, 2, 3]);
        assert_eq!(frame.index.get(&Uuid::from_u128(3)), Some(&2));
    }

    #[test]
    fn an_incomplete_tick_is_dropped_when_the_next_begins() {
        let (mut state, mut asm) = (LiveState::default(), Assembler::default());
        state.apply(part(1, 1, 0, 2, &[1, 2]), &mut asm);
        assert!(state.apply(part(1, 2, 0, 1, &[2, 1]), &mut asm));
        assert_eq!(state.frame.as_ref().map(|f| f.tick), Some(2));
        // The late second part of tick 1 starts a new (never completed) tick, and changes nothing.
        assert!(!state.apply(part(1, 1, 1, 2, &[3]), &mut asm));
        assert_eq!(state.frame.as_ref().map(|f| f.tick), Some(2));
    }

    #[test]
    fn messages_from_a_previous_owner_are_ignored() {
        let (mut state, mut asm) = (LiveState::default(), Assembler::default());
        assert!(state.apply(part(2, 5, 0, 1, &[1]), &mut asm));
        assert!(!state.apply(part(1, 9, 0, 1, &[1]), &mut asm));
        assert!(!state.apply(
            LiveMessage::Ended {
                epoch: 1,
                at: at(1)
            },
            &mut asm
        ));
        assert!(state.ended.is_none());
        assert_eq!(
            state.frame.as_ref().map(|f| (f.epoch, f.tick)),
            Some((2, 5))
        );
        // The new owner's ticks start again from 1.
        assert!(state.apply(part(3, 1, 0, 1, &[1]), &mut asm));
        assert_eq!(
            state.frame.as_ref().map(|f| (f.epoch, f.tick)),
            Some((3, 1))
        );
    }

    #[test]
    fn lifecycle_messages_are_kept() {
        let (mut state, mut asm) = (LiveState::default(), Assembler::default());
        let messages = [
            LiveMessage::Waiting {
                epoch: 1,
                participants_waiting: 4,
                starts_at: at(60),
            },
            LiveMessage::Rescheduled {
                epoch: 1,
                starts_at: at(120),
            },
            LiveMessage::Started {
                epoch: 1,
                at: at(118),
            },
            LiveMessage::Ended {
                epoch: 1,
                at: at(900),
            },
        ];
        for message in messages {
            assert!(state.apply(message, &mut asm));
        }
        assert_eq!(state.waiting, Some((4, at(60))));
        assert_eq!(state.rescheduled, Some(at(120)));
        assert_eq!((state.started, state.ended), (Some(at(118)), Some(at(900))));
    }
}
