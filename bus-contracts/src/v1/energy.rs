//! The energy wire format: [`Sample`], one wearable report as published on
//! `cultfit.v1.workouts.<workout>.energy.<user>`, and [`Rejection`], every reason the live path
//! refuses one.
//!
//! This is a public, authenticated contract: wearables (any language) publish it straight onto
//! the bus with their device credentials, apps post batches of it over HTTP, and the workout's
//! owner folds it into the board. All three use this one definition.
//!
//! [`parse`] only checks what a payload says about itself (well-formed JSON, finite numbers,
//! plausible ranges). Whether the sample fits the session (roster, time window, monotonic energy)
//! needs the session's state and is decided by the workout's owner (the live board in
//! `cultfit-actors`), which reports those refusals with the other [`Rejection`]s.
//!
//! A payload in the shape serializers write (fields in declaration order, no whitespace) is read
//! by a small reader of exactly that shape (`canonical`, held to serde_json's results bit for bit
//! by property tests); every other payload goes through serde_json, the definition.
//!
//! Unknown JSON fields are ignored, so wearables may send extra data (battery, firmware) and the
//! format can grow without breaking older workers. Frozen examples live in
//! `tests/fixtures/v1/energy_sample.*.json`.

use serde::{Deserialize, Serialize};

mod canonical;

/// Highest effort rating a wearable can report; the scale is 0..=100.
pub const RATING_MAX: f64 = 100.0;

/// Plausible heart rates in beats per minute. Anything outside is a sensor fault or a forged
/// value, and would feed nonsense into the calorie formula.
pub const HR_RANGE_BPM: std::ops::RangeInclusive<f64> = 20.0..=250.0;

/// Longest payload worth parsing. A real sample is under 150 bytes; refusing a megabyte of JSON
/// before looking at it keeps a hostile publisher from costing the actor real CPU time.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// One report from a wearable.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
pub struct Sample {
    /// Per-participant sequence number, increasing with every report; the board keeps the
    /// highest one seen, which makes duplicates and replays harmless.
    pub seq: u64,
    /// When the wearable took the reading, in epoch milliseconds (the wearable's clock).
    pub ts: i64,
    /// Instantaneous effort, 0..=100 (the energy meter).
    pub rating: f64,
    /// Cumulative points since the participant joined: a rating `r` held for one second adds `r`.
    pub energy: f64,
    /// Heart rate in beats per minute, if the wearable measures it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hr: Option<f64>,
}

impl Sample {
    /// Checks what the sample says about itself; see [`parse`] for the rules.
    ///
    /// The live board calls this too, so a sample built by hand or decoded elsewhere (the HTTP
    /// batch ingest) cannot smuggle a NaN onto the board.
    pub fn validate(&self) -> Result<(), Rejection> {
        let finite = self.rating.is_finite()
            && self.energy.is_finite()
            && self.hr.is_none_or(f64::is_finite);
        if !finite || self.energy < 0.0 {
            return Err(Rejection::Malformed);
        }
        if self.hr.is_some_and(|hr| !HR_RANGE_BPM.contains(&hr)) {
            return Err(Rejection::Malformed);
        }
        if !(0.0..=RATING_MAX).contains(&self.rating) {
            return Err(Rejection::RatingOutOfRange);
        }
        Ok(())
    }
}

/// Why a sample was refused. Each one is counted (see [`Rejection::as_str`]) and dropped; none of
/// them is an error of the actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// Not JSON, a missing or mistyped field, a non-finite number, negative energy, an
    /// implausible heart rate, or an oversized payload.
    Malformed,
    /// The sender is not on the session's roster.
    NotParticipant,
    /// The workout is not live. Decided by the actor, which knows the lifecycle; the board does
    /// not.
    NotLive,
    /// `rating` outside 0..=100.
    RatingOutOfRange,
    /// `energy` below the participant's current total: cumulative points never go down.
    EnergyDecreasing,
    /// `energy` rose faster than a maximal effort could have earned it.
    EnergyTooFast,
    /// `ts` far before the start of the session or far in the future.
    TimestampOutOfRange,
}

