//! After a workout: feedback and history.
#![allow(
    clippy::unwrap_used,
    reason = "a test that arranges rows in its database fails loudly"
)]

use crate::helpers::{TestApp, database_url, id_of, new_workout, problem, soon, token, user_id};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;

/// A workout that `took_part` booked and joined and `absent` only booked, run and ended.
async fn ended_workout(
    app: &TestApp,
    trainer: &Value,
    took_part: &Value,
    absent: &Value,
) -> String {
    let workout = app
        .created_workout(token(trainer), &new_workout(soon()))
        .await;
    let id = id_of(&workout).to_owned();
    for trainee in [took_part, absent] {
        assert_eq!(
            app.book(token(trainee), &id).await.status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(
        app.join_workout(token(took_part), &id).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.start_workout(token(trainer), &id).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.end_workout(token(trainer), &id).await.status(),
        StatusCode::OK
    );
    id
}

/// A trainer, Asha (who took part) and Ravi (who only booked), and the id of the workout they
/// were in, ended.
async fn a_trainer_and_two_trainees_after_a_workout(
    app: &TestApp,
) -> (Value, Value, Value, String) {
    let (trainer, asha, ravi) = (
        app.signed_up("trainer").await,
        app.signed_up("trainee").await,
        app.signed_up("trainee").await,
    );
    let id = ended_workout(app, &trainer, &asha, &ravi).await;
    (trainer, asha, ravi, id)
}

async fn give(app: &TestApp, trainee: &Value, id: &str, body: Value) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/workouts/{id}/feedback"),
        &body,
        Some(token(trainee)),
    )
    .await
}

#[tokio::test]
async fn a_participant_rates_an_ended_workout_and_may_change_the_rating() {
    let app = TestApp::spawn().await;
    let (trainer, asha, _, id) = a_trainer_and_two_trainees_after_a_workout(&app).await;

    let first = give(
        &app,
        &asha,
        &id,
        json!({"rating": 3, "comment": "good pace"}),
    )
    .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let again = give(&app, &asha, &id, json!({"rating": 5})).await;
    assert_eq!(again.status(), StatusCode::CREATED);

    let summary: Value = app
        .get(
            &format!("/api/v1/workouts/{id}/feedback"),
            Some(token(&trainer)),
        )
        .await
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(summary["count"], 1, "{summary}");
    assert_eq!(summary["average"], 5.0);
    assert_eq!(summary["items"][0]["trainee_id"], user_id(&asha));
    assert_eq!(
        summary["items"][0]["comment"],
        Value::Null,
        "the second submission replaced the first"
    );
}

