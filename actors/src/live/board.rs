//! [`Board`]: the live leaderboard of one session, fed by [`Board::ingest`] and ranked by
//! [`Board::rank`] once per tick.
//!
//! Layout: every participant gets a dense slot (`0..len`), handed out in roster order and never
//! reused, and each attribute lives in its own `Vec` indexed by slot (struct of arrays). The hot
//! loops (ingest one sample, rank everyone) then touch only the columns they need, contiguously,
//! and a `HashMap<Uuid, u32>` is consulted once per sample to find the slot. It hashes with
//! foldhash, not SipHash: its keys are user ids the server minted (only the roster inserts), so
//! flood resistance buys nothing, and SipHash was a fifth of an ingest's instructions.
//!
//! Ingest rules, in order (the first that applies decides):
//! 1. the sample must validate on its own ([`Sample::validate`]);
//! 2. the sender must hold a slot, else [`Rejection::NotParticipant`];
//! 3. `ts` must lie within [`TS_SLACK_MS`] of the session (no earlier than a minute before the
//!    start, no later than a minute after `now`), else [`Rejection::TimestampOutOfRange`];
//! 4. a `seq` not above the highest seen is [`Applied::Stale`]: duplicates, replays and
//!    out-of-order deliveries are dropped without changing anything, and are not rejections;
//! 5. energy is cumulative, so a lower value than the current one is
//!    [`Rejection::EnergyDecreasing`];
//! 6. energy may rise by at most [`MAX_POINTS_PER_SECOND`] per second elapsed since the slot's
//!    previous accepted sample, plus [`ENERGY_TOLERANCE_POINTS`]; and the total may not exceed
//!    what a maximal effort could have earned since counting could begin ([`TS_SLACK_MS`] before
//!    the start), plus the same tolerance once; else [`Rejection::EnergyTooFast`].
//!
//! Time comes from the sample's own `ts`, never from when the sample arrived: replaying the
//! `ENERGY` stream after a failover then rebuilds exactly the same board. `now_ms` only bounds how
//! far into the future a wearable's clock may claim to be.

mod snapshot;

pub use snapshot::{BLOCK_SLOTS, HistoryBlock, MINUTE, SnapshotError, StateBlock};

use bus_contracts::v1::energy::{Rejection, Sample};
use std::collections::HashMap;
use uuid::Uuid;

/// Longest session the per-second history covers: four hours. Samples stamped later are folded
/// into the last second, so a forged timestamp cannot grow memory without bound.
pub const MAX_SECONDS: u32 = 4 * 3600;

/// The fastest honest rate of scoring: a rating of 100 held for one second.
pub const MAX_POINTS_PER_SECOND: f64 = 100.0;

/// Extra points allowed on top of [`MAX_POINTS_PER_SECOND`] per sample, to absorb the jitter
/// between a wearable's clock stamping `ts` and its counter accumulating `energy`.
pub const ENERGY_TOLERANCE_POINTS: f64 = 100.0;

/// How far outside the session a sample's `ts` may be: a minute before the start (a wearable that
/// started counting in the waiting room) and a minute ahead of the server's clock (clock skew).
pub const TS_SLACK_MS: i64 = 60_000;

/// Marks a second of history in which no sample was accepted.
const NO_SAMPLE: f32 = f32::NAN;

/// Marks a second of rating history in which no sample was accepted (real ratings are 0..=100).
pub(super) const NO_RATING: u8 = u8::MAX;

/// Marks a second of heart-rate history without a reading (real ones are at least 20 bpm).
const NO_HR: u8 = 0;

/// What [`Board::ingest`] did with an acceptable sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The sample was newer than anything seen for the participant and is now on the board.
    Accepted,
    /// The sample's `seq` was not above the highest seen (a duplicate, replay or late delivery);
    /// nothing changed. Not a rejection: at-least-once delivery produces these routinely.
    Stale,
}

/// The board ordered for display: see [`Board::rank`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ranking {
    /// Slots from first to last place.
    pub order: Vec<u32>,
    /// The 1-based rank of each slot, indexed by slot.
    pub rank_of: Vec<u32>,
}

/// One slot's per-second history, as recorded by [`Board::ingest`]. Index = second since the
/// start. `energy` holds [`NO_SAMPLE`] (NaN), `rating` [`NO_RATING`] and `hr` 0 where no sample landed;
/// `hr` stays empty for a participant who never sent a heart rate.
#[derive(Clone, Copy, Debug)]
pub(super) struct History<'a> {
    /// Highest cumulative energy reported in each second.
    pub(super) energy: &'a [f32],
    /// Rating of the newest sample in each second, rounded to a whole point.
    pub(super) rating: &'a [u8],
    /// Newest heart rate reported in each second, rounded to whole bpm.
    pub(super) hr: &'a [u8],
}