impl Rejection {
    /// Every rejection, for registering metrics up front so each series exists from zero.
    pub const ALL: [Rejection; 7] = [
        Rejection::Malformed,
        Rejection::NotParticipant,
        Rejection::NotLive,
        Rejection::RatingOutOfRange,
        Rejection::EnergyDecreasing,
        Rejection::EnergyTooFast,
        Rejection::TimestampOutOfRange,
    ];

    /// Stable snake_case name, used as the metrics label; never change one once dashboards use it.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::NotParticipant => "not_participant",
            Rejection::NotLive => "not_live",
            Rejection::RatingOutOfRange => "rating_out_of_range",
            Rejection::EnergyDecreasing => "energy_decreasing",
            Rejection::EnergyTooFast => "energy_too_fast",
            Rejection::TimestampOutOfRange => "timestamp_out_of_range",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rejection::Malformed => "malformed sample",
            Rejection::NotParticipant => "not a participant of this workout",
            Rejection::NotLive => "the workout is not live",
            Rejection::RatingOutOfRange => "rating out of range",
            Rejection::EnergyDecreasing => "energy decreased",
            Rejection::EnergyTooFast => "energy rose too fast",
            Rejection::TimestampOutOfRange => "timestamp outside the session",
        })
    }
}

impl std::error::Error for Rejection {}