#[tokio::test]
async fn feedback_rules() {
    let app = TestApp::spawn().await;
    let (trainer, asha, ravi) = (
        app.signed_up("trainer").await,
        app.signed_up("trainee").await,
        app.signed_up("trainee").await,
    );
    let scheduled = app
        .created_workout(token(&trainer), &new_workout(soon()))
        .await;
    app.book(token(&asha), id_of(&scheduled)).await;
    app.join_workout(token(&asha), id_of(&scheduled)).await;
    let before_end = problem(
        give(&app, &asha, id_of(&scheduled), json!({"rating": 4})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(before_end["code"], "invalid_state");

    // Another trainer's session at the same time, run to its end; `late` joins once it is live.
    let coach = app.signed_up("trainer").await;
    let ended = app
        .created_workout(token(&coach), &new_workout(soon()))
        .await;
    let id = id_of(&ended).to_owned();
    let (late, absent) = (
        app.signed_up("trainee").await,
        app.signed_up("trainee").await,
    );
    for trainee in [&late, &absent] {
        assert_eq!(
            app.book(token(trainee), &id).await.status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(
        app.start_workout(token(&coach), &id).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.join_workout(token(&late), &id).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.end_workout(token(&coach), &id).await.status(),
        StatusCode::OK
    );

    let cases = [
        (
            &absent,
            json!({"rating": 4}),
            StatusCode::FORBIDDEN,
            "booked but never joined",
        ),
        (
            &ravi,
            json!({"rating": 4}),
            StatusCode::FORBIDDEN,
            "not registered at all",
        ),
        (
            &late,
            json!({"rating": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "rating below 1",
        ),
        (
            &late,
            json!({"rating": 6}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "rating above 5",
        ),
        (
            &late,
            json!({"rating": 4, "comment": "x".repeat(2001)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "comment too long",
        ),
        (
            &late,
            json!({"rating": "five"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "rating not a number",
        ),
    ];
    for (who, body, status, case) in cases {
        let response = give(&app, who, &id, body).await;
        assert_eq!(response.status(), status, "{case}");
    }
    let unknown = give(
        &app,
        &late,
        "00000000-0000-0000-0000-000000000000",
        json!({"rating": 4}),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let trainer_gives = give(&app, &coach, &id, json!({"rating": 5})).await;
    assert_eq!(trainer_gives.status(), StatusCode::FORBIDDEN);

    for reader in [&late, &trainer] {
        let response = app
            .get(
                &format!("/api/v1/workouts/{id}/feedback"),
                Some(token(reader)),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "only its trainer reads the feedback"
        );
    }
}

#[tokio::test]
async fn history_shows_trainees_their_workouts_and_trainers_attendance_and_rating() {
    let app = TestApp::spawn().await;
    let (trainer, asha, _, id) = a_trainer_and_two_trainees_after_a_workout(&app).await;
    give(&app, &asha, &id, json!({"rating": 4})).await;
    let upcoming = app
        .created_workout(
            token(&trainer),
            &new_workout(soon() + chrono::Duration::hours(5)),
        )
        .await;
    app.book(token(&asha), id_of(&upcoming)).await;

    let mine: Value = app
        .get("/api/v1/me/history", Some(token(&asha)))
        .await
        .json()
        .await
        .unwrap_or_default();
    let items = mine["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "only ended workouts: {mine}");
    assert_eq!(items[0]["workout"]["id"], id.as_str());
    assert_eq!(items[0]["workout"]["state"], "ended");
    assert_eq!(mine["next_cursor"], Value::Null);

    let taught: Value = app
        .get("/api/v1/me/history", Some(token(&trainer)))
        .await
        .json()
        .await
        .unwrap_or_default();
    let entry = &taught["items"][0];
    assert_eq!(entry["workout"]["id"], id.as_str(), "{taught}");
    assert_eq!(entry["booked"], 2);
    assert_eq!(entry["attendance"], 1);
    assert_eq!(entry["average_rating"], 4.0);
    assert_eq!(entry["feedback_count"], 1);

    assert_eq!(
        app.get("/api/v1/me/history", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let bad_cursor = app
        .get("/api/v1/me/history?cursor=nonsense", Some(token(&asha)))
        .await;
    assert_eq!(bad_cursor.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn ending_a_workout_stores_a_ranking_and_each_participants_result() {
    let app = TestApp::spawn().await;
    let (trainer, asha, ravi) = (
        app.signed_up("trainer").await,
        app.signed_up("trainee").await,
        app.signed_up("trainee").await,
    );
    let hidden = app.signed_up("trainee").await;
    app.patch_me(token(&hidden), &json!({"hide_from_leaderboard": true}))
        .await;
    let workout = app
        .created_workout(token(&trainer), &new_workout(soon()))
        .await;
    let id = id_of(&workout).to_owned();
    for trainee in [&asha, &ravi, &hidden] {
        assert_eq!(
            app.book(token(trainee), &id).await.status(),
            StatusCode::CREATED
        );
    }
    app.join_workout(token(&asha), &id).await;
    let early = problem(
        app.get(
            &format!("/api/v1/workouts/{id}/results/me"),
            Some(token(&asha)),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(early["code"], "invalid_state");
    app.start_workout(token(&trainer), &id).await;
    app.join_workout(token(&hidden), &id).await;
    assert_eq!(
        app.end_workout(token(&trainer), &id).await.status(),
        StatusCode::OK
    );

    let ranking: Value = app
        .get(
            &format!("/api/v1/workouts/{id}/results"),
            Some(token(&ravi)),
        )
        .await
        .json()
        .await
        .unwrap_or_default();
    let items = ranking["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "the two who joined are ranked: {ranking}");
    assert_eq!(
        items
            .iter()
            .map(|i| i["rank"].as_i64().unwrap_or_default())
            .collect::<Vec<_>>(),
        [1, 2]
    );
    let names: Vec<&str> = items
        .iter()
        .filter_map(|i| i["display_name"].as_str())
        .collect();
    assert!(
        names.contains(&"Anonymous"),
        "a hidden trainee is anonymous to others: {names:?}"
    );
    assert!(items.iter().any(|i| i["user_id"] == user_id(&asha)));

    let mine: Value = app
        .get(
            &format!("/api/v1/workouts/{id}/results/me"),
            Some(token(&asha)),
        )
        .await
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(mine["participants"], 2, "{mine}");
    assert_eq!(mine["energy"], 0, "no wearable data yet");
    assert!(mine["per_minute"].is_array());
    let own_view: Value = app
        .get(
            &format!("/api/v1/workouts/{id}/results"),
            Some(token(&hidden)),
        )
        .await
        .json()
        .await
        .unwrap_or_default();
    assert!(
        own_view["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["user_id"] == user_id(&hidden)),
        "hidden trainees see themselves"
    );

    let absent = app
        .get(
            &format!("/api/v1/workouts/{id}/results/me"),
            Some(token(&ravi)),
        )
        .await;
    assert_eq!(
        absent.status(),
        StatusCode::FORBIDDEN,
        "booked but never joined"
    );
    let again = problem(
        app.end_workout(token(&trainer), &id).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(again["code"], "invalid_state");
    let after: Value = app
        .get(
            &format!("/api/v1/workouts/{id}/results"),
            Some(token(&ravi)),
        )
        .await
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(after, ranking, "ending again changes nothing");
}

#[tokio::test]
async fn a_result_stored_before_curves_were_packed_still_shows_its_curve() {
    let app = TestApp::spawn().await;
    let (_, asha, _, id) = a_trainer_and_two_trainees_after_a_workout(&app).await;
    // What a row written before migration 20261126000001 holds: the curve as an array only.
    let mut db = sqlx::PgConnection::connect(&database_url(&app.db_name))
        .await
        .unwrap();
    let rows = sqlx::query(
        "UPDATE results SET energy_curve = '{0,4,9,9,15}', energy_curve_packed = NULL
         WHERE workout_id = $1::uuid",
    )
    .bind(&id)
    .execute(&mut db)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(rows, 1, "the one participant has a result");

    assert_eq!(my_curve(&app, &id, &asha).await, json!([0, 4, 9, 9, 15]));

    // And a packed curve, once present, is what is read.
    sqlx::query(
        "UPDATE results SET energy_curve = '{}', energy_curve_packed = $2
         WHERE workout_id = $1::uuid",
    )
    .bind(&id)
    .bind(cultfit_actors::live::curve::pack(&[0, 7, 7]))
    .execute(&mut db)
    .await
    .unwrap();
    assert_eq!(my_curve(&app, &id, &asha).await, json!([0, 7, 7]));
}

/// The per-second energy curve of `trainee`'s result, as `GET .../results/me` shows it.
async fn my_curve(app: &TestApp, id: &str, trainee: &Value) -> Value {
    let mine: Value = app
        .get(
            &format!("/api/v1/workouts/{id}/results/me"),
            Some(token(trainee)),
        )
        .await
        .json()
        .await
        .unwrap_or_default();
    mine["energy_curve"].clone()
}
