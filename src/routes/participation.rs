//! Taking part: book, cancel a booking, roster, join, leave.
//!
//! Booking and joining go through the trainee's actor (no overlapping bookings, one live session
//! at a time), which asks the workout's actor (capacity, waitlist, who may join).

use super::actors_call;
use super::workouts::owned_by;
use crate::auth::tokens::JwtKeys;
use crate::auth::{Trainee, Trainer};
use crate::error::ApiError;
use crate::workouts::cursor;
use crate::workouts::views::{RosterPage, Status};
use actix_web::HttpRequest;
use actix_web::web::{Data, Json, Path, Query};
use apistos::actix::{CreatedJson, NoContent};
use apistos::web::{Scope, delete, get, post, resource};
use apistos::{ApiComponent, api_operation};
use bus_contracts::subjects;
use bus_contracts::v1::{
    ActorKind, Booking, JoinState, Joined, TraineeCommand, WorkoutCommand, WorkoutStatus,
};
use chrono::{DateTime, Utc};
use cultfit_actors::client::ActorClient;
use cultfit_actors::schedule::DURATION_MINUTES;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// What `join` tells a wearable: where the bus is, and how long past the workout's scheduled end
/// its credential lasts (the auto-end grace, so a session that runs long is never cut).
#[derive(Clone, Debug)]
pub struct WearableAccess {
    /// The NATS URL(s) for wearables.
    pub nats_url: String,
    /// The NATS WebSocket URL for browser wearables, if the bus has a listener for them.
    pub nats_ws_url: Option<String>,
    /// Added to the scheduled end for the device token's expiry.
    pub credential_grace: chrono::TimeDelta,
}

/// Registrations, join and leave, added to the `/workouts` scope (actix does not fall through
/// from one scope to another with the same prefix, so they must share it).
pub fn routes(workouts: Scope) -> Scope {
    workouts
        .service(
            resource("/{id}/registrations")
                .route(post().to(book_workout))
                .route(get().to(list_registrations)),
        )
        .service(
            resource("/{id}/registrations/me")
                .route(get().to(get_my_booking))
                .route(delete().to(cancel_booking)),
        )
        .service(resource("/{id}/join").route(post().to(join_workout)))
        .service(resource("/{id}/leave").route(post().to(leave_workout)))
}

/// The outcome of a booking.
#[derive(Debug, Serialize, JsonSchema, ApiComponent)]
pub struct BookingView {
    /// `booked`, or `waitlisted` when full.
    pub status: Status,
    /// 1-based position while waitlisted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waitlist_position: Option<u32>,
}

/// Paging of the roster.
#[derive(Debug, Deserialize, JsonSchema, ApiComponent)]
pub struct RosterQuery {
    /// Page size, 1 to 100 (default 50).
    #[schemars(range(min = 1, max = "cursor::MAX_LIMIT"))]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[schemars(regex = "cursor::OFFSET_PATTERN")]
    pub cursor: Option<String>,
}

/// What a joined trainee needs.
#[derive(Debug, Serialize, JsonSchema, ApiComponent)]
pub struct JoinView {
    /// `waiting` before the start, `live` after.
    pub state: JoinStateView,
    /// When the workout starts (for the countdown).
    pub starts_at: DateTime<Utc>,
    /// The live event stream (SSE) of this workout, with a short-lived `?ticket=` so a browser
    /// can open it without the Authorization header.
    pub live_url: String,
    /// The same events over a WebSocket, with the same ticket.
    pub ws_url: String,
    /// The NATS subject the trainee's wearable publishes energy samples on.
    pub energy_subject: String,
    /// The wearable's NATS credential (send it as the CONNECT `auth_token`), bound to this
    /// trainee and workout: it may publish on `energy_subject` and nothing else, until the
    /// workout's scheduled end plus the auto-end grace, when the bus closes the connection.
    /// Joining again issues a fresh one (e.g. after a reschedule).
    pub device_token: String,
    /// NATS server(s) for the wearable, comma separated.
    pub nats_url: String,
    /// The same bus over WebSocket, for wearables in a browser (null when the service was not
    /// told one: `CULTFIT_PUBLIC_NATS_WS_URL`).
    pub nats_ws_url: Option<String>,
    /// The wearable's NATS inbox prefix (set it as the client's inbox prefix): publishing a
    /// sample with a reply subject below it gets JetStream's acknowledgement once the sample is
    /// stored, so a wearable can resend what was not acknowledged (duplicates are harmless).
    pub inbox_prefix: String,
}

/// Where a joined trainee is: `waiting` (the workout has not started yet) or `live` (in progress).
#[derive(Debug, Serialize, JsonSchema, ApiComponent)]
#[serde(rename_all = "lowercase")]
#[allow(
    missing_docs,
    reason = "described on the type: docs on variants would make its schema a `oneOf`, not an `enum`"
)]
pub enum JoinStateView {
    Waiting,
    Live,
}

