//! Field rules for accounts. Each check returns the message a person should see.

use crate::error::FieldError;
use chrono::{Datelike, Utc};

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

/// A syntactically valid address of at most 254 characters.
pub fn email(value: &str) -> Result<(), String> {
    if value.chars().count() > 254 {
        return Err("must be at most 254 characters".into());
    }
    if value.trim() != value || !email_address::EmailAddress::is_valid(value) {
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

/// 1 to 100 characters, not only spaces.
pub fn full_name(value: &str) -> Result<(), String> {
    let length = value.trim().chars().count();
    if length == 0 {
        Err("must not be empty".into())
    } else if value.chars().count() > 100 {
        Err("must be at most 100 characters".into())
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

/// Between 20 and 400 kg.
pub fn weight_kg(value: f32) -> Result<(), String> {
    if value.is_finite() && (20.0..=400.0).contains(&value) {
        Ok(())
    } else {
        Err("must be between 20 and 400".into())
    }
}

/// A year from 1900 up to 5 years ago.
pub fn birth_year(value: i32) -> Result<(), String> {
    let latest = Utc::now().year() - 5;
    if (1900..=latest).contains(&value) {
        Ok(())
    } else {
        Err(format!("must be between 1900 and {latest}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(weight_kg(f32::NAN).is_err());
        assert!(weight_kg(5.0).is_err());
        assert!(birth_year(1990).is_ok());
        assert!(birth_year(1850).is_err());
        assert!(birth_year(Utc::now().year()).is_err());
    }
}
