//! The quota syntax of the configuration: `<count>/<s|m|h>`.
//!
//! `300/s` allows a burst of 300 and refills one cell every 1/300 s; `10/m` a burst of 10, one
//! cell back every 6 s. That is exactly governor's `Quota::per_second`/`per_minute`/`per_hour`.

use governor::Quota;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

/// Largest `<count>`: beyond it a per-second quota would refill in under a microsecond, which is
/// no limit at all.
const MAX_COUNT: u32 = 1_000_000;

/// A parsed `<count>/<s|m|h>`: a burst of `count`, refilled evenly over the period.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct QuotaSpec {
    count: NonZeroU32,
    period: Period,
}

/// The period a quota's count refills over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Period {
    Second,
    Minute,
    Hour,
}

impl QuotaSpec {
    /// The governor quota: burst `count`, one cell back every `period / count`.
    pub fn quota(self) -> Quota {
        match self.period {
            Period::Second => Quota::per_second(self.count),
            Period::Minute => Quota::per_minute(self.count),
            Period::Hour => Quota::per_hour(self.count),
        }
    }
}

/// Why a quota did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid quota {input:?}: {why} (expected <count>/<s|m|h>, e.g. 10/m)")]
pub struct QuotaError {
    input: String,
    why: &'static str,
}

impl FromStr for QuotaSpec {
    type Err = QuotaError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = |why| QuotaError {
            input: input.to_owned(),
            why,
        };
        let (count, period) = input.trim().split_once('/').ok_or(error("no '/'"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| error("the count is not a whole number"))?;
        if count > MAX_COUNT {
            return Err(error("the count is above 1000000"));
        }
        let count = NonZeroU32::new(count).ok_or(error("the count must be at least 1"))?;
        let period = match period.trim() {
            "s" => Period::Second,
            "m" => Period::Minute,
            "h" => Period::Hour,
            _ => return Err(error("the period must be s, m or h")),
        };
        Ok(QuotaSpec { count, period })
    }
}

impl fmt::Display for QuotaSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period {
            Period::Second => "s",
            Period::Minute => "m",
            Period::Hour => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl fmt::Debug for QuotaSpec {
    // As it is written, so the configuration logs read like the flags.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_quota_is_a_burst_of_count_refilled_evenly_over_its_period() {
        for (input, burst, refill_one) in [
            ("300/s", 300, Duration::from_nanos(3_333_333)),
            ("10/m", 10, Duration::from_secs(6)),
            ("1/h", 1, Duration::from_secs(3600)),
            (" 20 / s ", 20, Duration::from_millis(50)),
            ("1000000/s", 1_000_000, Duration::from_micros(1)),
        ] {
            let quota = input.parse::<QuotaSpec>().map(QuotaSpec::quota);
            assert_eq!(
                quota.map(|q| (q.burst_size().get(), q.replenish_interval())),
                Ok((burst, refill_one)),
                "{input}"
            );
        }
    }

    #[test]
    fn a_quota_displays_as_it_is_written() {
        for input in ["300/s", "10/m", "1/h"] {
            assert_eq!(
                input.parse::<QuotaSpec>().map(|q| q.to_string()),
                Ok(input.to_owned())
            );
        }
    }

    #[test]
    fn bad_quotas_say_what_is_wrong_and_what_is_expected() {
        for (input, why) in [
            ("", "no '/'"),
            ("300", "no '/'"),
            ("/s", "the count is not a whole number"),
            ("ten/m", "the count is not a whole number"),
            ("-1/m", "the count is not a whole number"),
            ("1.5/m", "the count is not a whole number"),
            ("0/s", "the count must be at least 1"),
            ("1000001/s", "the count is above 1000000"),
            ("10/d", "the period must be s, m or h"),
            ("10/min", "the period must be s, m or h"),
            ("10/", "the period must be s, m or h"),
            ("10/m/s", "the period must be s, m or h"),
        ] {
            let err = input.parse::<QuotaSpec>().err();
            assert_eq!(err.as_ref().map(|e| e.why), Some(why), "{input:?}");
            let message = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains("<count>/<s|m|h>"), "{message}");
        }
    }
}
