//! `cultfit simulate`: drives one realistic live session against a running service, through its
//! public interfaces only (HTTP for people, NATS for wearables), and reports what it measured.
//!
//! 1. A trainer and N trainees register (or log in, if a previous run created them), or reuse
//!    the tokens a previous run under the same `--name` cached (see [`token_cache`]).
//! 2. The trainer schedules a workout; every trainee books and joins it; the trainer starts it.
//! 3. Every wearable connects to the bus with its trainee's device token, one connection each,
//!    as real ones do (the connect storm of a class starting, timed; see [`fleet`]), spread over
//!    the servers the bus URL lists. The wearables live in `--wearable-processes` child processes
//!    ([`shards`]; one process may hold only so many sockets), each reporting what it sent and
//!    what it cost. `--trusted-publisher` shares a few service connections in this process
//!    instead, for ingest-ceiling runs.
//! 4. The N wearables publish at the chosen rate. Sends are scheduled: each sample has an
//!    intended send time, and latency is measured from it, so a stalled service cannot hide
//!    latency by slowing the sender down.
//! 5. Meanwhile it follows the workout's live frames on the bus (as the service: it needs the
//!    bus secrets file) and records, for every sample, the time from its intended send to the
//!    first frame reflecting it; with `--followers K`, K trainees also follow the session over
//!    SSE or WebSocket (`--websocket-followers`) as their apps would, and their frames' lateness
//!    is recorded.
//! 6. It stops sending, waits until the frames show every sample, ends the workout and checks
//!    each trainee's stored result against the last energy their wearable sent.
//!
//! Exits non-zero if any trainee's result misses energy that was sent (and accepted), or a
//! wearable process failed or sent fewer samples than the script has.
//!
//! stdout carries the JSON report and nothing else. stderr carries `[simulate] ...` lines as each
//! phase begins and ends, a progress bar per phase when it is a terminal ([`progress`]), and a
//! summary table of the report at the end ([`summary`]).

pub mod accounts;
pub mod fleet;
pub mod followers;
pub mod http;
pub mod processes;
pub mod progress;
pub mod send;
pub mod shards;
pub mod summary;
pub mod token_cache;
pub mod tracker;
pub mod verify;
pub mod wearable;

use crate::bus::connect::BusAccess;
use crate::bus::secrets::BusSecrets;
use anyhow::{Context, bail};
use chrono::Utc;
use clap::Args;
use cultfit_actors::live::summary::FRESH_FOR_SECONDS;
use futures_util::StreamExt as _;
use http::{Account, Http};
use progress::Progress;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use token_cache::TokenCache;
use tracker::{Tracker, follow, lock};
use uuid::Uuid;
use wearable::Wearable;

