//! The auth callout: which connections nats-server admits, and into what.
//!
//! nats-server sends every connection that is not the service user to `$SYS.REQ.USER.AUTH` and
//! waits for a signed answer. Every api node serves that subject in one queue group, so the load
//! of a connect storm spreads over them. For each request:
//!
//! 1. Decrypt it (when the server is configured with our xkey) and check the server signed it.
//! 2. Read the CONNECT `auth_token`: it must be a device token from `join` (signature, `exp`,
//!    audience `cultfit-device`), for a trainee still booked into a workout that is not over.
//!    Anything else — no token, an access token, a live ticket, garbage — is refused.
//! 3. Answer with a user JWT signed by the issuer key, for this connection's nkey only, placing it
//!    in account `DEVICES` with: publish = exactly its own energy subject, subscribe = its own
//!    inbox only (for JetStream's acks of its samples), payloads up to the sample limit, and `exp`
//!    = the device token's expiry, at which the server closes the connection.
//!
//! Refusals are answered (not left to time out) with the reason, which the server logs; the
//! client only ever learns "Authorization Violation".

use super::nkey_jwt::{
    self, AuthorizationRequest, AuthorizationResponse, Claims, Permission, User,
};
use super::xkey::Sealer;
use crate::auth::tokens::{DeviceClaims, JwtKeys, TokenError};
use anyhow::{Context, bail};
use bus_contracts::subjects;
use bus_contracts::v1::energy::MAX_PAYLOAD_BYTES;
use futures_util::StreamExt as _;
use nkeys::{KeyPair, XKey};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Instant;

/// Header carrying the server's curve key when it encrypts the request.
const SERVER_XKEY_HEADER: &str = "Nats-Server-Xkey";

/// Requests decided at once per node. Each waits mostly on one indexed PostgreSQL read, so this
/// bounds the pool connections a connect storm can take from the HTTP API.
const CONCURRENT_DECISIONS: usize = 64;

/// Subscriptions a wearable needs: clients multiplex every reply over one inbox subscription.
const DEVICE_SUBSCRIPTIONS: i64 = 4;

/// Counter: callout decisions on this node, by `outcome` (`admitted` or a refusal reason).
pub const ADMISSIONS: &str = "cultfit_bus_admissions_total";
/// Histogram: time to decide and answer one callout request, in seconds.
pub const ADMISSION_SECONDS: &str = "cultfit_bus_admission_duration_seconds";

/// Why a connection was refused (the metrics label and the reason the server logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No `auth_token` in CONNECT (anonymous, or user/password that is not the service's).
    NoToken,
    /// Not a device token of this deployment: forged, garbage, or another kind of token.
    InvalidToken,
    /// A device token past its expiry.
    Expired,
    /// The trainee is no longer booked, or the workout is over.
    NotRegistered,
    /// PostgreSQL could not be asked.
    Unavailable,
}

impl Refusal {
    /// Stable snake_case label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NoToken => "no_token",
            Refusal::InvalidToken => "invalid_token",
            Refusal::Expired => "expired",
            Refusal::NotRegistered => "not_registered",
            Refusal::Unavailable => "unavailable",
        }
    }
}

/// What the responder needs: the keys it signs and decrypts with, the key device tokens are
/// verified with, and the database that knows who is booked.
pub struct DeviceAdmission {
    issuer: KeyPair,
    sealer: Option<Sealer>,
    keys: JwtKeys,
    pool: PgPool,
}

