//! The live session over HTTP: the event stream (SSE and WebSocket), tickets for browsers, the
//! leaderboard on demand, and energy ingest for apps without NATS.
//!
//! Streams are served from this node's [`LiveHub`]: one NATS subscription per workout followed
//! here, whatever the number of clients, and each client's view cut from the newest state. What a
//! client is sent is decided in [`crate::live`] ([`stream::follow`]); here it only meets HTTP.
//!
//! Tickets and energy ingest are rate limited per client address and per user
//! ([`crate::limits`]): each handler's first argument is its guard.

use super::actors_call;
use super::json_body::JsonBody;
use crate::auth::extractor::TicketAuth;
use crate::auth::tokens::{JwtKeys, LIVE_TICKET_TTL_SECS};
use crate::auth::{AuthUser, LiveViewer, Trainee};
use crate::error::{ApiError, FieldError};
use crate::limits::{EnergyLimit, TicketLimit};
use crate::live::access::{Admitted, Gates};
use crate::live::hub::{Channel, LiveHub};
use crate::live::stream::{self, EncodedEvent};
use crate::live::view::{FrameView, slice};
use actix_web::web::{Data, Json, Path, Payload};
use actix_web::{HttpRequest, HttpResponse, Responder as _, http::header};
use actix_web_lab::sse;
use apistos::reference_or::ReferenceOr;
use apistos::web::{Scope, get, post, resource};
use apistos::{ApiComponent, api_operation};
use bus_contracts::v1::energy::{Rejection, Sample};
use bus_contracts::v1::frames::Standings;
use bus_contracts::v1::{ActorKind, WorkoutCommand, WorkoutState, WorkoutStatus};
use bus_contracts::{ErrorCode, subjects};
use cultfit_actors::client::ActorClient;
use futures_util::{Stream, StreamExt as _};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Most samples in one `POST /energy`.
pub const MAX_BATCH: usize = 1000;

/// The largest integer every JSON client holds exactly (2^53 - 1): the bound of a sample's `seq`
/// and `ts` over HTTP, so that what a client sends is what the stream stores.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// The smallest such integer.
pub const MIN_SAFE_INTEGER: i64 = -MAX_SAFE_INTEGER;

/// How long `GET /leaderboard` waits for a first frame when this node has none yet.
const FIRST_FRAME_WAIT: Duration = Duration::from_secs(3);

/// A comment line keeps idle SSE connections open through proxies.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The SSE `retry:` sent first: how soon a client whose connection breaks (its api node died)
/// opens the stream again, through the load balancer to a live node. The `?ticket=` is a JWT
/// every api node accepts, so the same URL works there; the new stream opens with the state now.
pub const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Live routes, added to the `/workouts` scope.
pub fn routes(workouts: Scope) -> Scope {
    workouts
        .service(resource("/{id}/live").route(get().to(live_events)))
        .service(resource("/{id}/live/ws").route(get().to(live_socket)))
        .service(resource("/{id}/live/tickets").route(post().to(issue_ticket)))
        .service(resource("/{id}/leaderboard").route(get().to(get_leaderboard)))
        .service(resource("/{id}/energy").route(post().to(post_energy)))
}

/// A ticket for another workout is refused before anything is read.
fn check_ticket(id: Uuid, viewer: LiveViewer) -> Result<(), ApiError> {
    if viewer.ticket_for.is_some_and(|wid| wid != id) {
        return Err(ApiError::forbidden("this ticket is for another workout"));
    }
    Ok(())
}

/// Admits `viewer` to a stream of `id` and subscribes this node to the workout: the opening state
/// is read after the subscription (so no transition falls between the two), with the waiting
/// room counted by the workout's owner (PostgreSQL learns of joins only when the owner writes
/// presence behind, so it may lag a join made a moment ago) — asked once per channel.
async fn admit_to_stream(
    gates: &Gates,
    hub: &LiveHub,
    actors: &ActorClient,
    req: &HttpRequest,
    id: Uuid,
    viewer: LiveViewer,
) -> Result<(Admitted, Arc<Channel>), ApiError> {
    check_ticket(id, viewer)?;
    gates.admit(id, viewer.user).await?;
    let channel = channel(hub, id).await?;
    let mut admitted = gates
        .admit_read_after(id, viewer.user, channel.since)
        .await?;
    if admitted.initial.state == WorkoutState::Scheduled {
        let ask_owner = async {
            let status: Result<WorkoutStatus, _> =
                actors_call(actors, ActorKind::Workout, id, &WorkoutCommand::Get, req).await;
            status.ok()?.present
        };
        if let Some(present) = channel.waiting(ask_owner).await {
            admitted.initial.present = present;
        }
    }
    Ok((admitted, channel))
}

