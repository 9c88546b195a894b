//! Wearables spread over several processes ("shards"), so a class bigger than one process's
//! sockets can connect: this machine allows 20 000 open files per process, one per device
//! connection.
//!
//! The simulator ([`super::run`]) does the setup (accounts, booking, join, start) and follows
//! the frames; each shard is the same binary re-executed as the hidden `cultfit simulate-shard`,
//! which connects and publishes its slice of the wearables on the shared schedule. They talk over
//! the shard's stdin and stdout, one JSON line per message (device tokens are credentials: they
//! go through the pipe, never on a command line):
//!
//! 1. simulator → shard: a [`Job`] (the bus URL and its devices); the shard connects them and
//!    answers [`Event::Answered`] as they do, then [`Event::Connected`] with its connect storm;
//! 2. simulator → shard: [`Go`] once the workout started (the schedule); the shard sends and
//!    answers [`Event::Done`] with its counts and its own cost, and exits.
//!
//! The simulator times every sample itself from the same deterministic script
//! ([`super::send::script`]); what shards report is what they sent. A shard whose stdin closes
//! (the simulator died or gave up) exits at once, so none outlives its run.

pub mod child;
pub mod parent;

use super::fleet::{Device, Storm};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// What a shard connects.
#[derive(Serialize, Deserialize)]
pub struct Job {
    /// The bus URL(s), comma separated, as `join` handed them out.
    pub nats_url: String,
    /// Device connections this shard opens at once.
    pub connect_concurrency: usize,
    /// Its slice of the session's wearables.
    pub devices: Vec<Device>,
}

/// When the shard's wearables send: the session's schedule, rebuilt identically in every process.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Go {
    /// The workout's `started_at`, epoch milliseconds.
    pub started_at_ms: i64,
    /// From the start to the first sample.
    pub lead_ms: u64,
    /// Between a wearable's samples.
    pub period_ns: u64,
    /// How long they send.
    pub duration_ms: u64,
    /// Wearables in the whole session (each one's phase depends on it).
    pub wearables: usize,
    /// The run's seed (each wearable's readings derive from it and its index).
    pub seed: u64,
}

impl Go {
    /// The schedule every process derives from this.
    pub fn schedule(&self) -> super::send::Schedule {
        let started_at =
            chrono::DateTime::from_timestamp_millis(self.started_at_ms).unwrap_or_default();
        super::send::Schedule::new(
            started_at,
            Duration::from_millis(self.lead_ms),
            Duration::from_nanos(self.period_ns),
            Duration::from_millis(self.duration_ms),
            self.wearables,
        )
    }
}

/// What a shard says, one JSON line each on its stdout.
#[derive(Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// `count` more connection attempts were answered (progress).
    Answered {
        /// Answers since the previous event.
        count: u64,
    },
    /// Every device was tried; how it went.
    Connected {
        /// The shard's connect storm.
        storm: StormTally,
        /// CPU seconds the shard spent connecting.
        cpu_s: f64,
    },
    /// Sending is over.
    Done {
        /// Samples sent (first attempts).
        sent: u64,
        /// Sends again after a missing ack.
        resent: u64,
        /// Samples never acknowledged.
        unacknowledged: u64,
        /// Its memory and CPU while sending (as in the report's `simulator_memory`).
        cost: Value,
    },
}

/// A [`Storm`] as it crosses the pipe: the latency histogram as (microseconds, count) pairs.
#[derive(Serialize, Deserialize)]
pub struct StormTally {
    admitted: usize,
    refused: Vec<String>,
    elapsed_ms: f64,
    latency_us: Vec<(u64, u64)>,
    per_server: BTreeMap<String, usize>,
}

impl From<&Storm> for StormTally {
    fn from(storm: &Storm) -> Self {
        Self {
            admitted: storm.admitted,
            refused: storm.refused.clone(),
            elapsed_ms: storm.elapsed.as_secs_f64() * 1000.0,
            latency_us: storm
                .latency
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
            per_server: storm.per_server.clone(),
        }
    }
}

impl StormTally {
    /// The storm back, histogram included.
    pub fn storm(&self) -> anyhow::Result<Storm> {
        let mut storm = Storm::empty()?;
        storm.admitted = self.admitted;
        storm.refused = self.refused.clone();
        storm.elapsed = Duration::from_secs_f64(self.elapsed_ms.max(0.0) / 1000.0);
        storm.per_server = self.per_server.clone();
        for &(micros, count) in &self.latency_us {
            let _ = storm.latency.record_n(micros.max(1), count);
        }
        Ok(storm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storm_crosses_the_pipe_intact() {
        let mut storm = Storm::empty().unwrap_or_else(|_| std::process::abort());
        storm.admitted = 3;
        storm.refused.push("Authorization Violation".into());
        storm.elapsed = Duration::from_millis(1500);
        storm.per_server.insert("n1".into(), 2);
        storm.per_server.insert("n2".into(), 1);
        for micros in [900, 15_000, 420_000] {
            let _ = storm.latency.record(micros);
        }
        let line = serde_json::to_string(&Event::Connected {
            storm: StormTally::from(&storm),
            cpu_s: 0.5,
        })
        .unwrap_or_default();
        let Ok(Event::Connected { storm: tally, .. }) = serde_json::from_str(&line) else {
            panic!("not a connected event: {line}");
        };
        let back = tally.storm().unwrap_or_else(|_| std::process::abort());
        assert_eq!(back.report(), storm.report());
    }
}
