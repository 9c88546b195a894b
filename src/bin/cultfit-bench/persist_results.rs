//! PERFORMANCE scenario 7: the end of a session, persisting everyone's results with their curves
//! through the workout actor's own write (`store::persist` with the `Ended` event and the
//! results, in one transaction guarded by the workout's version), beside `COPY` of the same rows
//! into a table of the same shape (`LIKE results INCLUDING ALL` plus the same foreign keys), in
//! alternating rounds of the same run. Needs only a migrated database, no cluster.

use anyhow::{Context, bail};
use chrono::{TimeDelta, Utc};
use cultfit_actors::live::calories::{Body, Method, Sex};
use cultfit_actors::live::curve;
use cultfit_actors::live::summary::ParticipantResult;
use cultfit_actors::workout::state::Event;
use cultfit_actors::workout::store;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use std::fmt::Write as _;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Scenario 7's options.
pub struct PersistResults {
    pub participants: usize,
    pub minutes: u32,
    pub rounds: usize,
}

/// The columns both sides write; `computed_at` takes its default on both.
const COLUMNS: &str = "workout_id, trainee_id, rank, energy, calories, active_seconds, per_minute_rating, energy_curve_packed, body_metrics";

/// Bytes of COPY data sent at a time.
const COPY_CHUNK_BYTES: usize = 1 << 20;

/// The results a session of `minutes` minutes leaves for `trainees`, as `summarize` shapes them:
/// in rank order, a cumulative energy curve with one point per second, an average rating per
/// minute, and a body per participant (seed 7). Ratings, energy rates and bodies vary by
/// participant; a fifth of the seconds are idle.
fn session_results(trainees: &[Uuid], minutes: u32) -> Vec<ParticipantResult> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let seconds = minutes as usize * 60;
    let mut results: Vec<ParticipantResult> = trainees
        .iter()
        .map(|&user| {
            let pace = rng.random_range(0.3..2.5f32);
            let (mut energy, mut active, mut minute_sum) = (0.0f32, 0u32, 0.0f32);
            let mut energy_curve = Vec::with_capacity(seconds);
            let mut per_minute_rating = Vec::with_capacity(minutes as usize);
            for second in 0..seconds {
                let rating = if rng.random_range(0..5) == 0 {
                    0.0
                } else {
                    active += 1;
                    rng.random_range(20.0..100.0f32)
                };
                energy += pace * rating / 50.0;
                energy_curve.push(energy.floor() as i32);
                minute_sum += rating;
                if second % 60 == 59 {
                    per_minute_rating.push(minute_sum / 60.0);
                    minute_sum = 0.0;
                }
            }
            let with_heart_rate = rng.random_range(0..3) > 0;
            ParticipantResult {
                user,
                rank: 0,
                energy: i64::from(energy_curve.last().copied().unwrap_or(0)),
                calories: f64::from(rng.random_range(150.0..900.0f32)),
                method: if with_heart_rate {
                    Method::Keytel
                } else {
                    Method::Met
                },
                body: Body {
                    weight_kg: Some(rng.random_range(45.0..110.0f32).round()),
                    age_years: Some(rng.random_range(18..70)),
                    sex: Some(if rng.random() { Sex::Female } else { Sex::Male }),
                },
                active_seconds: active,
                per_minute_rating,
                energy_curve,
            }
        })
        .collect();
    results.sort_by_key(|r| std::cmp::Reverse(r.energy));
    for (result, rank) in results.iter_mut().zip(1..) {
        result.rank = rank;
    }
    results
}

/// One row of `COPY ... FROM STDIN` text format for `result` of `workout`.
fn copy_row(out: &mut String, workout: Uuid, r: &ParticipantResult) -> anyhow::Result<()> {
    write!(
        out,
        "{workout}\t{}\t{}\t{}\t{}\t{}\t{{",
        r.user, r.rank, r.energy, r.calories as f32, r.active_seconds
    )?;
    for (i, v) in r.per_minute_rating.iter().enumerate() {
        write!(out, "{}{v}", if i == 0 { "" } else { "," })?;
    }
    // bytea in hex, its backslash escaped for COPY's text format.
    out.push_str("}\t\\\\x");
    for byte in curve::pack(&r.energy_curve) {
        write!(out, "{byte:02x}")?;
    }
    out.push('\t');
    let body = serde_json::json!({
        "method": r.method, "weight_kg": r.body.weight_kg,
        "age_years": r.body.age_years, "sex": r.body.sex,
    });
    // COPY's text format gives backslash a meaning; compact JSON holds no tab or newline.
    out.push_str(&body.to_string().replace('\\', "\\\\"));
    out.push('\n');
    Ok(())
}

/// COPY `results` of `workout` into `results_copy` in one transaction; returns the time spent
/// encoding the rows (included in the total, which the caller measures).
async fn copy_results(
    pool: &PgPool,
    workout: Uuid,
    results: &[ParticipantResult],
) -> anyhow::Result<Duration> {
    let mut tx = pool.begin().await.context("failed to begin transaction")?;
    let mut copy = tx
        .copy_in_raw(&format!("COPY results_copy ({COLUMNS}) FROM STDIN"))
        .await
        .context("failed to start COPY")?;
    let mut encoding = Duration::ZERO;
    let mut chunk = String::with_capacity(COPY_CHUNK_BYTES + 64 * 1024);
    for (i, result) in results.iter().enumerate() {
        let started = Instant::now();
        copy_row(&mut chunk, workout, result)?;
        encoding += started.elapsed();
        if chunk.len() >= COPY_CHUNK_BYTES || i + 1 == results.len() {
            copy.send(chunk.as_bytes())
                .await
                .context("failed to send COPY data")?;
            chunk.clear();
        }
    }
    copy.finish().await.context("failed to finish COPY")?;
    tx.commit().await.context("failed to commit COPY")?;
    Ok(encoding)
}

