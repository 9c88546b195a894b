//! Sending the wearables' samples on schedule.
//!
//! The script is fixed relative to the workout's start: wearable `i` of `n` sends its sample `k`
//! stamped `started_at + lead + k·period + i·period/n`. Two runs with the same seed therefore send
//! the same samples at the same offsets into their sessions, and must end with identical results
//! whatever failed in between. Sends are scheduled: latency counts from a sample's intended send
//! time, so a stalled service cannot hide latency by slowing the sender down.
//!
//! Devices deliver the way a careful wearable does: each sample goes out with a reply subject in
//! the device's own inbox, and JetStream acknowledges it once stored. A sample not acknowledged in
//! [`ACK_TIMEOUT`] (its server died, the stream is electing a leader; the wait doubles while acks
//! stay missing) is sent again, and the samples after it wait behind it: the board keeps the highest `seq` per trainee, so a sample
//! overtaken by a newer one would be missing from the per-second history. Sending one twice is
//! harmless (the board counts it once). A trusted publisher fires and forgets over shared service
//! connections instead: the ingest-ceiling benchmark, not a wearable.
//!
//! Devices run in wearable processes ([`super::shards`]); the process that follows the frames
//! times their samples with [`script`], which replays the same deterministic readings on the same
//! schedule, so every sample is timed from its intended send time in one place, whichever process
//! sent it (and one never sent is never shown, which the report counts).

use super::fleet::Publisher;
use super::progress::Progress;
use super::tracker::{Tracker, lock};
use super::wearable::Wearable;
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// How long a device first waits for JetStream to acknowledge a sample before sending it again;
/// each further miss in a row doubles it, up to [`MAX_ACK_TIMEOUT`]. An overloaded server answers
/// late rather than never, and resending at a fixed pace only adds duplicates to its load.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_ACK_TIMEOUT: Duration = Duration::from_secs(8);
/// Pause after a failed attempt (no responders answer at once while a stream elects its leader).
const RETRY_PAUSE: Duration = Duration::from_millis(250);
/// How long devices keep trying to deliver what is still unacknowledged after the last sample.
const DRAIN_FOR: Duration = Duration::from_secs(30);
/// Tasks a trusted publisher's wearables are spread over.
const TRUSTED_TASKS: usize = 32;
/// How far ahead of their intended send [`script`] expects samples (a frame cannot reflect a
/// sample before it is due: see [`super::wearable::Latencies::observed`]), and how often it wakes.
const SCRIPT_AHEAD: Duration = Duration::from_millis(50);
const SCRIPT_STEP: Duration = Duration::from_millis(10);

/// When each wearable sends each sample, and the timestamp it carries.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// The first sample's intended send time (wearable 0), on this process's clock.
    first: Instant,
    /// The same moment as an epoch-millisecond timestamp (what samples carry).
    first_ts_ms: i64,
    period: Duration,
    /// How many samples each wearable sends.
    rounds: u32,
    wearables: usize,
}

impl Schedule {
    /// Samples every `period` for `duration`, the first `lead` after `started_at`, spread over
    /// `wearables` phases within each period so the load is smooth.
    pub fn new(
        started_at: DateTime<Utc>,
        lead: Duration,
        period: Duration,
        duration: Duration,
        wearables: usize,
    ) -> Self {
        let first_ts_ms = started_at.timestamp_millis() + lead.as_millis() as i64;
        let from_now_ms = first_ts_ms - Utc::now().timestamp_millis();
        let first = if from_now_ms >= 0 {
            Instant::now() + Duration::from_millis(from_now_ms as u64)
        } else {
            Instant::now()
                .checked_sub(Duration::from_millis(from_now_ms.unsigned_abs()))
                .unwrap_or_else(Instant::now)
        };
        Self {
            first,
            first_ts_ms,
            period,
            rounds: (duration.as_secs_f64() / period.as_secs_f64()).ceil() as u32,
            wearables: wearables.max(1),
        }
    }

    /// When wearable `i` sends sample `k` (0-based), and its timestamp; `None` past the end.
    pub fn at(&self, i: usize, k: u32) -> Option<(Instant, i64)> {
        if k >= self.rounds {
            return None;
        }
        let offset = self.period * k + self.period.mul_f64(i as f64 / self.wearables as f64);
        Some((
            self.first + offset,
            self.first_ts_ms + offset.as_millis() as i64,
        ))
    }

    /// The interval between a wearable's samples.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// When the schedule began (for progress lines).
    pub fn began(&self) -> Instant {
        self.first
    }
}

/// How delivery went for devices: samples sent, those sent again after a missing ack, and those
/// never acknowledged even after [`DRAIN_FOR`].
#[derive(Debug, Default)]
pub struct Delivery {
    /// Samples taken and sent (first attempts).
    pub sent: AtomicU64,
    /// Sends beyond the first, for samples whose ack did not come.
    pub resent: AtomicU64,
    /// Samples given up on.
    pub unacknowledged: AtomicU64,
}

