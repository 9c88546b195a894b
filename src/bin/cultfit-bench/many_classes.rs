//! `many-classes` (PERFORMANCE.md scenario 9): many live sessions at once over the workers, and
//! one session of as many wearables in total (the baseline), in the same run.
//!
//! Each shape (`classes` sessions of `trainees` wearables) goes through the same phases against
//! the running cluster:
//! 1. **setup**, not measured: trainers and trainees seeded in SQL (one trainer per session, so
//!    no trainer's sessions overlap), the workouts created over HTTP, every trainee booked and
//!    joined over HTTP (`join` hands each wearable its device token and NATS URL), and every
//!    wearable connected on its own NATS connection with that token ([`fleet::connect_devices`]).
//! 2. **empty**: nothing live yet: what each worker costs with no session.
//! 3. every workout started; **idle**: every session live and ticking, no samples.
//! 4. **busy**: every wearable publishes at 1 Hz, acknowledged ([`send::devices`]).
//! 5. every workout ended; every trainee's stored energy checked against what their wearable last
//!    sent ([`verify::missing_energy`]).
//!
//! The service measures its own ticks: `cultfit_live_tick_lateness_seconds` on each worker's
//! `/metrics`, scraped at every phase boundary and subtracted, so each phase's figures count only
//! that phase's ticks. Quantiles read off a histogram are bucket bounds ("at most"); the mean is
//! exact. CPU is each worker's user + system time from `/proc`; a session's share is the worker's
//! CPU above the empty phase's, divided by the sessions it runs.

use super::Bench;
use anyhow::{Context, bail};
use chrono::{TimeDelta, Utc};
use cultfit::accounts::Role;
use cultfit::simulate::{fleet, processes, send, verify, wearable};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// HTTP requests in flight during setup and teardown.
const IN_FLIGHT: usize = 64;
/// How long after the last start every session must show on the workers' gauges.
const SESSIONS_LIVE_WITHIN: Duration = Duration::from_secs(60);
/// Delay from scheduling the samples to the first one, so no wearable starts late.
const LEAD: Duration = Duration::from_secs(1);
/// Settling before the empty phase: a worker is quiet below this many cores over a window.
const QUIET_CORES: f64 = 0.05;
const SETTLE_WINDOW: Duration = Duration::from_secs(2);
const SETTLE_WITHIN: Duration = Duration::from_secs(120);
/// The lateness histogram on the workers' `/metrics` (`cultfit_actors::metrics`).
const LATENESS: &str = cultfit_actors::metrics::TICK_LATENESS_SECONDS;

/// What the run is pointed at and how big it is.
pub struct Options {
    /// Sessions at once.
    pub classes: usize,
    /// Wearables per session.
    pub trainees: usize,
    /// Seconds the wearables publish.
    pub seconds: u64,
    /// Seconds of each of the empty and idle phases.
    pub idle_seconds: u64,
    /// Each worker's HTTP base URL (for `/metrics`), with its process id (for CPU time).
    pub workers: Vec<(String, u32)>,
    /// Other processes whose CPU each phase reports, by name (nats-server, the api node).
    pub watched: Vec<(String, u32)>,
    /// Device connections opened at once.
    pub connect_concurrency: usize,
}

