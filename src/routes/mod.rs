//! HTTP routes, one file per resource. Every route is documented through apistos.
//!
//! - [`health`]: `/health/live`, `/health/ready` (served by every node, whatever its role).
//! - [`auth`]: register, login, refresh, logout under `/api/v1/auth`.
//! - [`me`]: the caller's own profile, `/api/v1/me`.
//! - [`workouts`]: create, list, read; reschedule, cancel, start, end.
//! - [`participation`]: book, cancel a booking, roster, join, leave.
//! - [`live`]: the live stream (SSE, WebSocket), tickets, leaderboard, energy ingest.
//! - [`board`]: the whole live board, for the trainer console.
//! - [`results`], [`feedback`], [`history`]: afterwards.
//! - [`encoded_json`]: a JSON body encoded once, for cached responses.
//! - [`json_body`]: the request-body extractor: a JSON object, never an array of its fields.
//! - [`docs`]: Swagger UI at `/docs`, its assets embedded in the binary.
//! - [`app`]: the web app at `/` (trainees and the trainer console), embedded likewise.

/// `ApiComponent` for a wrapper the OpenAPI document describes exactly as the `T` it carries, as
/// apistos does for `Json<T>`.
macro_rules! documented_as_inner {
    ($wrapper:ident) => {
        impl<T: apistos::ApiComponent> apistos::ApiComponent for $wrapper<T> {
            fn required() -> bool {
                T::required()
            }

            fn child_schemas() -> Vec<(String, apistos::reference_or::ReferenceOr<apistos::Schema>)>
            {
                T::child_schemas()
            }

            fn raw_schema() -> Option<apistos::reference_or::ReferenceOr<apistos::Schema>> {
                T::raw_schema()
            }

            fn schema() -> Option<(String, apistos::reference_or::ReferenceOr<apistos::Schema>)> {
                T::schema()
            }
        }
    };
}

pub mod app;
pub mod auth;
pub mod board;
pub mod docs;
pub mod encoded_json;
pub mod feedback;
pub mod health;
pub mod history;
pub mod json_body;
pub mod live;
pub mod me;
pub mod participation;
pub mod results;
pub mod workouts;

use crate::error::ApiError;
use actix_web::{HttpMessage as _, HttpRequest};
use apistos::web::{Scope, scope};
use bus_contracts::v1::ActorKind;
use cultfit_actors::client::ActorClient;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// The public API, mounted at `/api/v1`.
pub fn api_v1() -> Scope {
    scope("/api/v1")
        .service(auth::routes())
        .service(me::routes())
        .service(workouts::routes())
}

/// The request id of this HTTP request, to carry into the actor's logs.
pub fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(ToString::to_string)
}

/// Send a command to an actor on behalf of this request.
pub async fn actors_call<C: Serialize, R: DeserializeOwned>(
    actors: &ActorClient,
    kind: ActorKind,
    id: Uuid,
    command: &C,
    req: &HttpRequest,
) -> Result<R, ApiError> {
    Ok(actors
        .call(kind, id, command, request_id(req).as_deref())
        .await?)
}
