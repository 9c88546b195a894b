//! Opaque pagination cursors: base64url of a small JSON position, so clients cannot depend on
//! (or forge meaning into) their content.

use crate::error::ApiError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encode a position.
pub fn encode(position: &impl Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

/// Decode a cursor this service produced; anything else is a 400.
pub fn decode<T: DeserializeOwned>(cursor: &str) -> Result<T, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::Malformed("invalid cursor".to_owned()))
}

/// Page size: `limit` if given (1..=100), else `default`.
pub fn limit(limit: Option<i64>, default: i64) -> Result<i64, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid_field(
            "limit",
            "must be between 1 and 100",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = encode(&(42, "x"));
        assert_eq!(
            decode::<(i32, String)>(&cursor).ok(),
            Some((42, "x".to_owned()))
        );
        assert!(decode::<(i32, String)>("not a cursor!").is_err());
        assert!(decode::<(i32, String)>(&encode(&"other shape")).is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(limit(None, 20).ok(), Some(20));
        assert_eq!(limit(Some(100), 20).ok(), Some(100));
        assert!(limit(Some(0), 20).is_err());
        assert!(limit(Some(101), 20).is_err());
    }
}
