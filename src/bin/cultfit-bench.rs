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
//!   credentials, to an open nats-server instead: the baseline of what a connection costs.
//! - `ranking` (PERFORMANCE scenario 6; needs no cluster, only a Redis): the same generated updates
//!   folded into the live `Board` in process, ranked and sliced into every client's view each tick,
//!   beside a Redis sorted set on loopback (`ZADD`, `ZREVRANGE`, `ZREVRANK`, pipelined).
//!
//! Setup that is not under test (accounts, and for the join storm the bookings) is seeded straight
//! into PostgreSQL, and access tokens are minted with the cluster's JWT secret, so the run
//! measures the commands and not argon2.

use anyhow::{Context, bail};
use chrono::{TimeDelta, Utc};
use clap::{Parser, Subcommand};
use cultfit::accounts::Role;
use cultfit::auth::tokens::JwtKeys;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Parser)]
#[command(about = "Load generator for cultfit commands (see docs/BENCHMARKS.md)")]
struct Args {
    /// Api node base URLs, comma separated (requests are spread round-robin). Required by every
    /// scenario but `ranking`.
    #[arg(long, value_delimiter = ',')]
    api: Vec<String>,
    /// The cluster's database (for seeding). Required by every scenario but `ranking`.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// The cluster's JWT secret (to mint access tokens). Required by every scenario but `ranking`.
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
    /// The live ranking against a Redis sorted set, on the same updates (no cluster needed).
    Ranking {
        /// Participants on the board.
        #[arg(long, default_value_t = 10_000)]
        participants: usize,
        /// Updates (wearable reports) per second, spread round robin over the participants.
        #[arg(long, default_value_t = 10_000)]
        updates_per_s: usize,
        /// Seconds of updates, one tick each.
        #[arg(long, default_value_t = 10)]
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
}

impl Outcome {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            errors: Default::default(),
            elapsed: Duration::ZERO,
        })
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
) -> anyhow::Result<Outcome> {
    let tokens: Vec<Option<String>> = if open {
        vec![None; wearables]
    } else {
        let (workout, people) = bench.booked_workout(wearables).await?;
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
    drop(connected);
    Ok(outcome)
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
        return ranking(
            redis_url,
            *participants,
            *updates_per_s,
            *seconds,
            &args.label,
        )
        .await;
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
        } => connect_storm(&bench, &nats_url, wearables, seconds, open)
            .await?
            .report(
                if open {
                    "connect storm baseline: no credentials, open nats-server"
                } else {
                    "connect storm: device tokens through the auth callout"
                },
                &args.label,
            ),
        Scenario::Ranking { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// One generated update: participant index, and the wearable's report as it travels on the bus.
struct Update {
    who: u32,
    energy: f64,
    payload: Vec<u8>,
}

/// The ranking scenario's updates, tick by tick: `rate` per second for `seconds`, spread round
/// robin over `participants`, each one's energy rising by a deterministic random step (seed 6)
/// that stays within the board's rate limit.
fn ranking_updates(
    participants: usize,
    rate: usize,
    seconds: u64,
    start_ms: i64,
) -> anyhow::Result<(Vec<Uuid>, Vec<Vec<Update>>)> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let users: Vec<Uuid> = (0..participants)
        .map(|_| Uuid::from_u128(rng.random()))
        .collect();
    let mut energy = vec![0.0f64; participants];
    let mut seq = vec![0u64; participants];
    let mut next = 0usize;
    let mut ticks = Vec::with_capacity(seconds as usize);
    for second in 0..seconds as i64 {
        let mut tick = Vec::with_capacity(rate);
        for i in 0..rate {
            let who = next % participants;
            next += 1;
            // Whole points keep the scores exact in Redis's doubles too; at most 5 a report stays
            // far below 100 points a second whatever the rate.
            energy[who] += f64::from(rng.random_range(0..=5u8));
            seq[who] += 1;
            let sample = bus_contracts::v1::energy::Sample {
                seq: seq[who],
                ts: start_ms + second * 1000 + (i * 1000 / rate) as i64,
                rating: f64::from(rng.random_range(0..=100u8)),
                energy: energy[who],
                hr: None,
            };
            tick.push(Update {
                who: who as u32,
                energy: energy[who],
                payload: serde_json::to_vec(&sample)?,
            });
        }
        ticks.push(tick);
    }
    Ok((users, ticks))
}

/// What one side of the ranking comparison measured.
struct RankingOutcome {
    /// Per tick: fold (or ZADD) plus rank plus every client's view, microseconds.
    ticks: Histogram<u64>,
    /// Time spent folding updates alone (cultfit) or sending ZADDs alone (Redis).
    updating: Duration,
    /// Sum of the tick times.
    total: Duration,
    updates: usize,
    /// A sum over the views, so none of the work can be optimised away (and the sides agree on
    /// the top score).
    check: u64,
}

impl RankingOutcome {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            ticks: Histogram::new_with_bounds(1, 600_000_000, 3)?,
            updating: Duration::ZERO,
            total: Duration::ZERO,
            updates: 0,
            check: 0,
        })
    }

    fn record(&mut self, tick: Duration) {
        let _ = self.ticks.record(tick.as_micros().max(1) as u64);
        self.total += tick;
    }

    /// Updates applied per second of update work.
    fn update_rate(&self) -> f64 {
        self.updates as f64 / self.updating.as_secs_f64()
    }

    fn report(&self, scenario: &str, label: &str) {
        let ms = |q: f64| self.ticks.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "| {scenario} | {label} | {} ticks | {:.0} updates/s | {:.2} | {:.2} | {:.2} | {:.2} | 0 |",
            self.ticks.len(),
            self.update_rate(),
            ms(0.5),
            ms(0.99),
            ms(0.999),
            self.ticks.max() as f64 / 1000.0,
        );
    }
}