/// The live state of one session: the newest accepted report of every participant, and the
/// per-second history the results are built from.
#[derive(Clone, Debug)]
pub struct Board {
    started_at_ms: i64,
    slots: HashMap<Uuid, u32, foldhash::fast::RandomState>,
    /// Who holds each slot.
    users: Vec<Uuid>,
    /// Highest `seq` seen; `None` before the first sample.
    seqs: Vec<Option<u64>>,
    /// Cumulative energy of the newest accepted sample.
    energy: Vec<f64>,
    rating: Vec<f32>,
    hr: Vec<Option<f32>>,
    /// When the current energy was first reached; `i64::MAX` while nothing was scored, so ties at
    /// zero fall back to slot order.
    reached_at_ms: Vec<i64>,
    /// Latest `ts` accepted so far (starts at the session start); the rate limit measures from
    /// here. It never moves backwards, so alternating forged timestamps cannot earn the same
    /// elapsed time twice.
    anchor_ms: Vec<i64>,
    /// Per-slot histories, grown on demand up to the latest second reported (see [`History`]).
    energy_curve: Vec<Vec<f32>>,
    /// Whole ratings (0..=100, [`NO_RATING`] where no sample landed): a byte per second rather
    /// than a float keeps a 10 000-trainee hour at 36 MB instead of 144 MB.
    rating_curve: Vec<Vec<u8>>,
    hr_curve: Vec<Vec<u8>>,
    /// Per slot, the earliest second of history written since the last snapshot cut
    /// ([`snapshot::CLEAN`] if none).
    dirty_from: Vec<u32>,
}

impl Board {
    /// An empty board for a session that started at `started_at_ms` (epoch milliseconds), with a
    /// slot for each of `participants` in order. Repeated ids get a single slot.
    pub fn new(started_at_ms: i64, participants: impl IntoIterator<Item = Uuid>) -> Self {
        let mut board = Self {
            started_at_ms,
            slots: HashMap::default(),
            users: Vec::new(),
            seqs: Vec::new(),
            energy: Vec::new(),
            rating: Vec::new(),
            hr: Vec::new(),
            reached_at_ms: Vec::new(),
            anchor_ms: Vec::new(),
            energy_curve: Vec::new(),
            rating_curve: Vec::new(),
            hr_curve: Vec::new(),
            dirty_from: Vec::new(),
        };
        for user in participants {
            board.add_participant(user);
        }
        board
    }

    /// Gives `user` a slot (a late joiner) and returns it; returns the existing slot if they
    /// already have one, so joining twice is harmless.
    ///
    /// A board holds at most `u32::MAX` participants; beyond that (unreachable in practice, memory
    /// runs out first) the user gets no slot, `u32::MAX` is returned, and their samples are
    /// [`Rejection::NotParticipant`].
    pub fn add_participant(&mut self, user: Uuid) -> u32 {
        if let Some(&slot) = self.slots.get(&user) {
            return slot;
        }
        let Ok(slot) = u32::try_from(self.users.len()) else {
            return u32::MAX;
        };
        if slot == u32::MAX {
            return u32::MAX;
        }
        self.slots.insert(user, slot);
        self.users.push(user);
        self.seqs.push(None);
        self.energy.push(0.0);
        self.rating.push(0.0);
        self.hr.push(None);
        self.reached_at_ms.push(i64::MAX);
        self.anchor_ms.push(self.started_at_ms);
        self.energy_curve.push(Vec::new());
        self.rating_curve.push(Vec::new());
        self.hr_curve.push(Vec::new());
        self.dirty_from.push(snapshot::CLEAN);
        slot
    }

    /// Applies one sample from `user`, received at `now_ms`, following the rules in the module
    /// docs. A rejected or stale sample changes nothing.
    pub fn ingest(
        &mut self,
        user: Uuid,
        sample: &Sample,
        now_ms: i64,
    ) -> Result<Applied, Rejection> {
        sample.validate()?;
        let slot = self.slot(user).ok_or(Rejection::NotParticipant)?;
        let i = slot as usize;
        let earliest = self.started_at_ms.saturating_sub(TS_SLACK_MS);
        let latest = now_ms.saturating_add(TS_SLACK_MS);
        if sample.ts < earliest || sample.ts > latest {
            return Err(Rejection::TimestampOutOfRange);
        }
        if self.seqs[i].is_some_and(|seen| sample.seq <= seen) {
            return Ok(Applied::Stale);
        }
        // `abs` folds -0.0 (which validates as >= 0) into 0.0, so it ranks equal to 0.0.
        let energy = sample.energy.abs();
        let current = self.energy[i];
        if energy < current {
            return Err(Rejection::EnergyDecreasing);
        }
        let elapsed_ms = sample.ts.saturating_sub(self.anchor_ms[i]).max(0);
        let allowance =
            MAX_POINTS_PER_SECOND * (elapsed_ms as f64 / 1000.0) + ENERGY_TOLERANCE_POINTS;
        let anchor = self.anchor_ms[i].max(sample.ts);
        // The per-sample tolerance alone could be farmed (many samples, each a millisecond apart,
        // each earning the tolerance again), so the total is also capped by the whole time since
        // the earliest moment counting may begin.
        let counting_ms = anchor.saturating_sub(earliest).max(0);
        let ceiling =
            MAX_POINTS_PER_SECOND * (counting_ms as f64 / 1000.0) + ENERGY_TOLERANCE_POINTS;
        if energy - current > allowance || energy > ceiling {
            return Err(Rejection::EnergyTooFast);
        }

        self.anchor_ms[i] = anchor;
        self.seqs[i] = Some(sample.seq);
        if energy > current {
            // The anchor rather than the raw `ts`: a forged early timestamp cannot win a tie.
            self.reached_at_ms[i] = anchor;
        }
        self.energy[i] = energy;
        self.rating[i] = sample.rating.abs() as f32;
        self.hr[i] = sample.hr.map(|hr| hr as f32);
        self.record(i, sample);
        Ok(Applied::Accepted)
    }

