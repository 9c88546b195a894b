//! The web app at `/` and the API it relies on beyond API.md: a trainee's own booking, the
//! trainer's whole board, and the WebSocket URL for browser wearables. (The app itself is tested
//! in a real browser by `scripts/browser-test`.)
#![allow(
    clippy::expect_used,
    reason = "a failed request should fail the test loudly"
)]

use crate::helpers::{Options, TestApp, id_of, new_workout, problem, soon, token, user_id};
use crate::live::{Class, leaderboard_until, sample, start, waiting_class};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::{Instant, sleep};

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_app_is_served_at_the_root_and_at_its_deep_links_with_its_assets() {
    let app = TestApp::spawn().await;
    let mut pages = Vec::new();
    for path in [
        "/",
        "/classes/7f1c2f4e-0000-4000-8000-000000000000",
        "/console",
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            header(&response, CONTENT_TYPE).starts_with("text/html"),
            "{path}"
        );
        assert!(
            header(&response, CONTENT_SECURITY_POLICY).contains("script-src 'self'"),
            "{path}"
        );
        assert_eq!(header(&response, CACHE_CONTROL), "no-cache", "{path}");
        pages.push(response.text().await.unwrap_or_default());
    }
    assert!(pages.iter().all(|page| page == &pages[0]));
    assert!(pages[0].contains(r#"<div id="app">"#), "{}", pages[0]);

    // Every asset the page names is served, versioned ones for a year.
    let assets: Vec<&str> = pages[0]
        .split('"')
        .filter(|part| part.starts_with("/assets/"))
        .collect();
    assert_eq!(assets.len(), 3, "{assets:?}");
    for asset in assets {
        let response = app.get(asset, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        assert!(
            header(&response, CACHE_CONTROL).contains("immutable"),
            "{asset}"
        );
        assert!(
            !response.bytes().await.unwrap_or_default().is_empty(),
            "{asset}"
        );
    }
}

#[tokio::test]
async fn the_lazily_loaded_wearable_code_is_revalidated_by_its_etag() {
    let app = TestApp::spawn().await;
    let first = app.get("/assets/wearable.js", None).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert!(header(&first, CONTENT_TYPE).starts_with("text/javascript"));
    let etag = header(&first, ETAG);
    assert!(etag.starts_with('"'), "{etag:?}");

    let client = reqwest::Client::new();
    let again = client
        .get(app.url("/assets/wearable.js"))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let stale = client
        .get(app.url("/assets/wearable.js"))
        .header(IF_NONE_MATCH, "\"something-else\"")
        .send()
        .await
        .expect("request");
    assert_eq!(stale.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_api_and_operations_paths_are_404_problems_not_the_app() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/nowhere",
        "/api/v2/workouts",
        "/assets/missing.js",
        "/health/nope",
    ] {
        let body = problem(app.get(path, None).await, StatusCode::NOT_FOUND).await;
        assert_eq!(body["code"], "not_found", "{path}: {body}");
    }
    let response = app.post_json("/classes", &json!({}), None).await;
    problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_trainee_reads_their_own_booking_and_waitlist_position() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let mut workout = new_workout(soon());
    workout["capacity"] = json!(1);
    let id = id_of(&app.created_workout(token(&trainer), &workout).await).to_owned();
    let path = format!("/api/v1/workouts/{id}/registrations/me");
    let (first, second, outsider) = (
        app.signed_up("trainee").await,
        app.signed_up("trainee").await,
        app.signed_up("trainee").await,
    );
    for who in [&first, &second] {
        assert_eq!(
            app.book(token(who), &id).await.status(),
            StatusCode::CREATED
        );
    }

    let mine = |who: &Value| {
        let token = token(who).to_owned();
        let path = path.clone();
        let app = &app;
        async move { app.get(&path, Some(&token)).await }
    };
    let booked: Value = mine(&first).await.json().await.unwrap_or_default();
    assert_eq!(booked, json!({"status": "booked"}));
    let waiting: Value = mine(&second).await.json().await.unwrap_or_default();
    assert_eq!(
        waiting,
        json!({"status": "waitlisted", "waitlist_position": 1})
    );
    problem(mine(&outsider).await, StatusCode::NOT_FOUND).await;
    problem(mine(&trainer).await, StatusCode::FORBIDDEN).await;

    // The first gives up the place: the second is promoted, the first sees the cancellation.
    assert_eq!(
        app.cancel_booking(token(&first), &id).await.status(),
        StatusCode::NO_CONTENT
    );
    let promoted: Value = mine(&second).await.json().await.unwrap_or_default();
    assert_eq!(promoted, json!({"status": "booked"}));
    let cancelled: Value = mine(&first).await.json().await.unwrap_or_default();
    assert_eq!(cancelled, json!({"status": "cancelled"}));
}

/// Polls the trainer's board until `check` holds (or 15 s pass) and returns the last one seen.
async fn board_until(app: &TestApp, class: &Class, check: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/api/v1/workouts/{}/board", class.id);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let board: Value = app
            .get(&path, Some(token(&class.trainer)))
            .await
            .json()
            .await
            .unwrap_or_default();
        if check(&board) || Instant::now() > deadline {
            return board;
        }
        sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trainer_sees_the_whole_board_with_hidden_trainees_anonymous() {
    let app = crate::live::fast_ticking_app().await;
    let class = waiting_class(&app, 12).await;
    let path = format!("/api/v1/workouts/{}/board", class.id);
    let early = app.get(&path, Some(token(&class.trainer))).await;
    assert_eq!(
        problem(early, StatusCode::CONFLICT).await["code"],
        "invalid_state"
    );

    let hidden = &class.trainees[11];
    let response = app
        .patch_me(token(hidden), &json!({"hide_from_leaderboard": true}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let class = start(&app, class).await;
    // Trainee i earns 10 * (i + 1): the hidden one is best, the rest follow in reverse order.
    for (i, trainee) in class.trainees.iter().enumerate() {
        let energy = 10.0 * (i as f64 + 1.0);
        let batch = json!({"samples": [sample(&class, 1, 1, 50.0, energy)]});
        let response = app
            .post_json(
                &format!("/api/v1/workouts/{}/energy", class.id),
                &batch,
                Some(token(trainee)),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }

    // Names are looked up after the first ticks: wait until everyone who shows theirs has one.
    let board = board_until(&app, &class, |b| {
        b["places"].as_array().is_some_and(|p| {
            p.len() == 12 && p.iter().filter(|p| p["user_id"].is_string()).count() == 11
        })
    })
    .await;
    let places = board["places"].as_array().cloned().unwrap_or_default();
    assert_eq!(places.len(), 12, "more than the top 10: {board}");
    assert_eq!(board["participants"], 12);
    assert_eq!(board["samples_accepted"], 12, "{board}");
    assert_eq!(places[0]["display_name"], "Anonymous");
    assert_eq!(places[0]["user_id"], Value::Null);
    assert_eq!(places[0]["energy"], 120);
    let ranks: Vec<i64> = places.iter().filter_map(|p| p["rank"].as_i64()).collect();
    assert_eq!(ranks, (1..=12).collect::<Vec<_>>());
    assert_eq!(places[11]["user_id"], user_id(&class.trainees[0]));

    let limited: Value = app
        .get_query(&path, &[("limit", "3")], token(&class.trainer))
        .await
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(limited["places"].as_array().map(Vec::len), Some(3));
    let response = app
        .get_query(&path, &[("limit", "0")], token(&class.trainer))
        .await;
    problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;

    // Trainees get their slice from the leaderboard, never the whole board.
    let response = app.get(&path, Some(token(&class.trainees[0]))).await;
    problem(response, StatusCode::FORBIDDEN).await;
    let other = app.signed_up("trainer").await;
    problem(
        app.get(&path, Some(token(&other))).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let trainee = token(&class.trainees[0]).to_owned();
    let slice = leaderboard_until(&app, &trainee, &class.id, |b| b["top"].is_array()).await;
    assert_eq!(slice["top"].as_array().map(Vec::len), Some(10));
}

#[tokio::test]
async fn join_names_the_websocket_url_for_browser_wearables_when_configured() {
    let plain = TestApp::spawn().await;
    let class = waiting_class(&plain, 1).await;
    assert_eq!(
        class.joins[0]["nats_ws_url"],
        Value::Null,
        "{}",
        class.joins[0]
    );

    let app = TestApp::spawn_with(Options {
        args: &["--public-nats-ws-url", "wss://bus.example.com:443"],
        ..Default::default()
    })
    .await;
    let class = waiting_class(&app, 1).await;
    assert_eq!(class.joins[0]["nats_ws_url"], "wss://bus.example.com:443");
}