/// The participant's place and the two either side, as `(user, points)` from first to last.
const NEIGHBOURS: usize = 2;

/// cultfit's side: the updates go through `energy::parse` and `Board::ingest` as the live session
/// folds them; each tick ranks the board (`Board::rank`, as every tick does) and builds every
/// client's view: the top 10 and each participant's rank with two neighbours either side. All on
/// this thread, no I/O: the time measured is CPU time.
fn ranking_cultfit(
    users: &[Uuid],
    ticks: &[Vec<Update>],
    start_ms: i64,
) -> anyhow::Result<RankingOutcome> {
    use cultfit_actors::live::board::{Applied, Board};
    let mut outcome = RankingOutcome::new()?;
    let mut board = Board::new(start_ms, users.iter().copied());
    for (second, updates) in ticks.iter().enumerate() {
        let began = Instant::now();
        let now_ms = start_ms + (second as i64 + 1) * 1000;
        for update in updates {
            let sample = bus_contracts::v1::energy::parse(&update.payload)
                .map_err(|e| anyhow::anyhow!("generated sample rejected: {e:?}"))?;
            let applied = board.ingest(users[update.who as usize], &sample, now_ms);
            if !matches!(applied, Ok(Applied::Accepted)) {
                bail!("generated sample not accepted");
            }
        }
        let folded = began.elapsed();
        let ranking = board.rank();
        let points = |slot: u32| (board.user(slot), board.energy(slot).floor() as i64);
        let top: Vec<(Uuid, i64)> = ranking.order.iter().take(10).map(|&s| points(s)).collect();
        let mut views = Vec::with_capacity(users.len());
        for slot in 0..board.len() as u32 {
            let rank = ranking.rank_of[slot as usize] as usize;
            let from = rank.saturating_sub(1 + NEIGHBOURS);
            let to = (rank + NEIGHBOURS).min(ranking.order.len());
            let around: Vec<(Uuid, i64)> =
                ranking.order[from..to].iter().map(|&s| points(s)).collect();
            views.push((rank as u32, around));
        }
        outcome.record(began.elapsed());
        outcome.updating += folded;
        outcome.updates += updates.len();
        outcome.check = outcome.check.wrapping_add(
            top.first().map_or(0, |t| t.1 as u64)
                + views
                    .iter()
                    .map(|v| v.0 as u64 + v.1.len() as u64)
                    .sum::<u64>(),
        );
    }
    Ok(outcome)
}

/// Commands per Redis pipeline.
const PIPELINE: usize = 1_000;