/// Options of `cultfit simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Base URL of an api node.
    #[arg(long, env = "CULTFIT_API_URL", default_value = "http://127.0.0.1:8080")]
    pub api_url: String,
    /// NATS for the wearables; by default the URL `join` hands out.
    #[arg(long)]
    pub nats_url: Option<String>,
    /// The bus secrets file (as for `cultfit serve`): the simulator watches the frames on the bus
    /// as the service, to time every sample.
    #[arg(long, env = "CULTFIT_NATS_SECRETS")]
    pub nats_secrets: Option<std::path::PathBuf>,
    /// Publish over `--connections` shared service connections instead of one device
    /// connection per wearable: for measuring the ingest ceiling only (labelled in the report).
    #[arg(long)]
    pub trusted_publisher: bool,
    /// Device connections opened at once while the wearables connect (over all processes).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connect_concurrency: u32,
    /// Processes the device connections are spread over (each wearable on its own connection;
    /// this machine allows 20 000 open files per process). By default enough that none holds
    /// more than 15 000.
    #[arg(long, value_name = "P", conflicts_with = "trusted_publisher",
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub wearable_processes: Option<u32>,
    /// Simulated trainees (each with a wearable).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub trainees: u32,
    /// Samples per second per wearable.
    #[arg(long, default_value_t = 1.0)]
    pub rate_hz: f64,
    /// How long the wearables publish, in seconds.
    #[arg(long, default_value_t = 30)]
    pub duration_secs: u64,
    /// With `--trusted-publisher`: the service connections the wearables share.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub connections: u32,
    /// HTTP requests in flight while setting up (registrations, bookings, joins).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Names the simulated accounts (`<name>-trainee-<i>@sim.cultfit.test`); reuse a name to
    /// reuse its accounts (their cached tokens, or log in instead of registering).
    #[arg(long, default_value = "sim")]
    pub name: String,
    /// Where the accounts' tokens are kept between runs (mode 0600: they are credentials);
    /// by default `$XDG_CACHE_HOME/cultfit/simulate/<name>-<hash of --api-url>.json`, else
    /// under `~/.cache`.
    #[arg(long, value_name = "PATH")]
    pub token_cache: Option<std::path::PathBuf>,
    /// Neither read nor write cached tokens: sign every account in with its password.
    #[arg(long, conflicts_with = "token_cache")]
    pub no_token_cache: bool,
    /// Trainees who also follow the session, as apps would: over SSE (their `live_url`), or
    /// over WebSocket for the first `--websocket-followers` of them (their `ws_url`).
    #[arg(long, default_value_t = 0)]
    pub followers: u32,
    /// How many of the `--followers` use a WebSocket instead of SSE.
    #[arg(long, default_value_t = 0)]
    pub websocket_followers: u32,
    /// Base URLs of the api nodes the followers spread over (repeat the option; by default
    /// `--api-url`). A follower whose node goes away reopens its stream on the next one.
    #[arg(long = "follow-api-url")]
    pub follow_api_urls: Vec<String>,
    /// Processes whose memory to report; by default every `cultfit serve` on this machine.
    #[arg(long = "service-pid")]
    pub service_pids: Vec<u32>,
    /// Seeds the wearables' effort (wearable `i` of a run always gets the same readings for the
    /// same seed); by default derived from `--name`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Read back every trainee's full result (curves included) and report a digest of them over
    /// the scripted span: runs of the same script must report the same digest.
    #[arg(long)]
    pub results_digest: bool,
}

/// How long after the workout's start the first sample is due: enough for the start to be
/// answered and read back, so the script always begins at the same offset into the session.
const LEAD: Duration = Duration::from_secs(2);