/// Follow a workout live (Server-Sent Events).
///
/// For its trainer and its booked trainees. Events: `waiting {participants_waiting, starts_at}` before the start, `started {at}`, one `frame`
/// per tick (top 10, your place, your neighbours), then `ended {at, result}` and the stream
/// closes; also `rescheduled {starts_at}` and `cancelled {reason}`. Browsers pass `?ticket=`
/// (from `join` or `POST /live/tickets`) instead of the header. The stream opens with
/// `retry: 1000`: if it breaks before `ended` (say its api node died), open the same URL again
/// — the ticket is valid on every api node — and it resumes with the newest state.
#[api_operation(
    operation_id = "follow_live",
    tag = "taking part",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 503
)]
#[allow(
    clippy::too_many_arguments,
    reason = "actix handlers take one extractor per input"
)]
pub async fn live_events(
    viewer: LiveViewer,
    id: Path<Uuid>,
    _ticket: TicketAuth,
    req: HttpRequest,
    pool: Data<PgPool>,
    gates: Data<Gates>,
    hub: Data<LiveHub>,
    actors: Data<ActorClient>,
) -> Result<HttpResponse, ApiError> {
    let id = *id;
    let (admitted, channel) = admit_to_stream(&gates, &hub, &actors, &req, id, viewer).await?;
    let pool = pool.into_inner();
    let events = stream::follow(channel, admitted.initial, viewer.user.id, id, pool).map(sse_event);
    let mut response = sse::Sse::from_infallible_stream(events)
        .with_retry_duration(RECONNECT_AFTER)
        .with_keep_alive(KEEP_ALIVE)
        .respond_to(&req);
    // Proxies such as nginx would otherwise buffer the stream.
    response.headers_mut().insert(
        header::HeaderName::from_static("x-accel-buffering"),
        header::HeaderValue::from_static("no"),
    );
    Ok(response)
}

/// `event` as an SSE event: `event:` its name, `data:` its JSON.
fn sse_event(event: EncodedEvent) -> sse::Event {
    sse::Data::new(event.data).event(event.name).into()
}

/// Follow a workout live (WebSocket).
///
/// The same events as the SSE stream, each a text message `{"event": name, "data": {...}}`. Same access rules and `?ticket=`.
#[api_operation(
    operation_id = "follow_live_ws",
    tag = "taking part",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 503
)]
#[allow(
    clippy::too_many_arguments,
    reason = "actix handlers take one extractor per input"
)]
pub async fn live_socket(
    viewer: LiveViewer,
    id: Path<Uuid>,
    _ticket: TicketAuth,
    req: HttpRequest,
    Upgrade(body): Upgrade,
    pool: Data<PgPool>,
    gates: Data<Gates>,
    hub: Data<LiveHub>,
    actors: Data<ActorClient>,
) -> Result<HttpResponse, ApiError> {
    let id = *id;
    let (admitted, channel) = admit_to_stream(&gates, &hub, &actors, &req, id, viewer).await?;
    let (response, session, incoming) = actix_ws::handle(&req, body)
        .map_err(|err| ApiError::client(ErrorCode::MalformedRequest, err.to_string()))?;
    let pool = pool.into_inner();
    let events = stream::follow(channel, admitted.initial, viewer.user.id, id, pool);
    actix_web::rt::spawn(pump(events, session, incoming));
    Ok(response)
}

