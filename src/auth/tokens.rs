//! Access tokens (JWT, HS256, ~15 minutes) and refresh tokens (opaque, stored hashed).

use crate::accounts::Role;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const ISSUER: &str = "cultfit";
const AUDIENCE: &str = "cultfit-api";
const DEVICE_AUDIENCE: &str = "cultfit-device";
const LIVE_AUDIENCE: &str = "cultfit-live";
/// Lifetime of a live-stream ticket: enough to open (or re-open) the stream, no more.
pub const LIVE_TICKET_TTL_SECS: i64 = 10 * 60;
/// Lifetime of an access token.
pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 60;
/// Lifetime of a refresh token (each use rotates it).
pub const REFRESH_TOKEN_TTL_DAYS: i64 = 30;
/// Clock skew tolerated when checking `exp`.
const LEEWAY_SECS: u64 = 5;

/// What an access token asserts. Every field is required.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The user's role at issue time.
    pub role: Role,
    /// Issuer, always `cultfit`.
    pub iss: String,
    /// Audience, always `cultfit-api`.
    pub aud: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Past `exp` (plus leeway).
    #[error("the access token has expired")]
    Expired,
    /// Anything else: bad signature, wrong algorithm, audience or issuer, missing claims, garbage.
    #[error("the access token is invalid")]
    Invalid,
}

/// Signs and verifies access tokens with one HMAC secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    live_validation: Validation,
    device_validation: Validation,
}

impl JwtKeys {
    /// Keys for an HMAC secret (at least 32 bytes; checked by the configuration).
    pub fn new(secret: &[u8]) -> Self {
        // Pin the algorithm and require every claim we rely on; never Validation::default().
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        let mut live_validation = validation.clone();
        live_validation.set_audience(&[LIVE_AUDIENCE]);
        let mut device_validation = validation.clone();
        device_validation.set_audience(&[DEVICE_AUDIENCE]);
        // The bus closes a device's connection at `exp` exactly; admitting one past it would
        // hand the server a credential that is already over.
        device_validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            live_validation,
            device_validation,
        }
    }

    /// A fresh access token for this user.
    pub fn issue(&self, user_id: Uuid, role: Role) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            role,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now + ACCESS_TOKEN_TTL_SECS,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Check signature, algorithm, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.decode(token, &self.validation)
    }
}

/// What a device token asserts: this user's wearable may publish energy for this workout.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeviceClaims {
    /// The trainee.
    pub sub: Uuid,
    /// The workout.
    pub wid: Uuid,
    /// Issuer, always `cultfit`.
    pub iss: String,
    /// Audience, always `cultfit-device` (never accepted as an access token).
    pub aud: String,
    /// Expiry: the bus closes the wearable's connection then.
    pub exp: i64,
}

impl JwtKeys {
    /// A credential for a trainee's wearable in one workout, valid until `until`. It is the
    /// wearable's NATS token: the auth callout verifies it (see [`crate::bus::callout`]).
    pub fn issue_device(
        &self,
        user_id: Uuid,
        workout_id: Uuid,
        until: chrono::DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let claims = DeviceClaims {
            sub: user_id,
            wid: workout_id,
            iss: ISSUER.to_owned(),
            aud: DEVICE_AUDIENCE.to_owned(),
            exp: until.timestamp(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Check a device token: signature, algorithm, issuer, the device audience, expiry.
    pub fn verify_device(&self, token: &str) -> Result<DeviceClaims, TokenError> {
        self.decode(token, &self.device_validation)
    }
}

/// What a live ticket asserts: this user may open this workout's live stream. Browsers cannot
/// set headers on `EventSource` or WebSocket, so the ticket travels as `?ticket=`; it is bound to
/// one workout and short-lived, so a leaked URL is worth little.
#[derive(Debug, Serialize, Deserialize)]
pub struct LiveClaims {
    /// The user.
    pub sub: Uuid,
    /// Their role.
    pub role: Role,
    /// The workout.
    pub wid: Uuid,
    /// Issuer, always `cultfit`.
    pub iss: String,
    /// Audience, always `cultfit-live` (never accepted as an access token).
    pub aud: String,
    /// Expiry.
    pub exp: i64,
}

impl JwtKeys {
    /// A ticket for `user_id` to open `workout_id`'s live stream.
    pub fn issue_live(
        &self,
        user_id: Uuid,
        role: Role,
        workout_id: Uuid,
    ) -> anyhow::Result<String> {
        let claims = LiveClaims {
            sub: user_id,
            role,
            wid: workout_id,
            iss: ISSUER.to_owned(),
            aud: LIVE_AUDIENCE.to_owned(),
            exp: Utc::now().timestamp() + LIVE_TICKET_TTL_SECS,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Check a live ticket like an access token, for the live audience.
    pub fn verify_live(&self, ticket: &str) -> Result<LiveClaims, TokenError> {
        self.decode(ticket, &self.live_validation)
    }

    fn decode<C: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        validation: &Validation,
    ) -> Result<C, TokenError> {
        jsonwebtoken::decode::<C>(token, &self.decoding, validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

/// A new opaque refresh token: 256 random bits, URL-safe.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored for a refresh token: its SHA-256 (the token itself has 256 bits of entropy, so
/// a fast hash is enough and lets lookups use an index).
pub fn refresh_token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A random 48-byte secret (for `--dev`).
pub fn random_secret() -> Vec<u8> {
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_tokens_verify_and_carry_the_role() {
        let keys = JwtKeys::new(SECRET);
        let id = Uuid::new_v4();
        let token = keys.issue(id, Role::Trainer).unwrap_or_default();
        let claims = keys.verify(&token);
        assert!(matches!(claims, Ok(Claims { sub, role: Role::Trainer, .. }) if sub == id));
    }

    #[test]
    fn another_secret_is_refused() {
        let token = JwtKeys::new(SECRET)
            .issue(Uuid::new_v4(), Role::Trainee)
            .unwrap_or_default();
        let other = JwtKeys::new(b"another-secret-another-secret-xx");
        assert_eq!(other.verify(&token).err(), Some(TokenError::Invalid));
    }

    #[test]
    fn refresh_tokens_are_unique_and_hash_stably() {
        let (a, b) = (new_refresh_token(), new_refresh_token());
        assert_ne!(a, b);
        assert_eq!(refresh_token_hash(&a), refresh_token_hash(&a));
        assert_ne!(refresh_token_hash(&a), refresh_token_hash(&b));
    }
}
