//! The simulator's side of its wearable processes: start them, hand each its slice, wait until
//! they are connected, start their schedule, and collect what they report (see [`super`]).

use super::{Event, Go, Job};
use crate::simulate::fleet::{Device, Storm};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// The most device connections one wearable process holds by default: this machine allows 20 000
/// open files per process, and a process needs some for itself.
pub const CONNECTIONS_PER_PROCESS: usize = 15_000;

/// How long a shard may take to exit after its last report.
const EXIT_WITHIN: Duration = Duration::from_secs(10);

/// Enough processes that none holds more than [`CONNECTIONS_PER_PROCESS`] wearables.
pub fn default_processes(wearables: usize) -> usize {
    wearables.div_ceil(CONNECTIONS_PER_PROCESS).max(1)
}

/// The running wearable processes of one simulation; any still running when this is dropped is
/// killed (the simulator failed or was interrupted).
pub struct Shards {
    shards: Vec<Shard>,
    started: Instant,
}

struct Shard {
    number: usize,
    pid: u32,
    wearables: usize,
    child: Child,
    /// Held open until the shard exits: a shard whose stdin closes stops at once.
    stdin: ChildStdin,
    events: Lines<BufReader<ChildStdout>>,
    connected: Option<(Storm, f64)>,
}

/// How one wearable process went, for the report's `wearable_processes`.
pub struct Outcome {
    number: usize,
    pid: u32,
    wearables: usize,
    connected: Option<(Storm, f64)>,
    done: Option<Event>,
    exit: String,
    /// It did not report its end, or exited with an error.
    pub failed: bool,
}

impl Shards {
    /// Starts `processes` copies of this binary as `cultfit simulate-shard` and hands shard `p`
    /// the wearables `p, p + processes, ...` (so each holds its share of every server and of every
    /// phase of the schedule); they start connecting at once, `connect_concurrency` at a time in
    /// all.
    pub async fn spawn(
        processes: usize,
        nats_url: &str,
        devices: Vec<Device>,
        connect_concurrency: usize,
    ) -> anyhow::Result<Self> {
        let processes = processes.max(1);
        let mut slices: Vec<Vec<Device>> = vec![Vec::new(); processes];
        for device in devices {
            slices[device.index % processes].push(device);
        }
        let exe = std::env::current_exe().context("finding this binary to start shards")?;
        let started = Instant::now();
        let mut shards = Vec::with_capacity(processes);
        for (number, devices) in slices.into_iter().enumerate() {
            let mut child = tokio::process::Command::new(&exe)
                .args(["simulate-shard", "--shard", &number.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting wearable process {number}"))?;
            let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                bail!("wearable process {number} has no pipes");
            };
            let wearables = devices.len();
            let job = Job {
                nats_url: nats_url.to_owned(),
                connect_concurrency: connect_concurrency.div_ceil(processes).max(1),
                devices,
            };
            let mut line = serde_json::to_vec(&job)?;
            line.push(b'\n');
            stdin
                .write_all(&line)
                .await
                .with_context(|| format!("handing wearable process {number} its wearables"))?;
            stdin.flush().await?;
            shards.push(Shard {
                number,
                pid: child.id().unwrap_or_default(),
                wearables,
                child,
                stdin,
                events: BufReader::new(stdout).lines(),
                connected: None,
            });
        }
        Ok(Self { shards, started })
    }

    /// The processes' ids (to watch their cost).
    pub fn pids(&self) -> Vec<u32> {
        self.shards.iter().map(|s| s.pid).collect()
    }

    /// Waits until every shard tried all its devices (`bar` counts the answers); their storms
    /// together, timed from the start of the first shard. Fails if a shard stopped on the way.
    pub async fn connected(&mut self, bar: &indicatif::ProgressBar) -> anyhow::Result<Storm> {
        let answers = futures_util::future::join_all(
            self.shards
                .iter_mut()
                .map(|shard| shard.until_connected(bar)),
        )
        .await;
        let mut storm = Storm::empty()?;
        storm.elapsed = self.started.elapsed();
        for answer in answers {
            answer?;
        }
        for shard in &self.shards {
            if let Some((theirs, _)) = &shard.connected {
                storm.absorb(theirs)?;
            }
        }
        Ok(storm)
    }

    /// Hands every shard the schedule: their wearables start sending on it. A shard that cannot
    /// be told is gone; [`Shards::finish`] reports it as failed.
    pub async fn go(&mut self, go: &Go) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(go)?;
        line.push(b'\n');
        for shard in &mut self.shards {
            let told = shard.stdin.write_all(&line).await;
            if let Err(err) = told.and(shard.stdin.flush().await) {
                eprintln!(
                    "[simulate] wearable process {} (pid {}) is gone: {err}",
                    shard.number, shard.pid
                );
            }
        }
        Ok(())
    }