/// Book a place; when the workout is full, join its waitlist (trainees). Bookings must not
/// overlap in time.
#[api_operation(
    operation_id = "book_workout",
    tag = "taking part",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 409,
    error_code = 503
)]
pub async fn book_workout(
    trainee: Trainee,
    id: Path<Uuid>,
    req: HttpRequest,
    actors: Data<ActorClient>,
) -> Result<CreatedJson<BookingView>, ApiError> {
    let command = TraineeCommand::Book { workout_id: *id };
    let booking: Booking =
        actors_call(&actors, ActorKind::Trainee, trainee.0.id, &command, &req).await?;
    Ok(CreatedJson(BookingView {
        status: booking.status.into(),
        waitlist_position: booking.waitlist_position,
    }))
}

/// Your booking for a workout (trainees).
///
/// Booked, or waitlisted with your position; cancelled once given up. 404 when you never booked it.
#[api_operation(
    operation_id = "get_my_booking",
    tag = "taking part",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 503
)]
pub async fn get_my_booking(
    trainee: Trainee,
    id: Path<Uuid>,
    pool: Data<PgPool>,
) -> Result<Json<BookingView>, ApiError> {
    let (status, waitlist_position) =
        crate::workouts::queries::registration(&pool, *id, trainee.0.id)
            .await?
            .ok_or_else(|| ApiError::not_found("booking"))?;
    Ok(Json(BookingView {
        status,
        waitlist_position: waitlist_position.and_then(|p| u32::try_from(p).ok()),
    }))
}

/// Give up a place or waitlist position (trainees). The first waitlisted trainee is promoted.
#[api_operation(
    operation_id = "cancel_booking",
    tag = "taking part",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 409,
    error_code = 503
)]
pub async fn cancel_booking(
    trainee: Trainee,
    id: Path<Uuid>,
    req: HttpRequest,
    actors: Data<ActorClient>,
) -> Result<NoContent, ApiError> {
    let command = WorkoutCommand::CancelBooking {
        trainee_id: trainee.0.id,
    };
    let _: WorkoutStatus = actors_call(&actors, ActorKind::Workout, *id, &command, &req).await?;
    Ok(NoContent)
}

/// The roster: booked trainees in booking order, then the waitlist (its trainer only).
#[api_operation(
    operation_id = "list_registrations",
    tag = "taking part",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 422,
    error_code = 503
)]
pub async fn list_registrations(
    trainer: Trainer,
    id: Path<Uuid>,
    query: Query<RosterQuery>,
    pool: Data<PgPool>,
) -> Result<Json<RosterPage>, ApiError> {
    owned_by(&pool, *id, trainer.0.id).await?;
    let limit = cursor::limit(query.limit, 50)?;
    let offset = query
        .cursor
        .as_deref()
        .map(cursor::decode_offset)
        .transpose()?
        .unwrap_or(0);
    Ok(Json(
        crate::workouts::queries::roster(&pool, *id, offset, limit).await?,
    ))
}

/// Enter a workout you booked: the waiting room before the start, the live session after.
/// Returns where the wearable publishes and a device credential for it.
#[api_operation(
    operation_id = "join_workout",
    tag = "taking part",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 409,
    error_code = 503
)]
pub async fn join_workout(
    trainee: Trainee,
    id: Path<Uuid>,
    req: HttpRequest,
    actors: Data<ActorClient>,
    keys: Data<JwtKeys>,
    wearables: Data<WearableAccess>,
) -> Result<Json<JoinView>, ApiError> {
    let command = TraineeCommand::Join { workout_id: *id };
    let joined: Joined =
        actors_call(&actors, ActorKind::Trainee, trainee.0.id, &command, &req).await?;
    // A worker too old to say the duration: assume the longest a workout may last.
    let minutes = joined.duration_minutes.unwrap_or(*DURATION_MINUTES.end());
    let ends_at = joined.starts_at
        + chrono::TimeDelta::minutes(i64::from(minutes))
        + wearables.credential_grace;
    let ticket = super::live::ticket(&keys, trainee.0, *id)?;
    Ok(Json(JoinView {
        state: match joined.state {
            JoinState::Waiting => JoinStateView::Waiting,
            JoinState::Live => JoinStateView::Live,
        },
        starts_at: joined.starts_at,
        live_url: ticket.live_url,
        ws_url: ticket.ws_url,
        energy_subject: subjects::workout_energy(*id, trainee.0.id),
        device_token: keys.issue_device(trainee.0.id, *id, ends_at)?,
        nats_url: wearables.nats_url.clone(),
        nats_ws_url: wearables.nats_ws_url.clone(),
        inbox_prefix: subjects::device_inbox_prefix(trainee.0.id),
    }))
}

/// Leave a workout you joined.
#[api_operation(
    operation_id = "leave_workout",
    tag = "taking part",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 409,
    error_code = 503
)]
pub async fn leave_workout(
    trainee: Trainee,
    id: Path<Uuid>,
    req: HttpRequest,
    actors: Data<ActorClient>,
) -> Result<NoContent, ApiError> {
    let command = TraineeCommand::Leave { workout_id: *id };
    let _: WorkoutStatus =
        actors_call(&actors, ActorKind::Trainee, trainee.0.id, &command, &req).await?;
    Ok(NoContent)
}
