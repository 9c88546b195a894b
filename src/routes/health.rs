//! Liveness and readiness probes and metrics, for operators and load balancers.

use crate::error::ApiError;
use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::{Data, Json};
use apistos::web::{Scope, get, resource, scope};
use apistos::{ApiComponent, api_operation};
use bus_contracts::ErrorCode;
use metrics_exporter_prometheus::PrometheusHandle;
use schemars::JsonSchema;
use serde::Serialize;
use sqlx::PgPool;
use std::time::Duration;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `/health/*`.
pub fn routes() -> Scope {
    scope("/health")
        .service(resource("/live").route(get().to(live)))
        .service(resource("/ready").route(get().to(ready)))
}

/// `/metrics`.
pub fn metrics_routes() -> Scope {
    scope("/metrics").service(resource("").route(get().to(metrics)))
}

/// Prometheus metrics of this node: actors active per kind, activations, commands and their
/// duration, lease renewals, domain events published.
#[api_operation(operation_id = "get_metrics", tag = "operations")]
pub async fn metrics(handle: Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(handle.render())
}

/// Probe result.
#[derive(Debug, Serialize, JsonSchema, ApiComponent)]
pub struct Health {
    /// `ok` when the check passed.
    pub status: &'static str,
}

/// The process is up and serving HTTP.
#[api_operation(operation_id = "get_health_live", tag = "operations")]
pub async fn live() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// PostgreSQL and NATS are both reachable; 503 (naming what is down) otherwise.
#[api_operation(
    operation_id = "get_health_ready",
    tag = "operations",
    error_code = 503
)]
pub async fn ready(
    pool: Data<PgPool>,
    nats: Data<async_nats::Client>,
) -> Result<Json<Health>, ApiError> {
    let database = tokio::time::timeout(
        CHECK_TIMEOUT,
        sqlx::query("SELECT 1").execute(pool.get_ref()),
    )
    .await
    .is_ok_and(|result| result.is_ok());
    let bus = nats.connection_state() == async_nats::connection::State::Connected;
    if database && bus {
        return Ok(Json(Health { status: "ok" }));
    }
    let state = |up: bool| if up { "up" } else { "down" };
    Err(ApiError::client(
        ErrorCode::Unavailable,
        format!("postgres: {}, nats: {}", state(database), state(bus)),
    ))
}
