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
//!
//! Device connections are spread over the servers the bus URL lists: wearable `i` tries server
//! `i mod k` first, so each of a cluster's servers holds its share (one process may hold at most
//! ~19 000 sockets here), and after losing its server it tries the others in an order that
//! differs between neighbours, so a dead server's wearables spread over the rest.

use anyhow::{Context, bail};
use async_nats::ServerAddr;
use futures_util::StreamExt as _;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

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

/// One wearable as `join` set it up: what it needs to connect and publish. The token is a
/// credential: it travels to a wearable process over a pipe, never on a command line, and this
/// type has no `Debug` so it cannot end up in a log.
#[derive(Clone, Serialize, Deserialize)]
pub struct Device {
    /// Its place in the session (`0..n`): its phase in the schedule and its seed.
    pub index: usize,
    /// The trainee wearing it.
    pub user: Uuid,
    /// Where it publishes (`energy_subject` from `join`).
    pub subject: String,
    /// `device_token` from `join`.
    pub token: String,
    /// `inbox_prefix` from `join`: the only subjects it may receive on (its acks).
    pub inbox_prefix: String,
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
    /// Connections admitted per server (its name, else its address).
    pub per_server: BTreeMap<String, usize>,
}

impl Storm {
    /// Nothing connected yet.
    pub fn empty() -> anyhow::Result<Self> {
        Ok(Self {
            admitted: 0,
            refused: Vec::new(),
            elapsed: Duration::ZERO,
            latency: Histogram::new(3).context("histogram")?,
            per_server: BTreeMap::new(),
        })
    }

    /// Adds `other`'s connections to these (wall time is left to the caller: storms run side by
    /// side).
    pub fn absorb(&mut self, other: &Storm) -> anyhow::Result<()> {
        self.admitted += other.admitted;
        self.refused.extend(other.refused.iter().cloned());
        self.latency
            .add(&other.latency)
            .context("merging connect latencies")?;
        for (server, count) in &other.per_server {
            *self.per_server.entry(server.clone()).or_default() += count;
        }
        Ok(())
    }

    /// Fails unless every wearable was admitted.
    pub fn all_admitted(&self) -> anyhow::Result<()> {
        if !self.refused.is_empty() {
            bail!(
                "{} of {} wearables were not admitted to the bus: {:?}",
                self.refused.len(),
                self.refused.len() + self.admitted,
                &self.refused[..self.refused.len().min(3)]
            );
        }
        Ok(())
    }

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
            "per_server": self.per_server,
            "refusals": self.refused.iter().take(5).collect::<Vec<_>>(),
        })
    }
}

/// The order in which wearable `index` tries the `urls`: server `index mod k` first, then the
/// others rotated by `index / k`, so the wearables of a lost server spread over the rest.
pub fn server_order(urls: &[ServerAddr], index: usize) -> Vec<ServerAddr> {
    let k = urls.len();
    if k == 0 {
        return Vec::new();
    }
    let first = index % k;
    let mut rest: Vec<usize> = (0..k).filter(|j| *j != first).collect();
    if !rest.is_empty() {
        let by = (index / k) % rest.len();
        rest.rotate_left(by);
    }
    std::iter::once(first)
        .chain(rest)
        .map(|j| urls[j].clone())
        .collect()
}

/// Connects one device connection per wearable, with the token and inbox prefix it got from
/// `join`, to the servers `nats_url` lists (spread as [`server_order`] says), at most `in_flight`
/// at a time; returns the admitted ones with their index, and how the storm went (refusals
/// included: see [`Storm::all_admitted`]). `bar` counts the answers.
pub async fn connect_devices(
    nats_url: &str,
    devices: Vec<Device>,
    in_flight: usize,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<(Vec<(usize, Publisher)>, Storm)> {
    let urls = crate::bus::connect::parse_urls(nats_url)?;
    let started = Instant::now();
    let results: Vec<(usize, Result<Publisher, String>, Duration)> =
        futures_util::stream::iter(devices)
            .map(|device| {
                let order = server_order(&urls, device.index);
                async move {
                    let begun = Instant::now();
                    let client = async_nats::ConnectOptions::with_token(device.token)
                        .custom_inbox_prefix(device.inbox_prefix)
                        .read_buffer_capacity(DEVICE_READ_BUFFER)
                        .client_capacity(DEVICE_CLIENT_CAPACITY)
                        .connection_timeout(Duration::from_secs(10))
                        .reconnect_delay_callback(device_reconnect_delay)
                        .retain_servers_order()
                        .connect(order.as_slice())
                        .await
                        .map_err(|err| err.to_string());
                    (device.index, client, begun.elapsed())
                }
            })
            .buffered(in_flight.max(1))
            .inspect(|_| bar.inc(1))
            .collect()
            .await;
    let mut storm = Storm::empty()?;
    storm.elapsed = started.elapsed();
    let mut publishers = Vec::with_capacity(results.len());
    for (index, result, took) in results {
        match result {
            Ok(client) => {
                storm.admitted += 1;
                let _ = storm
                    .latency
                    .record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1));
                let info = client.server_info();
                let server = if info.server_name.is_empty() {
                    format!("{}:{}", info.host, info.port)
                } else {
                    info.server_name
                };
                *storm.per_server.entry(server).or_default() += 1;
                publishers.push((index, client));
            }
            Err(why) => storm.refused.push(why),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wearables_start_on_every_server_in_turn_and_fall_back_over_the_others() {
        let urls: Vec<ServerAddr> = ["nats://a:1", "nats://b:2", "nats://c:3"]
            .iter()
            .filter_map(|u| u.parse().ok())
            .collect();
        let order = |i| {
            server_order(&urls, i)
                .iter()
                .map(ServerAddr::port)
                .collect::<Vec<_>>()
        };
        assert_eq!(order(0), [1, 2, 3]);
        assert_eq!(order(1), [2, 1, 3]);
        assert_eq!(order(2), [3, 1, 2]);
        // The next round falls back the other way, so a lost server's wearables split.
        assert_eq!(order(3), [1, 3, 2]);
        let firsts: Vec<u16> = (0..300).map(|i| order(i)[0]).collect();
        for port in [1, 2, 3] {
            assert_eq!(firsts.iter().filter(|p| **p == port).count(), 100);
        }
        assert!(server_order(&[], 5).is_empty());
    }
}