/// The baseline: the same updates as `ZADD key score member` into a Redis sorted set (pipelined,
/// [`PIPELINE`] commands at a time) and, per tick, `ZREVRANGE key 0 9 WITHSCORES` plus
/// `ZREVRANK` for every participant (pipelined). Wall time, as a client of Redis sees it. The key
/// is unique to the run and deleted at the end.
async fn ranking_redis(
    redis_url: &str,
    users: &[Uuid],
    ticks: &[Vec<Update>],
) -> anyhow::Result<(RankingOutcome, Option<f64>)> {
    let client = redis::Client::open(redis_url)?;
    let mut redis = client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("failed to connect to {redis_url}"))?;
    let key = format!("cultfit-bench:ranking:{}", Uuid::now_v7());
    let members: Vec<String> = users.iter().map(|u| u.simple().to_string()).collect();
    let cpu_before = redis_cpu(&mut redis).await;
    let result = async {
        let mut outcome = RankingOutcome::new()?;
        for updates in ticks {
            let began = Instant::now();
            for batch in updates.chunks(PIPELINE) {
                let mut pipe = redis::pipe();
                for update in batch {
                    pipe.cmd("ZADD")
                        .arg(&key)
                        .arg(update.energy)
                        .arg(&members[update.who as usize])
                        .ignore();
                }
                pipe.query_async::<()>(&mut redis).await?;
            }
            let updated = began.elapsed();
            let (top,): (Vec<(String, f64)>,) = redis::pipe()
                .cmd("ZREVRANGE")
                .arg(&key)
                .arg(0)
                .arg(9)
                .arg("WITHSCORES")
                .query_async(&mut redis)
                .await?;
            let mut ranks = 0u64;
            for batch in members.chunks(PIPELINE) {
                let mut pipe = redis::pipe();
                for member in batch {
                    pipe.cmd("ZREVRANK").arg(&key).arg(member);
                }
                let got: Vec<Option<u64>> = pipe.query_async(&mut redis).await?;
                ranks += got.iter().flatten().map(|r| r + 1).sum::<u64>();
            }
            outcome.record(began.elapsed());
            outcome.updating += updated;
            outcome.updates += updates.len();
            outcome.check = outcome
                .check
                .wrapping_add(top.first().map_or(0, |t| t.1 as u64) + ranks);
        }
        anyhow::Ok(outcome)
    }
    .await;
    redis::cmd("DEL")
        .arg(&key)
        .query_async::<()>(&mut redis)
        .await?;
    let cpu = match (cpu_before, redis_cpu(&mut redis).await) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    Ok((result?, cpu))
}

/// redis-server's CPU seconds so far (user + system, from `INFO cpu`).
async fn redis_cpu(redis: &mut redis::aio::MultiplexedConnection) -> Option<f64> {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(redis)
        .await
        .ok()?;
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
    };
    Some(field("used_cpu_user:")? + field("used_cpu_sys:")?)
}

async fn ranking(
    redis_url: &str,
    participants: usize,
    rate: usize,
    seconds: u64,
    label: &str,
) -> anyhow::Result<()> {
    if participants == 0 || rate == 0 || seconds == 0 {
        bail!("--participants, --updates-per-s and --seconds must be positive");
    }
    let start_ms = Utc::now().timestamp_millis();
    let (users, ticks) = ranking_updates(participants, rate, seconds, start_ms)?;
    let ours = ranking_cultfit(&users, &ticks, start_ms)?;
    let (theirs, redis_cpu) = ranking_redis(redis_url, &users, &ticks).await?;
    let label = if label.is_empty() {
        format!("{participants} participants, {rate} updates/s, {seconds} s")
    } else {
        label.to_owned()
    };
    ours.report(
        "ranking: cultfit Board, in process (fold + rank + all views)",
        &label,
    );
    theirs.report(
        "ranking baseline: Redis sorted set on loopback (ZADD + ZREVRANGE + ZREVRANK)",
        &label,
    );
    let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64();
    let p50 = |o: &RankingOutcome| o.ticks.value_at_quantile(0.5).max(1) as f64;
    println!(
        "ratio (cultfit over Redis): update rate {:.1}x, tick p50 {:.1}x, total tick time {:.1}x (target >= 10x)",
        ours.update_rate() / theirs.update_rate(),
        p50(&theirs) / p50(&ours),
        ratio(ours.total, theirs.total),
    );
    println!(
        "CPU: cultfit {:.3} s on one thread (all of it in the ticks); redis-server {}, plus this client's side of the {:.3} s wall",
        ours.total.as_secs_f64(),
        redis_cpu.map_or("unknown".to_owned(), |cpu| format!("{cpu:.3} s")),
        theirs.total.as_secs_f64(),
    );
    if ours.check == 0 || theirs.check == 0 {
        bail!("a side produced no views");
    }
    Ok(())
}
