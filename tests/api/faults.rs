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
use crate::helpers::Simulation;
use serde_json::Value;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_one_of_three_nats_servers_dies_mid_session_nothing_is_lost_and_results_match() {
    const TRAINEES: u32 = 1_000;
    let mut cluster = Cluster::start(NatsShape::ThreeServers, &[Role::Api, Role::Worker]).await;
    let api = cluster.api(0).address.clone();

    // The fault-free run of the script.
    let reference = Simulation::start(&api, &cluster.nats, &args(&script("r2-a", TRAINEES, 20)));
    let (ok, fault_free, stderr) = reference.finish().await;
    assert_complete(ok, &fault_free, &stderr);

    // The same script; a few seconds into sending, kill -9 the server that leads the ENERGY
    // stream (the worst case: the stream must elect a new leader), and start it again 3 s later.
    let run = Simulation::start(&api, &cluster.nats, &args(&script("r2-b", TRAINEES, 20)));
    run.wait_for("started:", Duration::from_secs(300)).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let leader = cluster.nats.stream_leader("ENERGY").await;
    cluster.nats.kill_server(leader);
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.nats.restart_server(leader);
    let (ok, faulty, stderr) = run.finish().await;
    assert_complete(ok, &faulty, &stderr);

    assert_eq!(
        faulty["results_digest"], fault_free["results_digest"],
        "results identical to the fault-free run: {faulty}"
    );
    // Frames kept coming (one per tick) but for the election.
    assert!(
        faulty["ticks"].as_u64().unwrap_or(0) >= 20,
        "frames continued: {faulty}"
    );
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
        fault_free["longest_frame_gap_ms"]
    );
}