/// Sends `events` over a WebSocket, each a text message `{"event": name, "data": {...}}`, and
/// answers pings, until the events end (then closes) or the client goes.
async fn pump(
    events: impl Stream<Item = EncodedEvent>,
    mut session: actix_ws::Session,
    mut incoming: actix_ws::MessageStream,
) {
    let mut events = std::pin::pin!(events);
    loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { break };
                // `name` is one of a few fixed identifiers and `data` is JSON already.
                let message = format!(r#"{{"event":"{}","data":{}}}"#, event.name, event.data);
                // Awaiting the send is the back-pressure: while a slow client drains, newer
                // states replace older ones in the watch and it skips to the newest.
                if session.text(message).await.is_err() {
                    return;
                }
            }
            message = incoming.next() => match message {
                Some(Ok(actix_ws::Message::Ping(bytes))) => {
                    if session.pong(&bytes).await.is_err() {
                        return;
                    }
                }
                Some(Ok(actix_ws::Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = session.close(None).await;
}

/// A ticket to open a live stream where headers cannot be set.
#[derive(Debug, Serialize, JsonSchema, ApiComponent)]
pub struct LiveTicket {
    /// Pass as `?ticket=`; bound to this workout and to you.
    pub ticket: String,
    /// Seconds the ticket stays valid for opening a stream (an open stream is not cut).
    pub expires_in: i64,
    /// The SSE stream, ticket included.
    pub live_url: String,
    /// The WebSocket stream, ticket included.
    pub ws_url: String,
}

/// Get a ticket for the live streams.
///
/// For its trainer and its booked trainees: a short-lived `?ticket=` for browsers, which cannot
/// set the Authorization header on `EventSource` or WebSocket.
#[api_operation(
    operation_id = "issue_live_ticket",
    tag = "taking part",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 429,
    error_code = 503
)]
pub async fn issue_ticket(
    _limit: TicketLimit,
    user: AuthUser,
    id: Path<Uuid>,
    gates: Data<Gates>,
    keys: Data<JwtKeys>,
) -> Result<Json<LiveTicket>, ApiError> {
    gates.admit(*id, user).await?;
    Ok(Json(ticket(&keys, user, *id)?))
}

/// A live ticket and the stream URLs carrying it (also used by `join`).
pub fn ticket(keys: &JwtKeys, user: AuthUser, id: Uuid) -> Result<LiveTicket, ApiError> {
    let ticket = keys.issue_live(user.id, user.role, id)?;
    Ok(LiveTicket {
        live_url: format!("/api/v1/workouts/{id}/live?ticket={ticket}"),
        ws_url: format!("/api/v1/workouts/{id}/live/ws?ticket={ticket}"),
        expires_in: LIVE_TICKET_TTL_SECS,
        ticket,
    })
}

/// The current leaderboard.
///
/// As the stream's latest `frame` shows it to you (its trainer or a booked trainee, while the
/// workout is live).
#[api_operation(
    operation_id = "get_leaderboard",
    tag = "taking part",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 409,
    error_code = 503
)]
pub async fn get_leaderboard(
    viewer: LiveViewer,
    id: Path<Uuid>,
    _ticket: TicketAuth,
    gates: Data<Gates>,
    hub: Data<LiveHub>,
) -> Result<Json<FrameView>, ApiError> {
    check_ticket(*id, viewer)?;
    gates
        .admit_live(
            *id,
            viewer.user,
            "the leaderboard is shown (see /results afterwards)",
        )
        .await?;
    let frame = newest_standings(&hub, *id).await?;
    Ok(Json(slice(&frame, viewer.user.id)))
}

/// The newest standings of a live workout on this node, waiting for the owner's next tick when
/// nobody here follows it yet.
pub async fn newest_standings(hub: &LiveHub, id: Uuid) -> Result<Arc<Standings>, ApiError> {
    let channel = channel(hub, id).await?;
    channel
        .newest_standings(FIRST_FRAME_WAIT)
        .await
        .ok_or_else(|| {
            ApiError::client(ErrorCode::Unavailable, "no leaderboard yet; retry shortly")
        })
}

/// A batch of wearable samples.
#[derive(Debug, Deserialize, JsonSchema, ApiComponent)]
pub struct EnergyBatch {
    /// 1 to 1000 samples, oldest first.
    #[schemars(length(min = 1, max = "MAX_BATCH"))]
    pub samples: Vec<SampleInput>,
}

/// One wearable reading: cumulative `energy` points since joining (a rating `r` held for one
/// second adds `r`) and the current `rating`.
///
/// A sample whose values are out of range does not fail the batch: it is refused on its own and
/// listed in the receipt's `rejections` (`malformed`: energy below 0 or a heart rate outside 20
/// to 250; `rating_out_of_range`: a rating outside 0 to 100).
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, ApiComponent)]
pub struct SampleInput {
    /// Increases with every reading; the highest wins, so resending is harmless.
    #[schemars(range(min = 0, max = "MAX_SAFE_INTEGER"))]
    pub seq: u64,
    /// When it was taken, epoch milliseconds.
    #[schemars(range(min = "MIN_SAFE_INTEGER", max = "MAX_SAFE_INTEGER"))]
    pub ts: i64,
    /// Effort, 0 to 100.
    pub rating: f64,
    /// Cumulative points since joining, 0 or more.
    pub energy: f64,
    /// Heart rate in bpm, if measured (20 to 250).
    pub hr: Option<f64>,
}

/// The samples' `seq` and `ts` within [`MAX_SAFE_INTEGER`], each failure named by its index.
fn check_integers(samples: &[SampleInput]) -> Result<(), ApiError> {
    let safe = |n: i128| n.abs() <= i128::from(MAX_SAFE_INTEGER);
    let errors: Vec<FieldError> = samples
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            let seq = (!safe(i128::from(s.seq))).then(|| format!("samples[{i}].seq"));
            let ts = (!safe(i128::from(s.ts))).then(|| format!("samples[{i}].ts"));
            seq.into_iter().chain(ts)
        })
        .map(|field| FieldError::new(field, format!("must be within ±{MAX_SAFE_INTEGER}")))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(errors))
    }
}

