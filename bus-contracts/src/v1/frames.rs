//! A tick's standings as [`Frame`]s on the live subject, and back: [`split`] is what the
//! workout's owner publishes (in `cultfit-actors`), [`Assembler`] is how every reader (api nodes,
//! the simulator) puts a tick together again.
//!
//! The two sit side by side because each is only correct against the other: the [`Assembler`]
//! completes a tick only from parts shaped as [`split`] makes them (one header on every part, at
//! most [`MAX_PARTS`] of them, consecutive offsets), and the property tests below hold the pair to
//! a lossless round trip. Pure data: no NATS, no clock, no runtime. [`Frame`] is the v1 wire type;
//! [`Tick`] and [`Standings`] never cross the wire. What a reader does with a complete tick (drop
//! an older epoch's, keep the newest) is the reader's: the api's `LiveState`.

use super::{Frame, SampleCounts, Standing};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
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
    /// The tick number.
    pub tick: u64,
    /// When the ranking was taken.
    pub at: DateTime<Utc>,
    /// Samples counted so far.
    pub samples: SampleCounts,
}

/// A complete tick: every part of its frame, put together.
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
    /// Everyone, best first.
    pub entries: Vec<Standing>,
    /// Where each user is in `entries` (readers slice each client's view around it).
    pub index: HashMap<Uuid, usize>,
}

impl Standings {
    /// A tick's standings, indexed by user.
    pub fn new(tick: Tick, participants: u32, entries: Vec<Standing>) -> Self {
        let index = entries.iter().enumerate().map(|(i, s)| (s.0, i)).collect();
        Standings {
            epoch: tick.epoch,
            tick: tick.tick,
            at: tick.at,
            participants,
            samples: tick.samples,
            entries,
            index,
        }
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
/// header, its index, the number of parts and its offset.
pub fn split<I>(tick: Tick, standings: I, max_per_part: usize) -> Vec<Frame>
where
    I: IntoIterator<Item = Standing>,
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
            tick: tick.tick,
            at: tick.at,
            participants,
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
    pub fn add(&mut self, frame: Frame) -> Option<Standings> {
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
        let (at, participants, samples) = (first.at, first.participants, first.samples);
        let entries = frames.into_iter().flat_map(|f| f.standings).collect();
        let tick = Tick {
            epoch,
            tick,
            at,
            samples,
        };
        Some(Standings::new(tick, participants, entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::LiveMessage;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn user(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn header() -> Tick {
        Tick {
            epoch: 7,
            tick: 3,
            at: DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_default(),
            samples: SampleCounts {
                accepted: 2,
                rejected: 1,
            },
        }
    }

    fn board(n: usize) -> Vec<Standing> {
        (0..n as u128)
            .map(|u| Standing(user(u), 1_000, 50, None))
            .collect()
    }

    #[test]
    fn large_ticks_are_split_into_parts_with_offsets() {
        let max = Frame::MAX_STANDINGS;
        let frames = split(header(), board(max * 2 + 1), max);
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
        assert!(frames.iter().all(|f| f.participants == 2 * max as u32 + 1));
    }

    #[test]
    fn an_empty_board_still_makes_one_part() {
        let frames = split(header(), [], Frame::MAX_STANDINGS);
        assert_eq!(frames.len(), 1);
        assert_eq!((frames[0].parts, frames[0].participants), (1, 0));
        assert!(frames[0].standings.is_empty());
    }

    #[test]
    fn past_the_most_parts_the_parts_grow() {
        let frames = split(header(), board(MAX_PARTS as usize * 3), 1);
        assert_eq!(frames.len(), MAX_PARTS as usize);
        assert!(frames.iter().all(|f| f.standings.len() == 3));
    }

    fn tick() -> impl Strategy<Value = Tick> {
        (
            any::<u64>(),
            any::<u64>(),
            0i64..4_102_444_800,
            any::<(u64, u64)>(),
        )
            .prop_map(|(epoch, tick, secs, (accepted, rejected))| Tick {
                epoch,
                tick,
                at: DateTime::from_timestamp(secs, 0).unwrap_or_default(),
                samples: SampleCounts { accepted, rejected },
            })
    }

    fn standings() -> impl Strategy<Value = Vec<Standing>> {
        let name = proptest::option::of(any::<u16>().prop_map(|n| format!("T{n} ✓")));
        let standing = (any::<u128>(), any::<i64>(), any::<u8>(), name)
            .prop_map(|(u, energy, rating, name)| Standing(user(u), energy, rating, name));
        vec(standing, 0..5_000)
    }

    /// Part sizes from tiny (many parts, up to past [`MAX_PARTS`]) to bigger than any board.
    fn max_per_part() -> impl Strategy<Value = usize> {
        prop_oneof![1..=8usize, 1..=600usize, 1..=6_000usize]
    }

    /// A tick, its standings, the part size, and the order its parts arrive in: every part once,
    /// up to 8 of them again, shuffled.
    fn delivery() -> impl Strategy<Value = (Tick, Vec<Standing>, usize, Vec<usize>)> {
        (tick(), standings(), max_per_part()).prop_flat_map(|(tick, entries, max)| {
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

    /// The parts as a reader receives them: each encoded as a live message and decoded again.
    fn over_the_wire(frames: Vec<Frame>) -> Vec<Frame> {
        frames
            .into_iter()
            .filter_map(|frame| {
                let json = serde_json::to_vec(&LiveMessage::Frame(frame)).ok()?;
                match serde_json::from_slice(&json).ok()? {
                    LiveMessage::Frame(frame) => Some(frame),
                    _ => None,
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn parts_in_order_make_the_very_same_standings(
            tick in tick(),
            entries in standings(),
            max in max_per_part(),
        ) {
            let count = entries.len();
            let expected = Standings::new(tick, count as u32, entries.clone());
            let frames = over_the_wire(split(tick, entries, max));
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
        fn parts_shuffled_and_repeated_make_the_very_same_standings(
            (tick, entries, max, order) in delivery(),
        ) {
            let expected = Standings::new(tick, entries.len() as u32, entries.clone());
            let frames = over_the_wire(split(tick, entries, max));
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
            next_entries in standings(),
            cut in any::<proptest::sample::Index>(),
        ) {
            let frames = split(tick, entries, max);
            let next = Tick { tick: tick.tick.wrapping_add(1), ..tick };
            let expected = Standings::new(next, next_entries.len() as u32, next_entries.clone());
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
            for frame in split(next, next_entries, max) {
                prop_assert!(assembled.is_none());
                assembled = assembler.add(frame);
            }
            prop_assert_eq!(assembled.as_ref(), Some(&expected));
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
                    tick,
                    at: header().at,
                    participants: 2,
                    samples: SampleCounts::default(),
                    part,
                    parts,
                    offset,
                    standings: board(2),
                };
                let _ = assembler.add(frame);
            }
        }
    }
}
