//! A [`Board`] cut into pieces that can be stored and put back together: what bounds the replay a
//! new owner of a long, large session has to do (DESIGN §4, the `snapshots` bucket).
//!
//! Two kinds of piece, both per *block* of [`BLOCK_SLOTS`] consecutive slots, so each stays far
//! below the bus's 1 MB payload limit however big the class:
//! - a [`StateBlock`]: each slot's newest report (who, `seq`, energy, rating, heart rate, the
//!   anchors the rate limit measures from). Everything ranking needs; small, rewritten every time.
//! - a [`HistoryBlock`]: one minute of the slots' per-second history. Only minutes written to since
//!   the last snapshot are cut again ([`Board::take_dirty_history`]), so an hour-long session
//!   stores each minute about once rather than the whole hour every time.
//!
//! Putting back: [`Board::restore`] rebuilds every slot's current state from the state blocks;
//! the owner then reads the stream from just after the sequence the snapshot covers, and merges
//! the history blocks in whenever they arrive ([`Board::merge_history`]) — ranking does not need
//! them, only the results at the end do. The merge gives exactly what replaying everything would
//! have: a second's energy is the highest reported in it (a max, so order does not matter), and
//! its rating and heart rate are those of the newest sample in it, which is the replayed tail's
//! where the tail has one (it comes after everything the snapshot covers) and the snapshot's
//! otherwise.

use super::{Board, NO_HR, NO_RATING, NO_SAMPLE};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Slots per block. A block's state is ≈ 60 B a slot (61 KiB) and a minute of its history
/// ≈ 6 B a second a slot (369 KiB): both fit the 1 MB payload limit with room to spare.
#[cfg(not(test))]
pub const BLOCK_SLOTS: u32 = 1024;
/// Unit tests use blocks of 4, so a handful of trainees already spans several blocks.
#[cfg(test)]
pub const BLOCK_SLOTS: u32 = 4;

/// Seconds per history block.
pub const MINUTE: usize = 60;

/// No second of this slot was written since the last snapshot.
pub(super) const CLEAN: u32 = u32::MAX;

/// The newest report of each slot of one block: see the module docs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateBlock {
    /// Which block (slots `BLOCK_SLOTS × block` onwards).
    block: u32,
    users: Vec<Uuid>,
    seqs: Vec<Option<u64>>,
    energy: Vec<f64>,
    rating: Vec<f32>,
    hr: Vec<Option<f32>>,
    reached_at_ms: Vec<i64>,
    anchor_ms: Vec<i64>,
}

/// One minute of per-second history of the slots of one block; each slot's part is the seconds of
/// that minute its history has (shorter, or empty, where it ends earlier).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryBlock {
    /// Which block.
    pub block: u32,
    /// Which minute of the session (second `60 × minute` onwards).
    pub minute: u32,
    energy: Vec<Vec<f32>>,
    rating: Vec<Vec<u8>>,
    hr: Vec<Vec<u8>>,
}

/// Why a set of blocks cannot be a board.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    /// A state block is missing, or a block but the last is not full.
    #[error("the state blocks do not cover slots 0..{0} contiguously")]
    Gap(usize),
    /// A block's columns disagree in length, or a user appears twice.
    #[error("state block {0} is inconsistent")]
    Inconsistent(usize),
    /// A history block names a block or holds more slots than the board has.
    #[error("history block {block}/{minute} does not fit the board")]
    Misfit {
        /// The block it names.
        block: u32,
        /// The minute it names.
        minute: u32,
    },
}

impl Board {
    /// Number of blocks the board's slots make up.
    pub fn blocks(&self) -> u32 {
        (self.users.len() as u32).div_ceil(BLOCK_SLOTS)
    }

    /// The slots of `block`, as indices into the columns.
    fn block_range(&self, block: u32) -> std::ops::Range<usize> {
        let start = (block as usize * BLOCK_SLOTS as usize).min(self.users.len());
        start..(start + BLOCK_SLOTS as usize).min(self.users.len())
    }

    /// The current state of `block`'s slots.
    pub fn state_block(&self, block: u32) -> StateBlock {
        let r = self.block_range(block);
        StateBlock {
            block,
            users: self.users[r.clone()].to_vec(),
            seqs: self.seqs[r.clone()].to_vec(),
            energy: self.energy[r.clone()].to_vec(),
            rating: self.rating[r.clone()].to_vec(),
            hr: self.hr[r.clone()].to_vec(),
            reached_at_ms: self.reached_at_ms[r.clone()].to_vec(),
            anchor_ms: self.anchor_ms[r].to_vec(),
        }
    }

