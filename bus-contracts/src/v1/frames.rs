//! A tick's standings as [`Frame`]s on the live subject, and back: [`split`] is what the
//! workout's owner publishes (in `cultfit-actors`), [`Assembler`] is how every reader (api nodes,
//! the simulator) puts a tick together again, and [`Standings`] joins the assembled tick with the
//! reader's [`Roster`] (who holds each slot).
//!
//! The two sit side by side because each is only correct against the other: the [`Assembler`]
//! completes a tick only from parts shaped as [`split`] makes them (one header on every part, at
//! most [`MAX_PARTS`] of them, consecutive offsets), and the property tests below hold the pair,
//! with the roster's pages, to a lossless round trip. Pure data: no NATS, no clock, no runtime.
//! [`Frame`] is the v1 wire type; [`Tick`], [`Ranked`] and [`Standings`] never cross the wire.
//! What a reader does with a complete tick (drop an older epoch's, keep the newest) is the
//! reader's: the api's `LiveState`.

use super::roster::Roster;
use super::{Frame, Placed, SampleCounts};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

/// Most parts in one tick. A reader keeps no more than this many slots for a tick (a `parts` from
/// the wire must not size its allocation), so [`split`] never makes more: past
/// `MAX_PARTS × Frame::MAX_STANDINGS` participants (5 million) its parts grow instead.
pub const MAX_PARTS: u32 = 1_000;

/// What every part of one tick shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    /// The owner's lease epoch.
    pub epoch: u64,
    /// The live board ranked (see [`Frame::board`]).
    pub board: Uuid,
    /// The tick number.
    pub tick: u64,
    /// When the ranking was taken.
    pub at: DateTime<Utc>,
    /// Samples counted so far.
    pub samples: SampleCounts,
}

/// A complete tick as it came off the wire: every part put together, places naming slots.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranked {
    /// The tick's header.
    pub tick: Tick,
    /// Everyone ranked (board slots `0..participants`).
    pub participants: u32,
    /// Slots below this have their names settled in the roster.
    pub named: u32,
    /// Everyone, best first.
    pub entries: Vec<Placed>,
}

/// One place of a tick, resolved through the roster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The trainee.
    pub user: Uuid,
    /// Cumulative energy points, rounded down.
    pub energy: i64,
    /// Latest rating, 0..=100.
    pub rating: u8,
    /// Display name; `None` when hidden (or not known yet).
    pub name: Option<&'a str>,
}

/// A complete tick with the roster that names its slots: what readers slice each client's view
/// from (top N, their own place, the neighbours around it).
#[derive(Debug, PartialEq)]
pub struct Standings {
    /// Owner's lease epoch.
    pub epoch: u64,
    /// Tick number within the epoch.
    pub tick: u64,
    /// When the ranking was taken.
    pub at: DateTime<Utc>,
    /// Everyone ranked.
    pub participants: u32,
    /// Samples counted by the owner so far.
    pub samples: SampleCounts,
    entries: Vec<Placed>,
    /// Where each slot is in `entries`.
    places: Vec<u32>,
    roster: Arc<Roster>,
}

impl Standings {
    /// A tick's standings, named by `roster` (which should cover it: see [`Roster::wants`];
    /// places whose slot it does not know are left out).
    pub fn new(ranked: Ranked, roster: Arc<Roster>) -> Self {
        let Ranked {
            tick,
            participants,
            mut entries,
            ..
        } = ranked;
        entries.retain(|p| (p.0 as usize) < roster.len());
        let mut places = vec![u32::MAX; roster.len()];
        for (i, placed) in entries.iter().enumerate() {
            places[placed.0 as usize] = i as u32;
        }
        Standings {
            epoch: tick.epoch,
            tick: tick.tick,
            at: tick.at,
            participants,
            samples: tick.samples,
            entries,
            places,
            roster,
        }
    }

