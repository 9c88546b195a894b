//! `/api/v1/me/history`: a trainee's past workouts with their result; a trainer's sessions taught
//! with attendance and rating.

use crate::accounts::Role;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::workouts::afterwards::{self, HistoryPage};
use crate::workouts::cursor::{self, Keyset};
use actix_web::web::{Data, Json, Query};
use apistos::{ApiComponent, api_operation};
use schemars::JsonSchema;
use serde::Deserialize;
use sqlx::PgPool;

/// Paging.
#[derive(Debug, Deserialize, JsonSchema, ApiComponent)]
pub struct HistoryQuery {
    /// Page size, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = "cursor::MAX_LIMIT"))]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[schemars(regex = "cursor::KEYSET_PATTERN")]
    pub cursor: Option<String>,
}

/// Your past workouts, newest first.
#[api_operation(
    operation_id = "get_history",
    tag = "afterwards",
    error_code = 400,
    error_code = 401,
    error_code = 422,
    error_code = 503
)]
pub async fn get_history(
    user: AuthUser,
    query: Query<HistoryQuery>,
    pool: Data<PgPool>,
) -> Result<Json<HistoryPage>, ApiError> {
    let limit = cursor::limit(query.limit, 20)?;
    let after = query.cursor.as_deref().map(Keyset::decode).transpose()?;
    let page = match user.role {
        Role::Trainee => afterwards::trainee_history(&pool, user.id, after.as_ref(), limit).await?,
        Role::Trainer => afterwards::trainer_history(&pool, user.id, after.as_ref(), limit).await?,
    };
    Ok(Json(page))
}
