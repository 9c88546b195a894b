//! `/api/v1/workouts/{id}/feedback`: participants rate a workout after it ends; its trainer reads
//! the summary.

use super::json_body::JsonBody;
use super::workouts::owned_by;
use crate::accounts::validate;
use crate::auth::{Trainee, Trainer};
use crate::error::ApiError;
use crate::workouts::afterwards::{self, FeedbackItem, FeedbackRefusal, FeedbackSummary};
use actix_web::web::{Data, Json, Path};
use apistos::actix::CreatedJson;
use apistos::web::{Scope, get, post, resource};
use apistos::{ApiComponent, api_operation};
use bus_contracts::ErrorCode;
use schemars::JsonSchema;
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

/// Most characters in a comment.
const COMMENT_MAX_CHARS: usize = 2000;

/// Feedback routes, added to the `/workouts` scope.
pub fn routes(workouts: Scope) -> Scope {
    workouts.service(
        resource("/{id}/feedback")
            .route(post().to(give_feedback))
            .route(get().to(get_feedback)),
    )
}

/// A participant's feedback.
#[derive(Debug, Deserialize, JsonSchema, ApiComponent)]
pub struct GiveFeedback {
    /// 1 (poor) to 5 (great).
    #[schemars(range(min = 1, max = 5))]
    pub rating: i64,
    /// Optional, up to 2000 characters (surrounding whitespace is trimmed; an empty comment is
    /// no comment).
    #[schemars(length(max = "COMMENT_MAX_CHARS"), regex = "validate::TEXT_PATTERN")]
    pub comment: Option<String>,
}

/// Rate a workout you took part in, once it has ended. Giving feedback again replaces it.
#[api_operation(
    operation_id = "give_feedback",
    tag = "afterwards",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 409,
    error_code = 422,
    error_code = 503
)]
pub async fn give_feedback(
    trainee: Trainee,
    id: Path<Uuid>,
    body: JsonBody<GiveFeedback>,
    pool: Data<PgPool>,
) -> Result<CreatedJson<FeedbackItem>, ApiError> {
    let body = body.into_inner();
    let mut checks = validate::Checks::default();
    checks.check(
        "rating",
        if (1..=5).contains(&body.rating) {
            Ok(())
        } else {
            Err("must be 1 to 5".to_owned())
        },
    );
    if let Some(comment) = &body.comment {
        checks.check("comment", validate::text(comment, COMMENT_MAX_CHARS));
    }
    checks.finish()?;
    let comment = body
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let rating = i16::try_from(body.rating)
        .map_err(|_| ApiError::invalid_field("rating", "must be 1 to 5"))?;
    match afterwards::give_feedback(&pool, *id, trainee.0.id, rating, comment).await? {
        Ok(item) => Ok(CreatedJson(item)),
        Err(FeedbackRefusal::UnknownWorkout) => Err(ApiError::not_found("workout")),
        Err(FeedbackRefusal::NotEnded(_)) => Err(ApiError::client(
            ErrorCode::InvalidState,
            "feedback opens when the workout has ended",
        )),
        Err(FeedbackRefusal::NotParticipant) => Err(ApiError::forbidden(
            "only trainees who took part can give feedback",
        )),
    }
}

/// The feedback on a workout: average, count and every item (its trainer only).
#[api_operation(
    operation_id = "get_feedback",
    tag = "afterwards",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 503
)]
pub async fn get_feedback(
    trainer: Trainer,
    id: Path<Uuid>,
    pool: Data<PgPool>,
) -> Result<Json<FeedbackSummary>, ApiError> {
    owned_by(&pool, *id, trainer.0.id).await?;
    Ok(Json(afterwards::feedback_summary(&pool, *id).await?))
}
