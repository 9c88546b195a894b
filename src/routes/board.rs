//! `GET /workouts/{id}/board`: the whole live board for the workout's trainer (the trainer
//! console), where a trainee's stream shows only the top, themselves and their neighbours.

use super::live::newest_standings;
use crate::auth::Trainer;
use crate::error::ApiError;
use crate::live::access::Gates;
use crate::live::hub::LiveHub;
use crate::live::view::{Place, places};
use actix_web::web::{Data, Json, Path, Query};
use apistos::web::{Scope, get, resource};
use apistos::{ApiComponent, api_operation};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most places one board answer carries.
const MAX_PLACES: u32 = 10_000;

/// Added to the `/workouts` scope.
pub fn routes(workouts: Scope) -> Scope {
    workouts.service(resource("/{id}/board").route(get().to(get_board)))
}

/// How much of the board.
#[derive(Debug, Deserialize, JsonSchema, ApiComponent)]
pub struct BoardQuery {
    /// Places from the top, 1 to 10 000 (default 1 000).
    #[schemars(range(min = 1, max = "MAX_PLACES"))]
    pub limit: Option<u32>,
}

/// Everyone on a live workout's board at the newest tick.
#[derive(Debug, Serialize, JsonSchema, ApiComponent)]
pub struct BoardView {
    /// The owner's lease epoch (changes after a failover).
    pub epoch: u64,
    /// Tick number within the epoch.
    pub tick: u64,
    /// When the ranking was taken.
    pub at: DateTime<Utc>,
    /// Everyone ranked (`places` may hold fewer, see `limit`).
    pub participants: u32,
    /// Samples accepted so far in this session.
    pub samples_accepted: u64,
    /// Samples refused so far (malformed, too fast, out of the window, ...).
    pub samples_rejected: u64,
    /// Best first; trainees who hide from leaderboards are anonymous here too.
    pub places: Vec<Place>,
}

/// The whole live board (its trainer, while the workout is live).
#[api_operation(
    operation_id = "get_board",
    tag = "taking part",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 409,
    error_code = 422,
    error_code = 503
)]
pub async fn get_board(
    trainer: Trainer,
    id: Path<Uuid>,
    query: Query<BoardQuery>,
    gates: Data<Gates>,
    hub: Data<LiveHub>,
) -> Result<Json<BoardView>, ApiError> {
    let limit = query.limit.unwrap_or(1000);
    if !(1..=MAX_PLACES).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("must be 1 to {MAX_PLACES}"),
        ));
    }
    gates
        .admit_live(
            *id,
            trainer.0,
            "the board is shown (see /results afterwards)",
        )
        .await?;
    let standings = newest_standings(&hub, *id).await?;
    Ok(Json(BoardView {
        epoch: standings.epoch,
        tick: standings.tick,
        at: standings.at,
        participants: standings.participants,
        samples_accepted: standings.samples.accepted,
        samples_rejected: standings.samples.rejected,
        places: places(&standings, trainer.0.id, limit as usize),
    }))
}
