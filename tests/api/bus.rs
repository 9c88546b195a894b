//! The locked bus (DESIGN §7): a nats-server configured by `cultfit nats-config`, the auth
//! callout served by the api node, wearables admitted with their device tokens. Every attempt
//! here is a real NATS connection; refusals come from the server itself.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use crate::helpers::{
    JWT_SECRET, NatsBus, TestApp, database_url, device_client, sign_hs256, token, user_id,
    wearable_client,
};
use crate::live::{
    energies, fast_ticking_app, leaderboard_until, live_class, sample, subject, waiting_class,
};
use async_nats::ConnectErrorKind;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};
use uuid::Uuid;

/// A device token as `join` issues them, with chosen claims (signed with the app's secret).
fn device_token(user: &str, workout: &str, exp: i64) -> String {
    sign_hs256(
        &json!({"sub": user, "wid": workout, "iss": "cultfit", "aud": "cultfit-device", "exp": exp}),
        JWT_SECRET,
    )
}

/// A connection with `token` whose server errors and disconnections are collected.
async fn watched_device(
    url: &str,
    token: &str,
) -> (async_nats::Client, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = async_nats::ConnectOptions::with_token(token.to_owned())
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(event.to_string().to_lowercase());
            }
        })
        .connect(url)
        .await
        .expect("the device token is admitted");
    (client, rx)
}

/// The next collected event containing `needle`, within 5 s.
async fn expect_event(events: &mut mpsc::UnboundedReceiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, events.recv()).await {
            Ok(Some(event)) if event.contains(needle) => return event,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("no event containing {needle:?} within 5 s"),
        }
    }
}

