//! Workouts on one node: scheduling, listing, the lifecycle, bookings, waitlists and joining.

use crate::helpers::{
    TestApp, hours_ahead, id_of, instant, new_workout, problem, rfc3339, soon, token, user_id,
};
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// Query parameters of a list request.
type Query<'a> = &'a [(&'a str, &'a str)];

/// Lists may serve a cached answer for up to a second after a change.
async fn let_the_list_cache_expire() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

/// `n` trainees, registered one after the other (so registration order is known).
async fn trainees(app: &TestApp, n: usize) -> Vec<Value> {
    let mut sessions = Vec::with_capacity(n);
    for _ in 0..n {
        sessions.push(app.signed_up("trainee").await);
    }
    sessions
}

/// A workout body starting at `starts_at`, lasting `minutes`, for `capacity` people.
fn workout_at(starts_at: DateTime<Utc>, minutes: i64, capacity: i64) -> Value {
    let mut body = new_workout(starts_at);
    body["duration_minutes"] = json!(minutes);
    body["capacity"] = json!(capacity);
    body
}

/// The ids of a list response's items, in order.
fn item_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| w["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn list(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Value {
    let response = app.list_workouts(token, query).await;
    assert_eq!(response.status(), StatusCode::OK, "{query:?}");
    response.json().await.unwrap_or_default()
}

async fn workout(app: &TestApp, token: &str, id: &str) -> Value {
    let response = app.get_workout(token, id).await;
    assert_eq!(response.status(), StatusCode::OK, "GET workout {id}");
    response.json().await.unwrap_or_default()
}

/// Books and returns the 201 body, failing with the problem document otherwise.
async fn booked(app: &TestApp, token: &str, id: &str) -> Value {
    let response = app.book(token, id).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    assert_eq!(status, StatusCode::CREATED, "booking: {body}");
    body
}

/// Sends a command that must succeed with 200 (start, end, cancel, reschedule).
async fn ok(response: reqwest::Response, what: &str) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    assert_eq!(status, StatusCode::OK, "{what}: {body}");
    body
}

/// `(trainee_id, status, waitlist_position)` of the active (booked or waitlisted) roster entries,
/// in roster order. Released registrations, if the roster lists them at all, are left out.
fn active(roster: &[Value]) -> Vec<(String, String, Option<i64>)> {
    roster
        .iter()
        .filter(|r| r["status"] == "booked" || r["status"] == "waitlisted")
        .map(|r| {
            (
                r["trainee_id"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
                r["waitlist_position"].as_i64(),
            )
        })
        .collect()
}

fn booked_entry(session: &Value) -> (String, String, Option<i64>) {
    (user_id(session).to_owned(), "booked".to_owned(), None)
}

fn waitlisted_entry(session: &Value, position: i64) -> (String, String, Option<i64>) {
    (
        user_id(session).to_owned(),
        "waitlisted".to_owned(),
        Some(position),
    )
}

fn has_no_waitlist_position(body: &Value) -> bool {
    body.get("waitlist_position").is_none_or(Value::is_null)
}

/// True if a 422 problem names `field` in its `errors` or its `detail`.
fn names_field(problem: &Value, field: &str) -> bool {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["field"] == field || e["message"].as_str().is_some_and(|m| m.contains(field)))
        || problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains(field))
}

// ---------------------------------------------------------------------------------------------
// Creating, reading and listing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_trainer_can_create_a_workout_and_any_user_can_read_it() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let trainee = app.signed_up("trainee").await;
    let starts_at = hours_ahead(10);

    let response = app
        .create_workout(token(&trainer), &new_workout(starts_at))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap_or_default();
    assert!(
        created["id"]
            .as_str()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()),
        "{created}"
    );
    assert_eq!(created["type"], "yoga");
    assert_eq!(created["title"], "Sunrise flow");
    assert_eq!(created["description"], "Gentle vinyasa to start the day.");
    assert_eq!(created["trainer"]["id"], trainer["user"]["id"]);
    assert_eq!(created["trainer"]["full_name"], "Asha Verma");
    assert_eq!(instant(&created["starts_at"]), starts_at);
    assert_eq!(created["duration_minutes"], 60);
    assert_eq!(created["capacity"], 20);
    assert_eq!(created["state"], "scheduled");
    assert_eq!(created["booked_count"], 0);
    assert_eq!(created["waitlist_count"], 0);

    for (reader, who) in [(&trainee, "a trainee"), (&trainer, "its trainer")] {
        let fetched = workout(&app, token(reader), id_of(&created)).await;
        assert_eq!(fetched, created, "read by {who}");
    }
}

