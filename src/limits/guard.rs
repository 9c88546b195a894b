//! The extractors that spend a request's budgets before its handler does any work.
//!
//! One per limited edge. Each stands first in its handler's arguments (actix extracts in order
//! and stops at the first error), so a refused request is answered before its body is read:
//!
//! ```text
//! pub async fn post_energy(_limit: EnergyLimit, trainee: Trainee, body: Json<EnergyBatch>, ...)
//! ```
//!
//! The live guards also spend the caller's per-user budget. They read the bearer token themselves
//! (a few microseconds) rather than after the user extractor, so that they can stand first; a
//! request without a valid token spends only its address budget and is refused by the user
//! extractor next.

use super::failed_logins::AccountKey;
use super::{Edge, Limits};
use crate::auth::AuthUser;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use apistos::reference_or::ReferenceOr;
use apistos::{ApiComponent, Schema};
use std::future::{Ready, ready};
use std::net::IpAddr;

/// Spend `req`'s budgets on `edge`: its client address's, and on live edges its user's.
fn admit(req: &HttpRequest, edge: Edge) -> Result<(IpAddr, Data<Limits>), ApiError> {
    let limits = req
        .app_data::<Data<Limits>>()
        .ok_or_else(|| anyhow::anyhow!("Limits missing from app data"))?
        .clone();
    let client = limits.client_addr(req);
    limits.per_address(edge, client)?;
    if edge.is_live()
        && let Ok(user) = AuthUser::from_request_sync(req)
    {
        limits.per_user(edge, client, user.id)?;
    }
    Ok((client, limits))
}

/// The guards add nothing to the OpenAPI document: each operation lists its 429 itself.
macro_rules! undocumented {
    ($name:ident) => {
        impl ApiComponent for $name {
            fn child_schemas() -> Vec<(String, ReferenceOr<Schema>)> {
                vec![]
            }

            fn schema() -> Option<(String, ReferenceOr<Schema>)> {
                None
            }
        }
    };
}

/// Generates the guard of an edge whose handler needs nothing more from it.
macro_rules! edge_guard {
    ($(#[$doc:meta])* $name:ident => $edge:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name {
            /// The client address the request was counted against.
            pub client: IpAddr,
        }

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Ready<Result<Self, Self::Error>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ready(admit(req, $edge).map(|(client, _)| $name { client }))
            }
        }

        undocumented!($name);
    };
}

edge_guard!(
    /// `POST /auth/register`: the client address's auth budget.
    RegisterLimit => Edge::Register
);
edge_guard!(
    /// `POST /auth/refresh`: the client address's auth budget.
    RefreshLimit => Edge::Refresh
);
edge_guard!(
    /// `POST /workouts/{id}/energy`: the client address's and the user's live budgets.
    EnergyLimit => Edge::Energy
);
edge_guard!(
    /// `POST /workouts/{id}/live/tickets`: the client address's and the user's live budgets.
    TicketLimit => Edge::Ticket
);

/// `POST /auth/login`: the client address's auth budget on extraction; the account's
/// failed-login budget through [`LoginLimit::unlocked`] and [`LoginLimit::failed`].
pub struct LoginLimit {
    /// The client address the request was counted against.
    pub client: IpAddr,
    limits: Data<Limits>,
}

impl LoginLimit {
    /// The account `email` names (whether it exists or not), or 429 while failed logins keep it
    /// locked. Call it before the password is hashed.
    pub async fn unlocked(&self, email: &str) -> Result<AccountKey, ApiError> {
        let account = AccountKey::of(email);
        self.limits.login_unlocked(self.client, account).await?;
        Ok(account)
    }

    /// Count a failed login for `account`: 429 (instead of the handler's 401) if this failure
    /// found its budget spent and locked it.
    pub async fn failed(&self, account: AccountKey) -> Result<(), ApiError> {
        self.limits.login_failed(self.client, account).await
    }
}

impl FromRequest for LoginLimit {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(admit(req, Edge::Login).map(|(client, limits)| LoginLimit { client, limits }))
    }
}

undocumented!(LoginLimit);