    /// The `(block, minute)`s of history written to since the last call, and forgets them: from
    /// the earliest second any slot of the block wrote to, up to the block's latest minute.
    pub fn take_dirty_history(&mut self) -> Vec<(u32, u32)> {
        let mut dirty = Vec::new();
        for block in 0..self.blocks() {
            let r = self.block_range(block);
            let from = self.dirty_from[r.clone()].iter().copied().min();
            let Some(from) = from.filter(|&s| s != CLEAN) else {
                continue;
            };
            let seconds = self.energy_curve[r.clone()]
                .iter()
                .map(Vec::len)
                .chain(self.hr_curve[r.clone()].iter().map(Vec::len))
                .max()
                .unwrap_or(0);
            let last = seconds.saturating_sub(1) / MINUTE;
            for minute in (from as usize / MINUTE)..=last {
                dirty.push((block, minute as u32));
            }
            self.dirty_from[r].fill(CLEAN);
        }
        dirty
    }

    /// One minute of `block`'s history.
    pub fn history_block(&self, block: u32, minute: u32) -> HistoryBlock {
        let r = self.block_range(block);
        let from = minute as usize * MINUTE;
        HistoryBlock {
            block,
            minute,
            energy: self.energy_curve[r.clone()]
                .iter()
                .map(|c| cut(c, from))
                .collect(),
            rating: self.rating_curve[r.clone()]
                .iter()
                .map(|c| cut(c, from))
                .collect(),
            hr: self.hr_curve[r].iter().map(|c| cut(c, from)).collect(),
        }
    }

    /// A board for a session that started at `started_at_ms`, with the state of `blocks` (block 0
    /// first) and no history yet.
    pub fn restore(started_at_ms: i64, blocks: Vec<StateBlock>) -> Result<Board, SnapshotError> {
        let mut board = Board::new(started_at_ms, []);
        let last = blocks.len().saturating_sub(1);
        for (b, block) in blocks.into_iter().enumerate() {
            let n = block.users.len();
            let columns = [
                block.seqs.len(),
                block.energy.len(),
                block.rating.len(),
                block.hr.len(),
                block.reached_at_ms.len(),
                block.anchor_ms.len(),
            ];
            if columns.iter().any(|&len| len != n) {
                return Err(SnapshotError::Inconsistent(b));
            }
            if block.block as usize != b || n == 0 || (b < last && n != BLOCK_SLOTS as usize) {
                return Err(SnapshotError::Gap(board.len()));
            }
            for &user in &block.users {
                let slot = board.users.len();
                if board.add_participant(user) as usize != slot {
                    return Err(SnapshotError::Inconsistent(b));
                }
            }
            let r = board.block_range(b as u32);
            board.seqs[r.clone()].copy_from_slice(&block.seqs);
            board.energy[r.clone()].copy_from_slice(&block.energy);
            board.rating[r.clone()].copy_from_slice(&block.rating);
            board.hr[r.clone()].copy_from_slice(&block.hr);
            board.reached_at_ms[r.clone()].copy_from_slice(&block.reached_at_ms);
            board.anchor_ms[r].copy_from_slice(&block.anchor_ms);
        }
        Ok(board)
    }

