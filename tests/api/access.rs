//! Who may call what (broken object-level authorization): every operation of the OpenAPI
//! document, called by four parties — nobody, another trainee, another trainer, and the right
//! user — with the status the table below expects. The operations come from `/openapi.json`, so
//! a new route without a row fails this test, and so does a row for a route that is gone.
//!
//! Each row gets a workout of its own, in the state its operation needs, owned by a fresh
//! trainer with a fresh trainee; the other trainee and the other trainer are shared, and never
//! hold a place in it unless their own call took one.
#![allow(clippy::expect_used, reason = "the table and its fixtures fail loudly")]

use crate::helpers::{PASSWORD, TestApp, id_of, new_workout, rfc3339, soon, token};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The workout a row's calls are made against.
#[derive(Clone, Copy, Debug)]
enum Setup {
    /// Scheduled; nobody booked.
    Unbooked,
    /// Scheduled; the row's trainee holds a place.
    Booked,
    /// Scheduled; the row's trainee booked and joined the waiting room.
    Joined,
    /// Live; the row's trainee booked and joined.
    Live,
    /// Ended; the row's trainee took part.
    Ended,
}

/// Who the right user is for an operation.
#[derive(Clone, Copy, Debug)]
enum Right {
    /// The workout's trainer.
    Owner,
    /// The trainee who holds a place in it.
    Participant,
}

/// One operation: its setup, its right user, and the status expected for each party:
/// `[anonymous, another trainee, another trainer, the right user]`.
struct Row {
    operation: &'static str,
    setup: Setup,
    right: Right,
    expect: [u16; 4],
}

const fn row(operation: &'static str, setup: Setup, right: Right, expect: [u16; 4]) -> Row {
    Row {
        operation,
        setup,
        right,
        expect,
    }
}

use Right::{Owner, Participant};
use Setup::{Booked, Ended, Joined, Live, Unbooked};

const TABLE: &[Row] = &[
    // Public: the caller's token (if any) changes nothing.
    row("get_health_live", Booked, Participant, [200, 200, 200, 200]),
    row(
        "get_health_ready",
        Booked,
        Participant,
        [200, 200, 200, 200],
    ),
    row("get_metrics", Booked, Participant, [200, 200, 200, 200]),
    row("register_user", Booked, Participant, [201, 201, 201, 201]),
    row("login", Booked, Participant, [200, 200, 200, 200]),
    row("refresh_session", Booked, Participant, [200, 200, 200, 200]),
    // Anyone signed in, each about themselves (or about what every user may read).
    row("logout", Booked, Participant, [401, 204, 204, 204]),
    row("get_me", Booked, Participant, [401, 200, 200, 200]),
    row("update_me", Booked, Participant, [401, 200, 200, 200]),
    row("get_history", Booked, Participant, [401, 200, 200, 200]),
    row("list_workouts", Booked, Participant, [401, 200, 200, 200]),
    row("get_workout", Booked, Participant, [401, 200, 200, 200]),
    row("get_results", Ended, Participant, [401, 200, 200, 200]),
    // Trainers: their own workouts only.
    row("create_workout", Booked, Owner, [401, 403, 201, 201]),
    row("reschedule_workout", Booked, Owner, [401, 403, 403, 200]),
    row("cancel_workout", Booked, Owner, [401, 403, 403, 200]),
    row("start_workout", Booked, Owner, [401, 403, 403, 200]),
    row("end_workout", Live, Owner, [401, 403, 403, 200]),
    row("list_registrations", Booked, Owner, [401, 403, 403, 200]),
    row("get_feedback", Ended, Owner, [401, 403, 403, 200]),
    row("get_board", Live, Owner, [401, 403, 403, 200]),
    // Trainees: any trainee may book; the rest needs a place of their own.
    row("book_workout", Unbooked, Participant, [401, 201, 403, 201]),
    row("get_my_booking", Booked, Participant, [401, 404, 403, 200]),
    row("cancel_booking", Booked, Participant, [401, 404, 403, 204]),
    row("join_workout", Booked, Participant, [401, 403, 403, 200]),
    row("leave_workout", Joined, Participant, [401, 204, 403, 204]),
    row("post_energy", Live, Participant, [401, 403, 403, 202]),
    row("give_feedback", Ended, Participant, [401, 403, 403, 201]),
    row("get_my_result", Ended, Participant, [401, 403, 403, 200]),
    // The live session: its trainer and its booked trainees.
    row(
        "issue_live_ticket",
        Booked,
        Participant,
        [401, 403, 403, 200],
    ),
    row("follow_live", Booked, Participant, [401, 403, 403, 200]),
    row("follow_live_ws", Booked, Participant, [401, 403, 403, 101]),
    row("get_leaderboard", Live, Participant, [401, 403, 403, 200]),
];

/// A signed-up user: the session `signed_up` returned, and their email.
struct User {
    session: Value,
    email: String,
}

impl User {
    async fn new(app: &TestApp, role: &str) -> Self {
        let session = app.signed_up(role).await;
        let email = session["user"]["email"].as_str().expect("email").to_owned();
        Self { session, email }
    }

    fn token(&self) -> &str {
        token(&self.session)
    }
}

/// Every operation in the document: `(operation id, method, path)`.
fn operations(spec: &Value) -> Vec<(String, Method, String)> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let id = operation["operationId"].as_str().expect("operationId");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            found.push((id.to_owned(), method, path.clone()));
        }
    }
    found
}

