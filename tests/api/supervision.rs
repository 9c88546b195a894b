//! Supervision: an actor whose handler fails is restarted by its supervisor and reloads its state.

use crate::helpers::{TestApp, database_url, id_of, new_workout, problem, soon, token, user_id};
use reqwest::StatusCode;
use sqlx::Connection as _;

#[tokio::test]
async fn a_workout_actor_that_fails_restarts_and_reloads_its_state_from_postgres() {
    let app = TestApp::spawn().await;
    let trainer = app.signed_up("trainer").await;
    let (first, second) = (
        app.signed_up("trainee").await,
        app.signed_up("trainee").await,
    );
    let workout = app
        .created_workout(token(&trainer), &new_workout(soon()))
        .await;
    let id = id_of(&workout).to_owned();
    assert_eq!(
        app.book(token(&first), &id).await.status(),
        StatusCode::CREATED,
        "activates the actor"
    );

    // Another writer moves the row on behind the actor's back: its next write is refused.
    let mut db = sqlx::PgConnection::connect(&database_url(&app.db_name))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("UPDATE workouts SET version = version + 100 WHERE id = $1::uuid")
        .bind(&id)
        .execute(&mut db)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let failed = problem(
        app.book(token(&second), &id).await,
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    assert_eq!(failed["code"], "internal");

    // Restarted with the current version, the same command now succeeds, and nothing was lost.
    let retried = app.book(token(&second), &id).await;
    assert_eq!(retried.status(), StatusCode::CREATED);
    let roster = app.full_roster(token(&trainer), &id, 50).await;
    let booked: Vec<&str> = roster
        .iter()
        .filter(|e| e["status"] == "booked")
        .filter_map(|e| e["trainee_id"].as_str())
        .collect();
    assert_eq!(booked, [user_id(&first), user_id(&second)]);
    app.wait_for_log("actor restarting", std::time::Duration::from_secs(5))
        .await;
}
