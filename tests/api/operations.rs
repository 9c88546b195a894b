//! Probes, roles and shutdown.

use crate::helpers::{Options, TestApp, id_of, new_workout, problem, soon, token};
use reqwest::StatusCode;
use std::time::Duration;

async fn ready_status(app: &TestApp) -> StatusCode {
    app.get("/health/ready", None).await.status()
}

/// Polls readiness until it reports `want` (dependencies take a moment to notice a failure).
async fn wait_for_readiness(app: &TestApp, want: StatusCode) -> StatusCode {
    let mut last = ready_status(app).await;
    for _ in 0..50 {
        if last == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        last = ready_status(app).await;
    }
    last
}

#[tokio::test]
async fn liveness_and_readiness_are_ok_when_dependencies_are_up() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/health/live", None).await.status(), StatusCode::OK);
    assert_eq!(
        wait_for_readiness(&app, StatusCode::OK).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn readiness_turns_503_when_postgres_is_unreachable() {
    let app = TestApp::spawn().await;
    assert_eq!(
        wait_for_readiness(&app, StatusCode::OK).await,
        StatusCode::OK
    );

    app.drop_database().await;

    assert_eq!(
        wait_for_readiness(&app, StatusCode::SERVICE_UNAVAILABLE).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let body = problem(
        app.get("/health/ready", None).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(body["code"], "unavailable");
    assert_eq!(body["detail"], "postgres: down, nats: up");
    assert_eq!(
        app.get("/health/live", None).await.status(),
        StatusCode::OK,
        "still alive"
    );
}

#[tokio::test]
async fn readiness_turns_503_when_nats_is_unreachable() {
    let mut app = TestApp::spawn().await;
    assert_eq!(
        wait_for_readiness(&app, StatusCode::OK).await,
        StatusCode::OK
    );

    app.nats.kill();

    assert_eq!(
        wait_for_readiness(&app, StatusCode::SERVICE_UNAVAILABLE).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let body = problem(
        app.get("/health/ready", None).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(body["detail"], "postgres: up, nats: down");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let first = app.get("/health/live", None).await;
    let second = app.get("/health/live", None).await;
    let id = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert!(id(&first).is_some());
    assert_ne!(id(&first), id(&second));
}

#[tokio::test]
async fn a_worker_only_node_serves_only_the_probes() {
    let app = TestApp::spawn_with(Options {
        roles: "worker",
        ..Default::default()
    })
    .await;
    assert_eq!(app.get("/health/live", None).await.status(), StatusCode::OK);
    assert_eq!(
        wait_for_readiness(&app, StatusCode::OK).await,
        StatusCode::OK
    );
    assert_eq!(app.get("/metrics", None).await.status(), StatusCode::OK);
    for path in ["/api/v1/me", "/openapi.json", "/docs"] {
        assert_eq!(
            app.get(path, None).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let mut app = TestApp::spawn().await;
    app.signed_up("trainee").await;

    let status = app.terminate();

    assert!(status.success(), "exit status {status}");
    let logs = app.logs();
    assert!(
        logs.iter().any(|l| l.contains("draining NATS")),
        "{logs:#?}"
    );
    assert!(logs.iter().any(|l| l.contains("\"stopped\"")), "{logs:#?}");
}

#[tokio::test]
async fn metrics_count_active_actors_and_handled_commands() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let trainee = app.signed_up("trainee").await;
    let workout = app
        .created_workout(token(&trainer), &new_workout(soon()))
        .await;
    assert_eq!(
        app.book(token(&trainee), id_of(&workout)).await.status(),
        StatusCode::CREATED
    );

    let response = app.get("/metrics", None).await;

    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap_or_default();
    for expected in [
        r#"cultfit_actors_active{kind="trainers"} 1"#,
        r#"cultfit_actors_active{kind="trainees"} 1"#,
        r#"cultfit_actors_active{kind="workouts"} 1"#,
        r#"cultfit_commands_total{kind="workouts",outcome="ok"} 1"#,
        r#"cultfit_activations_total{kind="workouts",outcome="active"} 1"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
}

/// Operators follow one request across nodes: the api node's lines for an HTTP request and the
/// worker's lines for the actor command it caused carry the same request id, passed on in the
/// command's NATS header.
#[tokio::test]
async fn a_request_and_the_actor_command_it_causes_are_one_trace_across_nodes() {
    use crate::cluster::{Cluster, NatsShape, Role};
    use serde_json::Value;
    let cluster = Cluster::start_logging(
        NatsShape::OneServer,
        &[Role::Api, Role::Worker],
        "info,cultfit_actors=debug",
    )
    .await;
    let api = cluster.api(0);
    let trainer = api.signed_up("trainer").await;
    let response = api
        .create_workout(token(&trainer), &new_workout(soon()))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(!request_id.is_empty(), "the response names its request");

    // Whether a line was logged inside `span_name`, within the request's trace.
    let in_trace = |line: &Value, span_name: &str| {
        line["spans"].as_array().is_some_and(|spans| {
            spans.iter().any(|s| s["name"] == span_name)
                && spans.iter().any(|s| s["request_id"] == request_id.as_str())
        })
    };
    let mut found = (false, false);
    for _ in 0..50 {
        found = (
            cluster
                .json_logs_of(Role::Api)
                .iter()
                .any(|l| l["message"] == "actor replied" && in_trace(l, "actor call")),
            cluster
                .json_logs_of(Role::Worker)
                .iter()
                .any(|l| l["message"] == "command handled" && in_trace(l, "actor command")),
        );
        if found == (true, true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        found,
        (true, true),
        "the api node's actor call and the worker's actor command are in request {request_id}'s trace:\napi: {:?}\nworker: {:?}",
        cluster.json_logs_of(Role::Api),
        cluster.json_logs_of(Role::Worker)
    );
}
