//! Domain events: written to the outbox with the change they describe, relayed to the `EVENTS`
//! JetStream stream on `cultfit.v1.workouts.<id>.events`, exactly once even across a NATS outage.
//!
//! Events are read back with an ephemeral pull consumer, as another service would. A read only
//! counts once the outbox is drained (every row marked published): from then on the relay never
//! sends those events again, so what the stream holds is final and duplicates cannot hide behind
//! a read that came too early.
#![allow(
    clippy::expect_used,
    reason = "a test that cannot reach the database or parse an id fails loudly"
)]

use crate::helpers::{
    NatsBus, TestApp, database_url, hours_ahead, id_of, instant, new_workout, rfc3339, token,
    user_id,
};
use async_nats::jetstream::{self, consumer};
use bus_contracts::subjects;
use bus_contracts::v1::DomainEvent;
use futures_util::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// One message of the `EVENTS` stream.
#[derive(Debug)]
struct Published {
    /// The `Nats-Msg-Id` header (the outbox id), which JetStream de-duplicates on.
    msg_id: Option<String>,
    /// The JSON payload.
    event: Value,
}

impl Published {
    fn kind(&self) -> &str {
        self.event["type"].as_str().unwrap_or("<no type>")
    }
}

/// Asserts the response has `want` and returns its JSON body.
async fn expect(response: reqwest::Response, want: StatusCode, what: &str) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    assert_eq!(status, want, "{what}: {body}");
    body
}

/// Polls `/health/ready` until it is 200 or `within` has passed; returns the last status.
async fn wait_until_ready(app: &TestApp, within: Duration) -> StatusCode {
    let deadline = Instant::now() + within;
    loop {
        let status = app.get("/health/ready", None).await.status();
        if status == StatusCode::OK || Instant::now() >= deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every message on the workout's events subject at this moment, in stream order.
async fn read_events(nats: &NatsBus, workout_id: Uuid) -> Result<Vec<Published>, String> {
    let client = nats
        .try_service_client()
        .await
        .map_err(|err| format!("connect: {err}"))?;
    let stream = jetstream::new(client)
        .get_stream(subjects::EVENTS_STREAM)
        .await
        .map_err(|err| format!("get stream {}: {err}", subjects::EVENTS_STREAM))?;
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: subjects::workout_events(workout_id),
            deliver_policy: consumer::DeliverPolicy::All,
            ack_policy: consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(10),
            ..Default::default()
        })
        .await
        .map_err(|err| format!("create consumer: {err}"))?;
    // How many messages matched the filter when the consumer was created: read exactly those.
    let pending = usize::try_from(consumer.cached_info().num_pending).unwrap_or(usize::MAX);
    if pending == 0 {
        return Ok(Vec::new());
    }
    let batch = consumer
        .batch()
        .max_messages(pending)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .map_err(|err| format!("fetch: {err}"))?;
    let messages: Vec<_> = tokio::time::timeout(
        Duration::from_secs(3),
        batch.take(pending).collect::<Vec<_>>(),
    )
    .await
    .map_err(|_| format!("{pending} pending messages were not delivered in time"))?;
    messages
        .into_iter()
        .map(|message| {
            let message = message.map_err(|err| format!("message: {err}"))?;
            let msg_id = message
                .headers
                .as_ref()
                .and_then(|headers| headers.get("Nats-Msg-Id"))
                .map(|value| value.as_str().to_owned());
            let event = serde_json::from_slice(&message.payload)
                .map_err(|err| format!("payload is not JSON: {err}"))?;
            Ok(Published { msg_id, event })
        })
        .collect()
}

/// Outbox rows not yet marked published (the app's database holds this test's events only).
async fn unpublished_outbox_rows(db: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(db)
        .await
        .expect("count unpublished outbox rows")
}