/// Runs every device (with its index in the session) to the end of the schedule, each on its own
/// task with acknowledged, ordered delivery; returns each wearable's final energy.
pub async fn devices(
    schedule: Schedule,
    fleet: Vec<(usize, Wearable, Publisher)>,
    delivery: Arc<Delivery>,
) -> anyhow::Result<Vec<(Uuid, f64)>> {
    let tasks: Vec<_> = fleet
        .into_iter()
        .map(|(i, wearable, client)| {
            tokio::spawn(device(
                schedule,
                i,
                wearable,
                async_nats::jetstream::new(client),
                delivery.clone(),
            ))
        })
        .collect();
    let mut finals = Vec::with_capacity(tasks.len());
    for task in tasks {
        finals.push(task.await?);
    }
    Ok(finals)
}

async fn device(
    schedule: Schedule,
    i: usize,
    mut wearable: Wearable,
    jetstream: async_nats::jetstream::Context,
    delivery: Arc<Delivery>,
) -> (Uuid, f64) {
    let mut unacked = Unacked::default();
    let mut k = 0;
    while let Some((intended, ts_ms)) = schedule.at(i, k) {
        tokio::time::sleep_until(intended).await;
        let sample = wearable.next(ts_ms, schedule.period().as_secs_f64());
        delivery.sent.fetch_add(1, Ordering::Relaxed);
        unacked.backlog.push_back(Pending {
            payload: serde_json::to_vec(&sample).unwrap_or_default().into(),
            sent_before: false,
        });
        k += 1;
        let next = schedule.at(i, k).map_or(intended + DRAIN_FOR, |(at, _)| at);
        unacked
            .deliver(&jetstream, &wearable.subject, next, &delivery)
            .await;
    }
    delivery
        .unacknowledged
        .fetch_add(unacked.backlog.len() as u64, Ordering::Relaxed);
    (wearable.user, wearable.energy())
}

/// Expects every sample of `wearables` (wearable `i` of the session at `i`) as it comes due, in
/// the tracker, until the end of the schedule: the same readings the wearable processes send,
/// timed from their intended send. Returns each wearable's final energy.
pub async fn script(
    schedule: Schedule,
    mut wearables: Vec<Wearable>,
    tracker: Arc<Mutex<Tracker>>,
) -> Vec<(Uuid, f64)> {
    let period_s = schedule.period().as_secs_f64();
    let (mut i, mut k) = (0, 0);
    // Samples come due in (round, wearable) order: walk that order, a step's worth at a time.
    while !wearables.is_empty() {
        let horizon = Instant::now() + SCRIPT_AHEAD;
        {
            let mut t = lock(&tracker);
            while let Some((intended, ts_ms)) = schedule.at(i, k) {
                if intended > horizon {
                    break;
                }
                let w = &mut wearables[i];
                let sample = w.next(ts_ms, period_s);
                t.latencies.sent(w.user, sample.energy, intended.into_std());
                i += 1;
                if i == wearables.len() {
                    (i, k) = (0, k + 1);
                }
            }
        }
        if schedule.at(i, k).is_none() {
            break;
        }
        tokio::time::sleep(SCRIPT_STEP).await;
    }
    wearables.iter().map(|w| (w.user, w.energy())).collect()
}

/// A sample waiting for its ack, and whether it went out before (a later send is a resend,
/// whichever call of [`Unacked::deliver`] makes it).
struct Pending {
    payload: bytes::Bytes,
    sent_before: bool,
}

/// What one device has not had acknowledged yet, oldest first, and how long it waits for the
/// next ack (doubled after a miss, reset by an ack).
struct Unacked {
    backlog: VecDeque<Pending>,
    patience: Duration,
}

impl Default for Unacked {
    fn default() -> Self {
        Self {
            backlog: VecDeque::new(),
            patience: ACK_TIMEOUT,
        }
    }
}

