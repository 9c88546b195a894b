//! After a workout: feedback (write and summary) and each user's history.

use super::cursor::Keyset;
use super::views::{State, TrainerRef};
use anyhow::Context;
use apistos::ApiComponent;
use chrono::{DateTime, Utc};
use cultfit_actors::db;
use cultfit_actors::live::curve;
use schemars::JsonSchema;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// Why feedback was not recorded.
pub enum FeedbackRefusal {
    /// No such workout.
    UnknownWorkout,
    /// The workout has not ended (its state).
    NotEnded(State),
    /// The caller did not take part.
    NotParticipant,
}

/// Record (or replace) a participant's feedback on an ended workout. A participant is a trainee
/// who held a place and joined.
pub async fn give_feedback(
    pool: &PgPool,
    workout_id: Uuid,
    trainee_id: Uuid,
    rating: i16,
    comment: Option<&str>,
) -> anyhow::Result<Result<FeedbackItem, FeedbackRefusal>> {
    let saved = sqlx::query!(
        r#"INSERT INTO feedback (workout_id, trainee_id, rating, comment)
           SELECT r.workout_id, r.trainee_id, $3, $4
           FROM registrations r JOIN workouts w ON w.id = r.workout_id
           WHERE r.workout_id = $1 AND r.trainee_id = $2 AND r.status = 'booked'
             AND r.joined_at IS NOT NULL AND w.state = 'ended'
           ON CONFLICT (workout_id, trainee_id)
             DO UPDATE SET rating = EXCLUDED.rating, comment = EXCLUDED.comment, updated_at = now()
           RETURNING trainee_id, rating, comment, updated_at"#,
        workout_id,
        trainee_id,
        rating,
        comment
    )
    .fetch_optional(pool)
    .await
    .context("failed to save feedback")?;
    if let Some(row) = saved {
        let full_name =
            sqlx::query_scalar!("SELECT full_name FROM users WHERE id = $1", trainee_id)
                .fetch_one(pool)
                .await
                .context("failed to read name")?;
        return Ok(Ok(FeedbackItem {
            trainee_id: row.trainee_id,
            full_name,
            rating: row.rating,
            comment: row.comment,
            updated_at: row.updated_at,
        }));
    }
    // Nothing written: find out why, for a precise error.
    let state = sqlx::query_scalar!(
        r#"SELECT state::text AS "state!" FROM workouts WHERE id = $1"#,
        workout_id
    )
    .fetch_optional(pool)
    .await
    .context("failed to read workout state")?;
    Ok(Err(match state {
        None => FeedbackRefusal::UnknownWorkout,
        Some(state) if state != "ended" => {
            FeedbackRefusal::NotEnded(db::workout_state(&state)?.into())
        }
        Some(_) => FeedbackRefusal::NotParticipant,
    }))
}

/// One participant's feedback.
#[derive(Clone, Debug, Serialize, JsonSchema, ApiComponent)]
pub struct FeedbackItem {
    /// Who gave it.
    pub trainee_id: Uuid,
    /// Their name.
    pub full_name: String,
    /// 1 to 5.
    pub rating: i16,
    /// Optional comment.
    pub comment: Option<String>,
    /// When it was last given.
    pub updated_at: DateTime<Utc>,
}

/// Feedback on one workout, for its trainer.
#[derive(Clone, Debug, Serialize, JsonSchema, ApiComponent)]
pub struct FeedbackSummary {
    /// Average rating; null without feedback.
    pub average: Option<f64>,
    /// How many gave feedback.
    pub count: i64,
    /// Newest first.
    pub items: Vec<FeedbackItem>,
}

/// All feedback on a workout.
pub async fn feedback_summary(pool: &PgPool, workout_id: Uuid) -> anyhow::Result<FeedbackSummary> {
    let items = sqlx::query_as!(
        FeedbackItem,
        "SELECT f.trainee_id, u.full_name, f.rating, f.comment, f.updated_at
         FROM feedback f JOIN users u ON u.id = f.trainee_id
         WHERE f.workout_id = $1 ORDER BY f.updated_at DESC, f.trainee_id",
        workout_id
    )
    .fetch_all(pool)
    .await
    .context("failed to read feedback")?;
    let count = items.len() as i64;
    let average =
        (count > 0).then(|| items.iter().map(|i| f64::from(i.rating)).sum::<f64>() / count as f64);
    Ok(FeedbackSummary {
        average,
        count,
        items,
    })
}

/// The workout part of a history entry.
#[derive(Clone, Debug, Serialize, JsonSchema, ApiComponent)]
pub struct PastWorkout {
    /// Id.
    pub id: Uuid,
    /// Type.
    #[serde(rename = "type")]
    pub workout_type: String,
    /// Title.
    pub title: String,
    /// The trainer.
    pub trainer: TrainerRef,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// Duration in minutes.
    pub duration_minutes: i32,
    /// Ended (or cancelled, for trainers).
    pub state: State,
}