/// Decodes and validates one wire payload.
///
/// - [`Rejection::Malformed`]: longer than [`MAX_PAYLOAD_BYTES`], not UTF-8 (anywhere, even in a
///   field that is ignored), not a JSON object, a missing field, a
///   field of the wrong type (`"50"` for a number), a number that does not fit (`1e999`, a
///   negative `seq`), negative `energy`, or `hr` outside [`HR_RANGE_BPM`].
/// - [`Rejection::RatingOutOfRange`]: a well-formed sample whose `rating` is outside 0..=100.
///
/// Malformed wins when both apply: a payload that is broken elsewhere says nothing trustworthy
/// about its rating.
pub fn parse(payload: &[u8]) -> Result<Sample, Rejection> {
    // Serde's derive would also take a positional array (`[seq, ts, ...]`); the wire format is
    // an object, and accepting both would make one a contract nobody meant to keep.
    let is_object = payload.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if payload.len() > MAX_PAYLOAD_BYTES || !is_object {
        return Err(Rejection::Malformed);
    }
    // The shape every serializer writes is read directly; anything else goes to serde_json.
    let sample = match canonical::read(payload) {
        Some(sample) => sample,
        None => {
            // JSON is UTF-8 (RFC 8259). Checking the payload once up front lets serde_json take
            // every key as already-checked text instead of checking each one again.
            let text = std::str::from_utf8(payload).map_err(|_| Rejection::Malformed)?;
            serde_json::from_str(text).map_err(|_| Rejection::Malformed)?
        }
    };
    sample.validate()?;
    Ok(sample)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_well_formed_payload_parses() {
        let cases: [(&str, Sample); 4] = [
            (
                r#"{"seq":1,"ts":1893492000500,"rating":50,"energy":12.5}"#,
                Sample {
                    seq: 1,
                    ts: 1_893_492_000_500,
                    rating: 50.0,
                    energy: 12.5,
                    hr: None,
                },
            ),
            (
                r#"{"seq":2,"ts":-5,"rating":0,"energy":0,"hr":null}"#,
                Sample {
                    seq: 2,
                    ts: -5,
                    rating: 0.0,
                    energy: 0.0,
                    hr: None,
                },
            ),
            // Bounds are inclusive; unknown fields are ignored.
            (
                r#"{"seq":3,"ts":0,"rating":100,"energy":1e6,"hr":250,"battery":0.4}"#,
                Sample {
                    seq: 3,
                    ts: 0,
                    rating: 100.0,
                    energy: 1e6,
                    hr: Some(250.0),
                },
            ),
            (
                r#"{"hr":20.0,"energy":7,"rating":99.5,"ts":9,"seq":18446744073709551615}"#,
                Sample {
                    seq: u64::MAX,
                    ts: 9,
                    rating: 99.5,
                    energy: 7.0,
                    hr: Some(20.0),
                },
            ),
        ];
        for (payload, expected) in cases {
            assert_eq!(parse(payload.as_bytes()), Ok(expected), "{payload}");
        }
    }

    #[test]
    fn a_sample_survives_a_round_trip_through_json() {
        let sample = Sample {
            seq: 7,
            ts: 1_000,
            rating: 42.0,
            energy: 99.0,
            hr: Some(120.0),
        };
        let json = serde_json::to_vec(&sample).unwrap_or_default();
        assert_eq!(parse(&json), Ok(sample));
    }

    #[test]
    fn broken_payloads_are_rejected() {
        let oversized = format!(
            r#"{{"seq":1,"ts":0,"rating":1,"energy":1,"pad":"{}"}}"#,
            "x".repeat(MAX_PAYLOAD_BYTES)
        );
        let cases: [(&[u8], Rejection); 25] = [
            // Not JSON, or not an object.
            (b"", Rejection::Malformed),
            (b"\xff\xfe\x00garbage", Rejection::Malformed),
            // JSON is UTF-8: a stray byte is refused even in a field nobody reads.
            (
                b"{\"seq\":1,\"ts\":0,\"rating\":1,\"energy\":1,\"fw\":\"\xff\"}",
                Rejection::Malformed,
            ),
            (b"{", Rejection::Malformed),
            (b"null", Rejection::Malformed),
            (b"[1,2,3,4]", Rejection::Malformed),
            (oversized.as_bytes(), Rejection::Malformed),
            // Missing fields (only `hr` is optional).
            (br#"{"ts":0,"rating":1,"energy":1}"#, Rejection::Malformed),
            (br#"{"seq":1,"rating":1,"energy":1}"#, Rejection::Malformed),
            (br#"{"seq":1,"ts":0,"energy":1}"#, Rejection::Malformed),
            (br#"{"seq":1,"ts":0,"rating":1}"#, Rejection::Malformed),
            // Strings, or numbers that do not fit their field.
            (
                br#"{"seq":"1","ts":0,"rating":1,"energy":1}"#,
                Rejection::Malformed,
            ),
            (
                br#"{"seq":1,"ts":0,"rating":"50","energy":1}"#,
                Rejection::Malformed,
            ),
            (
                br#"{"seq":1,"ts":0,"rating":1,"energy":"NaN"}"#,
                Rejection::Malformed,
            ),
            (
                br#"{"seq":-1,"ts":0,"rating":1,"energy":1}"#,
                Rejection::Malformed,
            ),
            (
                br#"{"seq":1.5,"ts":0,"rating":1,"energy":1}"#,
                Rejection::Malformed,
            ),
            (
                br#"{"seq":1,"ts":1e30,"rating":1,"energy":1}"#,
                Rejection::Malformed,
            ),
            // Non-finite: JSON has no NaN, but 1e999 overflows to infinity.
            (
                br#"{"seq":1,"ts":0,"rating":1,"energy":1e999}"#,
                Rejection::Malformed,
            ),
            (
                br#"{"seq":1,"ts":0,"rating":1e999,"energy":1}"#,
                Rejection::Malformed,
            ),
            // Negative energy.
            (
                br#"{"seq":1,"ts":0,"rating":1,"energy":-0.5}"#,
                Rejection::Malformed,
            ),
            // Implausible heart rate.
            (
                br#"{"seq":1,"ts":0,"rating":1,"energy":1,"hr":19.9}"#,
                Rejection::Malformed,
            ),
            (
                br#"{"seq":1,"ts":0,"rating":1,"energy":1,"hr":251}"#,
                Rejection::Malformed,
            ),
            // Rating out of range.
            (
                br#"{"seq":1,"ts":0,"rating":-1,"energy":1}"#,
                Rejection::RatingOutOfRange,
            ),
            (
                br#"{"seq":1,"ts":0,"rating":100.01,"energy":1}"#,
                Rejection::RatingOutOfRange,
            ),
            // Broken elsewhere beats an out-of-range rating.
            (
                br#"{"seq":1,"ts":0,"rating":500,"energy":-1}"#,
                Rejection::Malformed,
            ),
        ];
        for (payload, expected) in cases {
            assert_eq!(
                parse(payload),
                Err(expected),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }

    #[test]
    fn validate_catches_what_json_cannot_carry() {
        let ok = Sample {
            seq: 1,
            ts: 0,
            rating: 10.0,
            energy: 10.0,
            hr: None,
        };
        let cases = [
            (
                Sample {
                    energy: f64::NAN,
                    ..ok
                },
                Rejection::Malformed,
            ),
            (
                Sample {
                    energy: f64::INFINITY,
                    ..ok
                },
                Rejection::Malformed,
            ),
            (
                Sample {
                    rating: f64::NAN,
                    ..ok
                },
                Rejection::Malformed,
            ),
            (
                Sample {
                    hr: Some(f64::NAN),
                    ..ok
                },
                Rejection::Malformed,
            ),
            (
                Sample {
                    rating: f64::NEG_INFINITY,
                    ..ok
                },
                Rejection::Malformed,
            ),
        ];
        assert_eq!(ok.validate(), Ok(()));
        for (sample, expected) in cases {
            assert_eq!(sample.validate(), Err(expected), "{sample:?}");
        }
    }

    #[test]
    fn rejection_labels_are_distinct_snake_case() {
        let labels: HashSet<&str> = Rejection::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), Rejection::ALL.len());
        for label in labels {
            assert!(
                label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{label}"
            );
        }
    }

    #[test]
    fn energy_parses_to_exactly_the_float_that_was_sent() {
        // Cumulative energy at 5 Hz accumulates fifths of points, whose shortest decimal forms
        // need all 17 digits; the parser must give back the very same f64 (a one-ULP error moves
        // `floor(energy)`, and with it the stored result, now and then).
        let mut energy = 0.0f64;
        for k in 0..20_000u64 {
            energy += (20 + k % 76) as f64 * 0.2;
            let sent = Sample {
                seq: k + 1,
                ts: 1_893_492_000_000,
                rating: 50.0,
                energy,
                hr: None,
            };
            let payload = serde_json::to_vec(&sent).unwrap_or_default();
            let got = parse(&payload).map(|s| s.energy.to_bits());
            assert_eq!(
                got,
                Ok(energy.to_bits()),
                "{}",
                String::from_utf8_lossy(&payload)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn every_valid_sample_survives_the_wire_exactly(
            seq in proptest::num::u64::ANY,
            ts in -4_102_444_800_000i64..4_102_444_800_000,
            rating in 0.0..=RATING_MAX,
            energy in 0.0..1e12f64,
            hr in proptest::option::of(HR_RANGE_BPM),
        ) {
            let sent = Sample { seq, ts, rating, energy, hr };
            let payload = serde_json::to_vec(&sent).unwrap_or_default();
            proptest::prop_assert_eq!(parse(&payload), Ok(sent));
        }

        #[test]
        fn no_payload_makes_the_parser_panic(payload in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse(&payload);
        }

        #[test]
        fn no_object_of_numbers_makes_the_parser_panic(
            fields in proptest::collection::btree_map("seq|ts|rating|energy|hr|x", proptest::num::f64::ANY, 0..6),
        ) {
            let object: serde_json::Map<String, serde_json::Value> = fields
                .into_iter()
                .map(|(k, v)| (k, serde_json::json!(v)))
                .collect();
            let payload = serde_json::to_vec(&object).unwrap_or_default();
            if let Ok(sample) = parse(&payload) {
                proptest::prop_assert!(sample.validate().is_ok());
            }
        }
    }
}