#[tokio::test]
async fn an_unknown_workout_is_404() {
    let app = TestApp::spawn().await;
    let trainee = app.signed_up("trainee").await;

    let body = problem(
        app.get_workout(token(&trainee), &uuid::Uuid::new_v4().to_string())
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn upcoming_workouts_are_listed_soonest_first_without_ended_or_cancelled_ones() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let other_trainer = app.signed_up("trainer").await;
    let trainee = app.signed_up("trainee").await;
    let t = token(&trainer);
    let in_30h = app.created_workout(t, &new_workout(hours_ahead(30))).await;
    let in_10h = app.created_workout(t, &new_workout(hours_ahead(10))).await;
    let in_20h = app.created_workout(t, &new_workout(hours_ahead(20))).await;
    let cancelled = app.created_workout(t, &new_workout(hours_ahead(15))).await;
    ok(
        app.cancel_workout(t, id_of(&cancelled), &json!({})).await,
        "cancel",
    )
    .await;
    let live = app.created_workout(t, &new_workout(soon())).await;
    ok(app.start_workout(t, id_of(&live)).await, "start").await;
    let ended = app
        .created_workout(token(&other_trainer), &new_workout(soon()))
        .await;
    ok(
        app.start_workout(token(&other_trainer), id_of(&ended))
            .await,
        "start",
    )
    .await;
    ok(
        app.end_workout(token(&other_trainer), id_of(&ended)).await,
        "end",
    )
    .await;
    let_the_list_cache_expire().await;

    let page = list(&app, token(&trainee), &[]).await;

    assert_eq!(
        item_ids(&page),
        [id_of(&live), id_of(&in_10h), id_of(&in_20h), id_of(&in_30h)],
        "{page}"
    );
    assert_eq!(page["items"][0]["state"], "live");
    assert_eq!(page["items"][1]["state"], "scheduled");
    assert_eq!(page["items"][1]["trainer"]["id"], trainer["user"]["id"]);
    assert!(page["next_cursor"].is_null(), "{page}");
}

#[tokio::test]
async fn the_list_can_be_filtered_by_type_trainer_and_time_window() {
    let app = TestApp::spawn().await;
    let a = app.signed_up("trainer").await;
    let b = app.signed_up("trainer").await;
    let trainee = app.signed_up("trainee").await;
    let with_type = |at: i64, kind: &str| {
        let mut body = new_workout(hours_ahead(at));
        body["type"] = json!(kind);
        body
    };
    let a_yoga_10 = app.created_workout(token(&a), &with_type(10, "yoga")).await;
    let a_hiit_20 = app.created_workout(token(&a), &with_type(20, "hiit")).await;
    let b_yoga_15 = app.created_workout(token(&b), &with_type(15, "yoga")).await;
    let b_boxing_40 = app
        .created_workout(token(&b), &with_type(40, "boxing"))
        .await;
    let (from, to) = (rfc3339(hours_ahead(12)), rfc3339(hours_ahead(30)));
    let (a_id, b_id) = (user_id(&a), user_id(&b));
    let cases: [(Query<'_>, Vec<&str>, &str); 6] = [
        (
            &[],
            vec![
                id_of(&a_yoga_10),
                id_of(&b_yoga_15),
                id_of(&a_hiit_20),
                id_of(&b_boxing_40),
            ],
            "no filter",
        ),
        (
            &[("type", "yoga")],
            vec![id_of(&a_yoga_10), id_of(&b_yoga_15)],
            "by type",
        ),
        (
            &[("trainer_id", b_id)],
            vec![id_of(&b_yoga_15), id_of(&b_boxing_40)],
            "by trainer",
        ),
        (
            &[("from", &from), ("to", &to)],
            vec![id_of(&b_yoga_15), id_of(&a_hiit_20)],
            "by time window",
        ),
        (
            &[("type", "yoga"), ("trainer_id", a_id)],
            vec![id_of(&a_yoga_10)],
            "by type and trainer",
        ),
        (&[("type", "dance")], vec![], "a type nobody teaches"),
    ];

    for (query, expected, case) in cases {
        let page = list(&app, token(&trainee), query).await;
        assert_eq!(item_ids(&page), expected, "{case}: {page}");
    }
}

#[tokio::test]
async fn the_list_is_paged_with_a_cursor() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let trainee = app.signed_up("trainee").await;
    let mut expected = Vec::new();
    for hour in [2, 4, 6, 8, 10] {
        let created = app
            .created_workout(token(&trainer), &new_workout(hours_ahead(hour)))
            .await;
        expected.push(id_of(&created).to_owned());
    }

    let mut seen = Vec::new();
    let mut page_sizes = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut query = vec![("limit", "2")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.as_str()));
        }
        let page = list(&app, token(&trainee), &query).await;
        page_sizes.push(item_ids(&page).len());
        seen.extend(item_ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }

    assert_eq!(page_sizes, [2, 2, 1]);
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn every_cursor_of_the_documented_shape_is_answered_even_at_the_edges_of_time() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let trainee = app.signed_up("trainee").await;
    let created = app
        .created_workout(token(&trainer), &new_workout(hours_ahead(10)))
        .await;
    let id = "ffffffffffffffffffffffffffffffff";
    for cursor in [format!("0.{id}"), format!("999999999999999999.{id}")] {
        let query = [("cursor", cursor.as_str())];
        for (what, response) in [
            ("listing", app.list_workouts(token(&trainee), &query).await),
            (
                "history",
                app.get_query("/api/v1/me/history", &query, token(&trainee))
                    .await,
            ),
        ] {
            assert_eq!(response.status(), StatusCode::OK, "{what} after {cursor}");
        }
    }
    let roster = app
        .roster(
            token(&trainer),
            id_of(&created),
            &[("cursor", "999999999999999999")],
        )
        .await;
    assert_eq!(roster.status(), StatusCode::OK);
    for bad in ["-1.ffffffffffffffffffffffffffffffff", "not-a-cursor"] {
        let response = app.list_workouts(token(&trainee), &[("cursor", bad)]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn a_page_limit_over_100_is_422() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let created = app
        .created_workout(token(&trainer), &new_workout(hours_ahead(10)))
        .await;

    let workouts = app
        .list_workouts(token(&trainer), &[("limit", "101")])
        .await;
    let roster = app
        .roster(token(&trainer), id_of(&created), &[("limit", "101")])
        .await;

    for (response, case) in [(workouts, "workouts"), (roster, "roster")] {
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["code"], "validation_failed", "{case}");
    }
    let at_most = app
        .list_workouts(token(&trainer), &[("limit", "100")])
        .await;
    assert_eq!(at_most.status(), StatusCode::OK, "limit=100 is allowed");
}

