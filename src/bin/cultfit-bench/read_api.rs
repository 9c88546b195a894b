//! PERFORMANCE scenario 4: the read API (`GET /api/v1/workouts`, authenticated) beside a
//! hello-JSON route of the same binary (`GET /health/live`, which answers `{"status":"ok"}`), with
//! the same client and concurrency, in alternating rounds of the same run.

use super::{Bench, closed_loop_for};
use anyhow::{Context, bail};
use chrono::{TimeDelta, Utc};
use cultfit::accounts::Role;
use cultfit::workouts::WORKOUT_TYPES;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

/// What the read scenario lists: an upcoming catalogue, as seeded.
pub struct Catalogue {
    /// Its trainers.
    pub trainers: Vec<Uuid>,
    /// Trainees with bookings in it, whose tokens the reads use.
    pub trainees: Vec<Uuid>,
    /// Upcoming workouts.
    pub workouts: usize,
    /// Booked registrations over all of them.
    pub bookings: u64,
}

impl Bench {
    /// Seed `workouts` upcoming workouts spread evenly over `trainers` trainers and the next 14
    /// days (each trainer's sessions an hour or more apart), of every type, with 20 to 200
    /// places, and book each to a random share of its capacity from `trainees` trainees (seed 4).
    /// Straight into PostgreSQL: the scenario measures reads, not scheduling.
    pub async fn seed_catalogue(
        &self,
        trainers: usize,
        workouts: usize,
        trainees: usize,
    ) -> anyhow::Result<Catalogue> {
        if trainers == 0 || workouts == 0 || trainees == 0 {
            bail!("--trainers, --workouts and --trainees must each be at least 1");
        }
        let trainer_ids = self.seed_users("trainer", trainers).await?;
        let trainee_ids = self.seed_users("trainee", trainees).await?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let now = Utc::now();
        let slot = TimeDelta::days(14) / i32::try_from(workouts.div_ceil(trainers))?;
        let slot = slot.max(TimeDelta::hours(1));
        let (mut ids, mut types, mut titles, mut owners, mut starts, mut minutes, mut places) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for i in 0..workouts {
            let kind = WORKOUT_TYPES[i % WORKOUT_TYPES.len()];
            ids.push(Uuid::now_v7());
            types.push(kind.to_owned());
            titles.push(format!("{kind} with trainer {}", i % trainers + 1));
            owners.push(trainer_ids[i % trainers]);
            // Trainers' sessions interleave: trainer k teaches its n-th at n slots + k minutes.
            starts.push(
                now + TimeDelta::minutes(30)
                    + slot * i32::try_from(i / trainers)?
                    + TimeDelta::minutes((i % trainers) as i64),
            );
            minutes.push(rng.random_range(3..=12) * 5);
            places.push(rng.random_range(20..=200i32));
        }
        sqlx::query(
            "INSERT INTO workouts (id, workout_type, title, description, trainer_id, starts_at, duration_minutes, capacity)
             SELECT id, workout_type, title, 'A seeded session for the read benchmark: warm up, work, cool down.', trainer_id, starts_at, minutes, capacity
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::timestamptz[], $6::int[], $7::int[])
                  AS w(id, workout_type, title, trainer_id, starts_at, minutes, capacity)",
        )
        .bind(&ids)
        .bind(&types)
        .bind(&titles)
        .bind(&owners)
        .bind(&starts)
        .bind(&minutes)
        .bind(&places)
        .execute(&self.pool)
        .await
        .context("failed to seed workouts")?;
        let (mut booked_workouts, mut booked_trainees) = (vec![], vec![]);
        for (workout, capacity) in ids.iter().zip(&places) {
            let take = rng.random_range(0..=(*capacity as usize).min(trainees));
            let first = rng.random_range(0..trainees);
            for k in 0..take {
                booked_workouts.push(*workout);
                booked_trainees.push(trainee_ids[(first + k) % trainees]);
            }
        }
        sqlx::query(
            "INSERT INTO registrations (workout_id, trainee_id, status)
             SELECT w, t, 'booked' FROM unnest($1::uuid[], $2::uuid[]) AS r(w, t)",
        )
        .bind(&booked_workouts)
        .bind(&booked_trainees)
        .execute(&self.pool)
        .await
        .context("failed to seed bookings")?;
        Ok(Catalogue {
            trainers: trainer_ids,
            trainees: trainee_ids,
            workouts,
            bookings: booked_workouts.len() as u64,
        })
    }

    /// The listing queries a home screen and its filters send, against `catalogue`: the first
    /// page (default size, 20), the next `pages` pages through `next_cursor`, each type, and each
    /// trainer's. The cursors are read from the api node itself.
    pub async fn listing_queries(
        &self,
        catalogue: &Catalogue,
        pages: usize,
    ) -> anyhow::Result<Vec<String>> {
        let token = self.token(catalogue.trainees[0], Role::Trainee)?;
        let mut queries = vec![String::new()];
        let mut query = String::new();
        for _ in 0..pages {
            let page: Value = self
                .http
                .get(self.url(0, &format!("/api/v1/workouts{query}")))
                .bearer_auth(&token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let Some(cursor) = page["next_cursor"].as_str() else {
                break;
            };
            query = format!("?cursor={cursor}");
            queries.push(query.clone());
        }
        queries.extend(WORKOUT_TYPES.iter().map(|t| format!("?type={t}")));
        queries.extend(
            catalogue
                .trainers
                .iter()
                .map(|t| format!("?trainer_id={t}")),
        );
        Ok(queries)
    }
}

