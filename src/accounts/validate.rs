//! Field rules. Each check returns the message a person should see.
//!
//! The OpenAPI document states the same rules (`maxLength`, `pattern`, ...) through `schemars`
//! attributes on the request types; the patterns live here, beside the checks they describe,
//! and the tests hold each check and its pattern to the same answers.

use crate::error::FieldError;
use chrono::{Datelike, Utc};

/// A name or title: not only whitespace (Unicode `White_Space`, what `str::trim` strips) and no
/// NUL (PostgreSQL text cannot hold one).
pub const NAME_PATTERN: &str = r"^[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00]*$";

/// Free text: anything but NUL.
pub const TEXT_PATTERN: &str = r"^[^\x00]*$";

/// E.164: `+`, a non-zero digit, 7 to 15 digits in all.
pub const MOBILE_PATTERN: &str = r"^\+[1-9][0-9]{6,14}$";

/// Most characters in an email address.
pub const EMAIL_MAX_CHARS: usize = 254;

/// Most characters in a full name.
pub const FULL_NAME_MAX_CHARS: usize = 100;

/// Lightest body weight, kg.
pub const WEIGHT_KG_MIN: f64 = 20.0;

/// Heaviest body weight, kg.
pub const WEIGHT_KG_MAX: f64 = 400.0;

/// The earliest birth year.
pub const BIRTH_YEAR_MIN: i32 = 1900;

/// The latest birth year: five years ago.
pub fn birth_year_max() -> i32 {
    Utc::now().year() - 5
}

/// Collects field errors so one response can report all of them.
#[derive(Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    /// Record the outcome of one field's check.
    pub fn check(&mut self, field: &str, outcome: Result<(), String>) -> &mut Self {
        if let Err(message) = outcome {
            self.0.push(FieldError::new(field, message));
        }
        self
    }

    /// `Ok` when every check passed, else the 422 listing every failure.
    pub fn finish(self) -> Result<(), crate::error::ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(crate::error::ApiError::Invalid(self.0))
        }
    }
}

/// A syntactically valid address of at most [`EMAIL_MAX_CHARS`] characters.
pub fn email(value: &str) -> Result<(), String> {
    if value.chars().count() > EMAIL_MAX_CHARS {
        return Err(format!("must be at most {EMAIL_MAX_CHARS} characters"));
    }
    if value.trim() != value
        || value.contains('\0')
        || !email_address::EmailAddress::is_valid(value)
    {
        return Err("must be a valid email address, like name@example.com".into());
    }
    Ok(())
}

/// 8 to 128 characters.
pub fn password(value: &str) -> Result<(), String> {
    match value.chars().count() {
        0..8 => Err("must be at least 8 characters".into()),
        8..=128 => Ok(()),
        _ => Err("must be at most 128 characters".into()),
    }
}

/// 1 to [`FULL_NAME_MAX_CHARS`] characters: see [`name`].
pub fn full_name(value: &str) -> Result<(), String> {
    name(value, FULL_NAME_MAX_CHARS)
}

/// At most `max` characters, not only whitespace, no NUL ([`NAME_PATTERN`]). Counted as sent:
/// surrounding whitespace counts here even though it is trimmed before storing.
pub fn name(value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        text(value, max)
    }
}

/// At most `max` characters, no NUL ([`TEXT_PATTERN`]).
pub fn text(value: &str, max: usize) -> Result<(), String> {
    if value.contains('\0') {
        Err("must not contain NUL characters".into())
    } else if value.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else {
        Ok(())
    }
}

/// E.164: `+`, a non-zero country digit, 7 to 15 digits in all, nothing else.
pub fn mobile(value: &str) -> Result<(), String> {
    let digits = value.strip_prefix('+').unwrap_or("");
    let valid = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if valid {
        Ok(())
    } else {
        Err("must be in E.164 format, like +919876543210".into())
    }
}