#[tokio::test]
async fn invalid_workout_fields_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let an_hour_ago = rfc3339(Utc::now() - chrono::Duration::hours(1));
    let cases: [(&str, Value, &str); 8] = [
        ("starts_at", json!(an_hour_ago), "starts in the past"),
        ("duration_minutes", json!(4), "shorter than 5 minutes"),
        ("duration_minutes", json!(241), "longer than 240 minutes"),
        ("capacity", json!(0), "capacity 0"),
        ("capacity", json!(100_001), "capacity over 100000"),
        ("type", json!("zumba"), "unknown type"),
        ("type", json!(""), "empty type"),
        ("title", json!(""), "empty title"),
    ];
    for (field, value, case) in cases {
        let mut body = new_workout(hours_ahead(10));
        body[field] = value;

        let problem = problem(
            app.create_workout(token(&trainer), &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;

        assert_eq!(problem["code"], "validation_failed", "{case}");
        assert!(
            names_field(&problem, field),
            "{case}: the error should name `{field}`: {problem}"
        );
    }
}

#[tokio::test]
async fn the_edges_of_the_allowed_ranges_and_every_type_are_accepted() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let cases: [(&str, Value, i64); 4] = [
        ("duration_minutes", json!(5), 0),
        ("duration_minutes", json!(240), 10),
        ("capacity", json!(1), 20),
        ("capacity", json!(100_000), 30),
    ];
    for (field, value, hour) in cases {
        let mut body = new_workout(hours_ahead(hour));
        body[field] = value.clone();

        let created = app.created_workout(token(&trainer), &body).await;

        assert_eq!(created[field], value, "{field} = {value}");
    }
    let types = [
        "hiit",
        "strength",
        "yoga",
        "dance",
        "cardio",
        "boxing",
        "pilates",
        "meditation",
    ];
    for (hour, kind) in (40..).step_by(2).zip(types) {
        let mut body = new_workout(hours_ahead(hour));
        body["type"] = json!(kind);

        let created = app.created_workout(token(&trainer), &body).await;

        assert_eq!(created["type"], kind);
    }
}

// ---------------------------------------------------------------------------------------------
// Who may do what
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn anonymous_callers_get_401_on_every_workout_route() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let created = app
        .created_workout(token(&trainer), &new_workout(soon()))
        .await;
    let w = format!("/api/v1/workouts/{}", id_of(&created));
    let routes = [
        (Method::GET, "/api/v1/workouts".to_owned()),
        (Method::POST, "/api/v1/workouts".to_owned()),
        (Method::GET, w.clone()),
        (Method::POST, format!("{w}/reschedule")),
        (Method::POST, format!("{w}/cancel")),
        (Method::POST, format!("{w}/start")),
        (Method::POST, format!("{w}/end")),
        (Method::POST, format!("{w}/registrations")),
        (Method::GET, format!("{w}/registrations")),
        (Method::DELETE, format!("{w}/registrations/me")),
        (Method::POST, format!("{w}/join")),
        (Method::POST, format!("{w}/leave")),
    ];
    let body = new_workout(hours_ahead(10));

    for (method, path) in routes {
        let mut request = app.client.request(method.clone(), app.url(&path));
        if method == Method::POST {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));

        let problem = problem(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(problem["code"], "unauthenticated", "{method} {path}");
    }
    let unchanged = workout(&app, token(&trainer), id_of(&created)).await;
    assert_eq!(unchanged["state"], "scheduled");
}

