//! Who is calling: bearer-token extractors and role guards.
//!
//! Handlers declare what they need in their signature: [`AuthUser`] for any signed-in user,
//! [`Trainer`] or [`Trainee`] for one role. Missing or bad tokens are 401; the wrong role is 403.
//! Each extractor also documents the bearer scheme on its operation in OpenAPI.

use super::tokens::{JwtKeys, TokenError};
use crate::accounts::Role;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use apistos::ApiSecurity;
use bus_contracts::ErrorCode;
use std::future::{Ready, ready};
use uuid::Uuid;

/// A signed-in user, from a valid `Authorization: Bearer <access token>` header.
#[derive(Clone, Copy, Debug, ApiSecurity)]
#[openapi_security(
    name = "bearerAuth",
    scheme(security_type(http(scheme = "bearer", bearer_format = "JWT")))
)]
pub struct AuthUser {
    /// The user's id.
    pub id: Uuid,
    /// The user's role.
    pub role: Role,
}

impl AuthUser {
    /// The bearer token's user, or `?ticket=`'s for the live routes (see [`LiveViewer`]).
    pub(crate) fn from_request_sync(req: &HttpRequest) -> Result<Self, ApiError> {
        let keys = req
            .app_data::<web::Data<JwtKeys>>()
            .ok_or_else(|| anyhow::anyhow!("JwtKeys missing from app data"))?;
        let header = req.headers().get(AUTHORIZATION).ok_or_else(|| {
            ApiError::client(
                ErrorCode::Unauthenticated,
                "missing Authorization: Bearer token",
            )
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::client(
                    ErrorCode::InvalidToken,
                    "Authorization must be: Bearer <token>",
                )
            })?;
        let claims = keys.verify(token).map_err(|err| match err {
            TokenError::Expired => ApiError::client(ErrorCode::TokenExpired, err.to_string()),
            TokenError::Invalid => ApiError::client(ErrorCode::InvalidToken, err.to_string()),
        })?;
        Ok(AuthUser {
            id: claims.sub,
            role: claims.role,
        })
    }

    fn with_role(self, role: Role) -> Result<Self, ApiError> {
        if self.role == role {
            Ok(self)
        } else {
            Err(ApiError::forbidden(format!("only a {role} may do this")))
        }
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_request_sync(req))
    }
}

/// Generates a role guard: an [`AuthUser`] whose role must be the given one.
macro_rules! role_guard {
    ($(#[$doc:meta])* $name:ident => $role:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, ApiSecurity)]
        #[openapi_security(
            name = "bearerAuth",
            scheme(security_type(http(scheme = "bearer", bearer_format = "JWT")))
        )]
        pub struct $name(pub AuthUser);

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Ready<Result<Self, Self::Error>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ready(AuthUser::from_request_sync(req).and_then(|user| user.with_role($role)).map($name))
            }
        }
    };
}

role_guard!(
    /// A signed-in trainer.
    Trainer => Role::Trainer
);
role_guard!(
    /// A signed-in trainee.
    Trainee => Role::Trainee
);

/// Who opens a live stream: a signed-in user from the bearer header, or, for browsers (which
/// cannot set headers on `EventSource` or WebSocket), from a `?ticket=` issued for one workout.
/// The route must check [`LiveViewer::ticket_for`] against the workout it serves.
#[derive(Clone, Copy, Debug, ApiSecurity)]
#[openapi_security(
    name = "bearerAuth",
    scheme(security_type(http(scheme = "bearer", bearer_format = "JWT")))
)]
pub struct LiveViewer {
    /// The user.
    pub user: AuthUser,
    /// The workout a ticket was issued for; `None` when a bearer token was used.
    pub ticket_for: Option<Uuid>,
}

impl LiveViewer {
    fn from_request_sync(req: &HttpRequest) -> Result<Self, ApiError> {
        if req.headers().contains_key(AUTHORIZATION) {
            return AuthUser::from_request_sync(req).map(|user| LiveViewer {
                user,
                ticket_for: None,
            });
        }
        let ticket = web::Query::<TicketQuery>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.into_inner().ticket)
            .ok_or_else(|| {
                ApiError::client(
                    ErrorCode::Unauthenticated,
                    "missing Authorization: Bearer token or ?ticket=",
                )
            })?;
        let keys = req
            .app_data::<web::Data<JwtKeys>>()
            .ok_or_else(|| anyhow::anyhow!("JwtKeys missing from app data"))?;
        let claims = keys.verify_live(&ticket).map_err(|err| match err {
            TokenError::Expired => {
                ApiError::client(ErrorCode::TokenExpired, "the ticket has expired")
            }
            TokenError::Invalid => {
                ApiError::client(ErrorCode::InvalidToken, "the ticket is invalid")
            }
        })?;
        Ok(LiveViewer {
            user: AuthUser {
                id: claims.sub,
                role: claims.role,
            },
            ticket_for: Some(claims.wid),
        })
    }
}

impl FromRequest for LiveViewer {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_request_sync(req))
    }
}

/// The `?ticket=` of the live routes.
#[derive(Debug, serde::Deserialize)]
struct TicketQuery {
    /// A live ticket (from `join` or `POST /workouts/{id}/live/tickets`), instead of the header.
    ticket: Option<String>,
}

/// Documents the live routes' other credential: a `?ticket=` (from `join` or
/// `POST /workouts/{id}/live/tickets`), which [`LiveViewer`] reads when there is no
/// Authorization header. Beside a `LiveViewer` in a handler's arguments it makes the operation's
/// security "a bearer token *or* a ticket" (apistos lists each extractor's scheme as an
/// alternative), so that tools treat the ticket as a credential rather than a plain parameter.
#[derive(Clone, Copy, Debug, ApiSecurity)]
#[openapi_security(
    name = "liveTicket",
    scheme(security_type(api_key(name = "ticket", api_key_in = "query")))
)]
pub struct TicketAuth;

impl FromRequest for TicketAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(_: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(TicketAuth))
    }
}
