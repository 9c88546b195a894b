//! [`LiveState`]: what an api node knows about one live workout, folded from the messages on its
//! live subject: lifecycle changes, and the newest complete tick (put together and named by a
//! [`LiveReader`](super::reader::LiveReader)). The hub keeps only the newest state per workout; each
//! client derives its own events from it (see [`super::view`]), so a slow client skips frames but
//! never a lifecycle change.

use super::reader::Update;
use bus_contracts::v1::LiveMessage;
use bus_contracts::v1::frames::Standings;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use std::sync::{Arc, OnceLock};

/// The newest tick's top as every viewer outside it sees it, encoded by the first client that
/// needs it (see `view::Top`); `None` inside if it could not be encoded.
pub type SharedTop = Arc<OnceLock<Option<Arc<RawValue>>>>;

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
    /// Its top, encoded once for all clients (a new one with every tick).
    pub shared_top: SharedTop,
}

impl LiveState {
    /// Folds one update in; returns whether anything changed.
    pub fn apply(&mut self, update: Update) -> bool {
        let epoch = match &update {
            Update::Tick(standings) => standings.epoch,
            // Parts of ticks reach readers as `Update::Tick`, whole and named.
            Update::Lifecycle(LiveMessage::Frame(_) | LiveMessage::NamedFrame(_)) => return false,
            Update::Lifecycle(message) => message.epoch(),
        };
        if epoch < self.epoch {
            return false; // a previous owner's late message, after a failover
        }
        self.epoch = epoch;
        match update {
            Update::Tick(standings) if self.is_newer(&standings) => {
                self.frame = Some(Arc::new(standings));
                self.shared_top = SharedTop::default();
            }
            Update::Tick(_) => return false,
            Update::Lifecycle(message) => match message {
                LiveMessage::Waiting {
                    participants_waiting,
                    starts_at,
                    ..
                } => self.waiting = Some((participants_waiting, starts_at)),
                LiveMessage::Started { at, .. } => self.started = Some(at),
                LiveMessage::Ended { at, .. } => self.ended = Some(at),
                LiveMessage::Cancelled { reason, .. } => self.cancelled = Some(reason),
                LiveMessage::Rescheduled { starts_at, .. } => self.rescheduled = Some(starts_at),
                LiveMessage::Frame(_) | LiveMessage::NamedFrame(_) => return false,
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
pub(crate) mod tests {
    use super::*;
    use bus_contracts::v1::frames::{Ranked, Tick};
    use bus_contracts::v1::roster::{Roster, page};
    use bus_contracts::v1::{Placed, RosterEntry, SampleCounts};
    use uuid::Uuid;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + s, 0).unwrap_or_default()
    }

    /// A named tick of `epoch`: `users` (as `Uuid::from_u128`) best first, user `n` with
    /// `1 000 - n` points and `name(n)`.
    pub(crate) fn named_tick(
        epoch: u64,
        tick: u64,
        users: &[u128],
        name: impl Fn(u128) -> Option<String>,
    ) -> Standings {
        let board = Uuid::from_u128(u128::from(epoch));
        let mut roster = Roster::new(board);
        let count = users.len() as u32;
        let entry = |slot: u32| {
            let user = users[slot as usize];
            RosterEntry(Uuid::from_u128(user), name(user))
        };
        while let Some(from) = roster.wants(board, count, count) {
            assert!(roster.add(page(board, from, count, count, entry)));
        }
        // Slots in the order given, ranked the same way.
        let entries = (0..count)
            .map(|slot| Placed(slot, 1_000 - users[slot as usize] as i64, 50))
            .collect();
        let ranked = Ranked {
            tick: Tick {
                epoch,
                board,
                tick,
                at: at(0),
                samples: SampleCounts::default(),
            },
            participants: count,
            named: count,
            entries,
        };
        Standings::new(ranked, Arc::new(roster))
    }

    fn tick(epoch: u64, tick: u64) -> Update {
        Update::Tick(named_tick(epoch, tick, &[1, 2, 3], |_| None))
    }

    #[test]
    fn a_named_tick_is_kept_and_older_ticks_are_not() {
        let mut state = LiveState::default();
        assert!(state.apply(tick(1, 2)));
        let frame = state.frame.clone().unwrap_or_else(|| panic!("no frame"));
        let order: Vec<u128> = frame.iter().map(|e| e.user.as_u128()).collect();
        assert_eq!(order, vec![1, 2, 3]);
        assert_eq!(frame.position(Uuid::from_u128(3)), Some(2));
        assert!(!state.apply(tick(1, 1)), "an older tick");
        assert!(!state.apply(tick(1, 2)), "the same tick again");
        assert_eq!(state.frame.as_ref().map(|f| f.tick), Some(2));
    }

    #[test]
    fn messages_from_a_previous_owner_are_ignored() {
        let mut state = LiveState::default();
        assert!(state.apply(tick(2, 5)));
        assert!(!state.apply(tick(1, 9)));
        assert!(!state.apply(Update::Lifecycle(LiveMessage::Ended {
            epoch: 1,
            at: at(1)
        })));
        assert!(state.ended.is_none());
        assert_eq!(
            state.frame.as_ref().map(|f| (f.epoch, f.tick)),
            Some((2, 5))
        );
        // The new owner's ticks start again from 1.
        assert!(state.apply(tick(3, 1)));
        assert_eq!(
            state.frame.as_ref().map(|f| (f.epoch, f.tick)),
            Some((3, 1))
        );
    }

    #[test]
    fn lifecycle_messages_are_kept() {
        let mut state = LiveState::default();
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
            assert!(state.apply(Update::Lifecycle(message)));
        }
        assert_eq!(state.waiting, Some((4, at(60))));
        assert_eq!(state.rescheduled, Some(at(120)));
        assert_eq!((state.started, state.ended), (Some(at(118)), Some(at(900))));
    }
}