#[tokio::test]
async fn a_trainee_cannot_create_reschedule_start_end_or_cancel_a_workout() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let other_trainer = app.signed_up("trainer").await;
    let trainee = app.signed_up("trainee").await;
    let scheduled = app
        .created_workout(token(&trainer), &new_workout(soon()))
        .await;
    let live = app
        .created_workout(token(&other_trainer), &new_workout(soon()))
        .await;
    ok(
        app.start_workout(token(&other_trainer), id_of(&live)).await,
        "start",
    )
    .await;
    let (s, l, t) = (id_of(&scheduled), id_of(&live), token(&trainee));
    let reschedule = json!({"starts_at": rfc3339(hours_ahead(10))});

    let attempts = [
        (
            app.create_workout(t, &new_workout(hours_ahead(20))).await,
            "create",
        ),
        (
            app.reschedule_workout(t, s, &reschedule).await,
            "reschedule",
        ),
        (app.start_workout(t, s).await, "start"),
        (app.cancel_workout(t, s, &json!({})).await, "cancel"),
        (app.end_workout(t, l).await, "end"),
    ];

    for (response, action) in attempts {
        let body = problem(response, StatusCode::FORBIDDEN).await;
        assert_eq!(body["code"], "forbidden", "{action}");
    }
    assert_eq!(workout(&app, t, s).await["state"], "scheduled");
    assert_eq!(workout(&app, t, l).await["state"], "live");
}

#[tokio::test]
async fn another_trainer_cannot_change_someone_elses_workout() {
    let app = TestApp::spawn().await;
    let owner = app.signed_up("trainer").await;
    let owner_too = app.signed_up("trainer").await;
    let intruder = app.signed_up("trainer").await;
    let scheduled = app
        .created_workout(token(&owner), &new_workout(soon()))
        .await;
    let live = app
        .created_workout(token(&owner_too), &new_workout(soon()))
        .await;
    ok(
        app.start_workout(token(&owner_too), id_of(&live)).await,
        "start",
    )
    .await;
    let (s, l, t) = (id_of(&scheduled), id_of(&live), token(&intruder));
    let reschedule = json!({"starts_at": rfc3339(hours_ahead(10))});

    let attempts = [
        (app.start_workout(t, s).await, "start"),
        (app.cancel_workout(t, s, &json!({})).await, "cancel"),
        (
            app.reschedule_workout(t, s, &reschedule).await,
            "reschedule",
        ),
        (app.end_workout(t, l).await, "end"),
    ];

    for (response, action) in attempts {
        let body = problem(response, StatusCode::FORBIDDEN).await;
        assert_eq!(body["code"], "forbidden", "{action}");
    }
    let unchanged = workout(&app, t, s).await;
    assert_eq!(unchanged["state"], "scheduled");
    assert_eq!(unchanged["starts_at"], scheduled["starts_at"]);
    assert_eq!(workout(&app, t, l).await["state"], "live");
}

#[tokio::test]
async fn the_roster_is_hidden_from_trainees_and_other_trainers() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let other_trainer = app.signed_up("trainer").await;
    let trainee = app.signed_up("trainee").await;
    let created = app
        .created_workout(token(&trainer), &new_workout(hours_ahead(10)))
        .await;
    booked(&app, token(&trainee), id_of(&created)).await;

    for (viewer, who) in [
        (&trainee, "a booked trainee"),
        (&other_trainer, "another trainer"),
    ] {
        let body = problem(
            app.roster(token(viewer), id_of(&created), &[]).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(body["code"], "forbidden", "{who}");
    }
    let own = app.roster(token(&trainer), id_of(&created), &[]).await;
    assert_eq!(own.status(), StatusCode::OK, "its trainer");
}

#[tokio::test]
async fn a_trainer_cannot_book_a_place() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let other_trainer = app.signed_up("trainer").await;
    let created = app
        .created_workout(token(&trainer), &new_workout(hours_ahead(10)))
        .await;

    for (who, session) in [
        ("its trainer", &trainer),
        ("another trainer", &other_trainer),
    ] {
        let body = problem(
            app.book(token(session), id_of(&created)).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(body["code"], "forbidden", "{who}");
    }
    assert_eq!(
        workout(&app, token(&trainer), id_of(&created)).await["booked_count"],
        0
    );
}

// ---------------------------------------------------------------------------------------------
// The lifecycle
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_workout_goes_live_and_ends_at_its_trainers_command() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let t = token(&trainer);
    let created = app.created_workout(t, &new_workout(soon())).await;

    let started = ok(app.start_workout(t, id_of(&created)).await, "start").await;

    assert_eq!(started["id"], created["id"]);
    assert_eq!(started["state"], "live");
    assert_eq!(workout(&app, t, id_of(&created)).await["state"], "live");

    let ended = ok(app.end_workout(t, id_of(&created)).await, "end").await;

    assert_eq!(ended["state"], "ended");
    assert_eq!(workout(&app, t, id_of(&created)).await["state"], "ended");
}

#[tokio::test]
async fn a_workout_cannot_be_started_more_than_15_minutes_early() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let t = token(&trainer);
    let later = app
        .created_workout(t, &new_workout(Utc::now() + chrono::Duration::minutes(20)))
        .await;

    let body = problem(
        app.start_workout(t, id_of(&later)).await,
        StatusCode::CONFLICT,
    )
    .await;

    assert_eq!(body["code"], "too_early");
    assert_eq!(workout(&app, t, id_of(&later)).await["state"], "scheduled");
}