/// Between 20 and 400 kg. Checked as sent, before it is narrowed to the stored `f32` (which
/// would round 400.00001 down into range).
pub fn weight_kg(value: f64) -> Result<(), String> {
    if value.is_finite() && (WEIGHT_KG_MIN..=WEIGHT_KG_MAX).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "must be between {WEIGHT_KG_MIN} and {WEIGHT_KG_MAX}"
        ))
    }
}

/// A year from [`BIRTH_YEAR_MIN`] up to [`birth_year_max`].
pub fn birth_year(value: i32) -> Result<(), String> {
    let latest = birth_year_max();
    if (BIRTH_YEAR_MIN..=latest).contains(&value) {
        Ok(())
    } else {
        Err(format!("must be between {BIRTH_YEAR_MIN} and {latest}"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Any text, biased towards the characters the rules care about.
    fn tricky_text() -> impl Strategy<Value = String> {
        let tricky = prop::sample::select(vec![
            '\0', ' ', '\t', '\n', '\u{0B}', '\u{85}', '\u{A0}', '\u{1C}', '\u{200B}', '\u{2028}',
            '\u{3000}', '\u{FEFF}', 'a', 'é', '+', '0', '9',
        ]);
        let any = prop_oneof![tricky, any::<char>()];
        prop::collection::vec(any, 0..8).prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn names_follow_their_documented_pattern(value in tricky_text()) {
            let pattern = regex::Regex::new(NAME_PATTERN).unwrap();
            prop_assert_eq!(name(&value, 100).is_ok(), pattern.is_match(&value), "{:?}", value);
        }

        #[test]
        fn texts_follow_their_documented_pattern(value in tricky_text()) {
            let pattern = regex::Regex::new(TEXT_PATTERN).unwrap();
            prop_assert_eq!(text(&value, 100).is_ok(), pattern.is_match(&value), "{:?}", value);
        }

        #[test]
        fn mobiles_follow_their_documented_pattern(value in "[+0-9 a]{0,18}") {
            let pattern = regex::Regex::new(MOBILE_PATTERN).unwrap();
            prop_assert_eq!(mobile(&value).is_ok(), pattern.is_match(&value), "{:?}", value);
        }
    }

    #[test]
    fn lengths_are_counted_in_characters_as_sent() {
        assert!(name(&"x".repeat(100), 100).is_ok());
        assert!(name(&"x".repeat(101), 100).is_err());
        assert!(name(&format!(" {} ", "x".repeat(99)), 100).is_err());
        assert!(text(&"é".repeat(100), 100).is_ok());
        assert!(text("a\0b", 100).is_err());
    }

    #[test]
    fn emails() {
        for ok in [
            "a@b.co",
            "first.last+tag@example.com",
            "ÜNICODE@example.org",
        ] {
            assert_eq!(email(ok), Ok(()), "{ok}");
        }
        for bad in ["", "plain", "@example.com", "a@", " a@b.co", "a b@c.de"] {
            assert!(email(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(email(&format!("{}@example.com", "a".repeat(250))).is_err());
        assert!(email("a\0@example.com").is_err());
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(password("1234567").is_err());
        assert_eq!(password("12345678"), Ok(()));
        assert_eq!(password(&"é".repeat(128)), Ok(()));
        assert!(password(&"a".repeat(129)).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(full_name("Ada Lovelace"), Ok(()));
        assert!(full_name("").is_err());
        assert!(full_name("   ").is_err());
        assert!(full_name(&"x".repeat(101)).is_err());
    }

    #[test]
    fn mobiles() {
        for ok in ["+919876543210", "+14155552671", "+4930123"] {
            assert_eq!(mobile(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "9876543210",
            "+0123456789",
            "+91 98765 43210",
            "+1234",
            "+1234567890123456",
        ] {
            assert!(mobile(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn profile_fields() {
        assert!(weight_kg(70.5).is_ok());
        assert!(weight_kg(f64::NAN).is_err());
        assert!(weight_kg(5.0).is_err());
        assert!(weight_kg(400.00001).is_err());
        assert!(birth_year(1990).is_ok());
        assert!(birth_year(1850).is_err());
        assert!(birth_year(Utc::now().year()).is_err());
        assert!(birth_year(birth_year_max()).is_ok());
    }
}
