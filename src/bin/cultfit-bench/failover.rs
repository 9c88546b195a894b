//! PERFORMANCE scenario 8, one hour in: kill -9 the owner of a live session whose `ENERGY` stream
//! already holds an hour of samples, and time how long until frames show everything again —
//! first with the session's snapshot in the `snapshots` bucket, then (the baseline, same run)
//! with the snapshot removed, so the next owner replays the whole hour.
//!
//! The session is seeded straight into PostgreSQL as live since `--seconds` ago (trainer, trainees,
//! bookings); the hour of samples is published into the stream as the service (acknowledged by
//! JetStream, in time order, one sample a second per participant) while the owner reads along.
//! From then on every participant keeps sending one sample a second, as a live class does, so a
//! new owner has the samples since the snapshot to read too: the kill comes just before the next
//! snapshot is due, when that tail is longest. The owner is found in the `owners` bucket and
//! killed by the pid `scripts/bench` gives for its node id; "resumed" is the first frame of the
//! new owner that shows at least as many samples as the last frame before the kill.

use anyhow::{Context, bail};
use bus_contracts::subjects;
use bus_contracts::v1::ActorKind;
use chrono::{TimeDelta, Utc};
use cultfit::live::reader::LiveReader;
use cultfit::live::state::LiveState;
use futures_util::StreamExt as _;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Acknowledgements awaited at once while pre-filling the stream.
const WINDOW: usize = 4096;

/// Frames as they arrived: when, from which owner epoch, with how many samples accepted; and the
/// newest frame's count of rejected samples (none are expected: a rejection means a bad bench).
#[derive(Default)]
struct Frames {
    arrived: Vec<(Instant, u64, u64)>,
    rejected: u64,
}

impl Frames {
    /// When the first frame of an epoch after `epoch` arrived, and when the first one of those
    /// showing at least `accepted` samples did.
    fn after(
        &self,
        epoch: u64,
        since: Instant,
        accepted: u64,
    ) -> (Option<Duration>, Option<Duration>) {
        let newer = self
            .arrived
            .iter()
            .filter(|(at, e, _)| *e > epoch && *at >= since);
        let first = newer.clone().next().map(|(at, ..)| *at - since);
        let complete = newer
            .filter(|(.., a)| *a >= accepted)
            .map(|(at, ..)| *at - since)
            .next();
        (first, complete)
    }

    fn newest(&self) -> Option<(u64, u64)> {
        self.arrived
            .last()
            .map(|&(_, epoch, accepted)| (epoch, accepted))
    }
}

/// What `cultfit-bench failover` needs besides the common options.
pub struct Setup<'a> {
    pub bench: &'a super::Bench,
    pub nats: async_nats::Client,
    pub participants: usize,
    pub seconds: u64,
    /// Worker node id → pid.
    pub workers: HashMap<String, u32>,
    pub snapshot_secs: u64,
    pub lease_ttl_secs: u64,
    pub label: &'a str,
}