impl Unacked {
    /// Publishes the backlog in order, each with an ack, until it is empty or `until`.
    async fn deliver(
        &mut self,
        jetstream: &async_nats::jetstream::Context,
        subject: &str,
        until: Instant,
        delivery: &Delivery,
    ) {
        while let Some(pending) = self.backlog.front_mut() {
            if pending.sent_before {
                delivery.resent.fetch_add(1, Ordering::Relaxed);
            }
            pending.sent_before = true;
            let payload = pending.payload.clone();
            let attempt = async {
                jetstream
                    .publish(subject.to_owned(), payload)
                    .await?
                    .await
                    .map_err(async_nats::Error::from)
            };
            match tokio::time::timeout(self.patience, attempt).await {
                Ok(Ok(_ack)) => {
                    self.backlog.pop_front();
                    self.patience = ACK_TIMEOUT;
                }
                missed => {
                    if missed.is_err() {
                        self.patience = (self.patience * 2).min(MAX_ACK_TIMEOUT);
                    }
                    if Instant::now() + RETRY_PAUSE >= until {
                        return;
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }
}

/// Runs every wearable over the shared connections to the end of the schedule, without acks;
/// returns each wearable's final energy.
pub async fn trusted(
    schedule: Schedule,
    fleet: Vec<(Wearable, Publisher)>,
    tracker: Arc<Mutex<Tracker>>,
) -> anyhow::Result<Vec<(Uuid, f64)>> {
    let mut by_task: Vec<Vec<(usize, Wearable, Publisher)>> = vec![Vec::new(); TRUSTED_TASKS];
    for (i, (w, publisher)) in fleet.into_iter().enumerate() {
        by_task[i % TRUSTED_TASKS].push((i, w, publisher));
    }
    let mut tasks = Vec::new();
    for mut group in by_task.into_iter().filter(|g| !g.is_empty()) {
        let tracker = tracker.clone();
        tasks.push(tokio::spawn(async move {
            let mut k = 0;
            'rounds: loop {
                for (i, w, publisher) in &mut group {
                    let Some((intended, ts_ms)) = schedule.at(*i, k) else {
                        break 'rounds;
                    };
                    tokio::time::sleep_until(intended).await;
                    let sample = w.next(ts_ms, schedule.period().as_secs_f64());
                    let payload = serde_json::to_vec(&sample).unwrap_or_default();
                    if publisher
                        .publish(w.subject.clone(), payload.into())
                        .await
                        .is_err()
                    {
                        break 'rounds;
                    }
                    lock(&tracker)
                        .latencies
                        .sent(w.user, sample.energy, intended.into_std());
                }
                k += 1;
            }
            for (_, _, publisher) in &group {
                let _ = publisher.flush().await;
            }
            group
                .into_iter()
                .map(|(_, w, _)| (w.user, w.energy()))
                .collect::<Vec<_>>()
        }));
    }
    let mut finals = Vec::new();
    for task in tasks {
        finals.extend(task.await?);
    }
    Ok(finals)
}

/// What the sending phase shows: a bar over the session's seconds with the counts so far, and
/// where no bar is drawn a line every 5 s instead.
pub struct Live {
    task: tokio::task::JoinHandle<()>,
    bar: indicatif::ProgressBar,
}

impl Live {
    /// Starts showing the session (`seconds` long) until [`Live::stop`].
    pub fn show(
        progress: &Progress,
        schedule: Schedule,
        seconds: u64,
        tracker: Arc<Mutex<Tracker>>,
    ) -> Self {
        let bar = progress.clock(seconds, "live");
        let (shown, progress) = (bar.clone(), progress.clone());
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(250));
            let mut next_line = Instant::now() + Duration::from_secs(5);
            loop {
                ticks.tick().await;
                let elapsed = Instant::now()
                    .checked_duration_since(schedule.began())
                    .unwrap_or_default()
                    .as_secs_f64();
                let status = {
                    let t = lock(&tracker);
                    let h = &t.latencies.histogram;
                    format!(
                        "sent {}, accepted {}, rejected {}, ticks {}, p99 {:.1} ms",
                        t.latencies.sent,
                        t.samples.0,
                        t.samples.1,
                        t.ticks,
                        h.value_at_quantile(0.99) as f64 / 1000.0
                    )
                };
                shown.set_position((elapsed as u64).min(seconds));
                shown.set_message(status.clone());
                if !progress.drawn() && Instant::now() >= next_line {
                    next_line += Duration::from_secs(5);
                    progress.line(&format!("{elapsed:>5.0} s: {status}"));
                }
            }
        });
        Self { task, bar }
    }

    /// Stops showing it.
    pub fn stop(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_fixed_relative_to_the_start_and_spreads_the_wearables() {
        let started = Utc::now();
        let schedule = Schedule::new(
            started,
            Duration::from_secs(2),
            Duration::from_millis(500),
            Duration::from_secs(3),
            4,
        );
        let ts = |i, k| {
            schedule
                .at(i, k)
                .map(|(_, ts)| ts - started.timestamp_millis())
        };
        assert_eq!(ts(0, 0), Some(2_000));
        assert_eq!(ts(1, 0), Some(2_125), "a quarter period later");
        assert_eq!(ts(3, 5), Some(2_000 + 5 * 500 + 375));
        assert_eq!(ts(0, 6), None, "3 s at 2 Hz is six samples");
        let (a, _) = schedule.at(0, 0).unwrap_or((Instant::now(), 0));
        let (b, _) = schedule.at(0, 1).unwrap_or((Instant::now(), 0));
        assert_eq!(b - a, Duration::from_millis(500));
    }
}
