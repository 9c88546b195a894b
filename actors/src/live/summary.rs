//! [`summarize`]: each participant's result when a session ends, built from the board's
//! per-second history.
//!
//! The history only has the seconds in which a sample landed, so it is replayed second by second
//! over the session, filling the gaps forward:
//! - **energy** stays at the last known cumulative value (it is a running total, so a gap only
//!   means we did not hear about it yet);
//! - **rating** holds the latest sample's rating for [`FRESH_FOR_SECONDS`] more seconds and then
//!   drops to 0: a wearable that went quiet is not still sprinting.
//!
//! A second is **active** when the latest sample at or before it is at most
//! [`FRESH_FOR_SECONDS`] old and has a rating above zero; equivalently, when its filled-in rating
//! is above zero. A second is **present** when that sample is fresh whatever its rating; calories
//! are counted over present seconds only, so a participant who never sent anything (or left
//! early) is not credited with resting calories for time they were not there.

use super::board::{Board, History, MAX_SECONDS, NO_RATING};
use super::calories::{Body, Method, estimate};
use serde::Serialize;
use std::collections::HashMap;
use uuid::Uuid;

/// How many seconds after its own a sample's rating still counts: one missed 1 Hz sample (or a
/// few) does not mark a working participant inactive, a silent wearable soon does.
pub const FRESH_FOR_SECONDS: usize = 5;

/// One participant's outcome of a session.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParticipantResult {
    /// Who.
    pub user: Uuid,
    /// Final place, 1-based; everyone gets one, those who scored nothing last.
    pub rank: u32,
    /// Final cumulative energy points, rounded down.
    pub energy: i64,
    /// Estimated kcal burnt over the present seconds (see the module docs).
    pub calories: f64,
    /// How `calories` was estimated.
    pub method: Method,
    /// The body metrics the estimate used.
    pub body: Body,
    /// Seconds with a fresh sample and a rating above zero.
    pub active_seconds: u32,
    /// Average rating over each minute of the session, counting inactive seconds as 0; the last
    /// minute is averaged over the seconds it actually has.
    pub per_minute_rating: Vec<f32>,
    /// Cumulative energy at the end of each second of the session, rounded down.
    pub energy_curve: Vec<i32>,
}

/// Results for everyone on `board`, in rank order, for a session ending at `ended_at_ms`.
///
/// The session covers `(ended_at_ms − started_at) / 1000` whole seconds, at most
/// [`MAX_SECONDS`] (and none if it "ended" before it started). Bodies missing from `bodies` count
/// as entirely unknown.
pub fn summarize(
    board: &Board,
    ended_at_ms: i64,
    bodies: &HashMap<Uuid, Body>,
) -> Vec<ParticipantResult> {
    let seconds = session_seconds(board.started_at_ms(), ended_at_ms);
    let unknown = Body::default();
    let ranking = board.rank();
    ranking
        .order
        .iter()
        .zip(1u32..)
        .map(|(&slot, rank)| {
            let user = board.user(slot);
            let body = bodies.get(&user).unwrap_or(&unknown);
            summarize_slot(board, slot, rank, seconds, body)
        })
        .collect()
}

/// Whole seconds from start to end, within `0..=MAX_SECONDS`.
fn session_seconds(started_at_ms: i64, ended_at_ms: i64) -> usize {
    let seconds = ended_at_ms.saturating_sub(started_at_ms) / 1000;
    seconds.clamp(0, i64::from(MAX_SECONDS)) as usize
}

fn summarize_slot(
    board: &Board,
    slot: u32,
    rank: u32,
    seconds: usize,
    body: &Body,
) -> ParticipantResult {
    // Floats cast to ints saturate, and board energy is finite and non-negative.
    let energy = board.energy(slot).floor() as i64;
    let history = board.history(slot);
    let mut energy_curve = Vec::with_capacity(seconds);
    let mut per_minute_rating = Vec::with_capacity(seconds.div_ceil(60));
    let mut minute_sum = 0.0f64;
    let mut active_seconds = 0u32;
    for (index, second) in replay(history, seconds).enumerate() {
        // The f32 history may round up past the f64 total; the curve never ends above `energy`.
        energy_curve.push((second.energy.floor() as i64).min(energy) as i32);
        let rating = second.rating();
        if rating > 0.0 {
            active_seconds = active_seconds.saturating_add(1);
        }
        minute_sum += f64::from(rating);
        let in_minute = index % 60 + 1;
        if in_minute == 60 || index + 1 == seconds {
            per_minute_rating.push((minute_sum / in_minute as f64) as f32);
            minute_sum = 0.0;
        }
    }
    let present = replay(history, seconds)
        .filter_map(|second| second.reading)
        .map(|reading| (reading.rating, reading.hr));
    let (calories, method) = estimate(body, present);
    ParticipantResult {
        user: board.user(slot),
        rank,
        energy,
        calories,
        method,
        body: *body,
        active_seconds,
        per_minute_rating,
        energy_curve,
    }
}

