//! `cultfit simulate-shard` (hidden): one wearable process of a simulation. It reads a
//! [`Job`](super::Job) and a [`Go`](super::Go) on stdin, connects and runs its wearables, and
//! reports [`Event`]s on stdout (see [`super`]). Not for people: `cultfit simulate` starts it.

use super::{Event, Go, Job, StormTally};
use crate::simulate::fleet;
use crate::simulate::processes;
use crate::simulate::send;
use crate::simulate::wearable::{self, Wearable};
use anyhow::{Context, bail};
use clap::Args;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often a connecting shard tells how many attempts were answered.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Options of `cultfit simulate-shard`.
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// Which shard of the run this is (for `ps` and error messages only).
    #[arg(long, default_value_t = 0)]
    pub shard: usize,
}

/// Runs one shard to the end; `Ok(false)` if samples went unacknowledged.
pub async fn run(args: ShardArgs) -> anyhow::Result<bool> {
    let me = [std::process::id()];
    let cpu_at_start = processes::cpu_seconds(&me);
    let mut stdin = stdin_lines();
    let job: Job = serde_json::from_str(
        &stdin
            .recv()
            .await
            .context("no job on stdin (this command is started by cultfit simulate)")?,
    )
    .context("reading the job")?;

    let bar = indicatif::ProgressBar::hidden();
    bar.set_length(job.devices.len() as u64);
    let reporting = {
        let bar = bar.clone();
        tokio::spawn(async move {
            let mut told = 0;
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                let answered = bar.position();
                if answered > told {
                    let count = answered - told;
                    if emit(&Event::Answered { count }).is_err() {
                        return;
                    }
                    told = answered;
                }
            }
        })
    };
    let subjects: Vec<(usize, uuid::Uuid, String)> = job
        .devices
        .iter()
        .map(|d| (d.index, d.user, d.subject.clone()))
        .collect();
    let connected =
        fleet::connect_devices(&job.nats_url, job.devices, job.connect_concurrency, &bar).await;
    reporting.abort();
    let (publishers, storm) = connected?;
    emit(&Event::Connected {
        storm: StormTally::from(&storm),
        cpu_s: cpu_spent(&me, &cpu_at_start),
    })?;
    storm.all_admitted()?;

    let Some(line) = stdin.recv().await else {
        bail!("the simulator went away before the session started");
    };
    let go: Go = serde_json::from_str(&line).context("reading the schedule")?;
    // From now on stdin only closes: when it does, the simulator is gone and so is this run.
    tokio::spawn(async move {
        while stdin.recv().await.is_some() {}
        eprintln!(
            "[simulate-shard {}] the simulator went away: stopping",
            args.shard
        );
        std::process::exit(2);
    });

    let schedule = go.schedule();
    let by_index: std::collections::HashMap<usize, async_nats::Client> =
        publishers.into_iter().collect();
    let fleet: Vec<(usize, Wearable, fleet::Publisher)> = subjects
        .into_iter()
        .filter_map(|(index, user, subject)| {
            let client = by_index.get(&index)?.clone();
            let w = Wearable::new(user, subject, wearable::seed_for(go.seed, index))
                .untied(index, go.wearables);
            Some((index, w, client))
        })
        .collect();
    let cpu_before = processes::cpu_seconds(&me);
    let sending = Instant::now();
    let delivery = Arc::new(send::Delivery::default());
    send::devices(schedule, fleet, delivery.clone()).await?;
    let cpu_after = processes::cpu_seconds(&me);
    let cost = processes::report(
        &me,
        &cpu_before,
        &cpu_after,
        sending.elapsed().as_secs_f64(),
    );
    let unacknowledged = delivery.unacknowledged.load(Ordering::Relaxed);
    emit(&Event::Done {
        sent: delivery.sent.load(Ordering::Relaxed),
        resent: delivery.resent.load(Ordering::Relaxed),
        unacknowledged,
        cost: cost.get(0).cloned().unwrap_or_default(),
    })?;
    Ok(unacknowledged == 0)
}

/// Stdin's lines, read on a thread of their own: a blocking read cannot be cancelled, and one on
/// the runtime's blocking pool would keep the process from exiting at the end. The channel closes
/// when stdin does.
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (lines, receiver) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// CPU seconds `pids[0]` used since `before`.
fn cpu_spent(pids: &[u32], before: &std::collections::HashMap<u32, f64>) -> f64 {
    let after = processes::cpu_seconds(pids);
    let spent = pids
        .first()
        .and_then(|pid| Some(after.get(pid)? - before.get(pid)?))
        .unwrap_or(0.0);
    (spent * 100.0).round() / 100.0
}

/// Writes `event` as one line on stdout, at once (the simulator waits on it).
fn emit(event: &Event) -> anyhow::Result<()> {
    let line = serde_json::to_string(event)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("the simulator stopped listening")
}