pub async fn run(setup: Setup<'_>) -> anyhow::Result<()> {
    let Setup {
        bench,
        nats,
        participants,
        seconds,
        workers,
        snapshot_secs,
        lease_ttl_secs,
        label,
    } = setup;
    if participants == 0 || seconds == 0 || workers.len() < 2 {
        bail!("needs participants, seconds and at least two --worker node_id=pid");
    }
    let started_at = Utc::now() - TimeDelta::seconds(seconds as i64 + 5);
    let (workout, trainees) = seed(bench, participants, started_at, seconds).await?;
    eprintln!(
        "[failover] workout {workout}: live since {seconds} s ago, {participants} participants"
    );

    let frames = Arc::new(Mutex::new(Frames::default()));
    let live = nats.subscribe(subjects::workout_live(workout)).await?;
    tokio::spawn(follow(
        live,
        LiveReader::new(nats.clone(), workout),
        frames.clone(),
    ));

    // Samples of the pre-filled hour.
    let total = (participants as u64) * seconds;
    let filling = Instant::now();
    prefill(
        &nats,
        workout,
        &trainees,
        started_at.timestamp_millis(),
        seconds,
    )
    .await?;
    let fill_s = filling.elapsed().as_secs_f64();
    eprintln!(
        "[failover] {total} samples stored in {fill_s:.0} s; waiting for the owner to show them all"
    );
    let shown = wait(&frames, Duration::from_secs(3600), |f| {
        f.newest().is_some_and(|(_, accepted)| accepted >= total)
    })
    .await
    .context("the owner never showed every sample")?;
    let first_read_s = shown.duration_since(filling).as_secs_f64();

    let sending = tokio::spawn(keep_sending(
        nats.clone(),
        workout,
        trainees.clone(),
        started_at.timestamp_millis(),
        seconds,
    ));

    let js = async_nats::jetstream::new(nats.clone());
    let snapshots = js.get_key_value(subjects::SNAPSHOTS_BUCKET).await?;
    let owners = js.get_key_value(subjects::OWNERS_BUCKET).await?;
    let head_key = subjects::snapshot_head(workout);
    // A snapshot taken after the hour was read (its head counts every sample of it), then the
    // kill just before the next one is due.
    let deadline = Instant::now() + Duration::from_secs(snapshot_secs * 2 + 30);
    let mut seen = None;
    let covered = loop {
        if let Some(entry) = snapshots.entry(head_key.clone()).await? {
            let head = cultfit_actors::workout::live_snapshots::Head::decode(&entry.value)?;
            if head.counts.accepted >= total && seen.is_some_and(|r| r != entry.revision) {
                break head.counts.accepted;
            }
            seen = Some(entry.revision);
        }
        if Instant::now() > deadline {
            bail!(
                "no snapshot covering every sample appeared within {} s",
                snapshot_secs * 2 + 30
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(snapshot_secs.saturating_sub(3))).await;

    let mut with_snapshot = kill_owner(&owners, &workers, workout, &frames).await?;
    with_snapshot["samples_after_the_snapshot"] = json!(
        with_snapshot["shown_before_the_kill"]
            .as_u64()
            .unwrap_or(0)
            .saturating_sub(covered)
    );
    eprintln!("[failover] with the snapshot: {with_snapshot}");
    // The baseline: the same failover with nothing to restore from.
    snapshots.purge(&head_key).await?;
    let without = kill_owner(&owners, &workers, workout, &frames).await?;
    eprintln!("[failover] without a snapshot: {without}");
    sending.abort();
    println!(
        "{}",
        json!({
            "scenario": "failover one hour in (PERFORMANCE 8)",
            "label": label,
            "participants": participants,
            "seconds_of_samples": seconds,
            "samples": total,
            "prefill_s": (fill_s * 10.0).round() / 10.0,
            "first_owner_showed_all_after_s": (first_read_s * 10.0).round() / 10.0,
            "lease_ttl_s": lease_ttl_secs,
            "target_s": lease_ttl_secs + 2,
            "with_snapshot": with_snapshot,
            "without_snapshot_baseline": without,
        })
    );
    Ok(())
}

/// Kills the owner and times the frames that follow.
async fn kill_owner(
    owners: &async_nats::jetstream::kv::Store,
    workers: &HashMap<String, u32>,
    workout: Uuid,
    frames: &Mutex<Frames>,
) -> anyhow::Result<serde_json::Value> {
    let key = subjects::lease_key(ActorKind::Workout, workout);
    let owner = owners
        .get(key)
        .await?
        .map(|node| String::from_utf8_lossy(&node).into_owned())
        .context("the workout has no owner")?;
    let pid = *workers
        .get(&owner)
        .context("the owner is not one of the --worker nodes")?;
    let (epoch, shown) = lock(frames).newest().unwrap_or_default();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()?;
    if !status.success() {
        bail!("kill -9 {pid} failed");
    }
    let killed = Instant::now();
    eprintln!("[failover] killed {owner} (pid {pid}) at epoch {epoch}");
    wait(frames, Duration::from_secs(3600), |f| {
        f.after(epoch, killed, shown).1.is_some()
    })
    .await
    .context("frames never showed every sample again")?;
    let (first, complete) = lock(frames).after(epoch, killed, shown);
    let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
    Ok(json!({
        "killed": owner,
        "shown_before_the_kill": shown,
        "first_frame_ms": ms(first),
        "resumed_ms": ms(complete),
    }))
}

fn lock(frames: &Mutex<Frames>) -> std::sync::MutexGuard<'_, Frames> {
    frames
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Polls until `done` holds (returning when), or `limit` passes, or a frame counts a rejected
/// sample (every sample here is valid, so that one could never be shown). Says every 30 s how far
/// the frames are.
async fn wait(
    frames: &Mutex<Frames>,
    limit: Duration,
    done: impl Fn(&Frames) -> bool,
) -> anyhow::Result<Instant> {
    let started = Instant::now();
    let mut said = started;
    while started.elapsed() < limit {
        {
            let frames = lock(frames);
            if done(&frames) {
                return Ok(Instant::now());
            }
            if frames.rejected > 0 {
                bail!("the owner rejected {} samples", frames.rejected);
            }
            if said.elapsed() >= Duration::from_secs(30) {
                said = Instant::now();
                let (epoch, accepted) = frames.newest().unwrap_or_default();
                eprintln!("[failover] frames show {accepted} samples (epoch {epoch})");
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("gave up after {} s", limit.as_secs())
}

async fn follow(
    mut live: async_nats::Subscriber,
    mut reader: LiveReader,
    frames: Arc<Mutex<Frames>>,
) {
    let mut state = LiveState::default();
    while let Some(message) = live.next().await {
        let Ok(Some(update)) = reader.read(&message.payload).await else {
            continue;
        };
        let before = state.frame.as_ref().map(|f| (f.epoch, f.tick));
        state.apply(update);
        if let Some(frame) = &state.frame
            && before != Some((frame.epoch, frame.tick))
        {
            let mut frames = lock(&frames);
            frames
                .arrived
                .push((Instant::now(), frame.epoch, frame.samples.accepted));
            frames.rejected = frame.samples.rejected;
        }
    }
}

/// A trainer, `n` trainees booked, and a workout live since `started_at` (scheduled to end an
/// hour after the samples do, so it is not ended automatically meanwhile).
async fn seed(
    bench: &super::Bench,
    n: usize,
    started_at: chrono::DateTime<Utc>,
    seconds: u64,
) -> anyhow::Result<(Uuid, Vec<Uuid>)> {
    let pool = &bench.pool;
    let trainer = bench.seed_users("trainer", 1).await?[0];
    let trainees = bench.seed_users("trainee", n).await?;
    let workout = Uuid::now_v7();
    let minutes = (seconds / 60 + 60).min(240) as i32;
    // One transaction: a worker's live sweep must not activate the workout before its bookings
    // exist (its board would start empty and refuse every sample as from a stranger).
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO workouts (id, workout_type, title, trainer_id, starts_at, duration_minutes, capacity, state, started_at)
         VALUES ($1, 'hiit', 'Bench: an hour in', $2, $3, $4, $5, 'live', $3)",
    )
    .bind(workout)
    .bind(trainer)
    .bind(started_at)
    .bind(minutes)
    .bind(n as i32)
    .execute(&mut *tx)
    .await
    .context("failed to seed the live workout")?;
    sqlx::query(
        "INSERT INTO registrations (workout_id, trainee_id, status, joined_at)
         SELECT $1, id, 'booked', $3 FROM unnest($2::uuid[]) AS id",
    )
    .bind(workout)
    .bind(&trainees)
    .bind(started_at)
    .execute(&mut *tx)
    .await
    .context("failed to seed the bookings")?;
    tx.commit().await?;
    Ok((workout, trainees))
}

/// Trainee `i`'s sample for second `s` of the session: a steady rating of `20 + i % 80`.
fn sample(i: usize, s: u64, started_at_ms: i64) -> String {
    let rating = 20 + (i % 80) as u64;
    json!({
        "seq": s + 1,
        "ts": started_at_ms + (s as i64) * 1000 + 500,
        "rating": rating,
        "energy": rating * (s + 1),
    })
    .to_string()
}

/// After the pre-filled `from` seconds, every trainee sends a sample a second, as a live class
/// does, until aborted.
async fn keep_sending(
    nats: async_nats::Client,
    workout: Uuid,
    trainees: Vec<Uuid>,
    started_at_ms: i64,
    from: u64,
) {
    let subjects: Vec<String> = trainees
        .iter()
        .map(|&t| subjects::workout_energy(workout, t))
        .collect();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    for s in from.. {
        every.tick().await;
        for (i, subject) in subjects.iter().enumerate() {
            let _ = nats
                .publish(subject.clone(), sample(i, s, started_at_ms).into())
                .await;
        }
    }
}

/// Publishes `seconds` of samples of every trainee, second by second, into the `ENERGY` stream
/// (each acknowledged; see [`sample`]).
async fn prefill(
    nats: &async_nats::Client,
    workout: Uuid,
    trainees: &[Uuid],
    started_at_ms: i64,
    seconds: u64,
) -> anyhow::Result<()> {
    let js = async_nats::jetstream::new(nats.clone());
    let subjects: Vec<String> = trainees
        .iter()
        .map(|&t| subjects::workout_energy(workout, t))
        .collect();
    let total = trainees.len() as u64 * seconds;
    // Sent one by one, so each trainee's samples reach the stream in order (a later `seq` stored
    // first would make the earlier one stale, as it would for a real wearable); only the
    // acknowledgements are awaited together.
    let mut acks = futures_util::stream::FuturesUnordered::new();
    let mut stored = 0u64;
    for s in 0..seconds {
        for (i, subject) in subjects.iter().enumerate() {
            let payload = sample(i, s, started_at_ms);
            let ack = js.publish(subject.clone(), payload.into()).await?;
            acks.push(std::future::IntoFuture::into_future(ack));
            while acks.len() >= WINDOW {
                acks.next()
                    .await
                    .transpose()
                    .context("a sample was not stored")?;
                stored += 1;
                if stored.is_multiple_of((total / 20).max(1)) {
                    eprintln!("[failover] stored {stored} of {total}");
                }
            }
        }
    }
    while let Some(ack) = acks.next().await {
        ack.context("a sample was not stored")?;
    }
    Ok(())
}
