//! A saturated dependency is a 503 with `Retry-After`, never a 500.
#![allow(clippy::expect_used, reason = "fixtures fail loudly")]

use crate::helpers::{Options, TestApp, database_url, problem, token};
use reqwest::StatusCode;
use sqlx::Connection as _;
use std::time::Duration;

#[tokio::test]
async fn an_exhausted_connection_pool_answers_503_with_retry_after_and_recovers() {
    // One pooled connection, which a request will hold while it waits on a lock.
    let app = TestApp::spawn_with(Options {
        args: &["--db-max-connections", "1"],
        ..Options::default()
    })
    .await;
    let session = app.signed_up("trainee").await;

    let mut blocker = sqlx::PgConnection::connect(&database_url(&app.db_name))
        .await
        .expect("a connection of our own");
    let mut lock = blocker.begin().await.expect("begin");
    sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("lock users");

    // This request takes the pool's only connection and waits on the lock with it.
    let stuck = {
        let api = app.api.clone();
        let token = token(&session).to_owned();
        tokio::spawn(async move { api.get_me(&token).await.status() })
    };
    let mut watcher = sqlx::PgConnection::connect(&database_url(&app.db_name))
        .await
        .expect("a connection to watch with");
    let mut waiting = false;
    for _ in 0..200 {
        let blocked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .expect("pg_stat_activity");
        if blocked > 0 {
            waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(waiting, "the first request never reached the lock");

    // The next one finds no free connection within the acquire timeout.
    let response = app.get_me(token(&session)).await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["code"], "unavailable", "{body}");
    assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");
    // The cause is logged.
    app.wait_for_log("pool timed out", Duration::from_secs(5))
        .await;

    // Once the lock goes, the held request completes and the pool serves again.
    lock.commit().await.expect("commit");
    assert_eq!(stuck.await.expect("the held request"), StatusCode::OK);
    assert_eq!(app.get_me(token(&session)).await.status(), StatusCode::OK);
}