fn is_refused(result: &Result<async_nats::Client, async_nats::ConnectError>) -> bool {
    matches!(result, Err(err) if err.kind() == ConnectErrorKind::AuthorizationViolation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anything_but_a_current_device_token_of_a_booked_trainee_is_refused_at_connect() {
    let app = fast_ticking_app().await;
    let class = waiting_class(&app, 2).await;
    let url = app.nats.url.clone();
    let (me, workout) = (user_id(&class.trainees[0]), class.id.as_str());
    let now = chrono::Utc::now().timestamp();
    let join = &class.joins[0];
    let live_ticket = join["live_url"]
        .as_str()
        .and_then(|u| u.split_once("ticket="))
        .map(|(_, t)| t.to_owned())
        .expect("a ticket in live_url");
    // The second trainee gives up the place: their device token, once valid, is refused now.
    assert_eq!(
        app.cancel_booking(token(&class.trainees[1]), workout)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let no_longer_booked = class.joins[1]["device_token"].as_str().unwrap().to_owned();
    let wrong_audience = sign_hs256(
        &json!({"sub": me, "wid": workout, "iss": "cultfit", "aud": "cultfit-live", "exp": now + 600}),
        JWT_SECRET,
    );
    let other_secret = sign_hs256(
        &json!({"sub": me, "wid": workout, "iss": "cultfit", "aud": "cultfit-device", "exp": now + 600}),
        "another-secret-another-secret-another",
    );
    let cases = [
        ("garbage", "garbage".to_owned()),
        ("an access token", token(&class.trainees[0]).to_owned()),
        ("a live ticket", live_ticket),
        ("a device token signed with another key", other_secret),
        ("a device token for another audience", wrong_audience),
        (
            "an expired device token",
            device_token(me, workout, now - 10),
        ),
        (
            "a device token for a workout that does not exist",
            device_token(me, &Uuid::new_v4().to_string(), now + 600),
        ),
        ("a trainee who cancelled the booking", no_longer_booked),
    ];
    assert!(
        is_refused(&async_nats::connect(&url).await),
        "an anonymous connection"
    );
    let wrong_password = async_nats::ConnectOptions::with_user_and_password(
        "cultfit".to_owned(),
        "not-the-password-not-the-password".to_owned(),
    )
    .connect(&url)
    .await;
    assert!(
        is_refused(&wrong_password),
        "the service user with a wrong password"
    );
    for (case, token) in cases {
        assert!(is_refused(&device_client(&url, &token).await), "{case}");
    }
    // The genuine token of a booked trainee is admitted, and the service is unharmed.
    assert!(wearable_client(join).await.is_ok());
    assert_eq!(
        app.get("/health/ready", None).await.status(),
        StatusCode::OK
    );
    let refusals = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .unwrap_or_default();
    for outcome in ["no_token", "invalid_token", "expired", "not_registered"] {
        assert!(
            refusals.contains(&format!(
                "cultfit_bus_admissions_total{{outcome=\"{outcome}\"}}"
            )),
            "{outcome} is counted: {refusals}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wearable_publishes_its_own_energy_and_nothing_else_and_the_forged_cancel_fails() {
    let app = fast_ticking_app().await;
    let class = live_class(&app, 2).await;
    let trainer = token(&class.trainer).to_owned();
    let (me, other) = (user_id(&class.trainees[0]), user_id(&class.trainees[1]));
    let other_workout = Uuid::new_v4().to_string();
    let (wearable, mut events) = watched_device(
        &app.nats.url,
        class.joins[0]["device_token"].as_str().unwrap(),
    )
    .await;
    let service = app.nats.service_client().await;
    let owners = async_nats::jetstream::new(service.clone())
        .get_key_value("owners")
        .await
        .expect("the owners bucket");
    let lease_key = format!("workouts.{}", class.id);
    let lease = owners.entry(&lease_key).await.expect("read the lease");
    assert!(lease.is_some(), "the live workout has an owner");

    // Its own subject reaches the leaderboard.
    let to_me = subject(&class.id, me);
    wearable
        .publish(
            to_me.clone(),
            sample(&class, 0, 1, 50.0, 50.0).to_string().into(),
        )
        .await
        .unwrap();
    wearable.flush().await.unwrap();
    let expected = vec![(me.to_owned(), 50), (other.to_owned(), 0)];
    let board = leaderboard_until(&app, &trainer, &class.id, |b| energies(b) == expected).await;
    assert_eq!(energies(&board), expected, "{board}");

    // The attack of the issue, and everything else a wearable might try to publish.
    let trainer_id = user_id(&class.trainer);
    let mut kv_delete = async_nats::HeaderMap::new();
    kv_delete.insert("KV-Operation", "DEL");
    let forged: Vec<(String, Vec<u8>, Option<async_nats::HeaderMap>)> = vec![
        (
            format!("cultfit.v1.workouts.{}.cmd", class.id),
            json!({"type": "cancel", "by": trainer_id})
                .to_string()
                .into(),
            None,
        ),
        (
            format!("cultfit.v1.trainees.{me}.cmd"),
            json!({"type": "leave", "workout_id": class.id})
                .to_string()
                .into(),
            None,
        ),
        (
            subject(&class.id, other),
            sample(&class, 0, 1, 100.0, 100.0).to_string().into(),
            None,
        ),
        (
            subject(&other_workout, me),
            sample(&class, 0, 1, 100.0, 100.0).to_string().into(),
            None,
        ),
        (
            format!("$KV.owners.{lease_key}"),
            Vec::new(),
            Some(kv_delete),
        ),
        ("$JS.API.STREAM.DELETE.ENERGY".to_owned(), Vec::new(), None),
        (
            format!("cultfit.v1.workouts.{}.live", class.id),
            b"{}".to_vec(),
            None,
        ),
    ];
    for (to, payload, headers) in forged {
        match headers {
            Some(headers) => wearable
                .publish_with_headers(to.clone(), headers, payload.into())
                .await
                .unwrap(),
            None => wearable.publish(to.clone(), payload.into()).await.unwrap(),
        }
        let refused = expect_event(&mut events, "permissions violation").await;
        assert!(refused.contains(&to.to_lowercase()), "{to}: {refused}");
    }
    // Eavesdropping: the subscription is refused, and no frame reaches it while frames flow.
    let mut spy = wearable.subscribe("cultfit.v1.>").await.unwrap();
    expect_event(&mut events, "permissions violation for subscription").await;
    let mut frames = service
        .subscribe(format!("cultfit.v1.workouts.{}.live", class.id))
        .await
        .unwrap();
    use futures_util::StreamExt as _;
    assert!(
        timeout(Duration::from_secs(5), frames.next()).await.is_ok(),
        "frames are being published"
    );
    assert!(
        timeout(Duration::from_millis(1500), spy.next())
            .await
            .is_err(),
        "nothing reaches the refused subscription"
    );

    // Nothing happened: the workout is live, its lease and stream are intact, and the wearable
    // (still connected: a refused publish is not a disconnect) goes on counting.
    let workout: Value = app
        .get_workout(&trainer, &class.id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(workout["state"], "live", "{workout}");
    assert_eq!(
        owners.entry(&lease_key).await.unwrap().map(|e| e.value),
        lease.map(|e| e.value)
    );
    assert!(
        async_nats::jetstream::new(service)
            .get_stream("ENERGY")
            .await
            .is_ok()
    );
    wearable
        .publish(to_me, sample(&class, 1, 2, 50.0, 100.0).to_string().into())
        .await
        .unwrap();
    wearable.flush().await.unwrap();
    let expected = vec![(me.to_owned(), 100), (other.to_owned(), 0)];
    let board = leaderboard_until(&app, &trainer, &class.id, |b| energies(b) == expected).await;
    assert_eq!(
        energies(&board),
        expected,
        "only its own samples counted: {board}"
    );
    assert_eq!(
        app.get("/health/ready", None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wearable_gets_jetstream_acks_for_its_samples_in_its_own_inbox_and_no_one_elses() {
    let app = fast_ticking_app().await;
    let class = live_class(&app, 2).await;
    let trainer = token(&class.trainer).to_owned();
    let (me, other) = (user_id(&class.trainees[0]), user_id(&class.trainees[1]));
    let wearable = class.wearable(0).await;
    // The inbox `join` named: publishing with a reply there gets JetStream's ack once stored.
    let ack = async_nats::jetstream::new(wearable.clone())
        .publish(
            subject(&class.id, me),
            sample(&class, 0, 1, 40.0, 40.0).to_string().into(),
        )
        .await
        .expect("the publish is sent")
        .await
        .expect("JetStream acknowledges the sample");
    assert_eq!(ack.stream, "ENERGY");
    let expected = vec![(me.to_owned(), 40), (other.to_owned(), 0)];
    let board = leaderboard_until(&app, &trainer, &class.id, |b| energies(b) == expected).await;
    assert_eq!(energies(&board), expected, "{board}");

    // Another trainee's inbox is not its to read.
    let (spy, mut events) = watched_device(
        &app.nats.url,
        class.joins[0]["device_token"].as_str().unwrap(),
    )
    .await;
    let _sub = spy
        .subscribe(format!(
            "{}.>",
            class.joins[1]["inbox_prefix"].as_str().unwrap()
        ))
        .await
        .unwrap();
    expect_event(&mut events, "permissions violation for subscription").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_payload_from_a_wearable_ends_its_connection() {
    let app = TestApp::spawn().await;
    let class = waiting_class(&app, 1).await;
    let (wearable, mut events) = watched_device(
        &app.nats.url,
        class.joins[0]["device_token"].as_str().unwrap(),
    )
    .await;
    let to = subject(&class.id, user_id(&class.trainees[0]));
    // The client knows the server's 1 MB limit, not the devices' 4 KiB one: the server judges.
    let _ = wearable.publish(to, vec![b' '; 8 * 1024].into()).await;
    let _ = wearable.flush().await;
    expect_event(&mut events, "maximum payload").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_closes_a_wearable_connection_when_its_device_token_expires() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        args: &["--auto-end-grace-secs", "90"],
        ..Default::default()
    })
    .await;
    let class = waiting_class(&app, 1).await;
    let me = user_id(&class.trainees[0]);

    // `join` issues tokens valid until the scheduled end plus the auto-end grace.
    let issued = class.joins[0]["device_token"].as_str().unwrap();
    let payload = issued.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let workout: Value = app
        .get_workout(token(&class.trainer), &class.id)
        .await
        .json()
        .await
        .unwrap();
    let starts_at = crate::helpers::instant(&workout["starts_at"]);
    let minutes = workout["duration_minutes"].as_i64().unwrap();
    assert_eq!(
        claims["exp"].as_i64(),
        Some(starts_at.timestamp() + minutes * 60 + 90),
        "{claims}"
    );

    // A token that expires in two seconds: admitted, then cut off by the server.
    let soon = chrono::Utc::now().timestamp() + 2;
    let (wearable, mut events) =
        watched_device(&app.nats.url, &device_token(me, &class.id, soon)).await;
    assert_eq!(
        wearable.connection_state(),
        async_nats::connection::State::Connected
    );
    let closed = timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Some(event) if event.contains("expired") || event.contains("disconnected") => {
                    return event;
                }
                Some(_) => {}
                None => return String::new(),
            }
        }
    })
    .await
    .expect("the server closes the connection within 10 s of the expiry");
    assert!(!closed.is_empty());
    // And it cannot come back with the same token.
    while chrono::Utc::now().timestamp() <= soon {
        sleep(Duration::from_millis(100)).await;
    }
    assert!(is_refused(
        &device_client(&app.nats.url, &device_token(me, &class.id, soon)).await
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_jetstream_syncing_every_write_samples_are_acknowledged_and_ranked() {
    let nats = NatsBus::start_with(&["--jetstream-sync", "always"]);
    assert!(nats.config(0).contains("sync_interval: always"));
    let app = TestApp::spawn_on(
        nats,
        crate::helpers::Options {
            args: &["--tick-ms", "200"],
            ..Default::default()
        },
    )
    .await;
    let class = live_class(&app, 1).await;
    let me = user_id(&class.trainees[0]);
    let ack = async_nats::jetstream::new(class.wearable(0).await)
        .publish(
            subject(&class.id, me),
            sample(&class, 0, 1, 40.0, 40.0).to_string().into(),
        )
        .await
        .expect("the publish is sent")
        .await
        .expect("JetStream acknowledges the sample once synced");
    assert_eq!(ack.stream, "ENERGY");
    let expected = vec![(me.to_owned(), 40)];
    let trainer = token(&class.trainer);
    let board = leaderboard_until(&app, trainer, &class.id, |b| energies(b) == expected).await;
    assert_eq!(energies(&board), expected, "{board}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_callout_encrypted_wearables_are_still_admitted_and_strangers_refused() {
    let nats = NatsBus::start_with(&["--encrypt-callout"]);
    let config = nats.config(0);
    assert!(config.contains("xkey:"), "{config}");
    let app = TestApp::spawn_on(nats, crate::helpers::Options::default()).await;
    let class = waiting_class(&app, 1).await;
    assert!(wearable_client(&class.joins[0]).await.is_ok());
    assert!(is_refused(&async_nats::connect(&app.nats.url).await));
    assert!(is_refused(
        &device_client(&app.nats.url, token(&class.trainees[0])).await
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_a_thousand_wearables_connecting_at_once_is_admitted() {
    const WEARABLES: usize = 1_000;
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let workout = app
        .created_workout(
            token(&trainer),
            &crate::helpers::new_workout(crate::helpers::soon()),
        )
        .await;
    let workout_id: Uuid = workout["id"].as_str().unwrap().parse().unwrap();
    // Arranged in the database (a thousand sign-ups and bookings would take minutes of argon2
    // and are covered elsewhere); the connections themselves go through the real callout.
    let trainees: Vec<Uuid> = (0..WEARABLES).map(|_| Uuid::new_v4()).collect();
    let mut db = sqlx::PgConnection::connect(&database_url(&app.db_name))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO users (id, role, full_name, email, mobile, password_hash)
         SELECT id, 'trainee', 'Storm', id::text || '@storm.test', '+919800000000', 'x'
         FROM UNNEST($1::uuid[]) AS t(id)",
    )
    .bind(&trainees)
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO registrations (workout_id, trainee_id, status)
         SELECT $1, id, 'booked' FROM UNNEST($2::uuid[]) AS t(id)",
    )
    .bind(workout_id)
    .bind(&trainees)
    .execute(&mut db)
    .await
    .unwrap();

    let exp = chrono::Utc::now().timestamp() + 3_600;
    let started = Instant::now();
    let connections = futures_util::future::join_all(trainees.iter().map(|trainee| {
        let token = device_token(&trainee.to_string(), &workout_id.to_string(), exp);
        let url = app.nats.url.clone();
        async move {
            let begun = Instant::now();
            let client = device_client(&url, &token).await;
            (client, begun.elapsed())
        }
    }))
    .await;
    let elapsed = started.elapsed();
    let mut times: Vec<Duration> = connections.iter().map(|(_, t)| *t).collect();
    times.sort();
    let refused: Vec<String> = connections
        .iter()
        .filter_map(|(c, _)| c.as_ref().err().map(ToString::to_string))
        .collect();
    eprintln!(
        "{WEARABLES} wearables admitted in {elapsed:?}; connect p50 {:?}, p99 {:?}",
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
    assert!(
        refused.is_empty(),
        "{} refused: {:?}",
        refused.len(),
        &refused[..refused.len().min(5)]
    );

    // Each one can publish its own sample, and the ENERGY stream captures all of them.
    for ((client, _), trainee) in connections.iter().zip(&trainees) {
        let client = client.as_ref().unwrap();
        let payload = json!({"seq": 1, "ts": 0, "rating": 10, "energy": 1}).to_string();
        client
            .publish(
                subject(&workout_id.to_string(), &trainee.to_string()),
                payload.into(),
            )
            .await
            .unwrap();
    }
    for (client, _) in &connections {
        client.as_ref().unwrap().flush().await.unwrap();
    }
    let stream = async_nats::jetstream::new(app.nats.service_client().await)
        .get_stream("ENERGY")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stored = 0;
    while Instant::now() < deadline {
        stored = stream.get_info().await.unwrap().state.messages;
        if stored >= WEARABLES as u64 {
            break;
        }
        sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored, WEARABLES as u64);
}

/// Runs `cultfit serve` against `nats_url` (with `secrets`, if any) until it exits (it must,
/// within 20 s); returns whether it succeeded and everything it printed.
async fn serve_until_exit(nats_url: &str, secrets: Option<&std::path::Path>) -> (bool, String) {
    let db = database_url(&format!("cultfit_test_{}", Uuid::new_v4().simple()));
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_cultfit"));
    command
        .args(["serve", "--http-addr", "127.0.0.1:0", "--no-migrate"])
        .env("DATABASE_URL", db)
        .env("NATS_URL", nats_url)
        .env("CULTFIT_JWT_SECRET", JWT_SECRET)
        .env_remove("CULTFIT_NATS_SECRETS")
        .kill_on_drop(true);
    if let Some(secrets) = secrets {
        command.env("CULTFIT_NATS_SECRETS", secrets);
    }
    let out = timeout(Duration::from_secs(20), command.output())
        .await
        .expect("cultfit serve exits")
        .expect("cultfit serve runs");
    let printed =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), printed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_bus_it_cannot_authenticate_to_or_that_is_open() {
    let nats = NatsBus::start();
    let (ok, output) = serve_until_exit(&nats.url, None).await;
    assert!(!ok && output.contains("CULTFIT_NATS_SECRETS"), "{output}");

    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.env");
    let issuer = nkeys::KeyPair::new_account().seed().unwrap();
    std::fs::write(
        &wrong,
        format!(
            "CULTFIT_NATS_USER=cultfit\nCULTFIT_NATS_PASSWORD=a-wrong-password-for-sure\n\
             CULTFIT_NATS_ISSUER_SEED={issuer}\n"
        ),
    )
    .unwrap();
    let (ok, output) = serve_until_exit(&nats.url, Some(&wrong)).await;
    assert!(
        !ok && output.contains("refused the service credentials"),
        "{output}"
    );

    // A server that asks for no credentials at all is an open bus: anyone could forge commands.
    let open = NatsBus::start_open();
    let (ok, output) = serve_until_exit(&open.url, Some(&nats.secrets)).await;
    assert!(
        !ok && output.contains("requires no authentication"),
        "{output}"
    );
}

/// On a three-server cluster every stream and bucket is replicated three times, except the
/// `ENERGY` stream when `--energy-replicas 1` asks for samples on one server (the trade made for
/// the largest classes: a third of the storage work, samples lost with their server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_energy_stream_alone_can_have_fewer_replicas_than_the_rest_of_the_bus() {
    let app = TestApp::spawn_on(
        NatsBus::start_cluster(),
        crate::helpers::Options {
            args: &["--energy-replicas", "1"],
            ..Default::default()
        },
    )
    .await;
    let js = async_nats::jetstream::new(app.nats.service_client().await);
    let replicas = |name: &'static str| {
        let js = js.clone();
        async move {
            let mut stream = js.get_stream(name).await.expect("the stream");
            stream
                .info()
                .await
                .expect("stream info")
                .config
                .num_replicas
        }
    };
    assert_eq!(replicas("ENERGY").await, 1);
    assert_eq!(replicas("EVENTS").await, 3);
    for bucket in ["KV_nodes", "KV_owners", "KV_snapshots"] {
        assert_eq!(replicas(bucket).await, 3, "{bucket}");
    }
}