/// A trainee's own result in a past workout (absent until results are computed).
#[derive(Clone, Debug, Serialize, JsonSchema, ApiComponent)]
pub struct OwnResult {
    /// Rank (1 is best).
    pub rank: i32,
    /// Energy points.
    pub energy: i64,
    /// Estimated kcal.
    pub calories: f32,
    /// Seconds with effort.
    pub active_seconds: i32,
}

/// One past workout. Trainees get `result`; trainers get attendance and ratings.
#[derive(Clone, Debug, Serialize, JsonSchema, ApiComponent)]
pub struct HistoryEntry {
    /// The workout.
    pub workout: PastWorkout,
    /// Trainee: their result, or null when none was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<OwnResult>,
    /// Trainer: trainees who held a place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booked: Option<i64>,
    /// Trainer: trainees who joined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attendance: Option<i64>,
    /// Trainer: average feedback rating (null without feedback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_rating: Option<f64>,
    /// Trainer: how many gave feedback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback_count: Option<i64>,
}

/// A page of history.
#[derive(Clone, Debug, Serialize, JsonSchema, ApiComponent)]
pub struct HistoryPage {
    /// Newest first.
    pub items: Vec<HistoryEntry>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A trainee's ended workouts in which they held a place, newest first, with their result.
pub async fn trainee_history(
    pool: &PgPool,
    trainee_id: Uuid,
    after: Option<&Keyset>,
    limit: i64,
) -> anyhow::Result<HistoryPage> {
    let rows = sqlx::query!(
        r#"SELECT w.id, w.workout_type, w.title, w.trainer_id, u.full_name, w.starts_at, w.duration_minutes,
                  w.state::text AS "state!", res.rank AS "rank?", res.energy AS "energy?",
                  res.calories AS "calories?", res.active_seconds AS "active_seconds?"
           FROM registrations r
           JOIN workouts w ON w.id = r.workout_id
           JOIN users u ON u.id = w.trainer_id
           LEFT JOIN results res ON res.workout_id = w.id AND res.trainee_id = r.trainee_id
           WHERE r.trainee_id = $1 AND r.status = 'booked' AND w.state = 'ended'
             AND ($2::timestamptz IS NULL OR (w.starts_at, w.id) < ($2, $3::uuid))
           ORDER BY w.starts_at DESC, w.id DESC
           LIMIT $4"#,
        trainee_id,
        after.map(|p| p.starts_at),
        after.map(|p| p.id),
        limit + 1
    )
    .fetch_all(pool)
    .await
    .context("failed to read trainee history")?;
    let entries = rows
        .into_iter()
        .map(|r| {
            let result = match (r.rank, r.energy, r.calories, r.active_seconds) {
                (Some(rank), Some(energy), Some(calories), Some(active_seconds)) => {
                    Some(OwnResult {
                        rank,
                        energy,
                        calories,
                        active_seconds,
                    })
                }
                _ => None,
            };
            Ok(HistoryEntry {
                workout: PastWorkout {
                    id: r.id,
                    workout_type: r.workout_type,
                    title: r.title,
                    trainer: TrainerRef {
                        id: r.trainer_id,
                        full_name: r.full_name,
                    },
                    starts_at: r.starts_at,
                    duration_minutes: r.duration_minutes,
                    state: db::workout_state(&r.state)?.into(),
                },
                result,
                booked: None,
                attendance: None,
                average_rating: None,
                feedback_count: None,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(page(entries, limit))
}

/// A trainer's ended workouts, newest first, with attendance and feedback.
pub async fn trainer_history(
    pool: &PgPool,
    trainer_id: Uuid,
    after: Option<&Keyset>,
    limit: i64,
) -> anyhow::Result<HistoryPage> {
    let rows = sqlx::query!(
        r#"SELECT w.id, w.workout_type, w.title, u.full_name, w.starts_at, w.duration_minutes, w.state::text AS "state!",
                  (SELECT count(*) FROM registrations r WHERE r.workout_id = w.id AND r.status = 'booked') AS "booked!",
                  (SELECT count(*) FROM registrations r WHERE r.workout_id = w.id AND r.status = 'booked'
                                                          AND r.joined_at IS NOT NULL) AS "attendance!",
                  (SELECT avg(f.rating)::float8 FROM feedback f WHERE f.workout_id = w.id) AS "average_rating?",
                  (SELECT count(*) FROM feedback f WHERE f.workout_id = w.id) AS "feedback_count!"
           FROM workouts w JOIN users u ON u.id = w.trainer_id
           WHERE w.trainer_id = $1 AND w.state = 'ended'
             AND ($2::timestamptz IS NULL OR (w.starts_at, w.id) < ($2, $3::uuid))
           ORDER BY w.starts_at DESC, w.id DESC
           LIMIT $4"#,
        trainer_id,
        after.map(|p| p.starts_at),
        after.map(|p| p.id),
        limit + 1
    )
    .fetch_all(pool)
    .await
    .context("failed to read trainer history")?;
    let entries = rows
        .into_iter()
        .map(|r| {
            Ok(HistoryEntry {
                workout: PastWorkout {
                    id: r.id,
                    workout_type: r.workout_type,
                    title: r.title,
                    trainer: TrainerRef {
                        id: trainer_id,
                        full_name: r.full_name,
                    },
                    starts_at: r.starts_at,
                    duration_minutes: r.duration_minutes,
                    state: db::workout_state(&r.state)?.into(),
                },
                result: None,
                booked: Some(r.booked),
                attendance: Some(r.attendance),
                average_rating: r.average_rating,
                feedback_count: Some(r.feedback_count),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(page(entries, limit))
}

fn page(mut items: Vec<HistoryEntry>, limit: i64) -> HistoryPage {
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|last| {
            Keyset {
                starts_at: last.workout.starts_at,
                id: last.workout.id,
            }
            .encode()
        })
    } else {
        None
    };
    HistoryPage { items, next_cursor }
}

/// One line of a workout's final ranking.
#[derive(Clone, Debug, Serialize, JsonSchema, ApiComponent)]
pub struct RankingEntry {
    /// Final place (1 is best).
    pub rank: i32,
    /// The trainee; null for those who hide from leaderboards (except to themselves).
    pub user_id: Option<Uuid>,
    /// Their name, or "Anonymous" when hidden.
    pub display_name: String,
    /// Energy points.
    pub energy: i64,
    /// Estimated kcal.
    pub calories: f32,
    /// Seconds with effort.
    pub active_seconds: i32,
}

/// A workout's final ranking.
#[derive(Clone, Debug, Serialize, JsonSchema, ApiComponent)]
pub struct Ranking {
    /// Best first.
    pub items: Vec<RankingEntry>,
}

/// The final ranking as `viewer` may see it.
pub async fn ranking(pool: &PgPool, workout_id: Uuid, viewer: Uuid) -> anyhow::Result<Ranking> {
    let rows = sqlx::query!(
        "SELECT r.rank, r.trainee_id, u.full_name, u.hide_from_leaderboard, r.energy, r.calories, r.active_seconds
         FROM results r JOIN users u ON u.id = r.trainee_id
         WHERE r.workout_id = $1 ORDER BY r.rank",
        workout_id
    )
    .fetch_all(pool)
    .await
    .context("failed to read results")?;
    let items = rows
        .into_iter()
        .map(|r| {
            let shown = !r.hide_from_leaderboard || r.trainee_id == viewer;
            RankingEntry {
                rank: r.rank,
                user_id: shown.then_some(r.trainee_id),
                display_name: if shown {
                    r.full_name
                } else {
                    "Anonymous".to_owned()
                },
                energy: r.energy,
                calories: r.calories,
                active_seconds: r.active_seconds,
            }
        })
        .collect();
    Ok(Ranking { items })
}

/// A participant's own result in full.
#[derive(Clone, Debug, Serialize, JsonSchema, ApiComponent)]
pub struct MyResult {
    /// Final place (1 is best).
    pub rank: i32,
    /// How many were ranked.
    pub participants: i64,
    /// Energy points.
    pub energy: i64,
    /// Estimated kcal.
    pub calories: f32,
    /// Seconds with effort.
    pub active_seconds: i32,
    /// Average rating (0 to 100) of each minute.
    pub per_minute: Vec<f32>,
    /// Cumulative energy at each second.
    pub energy_curve: Vec<i32>,
}

/// The caller's result, if they have one.
pub async fn my_result(
    pool: &PgPool,
    workout_id: Uuid,
    trainee_id: Uuid,
) -> anyhow::Result<Option<MyResult>> {
    let Some(row) = sqlx::query!(
        r#"SELECT rank, (SELECT count(*) FROM results WHERE workout_id = $1) AS "participants!", energy, calories,
                  active_seconds, per_minute_rating, energy_curve, energy_curve_packed
           FROM results WHERE workout_id = $1 AND trainee_id = $2"#,
        workout_id,
        trainee_id
    )
    .fetch_optional(pool)
    .await
    .context("failed to read result")?
    else {
        return Ok(None);
    };
    // Results written before curves were packed keep theirs as an array.
    let energy_curve = match &row.energy_curve_packed {
        Some(packed) => curve::unpack(packed).context("a stored energy curve is corrupt")?,
        None => row.energy_curve,
    };
    Ok(Some(MyResult {
        rank: row.rank,
        participants: row.participants,
        energy: row.energy,
        calories: row.calories,
        active_seconds: row.active_seconds,
        per_minute: row.per_minute_rating,
        energy_curve,
    }))
}
