//! Rate limits on the public edges: failed logins per account, requests per client address (the
//! real one, behind trusted proxies) and per user, 429 with `Retry-After`, and defaults that
//! honest heavy use never meets.

use crate::helpers::{
    ApiClient, Options, PASSWORD, TestApp, id_of, new_workout, problem, registration, soon, token,
};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

/// An app started with extra `cultfit serve` arguments.
async fn app_with(args: &'static [&'static str]) -> TestApp {
    TestApp::spawn_with(Options {
        args,
        ..Default::default()
    })
    .await
}

/// The `Retry-After` of a 429 problem, after checking its shape and code.
async fn rate_limited(response: Response) -> u64 {
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["code"], "rate_limited", "{body}");
    let retry_after =
        retry_after.unwrap_or_else(|| panic!("a 429 without a whole-second Retry-After: {body}"));
    assert!(retry_after >= 1, "Retry-After: {retry_after}");
    retry_after
}

/// POST `body` to `path` as if forwarded for `client` (`X-Forwarded-For`).
async fn post_forwarded_for(app: &ApiClient, client: &str, path: &str, body: &Value) -> Response {
    app.client
        .post(app.url(path))
        .header("x-forwarded-for", client)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|err| panic!("request failed: {err}"))
}

fn email(registration: &Value) -> &str {
    registration["email"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn the_failed_login_after_the_quota_locks_the_account_even_for_the_right_password() {
    let app = app_with(&["--limit-failed-logins", "3/m"]).await;
    let asha = registration("trainee");
    let ravi = registration("trainee");
    for account in [&asha, &ravi] {
        assert_eq!(app.register(account).await.status(), StatusCode::CREATED);
    }
    for n in 1..=3 {
        let body = problem(
            app.login(email(&asha), "not-the-password").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(body["code"], "invalid_credentials", "failure {n}");
    }

    let fourth = rate_limited(app.login(email(&asha), "not-the-password").await).await;
    let right_password = rate_limited(app.login(email(&asha), PASSWORD).await).await;
    let other_case = rate_limited(app.login(&email(&asha).to_uppercase(), PASSWORD).await).await;

    // 3/m gives one more try every 20 s.
    for retry_after in [fourth, right_password, other_case] {
        assert!(retry_after <= 20, "Retry-After: {retry_after}");
    }
    let response = app.login(email(&ravi), PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK, "another account");
}

#[tokio::test]
async fn with_the_defaults_a_run_of_wrong_passwords_for_one_account_is_braked_after_ten() {
    let app = TestApp::spawn().await;
    let asha = registration("trainee");
    assert_eq!(app.register(&asha).await.status(), StatusCode::CREATED);
    for n in 1..=10 {
        let response = app.login(email(&asha), "not-the-password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "failure {n}");
    }

    // 10/m gives one more try every 6 s: a few of those may pass on a slow machine, not 20.
    let mut answers = Vec::new();
    for _ in 0..20 {
        let response = app.login(email(&asha), "not-the-password").await;
        answers.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            rate_limited(response).await;
            break;
        }
    }

    assert_eq!(
        answers.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{answers:?}"
    );
    rate_limited(app.login(email(&asha), PASSWORD).await).await;
}

#[tokio::test]
async fn an_unknown_email_is_locked_like_an_account_so_a_lock_reveals_nothing() {
    let app = app_with(&["--limit-failed-logins", "2/m"]).await;
    for _ in 0..2 {
        problem(
            app.login("nobody@example.com", PASSWORD).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }

    rate_limited(app.login("nobody@example.com", PASSWORD).await).await;
    rate_limited(app.login(" Nobody@Example.com ", PASSWORD).await).await;
}

#[tokio::test]
async fn the_registration_after_the_address_quota_is_429_and_x_forwarded_for_does_not_escape_it() {
    let app = app_with(&["--limit-auth-per-address", "5/m"]).await;
    for n in 1..=5 {
        let response = app.register(&registration("trainee")).await;
        assert_eq!(response.status(), StatusCode::CREATED, "registration {n}");
    }

    rate_limited(app.register(&registration("trainee")).await).await;

    // No proxy is trusted: anyone can write the header, so it is not read.
    let forged = post_forwarded_for(
        &app,
        "198.51.100.7",
        "/api/v1/auth/register",
        &registration("trainee"),
    )
    .await;
    rate_limited(forged).await;
    // Login and refresh share the address's auth budget.
    rate_limited(app.login("nobody@example.com", PASSWORD).await).await;
    rate_limited(app.refresh("not-a-refresh-token").await).await;
    let metrics = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        metrics.contains(r#"cultfit_http_rate_limited_total{edge="register",limit="address"} 2"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = app_with(&[
        "--trusted-proxies",
        "127.0.0.1",
        "--limit-auth-per-address",
        "2/m",
    ])
    .await;
    let path = "/api/v1/auth/refresh";
    let body = json!({"refresh_token": "not-a-refresh-token"});
    for client in ["198.51.100.1", "198.51.100.2", "2001:db8::1"] {
        for n in 1..=2 {
            let response = post_forwarded_for(&app, client, path, &body).await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{client}, request {n}"
            );
        }
    }

    rate_limited(post_forwarded_for(&app, "198.51.100.1", path, &body).await).await;
    // What the client itself wrote left of its address is not believed.
    let forged = post_forwarded_for(&app, "203.0.113.5, 198.51.100.1", path, &body).await;
    rate_limited(forged).await;
    // One IPv6 host holds a whole /64.
    rate_limited(post_forwarded_for(&app, "2001:db8::2", path, &body).await).await;
    // The proxy's own requests (no header) are the proxy's.
    let response = app.refresh("not-a-refresh-token").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_trainee_asking_for_tickets_past_the_user_quota_is_429_from_any_address() {
    let app = app_with(&[
        "--limit-live-per-user",
        "3/m",
        "--trusted-proxies",
        "127.0.0.1",
    ])
    .await;
    let trainer = app.signed_up("trainer").await;
    let workout = app
        .created_workout(token(&trainer), &new_workout(soon()))
        .await;
    let id = id_of(&workout);
    let trainee = app.signed_up("trainee").await;
    assert_eq!(
        app.book(token(&trainee), id).await.status(),
        StatusCode::CREATED
    );
    let tickets = format!("/api/v1/workouts/{id}/live/tickets");
    let energy = format!("/api/v1/workouts/{id}/energy");
    let issue = |who: &Value, client: &'static str| {
        app.client
            .post(app.url(&tickets))
            .bearer_auth(token(who))
            .header("x-forwarded-for", client)
            .json(&json!({}))
            .send()
    };
    for (n, client) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        .into_iter()
        .enumerate()
    {
        let response = issue(&trainee, client)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), StatusCode::OK, "ticket {}", n + 1);
    }

    rate_limited(
        issue(&trainee, "198.51.100.4")
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;

    // Energy ingest shares the trainee's live budget, and is refused before anything else.
    let batch = json!({"samples": [{"seq": 1, "ts": 0, "rating": 50, "energy": 1}]});
    rate_limited(app.post_json(&energy, &batch, Some(token(&trainee))).await).await;
    let response = issue(&trainer, "198.51.100.4")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), StatusCode::OK, "another user");
}