#[tokio::test]
async fn a_trainer_can_reschedule_and_cancel_a_scheduled_workout() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let t = token(&trainer);
    let created = app.created_workout(t, &new_workout(hours_ahead(10))).await;
    let id = id_of(&created);

    let moved = ok(
        app.reschedule_workout(
            t,
            id,
            &json!({"starts_at": rfc3339(hours_ahead(20)), "duration_minutes": 45}),
        )
        .await,
        "reschedule with a duration",
    )
    .await;
    assert_eq!(moved["state"], "scheduled");
    assert_eq!(instant(&moved["starts_at"]), hours_ahead(20));
    assert_eq!(moved["duration_minutes"], 45);

    let moved_again = ok(
        app.reschedule_workout(t, id, &json!({"starts_at": rfc3339(hours_ahead(30))}))
            .await,
        "reschedule without a duration",
    )
    .await;
    assert_eq!(instant(&moved_again["starts_at"]), hours_ahead(30));
    assert_eq!(moved_again["duration_minutes"], 45, "the duration is kept");
    let fetched = workout(&app, t, id).await;
    assert_eq!(instant(&fetched["starts_at"]), hours_ahead(30));

    let cancelled = ok(
        app.cancel_workout(t, id, &json!({"reason": "Trainer unwell"}))
            .await,
        "cancel",
    )
    .await;
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(workout(&app, t, id).await["state"], "cancelled");
}