/// The newest sample at or before a second.
#[derive(Clone, Copy, Debug)]
struct Reading {
    /// The second it landed in.
    at: usize,
    rating: f32,
    hr: Option<f32>,
}

/// One second of the session, filled in.
#[derive(Clone, Copy, Debug)]
struct Second {
    /// Cumulative energy by the end of this second.
    energy: f32,
    /// The newest sample, if it is still fresh.
    reading: Option<Reading>,
}

impl Second {
    /// The rating this second counts with: the fresh sample's, else 0.
    fn rating(&self) -> f32 {
        self.reading.map_or(0.0, |r| r.rating)
    }
}

/// What carries over from one second to the next while replaying.
#[derive(Clone, Copy, Debug, Default)]
struct Carry {
    energy: f32,
    last: Option<Reading>,
}

/// Replays `history` over the first `seconds` seconds of the session, filling gaps forward (see
/// the module docs). Samples stamped after the session's end (a wearable's clock running ahead)
/// still count towards the last second's energy, so the curve ends at the final score.
fn replay(history: History<'_>, seconds: usize) -> impl Iterator<Item = Second> + '_ {
    let late_energy = history
        .energy
        .get(seconds..)
        .unwrap_or_default()
        .iter()
        .filter(|e| !e.is_nan())
        .fold(0.0f32, |max, &e| max.max(e));
    (0..seconds).scan(Carry::default(), move |carry, s| {
        if let Some(&energy) = history.energy.get(s)
            && !energy.is_nan()
        {
            carry.energy = carry.energy.max(energy);
            carry.last = Some(Reading {
                at: s,
                rating: history
                    .rating
                    .get(s)
                    .filter(|&&r| r != NO_RATING)
                    .map_or(0.0, |&r| f32::from(r)),
                hr: history
                    .hr
                    .get(s)
                    .filter(|&&hr| hr > 0)
                    .map(|&hr| f32::from(hr)),
            });
        }
        if s + 1 == seconds {
            carry.energy = carry.energy.max(late_energy);
        }
        let reading = carry.last.filter(|r| s - r.at <= FRESH_FOR_SECONDS);
        Some(Second {
            energy: carry.energy,
            reading,
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a broken test setup should fail loudly")]
    use super::*;
    use crate::live::calories::Sex;
    use bus_contracts::v1::energy::Sample;

    /// 2030-01-01 10:00 UTC, the start of every test session.
    const START: i64 = 1_893_492_000_000;
    const END: i64 = START + 130_000;

    fn user(n: u32) -> Uuid {
        Uuid::from_u128(1_000 + u128::from(n))
    }

    /// A sample stamped in the middle of second `second`.
    fn at(second: i64, seq: u64, rating: f64, energy: f64, hr: Option<f64>) -> Sample {
        Sample {
            seq,
            ts: START + second * 1000 + 500,
            rating,
            energy,
            hr,
        }
    }

    /// Four trainees over 130 seconds (two full minutes and ten seconds):
    /// - 1 ("steady"): rating 50 every second, with a heart rate of 150 → 6 500 points;
    /// - 2 ("sprinter"): rating 100 every second for the first minute, then silent → 6 000;
    /// - 3 ("late"): joins at 70 s, one sample every 10 s at rating 80, last one at 120 s → 4 080;
    /// - 4 ("absent"): never sends anything.
    fn session() -> Board {
        let mut board = Board::new(START, (1..=4).map(user));
        let now = END;
        for s in 0..130 {
            let seq = s as u64 + 1;
            let steady = at(s, seq, 50.0, 50.0 * (s + 1) as f64, Some(150.0));
            board.ingest(user(1), &steady, now).unwrap();
            if s < 60 {
                let sprint = at(s, seq, 100.0, 100.0 * (s + 1) as f64, None);
                board.ingest(user(2), &sprint, now).unwrap();
            }
            if s >= 70 && s % 10 == 0 && s <= 120 {
                let k = (s - 70) / 10;
                let late = at(s, k as u64, 80.0, 80.0 + 800.0 * k as f64, None);
                board.ingest(user(3), &late, now).unwrap();
            }
        }
        board
    }

    fn bodies() -> HashMap<Uuid, Body> {
        HashMap::from([
            (
                user(1),
                Body {
                    weight_kg: Some(80.0),
                    age_years: Some(30),
                    sex: Some(Sex::Male),
                },
            ),
            (
                user(3),
                Body {
                    weight_kg: Some(60.0),
                    ..Body::default()
                },
            ),
        ])
    }

    #[test]
    fn three_trainees_and_an_absentee_over_130_seconds() {
        let results = summarize(&session(), END, &bodies());
        let summary: Vec<_> = results
            .iter()
            .map(|r| {
                (
                    r.user,
                    r.rank,
                    r.energy,
                    r.method,
                    r.active_seconds,
                    r.per_minute_rating.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    user(1),
                    1,
                    6500,
                    Method::Keytel,
                    130,
                    vec![50.0, 50.0, 50.0]
                ),
                // Seconds 0..60 at 100, then the last sample stays fresh for 5 more seconds.
                (
                    user(2),
                    2,
                    6000,
                    Method::Met,
                    65,
                    vec![100.0, 500.0 / 60.0, 0.0]
                ),
                // Each sample covers its second and the 5 after: 6 × 6 = 36 active seconds;
                // minute 2 has 5 of them (30 s at 80), minute 3 has 6 of its 10 seconds.
                (user(3), 3, 4080, Method::Met, 36, vec![0.0, 40.0, 48.0]),
                (user(4), 4, 0, Method::Met, 0, vec![0.0, 0.0, 0.0]),
            ]
        );

        // Calories, over present seconds only:
        // 1: 130 s of Keytel at 14.697204 kcal/min (man, 150 bpm, 80 kg, 30 y) = 31.843941;
        // 2: 65 s of MET at rating 100 with the default 70 kg, 14.7 kcal/min = 15.925;
        // 3: 36 s of MET at rating 80 with 60 kg: 9.9 MET × 3.5 × 60 / 200 = 10.395/min = 6.237;
        // 4: never present, nothing.
        let calories: Vec<f64> = results.iter().map(|r| r.calories).collect();
        for (got, expected) in calories
            .iter()
            .zip([31.843_941_204_588_91, 15.925, 6.237, 0.0])
        {
            assert!((got - expected).abs() < 1e-6, "{calories:?}");
        }
    }

    #[test]
    fn the_energy_curve_fills_forward() {
        let results = summarize(&session(), END, &bodies());
        let curve = |n: u32| {
            let result = results.iter().find(|r| r.user == user(n)).unwrap();
            assert_eq!(result.energy_curve.len(), 130);
            result.energy_curve.clone()
        };
        let points = |c: &[i32], at: &[usize]| at.iter().map(|&s| c[s]).collect::<Vec<_>>();
        assert_eq!(
            points(&curve(1), &[0, 1, 59, 129]),
            vec![50, 100, 3000, 6500]
        );
        assert_eq!(
            points(&curve(2), &[0, 59, 60, 129]),
            vec![100, 6000, 6000, 6000]
        );
        assert_eq!(
            points(&curve(3), &[0, 69, 70, 79, 80, 120, 129]),
            vec![0, 0, 80, 80, 880, 4080, 4080]
        );
        assert_eq!(curve(4), vec![0; 130]);
    }

    #[test]
    fn session_length_is_bounded() {
        let board = session();
        let cases = [
            // Ended before it started: no seconds at all.
            (START - 5_000, 0, 0),
            (START + 999, 0, 0),
            (START + 61_000, 61, 2),
            // Capped at four hours, however late the end.
            (i64::MAX, MAX_SECONDS as usize, 240),
        ];
        for (ended_at, seconds, minutes) in cases {
            for result in summarize(&board, ended_at, &HashMap::new()) {
                assert_eq!(result.energy_curve.len(), seconds, "{ended_at}");
                assert_eq!(result.per_minute_rating.len(), minutes, "{ended_at}");
            }
        }
    }

    #[test]
    fn samples_after_the_end_count_towards_the_last_second() {
        let mut board = Board::new(START, [user(1)]);
        board
            .ingest(user(1), &at(5, 1, 50.0, 300.0, None), START + 5_000)
            .unwrap();
        // Stamped two seconds after the session's end by a clock running ahead.
        board
            .ingest(user(1), &at(12, 2, 50.0, 650.0, None), START + 10_000)
            .unwrap();
        let result = &summarize(&board, START + 10_000, &HashMap::new())[0];
        assert_eq!(result.energy, 650);
        assert_eq!(
            result.energy_curve,
            vec![0, 0, 0, 0, 0, 300, 300, 300, 300, 650]
        );
    }
}
