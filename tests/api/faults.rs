//! Faults beyond a worker crash (`../shared/RELIABILITY.md`), each injected into real processes
//! with a signal or a restart while `cultfit simulate` runs a scripted session, and judged by what
//! the simulator and the service report: nothing accepted lost, results identical to a fault-free
//! run of the same script.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use crate::cluster::{Cluster, NatsShape, Role};
use crate::helpers::{NatsBus, Options, Simulation, TestApp, token, user_id};
use crate::live::{counter, energies, leaderboard_until, live_class, publish, sample, subject};
use crate::private_pg::PrivatePostgres;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection as _;
use std::time::Duration;

/// The script both runs of a comparison follow (same seed, trainees, rate and duration).
fn script(name: &str, trainees: u32, seconds: u32) -> Vec<String> {
    [
        "--name",
        name,
        "--seed",
        "2026",
        "--trainees",
        &trainees.to_string(),
        "--rate-hz",
        "1",
        "--duration-secs",
        &seconds.to_string(),
        "--results-digest",
        "--connect-concurrency",
        "200",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn args(script: &[String]) -> Vec<&str> {
    script.iter().map(String::as_str).collect()
}

/// Checks what every run must show: it succeeded, every sample sent was accepted and is in the
/// results, nothing was given up on.
fn assert_complete(ok: bool, report: &Value, stderr: &str) {
    assert!(ok, "simulate failed: {stderr}");
    assert_eq!(report["results_missing_energy"], 0, "{report}");
    assert_eq!(report["accepted"], report["sent"], "{report}");
    assert_eq!(report["rejected"], 0, "{report}");
    assert_eq!(report["delivery"]["unacknowledged"], 0, "{report}");
}

/// One script (same seed, trainees and duration) run twice on one deployment: first without a
/// fault, then with one injected while it runs.
struct Comparison {
    api: String,
    name: &'static str,
    trainees: u32,
    seconds: u32,
    fault_free: Value,
}

impl Comparison {
    /// Runs the script without a fault (as `<name>-a`) and checks that run complete.
    async fn reference(
        api: &str,
        nats: &NatsBus,
        name: &'static str,
        trainees: u32,
        seconds: u32,
    ) -> Self {
        let script = script(&format!("{name}-a"), trainees, seconds);
        let (ok, fault_free, stderr) = Simulation::start(api, nats, &args(&script)).finish().await;
        assert_complete(ok, &fault_free, &stderr);
        Self {
            api: api.to_owned(),
            name,
            trainees,
            seconds,
            fault_free,
        }
    }

    /// Starts the second run (as `<name>-b`); the fault goes in while it runs.
    fn again(&self, nats: &NatsBus) -> Simulation {
        let script = script(&format!("{}-b", self.name), self.trainees, self.seconds);
        Simulation::start(&self.api, nats, &args(&script))
    }

    /// Waits for the second run, checks it complete and its results identical to the fault-free
    /// run's; returns its report.
    async fn identical(&self, run: Simulation) -> Value {
        let (ok, faulty, stderr) = run.finish().await;
        assert_complete(ok, &faulty, &stderr);
        assert_eq!(
            faulty["results_digest"], self.fault_free["results_digest"],
            "results identical to the fault-free run: {faulty}"
        );
        faulty
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_one_of_three_nats_servers_dies_mid_session_nothing_is_lost_and_results_match() {
    const TRAINEES: u32 = 1_000;
    let mut cluster = Cluster::start(NatsShape::ThreeServers, &[Role::Api, Role::Worker]).await;
    let api = cluster.api(0).address.clone();

    let comparison = Comparison::reference(&api, &cluster.nats, "r2", TRAINEES, 20).await;

    // The same script; a few seconds into sending, kill -9 the server that leads the ENERGY
    // stream (the worst case: the stream must elect a new leader), and start it again 3 s later.
    let run = comparison.again(&cluster.nats);
    run.wait_for("started:", Duration::from_secs(300)).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let leader = cluster.nats.stream_leader("ENERGY").await;
    cluster.nats.kill_server(leader);
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.nats.restart_server(leader);
    let faulty = comparison.identical(run).await;
    // Frames went on after the fault: by the end they showed every sample sent.
    assert_eq!(faulty["unreflected"], 0, "frames continued: {faulty}");
    // The restarted server caught up: every replica of the stream is current again.
    cluster
        .nats
        .wait_until_replicas_current("ENERGY", Duration::from_secs(30))
        .await;
    eprintln!(
        "R2: {} samples, resent {}, longest frame gap {} ms (fault-free {} ms)",
        faulty["sent"],
        faulty["delivery"]["resent"],
        faulty["longest_frame_gap_ms"],
        comparison.fault_free["longest_frame_gap_ms"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_only_nats_server_restarts_mid_session_everyone_reconnects_and_nothing_is_lost() {
    const TRAINEES: u32 = 300;
    const DOWN: Duration = Duration::from_secs(3);
    let mut app = TestApp::spawn().await;
    let api = app.address.clone();

    let comparison = Comparison::reference(&api, &app.nats, "r3", TRAINEES, 20).await;

    // The embedded setup's one nats-server is stopped (SIGTERM) a few seconds into sending and
    // started again 3 s later, as an operator restarting it would.
    let run = comparison.again(&app.nats);
    run.wait_for("started:", Duration::from_secs(300)).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    app.nats.terminate_server(0);
    tokio::time::sleep(DOWN).await;
    app.nats.start_again(0);
    let faulty = comparison.identical(run).await;
    let gap = faulty["longest_frame_gap_ms"].as_u64().unwrap_or(u64::MAX);
    eprintln!(
        "R3: {} samples, resent {}, longest frame gap {gap} ms, frames back {} ms after the server",
        faulty["sent"],
        faulty["delivery"]["resent"],
        gap.saturating_sub(DOWN.as_millis() as u64)
    );
}

/// The app on a PostgreSQL server of the test's own, which the test may stop.
async fn app_on_private_postgres(pg: &PrivatePostgres, args: &'static [&'static str]) -> TestApp {
    TestApp::spawn_on_database(
        NatsBus::start(),
        &pg.database_url("cultfit"),
        Options {
            args,
            ..Default::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_postgres_stops_for_10_s_mid_session_the_ranking_goes_on_and_results_are_complete() {
    const TRAINEES: u32 = 200;
    const DOWN: Duration = Duration::from_secs(10);
    let pg = PrivatePostgres::start();
    let app = app_on_private_postgres(&pg, &[]).await;
    let api = app.address.clone();

    let comparison = Comparison::reference(&api, &app.nats, "r4", TRAINEES, 30).await;
    let run = comparison.again(&app.nats);
    run.wait_for("started:", Duration::from_secs(300)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    pg.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ready = app.get("/health/ready", None).await.status();
    tokio::time::sleep(DOWN - Duration::from_secs(2)).await;
    pg.start_again();
    assert_eq!(
        ready,
        StatusCode::SERVICE_UNAVAILABLE,
        "not ready without its database"
    );
    let faulty = comparison.identical(run).await;
    // The live path needs no database: frames never stopped for as long as it was gone.
    let gap = faulty["longest_frame_gap_ms"].as_u64().unwrap_or(u64::MAX);
    assert!(
        gap < DOWN.as_millis() as u64,
        "frames stopped while PostgreSQL was down: {faulty}"
    );
    eprintln!(
        "R4: {} samples, longest frame gap {gap} ms (fault-free {} ms)",
        faulty["sent"], comparison.fault_free["longest_frame_gap_ms"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_postgres_is_down_as_the_trainer_ends_the_end_is_503_and_a_retry_completes_it_once() {
    let pg = PrivatePostgres::start();
    let app = app_on_private_postgres(&pg, &["--tick-ms", "200"]).await;
    let class = live_class(&app, 3).await;
    let mut expected = Vec::new();
    for (i, trainee) in class.trainees.iter().enumerate() {
        let wearable = class.wearable(i).await;
        let rating = 20.0 * (i + 1) as f64;
        for s in 0..5 {
            let v = sample(&class, s, s as u64 + 1, rating, rating * (s + 1) as f64);
            publish(
                &wearable,
                subject(&class.id, user_id(trainee)),
                v.to_string(),
            )
            .await;
        }
        wearable.flush().await.expect("flush");
        expected.push((user_id(trainee).to_owned(), (rating * 5.0) as i64));
    }
    expected.reverse();
    let trainer = token(&class.trainer);
    let board = leaderboard_until(&app, trainer, &class.id, |b| energies(b) == expected).await;
    assert_eq!(energies(&board), expected, "{board}");

    pg.stop();
    let refused = app.end_workout(trainer, &class.id).await;
    let status = refused.status();
    assert!(
        [StatusCode::SERVICE_UNAVAILABLE, StatusCode::GATEWAY_TIMEOUT].contains(&status),
        "ending without a database: {status}"
    );
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json",
        "a problem document"
    );
    let problem: Value = refused.json().await.unwrap_or_default();
    assert!(
        ["unavailable", "timeout"].contains(&problem["code"].as_str().unwrap_or_default()),
        "{problem}"
    );

    pg.start_again();
    let back = std::time::Instant::now();
    // As a client would: retry while the service says so.
    let mut outcome = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..60 {
        outcome = app.end_workout(trainer, &class.id).await.status();
        if outcome.is_success() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(
        outcome,
        StatusCode::OK,
        "the end completes once PostgreSQL is back"
    );
    eprintln!(
        "R5: ended {} ms after PostgreSQL was back",
        back.elapsed().as_millis()
    );

    let ranking = crate::live::results(&app, trainer, &class.id).await;
    let ranked: Vec<(String, i64)> = ranking["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|r| {
                    let who = r["user_id"].as_str().unwrap_or_default().to_owned();
                    (who, r["energy"].as_f64().unwrap_or(-1.0).round() as i64)
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(ranked, expected, "every result complete: {ranking}");
    let mut db = sqlx::PgConnection::connect(&pg.database_url("cultfit"))
        .await
        .expect("connect to the private database");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM results WHERE workout_id = $1::uuid")
        .bind(&class.id)
        .fetch_one(&mut db)
        .await
        .expect("count results");
    assert_eq!(rows, 3, "results written once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_an_api_node_with_500_app_streams_dies_they_reopen_on_another_and_frames_go_on() {
    const TRAINEES: u32 = 1_000;
    let mut cluster =
        Cluster::start(NatsShape::OneServer, &[Role::Api, Role::Api, Role::Worker]).await;
    let doomed = cluster.api(0).address.clone();
    let survivor = cluster.api(1).address.clone();
    // Every trainee's app follows over SSE, alternately on each api node (the simulator drives
    // the session itself through the survivor).
    let mut script = script("r6", TRAINEES, 20);
    script.extend(
        [
            "--followers",
            &TRAINEES.to_string(),
            "--follow-api-url",
            &doomed,
            "--follow-api-url",
            &survivor,
        ]
        .map(str::to_owned),
    );
    let run = Simulation::start(&survivor, &cluster.nats, &args(&script));
    run.started_workout(Duration::from_secs(600)).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    cluster.kill9(0);

    let (ok, report, stderr) = run.finish().await;
    assert_complete(ok, &report, &stderr);
    let apps = &report["app_streams"];
    assert_eq!(apps["failed"], 0, "every app stream went on: {apps}");
    assert_eq!(
        apps["reconnected"],
        TRAINEES / 2,
        "every stream of the dead node reopened on the other and got a frame: {apps}"
    );
    eprintln!(
        "R6: {} app streams broke and reopened on the other api node; break to newest frame \
         p50 {} ms, p99 {} ms, max {} ms (SSE retry: 1 s); wearables: {} samples, 0 lost",
        apps["reconnected"],
        apps["recovery_ms"]["p50"],
        apps["recovery_ms"]["p99"],
        apps["recovery_ms"]["max"],
        report["sent"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_stalled_past_its_lease_publishes_no_stale_frame_when_it_resumes() {
    const STALL_SECS: u64 = 8;
    use futures_util::StreamExt as _;
    let cluster = Cluster::start(
        NatsShape::OneServer,
        &[Role::Api, Role::Worker, Role::Worker],
    )
    .await;
    let api = cluster.api(0).clone();
    let class = live_class(&api, 2).await;
    let owner = cluster
        .wait_for_owner(&class.id, Duration::from_secs(5))
        .await
        .expect("a live workout has an owner");
    let stalled = cluster.index_of(&owner).expect("the owner is a node");

    // Every frame published on the bus, in the order the bus delivers them.
    let bus = cluster.nats.service_client().await;
    let mut live = bus
        .subscribe(format!("cultfit.v1.workouts.{}.live", class.id))
        .await
        .expect("subscribe to the live subject");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let watcher = tokio::spawn(async move {
        while let Some(message) = live.next().await {
            let decoded = bus_contracts::v1::live_codec::decode(&message.payload);
            if let Ok(bus_contracts::v1::LiveMessage::Frame(frame)) = decoded {
                let epoch = frame.epoch;
                record
                    .lock()
                    .unwrap()
                    .push((std::time::Instant::now(), epoch));
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Stalled well past the lease TTL. On waking, its timers fire at once (a burst of overdue
    // ticks) before its lease renewal learns the lease is gone: the fence must hold them back.
    cluster.signal(stalled, "STOP");
    tokio::time::sleep(Duration::from_secs(STALL_SECS)).await;
    let resumed = std::time::Instant::now();
    cluster.signal(stalled, "CONT");
    tokio::time::sleep(Duration::from_secs(5)).await;
    watcher.abort();

    let frames = seen.lock().unwrap().clone();
    let epochs: Vec<u64> = frames.iter().map(|(_, epoch)| *epoch).collect();
    eprintln!("R7: epochs of the frames on the bus: {epochs:?}");
    let stale = *epochs.first().expect("frames before the stall");
    let last = *epochs.last().expect("frames after the stall");
    assert!(
        last > stale,
        "a new owner publishes after the stall: {epochs:?}"
    );
    assert!(
        !frames
            .iter()
            .any(|(at, epoch)| *at > resumed && *epoch == stale),
        "the stalled owner published frames of its old epoch after waking: {epochs:?}"
    );
    assert!(
        epochs.windows(2).all(|pair| pair[0] <= pair[1]),
        "no frame of an older epoch after a newer one: {epochs:?}"
    );
    // One owner afterwards (placement may well bring the session back to the resumed worker,
    // under a newer epoch): exactly one worker runs the live session.
    let mut running = 0.0;
    for i in 1..=2 {
        running += crate::live::counter(&cluster.node(i).api, "cultfit_live_sessions ").await;
    }
    assert_eq!(running, 1.0, "one live session across the workers");
    // The resumed worker learnt it lost the lease and stopped its actor.
    let fenced = cluster
        .node(stalled)
        .logs()
        .iter()
        .any(|l| l.contains("lease lost"));
    assert!(fenced, "the stalled owner noticed it was fenced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_worker_owning_a_5000_wearable_session_dies_nothing_is_lost_and_results_match() {
    const TRAINEES: u32 = 5_000;
    let mut cluster = Cluster::start(
        NatsShape::OneServer,
        &[Role::Api, Role::Worker, Role::Worker],
    )
    .await;
    let api = cluster.api(0).address.clone();

    let comparison = Comparison::reference(&api, &cluster.nats, "r1", TRAINEES, 20).await;

    // PERFORMANCE scenario 8: a few seconds into sending, kill -9 the session's owner.
    let run = comparison.again(&cluster.nats);
    let workout = run.started_workout(Duration::from_secs(600)).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let owner = cluster
        .wait_for_owner(&workout, Duration::from_secs(5))
        .await
        .expect("the live session has an owner");
    let dead = cluster.index_of(&owner).expect("the owner is a node");
    cluster.kill9(dead);
    let faulty = comparison.identical(run).await;
    let survivor = cluster.owner_of(&workout).await;
    assert!(
        survivor.is_some() && survivor != Some(owner),
        "the other worker took the session over"
    );
    eprintln!(
        "R1: {} samples, longest frame gap {} ms (lease TTL {} s; fault-free {} ms)",
        faulty["sent"],
        faulty["longest_frame_gap_ms"],
        crate::cluster::LEASE_TTL.as_secs(),
        comparison.fault_free["longest_frame_gap_ms"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_owner_dies_after_a_snapshot_the_new_owner_reads_only_the_samples_after_it() {
    const TRAINEES: u32 = 300;
    // Snapshots every second, so several are in the bucket by the time the owner dies.
    let mut cluster = Cluster::start_with(
        NatsShape::OneServer,
        &[Role::Api, Role::Worker, Role::Worker],
        &["--snapshot-secs", "1"],
    )
    .await;
    let api = cluster.api(0).address.clone();
    let comparison = Comparison::reference(&api, &cluster.nats, "r1s", TRAINEES, 16).await;

    let run = comparison.again(&cluster.nats);
    let workout = run.started_workout(Duration::from_secs(600)).await;
    tokio::time::sleep(Duration::from_secs(9)).await;
    let owner = cluster
        .wait_for_owner(&workout, Duration::from_secs(5))
        .await
        .expect("the live session has an owner");
    let dead = cluster.index_of(&owner).expect("the owner is a node");
    let survivor = if dead == 1 { 2 } else { 1 };
    let written = counter(
        cluster.api(dead),
        "cultfit_live_snapshots_written_total{outcome=\"ok\"}",
    )
    .await;
    assert!(written >= 1.0, "the owner wrote snapshots before dying");
    let accepted = "cultfit_samples_accepted_total ";
    let read_before = counter(cluster.api(survivor), accepted).await;
    cluster.kill9(dead);
    let faulty = comparison.identical(run).await;

    let restored = counter(
        cluster.api(survivor),
        "cultfit_live_snapshot_restores_total{outcome=\"restored\"}",
    )
    .await;
    assert!(restored >= 1.0, "the new owner started from the snapshot");
    // Without the snapshot the new owner would accept every sample of the session again.
    let read = counter(cluster.api(survivor), accepted).await - read_before;
    let sent = faulty["sent"].as_f64().unwrap();
    assert!(
        read > 0.0 && read < sent,
        "the new owner read only what came after the snapshot: {read} of {sent}"
    );
    eprintln!(
        "R1 with a snapshot: {sent} samples; the new owner read {read} of them after restoring a snapshot; \
         longest frame gap {} ms (lease TTL {} s)",
        faulty["longest_frame_gap_ms"],
        crate::cluster::LEASE_TTL.as_secs(),
    );
}