/// Runs the simulation and prints its report; `Ok(false)` if accepted energy went missing.
pub async fn run(args: SimulateArgs) -> anyhow::Result<bool> {
    if !(args.rate_hz > 0.0 && args.rate_hz <= 1000.0) {
        bail!("--rate-hz must be above 0 and at most 1000");
    }
    if args.websocket_followers > args.followers {
        bail!(
            "--websocket-followers {} is more than the {} --followers",
            args.websocket_followers,
            args.followers
        );
    }
    let Some(secrets) = &args.nats_secrets else {
        bail!(
            "cultfit simulate watches the frames on the bus as the service: give it the bus \
             secrets file (--nats-secrets or CULTFIT_NATS_SECRETS, as for cultfit serve)"
        );
    };
    let service = BusAccess {
        secrets: Some(BusSecrets::load(secrets)?),
        insecure: false,
    };
    let http = Http::new(&args.api_url);
    let n = args.trainees as usize;
    let processes = args
        .wearable_processes
        .map_or_else(|| shards::parent::default_processes(n), |p| p as usize);
    if processes > n {
        bail!("--wearable-processes {processes} is more than the {n} wearables (--trainees)");
    }
    let progress = Progress::stderr();
    let mut cache = token_cache(&args, &progress);
    progress.line(&match &cache {
        Some(cache) if !cache.is_empty() => format!(
            "signing up a trainer and {n} trainees ({} accounts cached in {})",
            cache.len(),
            cache.path().display()
        ),
        _ => format!("signing up a trainer and {n} trainees (argon2 makes this the slow part)"),
    });
    // A cached access token must last the session, the wait for its frames (up to 30 s) and the
    // results read after it (`good_for` adds its margin).
    let run = LEAD + Duration::from_secs(args.duration_secs + FRESH_FOR_SECONDS as u64 + 60);
    let (trainer, trainees, mut setup) = accounts::sign_in_all(
        &http,
        &args.name,
        n,
        args.concurrency,
        run,
        cache.as_mut(),
        &progress,
    )
    .await?;
    // Signing the trainees in can take minutes: the trainer, signed in first, may need renewing.
    let trainer_account =
        accounts::trainer_lasting(&http, &args.name, trainer, run, cache.as_mut(), &progress)
            .await?;
    let trainer = (trainer_account.id, trainer_account.token.clone());

    let minutes = (args.duration_secs / 60 + 5).max(5);
    let workout = http
        .post(
            "/api/v1/workouts",
            &trainer.1,
            &json!({
                "type": "hiit",
                "title": format!("Simulated session ({n} trainees)"),
                "starts_at": (Utc::now() + chrono::TimeDelta::minutes(2)).to_rfc3339(),
                "duration_minutes": minutes,
                "capacity": n,
            }),
        )
        .await
        .context(
            "creating the workout (a previous run's may overlap: wait or use another --name)",
        )?;
    let id: Uuid = serde_json::from_value(workout["id"].clone()).context("workout id")?;
    progress.line(&format!("workout {id}: booking and joining {n} trainees"));
    let joining = Instant::now();
    let bar = progress.bar(n as u64, "joining");
    // Each trainee: its account (renewed or not) and how booking and joining went; renewals are
    // cached even if a join fails, as their old refresh tokens are spent.
    let joined: Vec<(Account, bool, anyhow::Result<Value>)> = futures_util::stream::iter(trainees)
        .map(|account| {
            let http = http.clone();
            async move {
                let (account, renewed) =
                    match accounts::renewed_if_short(&http, &account, run).await {
                        Ok(Some(renewed)) => (renewed, true),
                        Ok(None) => (account, false),
                        Err(err) => return (account, false, Err(err)),
                    };
                let join = book_and_join(&http, id, &account.token).await;
                (account, renewed, join)
            }
        })
        .buffered(args.concurrency)
        .inspect(|_| bar.inc(1))
        .collect()
        .await;
    bar.finish_and_clear();
    let renewed: Vec<(usize, Account)> = joined
        .iter()
        .enumerate()
        .filter(|(_, (_, renewed, _))| *renewed)
        .map(|(i, (account, _, _))| (i + 1, account.clone()))
        .collect();
    accounts::remember_renewed(cache.as_mut(), &args.name, &renewed, &progress);
    setup.renewed_before_joining = renewed.len();
    let (trainee_tokens, joins): (Vec<(Uuid, String)>, Vec<Value>) = joined
        .into_iter()
        .map(|(account, _, join)| join.map(|join| ((account.id, account.token), join)))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    let renewals = match setup.renewed_before_joining {
        0 => String::new(),
        k => format!(" ({k} renewed first: their access tokens would not have lasted the run)"),
    };
    progress.line(&format!(
        "{n} trainees booked and joined in {:.2} s{renewals}",
        joining.elapsed().as_secs_f64()
    ));
    let nats_url = match &args.nats_url {
        Some(url) => url.clone(),
        None => joins[0]["nats_url"].as_str().unwrap_or_default().to_owned(),
    };

    let wearers = if args.trusted_publisher {
        Wearers::Trusted(
            fleet::connect_trusted(&service, &nats_url, args.connections as usize, n).await?,
        )
    } else {
        progress.line(&format!(
            "connecting {n} wearables, each with its device token, from {processes} \
             process{} ({} at once)",
            if processes == 1 { "" } else { "es" },
            args.connect_concurrency
        ));
        let devices = joins
            .iter()
            .zip(&trainee_tokens)
            .enumerate()
            .map(|(index, (join, (user, _)))| {
                let field = |name: &str| join[name].as_str().unwrap_or_default().to_owned();
                fleet::Device {
                    index,
                    user: *user,
                    subject: field("energy_subject"),
                    token: field("device_token"),
                    inbox_prefix: field("inbox_prefix"),
                }
            })
            .collect();
        let mut shards = shards::parent::Shards::spawn(
            processes,
            &nats_url,
            devices,
            args.connect_concurrency as usize,
        )
        .await?;
        let bar = progress.bar(n as u64, "wearables");
        let connected = shards.connected(&bar).await;
        bar.finish_and_clear();
        let storm = connected?;
        progress.line(&format!(
            "{} wearables admitted in {:.2} s ({})",
            storm.admitted,
            storm.elapsed.as_secs_f64(),
            storm
                .per_server
                .iter()
                .map(|(server, count)| format!("{count} on {server}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        Wearers::Devices(shards, storm)
    };

    // Follow the frames before the start, so the first one is not missed.
    let follower_nats = crate::bus::connect::connect(
        &crate::bus::connect::parse_urls(&nats_url)?,
        &service,
        "cultfit-simulate-observer",
    )
    .await
    .with_context(|| format!("connecting to NATS at {nats_url} as the service"))?;
    let frames = follower_nats
        .subscribe(bus_contracts::subjects::workout_live(id))
        .await?;
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    let reader = crate::live::reader::LiveReader::new(follower_nats.clone(), id);
    let following = tokio::spawn(follow(frames, reader, tracker.clone()));
    let seen = Arc::new(Mutex::new(followers::Seen::default()));
    let streams: Vec<(followers::Transport, String)> = joins
        .iter()
        .take(args.followers as usize)
        .enumerate()
        .filter_map(|(i, j)| {
            let (transport, url) = if i < args.websocket_followers as usize {
                (followers::Transport::WebSocket, &j["ws_url"])
            } else {
                (followers::Transport::Sse, &j["live_url"])
            };
            Some((transport, url.as_str()?.to_owned()))
        })
        .collect();
    let follow_bases = if args.follow_api_urls.is_empty() {
        vec![http.base.clone()]
    } else {
        args.follow_api_urls.clone()
    };
    let app_streams = followers::spawn(&follow_bases, streams, seen.clone());

    let trainer = {
        let lasting = accounts::trainer_lasting(
            &http,
            &args.name,
            trainer_account,
            run,
            cache.as_mut(),
            &progress,
        )
        .await?;
        (lasting.id, lasting.token)
    };
    http.post(
        &format!("/api/v1/workouts/{id}/start"),
        &trainer.1,
        &json!({}),
    )
    .await?;
    progress.line(&format!(
        "started: workout {id}, {n} wearables at {} Hz for {} s ({})",
        args.rate_hz,
        args.duration_secs,
        publisher_label(&args)
    ));

    let started_at: chrono::DateTime<Utc> = serde_json::from_value(
        http.get(&format!("/api/v1/workouts/{id}"), &trainer.1)
            .await?["started_at"]
            .clone(),
    )
    .context("the started workout has no started_at")?;
    let seed = args.seed.unwrap_or_else(|| wearable::seed_from(&args.name));
    let wearables: Vec<Wearable> = trainee_tokens
        .iter()
        .zip(&joins)
        .enumerate()
        .map(|(i, ((user, _), joined))| {
            let subject = joined["energy_subject"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            Wearable::new(*user, subject, wearable::seed_for(seed, i)).untied(i, joins.len())
        })
        .collect();
    let period = Duration::from_secs_f64(1.0 / args.rate_hz);
    let go = shards::Go {
        started_at_ms: started_at.timestamp_millis(),
        lead_ms: LEAD.as_millis() as u64,
        period_ns: period.as_nanos() as u64,
        duration_ms: args.duration_secs * 1000,
        wearables: n,
        seed,
    };
    let schedule = go.schedule();
    let services = processes::services(&args.service_pids);
    let me = std::process::id();
    let shard_pids = match &wearers {
        Wearers::Devices(shards, _) => shards.pids(),
        Wearers::Trusted(_) => Vec::new(),
    };
    let simulator: Vec<u32> = std::iter::once(me).chain(shard_pids).collect();
    let watched: Vec<u32> = services.iter().chain(&simulator).copied().collect();
    let cpu_before = processes::cpu_seconds(&watched);
    let sending = Instant::now();
    let live = send::Live::show(&progress, schedule, args.duration_secs, tracker.clone());
    let (finals, outcomes, storm) = match wearers {
        Wearers::Trusted(publishers) => {
            let fleet = wearables.into_iter().zip(publishers).collect();
            let finals = send::trusted(schedule, fleet, tracker.clone()).await;
            (finals, Vec::new(), None)
        }
        Wearers::Devices(mut shards, storm) => {
            shards.go(&go).await?;
            let (finals, outcomes) = tokio::join!(
                send::script(schedule, wearables, tracker.clone()),
                shards.finish()
            );
            (Ok(finals), outcomes, Some(storm))
        }
    };
    live.stop();
    let finals = finals?;
    let send_seconds = sending.elapsed().as_secs_f64();
    let cpu_after = processes::cpu_seconds(&watched);
    let failed_processes = outcomes.iter().filter(|o| o.failed).count();
    if failed_processes > 0 {
        progress.line(&format!(
            "{failed_processes} of {} wearable processes failed: their wearables' samples are missing",
            outcomes.len()
        ));
    }

    progress.line("stopped sending; waiting for the frames to show every sample");
    let sent = lock(&tracker).latencies.sent;
    let bar = progress.bar(sent, "shown");
    let shown = || sent.saturating_sub(lock(&tracker).latencies.pending() as u64);
    // Samples of a failed wearable process may never come: do not wait for them.
    let deadline = Instant::now() + Duration::from_secs(if failed_processes > 0 { 0 } else { 30 });
    while shown() < sent && Instant::now() < deadline {
        bar.set_position(shown());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bar.set_position(shown());
    // Results over the scripted span must not depend on when the session ends: end no earlier
    // than the last sample plus the seconds a reading stays fresh.
    let span = LEAD + Duration::from_secs(args.duration_secs + FRESH_FOR_SECONDS as u64 + 1);
    let span_ends = started_at + chrono::TimeDelta::from_std(span).unwrap_or_default();
    if let Ok(wait) = (span_ends - Utc::now()).to_std() {
        bar.set_message(format!(
            "the scripted span ends in {:.0} s",
            wait.as_secs_f64()
        ));
        tokio::time::sleep(wait).await;
    }
    bar.finish_and_clear();
    let (frame_counts, unreflected) = {
        let t = lock(&tracker);
        (t.samples, t.latencies.pending())
    };
    progress.line(&format!(
        "frames show {} of {sent} samples; ending the workout and reading the results back",
        sent.saturating_sub(unreflected as u64)
    ));
    http.post(
        &format!("/api/v1/workouts/{id}/end"),
        &trainer.1,
        &json!({}),
    )
    .await?;
    following.abort();
    // The app streams end by themselves with `ended`; give them a moment, then stop waiting.
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        futures_util::future::join_all(app_streams),
    )
    .await;

    let results = http
        .get(&format!("/api/v1/workouts/{id}/results"), &trainer.1)
        .await?;
    let missing = verify::missing_energy(&finals, &results);
    let digest = if args.results_digest {
        progress.line("reading every trainee's result back");
        let tokens: Vec<String> = trainee_tokens.iter().map(|(_, t)| t.clone()).collect();
        let bar = progress.bar(tokens.len() as u64, "results");
        let digest = verify::results_digest(
            &http,
            id,
            &tokens,
            span.as_secs() as usize,
            args.concurrency,
            &bar,
        )
        .await;
        bar.finish_and_clear();
        Some(digest?)
    } else {
        None
    };

    let t = lock(&tracker);
    let scheduled = t.latencies.sent;
    let sent = if storm.is_some() {
        outcomes.iter().map(shards::parent::Outcome::sent).sum()
    } else {
        scheduled
    };
    let (resent, unacknowledged) = outcomes
        .iter()
        .map(shards::parent::Outcome::delivery)
        .fold((0, 0), |(r, u), (r2, u2)| (r + r2, u + u2));
    let mut simulator_memory = processes::report(&[me], &cpu_before, &cpu_after, send_seconds);
    if let Value::Array(list) = &mut simulator_memory {
        list.extend(outcomes.iter().filter_map(shards::parent::Outcome::cost));
    }
    let accept_seconds = t
        .last_accepted_at
        .map_or(send_seconds, |at| at.duration_since(sending).as_secs_f64())
        .max(send_seconds);
    let h = &t.latencies.histogram;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let report = json!({
        "workout_id": id,
        "trainees": n,
        "rate_hz": args.rate_hz,
        "duration_s": args.duration_secs,
        "sent": sent,
        // What the script has the wearables send: more than `sent` if a wearable process failed.
        "scheduled": scheduled,
        "sent_per_s": (sent as f64 / send_seconds).round(),
        "accepted": frame_counts.0,
        "rejected": frame_counts.1,
        // Over the time the owner took to accept them all, which is longer than the sending
        // when it falls behind.
        "accepted_per_s": (frame_counts.0 as f64 / accept_seconds).round(),
        "latency_samples": h.len(),
        "latency_ms": {"p50": ms(0.5), "p99": ms(0.99), "p99_9": ms(0.999), "max": h.max() as f64 / 1000.0},
        "unreflected": unreflected,
        "results_missing_energy": missing,
        "results_digest": digest,
        "delivery": {
            "resent": resent,
            "unacknowledged": unacknowledged,
        },
        "ticks": t.ticks,
        // What every api node following the session receives per tick (all frame parts).
        "live_bytes_per_tick": t.live_bytes_per_tick(),
        // The longest time without a frame while the session was followed.
        "longest_frame_gap_ms": t.longest_gap.as_millis() as u64,
        "app_streams": app_report(args.followers, args.websocket_followers, &seen),
        "publisher": publisher_label(&args),
        "connect": storm.as_ref().map(fleet::Storm::report),
        "wearable_processes": outcomes.iter().map(shards::parent::Outcome::report).collect::<Vec<_>>(),
        "service_memory": processes::report(&services, &cpu_before, &cpu_after, send_seconds),
        // This process, then each wearable process (their cost while sending, as they measured it).
        "simulator_memory": simulator_memory,
        "setup": setup.report(cache.as_ref()),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    progress.line(&format!(
        "summary of workout {id} (the JSON report is on stdout)"
    ));
    progress.text(&summary::table(&report));
    if missing > 0 {
        eprintln!("FAILED: {missing} trainees' results miss energy their wearables sent");
    }
    if failed_processes > 0 || sent < scheduled {
        eprintln!(
            "FAILED: {failed_processes} wearable processes failed; {sent} of the {scheduled} \
             samples in the script were sent"
        );
    }
    Ok(missing == 0 && failed_processes == 0 && sent >= scheduled)
}

/// Who carries the wearables' samples.
enum Wearers {
    /// Shared service connections in this process (`--trusted-publisher`).
    Trusted(Vec<fleet::Publisher>),
    /// Device connections in wearable processes, and how their connect storm went.
    Devices(shards::parent::Shards, fleet::Storm),
}

/// The token cache this run reads and writes, if any (`--no-token-cache`, or nowhere to put it,
/// means none).
fn token_cache(args: &SimulateArgs, progress: &Progress) -> Option<TokenCache> {
    if args.no_token_cache {
        return None;
    }
    let Some(path) = args
        .token_cache
        .clone()
        .or_else(|| TokenCache::default_path(&args.name, &args.api_url))
    else {
        progress.line("no token cache: neither XDG_CACHE_HOME nor HOME is set (see --token-cache)");
        return None;
    };
    let (cache, problem) = TokenCache::open(path, &args.api_url);
    if let Some(problem) = problem {
        progress.line(&problem);
    }
    Some(cache)
}

/// How the wearables reached the bus, as the report says it.
fn publisher_label(args: &SimulateArgs) -> String {
    if args.trusted_publisher {
        format!(
            "trusted: {} shared service connections (ingest-ceiling benchmark, not how wearables connect)",
            args.connections
        )
    } else {
        "devices: one connection per wearable, each with its device token".to_owned()
    }
}

/// What the followers saw: frames received and how late (from ranking to arrival), and how soon
/// broken streams got a frame again.
fn app_report(followers: u32, over_websocket: u32, seen: &Mutex<followers::Seen>) -> Value {
    let s = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let quantiles = |h: &hdrhistogram::Histogram<u64>| {
        let ms = |q: f64| h.value_at_quantile(q);
        json!({"p50": ms(0.5), "p99": ms(0.99), "p99_9": ms(0.999), "max": h.max()})
    };
    json!({
        "followers": followers,
        "websocket_followers": over_websocket,
        "failed": s.failed,
        "frames_received": s.frames,
        "frames_received_over_websocket": s.websocket_frames,
        "frame_lag_ms": quantiles(&s.lag),
        "reconnected": s.reconnected,
        "recovery_ms": quantiles(&s.recovery),
    })
}

/// Books the workout for the trainee `token` signs in, then joins it: the join's answer (device
/// token, subjects, live URLs).
async fn book_and_join(http: &Http, id: Uuid, token: &str) -> anyhow::Result<Value> {
    http.post(
        &format!("/api/v1/workouts/{id}/registrations"),
        token,
        &json!({}),
    )
    .await?;
    http.post(&format!("/api/v1/workouts/{id}/join"), token, &json!({}))
        .await
}