    /// Waits for every shard's last report and exit.
    pub async fn finish(self) -> Vec<Outcome> {
        futures_util::future::join_all(self.shards.into_iter().map(Shard::finish)).await
    }
}

impl Shard {
    async fn until_connected(&mut self, bar: &indicatif::ProgressBar) -> anyhow::Result<()> {
        let mut answered = 0;
        loop {
            match self.next_event().await {
                Some(Event::Answered { count }) => {
                    answered += count;
                    bar.inc(count);
                }
                Some(Event::Connected { storm, cpu_s }) => {
                    bar.inc((self.wearables as u64).saturating_sub(answered));
                    let storm = storm.storm()?;
                    let admitted = storm.all_admitted();
                    self.connected = Some((storm, cpu_s));
                    return admitted.with_context(|| format!("wearable process {}", self.number));
                }
                Some(Event::Done { .. }) => bail!(
                    "wearable process {} reported its end before connecting",
                    self.number
                ),
                None => {
                    let status = self.child.wait().await?;
                    bail!(
                        "wearable process {} (pid {}) stopped while connecting its wearables: {status}",
                        self.number,
                        self.pid
                    );
                }
            }
        }
    }

    /// The shard's next event; `None` once its stdout ends (or says something unreadable).
    async fn next_event(&mut self) -> Option<Event> {
        let line = self.events.next_line().await.ok()??;
        match serde_json::from_str(&line) {
            Ok(event) => Some(event),
            Err(err) => {
                eprintln!(
                    "[simulate] wearable process {} said something unreadable ({err}): {line}",
                    self.number
                );
                None
            }
        }
    }

    async fn finish(mut self) -> Outcome {
        let mut done = None;
        while let Some(event) = self.next_event().await {
            if matches!(event, Event::Done { .. }) {
                done = Some(event);
                break;
            }
        }
        let exit = match tokio::time::timeout(EXIT_WITHIN, self.child.wait()).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(err)) => Err(format!("unknown: {err}")),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(format!(
                    "killed: still running {} s after its end",
                    EXIT_WITHIN.as_secs()
                ))
            }
        };
        drop(self.stdin);
        let failed = done.is_none() || !exit.as_ref().is_ok_and(|s| s.success());
        Outcome {
            number: self.number,
            pid: self.pid,
            wearables: self.wearables,
            connected: self.connected,
            done,
            exit: exit.map_or_else(|why| why, |status| status.to_string()),
            failed,
        }
    }
}

impl Outcome {
    /// Samples it sent (first attempts); none if it never said.
    pub fn sent(&self) -> u64 {
        match &self.done {
            Some(Event::Done { sent, .. }) => *sent,
            _ => 0,
        }
    }

    /// (resent, unacknowledged) as it reported them.
    pub fn delivery(&self) -> (u64, u64) {
        match &self.done {
            Some(Event::Done {
                resent,
                unacknowledged,
                ..
            }) => (*resent, *unacknowledged),
            _ => (0, 0),
        }
    }

    /// Its memory and CPU while sending, in the shape of the report's `simulator_memory`.
    pub fn cost(&self) -> Option<Value> {
        match &self.done {
            Some(Event::Done { cost, .. }) if !cost.is_null() => Some(cost.clone()),
            _ => None,
        }
    }

    /// Its entry in the report's `wearable_processes`.
    pub fn report(&self) -> Value {
        let (resent, unacknowledged) = self.delivery();
        json!({
            "process": self.number,
            "pid": self.pid,
            "wearables": self.wearables,
            "failed": self.failed,
            "exit": self.exit,
            "connect": self.connected.as_ref().map(|(storm, _)| storm.report()),
            "cpu_s_connecting": self.connected.as_ref().map(|(_, cpu)| cpu),
            "sent": self.done.as_ref().map(|_| self.sent()),
            "resent": resent,
            "unacknowledged": unacknowledged,
            "cost": self.cost(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_process_holds_more_than_its_share_of_sockets() {
        assert_eq!(default_processes(1), 1);
        assert_eq!(default_processes(15_000), 1);
        assert_eq!(default_processes(15_001), 2);
        assert_eq!(default_processes(50_000), 4);
        assert_eq!(default_processes(100_000), 7);
    }
}
