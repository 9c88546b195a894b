//! PERFORMANCE scenario 5: a login flood against `cores / argon2 time`, the ceiling that argon2
//! alone allows, with that argon2 time measured in this process through the service's own
//! [`PasswordHasher`] (same code, same parameters) just before the flood; and, during the flood,
//! paced authenticated reads of `GET /api/v1/workouts` to see whether hashing starves them.

use super::{Bench, Outcome, closed_loop_for};
use anyhow::{Context, bail};
use cultfit::accounts::Role;
use cultfit::auth::password::{Password, PasswordHasher};
use serde_json::json;
use std::time::{Duration, Instant};

/// The password every flood account has.
const PASSWORD: &str = "flood-password-0123";

/// Scenario 5's options.
pub struct LoginFlood {
    pub accounts: usize,
    pub seconds: u64,
    pub concurrency: usize,
    pub reads_per_s: u32,
    pub hash_samples: usize,
}

/// Mean and median wall time of one argon2 verification on one thread of the service's hasher,
/// over `samples` verifications one after the other.
async fn argon2_time(
    hasher: &PasswordHasher,
    phc: &str,
    samples: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let password = Password::new(PASSWORD);
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples.max(1) {
        let started = Instant::now();
        if !hasher.verify(&password, Some(phc.to_owned())).await? {
            bail!("the hasher did not verify its own hash");
        }
        times.push(started.elapsed());
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    Ok((mean, times[times.len() / 2]))
}

impl Bench {
    /// `n` trainees who can log in with [`PASSWORD`]: every account stores `phc`, one real
    /// argon2id hash of it, so each login verifies a real hash at the service's cost (the cost
    /// does not depend on the salt) without hashing `n` times while seeding.
    async fn seed_login_accounts(&self, n: usize, phc: &str) -> anyhow::Result<Vec<String>> {
        let emails: Vec<String> = (0..n)
            .map(|_| format!("flood.{}@example.com", uuid::Uuid::now_v7()))
            .collect();
        sqlx::query(
            "INSERT INTO users (id, role, full_name, email, mobile, password_hash)
             SELECT gen_random_uuid(), 'trainee', 'Flood user', email, '+919876543210', $2
             FROM unnest($1::text[]) AS email",
        )
        .bind(&emails)
        .bind(phc)
        .execute(&self.pool)
        .await
        .context("failed to seed login accounts")?;
        Ok(emails)
    }
}

/// Paced authenticated `GET /api/v1/workouts` (first page) at `per_s` for `duration`, open loop:
/// latency from each request's intended send time.
async fn paced_reads(
    bench: &Bench,
    token: &str,
    per_s: u32,
    after: Duration,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let n = (duration.as_secs_f64() * f64::from(per_s)) as usize;
    let spacing = 1.0 / f64::from(per_s.max(1));
    let begin = tokio::time::Instant::now() + after;
    let url = bench.url(0, "/api/v1/workouts");
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let request = bench.http.get(&url).bearer_auth(token);
        let intended = begin + Duration::from_secs_f64(spacing * i as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(intended).await;
            let answer = async {
                let response = request.send().await?;
                let status = response.status();
                response.bytes().await?;
                Ok::<_, reqwest::Error>(status)
            }
            .await;
            (intended.elapsed(), answer.map_err(|e| e.to_string()))
        }));
    }
    let mut outcome = Outcome::new()?;
    for task in tasks {
        let (latency, status) = task.await?;
        outcome.record(latency, status, reqwest::StatusCode::OK);
    }
    outcome.elapsed = duration;
    Ok(outcome)
}

/// Measure argon2 in process, then flood `POST /api/v1/auth/login` for `seconds` with
/// `concurrency` in flight while reading the listing at a steady pace; print the rows and the
/// ratio of logins/s to `cores / argon2 time`.
pub async fn run(bench: &Bench, options: &LoginFlood, label: &str) -> anyhow::Result<()> {
    if options.accounts == 0 || options.seconds < 3 || options.reads_per_s == 0 {
        bail!("--accounts and --reads-per-s must be at least 1 and --seconds at least 3");
    }
    let hasher = PasswordHasher::new(1)?;
    let phc = hasher.hash(&Password::new(PASSWORD)).await?;
    let (mean, median) = argon2_time(&hasher, &phc, options.hash_samples).await?;
    drop(hasher);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let ceiling = cores as f64 / mean.as_secs_f64();

    let emails = bench.seed_login_accounts(options.accounts, &phc).await?;
    let catalogue = bench.seed_catalogue(5, 100, 500).await?;
    let reader = bench.token(catalogue.trainees[0], Role::Trainee)?;
    let duration = Duration::from_secs(options.seconds);
    // Reads start a second into the flood and stop a second before its end, so every one of
    // them meets a saturated node.
    let reads = paced_reads(
        bench,
        &reader,
        options.reads_per_s,
        Duration::from_secs(1),
        duration - Duration::from_secs(2),
    );
    let login = bench.url(0, "/api/v1/auth/login");
    let flood = closed_loop_for(
        duration,
        options.concurrency,
        reqwest::StatusCode::OK,
        |i| {
            bench.http.post(&login).json(&json!({
                "email": emails[i % emails.len()],
                "password": PASSWORD,
            }))
        },
    );
    let (flood, reads) = tokio::join!(flood, reads);
    let (flood, reads) = (flood?, reads?);
    println!(
        "argon2id as the service hashes (`PasswordHasher`, one thread, {} verifications): mean {:.1} ms, median {:.1} ms; {cores} cores → ceiling {ceiling:.0} logins/s",
        options.hash_samples.max(1),
        mean.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
    );
    flood.report(
        &format!(
            "login flood: POST /api/v1/auth/login, {} in flight",
            options.concurrency
        ),
        label,
    );
    reads.report(
        &format!(
            "during the flood: GET /api/v1/workouts paced at {}/s (from intended send)",
            options.reads_per_s
        ),
        label,
    );
    println!(
        "logins/s over cores / argon2 time: {:.0} / {ceiling:.0} = {:.2} × (target ≥ 0.8 ×); read p99 during the flood {:.1} ms (target ≤ 50 ms)",
        flood.rate(),
        flood.rate() / ceiling,
        reads.latency.value_at_quantile(0.99) as f64 / 1000.0,
    );
    Ok(())
}
