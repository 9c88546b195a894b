//! The simulated wearables' connections to the bus.
//!
//! By default every wearable connects as real ones do: its own NATS connection, authenticated by
//! the `device_token` its trainee got from `join`, which the auth callout turns into permission
//! to publish that one energy subject. Connecting them all is the connect storm of a big class
//! starting, so it is timed (admissions per second, per-connection latency).
//!
//! `--trusted-publisher` instead shares a few connections logged in as the service: no callout,
//! no per-connection cost. It exists to find the ingest ceiling of the pipeline behind the bus,
//! and is labelled as such in the report; it is not how wearables reach a deployment.

use anyhow::{Context, bail};
use futures_util::StreamExt as _;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A wearable's connection: its own (device token) or a shared service one.
pub type Publisher = async_nats::Client;

/// A device connection needs little: it only publishes, and receives nothing but the server's
/// INFO and PINGs. Small buffers keep ten thousand of them affordable in one process.
const DEVICE_READ_BUFFER: u16 = 4096;
const DEVICE_CLIENT_CAPACITY: usize = 64;

/// Wearables back off to 1 s between reconnect attempts, plus up to 0.5 s of jitter: after a server
/// restart thousands of them come back spread over half a second rather than in one burst at the
/// auth callout, and none waits the client's default 4 s.
fn device_reconnect_delay(attempts: usize) -> Duration {
    let jitter = Duration::from_millis(rand::random_range(0..500));
    crate::bus::connect::reconnect_delay(attempts, Duration::from_secs(1)) + jitter
}

/// How the connect storm went.
#[derive(Debug)]
pub struct Storm {
    /// Connections admitted.
    pub admitted: usize,
    /// Why the others were not (first few).
    pub refused: Vec<String>,
    /// Wall time from the first attempt to the last answer.
    pub elapsed: Duration,
    /// Microseconds per connection, from its attempt to its admission.
    pub latency: Histogram<u64>,
}

impl Storm {
    /// The report's `connect` section.
    pub fn report(&self) -> Value {
        let ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        let seconds = self.elapsed.as_secs_f64();
        json!({
            "admitted": self.admitted,
            "refused": self.refused.len(),
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "admitted_per_s": (self.admitted as f64 / seconds.max(1e-9)).round(),
            "latency_ms": {"p50": ms(0.5), "p99": ms(0.99), "max": self.latency.max() as f64 / 1000.0},
            "refusals": self.refused.iter().take(5).collect::<Vec<_>>(),
        })
    }
}

/// Connects one device connection per `(device_token, inbox_prefix)` from `join` to the servers
/// `nats_url` lists (a wearable is given them all and picks one), at most `in_flight` at a time;
/// the publishers come back in the same order. `bar` counts the answers.
pub async fn connect_devices(
    nats_url: &str,
    devices: Vec<(String, String)>,
    in_flight: usize,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<(Vec<Publisher>, Storm)> {
    let urls = crate::bus::connect::parse_urls(nats_url)?;
    let started = Instant::now();
    let results: Vec<(Result<Publisher, String>, Duration)> = futures_util::stream::iter(devices)
        .map(|(token, inbox_prefix)| {
            let urls = urls.clone();
            async move {
                let begun = Instant::now();
                let client = async_nats::ConnectOptions::with_token(token)
                    .custom_inbox_prefix(inbox_prefix)
                    .read_buffer_capacity(DEVICE_READ_BUFFER)
                    .client_capacity(DEVICE_CLIENT_CAPACITY)
                    .connection_timeout(Duration::from_secs(10))
                    .reconnect_delay_callback(device_reconnect_delay)
                    .connect(urls.as_slice())
                    .await
                    .map_err(|err| err.to_string());
                (client, begun.elapsed())
            }
        })
        .buffered(in_flight.max(1))
        .inspect(|_| bar.inc(1))
        .collect()
        .await;
    let mut storm = Storm {
        admitted: 0,
        refused: Vec::new(),
        elapsed: started.elapsed(),
        latency: Histogram::new(3).context("histogram")?,
    };
    let mut publishers = Vec::with_capacity(results.len());
    for (result, took) in results {
        match result {
            Ok(client) => {
                storm.admitted += 1;
                let _ = storm
                    .latency
                    .record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1));
                publishers.push(client);
            }
            Err(why) => storm.refused.push(why),
        }
    }
    if !storm.refused.is_empty() {
        bail!(
            "{} of {} wearables were not admitted to the bus: {:?}",
            storm.refused.len(),
            storm.refused.len() + storm.admitted,
            &storm.refused[..storm.refused.len().min(3)]
        );
    }
    Ok((publishers, storm))
}

/// `connections` service connections shared round-robin by `wearables` publishers.
pub async fn connect_trusted(
    service: &crate::bus::connect::BusAccess,
    nats_url: &str,
    connections: usize,
    wearables: usize,
) -> anyhow::Result<Vec<Publisher>> {
    let urls = crate::bus::connect::parse_urls(nats_url)?;
    let mut shared = Vec::with_capacity(connections);
    for i in 0..connections.max(1) {
        shared.push(
            crate::bus::connect::connect(&urls, service, &format!("cultfit-simulate-trusted-{i}"))
                .await?,
        );
    }
    Ok((0..wearables)
        .map(|i| shared[i % shared.len()].clone())
        .collect())
}