    /// Folds a stored minute of history into the board, under what the board recorded itself
    /// since (see the module docs for why this equals a full replay).
    pub fn merge_history(&mut self, chunk: HistoryBlock) -> Result<(), SnapshotError> {
        let misfit = SnapshotError::Misfit {
            block: chunk.block,
            minute: chunk.minute,
        };
        let r = self.block_range(chunk.block);
        let slots = chunk.energy.len();
        if r.is_empty()
            || slots > r.len()
            || chunk.rating.len() != slots
            || chunk.hr.len() != slots
            || chunk.minute as usize * MINUTE > super::MAX_SECONDS as usize
        {
            return Err(misfit);
        }
        let offset = chunk.minute as usize * MINUTE;
        for (k, ((energy, rating), hr)) in chunk
            .energy
            .iter()
            .zip(&chunk.rating)
            .zip(&chunk.hr)
            .enumerate()
        {
            let i = r.start + k;
            if energy.len() > MINUTE || rating.len() != energy.len() || hr.len() > MINUTE {
                return Err(misfit);
            }
            let end = offset + energy.len();
            // An empty part says nothing: it must not stretch a history that ends earlier.
            if !energy.is_empty() && self.energy_curve[i].len() < end {
                self.energy_curve[i].resize(end, NO_SAMPLE);
                self.rating_curve[i].resize(end, NO_RATING);
            }
            for (s, (&stored, &stored_rating)) in energy.iter().zip(rating).enumerate() {
                let live = &mut self.energy_curve[i][offset + s];
                if live.is_nan() || stored > *live {
                    *live = stored;
                }
                let live_rating = &mut self.rating_curve[i][offset + s];
                if *live_rating == NO_RATING {
                    *live_rating = stored_rating;
                }
            }
            if !hr.is_empty() {
                let hrs = &mut self.hr_curve[i];
                if hrs.len() < offset + hr.len() {
                    hrs.resize(offset + hr.len(), NO_HR);
                }
                for (s, &stored) in hr.iter().enumerate() {
                    if hrs[offset + s] == NO_HR {
                        hrs[offset + s] = stored;
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether `other` holds exactly the same participants, reports and history (NaN markers
    /// compared by bits): what a restored board must be.
    #[cfg(test)]
    pub(crate) fn same_as(&self, other: &Board) -> bool {
        let bits = |curves: &[Vec<f32>]| -> Vec<Vec<u32>> {
            curves
                .iter()
                .map(|c| c.iter().map(|v| v.to_bits()).collect())
                .collect()
        };
        let by_user = |board: &Board| -> std::collections::HashMap<Uuid, usize> {
            board
                .users
                .iter()
                .enumerate()
                .map(|(i, &u)| (u, i))
                .collect()
        };
        let (mine, theirs) = (by_user(self), by_user(other));
        mine.len() == theirs.len()
            && mine.iter().all(|(user, &i)| {
                theirs.get(user).is_some_and(|&j| {
                    self.seqs[i] == other.seqs[j]
                        && self.energy[i].to_bits() == other.energy[j].to_bits()
                        && self.rating[i].to_bits() == other.rating[j].to_bits()
                        && self.hr[i] == other.hr[j]
                        && self.reached_at_ms[i] == other.reached_at_ms[j]
                        && self.anchor_ms[i] == other.anchor_ms[j]
                        && bits(&self.energy_curve[i..=i]) == bits(&other.energy_curve[j..=j])
                        && self.rating_curve[i] == other.rating_curve[j]
                        && self.hr_curve[i] == other.hr_curve[j]
                })
            })
    }
}

/// The part of `curve` in the minute starting at second `from`.
fn cut<T: Clone>(curve: &[T], from: usize) -> Vec<T> {
    curve[from.min(curve.len())..(from + MINUTE).min(curve.len())].to_vec()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a broken test setup should fail loudly")]
    use super::*;
    use bus_contracts::v1::energy::Sample;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// 2030-01-01 10:00 UTC.
    const START: i64 = 1_893_492_000_000;
    const NOW: i64 = START + 4 * 3_600_000;

    fn user(n: u32) -> Uuid {
        Uuid::from_u128(7_000 + u128::from(n))
    }

    /// Per trainee, samples `(seconds since the previous one, rating, heart rate)`; gaps up to 50 s
    /// so histories span several minutes in a few samples.
    fn efforts() -> impl Strategy<Value = Vec<Vec<(u8, u8, Option<u8>)>>> {
        let sample = (
            1u8..=50,
            prop::sample::select(vec![0u8, 40, 100]),
            prop::option::of(60u8..=180),
        );
        prop::collection::vec(prop::collection::vec(sample, 1..12), 1..11)
    }

    /// The samples in the order a broker would deliver them: by time, each trainee's in sequence.
    fn stream(efforts: &[Vec<(u8, u8, Option<u8>)>]) -> Vec<(Uuid, Sample)> {
        let mut all = Vec::new();
        for (n, samples) in (1u32..).zip(efforts) {
            let (mut ms, mut energy) = (0i64, 0.0);
            for (seq, &(gap, rating, hr)) in (1u64..).zip(samples) {
                // Some samples share a second with the previous one (gap of 1 → 300 ms).
                ms += if gap == 1 { 300 } else { i64::from(gap) * 1000 };
                energy += f64::from(rating) * (if gap == 1 { 0.3 } else { f64::from(gap) });
                let sample = Sample {
                    seq,
                    ts: START + ms,
                    rating: f64::from(rating),
                    energy,
                    hr: hr.map(f64::from),
                };
                all.push((user(n), sample));
            }
        }
        all.sort_by_key(|(_, sample)| sample.ts);
        all
    }

    fn through_the_wire<T: Serialize + serde::de::DeserializeOwned>(piece: &T) -> T {
        postcard::from_bytes(&postcard::to_allocvec(piece).unwrap()).unwrap()
    }

    /// A snapshot as stored: every block's state, and the newest cut of each history minute.
    #[derive(Default)]
    struct Stored {
        states: Vec<StateBlock>,
        history: BTreeMap<(u32, u32), HistoryBlock>,
    }

    impl Stored {
        fn cut(&mut self, board: &mut Board) {
            self.states = (0..board.blocks())
                .map(|b| through_the_wire(&board.state_block(b)))
                .collect();
            for (block, minute) in board.take_dirty_history() {
                let piece = through_the_wire(&board.history_block(block, minute));
                self.history.insert((block, minute), piece);
            }
        }
    }

    proptest! {
        /// Snapshot twice at any points (the second cutting only what changed), restore from the
        /// second, replay the rest with the stored history merged in at any point of the tail:
        /// the board is exactly the one that read everything, and so are the results.
        #[test]
        fn restoring_and_replaying_the_tail_gives_the_board_that_read_everything(
            efforts in efforts(),
            cuts in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
            merge_at in any::<prop::sample::Index>(),
            again in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let mut samples = stream(&efforts);
            // Redeliveries, as at-least-once delivery produces.
            let redelivered: Vec<_> = again.iter().map(|i| *i.get(&samples)).collect();
            samples.extend(redelivered);
            let n = u32::try_from(efforts.len()).unwrap();
            let roster: Vec<Uuid> = (1..=n).map(user).collect();

            let mut everything = Board::new(START, roster.clone());
            for (who, sample) in &samples {
                prop_assert!(everything.ingest(*who, sample, NOW).is_ok());
            }

            let (a, b) = (cuts.0.index(samples.len() + 1), cuts.1.index(samples.len() + 1));
            let (first, second) = (a.min(b), a.max(b));
            let mut owner = Board::new(START, roster.clone());
            let mut stored = Stored::default();
            for (i, (who, sample)) in samples.iter().enumerate() {
                if i == first {
                    stored.cut(&mut owner);
                }
                if i == second {
                    break;
                }
                owner.ingest(*who, sample, NOW).unwrap();
            }
            stored.cut(&mut owner);

            let mut restored = Board::restore(START, stored.states).unwrap();
            for &who in &roster {
                restored.add_participant(who);
            }
            let tail = &samples[second.min(samples.len())..];
            let merge_at = merge_at.index(tail.len() + 1);
            for (i, (who, sample)) in tail.iter().enumerate() {
                if i == merge_at {
                    for piece in std::mem::take(&mut stored.history).into_values() {
                        restored.merge_history(piece).unwrap();
                    }
                }
                prop_assert!(restored.ingest(*who, sample, NOW).is_ok());
            }
            for piece in stored.history.into_values() {
                restored.merge_history(piece).unwrap();
            }
            prop_assert!(restored.same_as(&everything));
            let end = START + 3_600_000;
            let bodies = std::collections::HashMap::new();
            prop_assert_eq!(
                crate::live::summary::summarize(&restored, end, &bodies),
                crate::live::summary::summarize(&everything, end, &bodies)
            );
        }
    }

    #[test]
    fn only_minutes_written_since_the_last_cut_are_cut_again() {
        let mut board = Board::new(START, (1..=6).map(user));
        let sample = |seq, second: i64| Sample {
            seq,
            ts: START + second * 1000,
            rating: 50.0,
            energy: 50.0 * second as f64,
            hr: None,
        };
        board.ingest(user(1), &sample(1, 10), NOW).unwrap();
        board.ingest(user(6), &sample(1, 130), NOW).unwrap();
        // Slot 0 is in block 0 (minute 0); slot 5 in block 1, whose history reaches minute 2.
        assert_eq!(board.take_dirty_history(), vec![(0, 0), (1, 2)]);
        assert_eq!(board.take_dirty_history(), vec![]);
        board.ingest(user(1), &sample(2, 70), NOW).unwrap();
        assert_eq!(board.take_dirty_history(), vec![(0, 1)]);
    }

    #[test]
    fn pieces_that_do_not_fit_are_refused() {
        let mut board = Board::new(START, (1..=5).map(user));
        let states: Vec<StateBlock> = (0..board.blocks()).map(|b| board.state_block(b)).collect();
        // Block 1 alone, or blocks out of order, leave a gap.
        assert_eq!(
            Board::restore(START, states[1..].to_vec()).unwrap_err(),
            SnapshotError::Gap(0)
        );
        assert!(Board::restore(START, vec![states[1].clone(), states[0].clone()]).is_err());
        assert_eq!(Board::restore(START, states.clone()).unwrap().len(), 5);
        let mut twice = states[0].clone();
        twice.users[1] = twice.users[0];
        assert_eq!(
            Board::restore(START, vec![twice]).unwrap_err(),
            SnapshotError::Inconsistent(0)
        );
        let mut history = board.history_block(1, 0);
        history.block = 7;
        assert!(board.merge_history(history).is_err());
        let mut history = board.history_block(0, 0);
        history.energy.push(vec![1.0]);
        assert!(board.merge_history(history).is_err());
    }
}
