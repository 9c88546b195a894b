//! `cultfit-bench`: load generator for commands through the actors, against a running cluster.
//!
//! `scripts/bench` starts clusters of different shapes and runs this against each; figures and
//! how to read them are in `docs/BENCHMARKS.md`. Scenarios:
//! - `bookings`: N trainees each book one of W workouts through the api nodes, C at a time
//!   (closed loop): bookings/s and latency percentiles.
//! - `join-storm`: N trainees, all booked, call `join` spread evenly over S seconds (open loop:
//!   latency is measured from each call's *intended* send time, so a stalled server cannot hide
//!   latency by slowing the sender).
//! - `baseline`: the same client and concurrency against `GET /health/live` of the same api node,
//!   which is what HTTP alone costs on this machine in this run.
//! - `connect-storm`: N booked trainees' wearables connect to the locked bus with their device
//!   tokens, spread evenly over S seconds (open loop, latency from each intended connect time),
//!   each admitted by the auth callout. With `--open` the same connections go, without any
//!   credentials, to an open nats-server instead: the baseline of what a connection costs. With
//!   `--publish-secs` every connection then publishes a sample a second, and the CPU of the
//!   `--watch`ed processes is reported per sample (`scripts/bench bus-floor`: the floor under
//!   PERFORMANCE row 1-XL).
//! - `many-classes` (PERFORMANCE scenario 9): K live sessions of N wearables at once (200 × 50 by
//!   default), every wearable on its own device connection, over the workers: tick lateness as the
//!   workers measure it, sessions per worker, CPU per idle and per busy session; then one session
//!   of K × N wearables, the baseline (see `many_classes.rs`).
//! - `ranking` (PERFORMANCE scenario 6; needs no cluster, only a Redis): the same generated updates
//!   folded into the live `Board` in process, ranked and sliced into every client's view each tick,
//!   beside a Redis sorted set on loopback (`ZADD`, `ZREVRANGE`, `ZREVRANK`, pipelined) giving
//!   the same answers; timed at two levels (ranks, and views with neighbours) on both sides.
//!
//! - `read-api` (PERFORMANCE scenario 4): authenticated `GET /api/v1/workouts` over a seeded
//!   catalogue beside `GET /health/live` (hello-JSON) of the same node, same client and
//!   concurrency, in alternating rounds.
//! - `login-flood` (PERFORMANCE scenario 5): argon2 timed in process through the service's
//!   `PasswordHasher`, then `POST /api/v1/auth/login` flooded with real accounts while
//!   `GET /api/v1/workouts` is read at a steady pace.
//! - `persist-results` (PERFORMANCE scenario 7; needs only a migrated database): a session's
//!   results with their curves written through `store::persist`, beside `COPY` of the same rows.
//!
//! Setup that is not under test (accounts, and for the join storm the bookings) is seeded straight
//! into PostgreSQL, and access tokens are minted with the cluster's JWT secret, so the run
//! measures the commands and not argon2.

use anyhow::{Context, bail};
use chrono::{TimeDelta, Utc};
use clap::{Parser, Subcommand};
use cultfit::accounts::Role;
use cultfit::auth::tokens::JwtKeys;
use cultfit::simulate::processes;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

mod failover;
mod login_flood;
mod many_classes;
mod persist_results;
mod ranking;
mod read_api;

