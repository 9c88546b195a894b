//! Pagination cursors and page sizes.
//!
//! Clients treat a cursor as opaque, but its shape is fixed and stated in the OpenAPI document
//! (`pattern`), and every string of that shape decodes: a cursor names a place in a listing that
//! anyone may read anyway, so there is nothing to forge, and a client (or a fuzzer) holding a
//! well-formed cursor is never refused. Two shapes:
//!
//! - a keyset position, `<starts_at in µs since 1970>.<id as 32 lowercase hex digits>`, for
//!   listings ordered by start then id (the upcoming workouts, a user's history);
//! - an offset, `<n>`, for the roster.
//!
//! Anything else is a 400.

use crate::error::ApiError;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The shape of a keyset cursor. 18 digits of µs since 1970 reach the year 33658: an `i64`, and a
/// date chrono and PostgreSQL can hold. There is no sign: nothing listed starts before 1970 (a
/// workout starts after it was scheduled), and PostgreSQL's dates end at 4713 BC.
pub const KEYSET_PATTERN: &str = r"^[0-9]{1,18}\.[0-9a-f]{32}$";

/// The shape of an offset cursor.
pub const OFFSET_PATTERN: &str = r"^[0-9]{1,18}$";

/// Most items in one page.
pub const MAX_LIMIT: i64 = 100;

/// Where a keyset page ends: the sort key of its last item.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct Keyset {
    /// `starts_at` of the last item.
    pub starts_at: DateTime<Utc>,
    /// `id` of the last item (ties on `starts_at`).
    pub id: Uuid,
}

impl Keyset {
    /// The cursor for this position.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.starts_at.timestamp_micros(), self.id.simple())
    }

    /// The position a cursor of [`KEYSET_PATTERN`] names; anything else is a 400.
    pub fn decode(cursor: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::Malformed("invalid cursor".to_owned());
        let (micros, id) = cursor.split_once('.').ok_or_else(invalid)?;
        let micros = digits(micros).ok_or_else(invalid)?;
        let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if id.len() != 32 || !id.bytes().all(lower_hex) {
            return Err(invalid());
        }
        let id = u128::from_str_radix(id, 16).map_err(|_| invalid())?;
        Ok(Keyset {
            starts_at: DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?,
            id: Uuid::from_u128(id),
        })
    }
}

/// The cursor for the page starting at `offset`.
pub fn encode_offset(offset: i64) -> String {
    offset.to_string()
}

/// The offset a cursor of [`OFFSET_PATTERN`] names; anything else is a 400.
pub fn decode_offset(cursor: &str) -> Result<i64, ApiError> {
    digits(cursor).ok_or_else(|| ApiError::Malformed("invalid cursor".to_owned()))
}

/// 1 to 18 ASCII digits (no sign, no spaces), as `i64`.
fn digits(text: &str) -> Option<i64> {
    let valid = (1..=18).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| text.parse().ok()).flatten()
}

/// Page size: `limit` if given (1 to [`MAX_LIMIT`]), else `default`.
pub fn limit(limit: Option<i64>, default: i64) -> Result<i64, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid_field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn keyset_cursors_round_trip() {
        let position = Keyset {
            starts_at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Keyset::decode(&position.encode()).ok(), Some(position));
    }

    #[test]
    fn every_string_of_the_documented_shape_decodes() {
        let id = "0123456789abcdef0123456789abcdef";
        for micros in ["0", "999999999999999999", "000042"] {
            let cursor = format!("{micros}.{id}");
            assert!(Keyset::decode(&cursor).is_ok(), "{cursor}");
        }
        for offset in ["0", "999999999999999999", "0000"] {
            assert!(decode_offset(offset).is_ok(), "{offset}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        let id = "0123456789abcdef0123456789abcdef";
        for bad in [
            String::new(),
            "not a cursor!".to_owned(),
            format!("1.{}", id.to_uppercase()),
            format!("1.{}", &id[1..]),
            format!("1.{id}0"),
            format!("+1.{id}"),
            format!("-1.{id}"),
            format!(" 1.{id}"),
            format!("1.{id}\n"),
            format!("1234567890123456789.{id}"),
            format!(".{id}"),
            format!("1.2.{id}"),
        ] {
            assert!(Keyset::decode(&bad).is_err(), "{bad:?}");
        }
        for bad in ["", "-1", "+1", "1.5", "1234567890123456789", "1 "] {
            assert!(decode_offset(bad).is_err(), "{bad:?}");
        }
    }

    /// The document's pattern without its anchors (proptest generates from the pattern itself).
    fn unanchored(pattern: &str) -> &str {
        pattern.trim_start_matches('^').trim_end_matches('$')
    }

    proptest::proptest! {
        #[test]
        fn every_keyset_cursor_the_pattern_allows_decodes(
            cursor in proptest::string::string_regex(unanchored(KEYSET_PATTERN)).unwrap()
        ) {
            proptest::prop_assert!(Keyset::decode(&cursor).is_ok(), "{cursor}");
        }

        #[test]
        fn every_offset_cursor_the_pattern_allows_decodes(
            cursor in proptest::string::string_regex(unanchored(OFFSET_PATTERN)).unwrap()
        ) {
            proptest::prop_assert!(decode_offset(&cursor).is_ok(), "{cursor}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(limit(None, 20).ok(), Some(20));
        assert_eq!(limit(Some(100), 20).ok(), Some(100));
        assert!(limit(Some(0), 20).is_err());
        assert!(limit(Some(101), 20).is_err());
    }
}
