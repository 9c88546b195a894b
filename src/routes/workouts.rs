//! `/api/v1/workouts`: create, list, read, and the trainer's lifecycle commands.
//!
//! Commands go to the owning actor over NATS (the trainer's actor for create and reschedule,
//! which checks overlaps; the workout's for cancel, start, end); the response is then read back
//! from PostgreSQL, which the actor has already written.

use super::actors_call;
use super::encoded_json::EncodedJson;
use super::json_body::JsonBody;
use crate::accounts::validate;
use crate::auth::{AuthUser, Trainer};
use crate::error::ApiError;
use crate::workouts::cursor::Keyset;
use crate::workouts::queries::{self, ListFilter};
use crate::workouts::views::WorkoutPage;
use crate::workouts::{WORKOUT_TYPES, WorkoutType, WorkoutView, cursor};
use actix_web::HttpRequest;
use actix_web::web::{Data, Json, Path, Query};
use apistos::actix::CreatedJson;
use apistos::web::{Scope, get, post, resource, scope};
use apistos::{ApiComponent, api_operation};
use bus_contracts::v1::{ActorKind, NewWorkout, TrainerCommand, WorkoutCommand, WorkoutStatus};
use chrono::{DateTime, Utc};
use cultfit_actors::client::ActorClient;
use schemars::JsonSchema;
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

/// The listing cache: at most a second old, so no state change is served later than that. It
/// holds pages encoded, so a hit is served without cloning or serialising anything.
pub type ListCache = moka::future::Cache<ListFilter, EncodedJson<WorkoutPage>>;

/// `/workouts`: these routes and those of [`super::participation`].
pub fn routes() -> Scope {
    let workouts = scope("/workouts")
        .service(
            resource("")
                .route(get().to(list_workouts))
                .route(post().to(create_workout)),
        )
        .service(resource("/{id}").route(get().to(get_workout)))
        .service(resource("/{id}/reschedule").route(post().to(reschedule_workout)))
        .service(resource("/{id}/cancel").route(post().to(cancel_workout)))
        .service(resource("/{id}/start").route(post().to(start_workout)))
        .service(resource("/{id}/end").route(post().to(end_workout)));
    let workouts = super::participation::routes(workouts);
    let workouts = super::live::routes(workouts);
    let workouts = super::board::routes(workouts);
    super::results::routes(super::feedback::routes(workouts))
}

/// Most characters in a title.
const TITLE_MAX_CHARS: usize = 200;
/// Most characters in a description.
const DESCRIPTION_MAX_CHARS: usize = 5000;
/// Most characters in a cancellation reason.
const REASON_MAX_CHARS: usize = 500;
// Bounds are separate constants: schemars takes only paths in `range(...)`.
/// Shortest workout, minutes (the trainer's actor checks the same).
const DURATION_MINUTES_MIN: i64 = *cultfit_actors::schedule::DURATION_MINUTES.start() as i64;
/// Longest workout, minutes.
const DURATION_MINUTES_MAX: i64 = *cultfit_actors::schedule::DURATION_MINUTES.end() as i64;
/// Fewest places.
const CAPACITY_MIN: i64 = 1;
/// Most places.
const CAPACITY_MAX: i64 = 100_000;

/// A new workout.
#[derive(Debug, Deserialize, JsonSchema, ApiComponent)]
pub struct CreateWorkout {
    /// The kind of session.
    #[serde(rename = "type")]
    #[schemars(with = "WorkoutType")]
    pub workout_type: String,
    /// 1 to 200 characters, not only whitespace (which is trimmed from either end).
    #[schemars(
        length(min = 1, max = "TITLE_MAX_CHARS"),
        regex = "validate::NAME_PATTERN"
    )]
    pub title: String,
    /// Up to 5000 characters.
    #[serde(default)]
    #[schemars(
        length(max = "DESCRIPTION_MAX_CHARS"),
        regex = "validate::TEXT_PATTERN"
    )]
    pub description: String,
    /// In the future (RFC 3339).
    pub starts_at: DateTime<Utc>,
    /// 5 to 240.
    #[schemars(range(min = "DURATION_MINUTES_MIN", max = "DURATION_MINUTES_MAX"))]
    pub duration_minutes: i64,
    /// 1 to 100 000.
    #[schemars(range(min = "CAPACITY_MIN", max = "CAPACITY_MAX"))]
    pub capacity: i64,
}

/// A new time.
#[derive(Debug, Deserialize, JsonSchema, ApiComponent)]
pub struct RescheduleWorkout {
    /// New start, in the future (RFC 3339).
    pub starts_at: DateTime<Utc>,
    /// New duration (5 to 240); unchanged if omitted.
    #[schemars(range(min = "DURATION_MINUTES_MIN", max = "DURATION_MINUTES_MAX"))]
    pub duration_minutes: Option<i64>,
}

/// Why a workout is cancelled.
#[derive(Debug, Default, Deserialize, JsonSchema, ApiComponent)]
pub struct CancelWorkout {
    /// Shown to trainees; up to 500 characters (surrounding whitespace is trimmed; an empty
    /// reason is no reason).
    #[schemars(length(max = "REASON_MAX_CHARS"), regex = "validate::TEXT_PATTERN")]
    pub reason: Option<String>,
}

