//! The one shape serializers write a [`Sample`] in, read without a general JSON parser.
//!
//! Nearly every payload is exactly what `serde_json::to_vec(&Sample)` produces, as does any
//! serializer that keeps the field order and adds no whitespace:
//! `{"seq":1,"ts":1893492000500,"rating":50.0,"energy":12.5}`, optionally with `,"hr":…` before
//! the brace. [`read`] recognises that shape and nothing else; any other payload (whitespace,
//! another key order, an unknown field, an escape) gets `None`, and the caller hands it to
//! serde_json, which stays the definition of the format. The property tests below hold the two to
//! the same bits on every payload this one accepts.
//!
//! Why it exists: a live session decodes all of its samples on one core, and this takes about half
//! of serde_json's instructions for one (docs/BENCHMARKS.md, scenario 6). General JSON crates were
//! measured too and are slower than serde_json on a payload this small.

use super::Sample;

/// The sample in `payload` if it is in the canonical shape with finite numbers; else `None`.
/// Every byte of that shape is ASCII, so a payload it accepts is UTF-8 without checking.
pub(super) fn read(payload: &[u8]) -> Option<Sample> {
    let mut rest = Cursor(payload);
    rest.expect(b"{\"seq\":")?;
    let seq = rest.number()?.unsigned()?;
    rest.expect(b",\"ts\":")?;
    let ts = rest.number()?.signed()?;
    rest.expect(b",\"rating\":")?;
    let rating = rest.number()?.float()?;
    rest.expect(b",\"energy\":")?;
    let energy = rest.number()?.float()?;
    let hr = match rest.expect(b",\"hr\":") {
        Some(()) if rest.expect(b"null").is_some() => None,
        Some(()) => Some(rest.number()?.float()?),
        None => None,
    };
    rest.expect(b"}")?;
    rest.0.is_empty().then_some(Sample {
        seq,
        ts,
        rating,
        energy,
        hr,
    })
}

/// What is left of the payload.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn expect(&mut self, literal: &[u8]) -> Option<()> {
        self.0 = self.0.strip_prefix(literal)?;
        Some(())
    }

    /// The JSON number (RFC 8259 §6) the payload continues with.
    fn number(&mut self) -> Option<Number<'a>> {
        let bytes = self.0;
        let mut digits = Digits::default();
        let negative = bytes.first() == Some(&b'-');
        let mut at = usize::from(negative);
        // int = zero / ( digit1-9 *DIGIT )
        match bytes.get(at)? {
            b'0' => at += 1,
            b'1'..=b'9' => at += digits.take(&bytes[at..], false),
            _ => return None,
        }
        let mut integral = true;
        // frac = decimal-point 1*DIGIT
        if bytes.get(at) == Some(&b'.') {
            let taken = digits.take(&bytes[at + 1..], true);
            (taken > 0).then_some(())?;
            at += 1 + taken;
            integral = false;
        }
        // exp = e [ minus / plus ] 1*DIGIT
        if let Some(b'e' | b'E') = bytes.get(at) {
            at += 1;
            let negative_exponent = bytes.get(at) == Some(&b'-');
            at += usize::from(matches!(bytes.get(at), Some(b'-' | b'+')));
            let mut exponent = Digits::default();
            let taken = exponent.take(&bytes[at..], false);
            (taken > 0).then_some(())?;
            at += taken;
            let power = exponent.saturated();
            digits.exponent = if negative_exponent {
                digits.exponent.saturating_sub(power)
            } else {
                digits.exponent.saturating_add(power)
            };
            integral = false;
        }
        let (text, rest) = self.0.split_at_checked(at)?;
        self.0 = rest;
        Some(Number {
            text,
            integral,
            negative,
            digits,
        })
    }
}

/// A number as read: its text, and its digits as an integer times a power of ten.
struct Number<'a> {
    /// Digits, signs, a decimal point and an exponent mark: ASCII.
    text: &'a [u8],
    /// Neither a fraction nor an exponent.
    integral: bool,
    negative: bool,
    digits: Digits,
}

