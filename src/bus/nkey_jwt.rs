//! NATS JWTs, as nats-server reads and writes them (the claim layouts of nats-io/jwt v2:
//! `claims.go`, `authorization_claims.go`, `user_claims.go`).
//!
//! A NATS JWT is `base64url(header).base64url(claims).base64url(signature)` without padding; the
//! header is `{"typ":"JWT","alg":"ed25519-nkey"}` and the signature is an ed25519 signature, by
//! the nkey named in the claims' `iss`, over the first two parts. Only the fields cultfit reads
//! or writes are modelled; unknown fields are ignored when decoding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The `alg` of every NATS JWT.
const ALGORITHM: &str = "ed25519-nkey";

/// The `aud` of the authorization requests nats-server sends.
pub const AUTHORIZATION_REQUEST_AUDIENCE: &str = "nats-authorization-request";

/// Standard claims around a NATS-specific `nats` payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims<N> {
    /// Unique id of this JWT.
    #[serde(default)]
    pub jti: String,
    /// Issued at, seconds since the epoch.
    #[serde(default)]
    pub iat: i64,
    /// The public nkey that signed it.
    pub iss: String,
    /// Who it is about (for requests, answers and user JWTs: the connection's user nkey).
    pub sub: String,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The NATS part.
    pub nats: N,
}

/// What nats-server asks the callout (`nats` of an `authorization_request`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The server asking.
    pub server_id: ServerId,
    /// The nkey the server generated for this connection; the answer and the user JWT are about
    /// it, which binds them to this one connection attempt.
    pub user_nkey: String,
    /// What the client sent in CONNECT.
    #[serde(default)]
    pub connect_opts: ConnectOptions,
    /// Where the client connects from.
    #[serde(default)]
    pub client_info: ClientInfo,
}

/// The server in an [`AuthorizationRequest`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerId {
    /// Its public nkey; the answer's `aud`.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its curve key, when it encrypts callout traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xkey: Option<String>,
}

/// The client's CONNECT options, as far as the callout reads them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectOptions {
    /// `auth_token`: a wearable's device token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// The client's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The client's connection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// Remote address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `STANDARD` (NATS protocol) or `WEBSOCKET`, etc.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// The callout's answer (`nats` of an `authorization_response`): a user JWT or an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationResponse {
    /// The user JWT granting the connection, if admitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    /// Why not, if refused (for the server's log; the client only sees a violation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Always `authorization_response`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always 2.
    pub version: u8,
}

impl AuthorizationResponse {
    /// Admit with this user JWT.
    pub fn grant(jwt: String) -> Self {
        Self {
            jwt: Some(jwt),
            error: None,
            kind: "authorization_response".to_owned(),
            version: 2,
        }
    }

    /// Refuse, saying why.
    pub fn refuse(error: String) -> Self {
        Self {
            jwt: None,
            error: Some(error),
            kind: "authorization_response".to_owned(),
            version: 2,
        }
    }
}

/// A user's permissions and limits (`nats` of a `user` JWT).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Publish permissions.
    #[serde(rename = "pub")]
    pub publish: Permission,
    /// Subscribe permissions.
    #[serde(rename = "sub")]
    pub subscribe: Permission,
    /// Most subscriptions (-1: no limit).
    pub subs: i64,
    /// Most bytes (-1: no limit).
    pub data: i64,
    /// Largest message payload (-1: no limit).
    pub payload: i64,
    /// `STANDARD`, `WEBSOCKET`, ...; empty allows all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_connection_types: Vec<String>,
    /// Always `user`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always 2.
    pub version: u8,
}

/// Allowed and denied subjects.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Permission {
    /// Subjects allowed (wildcards as in NATS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Subjects denied; deny wins over allow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// Why a NATS JWT was not accepted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts of JSON, or the wrong algorithm.
    #[error("not a NATS JWT")]
    Malformed,
    /// The signature does not verify with the key in `iss`.
    #[error("bad signature")]
    BadSignature,
}

#[derive(Serialize, Deserialize)]
struct Header<'a> {
    typ: &'a str,
    alg: &'a str,
}

/// Sign `claims` with `signer`, whose public key must be the claims' `iss`.
pub fn encode<N: Serialize>(claims: &Claims<N>, signer: &KeyPair) -> anyhow::Result<String> {
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Header {
        typ: "JWT",
        alg: ALGORITHM,
    })?);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?);
    let signed = format!("{header}.{payload}");
    let signature = signer
        .sign(signed.as_bytes())
        .map_err(|err| anyhow::anyhow!("failed to sign a NATS JWT: {err}"))?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// Decode `token` and check that the key in its `iss` signed it. Who that issuer may be is the
/// caller's decision.
pub fn decode<N: DeserializeOwned>(token: &str) -> Result<Claims<N>, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let b64 = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JwtError::Malformed)
    };
    let header_json = b64(header)?;
    let parsed: Header<'_> =
        serde_json::from_slice(&header_json).map_err(|_| JwtError::Malformed)?;
    if parsed.alg != ALGORITHM {
        return Err(JwtError::Malformed);
    }
    let claims: Claims<N> =
        serde_json::from_slice(&b64(payload)?).map_err(|_| JwtError::Malformed)?;
    let issuer = KeyPair::from_public_key(&claims.iss).map_err(|_| JwtError::BadSignature)?;
    let signed = &token[..header.len() + 1 + payload.len()];
    issuer
        .verify(signed.as_bytes(), &b64(signature)?)
        .map_err(|_| JwtError::BadSignature)?;
    Ok(claims)
}

/// A fresh `jti`: 128 random bits, base32 like nats-io/jwt's ids.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string().to_uppercase()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn claims(issuer: &KeyPair) -> Claims<User> {
        Claims {
            jti: new_id(),
            iat: 1_900_000_000,
            iss: issuer.public_key(),
            sub: KeyPair::new_user().public_key(),
            aud: Some("DEVICES".to_owned()),
            exp: Some(1_900_003_600),
            name: None,
            nats: User {
                publish: Permission {
                    allow: vec!["a.b".to_owned()],
                    deny: vec![],
                },
                subscribe: Permission {
                    allow: vec![],
                    deny: vec![">".to_owned()],
                },
                subs: 0,
                data: -1,
                payload: 4096,
                allowed_connection_types: vec!["STANDARD".to_owned()],
                kind: "user".to_owned(),
                version: 2,
            },
        }
    }

    #[test]
    fn a_signed_jwt_decodes_to_the_same_claims() {
        let issuer = KeyPair::new_account();
        let original = claims(&issuer);
        let token = encode(&original, &issuer).unwrap();
        assert_eq!(decode::<User>(&token), Ok(original));
        let header = token.split('.').next().unwrap();
        let header = URL_SAFE_NO_PAD.decode(header).unwrap();
        assert_eq!(header, br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    }

    #[test]
    fn tampering_or_a_lying_issuer_is_caught() {
        let issuer = KeyPair::new_account();
        let mut forged = claims(&issuer);
        let token = encode(&forged, &issuer).unwrap();
        // Claims edited after signing.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        forged.nats.publish.allow = vec![">".to_owned()];
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            decode::<User>(&parts.join(".")),
            Err(JwtError::BadSignature)
        );
        // Signed by one key, claiming another.
        let impostor = KeyPair::new_account();
        let lying = encode(&claims(&issuer), &impostor).unwrap();
        assert_eq!(decode::<User>(&lying), Err(JwtError::BadSignature));
        for garbage in ["", "a.b", "a.b.c.d", "!!.??.**", &token[..token.len() - 3]] {
            assert!(decode::<User>(garbage).is_err(), "{garbage:?}");
        }
    }
}
