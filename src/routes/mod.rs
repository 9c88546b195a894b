//! HTTP routes, one file per resource. Every route is documented through apistos.
//!
//! - [`health`]: `/health/live`, `/health/ready` (served by every node, whatever its role).
//! - [`auth`]: register, login, refresh, logout under `/api/v1/auth`.
//! - [`me`]: the caller's own profile, `/api/v1/me`.
//! - [`docs`]: Swagger UI at `/docs`, its assets embedded in the binary.

pub mod auth;
pub mod docs;
pub mod health;
pub mod me;

use apistos::web::{Scope, scope};

/// The public API, mounted at `/api/v1`.
pub fn api_v1() -> Scope {
    scope("/api/v1")
        .service(auth::routes())
        .service(me::routes())
}