/// What became of a batch.
#[derive(Debug, Serialize, JsonSchema, ApiComponent)]
pub struct EnergyReceipt {
    /// Samples stored for the session (they count unless older than one already seen).
    pub accepted: u32,
    /// Samples refused here; see `rejections`.
    pub rejected: u32,
    /// Why each refused sample was refused, by its index in the batch.
    pub rejections: Vec<SampleRejection>,
}

/// One refused sample.
#[derive(Debug, Serialize, JsonSchema, ApiComponent)]
pub struct SampleRejection {
    /// Index in the batch.
    pub index: u32,
    /// `malformed` or `rating_out_of_range`.
    pub reason: String,
}

/// Send energy samples (apps without NATS).
///
/// For a trainee with a booked place, while the workout is live. The samples join the same
/// pipeline as a wearable's: stored in the `ENERGY` stream and read by the workout's owner, which
/// may still refuse one (e.g. energy rising impossibly fast).
#[api_operation(
    operation_id = "post_energy",
    tag = "taking part",
    error_code = 400,
    error_code = 401,
    error_code = 403,
    error_code = 404,
    error_code = 409,
    error_code = 422,
    error_code = 429,
    error_code = 503
)]
pub async fn post_energy(
    _limit: EnergyLimit,
    trainee: Trainee,
    id: Path<Uuid>,
    body: JsonBody<EnergyBatch>,
    gates: Data<Gates>,
    nats: Data<async_nats::Client>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let samples = body.into_inner().samples;
    if samples.is_empty() || samples.len() > MAX_BATCH {
        return Err(ApiError::invalid_field(
            "samples",
            format!("must hold 1 to {MAX_BATCH} samples"),
        ));
    }
    check_integers(&samples)?;
    gates.admit_live(*id, trainee.0, "energy is taken").await?;
    let subject = subjects::workout_energy(*id, trainee.0.id);
    let js = async_nats::jetstream::new(nats.get_ref().clone());
    let mut rejections = Vec::new();
    let mut acks = Vec::with_capacity(samples.len());
    for (index, input) in samples.into_iter().enumerate() {
        let sample = Sample {
            seq: input.seq,
            ts: input.ts,
            rating: input.rating,
            energy: input.energy,
            hr: input.hr,
        };
        if let Err(reason) = sample.validate() {
            rejections.push(rejection(index, reason));
            continue;
        }
        let payload = serde_json::to_vec(&sample).map_err(anyhow::Error::from)?;
        let ack = js
            .publish(subject.clone(), payload.into())
            .await
            .map_err(|err| ApiError::from(anyhow::Error::from(err)))?;
        acks.push(ack);
    }
    // Every publish is acknowledged by the stream before we answer: accepted means stored.
    let accepted = acks.len();
    let acks = acks.into_iter().map(std::future::IntoFuture::into_future);
    for ack in futures_util::future::join_all(acks).await {
        ack.map_err(|_| {
            ApiError::client(ErrorCode::Unavailable, "the energy stream is unavailable")
        })?;
    }
    let receipt = EnergyReceipt {
        accepted: u32::try_from(accepted).unwrap_or(u32::MAX),
        rejected: u32::try_from(rejections.len()).unwrap_or(u32::MAX),
        rejections,
    };
    Ok(HttpResponse::Accepted().json(receipt))
}

fn rejection(index: usize, reason: Rejection) -> SampleRejection {
    SampleRejection {
        index: u32::try_from(index).unwrap_or(u32::MAX),
        reason: reason.as_str().to_owned(),
    }
}

/// This node's channel for workout `id`; 503 when it cannot subscribe (NATS away, shutting down).
async fn channel(hub: &LiveHub, id: Uuid) -> Result<Arc<Channel>, ApiError> {
    hub.channel(id).await.map_err(|err| {
        tracing::warn!(error = %err, "cannot subscribe to a live subject");
        ApiError::client(ErrorCode::Unavailable, "live updates are unavailable")
    })
}

/// The raw connection of a WebSocket upgrade: the extractor `actix_ws::handle` needs, documented
/// as no request body.
pub struct Upgrade(Payload);

impl actix_web::FromRequest for Upgrade {
    type Error = actix_web::Error;
    type Future = futures_util::future::MapOk<
        <Payload as actix_web::FromRequest>::Future,
        fn(Payload) -> Self,
    >;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        use futures_util::TryFutureExt as _;
        Payload::from_request(req, payload).map_ok(Upgrade as fn(Payload) -> Self)
    }
}

impl apistos::ApiComponent for Upgrade {
    fn child_schemas() -> Vec<(String, ReferenceOr<apistos::Schema>)> {
        Vec::new()
    }

    fn schema() -> Option<(String, ReferenceOr<apistos::Schema>)> {
        None
    }
}