/// The workout of a row, owned by `owner`, with `trainee` as the setup says.
async fn prepare(app: &TestApp, setup: Setup, owner: &User, trainee: &User) -> String {
    let workout = app
        .created_workout(owner.token(), &new_workout(soon()))
        .await;
    let id = id_of(&workout).to_owned();
    let expect = |what: &str, response: reqwest::Response, status: StatusCode| {
        assert_eq!(response.status(), status, "setup {setup:?}: {what}");
    };
    if matches!(setup, Unbooked) {
        return id;
    }
    expect(
        "book",
        app.book(trainee.token(), &id).await,
        StatusCode::CREATED,
    );
    if matches!(setup, Booked) {
        return id;
    }
    let joined = app.join_workout(trainee.token(), &id).await;
    expect("join", joined, StatusCode::OK);
    if matches!(setup, Joined) {
        return id;
    }
    let started = app.start_workout(owner.token(), &id).await;
    expect("start", started, StatusCode::OK);
    if matches!(setup, Ended) {
        let ended = app.end_workout(owner.token(), &id).await;
        expect("end", ended, StatusCode::OK);
    }
    id
}

/// A valid body for `operation`, as `caller` would send it (`None`: anonymous).
async fn body_for(
    app: &TestApp,
    operation: &str,
    caller: Option<&User>,
    right_user: &User,
) -> Option<Value> {
    let fresh = || format!("access-{}@example.com", uuid::Uuid::new_v4().simple());
    match operation {
        "register_user" => Some(json!({
            "role": "trainee", "full_name": "Fresh", "email": fresh(),
            "mobile": "+919876543210", "password": PASSWORD,
        })),
        "login" => Some(json!({"email": right_user.email, "password": PASSWORD})),
        // A refresh token is spent by use: each call brings one of its own.
        "refresh_session" | "logout" => {
            let holder = if operation == "logout" {
                right_user
            } else {
                caller.unwrap_or(right_user)
            };
            let session: Value = app
                .login(&holder.email, PASSWORD)
                .await
                .json()
                .await
                .expect("login");
            Some(json!({"refresh_token": session["refresh_token"]}))
        }
        "update_me" => Some(json!({"full_name": "Renamed"})),
        // Clear of the row's own workout, which its trainer teaches in a few minutes.
        "create_workout" => Some(new_workout(soon() + chrono::Duration::hours(6))),
        "reschedule_workout" => Some(json!({
            "starts_at": rfc3339(soon() + chrono::Duration::minutes(5)),
        })),
        "cancel_workout" => Some(json!({"reason": "rain"})),
        "post_energy" => Some(json!({
            "samples": [{"seq": 1, "ts": chrono::Utc::now().timestamp_millis(), "rating": 50.0, "energy": 1.0}],
        })),
        "give_feedback" => Some(json!({"rating": 5})),
        _ => None,
    }
}

/// Call `method path` as `caller` (`None`: no credentials).
async fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    body: Option<&Value>,
    caller: Option<&User>,
    websocket: bool,
) -> reqwest::Response {
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(user) = caller {
        request = request.bearer_auth(user.token());
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    if websocket {
        request = request
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn every_operation_answers_each_party_as_the_table_says() {
    let app = TestApp::spawn().await;
    let spec: Value = app.openapi().await;
    let operations = operations(&spec);

    let documented: BTreeSet<&str> = operations.iter().map(|(id, ..)| id.as_str()).collect();
    let tabled: BTreeSet<&str> = TABLE.iter().map(|row| row.operation).collect();
    assert_eq!(TABLE.len(), tabled.len(), "one row per operation");
    let missing: Vec<_> = documented.difference(&tabled).collect();
    let stale: Vec<_> = tabled.difference(&documented).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "operations without a row: {missing:?}; rows without an operation: {stale:?}"
    );

    let other_trainee = User::new(&app, "trainee").await;
    let other_trainer = User::new(&app, "trainer").await;
    let mut mismatches = Vec::new();
    for (operation, method, template) in &operations {
        let row = TABLE
            .iter()
            .find(|row| row.operation == operation)
            .expect("checked above");
        let owner = User::new(&app, "trainer").await;
        let trainee = User::new(&app, "trainee").await;
        let workout = prepare(&app, row.setup, &owner, &trainee).await;
        let path = template.replace("{id}", &workout);
        let right = match row.right {
            Owner => &owner,
            Participant => &trainee,
        };
        let parties = [
            ("anonymous", None),
            ("another trainee", Some(&other_trainee)),
            ("another trainer", Some(&other_trainer)),
            ("the right user", Some(right)),
        ];
        for ((party, caller), expected) in parties.into_iter().zip(row.expect) {
            let body = body_for(&app, operation, caller, right).await;
            let websocket = operation == "follow_live_ws";
            let response = call(&app, method, &path, body.as_ref(), caller, websocket).await;
            let status = response.status().as_u16();
            if status != expected {
                let text = if status == 101 || operation.starts_with("follow_live") {
                    String::new()
                } else {
                    response.text().await.unwrap_or_default()
                };
                mismatches.push(format!(
                    "{operation} ({method} {template}) as {party}: {status}, expected {expected} {text}"
                ));
            }
        }
        // Live sessions hold their trainee: end them so the next row's trainee starts clean.
        if matches!(row.setup, Live) && operation != "end_workout" {
            app.end_workout(owner.token(), &workout).await;
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