    /// Writes an accepted sample into its second of the slot's history.
    fn record(&mut self, i: usize, sample: &Sample) {
        let second = self.second_of(sample.ts);
        self.dirty_from[i] = self.dirty_from[i].min(second as u32);
        let energy = &mut self.energy_curve[i];
        reach(energy, second, NO_SAMPLE);
        reach(&mut self.rating_curve[i], second, NO_RATING);
        // Several samples may share a second; energy keeps the highest (it only grows by `seq`,
        // but a higher `seq` may carry an earlier `ts` from a wearable whose clock stepped back).
        let kept = energy[second];
        energy[second] = if kept.is_nan() {
            sample.energy.abs() as f32
        } else {
            kept.max(sample.energy.abs() as f32)
        };
        // Validated to 0..=100, so it fits a byte; wearables resolve whole points at best.
        self.rating_curve[i][second] = sample.rating.abs().round().min(100.0) as u8;
        if let Some(hr) = sample.hr {
            let hrs = &mut self.hr_curve[i];
            reach(hrs, second, NO_HR);
            // Validated to 20..=250 bpm, so it fits a byte; whole beats are all a wearable resolves.
            hrs[second] = hr.round().clamp(1.0, 255.0) as u8;
        }
    }

    /// The history index of `ts`: whole seconds since the start, within `0..=MAX_SECONDS`.
    fn second_of(&self, ts: i64) -> usize {
        let second = ts.saturating_sub(self.started_at_ms) / 1000;
        second.clamp(0, i64::from(MAX_SECONDS)) as usize
    }

    /// Orders the board: highest energy first; among equals, whoever reached that energy first;
    /// then by user id, so the order is total and depends on the samples alone. (Not the slot:
    /// slots follow arrival, and a board rebuilt by a new owner hands them out in another order,
    /// which would reshuffle exact ties at a failover.)
    ///
    /// Sorts a contiguous array of `(place, slot)` pairs, the first two criteria packed into one
    /// integer ([`place_key`]), rather than slot indices with lookups in the comparator: the
    /// comparisons stay in cache and are one integer compare, and the user id is looked up only
    /// for exact ties. 10 000 entries take well under a millisecond.
    pub fn rank(&self) -> Ranking {
        let mut keys: Vec<(u128, u32)> = self
            .energy
            .iter()
            .zip(&self.reached_at_ms)
            .zip(0u32..)
            .map(|((&energy, &reached_at), slot)| (place_key(energy, reached_at), slot))
            .collect();
        keys.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| self.users[a.1 as usize].cmp(&self.users[b.1 as usize]))
        });
        let order: Vec<u32> = keys.iter().map(|&(_, slot)| slot).collect();
        let mut rank_of = vec![0; order.len()];
        for (&slot, rank) in order.iter().zip(1u32..) {
            rank_of[slot as usize] = rank;
        }
        Ranking { order, rank_of }
    }

    /// The slot of `user`, if they are on the board.
    pub fn slot(&self, user: Uuid) -> Option<u32> {
        self.slots.get(&user).copied()
    }

    /// Who holds `slot`; the nil id for a slot this board never handed out.
    pub fn user(&self, slot: u32) -> Uuid {
        self.users.get(slot as usize).copied().unwrap_or_default()
    }

    /// Current cumulative energy of `slot`; 0 for a slot this board never handed out.
    pub fn energy(&self, slot: u32) -> f64 {
        self.energy.get(slot as usize).copied().unwrap_or_default()
    }

    /// Latest rating of `slot`; 0 for a slot this board never handed out.
    pub fn rating(&self, slot: u32) -> f32 {
        self.rating.get(slot as usize).copied().unwrap_or_default()
    }

    /// Latest heart rate of `slot`, if its newest sample carried one.
    pub fn hr(&self, slot: u32) -> Option<f32> {
        self.hr.get(slot as usize).copied().flatten()
    }

    /// Highest `seq` seen from `slot`; `None` before its first sample.
    pub fn seq(&self, slot: u32) -> Option<u64> {
        self.seqs.get(slot as usize).copied().flatten()
    }

    /// When `slot` first reached its current energy (sample time, epoch ms); `None` while it has
    /// scored nothing.
    pub fn reached_at_ms(&self, slot: u32) -> Option<i64> {
        self.reached_at_ms
            .get(slot as usize)
            .copied()
            .filter(|&at| at != i64::MAX)
    }

    /// When the session started, in epoch milliseconds.
    pub fn started_at_ms(&self) -> i64 {
        self.started_at_ms
    }

    /// Number of participants (slots).
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether nobody is on the board.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The per-second history of `slot` (empty for a slot this board never handed out).
    pub(super) fn history(&self, slot: u32) -> History<'_> {
        let i = slot as usize;
        History {
            energy: self.energy_curve.get(i).map_or(&[], Vec::as_slice),
            rating: self.rating_curve.get(i).map_or(&[], Vec::as_slice),
            hr: self.hr_curve.get(i).map_or(&[], Vec::as_slice),
        }
    }
}

