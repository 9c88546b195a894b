//! `/api/v1/workouts/{id}/feedback`: participants rate a workout after it ends; its trainer reads
//! the summary.

use super::workouts::owned_by;
use crate::auth::{Trainee, Trainer};
use crate::error::ApiError;
use crate::workouts::afterwards::{self, FeedbackItem, FeedbackRefusal, FeedbackSummary};
use actix_web::web::{Data, Json, Path};
use apistos::actix::CreatedJson;
use apistos::web::{Scope, get, post, resource};
use apistos::{api_component, api_operation};
use bus_contracts::ErrorCode;
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
#[derive(Debug, Deserialize)]
#[api_component]
pub struct GiveFeedback {
    /// 1 (poor) to 5 (great).
    pub rating: i64,
    /// Optional, up to 2000 characters.
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
    error_code = 422
)]
pub async fn give_feedback(
    trainee: Trainee,
    id: Path<Uuid>,
    body: Json<GiveFeedback>,
    pool: Data<PgPool>,
) -> Result<CreatedJson<FeedbackItem>, ApiError> {
    let body = body.into_inner();
    let mut checks = crate::accounts::validate::Checks::default();
    checks.check(
        "rating",
        if (1..=5).contains(&body.rating) {
            Ok(())
        } else {
            Err("must be 1 to 5".to_owned())
        },
    );
    let comment = body
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if let Some(comment) = comment {
        checks.check(
            "comment",
            if comment.chars().count() <= COMMENT_MAX_CHARS {
                Ok(())
            } else {
                Err(format!("must be at most {COMMENT_MAX_CHARS} characters"))
            },
        );
    }
    checks.finish()?;
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
    error_code = 404
)]
pub async fn get_feedback(
    trainer: Trainer,
    id: Path<Uuid>,
    pool: Data<PgPool>,
) -> Result<Json<FeedbackSummary>, ApiError> {
    owned_by(&pool, *id, trainer.0.id).await?;
    Ok(Json(afterwards::feedback_summary(&pool, *id).await?))
}