/// serde would read a struct from an array of its fields in order; the API documents objects
/// and takes nothing else (found by schemathesis: `[null]` cancelled a workout).
#[tokio::test]
async fn a_body_that_is_an_array_of_the_fields_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let t = token(&trainer);
    let created = app.created_workout(t, &new_workout(hours_ahead(10))).await;
    let id = id_of(&created);

    let body = problem(
        app.cancel_workout(t, id, &json!([null])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(body["code"], "malformed_request");

    let body = problem(
        app.reschedule_workout(t, id, &json!([rfc3339(hours_ahead(20)), 45]))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["code"], "validation_failed");

    let unchanged = workout(&app, t, id).await;
    assert_eq!(unchanged["state"], "scheduled");
    assert_eq!(instant(&unchanged["starts_at"]), hours_ahead(10));

    let as_array = json!(["trainee", "a@example.com", "password1", "A", null]);
    let body = problem(
        app.register(&as_array).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["code"], "validation_failed");
}

/// A workout driven into `state` by a trainer of its own, with one trainee booked before the
/// transitions (so joining is refused for the state, not for a missing booking).
struct Fixture {
    trainer: Value,
    trainee: Value,
    id: String,
}

async fn workout_in_state(app: &TestApp, state: &str) -> Fixture {
    let trainer = app.signed_up("trainer").await;
    let trainee = app.signed_up("trainee").await;
    let t = token(&trainer);
    let created = app.created_workout(t, &new_workout(soon())).await;
    let id = id_of(&created).to_owned();
    booked(app, token(&trainee), &id).await;
    match state {
        "scheduled" => {}
        "live" => {
            ok(app.start_workout(t, &id).await, "start").await;
        }
        "ended" => {
            ok(app.start_workout(t, &id).await, "start").await;
            ok(app.end_workout(t, &id).await, "end").await;
        }
        "cancelled" => {
            ok(app.cancel_workout(t, &id, &json!({})).await, "cancel").await;
        }
        other => panic!("no fixture for state {other}"),
    }
    assert_eq!(workout(app, t, &id).await["state"], state);
    Fixture {
        trainer,
        trainee,
        id,
    }
}

#[derive(Clone, Copy, Debug)]
enum Command {
    Start,
    Reschedule,
    End,
    Cancel,
    /// By a trainee with no registration.
    Book,
    /// By the trainee booked before the transitions.
    Join,
}

#[tokio::test]
async fn invalid_transitions_are_409_invalid_state() {
    let app = TestApp::spawn().await;
    let mut fixtures = HashMap::new();
    for state in ["scheduled", "live", "ended", "cancelled"] {
        fixtures.insert(state, workout_in_state(&app, state).await);
    }
    let cases = [
        (Command::Start, "cancelled"),
        (Command::Start, "ended"),
        (Command::Start, "live"),
        (Command::Reschedule, "live"),
        (Command::Reschedule, "ended"),
        (Command::Reschedule, "cancelled"),
        (Command::End, "scheduled"),
        (Command::End, "ended"),
        (Command::Cancel, "live"),
        (Command::Cancel, "ended"),
        (Command::Cancel, "cancelled"),
        (Command::Book, "ended"),
        (Command::Book, "cancelled"),
        (Command::Join, "ended"),
        (Command::Join, "cancelled"),
    ];

    for (command, state) in cases {
        let fixture = &fixtures[state];
        let (trainer, id) = (token(&fixture.trainer), fixture.id.as_str());
        let response = match command {
            Command::Start => app.start_workout(trainer, id).await,
            Command::Reschedule => {
                let body = json!({"starts_at": rfc3339(hours_ahead(50))});
                app.reschedule_workout(trainer, id, &body).await
            }
            Command::End => app.end_workout(trainer, id).await,
            Command::Cancel => app.cancel_workout(trainer, id, &json!({})).await,
            Command::Book => {
                let outsider = app.signed_up("trainee").await;
                app.book(token(&outsider), id).await
            }
            Command::Join => app.join_workout(token(&fixture.trainee), id).await,
        };

        let body = problem(response, StatusCode::CONFLICT).await;
        assert_eq!(
            body["code"], "invalid_state",
            "{command:?} a {state} workout: {body}"
        );
        let after = workout(&app, trainer, id).await;
        assert_eq!(
            after["state"], state,
            "{command:?} must not change a {state} workout"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Schedules never overlap
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_trainers_workouts_cannot_overlap_but_may_be_back_to_back() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let other_trainer = app.signed_up("trainer").await;
    let t = token(&trainer);
    let start = hours_ahead(10);
    app.created_workout(t, &workout_at(start, 60, 20)).await;
    let minutes = chrono::Duration::minutes;
    let overlapping = [
        (start, 60, "the same slot"),
        (start + minutes(30), 60, "starts during it"),
        (start - minutes(30), 60, "ends during it"),
        (start + minutes(15), 15, "lies within it"),
        (start - minutes(30), 120, "contains it"),
    ];

    for (starts_at, duration, case) in overlapping {
        let body = problem(
            app.create_workout(t, &workout_at(starts_at, duration, 20))
                .await,
            StatusCode::CONFLICT,
        )
        .await;
        assert_eq!(body["code"], "schedule_overlap", "{case}");
    }

    for (starts_at, case) in [
        (start - minutes(60), "ending as it starts"),
        (start + minutes(60), "starting as it ends"),
    ] {
        let response = app.create_workout(t, &workout_at(starts_at, 60, 20)).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{case}");
    }
    let response = app
        .create_workout(token(&other_trainer), &workout_at(start, 60, 20))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "another trainer's schedule is independent"
    );
}

#[tokio::test]
async fn a_trainer_cannot_reschedule_into_an_overlap() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let t = token(&trainer);
    let start = hours_ahead(10);
    let minutes = chrono::Duration::minutes;
    let first = app.created_workout(t, &workout_at(start, 60, 20)).await;
    let second = app
        .created_workout(t, &workout_at(hours_ahead(13), 60, 20))
        .await;
    let overlapping = [
        (
            json!({"starts_at": rfc3339(start + minutes(30))}),
            "starts during the other",
        ),
        (json!({"starts_at": rfc3339(start)}), "the same slot"),
        (
            json!({"starts_at": rfc3339(start - minutes(90)), "duration_minutes": 120}),
            "a longer duration runs into the other",
        ),
    ];

    for (body, case) in overlapping {
        let problem = problem(
            app.reschedule_workout(t, id_of(&second), &body).await,
            StatusCode::CONFLICT,
        )
        .await;
        assert_eq!(problem["code"], "schedule_overlap", "{case}");
    }
    let unchanged = workout(&app, t, id_of(&second)).await;
    assert_eq!(instant(&unchanged["starts_at"]), hours_ahead(13));

    let back_to_back = app
        .reschedule_workout(
            t,
            id_of(&second),
            &json!({"starts_at": rfc3339(start + minutes(60))}),
        )
        .await;
    assert_eq!(back_to_back.status(), StatusCode::OK, "back to back");
    let over_its_own_slot = app
        .reschedule_workout(
            t,
            id_of(&first),
            &json!({"starts_at": rfc3339(start - minutes(30))}),
        )
        .await;
    assert_eq!(
        over_its_own_slot.status(),
        StatusCode::OK,
        "a workout never overlaps its own old slot"
    );
}

#[tokio::test]
async fn a_trainee_cannot_hold_overlapping_bookings_or_waitlist_places() {
    let app = TestApp::spawn().await;
    let a = app.signed_up("trainer").await;
    let b = app.signed_up("trainer").await;
    let c = app.signed_up("trainer").await;
    let trainee = app.signed_up("trainee").await;
    let someone_else = app.signed_up("trainee").await;
    let minutes = chrono::Duration::minutes;
    let start = hours_ahead(10);
    let first = app
        .created_workout(token(&a), &workout_at(start, 60, 5))
        .await;
    let overlapping = app
        .created_workout(token(&b), &workout_at(start + minutes(30), 60, 5))
        .await;
    let back_to_back = app
        .created_workout(token(&c), &workout_at(start + minutes(60), 60, 5))
        .await;
    let full = app
        .created_workout(token(&a), &workout_at(hours_ahead(20), 60, 1))
        .await;
    let overlapping_the_waitlist = app
        .created_workout(token(&b), &workout_at(hours_ahead(20) + minutes(30), 60, 5))
        .await;
    let t = token(&trainee);

    booked(&app, t, id_of(&first)).await;
    let clash = problem(app.book(t, id_of(&overlapping)).await, StatusCode::CONFLICT).await;
    assert_eq!(clash["code"], "schedule_overlap", "overlaps a booking");
    assert_eq!(
        booked(&app, t, id_of(&back_to_back)).await["status"],
        "booked"
    );

    booked(&app, token(&someone_else), id_of(&full)).await;
    assert_eq!(booked(&app, t, id_of(&full)).await["status"], "waitlisted");
    let clash = problem(
        app.book(t, id_of(&overlapping_the_waitlist)).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        clash["code"], "schedule_overlap",
        "overlaps a waitlist place"
    );
    assert_eq!(
        workout(&app, t, id_of(&overlapping)).await["booked_count"],
        0
    );
}

#[tokio::test]
async fn booking_the_same_workout_twice_is_409() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let trainee = app.signed_up("trainee").await;
    let created = app
        .created_workout(token(&trainer), &new_workout(hours_ahead(10)))
        .await;
    booked(&app, token(&trainee), id_of(&created)).await;

    let body = problem(
        app.book(token(&trainee), id_of(&created)).await,
        StatusCode::CONFLICT,
    )
    .await;

    assert_eq!(body["code"], "already_registered");
    assert_eq!(
        workout(&app, token(&trainee), id_of(&created)).await["booked_count"],
        1
    );
}

