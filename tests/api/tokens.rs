//! Access tokens (JWT) and refresh tokens.

use crate::helpers::{JWT_SECRET, TestApp, problem, sign_hs256 as sign};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn claims(sub: &str, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": sub, "role": "trainee", "iss": "cultfit", "aud": "cultfit-api", "iat": now, "exp": now + exp_offset})
}

#[tokio::test]
async fn protected_routes_need_a_token() {
    let app = TestApp::spawn().await;
    let body = problem(app.get("/api/v1/me", None).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["code"], "unauthenticated");
}

#[tokio::test]
async fn bad_access_tokens_are_401() {
    let app = TestApp::spawn().await;
    let session = app.signed_up("trainee").await;
    let user_id = session["user"]["id"].as_str().unwrap_or_default();
    let good = session["access_token"].as_str().unwrap_or_default();
    assert_eq!(
        app.get_me(good).await.status(),
        StatusCode::OK,
        "the genuine token works"
    );

    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        let mut payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap_or_default())
                .unwrap_or_default();
        payload["role"] = json!("trainer");
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(payload.to_string()),
            parts[2]
        )
    };
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(user_id, 600).to_string())
    );
    let mut wrong_audience = claims(user_id, 600);
    wrong_audience["aud"] = json!("someone-else");
    let mut wrong_issuer = claims(user_id, 600);
    wrong_issuer["iss"] = json!("evil");
    let mut no_role = claims(user_id, 600);
    no_role.as_object_mut().map(|c| c.remove("role"));
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims(user_id, 600),
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap_or_default();

    let cases = [
        (
            sign(&claims(user_id, -3600), JWT_SECRET),
            "token_expired",
            "expired",
        ),
        (tampered, "invalid_token", "tampered payload"),
        (alg_none, "invalid_token", "alg none"),
        (
            sign(&wrong_audience, JWT_SECRET),
            "invalid_token",
            "wrong audience",
        ),
        (
            sign(&wrong_issuer, JWT_SECRET),
            "invalid_token",
            "wrong issuer",
        ),
        (sign(&no_role, JWT_SECRET), "invalid_token", "no role claim"),
        (
            sign(
                &claims(user_id, 600),
                "another-secret-another-secret-another",
            ),
            "invalid_token",
            "wrong secret",
        ),
        (hs512, "invalid_token", "other algorithm"),
        ("garbage".to_owned(), "invalid_token", "garbage"),
    ];
    for (token, code, case) in cases {
        let body = problem(app.get_me(&token).await, StatusCode::UNAUTHORIZED).await;
        assert_eq!(body["code"], code, "{case}");
    }

    let not_bearer = app
        .client
        .get(app.url("/api/v1/me"))
        .header("authorization", format!("Basic {good}"));
    let body = problem(
        not_bearer.send().await.unwrap_or_else(|e| panic!("{e}")),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(body["code"], "invalid_token");
}

#[tokio::test]
async fn a_refresh_token_is_rotated_on_use() {
    let app = TestApp::spawn().await;
    let session = app.signed_up("trainee").await;
    let first = session["refresh_token"].as_str().unwrap_or_default();

    let response = app.refresh(first).await;

    assert_eq!(response.status(), StatusCode::OK);
    let renewed: Value = response.json().await.unwrap_or_default();
    let second = renewed["refresh_token"].as_str().unwrap_or_default();
    assert_ne!(first, second);
    assert_eq!(renewed["user"]["id"], session["user"]["id"]);
    let access = renewed["access_token"].as_str().unwrap_or_default();
    assert_eq!(app.get_me(access).await.status(), StatusCode::OK);
    assert_eq!(
        app.refresh(second).await.status(),
        StatusCode::OK,
        "the new one works once"
    );
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let session = app.signed_up("trainee").await;
    let stolen = session["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let renewed: Value = app.refresh(&stolen).await.json().await.unwrap_or_default();
    let current = renewed["refresh_token"].as_str().unwrap_or_default();

    let reuse = problem(app.refresh(&stolen).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(reuse["code"], "refresh_token_reused");

    let after = problem(app.refresh(current).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        after["code"], "invalid_refresh_token",
        "the legitimate holder is signed out too"
    );
}

#[tokio::test]
async fn other_sessions_survive_a_reuse_in_one_family() {
    let app = TestApp::spawn().await;
    let body = crate::helpers::registration("trainee");
    let first: Value = app.register(&body).await.json().await.unwrap_or_default();
    let email = body["email"].as_str().unwrap_or_default();
    let other: Value = app
        .login(email, crate::helpers::PASSWORD)
        .await
        .json()
        .await
        .unwrap_or_default();
    let token = first["refresh_token"].as_str().unwrap_or_default();
    app.refresh(token).await;
    app.refresh(token).await; // reuse: revokes the first family only

    let response = app
        .refresh(other["refresh_token"].as_str().unwrap_or_default())
        .await;

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_refresh_token_is_401() {
    let app = TestApp::spawn().await;
    let body = problem(app.refresh("made-up-token").await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["code"], "invalid_refresh_token");
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = TestApp::spawn().await;
    let session = app.signed_up("trainee").await;
    let access = session["access_token"].as_str().unwrap_or_default();
    let refresh = session["refresh_token"].as_str().unwrap_or_default();

    assert_eq!(
        app.logout(access, refresh).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.logout(access, refresh).await.status(),
        StatusCode::NO_CONTENT,
        "idempotent"
    );

    let body = problem(app.refresh(refresh).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["code"], "invalid_refresh_token");
}

#[tokio::test]
async fn nobody_can_log_out_someone_elses_session() {
    let app = TestApp::spawn().await;
    let victim = app.signed_up("trainee").await;
    let attacker = app.signed_up("trainee").await;

    let response = app
        .logout(
            attacker["access_token"].as_str().unwrap_or_default(),
            victim["refresh_token"].as_str().unwrap_or_default(),
        )
        .await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let still_valid = app
        .refresh(victim["refresh_token"].as_str().unwrap_or_default())
        .await;
    assert_eq!(still_valid.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_needs_a_token() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json("/api/v1/auth/logout", &json!({"refresh_token": "x"}), None)
        .await;
    problem(response, StatusCode::UNAUTHORIZED).await;
}