/// Listing filters and paging.
#[derive(Debug, Deserialize, JsonSchema, ApiComponent)]
pub struct ListQuery {
    /// Only this type.
    #[serde(rename = "type")]
    #[schemars(with = "Option<WorkoutType>")]
    pub workout_type: Option<String>,
    /// Only this trainer's.
    pub trainer_id: Option<Uuid>,
    /// Starting at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Starting before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = "cursor::MAX_LIMIT"))]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[schemars(regex = "cursor::KEYSET_PATTERN")]
    pub cursor: Option<String>,
}

/// Schedule a workout (trainers). It must not overlap another of the trainer's workouts.
#[api_operation(
    operation_id = "create_workout",
    tag = "workouts",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 409,
    error_code = 422,
    error_code = 503
)]
pub async fn create_workout(
    trainer: Trainer,
    body: JsonBody<CreateWorkout>,
    req: HttpRequest,
    pool: Data<PgPool>,
    actors: Data<ActorClient>,
) -> Result<CreatedJson<WorkoutView>, ApiError> {
    let body = body.into_inner();
    let mut checks = validate::Checks::default();
    checks
        .check("type", known_type(&body.workout_type))
        .check("title", validate::name(&body.title, TITLE_MAX_CHARS))
        .check(
            "description",
            validate::text(&body.description, DESCRIPTION_MAX_CHARS),
        )
        .check("starts_at", in_future(body.starts_at))
        .check(
            "duration_minutes",
            in_range(
                body.duration_minutes,
                DURATION_MINUTES_MIN,
                DURATION_MINUTES_MAX,
            ),
        )
        .check(
            "capacity",
            in_range(body.capacity, CAPACITY_MIN, CAPACITY_MAX),
        );
    checks.finish()?;
    let workout = NewWorkout {
        id: Uuid::now_v7(),
        workout_type: body.workout_type,
        title: body.title.trim().to_owned(),
        description: body.description,
        starts_at: body.starts_at,
        duration_minutes: u32::try_from(body.duration_minutes).unwrap_or_default(),
        capacity: u32::try_from(body.capacity).unwrap_or_default(),
    };
    let id = workout.id;
    let command = TrainerCommand::CreateWorkout { workout };
    let _: WorkoutStatus =
        actors_call(&actors, ActorKind::Trainer, trainer.0.id, &command, &req).await?;
    Ok(CreatedJson(read(&pool, id).await?))
}

/// Upcoming (scheduled or live) workouts, soonest first.
#[api_operation(
    operation_id = "list_workouts",
    tag = "workouts",
    error_code = 400,
    error_code = 401,
    error_code = 422,
    error_code = 503
)]
pub async fn list_workouts(
    _user: AuthUser,
    query: Query<ListQuery>,
    pool: Data<PgPool>,
    cache: Data<ListCache>,
) -> Result<EncodedJson<WorkoutPage>, ApiError> {
    let query = query.into_inner();
    if let Some(workout_type) = &query.workout_type {
        known_type(workout_type).map_err(|m| ApiError::invalid_field("type", m))?;
    }
    let filter = ListFilter {
        workout_type: query.workout_type,
        trainer_id: query.trainer_id,
        from: query.from,
        to: query.to,
        after: query.cursor.as_deref().map(Keyset::decode).transpose()?,
        limit: cursor::limit(query.limit, 20)?,
    };
    cache
        .try_get_with(filter.clone(), async {
            let page = queries::list(&pool, &filter).await?;
            anyhow::Ok(EncodedJson::encode(&page)?)
        })
        .await
        .map_err(ApiError::from)
}

/// One workout.
#[api_operation(
    operation_id = "get_workout",
    tag = "workouts",
    error_code = 400,
    error_code = 401,
    error_code = 404,
    error_code = 503
)]
pub async fn get_workout(
    _user: AuthUser,
    id: Path<Uuid>,
    pool: Data<PgPool>,
) -> Result<Json<WorkoutView>, ApiError> {
    Ok(Json(read(&pool, *id).await?))
}

/// Move a workout (its trainer, while scheduled). The new time must not overlap another of the
/// trainer's workouts.
#[api_operation(
    operation_id = "reschedule_workout",
    tag = "workouts",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 409,
    error_code = 422,
    error_code = 503
)]
pub async fn reschedule_workout(
    trainer: Trainer,
    id: Path<Uuid>,
    body: JsonBody<RescheduleWorkout>,
    req: HttpRequest,
    pool: Data<PgPool>,
    actors: Data<ActorClient>,
) -> Result<Json<WorkoutView>, ApiError> {
    let mut checks = validate::Checks::default();
    checks.check("starts_at", in_future(body.starts_at));
    if let Some(minutes) = body.duration_minutes {
        checks.check(
            "duration_minutes",
            in_range(minutes, DURATION_MINUTES_MIN, DURATION_MINUTES_MAX),
        );
    }
    checks.finish()?;
    owned_by(&pool, *id, trainer.0.id).await?;
    let command = TrainerCommand::RescheduleWorkout {
        workout_id: *id,
        starts_at: body.starts_at,
        duration_minutes: body.duration_minutes.and_then(|m| u32::try_from(m).ok()),
    };
    let _: WorkoutStatus =
        actors_call(&actors, ActorKind::Trainer, trainer.0.id, &command, &req).await?;
    Ok(Json(read(&pool, *id).await?))
}