impl DeviceAdmission {
    /// A responder signing with `issuer` (the account key in the server's `auth_callout` block).
    pub fn new(
        issuer: KeyPair,
        xkey: Option<&XKey>,
        keys: JwtKeys,
        pool: PgPool,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            issuer,
            sealer: xkey.map(Sealer::new).transpose()?,
            keys,
            pool,
        })
    }

    /// Subscribe to the callout subject (queue group shared by all api nodes) and answer its
    /// requests until the connection closes.
    pub async fn serve(
        self: Arc<Self>,
        nats: async_nats::Client,
    ) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let requests = nats
            .queue_subscribe(subjects::AUTH_CALLOUT, subjects::AUTH_CALLOUT_QUEUE.into())
            .await
            .context("failed to subscribe to the auth callout")?;
        Ok(tokio::spawn(async move {
            requests
                .for_each_concurrent(CONCURRENT_DECISIONS, |message| {
                    let (admission, nats) = (self.clone(), nats.clone());
                    async move { admission.respond(&nats, message).await }
                })
                .await;
        }))
    }

    async fn respond(&self, nats: &async_nats::Client, message: async_nats::Message) {
        let started = Instant::now();
        let Some(reply) = message.reply.clone() else {
            return;
        };
        let server_xkey = message
            .headers
            .as_ref()
            .and_then(|h| h.get(SERVER_XKEY_HEADER))
            .map(|v| v.as_str().to_owned());
        let (answer, outcome) = match self.answer(&message.payload, server_xkey.as_deref()).await {
            Ok(answered) => answered,
            Err(err) => {
                // Not a request we can answer properly; an empty reply refuses at once.
                tracing::warn!(error = %err, "unusable auth callout request");
                (bytes::Bytes::new(), "bad_request")
            }
        };
        if let Err(err) = nats.publish(reply, answer).await {
            tracing::warn!(error = %err, "failed to answer an auth callout request");
        }
        metrics::counter!(ADMISSIONS, "outcome" => outcome).increment(1);
        metrics::histogram!(ADMISSION_SECONDS).record(started.elapsed().as_secs_f64());
    }

    /// The signed (and, if asked, encrypted) answer to one request, and its outcome label.
    async fn answer(
        &self,
        payload: &[u8],
        server_xkey: Option<&str>,
    ) -> anyhow::Result<(bytes::Bytes, &'static str)> {
        let request = match (server_xkey, &self.sealer) {
            (Some(server), Some(sealer)) => sealer
                .open(server, payload)
                .context("cannot decrypt the request")?,
            (Some(_), None) => {
                bail!("the request is encrypted but CULTFIT_NATS_XKEY_SEED is not set")
            }
            (None, _) => payload.to_vec(),
        };
        let request = std::str::from_utf8(&request).context("the request is not text")?;
        let request: Claims<AuthorizationRequest> =
            nkey_jwt::decode(request).context("the request is not a valid NATS JWT")?;
        // Only a server signs requests, with the key it names itself by.
        if request.iss != request.nats.server_id.id
            || request.aud.as_deref() != Some(nkey_jwt::AUTHORIZATION_REQUEST_AUDIENCE)
        {
            bail!("the request was not issued by the server it names");
        }
        let now = chrono::Utc::now().timestamp();
        // The server gives up waiting at the request's `exp`: under a backlog, answering it
        // would only delay the requests still being waited for.
        if request.exp.is_some_and(|exp| exp < now) {
            return Ok((bytes::Bytes::new(), "stale"));
        }
        let decision = self.decide(&request.nats).await;
        let (response, outcome) = match &decision {
            Ok(device) => {
                let user = self.device_user(&request.nats.user_nkey, device, now)?;
                (AuthorizationResponse::grant(user), "admitted")
            }
            Err(refusal) => {
                tracing::debug!(
                    reason = refusal.as_str(),
                    client.host = request.nats.client_info.host.as_deref().unwrap_or(""),
                    "bus connection refused"
                );
                (
                    AuthorizationResponse::refuse(format!(
                        "cultfit refused the connection: {}",
                        refusal.as_str()
                    )),
                    refusal.as_str(),
                )
            }
        };
        let answer = nkey_jwt::encode(
            &Claims {
                jti: nkey_jwt::new_id(),
                iat: now,
                iss: self.issuer.public_key(),
                sub: request.nats.user_nkey.clone(),
                aud: Some(request.nats.server_id.id.clone()),
                exp: None,
                name: None,
                nats: response,
            },
            &self.issuer,
        )?;
        let answer = match (server_xkey, &self.sealer) {
            (Some(server), Some(sealer)) => sealer
                .seal(server, answer.as_bytes())
                .context("cannot encrypt the answer")?,
            _ => answer.into_bytes(),
        };
        Ok((answer.into(), outcome))
    }

    /// Admit a wearable, or say why not.
    async fn decide(&self, request: &AuthorizationRequest) -> Result<DeviceClaims, Refusal> {
        let token = request
            .connect_opts
            .auth_token
            .as_deref()
            .ok_or(Refusal::NoToken)?;
        let device = self.keys.verify_device(token).map_err(|err| match err {
            TokenError::Expired => Refusal::Expired,
            TokenError::Invalid => Refusal::InvalidToken,
        })?;
        // Its last second too: the server would cut the connection as soon as it is admitted.
        if device.exp <= chrono::Utc::now().timestamp() {
            return Err(Refusal::Expired);
        }
        let admissible =
            crate::workouts::queries::wearable_admissible(&self.pool, device.wid, device.sub)
                .await
                .map_err(|err| {
                    tracing::warn!(error = ?err, "cannot check a wearable's registration");
                    Refusal::Unavailable
                })?;
        if admissible {
            Ok(device)
        } else {
            Err(Refusal::NotRegistered)
        }
    }

    /// The user JWT of an admitted wearable: its own energy subject, nothing else, until the
    /// device token expires.
    fn device_user(
        &self,
        user_nkey: &str,
        device: &DeviceClaims,
        now: i64,
    ) -> anyhow::Result<String> {
        let claims = Claims {
            jti: nkey_jwt::new_id(),
            iat: now,
            iss: self.issuer.public_key(),
            sub: user_nkey.to_owned(),
            aud: Some(subjects::DEVICE_ACCOUNT.to_owned()),
            exp: Some(device.exp),
            name: Some(format!("wearable-{}", device.sub)),
            nats: User {
                publish: Permission {
                    allow: vec![subjects::workout_energy(device.wid, device.sub)],
                    deny: Vec::new(),
                },
                // Only its own inbox, where JetStream's acks of its samples arrive.
                subscribe: Permission {
                    allow: vec![format!("{}.>", subjects::device_inbox_prefix(device.sub))],
                    deny: Vec::new(),
                },
                subs: DEVICE_SUBSCRIPTIONS,
                data: -1,
                payload: MAX_PAYLOAD_BYTES as i64,
                allowed_connection_types: vec!["STANDARD".to_owned(), "WEBSOCKET".to_owned()],
                kind: "user".to_owned(),
                version: 2,
            },
        };
        nkey_jwt::encode(&claims, &self.issuer)
    }
}
