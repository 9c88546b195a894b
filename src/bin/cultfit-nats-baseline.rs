//! `cultfit-nats-baseline`: the raw async-nats ingest rate that PERFORMANCE.md scenario 2 compares
//! cultfit against, measured in the same run on the same machine.
//!
//! A minimal program doing only what the live path's transport does: publish wearable-shaped
//! samples with core NATS into the `ENERGY` stream (on one workout's subjects), and read them back
//! through an ordered consumer filtered to that workout. No parsing, no board, no frames: what is
//! left of cultfit's ingest rate beside this figure is the cost of cultfit itself.

use anyhow::{Context, bail};
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use bus_contracts::subjects;
use clap::Parser;
use futures_util::StreamExt as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Parser)]
#[command(about = "Raw async-nats stream ingest baseline (see docs/BENCHMARKS.md)")]
struct Args {
    /// NATS server with the ENERGY stream (start cultfit once to create it).
    #[arg(long, env = "NATS_URL")]
    nats_url: String,
    /// The bus secrets file: the baseline publishes and reads as the service.
    #[arg(long, env = "CULTFIT_NATS_SECRETS")]
    nats_secrets: std::path::PathBuf,
    /// Samples to publish.
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
    /// Distinct wearables (subjects) they are spread over.
    #[arg(long, default_value_t = 10_000)]
    wearables: usize,
    /// Publishing connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Total samples per second, paced in 10 ms slices like wearables; 0 publishes as fast as
    /// the connections allow (core NATS has no flow control, so the stream drops what it cannot
    /// take in, and the loss is reported).
    #[arg(long, default_value_t = 0)]
    rate: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.connections == 0 || args.wearables == 0 {
        bail!("--connections and --wearables must be at least 1");
    }
    let access = cultfit::bus::connect::BusAccess {
        secrets: Some(cultfit::bus::secrets::BusSecrets::load(&args.nats_secrets)?),
        insecure: false,
    };
    let urls = cultfit::bus::connect::parse_urls(&args.nats_url)?;
    let reader = cultfit::bus::connect::connect(&urls, &access, "cultfit-nats-baseline").await?;
    let js = async_nats::jetstream::new(reader);
    let workout = Uuid::now_v7();
    let stream = js
        .get_stream(subjects::ENERGY_STREAM)
        .await
        .context("no ENERGY stream: start cultfit against this NATS server first")?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: subjects::workout_energy_all(workout),
            deliver_policy: DeliverPolicy::New,
            ..Default::default()
        })
        .await?;
    let messages = consumer.messages().await?;
    let users: Vec<Uuid> = (0..args.wearables).map(|_| Uuid::now_v7()).collect();

    let started = Instant::now();
    // Read until everything is back, or nothing more arrives for a few seconds (core publish has
    // no flow control: what the stream could not take in is lost, and reported). The reader runs
    // from the start, concurrently with the publishers, as the live path's consumer does, and
    // counts in batches without a timer per message.
    let read_count = Arc::new(AtomicUsize::new(0));
    let last_read = Arc::new(Mutex::new(started));
    let reader = tokio::spawn({
        let (read_count, last_read) = (read_count.clone(), last_read.clone());
        async move {
            let mut batches = messages.ready_chunks(512);
            while let Some(batch) = batches.next().await {
                let got = batch.iter().filter(|m| m.is_ok()).count();
                read_count.fetch_add(got, Ordering::Relaxed);
                if let Ok(mut at) = last_read.lock() {
                    *at = Instant::now();
                }
            }
        }
    });
    let per_connection = args.messages.div_ceil(args.connections);
    let mut publishers = Vec::new();
    for c in 0..args.connections {
        let client =
            cultfit::bus::connect::connect(&urls, &access, "cultfit-nats-baseline").await?;
        let users = users.clone();
        let per_slice = (args.rate as f64 / args.connections as f64 / 100.0).max(1.0);
        let paced = args.rate > 0;
        publishers.push(tokio::spawn(async move {
            let first = c * per_connection;
            let mut slice = tokio::time::interval(Duration::from_millis(10));
            slice.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut due = 0.0f64;
            for k in first..(first + per_connection) {
                if paced {
                    while due < 1.0 {
                        slice.tick().await;
                        due += per_slice;
                    }
                    due -= 1.0;
                }
                let user = users[k % users.len()];
                let seq = k / users.len() + 1;
                // The same shape and size as a real sample.
                let payload = format!(
                    r#"{{"seq":{seq},"ts":{},"rating":{}.0,"energy":{}.5,"hr":140.0}}"#,
                    1_900_000_000_000u64 + k as u64,
                    k % 100,
                    seq * 50
                );
                client
                    .publish(subjects::workout_energy(workout, user), payload.into())
                    .await?;
            }
            client.flush().await?;
            anyhow::Ok(())
        }));
    }
    for publisher in publishers {
        publisher.await??;
    }
    let published = started.elapsed();
    let total = per_connection * args.connections;
    let mut seen = 0;
    let mut idle_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = read_count.load(Ordering::Relaxed);
        if now >= total {
            break;
        }
        if now != seen {
            (seen, idle_since) = (now, Instant::now());
        } else if idle_since.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    reader.abort();
    let read = read_count.load(Ordering::Relaxed);
    let last_read = last_read.lock().map(|at| *at).unwrap_or(started);
    let elapsed = last_read.duration_since(started);
    let pace = if args.rate > 0 {
        format!("paced at {}/s", args.rate)
    } else {
        "unpaced".to_owned()
    };
    println!(
        "| raw async-nats: core publish into ENERGY ({pace}), read back (ordered consumer) | {} wearables, {} connections | {total} | publish {:.0}/s | stored and read back {:.0}/s | lost {} |",
        args.wearables,
        args.connections,
        total as f64 / published.as_secs_f64(),
        read as f64 / elapsed.as_secs_f64(),
        total.saturating_sub(read),
    );
    Ok(())
}
