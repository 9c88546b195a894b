//! The live path end to end: wearables publish on NATS (or apps POST energy), the workout's owner
//! ranks, clients follow over SSE or WebSocket, and the end stores exact results.
#![allow(
    clippy::expect_used,
    reason = "a broken connection should fail the test loudly"
)]

use crate::helpers::{
    ApiClient, TestApp, id_of, new_workout, problem, soon, token, user_id, wearable_client,
};
use chrono::{DateTime, Utc};
use futures_util::{SinkExt as _, StreamExt as _};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::{Instant, sleep, timeout};

/// A live workout with booked, joined trainees.
pub(crate) struct Class {
    pub trainer: Value,
    pub trainees: Vec<Value>,
    /// What `join` answered each trainee (the wearable's subject, URL and device token).
    pub joins: Vec<Value>,
    pub id: String,
    pub started_at: DateTime<Utc>,
}

impl Class {
    /// Trainee `i`'s wearable, connected with its device token as a real one would be.
    pub(crate) async fn wearable(&self, i: usize) -> async_nats::Client {
        wearable_client(&self.joins[i])
            .await
            .expect("a wearable with a device token connects")
    }
}

/// Creates a workout, books and joins `n` trainees (after `prepare` ran for each), and starts it.
pub(crate) async fn live_class(app: &ApiClient, n: usize) -> Class {
    let class = waiting_class(app, n).await;
    start(app, class).await
}

/// An app that ticks every 200 ms, so tests see frames sooner.
pub(crate) async fn fast_ticking_app() -> TestApp {
    TestApp::spawn_with(crate::helpers::Options {
        args: &["--tick-ms", "200"],
        ..Default::default()
    })
    .await
}

/// `join` again for `trainee` (harmless) and return its answer, with the stream URLs.
pub(crate) async fn joined(app: &ApiClient, trainee: &Value, id: &str) -> Value {
    app.join_workout(token(trainee), id)
        .await
        .json()
        .await
        .unwrap_or_default()
}

/// A workout with `n` booked and joined trainees, not started.
pub(crate) async fn waiting_class(app: &ApiClient, n: usize) -> Class {
    let trainer = app.signed_up("trainer").await;
    let workout = app
        .created_workout(token(&trainer), &new_workout(soon()))
        .await;
    let id = id_of(&workout).to_owned();
    let mut trainees = Vec::new();
    let mut joins = Vec::new();
    for _ in 0..n {
        let trainee = app.signed_up("trainee").await;
        assert_eq!(
            app.book(token(&trainee), &id).await.status(),
            StatusCode::CREATED
        );
        let join = app.join_workout(token(&trainee), &id).await;
        assert_eq!(join.status(), StatusCode::OK);
        joins.push(join.json().await.expect("join answer"));
        trainees.push(trainee);
    }
    Class {
        trainer,
        trainees,
        joins,
        id,
        started_at: DateTime::<Utc>::MIN_UTC,
    }
}

pub(crate) async fn start(app: &ApiClient, mut class: Class) -> Class {
    let response = app.start_workout(token(&class.trainer), &class.id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let workout: Value = app
        .get_workout(token(&class.trainer), &class.id)
        .await
        .json()
        .await
        .unwrap_or_default();
    class.started_at = workout["started_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no started_at in {workout}"));
    class
}

pub(crate) fn subject(workout: &str, user: &str) -> String {
    format!("cultfit.v1.workouts.{workout}.energy.{user}")
}

/// A sample stamped in the middle of second `second` of the session.
pub(crate) fn sample(class: &Class, second: i64, seq: u64, rating: f64, energy: f64) -> Value {
    let ts = class.started_at.timestamp_millis() + second * 1000 + 500;
    json!({"seq": seq, "ts": ts, "rating": rating, "energy": energy})
}

pub(crate) async fn publish(
    nats: &async_nats::Client,
    subject: String,
    payload: impl Into<Vec<u8>>,
) {
    nats.publish(subject, payload.into().into())
        .await
        .expect("publish");
}

pub(crate) async fn leaderboard(app: &ApiClient, token: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/workouts/{id}/leaderboard"), Some(token))
        .await
        .json()
        .await
        .unwrap_or_default()
}

/// Polls the leaderboard until `check` holds (or 15 s pass) and returns the last one seen.
pub(crate) async fn leaderboard_until(
    app: &ApiClient,
    token: &str,
    id: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let board = leaderboard(app, token, id).await;
        if check(&board) || Instant::now() > deadline {
            return board;
        }
        sleep(Duration::from_millis(200)).await;
    }
}

/// Publishes `user`'s sample and waits until the leaderboard shows them, alone, at `energy`.
pub(crate) async fn send_and_expect(
    app: &ApiClient,
    nats: &async_nats::Client,
    class: &Class,
    user: &str,
    sample: Value,
    energy: i64,
) {
    publish(nats, subject(&class.id, user), sample.to_string()).await;
    nats.flush().await.expect("flush");
    let expected = vec![(user.to_owned(), energy)];
    let board = leaderboard_until(app, token(&class.trainer), &class.id, |b| {
        energies(b) == expected
    })
    .await;
    assert_eq!(energies(&board), expected, "{board}");
}