// ---------------------------------------------------------------------------------------------
// Joining
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn joining_before_the_start_waits_and_after_the_start_is_live() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let early = app.signed_up("trainee").await;
    let late = app.signed_up("trainee").await;
    let created = app
        .created_workout(token(&trainer), &new_workout(soon()))
        .await;
    let id = id_of(&created);
    booked(&app, token(&early), id).await;
    booked(&app, token(&late), id).await;

    let waiting = ok(app.join_workout(token(&early), id).await, "join early").await;

    assert_eq!(waiting["state"], "waiting");
    assert_eq!(
        waiting["energy_subject"],
        format!("cultfit.v1.workouts.{id}.energy.{}", user_id(&early))
    );
    for field in ["live_url", "device_token", "nats_url"] {
        assert!(
            waiting[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field}: {waiting}"
        );
    }

    ok(app.start_workout(token(&trainer), id).await, "start").await;
    let live = ok(app.join_workout(token(&late), id).await, "join late").await;

    assert_eq!(live["state"], "live");
    assert_eq!(
        live["energy_subject"],
        format!("cultfit.v1.workouts.{id}.energy.{}", user_id(&late))
    );
    assert_ne!(live["device_token"], waiting["device_token"]);
    let left = app.leave_workout(token(&early), id).await;
    assert_eq!(left.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn only_booked_trainees_can_join() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let people = trainees(&app, 3).await;
    let (with_place, waitlisted, stranger) = (&people[0], &people[1], &people[2]);
    let created = app
        .created_workout(token(&trainer), &workout_at(soon(), 60, 1))
        .await;
    let id = id_of(&created);
    booked(&app, token(with_place), id).await;
    assert_eq!(
        booked(&app, token(waitlisted), id).await["status"],
        "waitlisted"
    );

    for (session, who) in [
        (waitlisted, "a waitlisted trainee"),
        (stranger, "a stranger"),
    ] {
        let body = problem(
            app.join_workout(token(session), id).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(body["code"], "forbidden", "{who}");
    }
    let joined = ok(app.join_workout(token(with_place), id).await, "booked").await;
    assert_eq!(joined["state"], "waiting");
}

// ---------------------------------------------------------------------------------------------
// Capacity, waitlist, cancellations
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bookings_beyond_capacity_are_waitlisted_and_promoted_in_order() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let people = trainees(&app, 5).await;
    let created = app
        .created_workout(token(&trainer), &workout_at(hours_ahead(10), 60, 2))
        .await;
    let id = id_of(&created);

    let mut replies = Vec::new();
    for trainee in &people {
        replies.push(booked(&app, token(trainee), id).await);
    }

    let summary: Vec<(&str, Option<i64>)> = replies
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap_or_default(),
                r["waitlist_position"].as_i64(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("booked", None),
            ("booked", None),
            ("waitlisted", Some(1)),
            ("waitlisted", Some(2)),
            ("waitlisted", Some(3)),
        ]
    );
    assert!(has_no_waitlist_position(&replies[0]), "{}", replies[0]);
    let counts = workout(&app, token(&trainer), id).await;
    assert_eq!(
        (&counts["booked_count"], &counts["waitlist_count"]),
        (&json!(2), &json!(3))
    );
    let roster = app.full_roster(token(&trainer), id, 100).await;
    assert_eq!(
        active(&roster),
        [
            booked_entry(&people[0]),
            booked_entry(&people[1]),
            waitlisted_entry(&people[2], 1),
            waitlisted_entry(&people[3], 2),
            waitlisted_entry(&people[4], 3),
        ]
    );

    let cancelled = app.cancel_booking(token(&people[0]), id).await;

    assert_eq!(cancelled.status(), StatusCode::NO_CONTENT);
    let roster = app.full_roster(token(&trainer), id, 100).await;
    assert_eq!(
        active(&roster),
        [
            booked_entry(&people[1]),
            booked_entry(&people[2]),
            waitlisted_entry(&people[3], 1),
            waitlisted_entry(&people[4], 2),
        ],
        "the first waitlisted is promoted and the rest move up"
    );
    let counts = workout(&app, token(&trainer), id).await;
    assert_eq!(
        (&counts["booked_count"], &counts["waitlist_count"]),
        (&json!(2), &json!(2))
    );

    let left_the_waitlist = app.cancel_booking(token(&people[3]), id).await;

    assert_eq!(left_the_waitlist.status(), StatusCode::NO_CONTENT);
    let roster = app.full_roster(token(&trainer), id, 100).await;
    assert_eq!(
        active(&roster),
        [
            booked_entry(&people[1]),
            booked_entry(&people[2]),
            waitlisted_entry(&people[4], 1),
        ],
        "leaving the waitlist moves the ones behind up"
    );
}