impl Number<'_> {
    /// The value of a non-negative integer that fits a `u64`.
    fn unsigned(&self) -> Option<u64> {
        if !self.integral || self.negative {
            return None;
        }
        if self.digits.overflowed() {
            self.parsed()
        } else {
            Some(self.digits.mantissa)
        }
    }

    /// The value of an integer that fits an `i64`. `-0` is left to serde_json, which reads it
    /// as a float (and so refuses it for an integer field).
    fn signed(&self) -> Option<i64> {
        if !self.integral || self.digits.overflowed() {
            return None;
        }
        let magnitude = i64::try_from(self.digits.mantissa).ok()?;
        match (self.negative, magnitude) {
            (false, _) => Some(magnitude),
            (true, 0) => None,
            (true, _) => Some(-magnitude),
        }
    }

    /// The text read by the standard library, for numbers past the fast paths.
    fn parsed<T: std::str::FromStr>(&self) -> Option<T> {
        std::str::from_utf8(self.text).ok()?.parse().ok()
    }

    /// The nearest `f64`, if it is finite.
    fn float(&self) -> Option<f64> {
        let value = match self.digits.exact() {
            Some(magnitude) if self.negative => -magnitude,
            Some(magnitude) => magnitude,
            // Long or extreme numbers: the standard library's exact algorithm.
            None => self.parsed()?,
        };
        value.is_finite().then_some(value)
    }
}

/// Decimal digits as `mantissa × 10^exponent`, while there are at most 19 (any 19 fit a `u64`).
#[derive(Default)]
struct Digits {
    mantissa: u64,
    /// Every digit taken, including those past the 19th.
    count: usize,
    exponent: i64,
}

/// The most decimal digits every `u64` can hold.
const MAX_DIGITS: usize = 19;

/// Every power of ten a double holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

impl Digits {
    /// Takes the ASCII digits `bytes` starts with; each one after the decimal point
    /// (`fraction`) also lowers the exponent. Returns how many bytes were taken.
    fn take(&mut self, bytes: &[u8], fraction: bool) -> usize {
        let mut taken = 0;
        for &byte in bytes {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            taken += 1;
            self.count += 1;
            if self.count <= MAX_DIGITS {
                // Cannot wrap: at most 19 digits get here.
                self.mantissa = self
                    .mantissa
                    .wrapping_mul(10)
                    .wrapping_add(u64::from(digit));
                self.exponent -= i64::from(fraction);
            }
        }
        taken
    }

    /// A 20th digit came: the value is only in the text.
    fn overflowed(&self) -> bool {
        self.count > MAX_DIGITS
    }

    /// The digits as an integer, `i64::MAX` if they do not fit (for an exponent).
    fn saturated(&self) -> i64 {
        if self.overflowed() {
            i64::MAX
        } else {
            i64::try_from(self.mantissa).unwrap_or(i64::MAX)
        }
    }

