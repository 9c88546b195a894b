//! The one error vocabulary of cultfit.
//!
//! Every failure a client can see carries one of these codes, whether it arrives as an HTTP problem
//! document or as a NATS reply. Codes are part of the public contract: add new ones freely, never
//! rename or remove one.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code (`snake_case` on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request could not be parsed (bad JSON, bad query string, bad path).
    MalformedRequest,
    /// The request parsed, but one or more fields have invalid values.
    ValidationFailed,
    /// No credentials were presented where they are required.
    Unauthenticated,
    /// Email and password do not match an account.
    InvalidCredentials,
    /// The access token is malformed, forged, or issued for someone else.
    InvalidToken,
    /// The access token was valid but has expired; refresh it.
    TokenExpired,
    /// The refresh token is unknown, expired or revoked.
    InvalidRefreshToken,
    /// A refresh token was presented twice; its whole family is now revoked.
    RefreshTokenReused,
    /// Authenticated, but this role or user may not do this.
    Forbidden,
    /// The resource does not exist (or is not visible to the caller).
    NotFound,
    /// An account with this email already exists.
    EmailTaken,
    /// The request conflicts with the current state of the resource.
    Conflict,
    /// The workout's state does not allow this (e.g. starting a cancelled workout).
    InvalidState,
    /// Too early: a workout can only be started shortly before its start time.
    TooEarly,
    /// The time overlaps another workout of the same trainer, or another booking of the trainee.
    ScheduleOverlap,
    /// The trainee already holds a place or waitlist position in this workout.
    AlreadyRegistered,
    /// The trainee is already in another live session.
    AlreadyInSession,
    /// Too many requests; retry later.
    RateLimited,
    /// A dependency (database, message bus, owning actor) is unavailable.
    Unavailable,
    /// A dependency did not answer in time.
    Timeout,
    /// An unexpected failure inside the service; details are only in its logs.
    Internal,
}

impl ErrorCode {
    /// Every code, for exhaustive tests and documentation.
    pub const ALL: [ErrorCode; 21] = [
        ErrorCode::MalformedRequest,
        ErrorCode::ValidationFailed,
        ErrorCode::Unauthenticated,
        ErrorCode::InvalidCredentials,
        ErrorCode::InvalidToken,
        ErrorCode::TokenExpired,
        ErrorCode::InvalidRefreshToken,
        ErrorCode::RefreshTokenReused,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::EmailTaken,
        ErrorCode::Conflict,
        ErrorCode::InvalidState,
        ErrorCode::TooEarly,
        ErrorCode::ScheduleOverlap,
        ErrorCode::AlreadyRegistered,
        ErrorCode::AlreadyInSession,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Timeout,
        ErrorCode::Internal,
    ];

    /// The HTTP status this code maps to; the one place that decides it.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::MalformedRequest => 400,
            ErrorCode::Unauthenticated
            | ErrorCode::InvalidCredentials
            | ErrorCode::InvalidToken
            | ErrorCode::TokenExpired
            | ErrorCode::InvalidRefreshToken
            | ErrorCode::RefreshTokenReused => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::EmailTaken
            | ErrorCode::Conflict
            | ErrorCode::InvalidState
            | ErrorCode::TooEarly
            | ErrorCode::ScheduleOverlap
            | ErrorCode::AlreadyRegistered
            | ErrorCode::AlreadyInSession => 409,
            ErrorCode::ValidationFailed => 422,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            // A dependency that timed out is as unavailable to the client as one that is down:
            // both are worth retrying shortly (the answer carries `Retry-After`), so both are 503.
            ErrorCode::Unavailable | ErrorCode::Timeout => 503,
        }
    }

    /// The wire name, e.g. `"email_taken"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedRequest => "malformed_request",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::InvalidRefreshToken => "invalid_refresh_token",
            ErrorCode::RefreshTokenReused => "refresh_token_reused",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::EmailTaken => "email_taken",
            ErrorCode::Conflict => "conflict",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::TooEarly => "too_early",
            ErrorCode::ScheduleOverlap => "schedule_overlap",
            ErrorCode::AlreadyRegistered => "already_registered",
            ErrorCode::AlreadyInSession => "already_in_session",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn wire_names_match_serde_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()), "{code:?}");
            assert!(seen.insert(code.as_str()), "duplicate wire name {code}");
            let back: ErrorCode = serde_json::from_str(&json).unwrap_or(ErrorCode::Internal);
            assert_eq!(back, code);
        }
    }

    #[test]
    fn every_code_maps_to_an_error_status() {
        for code in ErrorCode::ALL {
            let status = code.http_status();
            assert!((400..600).contains(&status), "{code} -> {status}");
        }
        assert_eq!(ErrorCode::EmailTaken.http_status(), 409);
        assert_eq!(ErrorCode::ValidationFailed.http_status(), 422);
    }
}