#[tokio::test]
async fn cancelling_a_booking_that_does_not_exist_is_404() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let trainee = app.signed_up("trainee").await;
    let created = app
        .created_workout(token(&trainer), &new_workout(hours_ahead(10)))
        .await;
    let unknown = uuid::Uuid::new_v4().to_string();

    for (id, case) in [
        (id_of(&created), "not registered"),
        (&unknown, "unknown workout"),
    ] {
        let body = problem(
            app.cancel_booking(token(&trainee), id).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(body["code"], "not_found", "{case}");
    }
}

#[tokio::test]
async fn cancelling_a_workout_releases_its_registrations() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let other_trainer = app.signed_up("trainer").await;
    let people = trainees(&app, 3).await;
    let start = hours_ahead(10);
    let created = app
        .created_workout(token(&trainer), &workout_at(start, 60, 2))
        .await;
    let id = id_of(&created);
    for trainee in &people {
        booked(&app, token(trainee), id).await;
    }

    ok(
        app.cancel_workout(token(&trainer), id, &json!({"reason": "Studio flooded"}))
            .await,
        "cancel",
    )
    .await;

    let after = workout(&app, token(&trainer), id).await;
    assert_eq!(after["state"], "cancelled");
    assert_eq!(after["booked_count"], 0);
    assert_eq!(after["waitlist_count"], 0);
    let roster = app.full_roster(token(&trainer), id, 100).await;
    assert_eq!(
        active(&roster),
        [],
        "nobody is booked or waitlisted: {roster:?}"
    );
    let same_time = app
        .created_workout(token(&other_trainer), &workout_at(start, 60, 5))
        .await;
    assert_eq!(
        booked(&app, token(&people[0]), id_of(&same_time)).await["status"],
        "booked",
        "the released slot no longer blocks the trainee's schedule"
    );
}

#[tokio::test]
async fn the_roster_lists_booked_in_booking_order_then_the_waitlist_in_pages() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let people = trainees(&app, 5).await;
    let created = app
        .created_workout(token(&trainer), &workout_at(hours_ahead(10), 60, 3))
        .await;
    let id = id_of(&created);
    for trainee in &people {
        booked(&app, token(trainee), id).await;
    }

    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut query = vec![("limit", "2")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.as_str()));
        }
        let response = app.roster(token(&trainer), id, &query).await;
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap_or_default();
        pages.push(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }

    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    let roster: Vec<Value> = pages.concat();
    assert_eq!(
        active(&roster),
        [
            booked_entry(&people[0]),
            booked_entry(&people[1]),
            booked_entry(&people[2]),
            waitlisted_entry(&people[3], 1),
            waitlisted_entry(&people[4], 2),
        ]
    );
    for entry in &roster {
        assert_eq!(entry["full_name"], "Asha Verma", "{entry}");
        assert!(entry["joined_at"].is_null(), "nobody joined yet: {entry}");
        let registered_at = instant(&entry["registered_at"]);
        assert!(registered_at <= Utc::now(), "{entry}");
    }
}

#[tokio::test]
async fn the_start_window_is_configurable() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        args: &["--start-window-minutes", "0"],
        ..Default::default()
    })
    .await;
    let trainer = app.signed_up("trainer").await;
    let workout = app
        .created_workout(token(&trainer), &new_workout(soon()))
        .await;

    let early = problem(
        app.start_workout(token(&trainer), id_of(&workout)).await,
        StatusCode::CONFLICT,
    )
    .await;

    assert_eq!(
        early["code"], "too_early",
        "with no window, two minutes early is too early"
    );
}

#[tokio::test]
async fn commands_racing_to_an_unknown_workout_are_all_answered_404() {
    // Each finds no actor, asks for one, and hears that the workout does not exist; none may be
    // swallowed by an activation that is finding that out (it would wait out its timeout: 503).
    // Spread out, so that some arrive while an activation is under way.
    let app = TestApp::spawn().await;
    let trainee = app.signed_up("trainee").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let mut requests = Vec::new();
    for _ in 0..200 {
        let (api, token, id) = (app.api.clone(), token(&trainee).to_owned(), unknown.clone());
        requests.push(tokio::spawn(async move {
            api.cancel_booking(&token, &id).await.status()
        }));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut statuses = Vec::new();
    for request in requests {
        // A request task that panicked shows as a 500.
        statuses.push(request.await.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    }
    assert!(
        statuses.iter().all(|s| *s == StatusCode::NOT_FOUND),
        "{statuses:?}"
    );
}