#[tokio::test]
async fn honest_heavy_use_from_one_address_never_meets_the_default_limits() {
    let app = TestApp::spawn().await;
    for n in 0..60 {
        let body = registration("trainee");
        let response = app.register(&body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "registration {n}");
        let session: Value = response.json().await.unwrap_or_default();
        let response = app.login(email(&body), PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "login {n}");
        let refresh_token = session["refresh_token"].as_str().unwrap_or_default();
        let response = app.refresh(refresh_token).await;
        assert_eq!(response.status(), StatusCode::OK, "refresh {n}");
    }
    let accounts: Vec<Value> = (0..50).map(|_| registration("trainee")).collect();
    for account in &accounts {
        assert_eq!(app.register(account).await.status(), StatusCode::CREATED);
    }
    for (n, account) in accounts.iter().enumerate() {
        let response = app.login(email(account), "a-typo-in-the-password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "account {n}");
        let response = app.login(email(account), PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "account {n}");
    }
}

#[tokio::test]
async fn a_bad_limit_or_trusted_proxy_stops_the_server_with_a_clear_error() {
    for (args, expected) in [
        (["--limit-failed-logins", "10/d"], "<count>/<s|m|h>"),
        (["--limit-auth-per-address", "0/s"], "at least 1"),
        (["--trusted-proxies", "10.0.0.0/33"], "IP address or a CIDR"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_cultfit"))
            .arg("serve")
            .args(args)
            .output()
            .unwrap_or_else(|err| panic!("cultfit did not run: {err}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_429_on_every_limited_operation() {
    let app = TestApp::spawn().await;
    let spec: Value = app.openapi().await;
    let limited = [
        ("/api/v1/auth/register", "register_user"),
        ("/api/v1/auth/login", "login"),
        ("/api/v1/auth/refresh", "refresh_session"),
        ("/api/v1/workouts/{id}/energy", "post_energy"),
        ("/api/v1/workouts/{id}/live/tickets", "issue_live_ticket"),
    ];
    for (path, operation_id) in limited {
        let operation = &spec["paths"][path]["post"];
        assert_eq!(operation["operationId"], operation_id, "{path}");
        assert!(
            operation["responses"]["429"].is_object(),
            "{operation_id}: 429 documented"
        );
    }
}