/// Higher `energy` first, then earlier `reached_at`, as one integer that sorts ascending. The
/// energy part orders exactly as `f64::total_cmp` (energies on the board are finite and
/// non-negative, but the order stays total whatever they are), reversed; `reached_at` is moved
/// from `i64` order into `u64` order.
fn place_key(energy: f64, reached_at: i64) -> u128 {
    // `f64::total_cmp`'s own trick: flip the magnitude bits of negatives, then compare as i64.
    let bits = energy.to_bits() as i64;
    let total = bits ^ ((((bits >> 63) as u64) >> 1) as i64);
    let descending = !((total as u64) ^ (1 << 63));
    let ascending = (reached_at as u64) ^ (1 << 63);
    (u128::from(descending) << 64) | u128::from(ascending)
}

/// Grows a history `column` to hold index `second`, marking the seconds in between `empty`. Nearly
/// every sample lands one second past the end, so this is nearly always one push.
fn reach<T: Copy>(column: &mut Vec<T>, second: usize, empty: T) {
    if column.len() == second {
        column.push(empty);
    } else if column.len() < second {
        column.resize(second + 1, empty);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a broken test setup should fail loudly")]
    use super::*;
    use crate::live::summary::summarize;
    use bus_contracts::v1::energy::parse;

    /// 2030-01-01 10:00 UTC, the start of every test session.
    const START: i64 = 1_893_492_000_000;

    fn user(n: u32) -> Uuid {
        Uuid::from_u128(1_000 + u128::from(n))
    }

    /// A sample stamped in the middle of second `second` of the session.
    fn at(second: i64, seq: u64, rating: f64, energy: f64) -> Sample {
        Sample {
            seq,
            ts: START + second * 1000 + 500,
            rating,
            energy,
            hr: None,
        }
    }

    /// "Now" comfortably after every scripted sample.
    const NOW: i64 = START + 3_600_000;

    /// Minimal LCG (Knuth's MMIX constants): deterministic, so a failure reproduces exactly.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Three trainees over 60 seconds at steady, different efforts (30, 60, 90), one sample a
    /// second each, interleaved as a broker would deliver them.
    fn scripted_stream() -> Vec<(Uuid, Sample)> {
        let mut stream = Vec::new();
        for second in 0..60 {
            for (n, rating) in [(1, 30.0), (2, 60.0), (3, 90.0)] {
                let seq = second as u64 + 1;
                let energy = rating * (second + 1) as f64;
                stream.push((user(n), at(second, seq, rating, energy)));
            }
        }
        stream
    }

    fn board_of(n: u32) -> Board {
        Board::new(START, (1..=n).map(user))
    }

    fn apply(board: &mut Board, stream: &[(Uuid, Sample)]) -> (usize, usize) {
        let (mut accepted, mut stale) = (0, 0);
        for (who, sample) in stream {
            match board.ingest(*who, sample, NOW).unwrap() {
                Applied::Accepted => accepted += 1,
                Applied::Stale => stale += 1,
            }
        }
        (accepted, stale)
    }

    /// Everything observable about a board: totals, seqs, ranking and the full results.
    fn snapshot(board: &Board) -> (Vec<f64>, Vec<Option<u64>>, Ranking, String) {
        let slots = 0..board.len() as u32;
        let results = summarize(board, START + 60_000, &HashMap::new());
        (
            slots.clone().map(|s| board.energy(s)).collect(),
            slots.map(|s| board.seq(s)).collect(),
            board.rank(),
            format!("{results:?}"),
        )
    }

    #[test]
    fn duplicates_replays_and_reordering_change_nothing() {
        let stream = scripted_stream();
        let mut reference = board_of(3);
        assert_eq!(apply(&mut reference, &stream), (stream.len(), 0));
        let expected = snapshot(&reference);
        assert_eq!(expected.0, vec![1800.0, 3600.0, 5400.0]);
        assert_eq!(expected.1, vec![Some(60); 3]);
        assert_eq!(expected.2.order, vec![2, 1, 0]);

        let mut shuffled = stream.clone();
        let mut rng = Lcg(7);
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i as u64 + 1) as usize);
        }

        // Replayed after the fact (a redelivery, a consumer restart): all stale.
        let mut replayed = reference.clone();
        assert_eq!(apply(&mut replayed, &shuffled), (0, stream.len()));
        assert_eq!(snapshot(&replayed), expected);

        // Every sample delivered twice in a row.
        let doubled: Vec<_> = stream.iter().flat_map(|s| [*s, *s]).collect();
        let mut twice = board_of(3);
        assert_eq!(apply(&mut twice, &doubled), (stream.len(), stream.len()));
        assert_eq!(snapshot(&twice), expected);

        // Delivered out of order: fewer samples land, but the totals, seqs and ranks agree.
        let mut reordered = board_of(3);
        apply(&mut reordered, &shuffled);
        let got = snapshot(&reordered);
        assert_eq!(
            (&got.0, &got.1, &got.2),
            (&expected.0, &expected.1, &expected.2)
        );
    }

    #[test]
    fn each_rejection_rule() {
        // Slot 0 (`user(1)`) has one accepted sample: seq 10, energy 500 at second 10.
        let cases: [(&str, Uuid, Sample, Result<Applied, Rejection>); 15] = [
            (
                "stranger",
                user(9),
                at(11, 11, 50.0, 600.0),
                Err(Rejection::NotParticipant),
            ),
            (
                "too early",
                user(1),
                Sample {
                    ts: START - TS_SLACK_MS - 1,
                    ..at(0, 11, 50.0, 500.0)
                },
                Err(Rejection::TimestampOutOfRange),
            ),
            (
                "earliest allowed",
                user(1),
                Sample {
                    ts: START - TS_SLACK_MS,
                    ..at(0, 11, 50.0, 500.0)
                },
                Ok(Applied::Accepted),
            ),
            (
                "too far ahead",
                user(1),
                Sample {
                    ts: NOW + TS_SLACK_MS + 1,
                    ..at(0, 11, 50.0, 500.0)
                },
                Err(Rejection::TimestampOutOfRange),
            ),
            (
                "ts extreme",
                user(1),
                Sample {
                    ts: i64::MIN,
                    ..at(0, 11, 50.0, 500.0)
                },
                Err(Rejection::TimestampOutOfRange),
            ),
            (
                "duplicate",
                user(1),
                at(10, 10, 50.0, 500.0),
                Ok(Applied::Stale),
            ),
            // Stale wins over the energy rules: an old sample is not evidence of anything.
            (
                "older, lower",
                user(1),
                at(5, 9, 50.0, 100.0),
                Ok(Applied::Stale),
            ),
            (
                "decreasing",
                user(1),
                at(11, 11, 50.0, 499.0),
                Err(Rejection::EnergyDecreasing),
            ),
            (
                "unchanged",
                user(1),
                at(11, 11, 0.0, 500.0),
                Ok(Applied::Accepted),
            ),
            // One second later: at most 100 points a second plus 100 of tolerance.
            (
                "at the limit",
                user(1),
                at(11, 11, 100.0, 700.0),
                Ok(Applied::Accepted),
            ),
            (
                "too fast",
                user(1),
                at(11, 11, 100.0, 700.5),
                Err(Rejection::EnergyTooFast),
            ),
            // A clock that stepped back earns no time, only the tolerance.
            (
                "ts went back",
                user(1),
                at(3, 11, 100.0, 600.0),
                Ok(Applied::Accepted),
            ),
            (
                "ts went back, fast",
                user(1),
                at(3, 11, 100.0, 601.0),
                Err(Rejection::EnergyTooFast),
            ),
            (
                "NaN built by hand",
                user(1),
                Sample {
                    energy: f64::NAN,
                    ..at(11, 11, 50.0, 500.0)
                },
                Err(Rejection::Malformed),
            ),
            (
                "rating built by hand",
                user(1),
                Sample {
                    rating: 150.0,
                    ..at(11, 11, 50.0, 500.0)
                },
                Err(Rejection::RatingOutOfRange),
            ),
        ];
        for (name, who, sample, expected) in cases {
            let mut board = board_of(2);
            board
                .ingest(user(1), &at(10, 10, 50.0, 500.0), NOW)
                .unwrap();
            let before = snapshot(&board);
            assert_eq!(board.ingest(who, &sample, NOW), expected, "{name}");
            if expected != Ok(Applied::Accepted) {
                assert_eq!(snapshot(&board), before, "{name} changed the board");
            }
        }
    }

    #[test]
    fn the_first_sample_is_limited_by_the_time_since_the_start() {
        let cases = [
            // Half a second in: 50 points + 100 tolerance.
            (at(0, 1, 100.0, 150.0), Ok(Applied::Accepted)),
            (at(0, 1, 100.0, 150.5), Err(Rejection::EnergyTooFast)),
            // Stamped before the start: no elapsed time, only the tolerance.
            (
                Sample {
                    ts: START - 1_000,
                    ..at(0, 1, 0.0, 100.0)
                },
                Ok(Applied::Accepted),
            ),
            (
                Sample {
                    ts: START - 1_000,
                    ..at(0, 1, 0.0, 101.0)
                },
                Err(Rejection::EnergyTooFast),
            ),
            // A late joiner's first sample, ten minutes in.
            (at(600, 1, 100.0, 60_000.0), Ok(Applied::Accepted)),
        ];
        for (sample, expected) in cases {
            assert_eq!(
                board_of(1).ingest(user(1), &sample, NOW),
                expected,
                "{sample:?}"
            );
        }
    }

    #[test]
    fn late_joiners_get_a_new_slot_and_joining_twice_is_harmless() {
        let mut board = Board::new(START, [user(1), user(2), user(1)]);
        assert_eq!(board.len(), 2);
        assert_eq!(board.add_participant(user(3)), 2);
        assert_eq!(board.add_participant(user(1)), 0);
        assert_eq!(board.len(), 3);
        assert_eq!((board.slot(user(3)), board.user(2)), (Some(2), user(3)));
        assert_eq!(board.slot(user(4)), None);
        // Out-of-range slots read as empty rather than panicking.
        assert_eq!(
            (board.user(99), board.energy(99), board.rating(99)),
            (Uuid::nil(), 0.0, 0.0)
        );
        assert_eq!(
            board.ingest(user(3), &at(30, 1, 40.0, 40.0), NOW),
            Ok(Applied::Accepted)
        );
        assert_eq!(board.rank().order, vec![2, 0, 1]);
    }

    #[test]
    fn ties_go_to_whoever_reached_the_score_first() {
        let mut board = board_of(3);
        // All three end on 300 points; slot 2 got there at second 3, slot 0 at 4, slot 1 at 5.
        let script = [
            (user(3), at(3, 1, 100.0, 300.0)),
            (user(1), at(2, 1, 100.0, 200.0)),
            (user(1), at(4, 2, 100.0, 300.0)),
            (user(2), at(5, 1, 60.0, 300.0)),
            // Repeating the score later does not move anyone's "reached at".
            (user(3), at(9, 2, 0.0, 300.0)),
        ];
        apply(&mut board, &script);
        let ranking = board.rank();
        assert_eq!(ranking.order, vec![2, 0, 1]);
        assert_eq!(ranking.rank_of, vec![2, 3, 1]);
        assert_eq!(board.reached_at_ms(2), Some(START + 3_500));
    }

    #[test]
    fn three_trainees_rank_exactly() {
        let mut board = board_of(4);
        let script = [
            (user(1), at(0, 1, 80.0, 80.0)),
            (user(2), at(0, 1, 90.0, 90.0)),
            (user(3), at(0, 1, 20.0, 20.0)),
            (user(1), at(1, 2, 80.0, 160.0)),
            (user(2), at(1, 2, 10.0, 100.0)),
            (user(3), at(1, 3, 100.0, 120.0)),
            (user(1), at(2, 3, 0.0, 160.0)),
            (user(3), at(2, 4, 90.0, 210.0)),
            // A late, stale duplicate of user 2's first sample.
            (user(2), at(0, 1, 90.0, 90.0)),
        ];
        apply(&mut board, &script);
        let ranking = board.rank();
        // user 3: 210, user 1: 160, user 2: 100, user 4: nothing yet.
        assert_eq!(ranking.order, vec![2, 0, 1, 3]);
        assert_eq!(ranking.rank_of, vec![2, 3, 1, 4]);
        assert_eq!(
            (board.energy(2), board.rating(2), board.seq(2)),
            (210.0, 90.0, Some(4))
        );
    }

    #[test]
    fn ten_thousand_participants_rank_into_a_permutation() {
        let n = 10_000u32;
        let mut board = board_of(n);
        let mut rng = Lcg(42);
        for slot in 0..n {
            // Few distinct scores, so most comparisons are ties settled by time, then user.
            let energy = (rng.below(50) * 10) as f64;
            let second = 5 + rng.below(55) as i64; // late enough for any of these scores
            let sample = at(second, 1, 50.0, energy);
            board.ingest(user(slot + 1), &sample, NOW).unwrap();
        }
        let ranking = board.rank();
        let mut seen = vec![false; n as usize];
        for (position, &slot) in ranking.order.iter().enumerate() {
            assert!(!std::mem::replace(&mut seen[slot as usize], true));
            assert_eq!(ranking.rank_of[slot as usize] as usize, position + 1);
        }
        for pair in ranking.order.windows(2) {
            let key = |s: u32| {
                let user = board.user(s).as_u128();
                (board.energy(s), board.reached_at_ms[s as usize], user)
            };
            assert_eq!(
                by_rank(key(pair[0]), key(pair[1])),
                std::cmp::Ordering::Less
            );
        }
    }

    /// The rank order as the docs of [`Board::rank`] state it, criterion by criterion: what
    /// [`place_key`] and the tie-break by user must agree with.
    fn by_rank(a: (f64, i64, u128), b: (f64, i64, u128)) -> std::cmp::Ordering {
        b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
    }

    #[test]
    fn the_place_key_orders_like_energy_then_time_for_any_values() {
        let energies = [
            f64::NEG_INFINITY,
            -1.0,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            0.5,
            1.0,
            1.0 + f64::EPSILON,
            12_345.0,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
            -f64::NAN,
        ];
        let times = [i64::MIN, -1, 0, 1, START, i64::MAX];
        let pairs = || {
            energies
                .iter()
                .flat_map(|&e| times.iter().map(move |&t| (e, t)))
        };
        for (e1, t1) in pairs() {
            for (e2, t2) in pairs() {
                assert_eq!(
                    place_key(e1, t1).cmp(&place_key(e2, t2)),
                    by_rank((e1, t1, 0), (e2, t2, 0)),
                    "({e1}, {t1}) against ({e2}, {t2})"
                );
            }
        }
    }

    /// A payload from the flood: mostly hostile, sometimes valid.
    fn hostile_payload(rng: &mut Lcg) -> Vec<u8> {
        const NUMBERS: [&str; 14] = [
            "0",
            "-1",
            "1e999",
            "-1e999",
            "1e308",
            "NaN",
            "18446744073709551615",
            "9223372036854775807",
            "-9223372036854775808",
            "100",
            "100.0000001",
            "0.5",
            "\"7\"",
            "null",
        ];
        let pick = |rng: &mut Lcg| NUMBERS[rng.below(NUMBERS.len() as u64) as usize];
        match rng.below(4) {
            0 => (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
            1 => format!(
                r#"{{"seq":{},"ts":{},"rating":{},"energy":{},"hr":{}}}"#,
                pick(rng),
                pick(rng),
                pick(rng),
                pick(rng),
                pick(rng)
            )
            .into_bytes(),
            _ => format!(
                r#"{{"seq":{},"ts":{},"rating":{},"energy":{}}}"#,
                rng.below(200),
                START + rng.below(200_000) as i64 - 100_000,
                rng.below(120),
                rng.below(20_000),
            )
            .into_bytes(),
        }
    }

    #[test]
    fn a_flood_of_hostile_input_never_panics_and_leaves_a_valid_board() {
        let mut board = board_of(20);
        let mut rng = Lcg(1);
        let mut outcomes = HashMap::new();
        for i in 0..10_000u64 {
            let who = user(rng.below(25) as u32); // 0 and 21..=24 are strangers
            let now = START + (i as i64) * 20;
            let result = match rng.below(5) {
                // Hand-built samples with values JSON cannot even carry.
                0 => {
                    let weird = [f64::NAN, f64::INFINITY, -0.0, f64::MAX, 1e-300, -5.0];
                    let sample = Sample {
                        seq: rng.next() << 31,
                        ts: [i64::MIN, i64::MAX, START, now][rng.below(4) as usize],
                        rating: weird[rng.below(6) as usize],
                        energy: weird[rng.below(6) as usize],
                        hr: Some(weird[rng.below(6) as usize]),
                    };
                    board.ingest(who, &sample, now)
                }
                _ => parse(&hostile_payload(&mut rng)).and_then(|s| board.ingest(who, &s, now)),
            };
            *outcomes.entry(format!("{result:?}")).or_insert(0) += 1;
        }
        // The flood exercised acceptance as well as rejection.
        assert!(outcomes.contains_key("Ok(Accepted)"), "{outcomes:?}");
        assert!(outcomes.contains_key("Err(EnergyTooFast)"), "{outcomes:?}");

        for slot in 0..board.len() as u32 {
            let energy = board.energy(slot);
            assert!(energy.is_finite() && energy >= 0.0, "slot {slot}: {energy}");
            assert!((0.0..=100.0).contains(&board.rating(slot)), "slot {slot}");
            let history = board.history(slot);
            assert!(history.energy.len() <= MAX_SECONDS as usize + 1);
        }
        let ranking = board.rank();
        let mut ranks = ranking.rank_of.clone();
        ranks.sort_unstable();
        assert_eq!(ranks, (1..=board.len() as u32).collect::<Vec<_>>());
        let results = summarize(&board, NOW, &HashMap::new());
        assert_eq!(results.len(), board.len());
        assert!(
            results
                .iter()
                .all(|r| r.calories.is_finite() && r.energy >= 0)
        );
    }

    #[test]
    fn the_tolerance_cannot_be_farmed_with_closely_spaced_samples() {
        let mut board = board_of(1);
        // One minute into the session, a forger sends samples a millisecond apart, each claiming
        // the whole tolerance again: each step alone passes the rate check.
        let base = START + 60_000;
        let mut accepted_energy = 0.0;
        for k in 0..1_000u64 {
            let energy = 90.0 * (k + 1) as f64;
            let sample = Sample {
                seq: k + 1,
                ts: base + k as i64,
                rating: 100.0,
                energy,
                hr: None,
            };
            if board.ingest(user(1), &sample, NOW).is_ok() {
                accepted_energy = energy;
            }
        }
        // The total stays within what two minutes (the minute of slack before the start and the
        // minute since) at full effort could earn, plus one tolerance.
        let ceiling = MAX_POINTS_PER_SECOND * 121.0 + ENERGY_TOLERANCE_POINTS;
        assert!(accepted_energy <= ceiling, "{accepted_energy} > {ceiling}");
        assert_eq!(board.energy(0), accepted_energy);
    }

    /// Delivery does not decide the outcome. JetStream keeps each wearable's samples in the order
    /// it sent them, but interleaves wearables as it likes, redelivers, and a new owner rebuilding
    /// the board after a failover puts participants on it in another order: totals and ranks are
    /// those of in-order delivery. With each wearable's own samples reordered too, totals still
    /// are (a tie between equal energies may then be settled differently: `reached_at` is when
    /// the board first *saw* the energy, and an earlier sample arriving late is stale).
    mod delivery_order {
        use super::*;
        use proptest::prelude::*;

        /// Per trainee, samples `(seconds since the previous one, rating)`; few distinct values,
        /// so exact ties (same energy reached at the same moment) are common.
        fn efforts() -> impl Strategy<Value = Vec<Vec<(u8, u8)>>> {
            let sample = (1u8..=2, prop::sample::select(vec![0u8, 50, 100]));
            let stream = prop::collection::vec(sample, 1..8);
            prop::collection::vec(stream, 1..7)
        }

        /// Every trainee's samples, valid in order (cumulative energy, rising seq), interleaved
        /// by time as a broker would deliver them.
        fn in_order(efforts: &[Vec<(u8, u8)>]) -> Vec<(Uuid, Sample)> {
            let mut all = Vec::new();
            for (n, stream) in (1u32..).zip(efforts) {
                let (mut second, mut energy) = (0i64, 0.0);
                for (seq, &(gap, rating)) in (1u64..).zip(stream) {
                    second += i64::from(gap);
                    energy += f64::from(rating) * f64::from(gap);
                    all.push((user(n), at(second, seq, f64::from(rating), energy)));
                }
            }
            all.sort_by_key(|(_, sample)| sample.ts);
            all
        }

        /// `samples` shuffled with `seed`; with `per_wearable_order`, each trainee's own samples
        /// keep their order (only the interleaving changes). Then `again` redelivered.
        fn delivered(
            samples: &[(Uuid, Sample)],
            seed: u64,
            per_wearable_order: bool,
            again: &[prop::sample::Index],
        ) -> Vec<(Uuid, Sample)> {
            let mut shuffled = samples.to_vec();
            let mut rng = Lcg(seed);
            for i in (1..shuffled.len()).rev() {
                shuffled.swap(i, rng.below(i as u64 + 1) as usize);
            }
            if per_wearable_order {
                // Give each trainee's positions back their samples in sequence order.
                let mut own: HashMap<Uuid, Vec<Sample>> = HashMap::new();
                for (who, sample) in samples.iter().rev() {
                    own.entry(*who).or_default().push(*sample);
                }
                for (who, sample) in &mut shuffled {
                    *sample = own.get_mut(who).and_then(Vec::pop).unwrap();
                }
            }
            shuffled.extend(again.iter().map(|i| *i.get(samples)));
            shuffled
        }

        fn board_after(n: u32, delivered: &[(Uuid, Sample)]) -> Result<Board, TestCaseError> {
            // Participants put on the board in the reverse order.
            let mut board = Board::new(START, (1..=n).rev().map(user));
            for (who, sample) in delivered {
                // Older than what was seen is stale, never an error.
                prop_assert!(board.ingest(*who, sample, NOW).is_ok());
            }
            Ok(board)
        }

        fn standings(board: &Board) -> Vec<(Uuid, f64)> {
            let ranking = board.rank();
            ranking
                .order
                .iter()
                .map(|&slot| (board.user(slot), board.energy(slot)))
                .collect()
        }

        fn totals(board: &Board) -> Vec<(Uuid, f64)> {
            let mut totals = standings(board);
            totals.sort_by_key(|(who, _)| *who);
            totals
        }

        proptest! {
            #[test]
            fn any_interleaving_and_redelivery_give_the_in_order_totals_and_ranks(
                efforts in efforts(),
                seed in any::<u64>(),
                again in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
            ) {
                let samples = in_order(&efforts);
                let n = u32::try_from(efforts.len()).unwrap();
                let mut expected = board_of(n);
                for (who, sample) in &samples {
                    prop_assert!(expected.ingest(*who, sample, NOW).is_ok(), "a valid script");
                }
                let board = board_after(n, &delivered(&samples, seed, true, &again))?;
                prop_assert_eq!(standings(&board), standings(&expected));
            }

            #[test]
            fn any_order_at_all_gives_the_in_order_totals(
                efforts in efforts(),
                seed in any::<u64>(),
                again in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
            ) {
                let samples = in_order(&efforts);
                let n = u32::try_from(efforts.len()).unwrap();
                let expected = board_after(n, &samples)?;
                let board = board_after(n, &delivered(&samples, seed, false, &again))?;
                prop_assert_eq!(totals(&board), totals(&expected));
            }

            #[test]
            fn the_place_key_orders_like_energy_then_time_for_any_bits(
                a in (any::<u64>(), any::<i64>()),
                b in (any::<u64>(), any::<i64>()),
            ) {
                let (ea, eb) = (f64::from_bits(a.0), f64::from_bits(b.0));
                prop_assert_eq!(
                    place_key(ea, a.1).cmp(&place_key(eb, b.1)),
                    by_rank((ea, a.1, 0), (eb, b.1, 0))
                );
            }
        }
    }
}