#[derive(Parser)]
#[command(about = "Load generator for cultfit commands (see docs/BENCHMARKS.md)")]
struct Args {
    /// Api node base URLs, comma separated (requests are spread round-robin). Required by every
    /// scenario but `ranking` and `persist-results`.
    #[arg(long, value_delimiter = ',')]
    api: Vec<String>,
    /// The cluster's database (for seeding). Required by every scenario but `ranking`.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// The cluster's JWT secret (to mint access tokens). Required by every scenario but `ranking`
    /// and `persist-results`.
    #[arg(long, env = "CULTFIT_JWT_SECRET")]
    jwt_secret: Option<String>,
    /// A label for the report line, e.g. "2 workers".
    #[arg(long, default_value = "")]
    label: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Closed-loop bookings.
    Bookings {
        /// Trainees (one booking each).
        #[arg(long, default_value_t = 2_000)]
        trainees: usize,
        /// Workouts the bookings are spread over.
        #[arg(long, default_value_t = 20)]
        workouts: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// The HTTP baseline: `GET /health/live`, closed loop.
    Baseline {
        /// Requests.
        #[arg(long, default_value_t = 4_000)]
        requests: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Open-loop connect storm of wearables with device tokens.
    ConnectStorm {
        /// NATS URL of the bus (or, with `--open`, of an open nats-server).
        #[arg(long)]
        nats_url: String,
        /// Wearables that connect.
        #[arg(long, default_value_t = 10_000)]
        wearables: usize,
        /// Seconds the connects are spread over.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Baseline: connect without credentials to an open server (nothing is seeded).
        #[arg(long)]
        open: bool,
        /// Once every wearable is in, each publishes one sample a second on its energy subject
        /// for this many seconds (core publish, as DESIGN.md §5); 0 publishes nothing.
        #[arg(long, default_value_t = 0)]
        publish_secs: u64,
        /// Processes (pids, e.g. the nats-servers) whose CPU over the publishing is reported.
        #[arg(long)]
        watch: Vec<u32>,
        /// With `--open` (a server with JetStream): first create a file-backed stream capturing
        /// every energy subject, as `ENERGY` does, so the publishing also pays for storing.
        #[arg(long, requires = "open")]
        capture: bool,
    },
    /// Open-loop join storm.
    JoinStorm {
        /// Booked trainees who join.
        #[arg(long, default_value_t = 10_000)]
        trainees: usize,
        /// Seconds the joins are spread over.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Failover one hour in: kill -9 the owner of a session whose stream holds an hour of
    /// samples, with its snapshot and then without (PERFORMANCE scenario 8).
    Failover {
        /// The bus (comma-separated server URLs).
        #[arg(long)]
        nats_url: String,
        /// The bus secrets file: the bench publishes and watches as the service.
        #[arg(long, env = "CULTFIT_NATS_SECRETS")]
        nats_secrets: std::path::PathBuf,
        /// Participants in the session.
        #[arg(long, default_value_t = 10_000)]
        participants: usize,
        /// Seconds of samples (one a second per participant) in the stream before the kill.
        #[arg(long, default_value_t = 3_600)]
        seconds: u64,
        /// A worker node as `node_id=pid` (at least three: one dies per failover).
        #[arg(long = "worker", value_parser = parse_worker)]
        workers: Vec<(String, u32)>,
        /// The workers' `--snapshot-secs`.
        #[arg(long, default_value_t = 60)]
        snapshot_secs: u64,
        /// The workers' `--lease-ttl-secs`.
        #[arg(long, default_value_t = 6)]
        lease_ttl_secs: u64,
    },
    /// Authenticated `GET /api/v1/workouts` beside hello-JSON (`GET /health/live`).
    ReadApi {
        /// Trainers the catalogue's workouts are spread over.
        #[arg(long, default_value_t = 12)]
        trainers: usize,
        /// Upcoming workouts in the catalogue.
        #[arg(long, default_value_t = 300)]
        workouts: usize,
        /// Trainees who hold the catalogue's bookings (and whose tokens the reads carry).
        #[arg(long, default_value_t = 2_000)]
        trainees: usize,
        /// Seconds of each round of each side.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Requests in flight.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Rounds (hello-JSON, then the listing, each round).
        #[arg(long, default_value_t = 2)]
        rounds: usize,
    },
    /// Login flood against `cores / argon2 time`, with paced reads during it.
    LoginFlood {
        /// Accounts the logins go round robin over.
        #[arg(long, default_value_t = 1_000)]
        accounts: usize,
        /// Seconds of flood.
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// Logins in flight.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Paced `GET /api/v1/workouts` per second during the flood.
        #[arg(long, default_value_t = 50)]
        reads_per_s: u32,
        /// Argon2 verifications timed in process, one after the other.
        #[arg(long, default_value_t = 40)]
        hash_samples: usize,
    },
    /// A session's results written through `store::persist`, beside COPY of the same rows (needs
    /// only `--database-url`, a migrated database that may be written to).
    PersistResults {
        /// Participants (results rows).
        #[arg(long, default_value_t = 10_000)]
        participants: usize,
        /// Session length: one energy point per second, one rating per minute.
        #[arg(long, default_value_t = 60)]
        minutes: u32,
        /// Rounds, each a fresh workout (the sides alternate which goes first).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Many live sessions at once over the workers, beside one session of as many wearables.
    ManyClasses {
        /// Sessions at once.
        #[arg(long, default_value_t = 200)]
        classes: usize,
        /// Wearables per session.
        #[arg(long, default_value_t = 50)]
        trainees: usize,
        /// Seconds the wearables publish (at 1 Hz).
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Seconds measured with nothing live, and again with every session live but no samples.
        #[arg(long, default_value_t = 20)]
        idle_seconds: u64,
        /// A worker node's HTTP base URL, for its `/metrics` (repeat for each worker).
        #[arg(long = "worker", required = true)]
        workers: Vec<String>,
        /// Each worker's process id, for its CPU time (repeat, in the order of `--worker`).
        #[arg(long = "worker-pid", required = true)]
        worker_pids: Vec<u32>,
        /// Device connections opened at once.
        #[arg(long, default_value_t = 500)]
        connect_concurrency: usize,
        /// Another process to time in every phase, as NAME=PID (repeat: nats-server, the api).
        #[arg(long = "watch", value_parser = parse_watched)]
        watched: Vec<(String, u32)>,
        /// Skip the baseline (one session of `classes × trainees` wearables).
        #[arg(long)]
        no_baseline: bool,
    },
    /// The live ranking against a Redis sorted set, on the same updates (no cluster needed).
    Ranking {
        /// Participants on the board.
        #[arg(long, default_value_t = 10_000)]
        participants: usize,
        /// Updates (wearable reports) per second, spread round robin over the participants.
        #[arg(long, default_value_t = 10_000)]
        updates_per_s: usize,
        /// Seconds of updates, one tick each (sixty: with ten, p99 was the slowest tick, and one
        /// slow minute of the shared machine moved the ratio by a third).
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// The Redis to compare with (a key unique to the run is written and deleted).
        #[arg(long, default_value = "redis://127.0.0.1:6379/")]
        redis_url: String,
    },
}

struct Bench {
    http: reqwest::Client,
    api: Vec<String>,
    pool: sqlx::PgPool,
    keys: JwtKeys,
}

impl Bench {
    fn url(&self, i: usize, path: &str) -> String {
        format!("{}{path}", self.api[i % self.api.len()])
    }

    fn token(&self, id: Uuid, role: Role) -> anyhow::Result<String> {
        self.keys.issue(id, role)
    }

    async fn seed_users(&self, role: &str, n: usize) -> anyhow::Result<Vec<Uuid>> {
        let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        sqlx::query(
            "INSERT INTO users (id, role, full_name, email, mobile, password_hash)
             SELECT id, CAST($2::text AS user_role), 'Bench user', 'bench.' || id || '@example.com', '+919876543210', '-'
             FROM unnest($1::uuid[]) AS id",
        )
        .bind(&ids)
        .bind(role)
        .execute(&self.pool)
        .await
        .context("failed to seed users")?;
        Ok(ids)
    }

    async fn create_workout(
        &self,
        trainer: Uuid,
        starts_in: TimeDelta,
        capacity: usize,
    ) -> anyhow::Result<Uuid> {
        let body = json!({
            "type": "hiit", "title": "Bench session", "description": "",
            "starts_at": (Utc::now() + starts_in).to_rfc3339(), "duration_minutes": 30, "capacity": capacity,
        });
        let response = self
            .http
            .post(self.url(0, "/api/v1/workouts"))
            .bearer_auth(self.token(trainer, Role::Trainer)?)
            .json(&body)
            .send()
            .await?;
        if response.status() != reqwest::StatusCode::CREATED {
            bail!(
                "create workout: {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        let created: Value = response.json().await?;
        created["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .context("workout id")
    }
}

struct Outcome {
    latency: Histogram<u64>,
    errors: std::collections::BTreeMap<String, usize>,
    elapsed: Duration,
    /// Response body bytes read (only [`closed_loop_for`] reads bodies).
    bytes: u64,
}

impl Outcome {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            errors: Default::default(),
            elapsed: Duration::ZERO,
            bytes: 0,
        })
    }

    /// Requests answered per second, over the whole run.
    fn rate(&self) -> f64 {
        self.latency.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn record(
        &mut self,
        latency: Duration,
        result: Result<reqwest::StatusCode, String>,
        ok: reqwest::StatusCode,
    ) {
        let _ = self.latency.record(latency.as_micros().max(1) as u64);
        match result {
            Ok(status) if status == ok => {}
            Ok(status) => *self.errors.entry(status.to_string()).or_default() += 1,
            Err(err) => *self.errors.entry(err).or_default() += 1,
        }
    }

    fn report(&self, scenario: &str, label: &str) {
        let ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        let n = self.latency.len();
        let rate = n as f64 / self.elapsed.as_secs_f64();
        println!(
            "| {scenario} | {label} | {n} | {rate:.0}/s | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            ms(0.5),
            ms(0.99),
            ms(0.999),
            self.latency.max() as f64 / 1000.0,
            if self.errors.is_empty() {
                "0".to_owned()
            } else {
                format!("{:?}", self.errors)
            }
        );
    }
}

async fn bookings(
    bench: &Bench,
    trainees: usize,
    workouts: usize,
    concurrency: usize,
) -> anyhow::Result<Outcome> {
    let trainer = bench.seed_users("trainer", 1).await?[0];
    let mut workout_ids = Vec::with_capacity(workouts);
    for i in 0..workouts {
        // One trainer's sessions must not overlap: one per hour.
        workout_ids.push(
            bench
                .create_workout(trainer, TimeDelta::hours(i as i64 + 1), trainees)
                .await?,
        );
    }
    let people = bench.seed_users("trainee", trainees).await?;
    let requests: Vec<(String, String)> = people
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let url = bench.url(
                i,
                &format!(
                    "/api/v1/workouts/{}/registrations",
                    workout_ids[i % workouts]
                ),
            );
            Ok((url, bench.token(*id, Role::Trainee)?))
        })
        .collect::<anyhow::Result<_>>()?;
    let requests = requests
        .into_iter()
        .map(|(url, token)| bench.http.post(url).bearer_auth(token));
    closed_loop(requests, concurrency, reqwest::StatusCode::CREATED).await
}

async fn baseline(bench: &Bench, requests: usize, concurrency: usize) -> anyhow::Result<Outcome> {
    let requests = (0..requests).map(|i| bench.http.get(bench.url(i, "/health/live")));
    closed_loop(requests, concurrency, reqwest::StatusCode::OK).await
}

/// Send `requests` keeping `concurrency` in flight; latency from each send.
async fn closed_loop(
    requests: impl Iterator<Item = reqwest::RequestBuilder>,
    concurrency: usize,
    ok: reqwest::StatusCode,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::new()?;
    let started = Instant::now();
    let mut results = futures_util::stream::iter(requests)
        .map(|request| async move {
            let sent = Instant::now();
            let status = request
                .send()
                .await
                .map(|r| r.status())
                .map_err(|e| e.to_string());
            (sent.elapsed(), status)
        })
        .buffer_unordered(concurrency);
    while let Some((latency, status)) = results.next().await {
        outcome.record(latency, status, ok);
    }
    outcome.elapsed = started.elapsed();
    Ok(outcome)
}

/// Keep `concurrency` requests in flight for `duration` (request `i` built by `request(i)`),
/// latency from each send. Unlike [`closed_loop`], every body is read to its end, so connections
/// are reused as a real client's are and the bytes are paid for on both sides.
async fn closed_loop_for(
    duration: Duration,
    concurrency: usize,
    ok: reqwest::StatusCode,
    request: impl Fn(usize) -> reqwest::RequestBuilder,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::new()?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut results = futures_util::stream::iter(0..)
        .take_while(|_| std::future::ready(Instant::now() < deadline))
        .map(|i| {
            let request = request(i);
            async move {
                let sent = Instant::now();
                let answer = async {
                    let response = request.send().await?;
                    let status = response.status();
                    Ok::<_, reqwest::Error>((status, response.bytes().await?.len()))
                }
                .await;
                (sent.elapsed(), answer.map_err(|e| e.to_string()))
            }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some((latency, answer)) = results.next().await {
        let status = answer.map(|(status, bytes)| {
            outcome.bytes += bytes as u64;
            status
        });
        outcome.record(latency, status, ok);
    }
    outcome.elapsed = started.elapsed();
    Ok(outcome)
}

impl Bench {
    /// A workout starting in five minutes with `trainees` seeded trainees booked into it.
    async fn booked_workout(&self, trainees: usize) -> anyhow::Result<(Uuid, Vec<Uuid>)> {
        let trainer = self.seed_users("trainer", 1).await?[0];
        let workout = self
            .create_workout(trainer, TimeDelta::minutes(5), trainees)
            .await?;
        let people = self.seed_users("trainee", trainees).await?;
        sqlx::query("INSERT INTO registrations (workout_id, trainee_id, status) SELECT $1, id, 'booked' FROM unnest($2::uuid[]) AS id")
            .bind(workout)
            .bind(&people)
            .execute(&self.pool)
            .await
            .context("failed to seed bookings")?;
        Ok((workout, people))
    }
}

async fn join_storm(bench: &Bench, trainees: usize, seconds: u64) -> anyhow::Result<Outcome> {
    let (workout, people) = bench.booked_workout(trainees).await?;
    let spacing = Duration::from_secs(seconds).as_secs_f64() / trainees as f64;
    let begin = tokio::time::Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::with_capacity(trainees);
    for (i, id) in people.iter().enumerate() {
        let (http, url, token) = (
            bench.http.clone(),
            bench.url(i, &format!("/api/v1/workouts/{workout}/join")),
            bench.token(*id, Role::Trainee)?,
        );
        let intended = begin + Duration::from_secs_f64(spacing * i as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(intended).await;
            let status = http
                .post(url)
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status())
                .map_err(|e| e.to_string());
            (intended.elapsed(), status)
        }));
    }
    let mut outcome = Outcome::new()?;
    for task in tasks {
        let (latency, status) = task.await?;
        outcome.record(latency, status, reqwest::StatusCode::OK);
    }
    outcome.elapsed = begin.elapsed();
    Ok(outcome)
}

async fn connect_storm(
    bench: &Bench,
    nats_url: &str,
    wearables: usize,
    seconds: u64,
    open: bool,
    publishing: Publishing,
) -> anyhow::Result<Outcome> {
    let (workout, people) = if open {
        (
            Uuid::now_v7(),
            (0..wearables).map(|_| Uuid::now_v7()).collect(),
        )
    } else {
        bench.booked_workout(wearables).await?
    };
    let subjects: Vec<String> = people
        .iter()
        .map(|&user| bus_contracts::subjects::workout_energy(workout, user))
        .collect();
    let tokens: Vec<Option<String>> = if open {
        vec![None; wearables]
    } else {
        let until = Utc::now() + TimeDelta::hours(1);
        people
            .iter()
            .map(|id| bench.keys.issue_device(*id, workout, until).map(Some))
            .collect::<anyhow::Result<_>>()?
    };
    let spacing = Duration::from_secs(seconds).as_secs_f64() / wearables as f64;
    let begin = tokio::time::Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::with_capacity(wearables);
    for (i, token) in tokens.into_iter().enumerate() {
        let url = nats_url.to_owned();
        let intended = begin + Duration::from_secs_f64(spacing * i as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(intended).await;
            let options = match token {
                Some(token) => async_nats::ConnectOptions::with_token(token),
                None => async_nats::ConnectOptions::new(),
            };
            let client = options
                .read_buffer_capacity(4096)
                .client_capacity(64)
                .connection_timeout(Duration::from_secs(30))
                .connect(url.as_str())
                .await;
            // Held until every wearable is in, as a class would be.
            (intended.elapsed(), client.map_err(|e| e.to_string()))
        }));
    }
    let mut outcome = Outcome::new()?;
    let mut connected = Vec::with_capacity(wearables);
    for task in tasks {
        let (latency, client) = task.await?;
        let status = client.map(|client| {
            connected.push(client);
            reqwest::StatusCode::OK
        });
        outcome.record(latency, status, reqwest::StatusCode::OK);
    }
    outcome.elapsed = begin.elapsed();
    if publishing.seconds > 0 {
        publishing.run(&connected, &subjects).await?;
    }
    drop(connected);
    Ok(outcome)
}