/// Runs one shape and prints its rows; `Ok(false)` if a check failed (a session never went
/// live, or a result misses energy that was sent).
pub async fn run(bench: &Bench, options: &Options, label: &str) -> anyhow::Result<bool> {
    let (k, n) = (options.classes, options.trainees);
    if k == 0 || n == 0 || options.seconds == 0 {
        bail!("--classes, --trainees and --seconds must be at least 1");
    }
    if options.workers.is_empty() {
        bail!("give every worker as --worker URL and --worker-pid PID, in the same order");
    }
    let shape = format!("{k} × {n}");
    let setup = Instant::now();
    let classes = set_up(bench, k, n).await?;
    let nats_url = classes[0].joins[0]["nats_url"]
        .as_str()
        .context("join answered no nats_url")?
        .to_owned();
    note(&format!(
        "{shape}: {k} workouts created, {} trainees booked and joined in {:.1} s; connecting their wearables",
        k * n,
        setup.elapsed().as_secs_f64()
    ));
    let devices = classes
        .iter()
        .flat_map(|c| c.trainees.iter().zip(&c.joins))
        .enumerate()
        .map(|(index, (trainee, join))| {
            let field = |name: &str| join[name].as_str().unwrap_or_default().to_owned();
            fleet::Device {
                index,
                user: *trainee,
                subject: field("energy_subject"),
                token: field("device_token"),
                inbox_prefix: field("inbox_prefix"),
            }
        })
        .collect();
    let (publishers, storm) = fleet::connect_devices(
        &nats_url,
        devices,
        options.connect_concurrency,
        &indicatif::ProgressBar::hidden(),
    )
    .await?;
    note(&format!(
        "{shape}: {} wearables admitted in {:.1} s; empty phase ({} s)",
        storm.admitted,
        storm.elapsed.as_secs_f64(),
        options.idle_seconds
    ));

    let mut watched = options.watched.clone();
    watched.push(("bench".to_owned(), std::process::id()));
    let meters = Meters::new(bench.http.clone(), &options.workers, watched);
    let idle = Duration::from_secs(options.idle_seconds);
    // The joins' tail (and the connect storm's) must not count as what an empty worker costs.
    meters.settle().await?;
    let empty = meters.waiting(idle).await?;

    for_each(&classes, |class| async move {
        bench
            .post_ok(
                &class.trainer,
                &format!("/api/v1/workouts/{}/start", class.id),
            )
            .await
    })
    .await?;
    let sessions = meters.sessions_live(k).await?;
    note(&format!(
        "{shape}: {k} sessions live ({}); idle phase ({} s)",
        spread(&sessions),
        options.idle_seconds
    ));
    let idle_phase = meters.waiting(idle).await?;

    note(&format!(
        "{shape}: busy phase: {} wearables at 1 Hz for {} s",
        k * n,
        options.seconds
    ));
    // From now: every workout started before, so every sample falls within its session.
    let schedule = send::Schedule::new(
        Utc::now(),
        LEAD,
        Duration::from_secs(1),
        Duration::from_secs(options.seconds),
        k * n,
    );
    let wearables: Vec<wearable::Wearable> = classes
        .iter()
        .flat_map(|c| c.trainees.iter().zip(&c.joins))
        .enumerate()
        .map(|(i, (trainee, join))| {
            let subject = join["energy_subject"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            wearable::Wearable::new(*trainee, subject, wearable::seed_for(9, i)).untied(i % n, n)
        })
        .collect();
    // Each publisher comes back with the index of the device it connected.
    let fleet: Vec<(usize, wearable::Wearable, fleet::Publisher)> = publishers
        .into_iter()
        .map(|(i, client)| (i, wearables[i].clone(), client))
        .collect();
    let delivery = Arc::new(send::Delivery::default());
    let (busy, finals) = meters
        .phase_until(send::devices(schedule, fleet, delivery.clone()))
        .await?;
    let finals = finals?;
    let sent = delivery.sent.load(std::sync::atomic::Ordering::Relaxed);

    note(&format!(
        "{shape}: ending the workouts and checking results"
    ));
    for_each(&classes, |class| async move {
        bench
            .post_ok(
                &class.trainer,
                &format!("/api/v1/workouts/{}/end", class.id),
            )
            .await
    })
    .await?;
    let after_end = meters.scrape().await?;
    let finals: HashMap<Uuid, f64> = finals.into_iter().collect();
    let missing: usize = futures_util::stream::iter(&classes)
        .map(|class| {
            let finals: Vec<(Uuid, f64)> = class
                .trainees
                .iter()
                .map(|t| (*t, finals.get(t).copied().unwrap_or(f64::NAN)))
                .collect();
            async move {
                let results = bench
                    .get_json(
                        &class.trainer,
                        &format!("/api/v1/workouts/{}/results", class.id),
                    )
                    .await?;
                anyhow::Ok(verify::missing_energy(&finals, &results))
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum::<anyhow::Result<usize>>()?;

    let samples = |name: &str| -> f64 {
        after_end.iter().map(|s| s.sum(name)).sum::<f64>()
            - busy.before.iter().map(|s| s.sum(name)).sum::<f64>()
    };
    let (accepted, rejected, stale) = (
        samples(cultfit_actors::metrics::SAMPLES_ACCEPTED),
        samples(cultfit_actors::metrics::SAMPLES_REJECTED),
        samples(cultfit_actors::metrics::SAMPLES_STALE),
    );
    // CPU ms per session-second on each worker (none where it runs no session).
    let per_worker = |phase: &Phase| -> Vec<String> {
        phase
            .cpu
            .iter()
            .zip(&empty.cpu)
            .zip(&sessions)
            .map(|((cpu, base), s)| match s {
                0 => "—".to_owned(),
                s => {
                    let above = cpu / phase.seconds - base / empty.seconds;
                    format!("{:.2}", above / *s as f64 * 1000.0)
                }
            })
            .collect()
    };
    let all_sessions = |phase: &Phase| -> f64 {
        let above: f64 = phase
            .cpu
            .iter()
            .zip(&empty.cpu)
            .map(|(cpu, base)| cpu / phase.seconds - base / empty.seconds)
            .sum();
        above / k as f64 * 1000.0
    };
    for (name, phase, ms) in [
        ("empty (nothing live)", &empty, None),
        ("idle (live, no samples)", &idle_phase, Some(&idle_phase)),
        ("busy (1 Hz each)", &busy, Some(&busy)),
    ] {
        let lateness = phase.lateness();
        let cores: Vec<String> = phase
            .cpu
            .iter()
            .map(|c| format!("{:.3}", c / phase.seconds))
            .collect();
        let share = ms.map_or("—".to_owned(), |p| {
            format!("{:.2} ({})", all_sessions(p), per_worker(p).join(" / "))
        });
        let others: Vec<String> = meters
            .watched
            .iter()
            .zip(&phase.watched_cpu)
            .map(|((name, _), cpu)| format!("{name} {:.2}", cpu / phase.seconds))
            .collect();
        println!(
            "| {label} | {shape} | {name} | {} | {:.0} s | {} | {} | {} | {} |",
            spread(&sessions),
            phase.seconds,
            lateness.row(),
            cores.join(" / "),
            share,
            others.join(", "),
        );
    }
    let resent = delivery.resent.load(std::sync::atomic::Ordering::Relaxed);
    let unacknowledged = delivery
        .unacknowledged
        .load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "| {label} | {shape} | samples | sent {sent}, accepted {accepted:.0}, rejected {rejected:.0}, stale {stale:.0}, resent {resent}, unacknowledged {unacknowledged} | results missing energy: {missing} of {} | connect storm: {} admitted in {:.1} s |",
        k * n,
        storm.admitted,
        storm.elapsed.as_secs_f64(),
    );
    let live_everywhere = sessions.iter().sum::<usize>() == k;
    Ok(missing == 0 && live_everywhere)
}

/// Sessions per worker, as "104 / 96".
fn spread(sessions: &[usize]) -> String {
    sessions
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" / ")
}

fn note(line: &str) {
    eprintln!("[many-classes] {line}");
}

/// One session to be: its trainer, its trainees and what `join` answered each.
struct Class {
    id: Uuid,
    trainer: String,
    trainees: Vec<Uuid>,
    joins: Vec<Value>,
}

/// Seeds `k` trainers and `k × n` trainees, creates `k` workouts (one per trainer), and books and
/// joins `n` trainees into each over HTTP.
async fn set_up(bench: &Bench, k: usize, n: usize) -> anyhow::Result<Vec<Class>> {
    let trainers = bench.seed_users("trainer", k).await?;
    let trainees = bench.seed_users("trainee", k * n).await?;
    let ids: Vec<Uuid> = futures_util::stream::iter(&trainers)
        .map(|trainer| bench.create_workout(*trainer, TimeDelta::minutes(5), n))
        .buffered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let mut classes = Vec::with_capacity(k);
    for ((id, trainer), people) in ids.into_iter().zip(&trainers).zip(trainees.chunks(n)) {
        classes.push(Class {
            id,
            trainer: bench.token(*trainer, Role::Trainer)?,
            trainees: people.to_vec(),
            joins: Vec::new(),
        });
    }
    let requests: Vec<(usize, Uuid, String)> = classes
        .iter()
        .enumerate()
        .flat_map(|(c, class)| class.trainees.iter().map(move |t| (c, class.id, *t)))
        .map(|(c, workout, trainee)| Ok((c, workout, bench.token(trainee, Role::Trainee)?)))
        .collect::<anyhow::Result<_>>()?;
    let joined: Vec<(usize, Value)> = futures_util::stream::iter(requests)
        .map(|(c, workout, token)| async move {
            bench
                .post_ok(&token, &format!("/api/v1/workouts/{workout}/registrations"))
                .await?;
            let join = bench
                .post_ok(&token, &format!("/api/v1/workouts/{workout}/join"))
                .await?;
            anyhow::Ok((c, join))
        })
        .buffered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    for (c, join) in joined {
        classes[c].joins.push(join);
    }
    Ok(classes)
}

/// Runs `call` for every class, [`IN_FLIGHT`] at a time; the first error fails them all.
async fn for_each<'a, F, Fut>(classes: &'a [Class], call: F) -> anyhow::Result<()>
where
    F: Fn(&'a Class) -> Fut,
    Fut: Future<Output = anyhow::Result<Value>>,
{
    futures_util::stream::iter(classes)
        .map(call)
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(())
}

impl Bench {
    /// POSTs an empty JSON body as `token`; any non-2xx answer is an error naming the path.
    async fn post_ok(&self, token: &str, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(self.url(0, path))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        answer(response, "POST", path).await
    }

    /// GETs `path` as `token`; any non-2xx answer is an error naming the path.
    async fn get_json(&self, token: &str, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(self.url(0, path))
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        answer(response, "GET", path).await
    }
}

async fn answer(response: reqwest::Response, method: &str, path: &str) -> anyhow::Result<Value> {
    let status = response.status();
    if !status.is_success() {
        bail!(
            "{method} {path}: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }
    Ok(response.json().await.unwrap_or(Value::Null))
}

/// What is read in every phase: the worker nodes' `/metrics`, and the CPU time of the workers and
/// of the other watched processes (nats-server, the api node, this program).
struct Meters {
    http: reqwest::Client,
    urls: Vec<String>,
    pids: Vec<u32>,
    /// Other processes timed in every phase, by name.
    watched: Vec<(String, u32)>,
}

/// What one phase cost and how its ticks went, per worker (in `--worker` order).
struct Phase {
    seconds: f64,
    /// CPU seconds each worker spent.
    cpu: Vec<f64>,
    /// CPU seconds each watched process spent.
    watched_cpu: Vec<f64>,
    /// Each worker's scrape at the start and at the end.
    before: Vec<Scrape>,
    after: Vec<Scrape>,
}

impl Phase {
    /// The phase's ticks over every worker.
    fn lateness(&self) -> Histogram {
        let mut total = Histogram::default();
        for (after, before) in self.after.iter().zip(&self.before) {
            total.add(&after.histogram(LATENESS).minus(&before.histogram(LATENESS)));
        }
        total
    }
}

impl Meters {
    fn new(http: reqwest::Client, workers: &[(String, u32)], watched: Vec<(String, u32)>) -> Self {
        Self {
            http,
            urls: workers
                .iter()
                .map(|(u, _)| u.trim_end_matches('/').to_owned())
                .collect(),
            pids: workers.iter().map(|(_, p)| *p).collect(),
            watched,
        }
    }

    /// Every worker's `/metrics`.
    async fn scrape(&self) -> anyhow::Result<Vec<Scrape>> {
        let mut scrapes = Vec::with_capacity(self.urls.len());
        for url in &self.urls {
            let text = self
                .http
                .get(format!("{url}/metrics"))
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .with_context(|| format!("scraping {url}/metrics"))?
                .text()
                .await?;
            scrapes.push(Scrape(text));
        }
        Ok(scrapes)
    }

    /// CPU seconds so far of each worker, then of each watched process.
    fn cpu(&self) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
        let watched: Vec<u32> = self.watched.iter().map(|(_, pid)| *pid).collect();
        let cpu = processes::cpu_seconds(&[self.pids.as_slice(), &watched].concat());
        let of = |pids: &[u32]| -> anyhow::Result<Vec<f64>> {
            pids.iter()
                .map(|pid| {
                    cpu.get(pid)
                        .copied()
                        .with_context(|| format!("no process {pid}"))
                })
                .collect()
        };
        Ok((of(&self.pids)?, of(&watched)?))
    }

    /// Waits (at most [`SETTLE_WITHIN`]) until every worker is quiet: under [`QUIET_CORES`] over
    /// a [`SETTLE_WINDOW`].
    async fn settle(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + SETTLE_WITHIN;
        let mut last = self.cpu()?.0;
        while Instant::now() < deadline {
            tokio::time::sleep(SETTLE_WINDOW).await;
            let now = self.cpu()?.0;
            let quiet = now
                .iter()
                .zip(&last)
                .all(|(a, b)| (a - b) / SETTLE_WINDOW.as_secs_f64() < QUIET_CORES);
            if quiet {
                return Ok(());
            }
            last = now;
        }
        note("the workers did not settle; the empty phase includes what they were still doing");
        Ok(())
    }

    /// Measures `seconds` of waiting.
    async fn waiting(&self, seconds: Duration) -> anyhow::Result<Phase> {
        Ok(self.phase_until(tokio::time::sleep(seconds)).await?.0)
    }

    /// Measures while `work` runs, and hands back its output.
    async fn phase_until<T>(&self, work: impl Future<Output = T>) -> anyhow::Result<(Phase, T)> {
        let (before, cpu_before, began) = (self.scrape().await?, self.cpu()?, Instant::now());
        let output = work.await;
        let (cpu_after, seconds) = (self.cpu()?, began.elapsed().as_secs_f64());
        let after = self.scrape().await?;
        let spent = |after: &[f64], before: &[f64]| -> Vec<f64> {
            after.iter().zip(before).map(|(a, b)| a - b).collect()
        };
        Ok((
            Phase {
                seconds,
                cpu: spent(&cpu_after.0, &cpu_before.0),
                watched_cpu: spent(&cpu_after.1, &cpu_before.1),
                before,
                after,
            },
            output,
        ))
    }

    /// Waits until the workers' gauges add up to `k` live sessions; answers each one's count.
    async fn sessions_live(&self, k: usize) -> anyhow::Result<Vec<usize>> {
        let deadline = Instant::now() + SESSIONS_LIVE_WITHIN;
        loop {
            let sessions: Vec<usize> = self
                .scrape()
                .await?
                .iter()
                .map(|s| s.sum(cultfit_actors::metrics::LIVE_SESSIONS) as usize)
                .collect();
            if sessions.iter().sum::<usize>() >= k || Instant::now() >= deadline {
                return Ok(sessions);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// One node's Prometheus text.
struct Scrape(String);

impl Scrape {
    /// The sum of every series of `name` (over its labels).
    fn sum(&self, name: &str) -> f64 {
        self.0
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(name)?;
                if !(rest.starts_with(' ') || rest.starts_with('{')) {
                    return None;
                }
                line.rsplit_once(' ')?.1.parse::<f64>().ok()
            })
            .sum()
    }

    /// Histogram `name`: its cumulative buckets, sum and count (empty if not recorded yet).
    fn histogram(&self, name: &str) -> Histogram {
        let bucket = format!("{name}_bucket{{le=\"");
        let mut h = Histogram::default();
        for line in self.0.lines() {
            if let Some(rest) = line.strip_prefix(&bucket) {
                let parsed = rest.split_once("\"} ").and_then(|(le, n)| {
                    let le = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().ok()?
                    };
                    Some((le, n.trim().parse().ok()?))
                });
                h.buckets.extend(parsed);
            }
        }
        h.sum = self.sum(&format!("{name}_sum"));
        h.count = self.sum(&format!("{name}_count"));
        h
    }
}

/// A Prometheus histogram: cumulative counts at each upper bound (seconds), sum and count.
#[derive(Debug, Default, Clone, PartialEq)]
struct Histogram {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

impl Histogram {
    /// What was recorded after `earlier` (the same series, scraped before).
    fn minus(&self, earlier: &Histogram) -> Histogram {
        let at = |le: f64| {
            earlier
                .buckets
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0.0, |(_, n)| *n)
        };
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|(le, n)| (*le, n - at(*le)))
                .collect(),
            sum: self.sum - earlier.sum,
            count: self.count - earlier.count,
        }
    }

    /// Adds another node's histogram with the same buckets.
    fn add(&mut self, other: &Histogram) {
        if self.buckets.is_empty() {
            self.buckets = other.buckets.clone();
        } else {
            for ((_, n), (_, m)) in self.buckets.iter_mut().zip(&other.buckets) {
                *n += m;
            }
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    /// The smallest bucket bound (seconds) at or below which fraction `q` of the values lie.
    fn quantile(&self, q: f64) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        let rank = (q * self.count).ceil().max(1.0);
        self.buckets
            .iter()
            .find(|(_, n)| *n >= rank)
            .map(|(le, _)| *le)
    }

    /// `ticks | p50 | p99 | max | mean` cells, in ms; quantiles are bucket bounds ("≤").
    fn row(&self) -> String {
        let bound = |q: f64| match self.quantile(q) {
            None => "—".to_owned(),
            Some(le) if le.is_infinite() => "> 10 000".to_owned(),
            Some(le) => format!("≤ {}", (le * 1e6).round() / 1e3),
        };
        let mean = if self.count > 0.0 {
            format!("{:.1}", self.sum / self.count * 1000.0)
        } else {
            "—".to_owned()
        };
        format!(
            "{:.0} | {} | {} | {} | {mean}",
            self.count,
            bound(0.5),
            bound(0.99),
            bound(1.0)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# TYPE cultfit_live_tick_lateness_seconds histogram
cultfit_live_tick_lateness_seconds_bucket{le="0.01"} 90
cultfit_live_tick_lateness_seconds_bucket{le="0.05"} 99
cultfit_live_tick_lateness_seconds_bucket{le="+Inf"} 100
cultfit_live_tick_lateness_seconds_sum 1.5
cultfit_live_tick_lateness_seconds_count 100
cultfit_live_sessions 3
cultfit_live_sessions_resumed_total 7
cultfit_samples_rejected_total{reason="not_live"} 2
cultfit_samples_rejected_total{reason="malformed"} 3
"#;

    const AFTER: &str = r#"cultfit_live_tick_lateness_seconds_bucket{le="0.01"} 180
cultfit_live_tick_lateness_seconds_bucket{le="0.05"} 199
cultfit_live_tick_lateness_seconds_bucket{le="+Inf"} 200
cultfit_live_tick_lateness_seconds_sum 3.5
cultfit_live_tick_lateness_seconds_count 200
"#;

    #[test]
    fn a_series_sums_over_its_labels_and_not_over_longer_names() {
        let s = Scrape(BEFORE.to_owned());
        assert_eq!(s.sum("cultfit_live_sessions"), 3.0);
        assert_eq!(s.sum("cultfit_samples_rejected_total"), 5.0);
        assert_eq!(s.sum("cultfit_nothing"), 0.0);
    }

    #[test]
    fn two_scrapes_subtract_into_the_ticks_between_them() {
        let (before, after) = (Scrape(BEFORE.to_owned()), Scrape(AFTER.to_owned()));
        let h = after.histogram(LATENESS).minus(&before.histogram(LATENESS));
        assert_eq!(
            h.buckets,
            vec![(0.01, 90.0), (0.05, 100.0), (f64::INFINITY, 100.0)]
        );
        assert_eq!((h.sum, h.count), (2.0, 100.0));
        assert_eq!(h.quantile(0.5), Some(0.01));
        assert_eq!(h.quantile(0.9), Some(0.01));
        assert_eq!(h.quantile(0.99), Some(0.05));
        assert_eq!(h.quantile(1.0), Some(0.05));
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn workers_histograms_add_up() {
        let mut total = Histogram::default();
        let one = Scrape(BEFORE.to_owned()).histogram(LATENESS);
        total.add(&one);
        total.add(&one);
        assert_eq!(total.count, 200.0);
        assert_eq!(total.buckets[2], (f64::INFINITY, 200.0));
        assert_eq!(total.quantile(1.0), Some(f64::INFINITY));
        assert!(
            total
                .row()
                .starts_with("200 | ≤ 10 | ≤ 50 | > 10 000 | 15.0")
        );
    }
}