    /// The value when one correctly rounded operation gives it exactly: a mantissa of at most
    /// 2^53 (held exactly by a double) times or divided by a power of ten up to 10^22 (held
    /// exactly too). This is Clinger's fast path; the result is the nearest double, as
    /// `str::parse` and serde_json's `float_roundtrip` give.
    fn exact(&self) -> Option<f64> {
        if self.overflowed() || self.mantissa > 1 << 53 {
            return None;
        }
        let power = usize::try_from(self.exponent.unsigned_abs()).ok()?;
        let power = *EXACT_POWERS_OF_TEN.get(power)?;
        // Exact: the mantissa is at most 2^53.
        let mantissa = self.mantissa as f64;
        Some(if self.exponent < 0 {
            mantissa / power
        } else {
            mantissa * power
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Sample, read};
    use proptest::prelude::*;

    /// A sample's fields as bits, so that `-0.0` and `0.0` count as different.
    fn bits(sample: Sample) -> (u64, i64, u64, u64, Option<u64>) {
        let Sample {
            seq,
            ts,
            rating,
            energy,
            hr,
        } = sample;
        (
            seq,
            ts,
            rating.to_bits(),
            energy.to_bits(),
            hr.map(f64::to_bits),
        )
    }

    /// `read` declines `payload` or gives exactly what serde_json, the definition, gives.
    fn agrees_with_serde(payload: &[u8]) -> Result<(), TestCaseError> {
        if let Some(read) = read(payload) {
            let text = std::str::from_utf8(payload).ok();
            let defined = text.and_then(|text| serde_json::from_str::<Sample>(text).ok());
            prop_assert_eq!(
                defined.map(bits),
                Some(bits(read)),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
        Ok(())
    }

    fn payload(seq: &str, ts: &str, rating: &str, energy: &str, hr: Option<&str>) -> String {
        let hr = hr.map(|hr| format!(",\"hr\":{hr}")).unwrap_or_default();
        format!(r#"{{"seq":{seq},"ts":{ts},"rating":{rating},"energy":{energy}{hr}}}"#)
    }

    #[test]
    fn edge_cases_are_read_or_left_to_serde_json() {
        let sample = |seq, ts, energy| Sample {
            seq,
            ts,
            rating: 50.0,
            energy,
            hr: None,
        };
        let cases: [(String, Option<Sample>); 20] = [
            (
                payload("1", "2", "50", "2.5", None),
                Some(sample(1, 2, 2.5)),
            ),
            (
                payload("1", "2", "50.0", "2.5", Some("120")),
                Some(Sample {
                    hr: Some(120.0),
                    ..sample(1, 2, 2.5)
                }),
            ),
            (
                payload("1", "2", "50", "2.5", Some("null")),
                Some(sample(1, 2, 2.5)),
            ),
            (
                payload("18446744073709551615", "-7", "5e1", "0.25e1", None),
                Some(sample(u64::MAX, -7, 2.5)),
            ),
            (
                payload("1", "2", "50", "-0", None),
                Some(sample(1, 2, -0.0)),
            ),
            (
                payload("1", "2", "500E-1", "2.5E+0", None),
                Some(sample(1, 2, 2.5)),
            ),
            (
                payload("1", "2", "50", "123456789012345678901234567890", None),
                Some(sample(1, 2, 1.2345678901234568e29)),
            ),
            (
                payload("1", "2", "50", "1e-400", None),
                Some(sample(1, 2, 0.0)),
            ),
            // Left to serde_json: it reads `-0` as a float, and `i64::MIN` is past the fast path.
            (payload("1", "-0", "50", "1", None), None),
            (payload("1", "-9223372036854775808", "50", "1", None), None),
            (payload("18446744073709551616", "0", "50", "1", None), None),
            (payload("1.0", "0", "50", "1", None), None),
            // Not JSON numbers, or not finite.
            (payload("01", "0", "50", "1", None), None),
            (payload("1", "0", ".5", "1", None), None),
            (payload("1", "0", "5.", "1", None), None),
            (payload("1", "0", "+5", "1", None), None),
            (payload("1", "0", "5e", "1", None), None),
            (payload("1", "0", "50", "1e999", None), None),
            // Another shape: whitespace, an unknown field.
            (format!(" {}", payload("1", "0", "50", "1", None)), None),
            (payload("1", "0", "50", "1,\"fw\":\"2\"", None), None),
        ];
        for (payload, expected) in cases {
            assert_eq!(
                read(payload.as_bytes()).map(bits),
                expected.map(bits),
                "{payload}"
            );
            assert!(agrees_with_serde(payload.as_bytes()).is_ok(), "{payload}");
        }
    }

    fn finite() -> impl Strategy<Value = f64> {
        use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
        POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
    }

    /// JSON numbers of every form, and some near misses.
    const NUMBER: &str = "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,24})?([eE][+-]?[0-9]{1,4})?|0[0-9]|\\.5|5\\.|\\+1|1e|null|\"1\"";

    proptest! {
        #[test]
        fn whatever_serde_json_writes_is_read_exactly(
            seq in any::<u64>(),
            ts in any::<i64>(),
            rating in finite(),
            energy in finite(),
            hr in proptest::option::of(finite()),
        ) {
            let sample = Sample { seq, ts, rating, energy, hr };
            let payload = serde_json::to_string(&sample).unwrap_or_default();
            // i64::MIN is the one value the fast path leaves to serde_json.
            let expected = (ts != i64::MIN).then_some(bits(sample));
            prop_assert_eq!(read(payload.as_bytes()).map(bits), expected, "{}", payload);
        }

        #[test]
        fn any_number_is_read_as_serde_json_reads_it(
            seq in NUMBER, ts in NUMBER, rating in NUMBER, energy in NUMBER,
            hr in proptest::option::of(NUMBER),
        ) {
            agrees_with_serde(payload(&seq, &ts, &rating, &energy, hr.as_deref()).as_bytes())?;
        }

        #[test]
        fn a_damaged_payload_is_read_as_serde_json_reads_it(
            sample in (any::<u64>(), any::<i64>(), finite(), finite(), proptest::option::of(finite())),
            at in any::<prop::sample::Index>(),
            edit in 0..3u8,
            byte in prop::sample::select(b"0123456789-+.eE,:{}\" xn\xc3\xff".to_vec()),
        ) {
            let (seq, ts, rating, energy, hr) = sample;
            let sample = Sample { seq, ts, rating, energy, hr };
            let mut damaged = serde_json::to_vec(&sample).unwrap_or_default();
            let at = at.index(damaged.len());
            match edit {
                0 => damaged[at] = byte,
                1 => damaged.insert(at, byte),
                _ => { damaged.remove(at); }
            }
            agrees_with_serde(&damaged)?;
        }
    }
}