/// Scenario 4's options.
pub struct ReadApi {
    pub trainers: usize,
    pub workouts: usize,
    pub trainees: usize,
    pub seconds: u64,
    pub concurrency: usize,
    pub rounds: usize,
}

/// Alternate `rounds` rounds of hello-JSON and of the listing, `seconds` each, and print both
/// sides' rows and the ratio of their rates.
pub async fn run(bench: &Bench, options: &ReadApi, label: &str) -> anyhow::Result<()> {
    let catalogue = bench
        .seed_catalogue(options.trainers, options.workouts, options.trainees)
        .await?;
    let queries = bench.listing_queries(&catalogue, 4).await?;
    eprintln!(
        "read-api: {} upcoming workouts of {} trainers, {} bookings by {} trainees; {} distinct \
         listing queries (half the requests the first page, the rest round robin over the next \
         pages, the {} types and each trainer); {} in flight, {} s a round",
        catalogue.workouts,
        catalogue.trainers.len(),
        catalogue.bookings,
        catalogue.trainees.len(),
        queries.len(),
        WORKOUT_TYPES.len(),
        options.concurrency,
        options.seconds,
    );
    let tokens: Vec<String> = catalogue
        .trainees
        .iter()
        .map(|id| bench.token(*id, Role::Trainee))
        .collect::<anyhow::Result<_>>()?;
    let urls: Vec<String> = queries
        .iter()
        .map(|q| bench.url(0, &format!("/api/v1/workouts{q}")))
        .collect();
    let hello = bench.url(0, "/health/live");
    let duration = Duration::from_secs(options.seconds);
    let ok = reqwest::StatusCode::OK;
    let (mut hello_rates, mut read_rates) = (vec![], vec![]);
    for round in 1..=options.rounds.max(1) {
        let outcome = closed_loop_for(duration, options.concurrency, ok, |_| {
            bench.http.get(&hello)
        })
        .await?;
        outcome.report(
            &format!("hello-JSON: GET /health/live (round {round})"),
            label,
        );
        hello_rates.push(outcome.rate());
        let outcome = closed_loop_for(duration, options.concurrency, ok, |i| {
            let url = if i % 2 == 0 {
                &urls[0]
            } else {
                &urls[1 + (i / 2) % (urls.len() - 1)]
            };
            bench.http.get(url).bearer_auth(&tokens[i % tokens.len()])
        })
        .await?;
        outcome.report(
            &format!("read API: GET /api/v1/workouts, authenticated (round {round})"),
            label,
        );
        read_rates.push(outcome.rate());
    }
    let (hello, read) = (
        hello_rates.iter().sum::<f64>(),
        read_rates.iter().sum::<f64>(),
    );
    println!(
        "read API over hello-JSON, requests/s summed over {} rounds: {:.2} × (target ≥ 0.5 ×)",
        hello_rates.len(),
        read / hello
    );
    Ok(())
}
