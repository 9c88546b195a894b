//! The pure parts of `cultfit simulate`: a simulated wearable's readings, and the bookkeeping
//! that turns frames into sample→frame latencies.

use bus_contracts::v1::energy::Sample;
use hdrhistogram::Histogram;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;
use uuid::Uuid;

/// One trainee's wearable: a bounded random walk of effort, integrated into cumulative energy.
#[derive(Clone, Debug)]
pub struct Wearable {
    /// The trainee.
    pub user: Uuid,
    /// Where it publishes.
    pub subject: String,
    seq: u64,
    energy: f64,
    rating: f64,
    rng: u64,
}

impl Wearable {
    /// A wearable for `user`, seeded so every run of the same session is the same workout.
    pub fn new(user: Uuid, subject: String, seed: u64) -> Self {
        Self {
            user,
            subject,
            seq: 0,
            energy: 0.0,
            rating: 40.0 + (seed % 40) as f64,
            rng: seed | 1,
        }
    }

    /// Wearable `i` of `n` starts `(i + 1) / (n + 1)` of a point above zero, so no two of the
    /// session ever tie (stored energies, whole points, are unchanged). The service breaks exact
    /// ties by user id, which differs between two runs of one script; without ties the script
    /// alone decides every rank, and two runs' results can be compared.
    pub fn untied(mut self, i: usize, n: usize) -> Self {
        self.energy = (i + 1) as f64 / (n + 1) as f64;
        self
    }

    /// The next reading, taken at `ts_ms`, `period_s` after the previous one.
    pub fn next(&mut self, ts_ms: i64, period_s: f64) -> Sample {
        // xorshift: cheap, deterministic, good enough for effort that wanders.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let step = (self.rng % 11) as f64 - 5.0;
        self.rating = (self.rating + step).clamp(20.0, 95.0);
        self.seq += 1;
        self.energy += self.rating * period_s;
        Sample {
            seq: self.seq,
            ts: ts_ms,
            rating: self.rating,
            energy: self.energy,
            hr: self.seq.is_multiple_of(2).then_some(90.0 + self.rating),
        }
    }

    /// Cumulative energy of the newest reading.
    pub fn energy(&self) -> f64 {
        self.energy
    }
}

/// A run's seed from its `--name`, so the same name replays the same workout (FNV-1a).
pub fn seed_from(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Wearable `index`'s seed within a run seeded `seed` (splitmix64: neighbours get unrelated
/// streams).
pub fn seed_for(seed: u64, index: usize) -> u64 {
    let mut z = seed.wrapping_add((index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Samples sent but not yet seen in a frame, per trainee, and the latencies of those seen.
#[derive(Debug)]
pub struct Latencies {
    pending: HashMap<Uuid, VecDeque<(f64, Instant)>>,
    /// Microseconds from a sample's intended send time to the first frame reflecting it.
    pub histogram: Histogram<u64>,
    /// Samples sent.
    pub sent: u64,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            pending: HashMap::new(),
            // Three significant figures is always a valid precision.
            histogram: Histogram::new(3).unwrap_or_else(|_| std::process::abort()),
            sent: 0,
        }
    }
}

impl Latencies {
    /// `user`'s sample with cumulative `energy` was due at `intended`.
    pub fn sent(&mut self, user: Uuid, energy: f64, intended: Instant) {
        self.sent += 1;
        self.pending
            .entry(user)
            .or_default()
            .push_back((energy, intended));
    }

    /// A frame received at `at` shows `user` with `energy` points (rounded down): every pending
    /// sample of theirs at or below it, and already due by `at`, is now reflected. (Samples are
    /// expected a little ahead of their send; one not yet due cannot be in a frame, even when it
    /// adds less than a point.)
    pub fn observed(&mut self, user: Uuid, energy: i64, at: Instant) {
        let Some(queue) = self.pending.get_mut(&user) else {
            return;
        };
        while let Some(&(sent, intended)) = queue.front() {
            if sent.floor() as i64 > energy || intended > at {
                break;
            }
            queue.pop_front();
            let micros = at.saturating_duration_since(intended).as_micros();
            let _ = self
                .histogram
                .record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
        }
    }

    /// Samples not reflected in any frame yet.
    pub fn pending(&self) -> usize {
        self.pending.values().map(VecDeque::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn readings_are_valid_increasing_and_integrate_the_rating() {
        let mut w = Wearable::new(Uuid::nil(), String::new(), 42);
        let mut energy = 0.0;
        for k in 0..1_000 {
            let s = w.next(1_000 * k, 0.5);
            assert!(s.validate().is_ok(), "{s:?}");
            assert_eq!(s.seq, k as u64 + 1);
            energy += s.rating * 0.5;
            assert!((s.energy - energy).abs() < 1e-9);
        }
        assert_eq!(w.energy(), energy);
    }

    #[test]
    fn a_frame_reflects_every_sample_up_to_its_energy() {
        let mut l = Latencies::default();
        let user = Uuid::from_u128(1);
        let t0 = Instant::now();
        for (k, energy) in [(0, 10.5), (1, 20.0), (2, 30.2)] {
            l.sent(user, energy, t0 + Duration::from_secs(k));
        }
        l.observed(user, 20, t0 + Duration::from_millis(2_500));
        assert_eq!((l.pending(), l.histogram.len()), (1, 2));
        // 2.5 s after the first sample, 1.5 s after the second.
        assert!(l.histogram.max() >= 2_499_000 && l.histogram.min() <= 1_501_000);
        l.observed(user, 29, t0 + Duration::from_secs(3));
        assert_eq!(l.pending(), 1, "30.2 is not reflected by 29");
        l.observed(user, 30, t0 + Duration::from_secs(3));
        assert_eq!((l.pending(), l.sent), (0, 3));
    }

    #[test]
    fn a_sample_expected_ahead_of_its_send_is_not_reflected_before_it_is_due() {
        let mut l = Latencies::default();
        let user = Uuid::from_u128(1);
        let t0 = Instant::now();
        // Less than a point apart: a frame showing the first also shows 10 for the second.
        l.sent(user, 10.2, t0);
        l.sent(user, 10.7, t0 + Duration::from_millis(40));
        l.observed(user, 10, t0 + Duration::from_millis(20));
        assert_eq!((l.pending(), l.histogram.len()), (1, 1));
        l.observed(user, 10, t0 + Duration::from_millis(60));
        assert_eq!(l.pending(), 0);
    }
}