/// Call a workout off (its trainer; not once live or ended). Every registration is released.
#[api_operation(
    operation_id = "cancel_workout",
    tag = "workouts",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 409,
    error_code = 422,
    error_code = 503
)]
pub async fn cancel_workout(
    trainer: Trainer,
    id: Path<Uuid>,
    body: Option<JsonBody<CancelWorkout>>,
    req: HttpRequest,
    pool: Data<PgPool>,
    actors: Data<ActorClient>,
) -> Result<Json<WorkoutView>, ApiError> {
    // The body is optional, but one that is sent must be valid.
    let sent_body = req
        .headers()
        .get("content-length")
        .is_some_and(|len| len != "0");
    if body.is_none() && sent_body {
        return Err(ApiError::Malformed(
            "expected {\"reason\": string} or no body".to_owned(),
        ));
    }
    let reason = body.and_then(|b| b.into_inner().reason);
    if let Some(reason) = &reason {
        validate::text(reason, REASON_MAX_CHARS)
            .map_err(|m| ApiError::invalid_field("reason", m))?;
    }
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    lifecycle(
        &pool,
        &actors,
        &req,
        *id,
        trainer,
        WorkoutCommand::Cancel {
            by: trainer.0.id,
            reason,
        },
    )
    .await
}

/// Go live (its trainer; from 15 minutes before the start).
#[api_operation(
    operation_id = "start_workout",
    tag = "workouts",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 409,
    error_code = 503
)]
pub async fn start_workout(
    trainer: Trainer,
    id: Path<Uuid>,
    req: HttpRequest,
    pool: Data<PgPool>,
    actors: Data<ActorClient>,
) -> Result<Json<WorkoutView>, ApiError> {
    lifecycle(
        &pool,
        &actors,
        &req,
        *id,
        trainer,
        WorkoutCommand::Start { by: trainer.0.id },
    )
    .await
}

/// Finish (its trainer; only while live). Results follow.
#[api_operation(
    operation_id = "end_workout",
    tag = "workouts",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 409,
    error_code = 503
)]
pub async fn end_workout(
    trainer: Trainer,
    id: Path<Uuid>,
    req: HttpRequest,
    pool: Data<PgPool>,
    actors: Data<ActorClient>,
) -> Result<Json<WorkoutView>, ApiError> {
    lifecycle(
        &pool,
        &actors,
        &req,
        *id,
        trainer,
        WorkoutCommand::End { by: trainer.0.id },
    )
    .await
}

async fn lifecycle(
    pool: &PgPool,
    actors: &ActorClient,
    req: &HttpRequest,
    id: Uuid,
    trainer: Trainer,
    command: WorkoutCommand,
) -> Result<Json<WorkoutView>, ApiError> {
    owned_by(pool, id, trainer.0.id).await?;
    let _: WorkoutStatus = actors_call(actors, ActorKind::Workout, id, &command, req).await?;
    Ok(Json(read(pool, id).await?))
}

/// 404 if unknown, 403 if someone else's. (The actor checks again; this answers early and
/// keeps other trainers from learning anything through the actor's errors.) Reads only the
/// trainer id: callers that need the whole workout read it once, after their command.
pub async fn owned_by(pool: &PgPool, id: Uuid, trainer_id: Uuid) -> Result<(), ApiError> {
    match queries::trainer_of(pool, id).await? {
        None => Err(ApiError::not_found("workout")),
        Some(owner) if owner != trainer_id => Err(ApiError::forbidden(
            "only the workout's trainer may do this",
        )),
        Some(_) => Ok(()),
    }
}

/// A workout, or 404.
pub async fn read(pool: &PgPool, id: Uuid) -> Result<WorkoutView, ApiError> {
    queries::get(pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("workout"))
}

fn known_type(value: &str) -> Result<(), String> {
    if WORKOUT_TYPES.contains(&value) {
        Ok(())
    } else {
        Err(format!("must be one of {}", WORKOUT_TYPES.join(", ")))
    }
}

fn in_future(at: DateTime<Utc>) -> Result<(), String> {
    if at > Utc::now() {
        Ok(())
    } else {
        Err("must be in the future".to_owned())
    }
}

fn in_range(value: i64, min: i64, max: i64) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("must be between {min} and {max}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_rules() {
        assert!(known_type("hiit").is_ok());
        assert!(known_type("HIIT").is_err());
        assert!(in_future(Utc::now() - chrono::TimeDelta::seconds(1)).is_err());
        assert!(in_range(5, DURATION_MINUTES_MIN, DURATION_MINUTES_MAX).is_ok());
        assert!(in_range(241, DURATION_MINUTES_MIN, DURATION_MINUTES_MAX).is_err());
    }
}