/// Rows, total energy and packed curve bytes stored for `workout` in `table`, to check that both
/// sides wrote the same rows.
async fn stored(pool: &PgPool, table: &str, workout: Uuid) -> anyhow::Result<(i64, i64, i64)> {
    let sql = format!(
        "SELECT count(*), coalesce(sum(energy), 0)::bigint, coalesce(sum(length(energy_curve_packed)), 0)::bigint
         FROM {table} WHERE workout_id = $1"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(workout)
        .fetch_one(pool)
        .await
        .context("failed to count stored results")
}

/// Seed the participants, then per round end one fresh live workout through `store::persist`
/// and COPY the same rows; print each side's time and the ratio.
pub async fn run(database_url: &str, options: &PersistResults, label: &str) -> anyhow::Result<()> {
    if options.participants == 0 || !(1..=240).contains(&options.minutes) {
        bail!("--participants must be at least 1 and --minutes within 1..=240");
    }
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(database_url)
        .await
        .context("failed to connect to PostgreSQL")?;
    let trainer = Uuid::now_v7();
    let trainees: Vec<Uuid> = (0..options.participants).map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO users (id, role, full_name, email, mobile, password_hash)
         SELECT id, CAST(CASE WHEN id = $2 THEN 'trainer' ELSE 'trainee' END AS user_role), 'Bench user',
                'bench.' || id || '@example.com', '+919876543210', '-'
         FROM unnest(array_append($1::uuid[], $2)) AS id",
    )
    .bind(&trainees)
    .bind(trainer)
    .execute(&pool)
    .await
    .context("failed to seed participants")?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS results_copy (LIKE results INCLUDING ALL,
             FOREIGN KEY (workout_id) REFERENCES workouts (id) ON DELETE CASCADE,
             FOREIGN KEY (trainee_id) REFERENCES users (id))",
    )
    .execute(&pool)
    .await
    .context("failed to create the COPY table")?;
    let results = session_results(&trainees, options.minutes);
    let points: usize = results
        .iter()
        .map(|r| r.energy_curve.len() + r.per_minute_rating.len())
        .sum();
    eprintln!(
        "persist-results: {} participants, {} minutes: {} energy points and {} per-minute ratings each, {points} array elements in all",
        options.participants,
        options.minutes,
        options.minutes * 60,
        options.minutes,
    );
    println!("| round | side | rows | time ms | rows/s | of which encoding ms |");
    println!("|---|---|---|---|---|---|");
    let (mut persist_total, mut copy_total) = (Duration::ZERO, Duration::ZERO);
    for round in 1..=options.rounds.max(1) {
        let workout = Uuid::now_v7();
        let started_at = Utc::now() - TimeDelta::minutes(i64::from(options.minutes));
        sqlx::query(
            "INSERT INTO workouts (id, workout_type, title, trainer_id, starts_at, duration_minutes, capacity, state, started_at)
             VALUES ($1, 'hiit', 'Bench session', $2, $3, $4, $5, 'live', $3)",
        )
        .bind(workout)
        .bind(trainer)
        .bind(started_at)
        .bind(i32::try_from(options.minutes)?)
        .bind(i32::try_from(options.participants)?)
        .execute(&pool)
        .await
        .context("failed to seed the workout")?;
        let ended = [Event::Ended {
            at: Utc::now(),
            automatic: false,
        }];
        // Alternate which side goes first, so neither always meets the other's leftovers.
        for side in if round % 2 == 1 { [0, 1] } else { [1, 0] } {
            let started = Instant::now();
            if side == 0 {
                store::persist(&pool, workout, 0, &ended, &[], &results).await?;
                let took = started.elapsed();
                persist_total += took;
                row(
                    round,
                    "`store::persist` (Ended + results, one transaction)",
                    results.len(),
                    took,
                    None,
                );
            } else {
                let encoding = copy_results(&pool, workout, &results).await?;
                let took = started.elapsed();
                copy_total += took;
                row(
                    round,
                    "COPY of the same rows (text format)",
                    results.len(),
                    took,
                    Some(encoding),
                );
            }
        }
        let (persisted, copied) = (
            stored(&pool, "results", workout).await?,
            stored(&pool, "results_copy", workout).await?,
        );
        if persisted != copied || persisted.0 != results.len() as i64 {
            bail!("the sides stored different rows: persist {persisted:?}, COPY {copied:?}");
        }
    }
    println!(
        "{label}{}persist over COPY, summed over {} rounds: {:.0} ms / {:.0} ms = {:.2} ×; persist per round {:.0} ms (target ≤ 1 000 ms)",
        if label.is_empty() { "" } else { ": " },
        options.rounds.max(1),
        persist_total.as_secs_f64() * 1e3,
        copy_total.as_secs_f64() * 1e3,
        persist_total.as_secs_f64() / copy_total.as_secs_f64(),
        persist_total.as_secs_f64() * 1e3 / options.rounds.max(1) as f64,
    );
    pool.close().await;
    Ok(())
}

fn row(round: usize, side: &str, rows: usize, took: Duration, encoding: Option<Duration>) {
    println!(
        "| {round} | {side} | {rows} | {:.0} | {:.0} | {} |",
        took.as_secs_f64() * 1e3,
        rows as f64 / took.as_secs_f64(),
        encoding.map_or("—".to_owned(), |e| format!(
            "{:.0}",
            e.as_secs_f64() * 1e3
        )),
    );
}
