//! Checking what the service stored against what the wearables sent.
//!
//! - [`missing_energy`]: every trainee's stored energy must be the floor of the last cumulative
//!   energy their wearable sent (anything less means an accepted sample went missing).
//! - [`results_digest`]: a SHA-256 of every trainee's full result over the scripted span — rank,
//!   energy, calories, active seconds, the per-minute ratings of the complete minutes and the
//!   per-second energy curve — in trainee order. Runs of the same script (same seed, trainees,
//!   rate and duration) must produce the same digest, whatever failed in between.

use super::http::Http;
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use uuid::Uuid;

/// Trainees whose stored energy is not what their wearable last sent.
pub fn missing_energy(finals: &[(Uuid, f64)], results: &Value) -> usize {
    let stored: HashMap<Uuid, i64> = results["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|r| {
                    let user = r["user_id"].as_str()?.parse().ok()?;
                    Some((user, r["energy"].as_i64()?))
                })
                .collect()
        })
        .unwrap_or_default();
    finals
        .iter()
        .filter(|(user, energy)| stored.get(user) != Some(&(energy.floor() as i64)))
        .count()
}

/// Reads every trainee's own result (`GET /results/me` with their token, `concurrency` at a time)
/// and digests it over the first `span_seconds` of the session. `bar` counts the results read.
pub async fn results_digest(
    http: &Http,
    workout: Uuid,
    tokens: &[String],
    span_seconds: usize,
    concurrency: usize,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<String> {
    let path = format!("/api/v1/workouts/{workout}/results/me");
    let results: Vec<Value> = futures_util::stream::iter(tokens)
        .map(|token| http.get(&path, token))
        .buffered(concurrency.max(1))
        .inspect(|_| bar.inc(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let scripted: Vec<Value> = results.iter().map(|r| over_span(r, span_seconds)).collect();
    let canonical = serde_json::to_vec(&scripted)?;
    Ok(Sha256::digest(&canonical)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The parts of one result that the script decides: curves cut to the scripted span (what
/// follows depends on when the trainer ended the session, not on the samples).
fn over_span(result: &Value, span_seconds: usize) -> Value {
    let cut = |field: &str, n: usize| -> Vec<Value> {
        result[field]
            .as_array()
            .map(|v| v.iter().take(n).cloned().collect())
            .unwrap_or_default()
    };
    json!({
        "rank": result["rank"],
        "energy": result["energy"],
        "calories": result["calories"],
        "active_seconds": result["active_seconds"],
        "per_minute": cut("per_minute", span_seconds / 60),
        "energy_curve": cut("energy_curve", span_seconds),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_scripted_span_counts() {
        let curve: Vec<i64> = (0..70).map(|s| s.min(60)).collect();
        let a = json!({"rank": 1, "energy": 60, "calories": 2.5, "active_seconds": 60,
                       "per_minute": [50.0, 40.0], "energy_curve": curve});
        // Ended later: a longer curve and a different last, partial minute.
        let mut b = a.clone();
        b["per_minute"] = json!([50.0, 12.0, 0.0]);
        b["energy_curve"] = json!((0..90).map(|s: i64| s.min(60)).collect::<Vec<_>>());
        assert_eq!(over_span(&a, 65), over_span(&b, 65));
        b["energy_curve"][1] = json!(2);
        assert_ne!(over_span(&a, 65), over_span(&b, 65));
    }

    #[test]
    fn missing_energy_compares_the_floor_of_what_was_sent() {
        let (one, two) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let results = json!({"items": [
            {"user_id": one.to_string(), "energy": 41},
            {"user_id": two.to_string(), "energy": 10},
        ]});
        assert_eq!(missing_energy(&[(one, 41.9), (two, 11.0)], &results), 1);
    }
}
