//! `/api/v1/workouts/{id}/results`: the final ranking, and a participant's own result.
//!
//! Results are computed by the workout's actor when the workout ends and stored with the end in
//! one transaction (see `actors/src/workout/actor.rs`).

use super::workouts::read;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::workouts::afterwards::{self, MyResult, Ranking};
use crate::workouts::views::State;
use actix_web::web::{Data, Json, Path};
use apistos::api_operation;
use apistos::web::{Scope, get, resource};
use bus_contracts::ErrorCode;
use sqlx::PgPool;
use uuid::Uuid;

/// Results routes, added to the `/workouts` scope.
pub fn routes(workouts: Scope) -> Scope {
    workouts
        .service(resource("/{id}/results").route(get().to(get_results)))
        .service(resource("/{id}/results/me").route(get().to(get_my_result)))
}

/// The final ranking of an ended workout (empty before it ends).
#[api_operation(
    operation_id = "get_results",
    tag = "afterwards",
    error_code = 400,
    error_code = 401,
    error_code = 404,
    error_code = 503
)]
pub async fn get_results(
    user: AuthUser,
    id: Path<Uuid>,
    pool: Data<PgPool>,
) -> Result<Json<Ranking>, ApiError> {
    read(&pool, *id).await?;
    Ok(Json(afterwards::ranking(&pool, *id, user.id).await?))
}

/// Your own result: rank, energy, calories, active seconds, per-minute rating and energy curve.
#[api_operation(
    operation_id = "get_my_result",
    tag = "afterwards",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 409,
    error_code = 503
)]
pub async fn get_my_result(
    user: AuthUser,
    id: Path<Uuid>,
    pool: Data<PgPool>,
) -> Result<Json<MyResult>, ApiError> {
    let workout = read(&pool, *id).await?;
    match afterwards::my_result(&pool, *id, user.id).await? {
        Some(result) => Ok(Json(result)),
        None if workout.state != State::Ended => Err(ApiError::client(
            ErrorCode::InvalidState,
            "results come when the workout ends",
        )),
        None => Err(ApiError::forbidden(
            "only trainees who took part have a result",
        )),
    }
}