    /// Places in this tick.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nobody is ranked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The place at `index` (0 is the top).
    pub fn get(&self, index: usize) -> Option<Entry<'_>> {
        let Placed(slot, energy, rating) = *self.entries.get(index)?;
        let (user, name) = self.roster.holder(slot)?;
        Some(Entry {
            user,
            energy,
            rating,
            name,
        })
    }

    /// Every place, best first.
    pub fn iter(&self) -> impl Iterator<Item = Entry<'_>> {
        (0..self.entries.len()).filter_map(|i| self.get(i))
    }

    /// Where `user` is (an index for [`Standings::get`]).
    pub fn position(&self, user: Uuid) -> Option<usize> {
        let slot = self.roster.slot(user)?;
        let place = *self.places.get(slot as usize)?;
        (place != u32::MAX).then_some(place as usize)
    }
}

/// How `count` standings are cut: (standings per part, parts). At least one part, so an empty
/// board still publishes its tick.
fn shape(count: usize, max_per_part: usize) -> (usize, usize) {
    let per_part = max_per_part.max(count.div_ceil(MAX_PARTS as usize)).max(1);
    (per_part, count.div_ceil(per_part).max(1))
}

/// The parts of one tick, in rank order: `standings` (best first) cut into consecutive runs of at
/// most `max_per_part` (the owner passes [`Frame::MAX_STANDINGS`]), each carrying the tick's
/// header, how many slots have their names settled (`named`), its index, the number of parts and
/// its offset.
pub fn split<I>(tick: Tick, named: u32, standings: I, max_per_part: usize) -> Vec<Frame>
where
    I: IntoIterator<Item = Placed>,
    I::IntoIter: ExactSizeIterator,
{
    let mut standings = standings.into_iter();
    let count = standings.len();
    let (per_part, parts) = shape(count, max_per_part);
    let participants = u32::try_from(count).unwrap_or(u32::MAX);
    let total = u32::try_from(parts).unwrap_or(u32::MAX);
    (0..parts)
        .map(|part| Frame {
            epoch: tick.epoch,
            board: tick.board,
            tick: tick.tick,
            at: tick.at,
            participants,
            named,
            samples: tick.samples,
            part: u32::try_from(part).unwrap_or(u32::MAX),
            parts: total,
            offset: u32::try_from(part.saturating_mul(per_part)).unwrap_or(u32::MAX),
            standings: standings.by_ref().take(per_part).collect(),
        })
        .collect()
}

/// Puts ticks together from their parts. A tick is complete once each of its parts has arrived,
/// in any order, repeats included. A part of another tick (or announcing another number of parts)
/// drops the incomplete one: the owner sends a tick's parts back to back, so an interrupted tick
/// is lost, never mixed with the next.
#[derive(Debug, Default)]
pub struct Assembler {
    /// (epoch, tick, its parts so far).
    pending: Option<(u64, u64, Vec<Option<Frame>>)>,
}

