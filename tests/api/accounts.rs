//! Registration, login and the caller's profile.

use crate::helpers::{PASSWORD, TestApp, problem, registration};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn a_trainee_and_a_trainer_can_register_and_read_their_profile() {
    let app = TestApp::spawn().await;
    for role in ["trainee", "trainer"] {
        let body = registration(role);
        let response = app.register(&body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{role}");
        let session: Value = response.json().await.unwrap_or_default();
        assert_eq!(session["user"]["role"], role);
        assert_eq!(session["user"]["email"], body["email"]);
        assert_eq!(session["user"]["full_name"], "Asha Verma");
        assert_eq!(session["token_type"], "Bearer");
        assert_eq!(session["expires_in"], 900);
        assert!(
            session["refresh_token"]
                .as_str()
                .is_some_and(|t| t.len() >= 40)
        );

        let token = session["access_token"].as_str().unwrap_or_default();
        let me: Value = app.get_me(token).await.json().await.unwrap_or_default();
        assert_eq!(me["id"], session["user"]["id"]);
        assert_eq!(me["role"], role);
        assert_eq!(me["mobile"], "+919876543210");
        assert_eq!(me["hide_from_leaderboard"], false);
    }
}

#[tokio::test]
async fn login_works_with_any_case_of_the_email() {
    let app = TestApp::spawn().await;
    let body = registration("trainee");
    app.register(&body).await;
    let email = body["email"].as_str().unwrap_or_default().to_uppercase();

    let response = app.login(&email, PASSWORD).await;

    assert_eq!(response.status(), StatusCode::OK);
    let session: Value = response.json().await.unwrap_or_default();
    assert_eq!(session["user"]["email"], body["email"]);
    assert!(session["access_token"].as_str().is_some());
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    let app = TestApp::spawn().await;
    let body = registration("trainee");
    app.register(&body).await;

    let wrong_password = problem(
        app.login(
            body["email"].as_str().unwrap_or_default(),
            "not-the-password",
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown_email = problem(
        app.login("nobody@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    assert_eq!(wrong_password, unknown_email);
    assert_eq!(wrong_password["code"], "invalid_credentials");
}

#[tokio::test]
async fn a_duplicate_email_in_any_case_is_409() {
    let app = TestApp::spawn().await;
    let first = registration("trainee");
    assert_eq!(app.register(&first).await.status(), StatusCode::CREATED);

    let mut second = registration("trainer");
    second["email"] = json!(first["email"].as_str().unwrap_or_default().to_uppercase());
    let body = problem(app.register(&second).await, StatusCode::CONFLICT).await;

    assert_eq!(body["code"], "email_taken");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    for (body, case) in [
        ("{\"role\": \"trainee\",", "truncated"),
        ("not json at all", "not json"),
        ("", "empty body"),
    ] {
        let response = app.post_raw("/api/v1/auth/register", body).await;
        let problem = problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem["code"], "malformed_request", "{case}");
    }
}

#[tokio::test]
async fn invalid_fields_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let cases: [(&str, Value, &str); 12] = [
        ("email", json!("not-an-email"), "email without @"),
        ("email", json!("a@"), "email without domain"),
        (
            "email",
            json!(format!("{}@example.com", "a".repeat(250))),
            "email too long",
        ),
        ("password", json!("short"), "password under 8"),
        ("password", json!("x".repeat(129)), "password over 128"),
        ("full_name", json!(""), "empty name"),
        ("full_name", json!("   "), "blank name"),
        ("full_name", json!("n".repeat(101)), "name over 100"),
        ("mobile", json!("9876543210"), "mobile without +"),
        ("mobile", json!("+91 98765 43210"), "mobile with spaces"),
        ("mobile", json!("+0123456789"), "mobile with leading zero"),
        ("role", json!("admin"), "unknown role"),
    ];
    for (field, value, case) in cases {
        let mut body = registration("trainee");
        body[field] = value;

        let problem = problem(app.register(&body).await, StatusCode::UNPROCESSABLE_ENTITY).await;

        assert_eq!(problem["code"], "validation_failed", "{case}");
        let named = problem["errors"].as_array().into_iter().flatten().any(|e| {
            e["field"] == field || e["message"].as_str().is_some_and(|m| m.contains(field))
        });
        assert!(named, "{case}: the error should name `{field}`: {problem}");
    }
}

#[tokio::test]
async fn a_missing_field_is_422() {
    let app = TestApp::spawn().await;
    let mut body = registration("trainee");
    body.as_object_mut().map(|o| o.remove("mobile"));

    let problem = problem(app.register(&body).await, StatusCode::UNPROCESSABLE_ENTITY).await;

    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("mobile")),
        "{problem}"
    );
}

#[tokio::test]
async fn the_profile_can_be_updated() {
    let app = TestApp::spawn().await;
    let session = app.signed_up("trainee").await;
    let token = session["access_token"].as_str().unwrap_or_default();

    let response = app
        .patch_me(
            token,
            &json!({"full_name": "Asha V.", "weight_kg": 61.5, "birth_year": 1994, "sex": "female",
                    "hide_from_leaderboard": true, "mobile": "+14155552671"}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = app.get_me(token).await.json().await.unwrap_or_default();
    assert_eq!(me["full_name"], "Asha V.");
    assert_eq!(me["weight_kg"], 61.5);
    assert_eq!(me["birth_year"], 1994);
    assert_eq!(me["sex"], "female");
    assert_eq!(me["hide_from_leaderboard"], true);
    assert_eq!(me["mobile"], "+14155552671");
}

#[tokio::test]
async fn patching_the_profile_cannot_change_role_or_email() {
    let app = TestApp::spawn().await;
    let session = app.signed_up("trainee").await;
    let token = session["access_token"].as_str().unwrap_or_default();

    for body in [
        json!({"role": "trainer"}),
        json!({"email": "someone.else@example.com"}),
        json!({"full_name": "Sneaky", "role": "trainer"}),
        json!({"id": "00000000-0000-0000-0000-000000000000"}),
    ] {
        let problem = problem(
            app.patch_me(token, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["code"], "validation_failed", "{body}");
    }

    let me: Value = app.get_me(token).await.json().await.unwrap_or_default();
    assert_eq!(me["role"], "trainee");
    assert_eq!(me["email"], session["user"]["email"]);
    assert_eq!(me["full_name"], "Asha Verma");
}

#[tokio::test]
async fn invalid_profile_values_are_422() {
    let app = TestApp::spawn().await;
    let session = app.signed_up("trainee").await;
    let token = session["access_token"].as_str().unwrap_or_default();
    for (body, field) in [
        (json!({"weight_kg": 5}), "weight_kg"),
        (json!({"birth_year": 1800}), "birth_year"),
        (json!({"mobile": "12345"}), "mobile"),
        (json!({"full_name": ""}), "full_name"),
    ] {
        let problem = problem(
            app.patch_me(token, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn the_password_never_appears_in_a_response_or_a_log_line() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        rust_log: "debug",
        ..Default::default()
    })
    .await;
    let secret = "Zebra-Quartz-Password-4417";
    let mut body = registration("trainee");
    body["password"] = json!(secret);
    let email = body["email"].as_str().unwrap_or_default().to_owned();

    let mut responses = Vec::new();
    responses.push(app.register(&body).await.text().await.unwrap_or_default());
    responses.push(app.register(&body).await.text().await.unwrap_or_default()); // 409
    responses.push(
        app.login(&email, secret)
            .await
            .text()
            .await
            .unwrap_or_default(),
    );
    responses.push(
        app.login(&email, &format!("{secret}x"))
            .await
            .text()
            .await
            .unwrap_or_default(),
    );
    body["mobile"] = json!("bad");
    responses.push(app.register(&body).await.text().await.unwrap_or_default()); // 422

    for response in &responses {
        assert!(
            !response.contains(secret),
            "a response contains the password: {response}"
        );
        assert!(
            !response.contains("argon2"),
            "a response contains the password hash: {response}"
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = app.logs();
    assert!(logs.len() > 5, "expected request logs, got {logs:?}");
    for line in logs {
        assert!(
            !line.contains(secret),
            "a log line contains the password: {line}"
        );
        assert!(
            !line.contains("$argon2"),
            "a log line contains the password hash: {line}"
        );
    }
}