/// Energy per user id in a leaderboard's top.
pub(crate) fn energies(board: &Value) -> Vec<(String, i64)> {
    board["top"]
        .as_array()
        .map(|top| {
            top.iter()
                .map(|p| {
                    let who = p["user_id"].as_str().unwrap_or("anonymous").to_owned();
                    (who, p["energy"].as_i64().unwrap_or(-1))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A workout's results, as `token` may see them.
pub(crate) async fn results(app: &ApiClient, token: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/workouts/{id}/results"), Some(token))
        .await
        .json()
        .await
        .unwrap_or_default()
}

/// A counter's value in a node's Prometheus text, 0 if absent.
pub(crate) async fn counter(app: &ApiClient, series: &str) -> f64 {
    let text = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_trainees_with_scripted_streams_get_exact_ranks_energy_calories_and_minutes() {
    let app = fast_ticking_app().await;
    let class = waiting_class(&app, 3).await;
    // The first has a full profile and a heart-rate strap: Keytel; the others get MET.
    let response = app
        .patch_me(
            token(&class.trainees[0]),
            &json!({"weight_kg": 80.0, "birth_year": 1990, "sex": "male"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let class = start(&app, class).await;
    let mut wearables = Vec::new();
    for i in 0..3 {
        wearables.push(class.wearable(i).await);
    }
    let efforts = [90.0, 60.0, 30.0];

    // Ten seconds of 1 Hz samples each, every one sent twice, then the first half replayed:
    // none of that may change a total or a curve.
    for ((trainee, rating), nats) in class.trainees.iter().zip(efforts).zip(&wearables) {
        let to = subject(&class.id, user_id(trainee));
        let stream: Vec<Value> = (0..10)
            .map(|s| {
                let mut v = sample(&class, s, s as u64 + 1, rating, rating * (s + 1) as f64);
                if rating == 90.0 {
                    v["hr"] = json!(150);
                }
                v
            })
            .collect();
        for v in stream.iter().chain(stream.iter()).chain(stream[..5].iter()) {
            publish(nats, to.clone(), v.to_string()).await;
        }
        nats.flush().await.expect("flush");
    }

    let trainer = token(&class.trainer);
    let expected: Vec<(String, i64)> = class
        .trainees
        .iter()
        .zip([900, 600, 300])
        .map(|(t, e)| (user_id(t).to_owned(), e))
        .collect();
    let board = leaderboard_until(&app, trainer, &class.id, |b| energies(b) == expected).await;
    assert_eq!(energies(&board), expected, "{board}");
    assert_eq!(board["participants"], 3);
    assert_eq!(
        board["samples_accepted"], 30,
        "each sample counted once: {board}"
    );

    // Run past the last sample so every participant is active for the whole session.
    let ends_no_earlier = class.started_at + chrono::TimeDelta::seconds(11);
    while Utc::now() < ends_no_earlier {
        sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.end_workout(trainer, &class.id).await.status(),
        StatusCode::OK
    );

    let results = results(&app, trainer, &class.id).await;
    let ranking: Vec<(i64, String, i64)> = results["items"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|r| {
            (
                r["rank"].as_i64().unwrap_or(0),
                r["user_id"].as_str().unwrap_or("").to_owned(),
                r["energy"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let expected_ranking: Vec<(i64, String, i64)> = expected
        .iter()
        .zip(1..)
        .map(|((who, energy), rank)| (rank, who.clone(), *energy))
        .collect();
    assert_eq!(ranking, expected_ranking, "{results}");

    let age = f64::from(chrono::Datelike::year(&Utc::now()) - 1990);
    for (trainee, rating) in class.trainees.iter().zip(efforts) {
        let me: Value = app
            .get(
                &format!("/api/v1/workouts/{}/results/me", class.id),
                Some(token(trainee)),
            )
            .await
            .json()
            .await
            .unwrap_or_default();
        // The session lasted 11 to 15 s; a sample's rating holds for 5 s after it, so every
        // second was active at the same effort.
        let active = me["active_seconds"].as_i64().unwrap_or(0);
        assert!((11..=15).contains(&active), "{me}");
        assert_eq!(me["per_minute"], json!([rating]), "{me}");
        let curve = me["energy_curve"].as_array().cloned().unwrap_or_default();
        assert_eq!(curve.len() as i64, active, "{me}");
        assert_eq!(curve[0], json!(rating as i64), "first second: {me}");
        assert_eq!(curve[9], json!(rating as i64 * 10), "tenth second: {me}");
        let kcal_per_min = if rating == 90.0 {
            (-55.0969 + 0.6309 * 150.0 + 0.1988 * 80.0 + 0.2017 * age) / 4.184
        } else {
            (1.5 + rating / 100.0 * 10.5) * 3.5 * 70.0 / 200.0
        };
        let calories = me["calories"].as_f64().unwrap_or(0.0);
        let expected = kcal_per_min * active as f64 / 60.0;
        assert!(
            (calories - expected).abs() < 0.01,
            "{calories} vs {expected}: {me}"
        );
    }

    // Ending again changes nothing.
    let again = app.end_workout(trainer, &class.id).await;
    problem(again, StatusCode::CONFLICT).await;
    let unchanged = self::results(&app, trainer, &class.id).await;
    assert_eq!(unchanged, results);
}

/// Every kind of bad sample, as a wearable could send it, and its metrics label.
fn bad_samples(class: &Class, stranger: &str) -> Vec<(&'static str, String, String)> {
    let me = user_id(&class.trainees[0]);
    let to = subject(&class.id, me);
    let far_future = Utc::now().timestamp_millis() + 3_600_000;
    vec![
        ("malformed", to.clone(), "not json".to_owned()),
        (
            "malformed",
            to.clone(),
            r#"{"seq":"1","ts":1,"rating":5,"energy":1}"#.to_owned(),
        ),
        (
            "malformed",
            to.clone(),
            sample(class, 1, 9, 50.0, -1.0).to_string(),
        ),
        (
            "not_participant",
            subject(&class.id, "not-a-user"),
            sample(class, 1, 9, 50.0, 1.0).to_string(),
        ),
        (
            "not_participant",
            subject(&class.id, stranger),
            sample(class, 1, 1, 50.0, 1.0).to_string(),
        ),
        (
            "rating_out_of_range",
            to.clone(),
            sample(class, 1, 9, 101.0, 1.0).to_string(),
        ),
        (
            "energy_decreasing",
            to.clone(),
            sample(class, 2, 9, 50.0, 10.0).to_string(),
        ),
        (
            "energy_too_fast",
            to.clone(),
            sample(class, 2, 9, 50.0, 5_000.0).to_string(),
        ),
        (
            "timestamp_out_of_range",
            to,
            json!({"seq": 9, "ts": far_future, "rating": 50, "energy": 200}).to_string(),
        ),
    ]
}

/// The node's `/metrics` text.
async fn metrics_text(app: &ApiClient) -> String {
    app.get("/metrics", None)
        .await
        .text()
        .await
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tick_of_a_live_session_is_counted_in_the_tick_lateness_histogram() {
    let app = fast_ticking_app().await;
    let count = "cultfit_live_tick_lateness_seconds_count";
    let class = waiting_class(&app, 1).await;
    assert_eq!(counter(&app, count).await, 0.0, "no session, no ticks");

    let class = start(&app, class).await;

    assert_eq!(counter(&app, "cultfit_live_sessions ").await, 1.0);
    // Ticks every 200 ms: ten of them come within a couple of seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    while counter(&app, count).await < 10.0 && Instant::now() < deadline {
        sleep(Duration::from_millis(200)).await;
    }
    let text = metrics_text(&app).await;
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(-1.0)
    };
    let ticks = value(count);
    assert!(ticks >= 10.0, "ticks counted: {ticks}\n{text}");
    // Buckets (not a summary), cumulative, the last one holding every tick counted.
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("cultfit_live_tick_lateness_seconds_bucket{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse().ok())
        .collect();
    assert!(buckets.len() > 10, "{text}");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{text}");
    assert_eq!(buckets.last(), Some(&ticks), "{text}");
    assert!(
        text.contains(r#"cultfit_live_tick_lateness_seconds_bucket{le="0.05"}"#),
        "a bucket at the 50 ms target: {text}"
    );
    assert!(
        text.contains(r#"cultfit_live_tick_lateness_seconds_bucket{le="+Inf"}"#),
        "{text}"
    );

    // Once the session ends its ticks stop, and so does the count.
    assert_eq!(
        app.end_workout(token(&class.trainer), &class.id)
            .await
            .status(),
        StatusCode::OK
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter(&app, "cultfit_live_sessions ").await != 0.0 && Instant::now() < deadline {
        sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counter(&app, "cultfit_live_sessions ").await, 0.0);
    let after_end = counter(&app, count).await;
    sleep(Duration::from_secs(1)).await;
    assert_eq!(
        counter(&app, count).await,
        after_end,
        "no ticks after the end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_bad_sample_is_rejected_and_counted_and_garbage_leaves_the_session_healthy() {
    let app = fast_ticking_app().await;
    let class = waiting_class(&app, 1).await;
    // The trainee's own wearable, on the locked bus: it may publish only its own subject.
    let nats = class.wearable(0).await;
    // What no wearable can publish any more (other subjects, oversized payloads) is injected
    // as the service, to show the owner refuses it too (defence in depth).
    let service = app.nats.service_client().await;
    let me = user_id(&class.trainees[0]).to_owned();
    // Published before the start: refused as not live once the session reads its stream.
    publish(
        &nats,
        subject(&class.id, &me),
        json!({"seq": 1, "ts": Utc::now().timestamp_millis(), "rating": 10, "energy": 1})
            .to_string(),
    )
    .await;
    nats.flush().await.expect("flush");
    sleep(Duration::from_millis(50)).await;
    let class = start(&app, class).await;
    let trainer = token(&class.trainer).to_owned();

    // A good sample first, so "decreasing" has something to decrease from.
    let good = sample(&class, 1, 5, 50.0, 50.0);
    send_and_expect(&app, &nats, &class, &me, good, 50).await;
    let rejected = |reason: &str| format!("cultfit_samples_rejected_total{{reason=\"{reason}\"}}");
    assert_eq!(
        counter(&app, &rejected("not_live")).await,
        1.0,
        "the sample sent before the start"
    );

    // Out of order: seq 8 arrives before seq 7, which is then stale and changes nothing.
    for (seq, energy) in [(8, 80.0), (7, 70.0), (8, 80.0)] {
        publish(
            &nats,
            subject(&class.id, &me),
            sample(&class, 2, seq, 50.0, energy).to_string(),
        )
        .await;
    }
    nats.flush().await.expect("flush");
    let board = leaderboard_until(&app, &trainer, &class.id, |b| b["samples_accepted"] == 2).await;
    assert_eq!(energies(&board), vec![(me.clone(), 80)], "{board}");
    sleep(Duration::from_millis(500)).await;
    let board = leaderboard(&app, &trainer, &class.id).await;
    assert_eq!(
        (energies(&board), &board["samples_accepted"]),
        (vec![(me.clone(), 80)], &json!(2)),
        "{board}"
    );

    let stranger = app.signed_up("trainee").await;
    let own = subject(&class.id, &me);
    for (reason, to, payload) in bad_samples(&class, user_id(&stranger)) {
        let before = counter(&app, &rejected(reason)).await;
        let via = if to == own { &nats } else { &service };
        publish(via, to.clone(), payload.clone()).await;
        via.flush().await.expect("flush");
        let deadline = Instant::now() + Duration::from_secs(5);
        while counter(&app, &rejected(reason)).await < before + 1.0 && Instant::now() < deadline {
            sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            counter(&app, &rejected(reason)).await,
            before + 1.0,
            "{reason}: {to} {payload}"
        );
    }

    // A flood of garbage: random bytes, huge payloads, wrong subjects. The session keeps ranking.
    let mut seed = 7u64;
    for i in 0..3_000u32 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let len = (seed >> 40) as usize % 300;
        let bytes: Vec<u8> = (0..len).map(|k| (seed >> (k % 56)) as u8).collect();
        if i % 3 == 0 {
            publish(&nats, own.clone(), bytes).await;
        } else {
            let to = format!("cultfit.v1.workouts.{}.energy.x{i}", class.id);
            publish(&service, to, bytes).await;
        }
    }
    publish(&service, own.clone(), vec![b'{'; 1 << 16]).await;
    service.flush().await.expect("flush");
    // The session still ranks.
    let good = sample(&class, 3, 10, 70.0, 120.0);
    send_and_expect(&app, &nats, &class, &me, good, 120).await;
    // Two connections (the wearable's and the service's) are not ordered with each other, so the
    // last garbage may be read just after the good sample.
    let garbage_counted = async || {
        counter(&app, &rejected("malformed")).await
            + counter(&app, &rejected("not_participant")).await
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while garbage_counted().await < 3_001.0 && Instant::now() < deadline {
        sleep(Duration::from_millis(100)).await;
    }
    let garbage = garbage_counted().await;
    assert!(
        garbage >= 3_001.0,
        "every piece of garbage was counted: {garbage}"
    );
    let accepted = counter(&app, "cultfit_samples_accepted_total").await;
    assert_eq!(accepted, 3.0, "only the three good samples were accepted");
    assert_eq!(
        app.end_workout(&trainer, &class.id).await.status(),
        StatusCode::OK
    );
}

/// Reads Server-Sent Events from a streaming response.
struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    async fn open(app: &ApiClient, url: &str) -> Self {
        let response = app.client.get(app.url(url)).send().await.expect("open SSE");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap_or(""),
            "text/event-stream"
        );
        Sse {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (name, data), skipping comments; `None` when the stream ends.
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = None;
                let mut data = Value::Null;
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(d).unwrap_or(Value::Null);
                    }
                }
                if let Some(name) = name {
                    return Some((name, data));
                }
                continue;
            }
            let chunk = timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an SSE event within 10 s");
            // The end of the body, or the connection closing, ends the stream.
            let Ok(Some(chunk)) = chunk else { return None };
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Skips events until one named `name`.
    async fn until(&mut self, name: &str) -> Value {
        while let Some((event, data)) = self.next().await {
            if event == name {
                return data;
            }
        }
        panic!("the stream ended before `{name}`");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_sse_a_trainee_waits_then_sees_the_start_frames_and_the_end_with_the_result() {
    let app = fast_ticking_app().await;
    let class = waiting_class(&app, 1).await;
    let trainee = class.trainees[0].clone();
    let trainee = &trainee;
    let joined = joined(&app, trainee, &class.id).await;
    let live_url = joined["live_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{joined}"));
    assert!(live_url.contains("?ticket="), "{joined}");

    // No Authorization header: the ticket is the credential, as in a browser.
    let mut events = Sse::open(&app, live_url).await;
    let waiting = events.until("waiting").await;
    assert_eq!(waiting["participants_waiting"], 1, "{waiting}");
    assert!(waiting["starts_at"].is_string());

    let class = start(&app, class).await;
    events.until("started").await;
    let nats = wearable_client(&joined).await.expect("wearable");
    let me = user_id(trainee).to_owned();
    publish(
        &nats,
        subject(&class.id, &me),
        sample(&class, 0, 1, 80.0, 80.0).to_string(),
    )
    .await;
    nats.flush().await.expect("flush");
    loop {
        let frame = events.until("frame").await;
        if frame["me"]["energy"] == 80 {
            assert_eq!(frame["me"]["rank"], 1);
            assert_eq!(frame["top"][0]["user_id"], me.as_str());
            assert_eq!(frame["around"][0]["energy"], 80);
            break;
        }
    }
    assert_eq!(
        app.end_workout(token(&class.trainer), &class.id)
            .await
            .status(),
        StatusCode::OK
    );
    let ended = events.until("ended").await;
    assert_eq!(ended["result"]["rank"], 1, "{ended}");
    assert_eq!(ended["result"]["energy"], 80, "{ended}");
    assert!(
        events.next().await.is_none(),
        "the stream closes after `ended`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_websocket_a_trainee_waits_then_sees_the_start_frames_and_the_end_with_the_result() {
    let app = fast_ticking_app().await;
    let class = waiting_class(&app, 1).await;
    let trainee = class.trainees[0].clone();
    let trainee = &trainee;
    let joined = joined(&app, trainee, &class.id).await;
    let ws_url = joined["ws_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{joined}"));
    let url = app.url(ws_url).replacen("http://", "ws://", 1);
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket");
    let mut next = async || -> Option<(String, Value)> {
        loop {
            let message = timeout(Duration::from_secs(10), socket.next())
                .await
                .expect("a message within 10 s")?;
            match message.expect("WebSocket read") {
                tokio_tungstenite::tungstenite::Message::Text(text) => {
                    let v: Value = serde_json::from_str(&text).unwrap_or_default();
                    return Some((
                        v["event"].as_str().unwrap_or("").to_owned(),
                        v["data"].clone(),
                    ));
                }
                tokio_tungstenite::tungstenite::Message::Close(_) => return None,
                _ => {}
            }
        }
    };
    let (event, waiting) = next().await.expect("waiting");
    assert_eq!(
        (event.as_str(), &waiting["participants_waiting"]),
        ("waiting", &json!(1))
    );

    let class = start(&app, class).await;
    let nats = wearable_client(&joined).await.expect("wearable");
    let me = user_id(trainee).to_owned();
    publish(
        &nats,
        subject(&class.id, &me),
        sample(&class, 0, 1, 40.0, 40.0).to_string(),
    )
    .await;
    nats.flush().await.expect("flush");
    let mut seen = Vec::new();
    let mut ending = false;
    loop {
        let (event, data) = next().await.expect("stream open until ended");
        if seen.last() != Some(&event) {
            seen.push(event.clone());
        }
        if event == "frame" && data["me"]["energy"] == 40 && !ending {
            ending = true;
            assert_eq!(
                app.end_workout(token(&class.trainer), &class.id)
                    .await
                    .status(),
                StatusCode::OK
            );
        }
        if event == "ended" {
            assert_eq!(data["result"]["energy"], 40, "{data}");
            break;
        }
    }
    assert_eq!(
        seen.first().map(String::as_str),
        Some("started"),
        "{seen:?}"
    );
    assert!(seen.contains(&"frame".to_owned()), "{seen:?}");
    assert!(next().await.is_none(), "the socket closes after `ended`");
    let _ = socket.close(None).await;
}

#[tokio::test]
async fn only_its_trainer_and_booked_trainees_may_follow_a_workout() {
    let app = TestApp::spawn().await;
    let class = live_class(&app, 1).await;
    let other = waiting_class(&app, 0).await;
    let outsider = app.signed_up("trainee").await;
    let other_trainer = app.signed_up("trainer").await;
    let id = &class.id;
    let paths = [
        format!("/api/v1/workouts/{id}/live"),
        format!("/api/v1/workouts/{id}/leaderboard"),
    ];
    for path in &paths {
        for who in [&outsider, &other_trainer] {
            let response = app.get(path, Some(token(who))).await;
            problem(response, StatusCode::FORBIDDEN).await;
        }
        let response = app.get(path, None).await;
        problem(response, StatusCode::UNAUTHORIZED).await;
        let response = app.get(&format!("{path}?ticket=forged"), None).await;
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
    // A ticket is bound to its workout; an access token is not a ticket.
    let ticket: Value = app
        .post_json(
            &format!("/api/v1/workouts/{}/live/tickets", other.id),
            &json!({}),
            Some(token(&other.trainer)),
        )
        .await
        .json()
        .await
        .unwrap_or_default();
    let foreign = ticket["ticket"]
        .as_str()
        .unwrap_or_else(|| panic!("{ticket}"));
    let response = app
        .get(
            &format!("/api/v1/workouts/{id}/live?ticket={foreign}"),
            None,
        )
        .await;
    problem(response, StatusCode::FORBIDDEN).await;
    let access = token(&class.trainees[0]);
    let response = app
        .get(&format!("/api/v1/workouts/{id}/live?ticket={access}"), None)
        .await;
    problem(response, StatusCode::UNAUTHORIZED).await;
    let response = app
        .post_json(
            &format!("/api/v1/workouts/{id}/live/tickets"),
            &json!({}),
            Some(token(&outsider)),
        )
        .await;
    problem(response, StatusCode::FORBIDDEN).await;
    // The WebSocket route applies the same rules before upgrading.
    let url = app
        .url(&format!("/api/v1/workouts/{id}/live/ws?ticket={foreign}"))
        .replacen("http://", "ws://", 1);
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
    // Those who may follow can.
    for who in [&class.trainer, &class.trainees[0]] {
        let response = app
            .get(
                &format!("/api/v1/workouts/{id}/leaderboard"),
                Some(token(who)),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = app
        .get(
            &format!("/api/v1/workouts/{}/leaderboard", uuid::Uuid::new_v4()),
            Some(token(&outsider)),
        )
        .await;
    problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn apps_without_nats_post_energy_batches_into_the_same_pipeline() {
    let app = TestApp::spawn().await;
    let class = waiting_class(&app, 1).await;
    let trainee = token(&class.trainees[0]).to_owned();
    let path = format!("/api/v1/workouts/{}/energy", class.id);
    let batch = |class: &Class| {
        json!({"samples": [
            sample(class, 0, 1, 50.0, 50.0),
            sample(class, 1, 2, 150.0, 60.0),
            sample(class, 1, 3, 60.0, 110.0),
        ]})
    };
    let early = app.post_json(&path, &batch(&class), Some(&trainee)).await;
    let body = problem(early, StatusCode::CONFLICT).await;
    assert_eq!(body["code"], "invalid_state");

    let class = start(&app, class).await;
    let response = app.post_json(&path, &batch(&class), Some(&trainee)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let receipt: Value = response.json().await.unwrap_or_default();
    assert_eq!(
        receipt,
        json!({"accepted": 2, "rejected": 1, "rejections": [{"index": 1, "reason": "rating_out_of_range"}]})
    );
    let me = user_id(&class.trainees[0]).to_owned();
    let board = leaderboard_until(&app, &trainee, &class.id, |b| b["me"]["energy"] == 110).await;
    assert_eq!(board["me"]["energy"], 110, "{board}");
    assert_eq!(energies(&board), vec![(me, 110)]);

    for (body, status) in [
        (json!({"samples": []}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"samples": [{"seq": 1}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"samples": vec![sample(&class, 2, 4, 1.0, 1.0); 1001]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let response = app.post_json(&path, &body, Some(&trainee)).await;
        problem(response, status).await;
    }
    let outsider = app.signed_up("trainee").await;
    for who in [token(&outsider), token(&class.trainer)] {
        let response = app.post_json(&path, &batch(&class), Some(who)).await;
        problem(response, StatusCode::FORBIDDEN).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trainer_ends_the_stream_for_everyone_and_a_cancelled_waiting_room_hears_it() {
    let app = TestApp::spawn().await;
    let class = waiting_class(&app, 1).await;
    let ticket: Value = app
        .post_json(
            &format!("/api/v1/workouts/{}/live/tickets", class.id),
            &json!({}),
            Some(token(&class.trainer)),
        )
        .await
        .json()
        .await
        .unwrap_or_default();
    let mut events = Sse::open(&app, ticket["live_url"].as_str().unwrap_or_default()).await;
    events.until("waiting").await;
    let response = app
        .cancel_workout(
            token(&class.trainer),
            &class.id,
            &json!({"reason": "trainer is ill"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled = events.until("cancelled").await;
    assert_eq!(cancelled["reason"], "trainer is ill");
    assert!(events.next().await.is_none());
    let mut socket = tokio_tungstenite::connect_async(
        app.url(ticket["ws_url"].as_str().unwrap_or_default())
            .replacen("http://", "ws://", 1),
    )
    .await
    .expect("WebSocket")
    .0;
    let first = timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a message");
    let text = first
        .and_then(Result::ok)
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(text.contains("\"cancelled\""), "{text}");
    let _ = socket
        .send(tokio_tungstenite::tungstenite::Message::Close(None))
        .await;
}

crate::cluster::on_both_nats_shapes!(
    when_the_owner_dies_mid_session_the_next_one_replays_the_stream_and_nothing_is_lost,
    super::owner_dies_mid_session
);

async fn owner_dies_mid_session(nats: crate::cluster::NatsShape) {
    use crate::cluster::{Cluster, Role};
    let mut cluster = Cluster::start(nats, &[Role::Api, Role::Worker, Role::Worker]).await;
    let api = cluster.api(0).clone();
    let class = live_class(&api, 2).await;
    let trainer = token(&class.trainer).to_owned();
    let wearables = [class.wearable(0).await, class.wearable(1).await];
    let efforts = [70.0, 40.0];
    let send = async |seconds: std::ops::Range<i64>| {
        for s in seconds {
            for ((trainee, rating), nats) in class.trainees.iter().zip(efforts).zip(&wearables) {
                let energy = rating * (s + 1) as f64;
                let v = sample(&class, s, s as u64 + 1, rating, energy);
                publish(nats, subject(&class.id, user_id(trainee)), v.to_string()).await;
            }
        }
        for nats in &wearables {
            nats.flush().await.expect("flush");
        }
    };
    let totals = |per_second: [i64; 2]| -> Vec<(String, i64)> {
        class
            .trainees
            .iter()
            .zip(per_second)
            .map(|(t, e)| (user_id(t).to_owned(), e))
            .collect()
    };

    send(0..5).await;
    let before = leaderboard_until(&api, &trainer, &class.id, |b| {
        energies(b) == totals([350, 200])
    })
    .await;
    assert_eq!(energies(&before), totals([350, 200]), "{before}");
    let owner = cluster
        .owner_of(&class.id)
        .await
        .unwrap_or_else(|| panic!("no owner"));
    let dead = cluster
        .index_of(&owner)
        .unwrap_or_else(|| panic!("unknown owner {owner}"));
    cluster.kill9(dead);

    // Wearables go on publishing while nobody owns the session: the stream keeps it all.
    send(5..10).await;
    let after = leaderboard_until(&api, &trainer, &class.id, |b| {
        energies(b) == totals([700, 400]) && b["epoch"] != before["epoch"]
    })
    .await;
    assert_eq!(energies(&after), totals([700, 400]), "{after}");
    assert_ne!(
        after["epoch"], before["epoch"],
        "a new owner publishes the frames"
    );
    assert_ne!(cluster.owner_of(&class.id).await, Some(owner));

    let ends_no_earlier = class.started_at + chrono::TimeDelta::seconds(11);
    while Utc::now() < ends_no_earlier {
        sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        api.end_workout(&trainer, &class.id).await.status(),
        StatusCode::OK
    );
    for (trainee, rating) in class.trainees.iter().zip(efforts) {
        let me: Value = api
            .get(
                &format!("/api/v1/workouts/{}/results/me", class.id),
                Some(token(trainee)),
            )
            .await
            .json()
            .await
            .unwrap_or_default();
        let per_second = rating as i64;
        assert_eq!(me["energy"], per_second * 10, "{me}");
        // The curve has every second, from before and after the failover.
        let curve = me["energy_curve"].as_array().cloned().unwrap_or_default();
        let first_ten: Vec<i64> = curve.iter().take(10).filter_map(Value::as_i64).collect();
        let expected: Vec<i64> = (1..=10).map(|s| s * per_second).collect();
        assert_eq!(first_ten, expected, "{me}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cultfit_simulate_runs_a_session_and_every_sent_sample_reaches_the_results() {
    let app = fast_ticking_app().await;
    let cache_home = tempfile::tempdir().expect("a cache directory");
    let simulate = |name: &'static str, extra: &'static [&'static str]| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_cultfit"))
            .args([
                "simulate",
                "--api-url",
                &app.address,
                "--trainees",
                "6",
                "--rate-hz",
                "5",
            ])
            .args(["--duration-secs", "3", "--name", name])
            .args(["--followers", "3", "--websocket-followers", "1"])
            .args(["--seed", "7", "--results-digest"])
            .args(extra)
            .env("CULTFIT_NATS_SECRETS", &app.nats.secrets)
            .env("XDG_CACHE_HOME", cache_home.path())
            .env_remove("RUST_LOG")
            .output()
    };
    let run = simulate("first", &[]).await.expect("run cultfit simulate");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let report: Value =
        serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let sent = report["sent"].as_u64().unwrap_or(0);
    assert!(sent >= 6 * 5 * 3 - 6, "{report}");
    assert_eq!(report["accepted"], sent, "{report}");
    assert_eq!(report["rejected"], 0, "{report}");
    assert_eq!(
        report["latency_samples"], sent,
        "every sample reached a frame: {report}"
    );
    assert_eq!(report["results_missing_energy"], 0, "{report}");
    assert!(stderr.contains("[simulate]"), "it shows progress: {stderr}");
    // Each wearable connected on its own, with its device token, through the auth callout.
    assert!(
        report["publisher"]
            .as_str()
            .is_some_and(|p| p.starts_with("devices")),
        "{report}"
    );
    assert_eq!(
        (
            &report["connect"]["admitted"],
            &report["connect"]["refused"]
        ),
        (&json!(6), &json!(0)),
        "{report}"
    );
    // Three trainees followed, two over SSE and one over WebSocket, and got frames all along
    // (5 ticks a second for 3 s).
    let apps = &report["app_streams"];
    assert_eq!(
        (
            &apps["followers"],
            &apps["websocket_followers"],
            &apps["failed"]
        ),
        (&json!(3), &json!(1), &json!(0)),
        "{report}"
    );
    let frames = apps["frames_received"].as_u64().unwrap_or(0);
    let over_websocket = apps["frames_received_over_websocket"].as_u64().unwrap_or(0);
    assert!(
        over_websocket >= 10 && frames - over_websocket >= 2 * 10,
        "{report}"
    );

    // A second run under the same name reuses the accounts (their cached tokens, in
    // $XDG_CACHE_HOME); as a trusted publisher it shares service connections, and says so.
    let again = simulate("first", &["--trusted-publisher", "--connections", "2"])
        .await
        .expect("run cultfit simulate again");
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let second: Value = serde_json::from_slice(&again.stdout).unwrap_or_default();
    assert!(
        second["publisher"]
            .as_str()
            .is_some_and(|p| p.starts_with("trusted") && p.contains("not how wearables connect")),
        "{second}"
    );
    assert_eq!(second["results_missing_energy"], 0, "{second}");
    // The same script (seed, trainees, rate, duration) gives the same results, whatever carried it.
    assert!(report["results_digest"].is_string(), "{report}");
    assert_eq!(report["results_digest"], second["results_digest"]);

    let unreachable = tokio::process::Command::new(env!("CARGO_BIN_EXE_cultfit"))
        .args([
            "simulate",
            "--api-url",
            "http://127.0.0.1:9",
            "--trainees",
            "1",
        ])
        .env("CULTFIT_NATS_SECRETS", &app.nats.secrets)
        .env("XDG_CACHE_HOME", cache_home.path())
        .output()
        .await
        .expect("run cultfit simulate");
    assert!(!unreachable.status.success());
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("is the service running"));

    // Without the bus secrets it cannot watch the frames, and says what it needs.
    let no_secrets = tokio::process::Command::new(env!("CARGO_BIN_EXE_cultfit"))
        .args(["simulate", "--api-url", &app.address, "--trainees", "1"])
        .env_remove("CULTFIT_NATS_SECRETS")
        .env("XDG_CACHE_HOME", cache_home.path())
        .output()
        .await
        .expect("run cultfit simulate");
    assert!(!no_secrets.status.success());
    assert!(String::from_utf8_lossy(&no_secrets.stderr).contains("CULTFIT_NATS_SECRETS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cultfit_simulate_reuses_the_tokens_it_cached_under_the_same_name() {
    let app = fast_ticking_app().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cache = dir.path().join("tokens.json");
    let cache_arg = cache.to_str().expect("a UTF-8 path").to_owned();
    let simulate = |cache: &[&str]| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_cultfit"))
            .args(["simulate", "--api-url", &app.address])
            .args(["--trainees", "4", "--rate-hz", "5", "--duration-secs", "2"])
            .args(["--name", "cached"])
            .args(cache)
            .env("CULTFIT_NATS_SECRETS", &app.nats.secrets)
            .env_remove("RUST_LOG")
            .output()
    };
    // Runs it; its report, after checking that the session itself went right.
    let completed = |run: std::process::Output| {
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        assert!(run.status.success(), "{stderr}");
        let report: Value =
            serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
        assert!(report["sent"].as_u64().unwrap_or(0) > 0, "{report}");
        assert_eq!(report["accepted"], report["sent"], "{report}");
        assert_eq!(report["results_missing_energy"], 0, "{report}");
        (report, stderr)
    };
    let accounts = |report: &Value| {
        let setup = &report["setup"];
        [
            "accounts_cached",
            "accounts_refreshed",
            "accounts_logged_in",
            "accounts_registered",
        ]
        .map(|k| setup[k].as_u64().unwrap_or(u64::MAX))
    };

    // The first run signs everyone up (a trainer and 4 trainees) and caches their tokens.
    let (first, stderr) = completed(
        simulate(&["--token-cache", &cache_arg])
            .await
            .expect("run cultfit simulate"),
    );
    assert_eq!(accounts(&first), [0, 0, 0, 5], "{first}");
    assert_eq!(first["setup"]["token_cache"], cache_arg, "{first}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&cache)
        .expect("the cache file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "only its owner may read the tokens");
    // Beside the JSON on stdout, a summary table on stderr.
    for row in [
        "samples ",
        "results missing energy ",
        "sample → frame ",
        "connect storm ",
    ] {
        assert!(stderr.contains(row), "no {row:?} row: {stderr}");
    }

    // The second reuses every cached token: no sign-up, no log-in.
    let (second, _) = completed(
        simulate(&["--token-cache", &cache_arg])
            .await
            .expect("run cultfit simulate again"),
    );
    assert_eq!(accounts(&second), [5, 0, 0, 0], "{second}");

    // Tokens the service refuses (signed with another secret, far from expiry) are not used:
    // each account exchanges its cached refresh token instead, and the cache gets the new pair.
    let mut file: Value =
        serde_json::from_slice(&std::fs::read(&cache).expect("read the cache")).expect("JSON");
    let now = Utc::now().timestamp();
    for entry in file["accounts"]
        .as_object_mut()
        .expect("accounts")
        .values_mut()
    {
        let claims = json!({"sub": entry["user_id"], "role": "trainee", "iss": "cultfit",
                            "aud": "cultfit-api", "iat": now, "exp": now + 3600});
        entry["access_token"] = json!(crate::helpers::sign_hs256(
            &claims,
            "another service's secret, 32 bytes+"
        ));
    }
    std::fs::write(&cache, file.to_string()).expect("write the cache");
    let (third, _) = completed(
        simulate(&["--token-cache", &cache_arg])
            .await
            .expect("run cultfit simulate a third time"),
    );
    assert_eq!(accounts(&third), [0, 5, 0, 0], "{third}");
    let (fourth, _) = completed(
        simulate(&["--token-cache", &cache_arg])
            .await
            .expect("run cultfit simulate a fourth time"),
    );
    assert_eq!(accounts(&fourth), [5, 0, 0, 0], "{fourth}");

    // Without the cache every account logs in with its password.
    let (fifth, _) = completed(
        simulate(&["--no-token-cache"])
            .await
            .expect("run cultfit simulate without the cache"),
    );
    assert_eq!(accounts(&fifth), [0, 0, 5, 0], "{fifth}");
    assert!(fifth["setup"]["token_cache"].is_null(), "{fifth}");
}

/// A class bigger than one process's sockets: the simulator keeps the setup and the frames, and
/// spreads the device connections over wearable processes and over the servers of the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cultfit_simulate_spreads_the_wearables_over_processes_and_servers() {
    let app = TestApp::spawn_on(
        crate::helpers::NatsBus::start_cluster(),
        crate::helpers::Options {
            args: &["--tick-ms", "200"],
            ..Default::default()
        },
    )
    .await;
    let cache_home = tempfile::tempdir().expect("a cache directory");
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_cultfit"))
        .args(["simulate", "--api-url", &app.address, "--trainees", "9"])
        .args(["--rate-hz", "5", "--duration-secs", "3", "--name", "spread"])
        .args(["--wearable-processes", "2", "--seed", "7"])
        .env("CULTFIT_NATS_SECRETS", &app.nats.secrets)
        .env("XDG_CACHE_HOME", cache_home.path())
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("run cultfit simulate");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let report: Value =
        serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));

    // Every sample the script has was sent, accepted, shown and stored.
    let sent = report["sent"].as_u64().unwrap_or(0);
    assert!(sent >= 9 * 5 * 3 - 9, "{report}");
    assert_eq!(report["scheduled"], sent, "{report}");
    assert_eq!(report["accepted"], sent, "{report}");
    assert_eq!(report["latency_samples"], sent, "{report}");
    assert_eq!(report["results_missing_energy"], 0, "{report}");

    // Two wearable processes, each with its share, each reporting what it sent and cost.
    let processes = report["wearable_processes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(processes.len(), 2, "{report}");
    let shares: Vec<u64> = processes
        .iter()
        .map(|p| p["wearables"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(shares, [5, 4], "{report}");
    for p in &processes {
        assert_eq!(p["failed"], false, "{p}");
        assert_eq!(p["connect"]["refused"], 0, "{p}");
        assert!(
            p["cost"]["peak_rss_mib"].as_f64().unwrap_or(0.0) > 0.0,
            "{p}"
        );
    }
    let by_processes: u64 = processes.iter().filter_map(|p| p["sent"].as_u64()).sum();
    assert_eq!(by_processes, sent, "{report}");
    // The simulator's cost counts itself and both wearable processes.
    assert_eq!(
        report["simulator_memory"].as_array().map(Vec::len),
        Some(3),
        "{report}"
    );

    // A third of the wearables on each server of the cluster.
    assert_eq!(report["connect"]["admitted"], 9, "{report}");
    let per_server = report["connect"]["per_server"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert_eq!(per_server.len(), 3, "{report}");
    assert!(per_server.values().all(|c| c == 3), "{report}");
    assert!(stderr.contains("wearable processes"), "{stderr}");
}

/// A wearable process that dies mid-session fails the run, and the report says which and how
/// many samples went unsent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cultfit_simulate_fails_when_a_wearable_process_dies() {
    let app = fast_ticking_app().await;
    let cache_home = tempfile::tempdir().expect("a cache directory");
    let simulate = |extra: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_cultfit"));
        command
            .args(["simulate", "--api-url", &app.address, "--name", "dies"])
            .args(extra)
            .env("CULTFIT_NATS_SECRETS", &app.nats.secrets)
            .env("XDG_CACHE_HOME", cache_home.path())
            .env_remove("RUST_LOG")
            .kill_on_drop(true);
        command
    };

    // Bad requests are refused before anything starts.
    for (extra, says) in [
        (
            &["--trainees", "2", "--wearable-processes", "3"][..],
            "more than the 2 wearables",
        ),
        (
            &["--wearable-processes", "2", "--trusted-publisher"][..],
            "cannot be used with",
        ),
        (&["--wearable-processes", "0"][..], "0 is not in 1..=64"),
    ] {
        let refused = simulate(extra)
            .output()
            .await
            .expect("run cultfit simulate");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{extra:?}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
    }

    let mut run = simulate(&["--trainees", "4", "--rate-hz", "5", "--duration-secs", "5"])
        .args(["--wearable-processes", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start cultfit simulate");
    let simulator = run.id().expect("its pid");
    let mut stdout = run.stdout.take().expect("its stdout");
    let reading = tokio::spawn(async move {
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut out)
            .await
            .map(|_| out)
    });
    let mut stderr = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
        run.stderr.take().expect("its stderr"),
    ));
    let mut said = String::new();
    while let Ok(Ok(Some(line))) = timeout(Duration::from_secs(60), stderr.next_line()).await {
        said.push_str(&line);
        said.push('\n');
        if line.contains("started: workout") {
            break;
        }
    }
    assert!(said.contains("started: workout"), "{said}");
    let shards = wearable_processes_of(simulator);
    assert_eq!(shards.len(), 2, "{said}");
    let killed = std::process::Command::new("kill")
        .args(["-9", &shards[0].to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());

    let status = timeout(Duration::from_secs(120), run.wait())
        .await
        .expect("the simulator ends")
        .expect("its status");
    while let Ok(Some(line)) = stderr.next_line().await {
        said.push_str(&line);
        said.push('\n');
    }
    let out = reading.await.expect("stdout").expect("read stdout");
    assert!(!status.success(), "{said}");
    assert!(said.contains("FAILED"), "{said}");
    let report: Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}: {said}"));
    let failed: Vec<&Value> = report["wearable_processes"]
        .as_array()
        .map(|list| list.iter().filter(|p| p["failed"] == true).collect())
        .unwrap_or_default();
    assert_eq!(failed.len(), 1, "{report}");
    assert_eq!(failed[0]["pid"], shards[0], "{report}");
    assert!(
        report["sent"].as_u64().unwrap_or(u64::MAX) < report["scheduled"].as_u64().unwrap_or(0),
        "{report}"
    );
}

/// The wearable processes (`cultfit simulate-shard`) the simulator `parent` started.
fn wearable_processes_of(parent: u32) -> Vec<u32> {
    let mut found: Vec<u32> = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid == Some(parent) && String::from_utf8_lossy(&cmdline).contains("simulate-shard")
        })
        .collect();
    found.sort_unstable();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_open_live_streams_instead_of_waiting_for_them() {
    let mut app = TestApp::spawn().await;
    let class = waiting_class(&app, 1).await;
    let joined = joined(&app, &class.trainees[0], &class.id).await;
    let mut events = Sse::open(&app, joined["live_url"].as_str().unwrap_or_default()).await;
    events.until("waiting").await;
    // `terminate` fails the test if the process takes more than 10 s to stop.
    let status = tokio::task::block_in_place(|| app.terminate());
    assert!(status.success(), "{status}");
    assert!(events.next().await.is_none(), "the stream ended");
}

/// A class starting is a herd of stream opens: they share one read of the workout and its
/// roster per node instead of one each (what exhausted the pool at 1 000 apps before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_herd_of_stream_opens_shares_one_read_of_the_workout() {
    const APPS: usize = 20; // the capacity of `new_workout`
    let app = TestApp::spawn().await;
    let class = live_class(&app, APPS).await;
    let before = counter(&app, "cultfit_live_gate_reads_total").await;
    let opens = class.joins.iter().map(|join| {
        let url = join["live_url"].as_str().unwrap_or_default().to_owned();
        let app = &app;
        async move {
            let mut events = Sse::open(app, &url).await;
            events.until("started").await;
        }
    });
    futures_util::future::join_all(opens).await;
    let reads = counter(&app, "cultfit_live_gate_reads_total").await - before;
    assert!(
        (1.0..APPS as f64 / 4.0).contains(&reads),
        "{APPS} stream opens read the workout {reads} times"
    );
    // A place freed and taken since the read counts; no place at all does not.
    assert_eq!(
        app.cancel_booking(token(&class.trainees[0]), &class.id)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let late = app.signed_up("trainee").await;
    assert_eq!(
        app.book(token(&late), &class.id).await.status(),
        StatusCode::CREATED
    );
    let ticket = app
        .post_json(
            &format!("/api/v1/workouts/{}/live/tickets", class.id),
            &json!({}),
            Some(token(&late)),
        )
        .await;
    assert_eq!(
        ticket.status(),
        StatusCode::OK,
        "a place booked a moment ago counts"
    );
    let stranger = app.signed_up("trainee").await;
    let refused = app
        .post_json(
            &format!("/api/v1/workouts/{}/live/tickets", class.id),
            &json!({}),
            Some(token(&stranger)),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

/// More WebSocket followers than followers is a mistake in the command, said plainly before
/// anything is signed up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cultfit_simulate_refuses_more_websocket_followers_than_followers() {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_cultfit"))
        .args([
            "simulate",
            "--api-url",
            "http://127.0.0.1:9",
            "--trainees",
            "3",
        ])
        .args(["--rate-hz", "1", "--duration-secs", "1", "--name", "ws"])
        .args(["--followers", "1", "--websocket-followers", "2"])
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("run cultfit simulate");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(
        stderr.contains("--websocket-followers 2 is more than the 1 --followers"),
        "{stderr}"
    );
}

/// Registers a trainee named `full_name`, books and joins `id`.
async fn named_trainee_in(app: &ApiClient, id: &str, full_name: &str) -> Value {
    let mut body = crate::helpers::registration("trainee");
    body["full_name"] = json!(full_name);
    let response = app.register(&body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let trainee: Value = response.json().await.expect("session json");
    let booked = app.book(token(&trainee), id).await;
    assert_eq!(booked.status(), StatusCode::CREATED);
    let joined = app.join_workout(token(&trainee), id).await;
    assert_eq!(joined.status(), StatusCode::OK);
    trainee
}

/// (user_id, display_name) of every place in a leaderboard's top, sorted.
fn named_places(board: &Value) -> Vec<(String, String)> {
    let mut places: Vec<(String, String)> = board["top"]
        .as_array()
        .map(|top| {
            top.iter()
                .map(|p| {
                    let who = p["user_id"].as_str().unwrap_or("-").to_owned();
                    (who, p["display_name"].as_str().unwrap_or("").to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    places.sort();
    places
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_reach_the_board_through_the_roster_late_joiners_too_and_hidden_ones_stay_anonymous()
{
    // Frames name board slots; the api node asks the owner who holds them when they change.
    let app = fast_ticking_app().await;
    let class = waiting_class(&app, 0).await;
    let asha = named_trainee_in(&app, &class.id, "Asha Verma").await;
    let hidden = named_trainee_in(&app, &class.id, "Hidden Person").await;
    let response = app
        .patch_me(token(&hidden), &json!({"hide_from_leaderboard": true}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let class = start(&app, class).await;
    let trainer = token(&class.trainer);
    let expected = |named: &[&Value]| {
        let mut places: Vec<(String, String)> = named
            .iter()
            .map(|t| {
                (
                    user_id(t).to_owned(),
                    t["user"]["full_name"].as_str().unwrap_or("").to_owned(),
                )
            })
            .chain([("-".to_owned(), "Anonymous".to_owned())])
            .collect();
        places.sort();
        places
    };
    let before = expected(&[&asha]);
    let board = leaderboard_until(&app, trainer, &class.id, |b| named_places(b) == before).await;
    assert_eq!(named_places(&board), before, "{board}");

    // A trainee who joins the live session takes a new slot: the next frames name them too.
    let ravi = named_trainee_in(&app, &class.id, "Ravi Kumar").await;
    let after = expected(&[&asha, &ravi]);
    let board = leaderboard_until(&app, trainer, &class.id, |b| named_places(b) == after).await;
    assert_eq!(named_places(&board), after, "{board}");
    assert_eq!(board["participants"], 3);

    // The hidden trainee sees themself (and nobody else sees who they are).
    let own = leaderboard(&app, token(&hidden), &class.id).await;
    let me_in_top = own["top"].as_array().into_iter().flatten().any(|p| {
        p["user_id"].as_str() == Some(user_id(&hidden)) && p["display_name"] == "Anonymous"
    });
    assert!(me_in_top, "{own}");
    let pages = counter(&app, "cultfit_live_roster_pages_total{outcome=\"ok\"}").await;
    assert!(pages >= 2.0, "the roster was asked for as it grew: {pages}");
}