impl Assembler {
    /// Adds a part; returns the tick once all of its parts are in.
    pub fn add(&mut self, frame: Frame) -> Option<Ranked> {
        let parts = frame.parts.clamp(1, MAX_PARTS) as usize;
        let key = (frame.epoch, frame.tick);
        let fresh = !matches!(&self.pending, Some((e, t, slots)) if (*e, *t) == key && slots.len() == parts);
        if fresh {
            self.pending = Some((frame.epoch, frame.tick, vec![None; parts]));
        }
        let (_, _, slots) = self.pending.as_mut()?;
        let slot = slots.get_mut(frame.part as usize)?;
        *slot = Some(frame);
        if slots.iter().any(Option::is_none) {
            return None;
        }
        let (epoch, tick, slots) = self.pending.take()?;
        let mut frames: Vec<Frame> = slots.into_iter().flatten().collect();
        frames.sort_by_key(|f| f.offset);
        let first = frames.first()?;
        let (board, at, participants, named, samples) = (
            first.board,
            first.at,
            first.participants,
            first.named,
            first.samples,
        );
        let entries = frames.into_iter().flat_map(|f| f.standings).collect();
        let tick = Tick {
            epoch,
            board,
            tick,
            at,
            samples,
        };
        Some(Ranked {
            tick,
            participants,
            named,
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::roster::page;
    use crate::v1::{LiveMessage, RosterEntry, live_codec};
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn header() -> Tick {
        Tick {
            epoch: 7,
            board: Uuid::from_u128(70),
            tick: 3,
            at: DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_default(),
            samples: SampleCounts {
                accepted: 2,
                rejected: 1,
            },
        }
    }

    fn board(n: usize) -> Vec<Placed> {
        (0..n as u32).map(|slot| Placed(slot, 1_000, 50)).collect()
    }

    fn ranked(tick: Tick, named: u32, entries: Vec<Placed>) -> Ranked {
        Ranked {
            tick,
            participants: entries.len() as u32,
            named,
            entries,
        }
    }

    #[test]
    fn large_ticks_are_split_into_parts_with_offsets() {
        let max = Frame::MAX_STANDINGS;
        let frames = split(header(), 5, board(max * 2 + 1), max);
        let shape: Vec<(u32, u32, u32, usize)> = frames
            .iter()
            .map(|f| (f.part, f.parts, f.offset, f.standings.len()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (0, 3, 0, max),
                (1, 3, max as u32, max),
                (2, 3, 2 * max as u32, 1)
            ]
        );
        assert!(
            frames
                .iter()
                .all(|f| (f.participants, f.named) == (2 * max as u32 + 1, 5))
        );
    }

    #[test]
    fn an_empty_board_still_makes_one_part() {
        let frames = split(header(), 0, [], Frame::MAX_STANDINGS);
        assert_eq!(frames.len(), 1);
        assert_eq!((frames[0].parts, frames[0].participants), (1, 0));
        assert!(frames[0].standings.is_empty());
    }

    #[test]
    fn past_the_most_parts_the_parts_grow() {
        let frames = split(header(), 0, board(MAX_PARTS as usize * 3), 1);
        assert_eq!(frames.len(), MAX_PARTS as usize);
        assert!(frames.iter().all(|f| f.standings.len() == 3));
    }

    #[test]
    fn places_the_roster_does_not_know_are_left_out() {
        let mut roster = Roster::new(header().board);
        let entry = |slot: u32| RosterEntry(Uuid::from_u128(u128::from(slot)), None);
        assert!(roster.add(page(header().board, 0, 2, 2, entry)));
        let tick = ranked(
            header(),
            2,
            vec![Placed(2, 9, 1), Placed(0, 5, 1), Placed(1, 0, 0)],
        );
        let standings = Standings::new(tick, Arc::new(roster));
        let users: Vec<u128> = standings.iter().map(|e| e.user.as_u128()).collect();
        assert_eq!(users, vec![0, 1]);
        assert_eq!(standings.position(Uuid::from_u128(1)), Some(1));
        assert_eq!(standings.position(Uuid::from_u128(2)), None);
    }

    fn tick() -> impl Strategy<Value = Tick> {
        (
            (any::<u64>(), any::<u128>()),
            any::<u64>(),
            0i64..4_102_444_800,
            any::<(u64, u64)>(),
        )
            .prop_map(|((epoch, board), tick, secs, (accepted, rejected))| Tick {
                epoch,
                board: Uuid::from_u128(board),
                tick,
                at: DateTime::from_timestamp(secs, 0).unwrap_or_default(),
                samples: SampleCounts { accepted, rejected },
            })
    }

    fn placed() -> impl Strategy<Value = Vec<Placed>> {
        vec(
            (any::<u32>(), any::<i64>(), any::<u8>()).prop_map(|(s, e, r)| Placed(s, e, r)),
            0..5_000,
        )
    }

    /// Part sizes from tiny (many parts, up to past [`MAX_PARTS`]) to bigger than any board.
    fn max_per_part() -> impl Strategy<Value = usize> {
        prop_oneof![1..=8usize, 1..=600usize, 1..=6_000usize]
    }

    /// A tick, its places, the part size, and the order its parts arrive in: every part once,
    /// up to 8 of them again, shuffled.
    fn delivery() -> impl Strategy<Value = (Tick, Vec<Placed>, usize, Vec<usize>)> {
        (tick(), placed(), max_per_part()).prop_flat_map(|(tick, entries, max)| {
            let (_, parts) = shape(entries.len(), max);
            (vec(0..parts, 0..=8), Just((tick, entries, max))).prop_flat_map(
                move |(repeats, (tick, entries, max))| {
                    let order: Vec<usize> = (0..parts).chain(repeats).collect();
                    (
                        Just(tick),
                        Just(entries),
                        Just(max),
                        Just(order).prop_shuffle(),
                    )
                },
            )
        })
    }

    /// The parts as a reader receives them: each encoded for the live subject and decoded again.
    fn over_the_wire(frames: Vec<Frame>) -> Vec<Frame> {
        frames
            .into_iter()
            .filter_map(|frame| {
                match live_codec::decode(&live_codec::encode_frame(&frame)).ok()? {
                    LiveMessage::Frame(frame) => Some(frame),
                    _ => None,
                }
            })
            .collect()
    }

    /// A board as its owner holds it: who holds each slot, with what, and a ranking (a
    /// permutation of the slots, best first).
    #[allow(clippy::type_complexity)]
    fn owned_board() -> impl Strategy<Value = (Vec<(u128, i64, u8, Option<String>)>, Vec<u32>)> {
        let name = proptest::option::of(any::<u16>().prop_map(|n| format!("T{n} ✓")));
        vec((any::<u128>(), any::<i64>(), any::<u8>(), name), 0..8_000).prop_flat_map(|slots| {
            let order: Vec<u32> = (0..slots.len() as u32).collect();
            (Just(slots), Just(order).prop_shuffle())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn parts_in_order_make_the_very_same_tick(
            tick in tick(),
            entries in placed(),
            max in max_per_part(),
            named in any::<u32>(),
        ) {
            let count = entries.len();
            let expected = ranked(tick, named, entries.clone());
            let frames = over_the_wire(split(tick, named, entries, max));
            prop_assert!(!frames.is_empty() && frames.len() <= MAX_PARTS as usize);
            let (per_part, _) = shape(count, max);
            prop_assert!(count > max * MAX_PARTS as usize || per_part == max.max(1));
            let mut offset = 0;
            for (i, frame) in frames.iter().enumerate() {
                prop_assert_eq!((frame.part as usize, frame.parts as usize), (i, frames.len()));
                prop_assert_eq!(frame.offset as usize, offset);
                prop_assert!(frame.standings.len() <= per_part);
                offset += frame.standings.len();
            }
            let last = frames.len() - 1;
            let mut assembler = Assembler::default();
            for (i, frame) in frames.into_iter().enumerate() {
                let assembled = assembler.add(frame);
                if i < last {
                    prop_assert!(assembled.is_none(), "complete after part {} of {}", i, last);
                } else {
                    prop_assert_eq!(assembled.as_ref(), Some(&expected));
                }
            }
        }

        #[test]
        fn parts_shuffled_and_repeated_make_the_very_same_tick(
            (tick, entries, max, order) in delivery(),
        ) {
            let expected = ranked(tick, 0, entries.clone());
            let frames = over_the_wire(split(tick, 0, entries, max));
            let mut assembler = Assembler::default();
            let mut seen = vec![false; frames.len()];
            let mut complete = false;
            for part in order {
                seen[part] = true;
                let assembled = assembler.add(frames[part].clone());
                let all_in = seen.iter().all(|&s| s);
                if !complete && all_in {
                    // The first time every part has been in: the tick, exactly.
                    prop_assert_eq!(assembled.as_ref(), Some(&expected));
                    complete = true;
                } else if let Some(assembled) = assembled {
                    // A whole tick delivered again comes out again, the same (readers skip it).
                    prop_assert!(complete);
                    prop_assert_eq!(&assembled, &expected);
                }
            }
            prop_assert!(complete);
        }

        #[test]
        fn an_interrupted_tick_is_dropped_and_the_next_comes_out_whole(
            (tick, entries, max, order) in delivery(),
            next_entries in placed(),
            cut in any::<proptest::sample::Index>(),
        ) {
            let frames = split(tick, 0, entries, max);
            let next = Tick { tick: tick.tick.wrapping_add(1), ..tick };
            let expected = ranked(next, 0, next_entries.clone());
            // Some parts of the first tick, never all of them, then the whole of the next.
            let mut partial: Vec<usize> = Vec::new();
            for part in order {
                if !partial.contains(&part) && partial.len() + 1 < frames.len() {
                    partial.push(part);
                }
            }
            partial.truncate(cut.index(partial.len() + 1));
            let mut assembler = Assembler::default();
            for part in partial {
                prop_assert!(assembler.add(frames[part].clone()).is_none());
            }
            let mut assembled = None;
            for frame in split(next, 0, next_entries, max) {
                prop_assert!(assembled.is_none());
                assembled = assembler.add(frame);
            }
            prop_assert_eq!(assembled.as_ref(), Some(&expected));
        }

        /// The whole trip: the owner's board published as slot-naming parts plus roster pages,
        /// the reader's assembled tick named through its roster, shows every trainee at their
        /// place with their energy, rating and name, and finds each of them.
        #[test]
        fn a_board_reaches_readers_named_and_in_order(
            tick in tick(),
            (slots, order) in owned_board(),
            max in max_per_part(),
        ) {
            let participants = slots.len() as u32;
            let placed = order.iter().map(|&slot| {
                let (_, energy, rating, _) = &slots[slot as usize];
                Placed(slot, *energy, *rating)
            });
            let frames = over_the_wire(split(tick, participants, placed, max));
            let mut assembler = Assembler::default();
            let ranked = frames.into_iter().filter_map(|f| assembler.add(f)).last();
            let ranked = ranked.ok_or_else(|| TestCaseError::fail("no tick"))?;
            let mut roster = Roster::new(ranked.tick.board);
            let mut pages = 0;
            while let Some(from) = roster.wants(ranked.tick.board, ranked.participants, ranked.named) {
                let answer = page(tick.board, from, participants, participants, |slot| {
                    let (user, _, _, name) = &slots[slot as usize];
                    RosterEntry(Uuid::from_u128(*user), name.clone())
                });
                prop_assert!(roster.add(answer));
                pages += 1;
                prop_assert!(pages <= 3, "a roster of {} took {} pages", participants, pages);
            }
            let standings = Standings::new(ranked, Arc::new(roster));
            prop_assert_eq!(standings.len(), slots.len());
            for (index, &slot) in order.iter().enumerate() {
                let (user, energy, rating, name) = &slots[slot as usize];
                let user = Uuid::from_u128(*user);
                let expected = Entry { user, energy: *energy, rating: *rating, name: name.as_deref() };
                prop_assert_eq!(standings.get(index), Some(expected));
                // Ids drawn twice name the later slot: find by position only where unique.
                if slots.iter().filter(|s| Uuid::from_u128(s.0) == user).count() == 1 {
                    prop_assert_eq!(standings.position(user), Some(index));
                }
            }
        }

        #[test]
        fn no_part_makes_the_assembler_panic(
            frames in vec((
                0u64..3,
                0u64..3,
                prop_oneof![0u32..6, Just(u32::MAX)],
                prop_oneof![0u32..5, Just(u32::MAX)],
                any::<u32>(),
            ), 0..32),
        ) {
            let mut assembler = Assembler::default();
            for (epoch, tick, part, parts, offset) in frames {
                let frame = Frame {
                    epoch,
                    board: header().board,
                    tick,
                    at: header().at,
                    participants: 2,
                    named: 2,
                    samples: SampleCounts::default(),
                    part,
                    parts,
                    offset,
                    standings: board(2),
                };
                let _ = assembler.add(frame);
            }
        }

        #[test]
        fn no_tick_or_roster_makes_standings_panic(
            entries in placed(),
            known in 0u32..300,
        ) {
            let board = header().board;
            let mut roster = Roster::new(board);
            let entry = |slot: u32| RosterEntry(Uuid::from_u128(u128::from(slot)), None);
            while let Some(from) = roster.wants(board, known, 0) {
                prop_assert!(roster.add(page(board, from, known, 0, entry)));
            }
            let standings = Standings::new(ranked(header(), 0, entries), Arc::new(roster));
            let shown = standings.iter().count();
            prop_assert_eq!(shown, standings.len());
            for user in 0..known {
                let _ = standings.position(Uuid::from_u128(u128::from(user)));
            }
        }
    }
}