/// The workout's events on the stream once the outbox is drained and an event of type `last`
/// has arrived; NATS may be unreachable for part of `within` (errors are retried).
async fn published_events(
    app: &TestApp,
    workout_id: &str,
    last: &str,
    within: Duration,
) -> Vec<Published> {
    let workout_id = Uuid::parse_str(workout_id).expect("workout id");
    let mut db = sqlx::PgConnection::connect(&database_url(&app.db_name))
        .await
        .expect("connect to the app's database");
    let deadline = Instant::now() + within;
    let mut unpublished = -1;
    let mut last_read: Result<Vec<Published>, String> = Err("not read yet".to_owned());
    while Instant::now() < deadline {
        unpublished = unpublished_outbox_rows(&mut db).await;
        if unpublished == 0 {
            last_read = read_events(&app.nats, workout_id).await;
            if let Ok(events) = &last_read
                && events.iter().any(|e| e.kind() == last)
            {
                return last_read.unwrap_or_default();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the events of workout {workout_id} up to `{last}` were not published within \
         {within:?}: {unpublished} outbox rows unpublished; last read of the stream: {last_read:#?}"
    );
}

/// Each event's `type`, in stream order.
fn kinds(events: &[Published]) -> Vec<&str> {
    events.iter().map(Published::kind).collect()
}

/// Each event is a v1 `DomainEvent` about `workout_id` and carries a distinct `Nats-Msg-Id`.
fn assert_well_formed(events: &[Published], workout_id: &str) {
    let mut msg_ids = HashSet::new();
    for published in events {
        let event = &published.event;
        assert_eq!(event["workout_id"], workout_id, "{event}");
        assert!(
            serde_json::from_value::<DomainEvent>(event.clone()).is_ok(),
            "not a v1 domain event: {event}"
        );
        let msg_id = published
            .msg_id
            .as_deref()
            .unwrap_or_else(|| panic!("no Nats-Msg-Id on {event}"));
        assert!(
            msg_ids.insert(msg_id.to_owned()),
            "Nats-Msg-Id {msg_id} repeated"
        );
    }
}

#[tokio::test]
async fn domain_events_are_published_on_the_workouts_events_subject() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let trainee = app.signed_up("trainee").await;
    let t = token(&trainer);
    let workout = app.created_workout(t, &new_workout(hours_ahead(10))).await;
    let id = id_of(&workout);
    let new_start = hours_ahead(12);

    expect(
        app.book(token(&trainee), id).await,
        StatusCode::CREATED,
        "book",
    )
    .await;
    expect(
        app.reschedule_workout(t, id, &json!({"starts_at": rfc3339(new_start)}))
            .await,
        StatusCode::OK,
        "reschedule",
    )
    .await;
    expect(
        app.cancel_workout(t, id, &json!({"reason": "Studio flooded"}))
            .await,
        StatusCode::OK,
        "cancel",
    )
    .await;

    let events = published_events(&app, id, "cancelled", Duration::from_secs(5)).await;

    assert_eq!(
        kinds(&events),
        ["scheduled", "booked", "rescheduled", "cancelled"],
        "{events:#?}"
    );
    assert_well_formed(&events, id);
    assert_eq!(events[0].event["trainer_id"], user_id(&trainer).to_owned());
    assert_eq!(events[1].event["trainee_id"], user_id(&trainee).to_owned());
    assert_eq!(instant(&events[2].event["starts_at"]), new_start);
    assert_eq!(events[3].event["reason"], "Studio flooded");
}

#[tokio::test]
async fn rescheduled_and_cancelled_events_are_not_lost_when_nats_restarts() {
    let mut app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let t = token(&trainer);
    let workout = app.created_workout(t, &new_workout(hours_ahead(10))).await;
    let id = id_of(&workout).to_owned();
    expect(
        app.reschedule_workout(t, &id, &json!({"starts_at": rfc3339(hours_ahead(12))}))
            .await,
        StatusCode::OK,
        "reschedule",
    )
    .await;
    expect(
        app.cancel_workout(t, &id, &json!({})).await,
        StatusCode::OK,
        "cancel",
    )
    .await;

    // Right after the changes were committed, while the relay may be publishing them.
    app.nats.restart();

    assert_eq!(
        wait_until_ready(&app, Duration::from_secs(10)).await,
        StatusCode::OK,
        "the app did not become ready again after NATS came back"
    );
    // Longer than the relay's JetStream ack timeout, so a publish lost in the restart is retried.
    let events = published_events(&app, &id, "cancelled", Duration::from_secs(20)).await;
    for kind in ["scheduled", "rescheduled", "cancelled"] {
        let copies = events.iter().filter(|e| e.kind() == kind).count();
        assert_eq!(
            copies, 1,
            "`{kind}` must be on the stream exactly once (lost or not de-duplicated): {events:#?}"
        );
    }
    assert_eq!(
        kinds(&events),
        ["scheduled", "rescheduled", "cancelled"],
        "{events:#?}"
    );
    assert_well_formed(&events, &id);
}