/// `connect-storm --publish-secs`: what holding the connections *and* publishing on each costs.
struct Publishing {
    seconds: u64,
    watch: Vec<u32>,
    capture: bool,
}

impl Publishing {
    /// Every connection publishes one sample a second on its subject, the connections' sends
    /// spread evenly over each second, for `self.seconds`; then prints what was published and the
    /// CPU this program and the watched processes used meanwhile.
    async fn run(&self, clients: &[async_nats::Client], subjects: &[String]) -> anyhow::Result<()> {
        if self.capture {
            let first = clients.first().context("no wearable connected")?;
            let stream = async_nats::jetstream::stream::Config {
                name: format!("FLOOR_{}", Uuid::now_v7().simple()),
                subjects: vec![bus_contracts::subjects::ENERGY_STREAM_SUBJECTS.to_owned()],
                storage: async_nats::jetstream::stream::StorageType::File,
                ..Default::default()
            };
            async_nats::jetstream::new(first.clone())
                .create_stream(stream)
                .await
                .map_err(|e| anyhow::anyhow!("creating the capturing stream: {e}"))?;
        }
        let me = std::process::id();
        let pids: Vec<u32> = [me].into_iter().chain(self.watch.iter().copied()).collect();
        let before = processes::cpu_seconds(&pids);
        let spacing = 1.0 / clients.len().max(1) as f64;
        let begin = tokio::time::Instant::now() + Duration::from_millis(100);
        let started = Instant::now();
        let seconds = self.seconds;
        let tasks: Vec<_> = clients
            .iter()
            .zip(subjects)
            .enumerate()
            .map(|(i, (client, subject))| {
                let (client, subject) = (client.clone(), subject.clone());
                let first = begin + Duration::from_secs_f64(spacing * i as f64);
                tokio::spawn(async move {
                    let mut ticks = tokio::time::interval_at(first, Duration::from_secs(1));
                    let mut sent = 0u64;
                    for second in 0..seconds {
                        ticks.tick().await;
                        let sample = bus_contracts::v1::energy::Sample {
                            seq: second + 1,
                            ts: Utc::now().timestamp_millis(),
                            rating: 60.0,
                            energy: 60.0 * (second + 1) as f64,
                            hr: None,
                        };
                        let payload = serde_json::to_vec(&sample)?;
                        if client
                            .publish(subject.clone(), payload.into())
                            .await
                            .is_ok()
                        {
                            sent += 1;
                        }
                    }
                    client.flush().await?;
                    anyhow::Ok(sent)
                })
            })
            .collect();
        let mut sent = 0;
        for task in tasks {
            sent += task.await??;
        }
        let wall = started.elapsed().as_secs_f64();
        let after = processes::cpu_seconds(&pids);
        let cpu = |pid: &u32| after.get(pid).unwrap_or(&0.0) - before.get(pid).unwrap_or(&0.0);
        let watched: Vec<String> = self
            .watch
            .iter()
            .map(|pid| {
                format!(
                    "pid {pid} {:.2} s ({:.2} cores, {:.1} us a sample)",
                    cpu(pid),
                    cpu(pid) / wall,
                    cpu(pid) * 1e6 / sent.max(1) as f64
                )
            })
            .collect();
        println!(
            "publishing: {} connections, {sent} samples in {wall:.1} s ({:.0}/s); this program {:.2} s ({:.1} us a sample); watched: {}",
            clients.len(),
            sent as f64 / wall,
            cpu(&me),
            cpu(&me) * 1e6 / sent.max(1) as f64,
            if watched.is_empty() {
                "none".to_owned()
            } else {
                watched.join(", ")
            },
        );
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Scenario::Ranking {
        participants,
        updates_per_s,
        seconds,
        redis_url,
    } = &args.scenario
    {
        return ranking::run(
            redis_url,
            *participants,
            *updates_per_s,
            *seconds,
            &args.label,
        )
        .await;
    }
    if let Scenario::PersistResults {
        participants,
        minutes,
        rounds,
    } = &args.scenario
    {
        let database_url = args
            .database_url
            .context("--database-url (or DATABASE_URL) is required for this scenario")?;
        let options = persist_results::PersistResults {
            participants: *participants,
            minutes: *minutes,
            rounds: *rounds,
        };
        return persist_results::run(&database_url, &options, &args.label).await;
    }
    if args.api.is_empty() {
        bail!("--api is required for this scenario");
    }
    let database_url = args
        .database_url
        .context("--database-url (or DATABASE_URL) is required for this scenario")?;
    let jwt_secret = args
        .jwt_secret
        .context("--jwt-secret (or CULTFIT_JWT_SECRET) is required for this scenario")?;
    let bench = Bench {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?,
        api: args
            .api
            .iter()
            .map(|a| a.trim_end_matches('/').to_owned())
            .collect(),
        pool: sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&database_url)
            .await?,
        keys: JwtKeys::new(jwt_secret.as_bytes()),
    };
    match args.scenario {
        Scenario::Bookings {
            trainees,
            workouts,
            concurrency,
        } => bookings(&bench, trainees, workouts, concurrency)
            .await?
            .report("bookings", &args.label),
        Scenario::Baseline {
            requests,
            concurrency,
        } => baseline(&bench, requests, concurrency)
            .await?
            .report("baseline: GET /health/live", &args.label),
        Scenario::JoinStorm { trainees, seconds } => join_storm(&bench, trainees, seconds)
            .await?
            .report("join storm", &args.label),
        Scenario::ConnectStorm {
            nats_url,
            wearables,
            seconds,
            open,
            publish_secs,
            watch,
            capture,
        } => connect_storm(
            &bench,
            &nats_url,
            wearables,
            seconds,
            open,
            Publishing {
                seconds: publish_secs,
                watch,
                capture,
            },
        )
        .await?
        .report(
            if open {
                "connect storm baseline: no credentials, open nats-server"
            } else {
                "connect storm: device tokens through the auth callout"
            },
            &args.label,
        ),
        Scenario::Failover {
            nats_url,
            nats_secrets,
            participants,
            seconds,
            workers,
            snapshot_secs,
            lease_ttl_secs,
        } => {
            let access = cultfit::bus::connect::BusAccess {
                secrets: Some(cultfit::bus::secrets::BusSecrets::load(&nats_secrets)?),
                insecure: false,
            };
            let urls = cultfit::bus::connect::parse_urls(&nats_url)?;
            let nats = cultfit::bus::connect::connect(&urls, &access, "cultfit-bench").await?;
            failover::run(failover::Setup {
                bench: &bench,
                nats,
                participants,
                seconds,
                workers: workers.into_iter().collect(),
                snapshot_secs,
                lease_ttl_secs,
                label: &args.label,
            })
            .await?;
        }
        Scenario::ManyClasses {
            classes,
            trainees,
            seconds,
            idle_seconds,
            workers,
            worker_pids,
            connect_concurrency,
            watched,
            no_baseline,
        } => {
            if workers.len() != worker_pids.len() {
                bail!(
                    "{} --worker but {} --worker-pid: give each worker's pid, in the same order",
                    workers.len(),
                    worker_pids.len()
                );
            }
            let mut options = many_classes::Options {
                classes,
                trainees,
                seconds,
                idle_seconds,
                workers: workers.into_iter().zip(worker_pids).collect(),
                watched,
                connect_concurrency,
            };
            println!(
                "| run | sessions × wearables | phase | sessions per worker | seconds | ticks | lateness p50 ms | p99 ms | max ms | mean ms | worker cores | CPU ms per session-second (per worker) | other processes, cores |"
            );
            println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            let mut passed = many_classes::run(&bench, &options, &args.label).await?;
            if !no_baseline {
                (options.classes, options.trainees) = (1, classes * trainees);
                let label = format!("{} (baseline)", args.label);
                passed &= many_classes::run(&bench, &options, label.trim()).await?;
            }
            if !passed {
                bail!("a session never went live, or a result misses energy that was sent");
            }
        }
        Scenario::ReadApi {
            trainers,
            workouts,
            trainees,
            seconds,
            concurrency,
            rounds,
        } => {
            let options = read_api::ReadApi {
                trainers,
                workouts,
                trainees,
                seconds,
                concurrency,
                rounds,
            };
            read_api::run(&bench, &options, &args.label).await?
        }
        Scenario::LoginFlood {
            accounts,
            seconds,
            concurrency,
            reads_per_s,
            hash_samples,
        } => {
            let options = login_flood::LoginFlood {
                accounts,
                seconds,
                concurrency,
                reads_per_s,
                hash_samples,
            };
            login_flood::run(&bench, &options, &args.label).await?
        }
        Scenario::Ranking { .. } | Scenario::PersistResults { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(())
}

/// `node_id=pid`.
fn parse_worker(s: &str) -> Result<(String, u32), String> {
    let (node, pid) = s.split_once('=').ok_or("expected node_id=pid")?;
    Ok((
        node.to_owned(),
        pid.parse().map_err(|_| "pid must be a number")?,
    ))
}

/// `NAME=PID`, for `--watch`.
fn parse_watched(arg: &str) -> Result<(String, u32), String> {
    let (name, pid) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=PID, got {arg:?}"))?;
    let pid = pid
        .parse()
        .map_err(|_| format!("not a process id: {pid:?}"))?;
    Ok((name.to_owned(), pid))
}
