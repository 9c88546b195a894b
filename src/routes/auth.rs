//! `/api/v1/auth`: register, login, refresh, logout.
//!
//! A session is a refresh-token *family*: login (or registration) starts one, each refresh rotates
//! within it, and presenting a token that was already rotated revokes the whole family (someone
//! holds a stolen copy). Access tokens are short-lived JWTs and are not revocable.
//!
//! Register, login and refresh are rate limited per client address, and failed logins per
//! account ([`crate::limits`]): each handler's first argument is its guard.

use super::json_body::JsonBody;
use crate::accounts::store::{self, InsertError, NewAccount};
use crate::accounts::{Account, Role, validate};
use crate::auth::AuthUser;
use crate::auth::password::{Password, PasswordHasher};
use crate::auth::tokens::{self, ACCESS_TOKEN_TTL_SECS, JwtKeys, REFRESH_TOKEN_TTL_DAYS};
use crate::error::ApiError;
use crate::limits::{LoginLimit, RefreshLimit, RegisterLimit};
use actix_web::web::{Data, Json};
use anyhow::Context;
use apistos::actix::{CreatedJson, NoContent};
use apistos::web::{Scope, post, resource, scope};
use apistos::{ApiComponent, api_operation};
use bus_contracts::ErrorCode;
use chrono::Utc;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// `/auth/*`.
pub fn routes() -> Scope {
    scope("/auth")
        .service(resource("/register").route(post().to(register)))
        .service(resource("/login").route(post().to(login)))
        .service(resource("/refresh").route(post().to(refresh)))
        .service(resource("/logout").route(post().to(logout)))
}

/// A new account.
#[derive(Debug, Deserialize, JsonSchema, ApiComponent)]
pub struct RegisterRequest {
    /// `trainee` or `trainer`. Parsed during validation so a bad value is reported on this field.
    #[schemars(with = "Role")]
    pub role: String,
    /// 1 to 100 characters, not only whitespace (which is trimmed from either end).
    #[schemars(
        length(min = 1, max = "validate::FULL_NAME_MAX_CHARS"),
        regex = "validate::NAME_PATTERN"
    )]
    pub full_name: String,
    /// A valid address; unique, compared case-insensitively.
    #[schemars(email, length(max = "validate::EMAIL_MAX_CHARS"))]
    pub email: String,
    /// E.164, e.g. `+919876543210`.
    #[schemars(regex = "validate::MOBILE_PATTERN")]
    pub mobile: String,
    /// 8 to 128 characters.
    #[schemars(with = "String", length(min = 8, max = 128))]
    pub password: Password,
}

/// Email and password.
#[derive(Debug, Deserialize, JsonSchema, ApiComponent)]
pub struct LoginRequest {
    /// The account's email (any case).
    pub email: String,
    /// The password.
    #[schemars(with = "String")]
    pub password: Password,
}

/// A refresh token to exchange or revoke.
#[derive(Debug, Deserialize, JsonSchema, ApiComponent)]
pub struct RefreshRequest {
    /// The opaque refresh token from login, registration or the last refresh.
    pub refresh_token: String,
}

/// The public part of an account.
#[derive(Debug, Serialize, JsonSchema, ApiComponent)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// Role.
    pub role: Role,
    /// Full name.
    pub full_name: String,
    /// Email.
    pub email: String,
    /// Mobile (E.164).
    pub mobile: String,
}

impl From<&Account> for UserView {
    fn from(account: &Account) -> Self {
        UserView {
            id: account.id,
            role: account.role,
            full_name: account.full_name.clone(),
            email: account.email.clone(),
            mobile: account.mobile.clone(),
        }
    }
}

/// A signed-in session.
#[derive(Debug, Serialize, JsonSchema, ApiComponent)]
pub struct Session {
    /// Who is signed in.
    pub user: UserView,
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque; exchange at `/auth/refresh` before the access token expires. Single use.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// Register a trainee or a trainer, and sign in.
#[api_operation(
    operation_id = "register_user",
    tag = "accounts",
    error_code = 400,
    error_code = 409,
    error_code = 422,
    error_code = 429,
    error_code = 503
)]
pub async fn register(
    _limit: RegisterLimit,
    body: JsonBody<RegisterRequest>,
    pool: Data<PgPool>,
    hasher: Data<PasswordHasher>,
    keys: Data<JwtKeys>,
) -> Result<CreatedJson<Session>, ApiError> {
    let request = body.into_inner();
    let full_name = request.full_name.trim();
    let role = request.role.parse::<Role>();
    let mut checks = validate::Checks::default();
    checks
        .check("role", role.clone().map(drop))
        .check("full_name", validate::full_name(&request.full_name))
        .check("email", validate::email(&request.email))
        .check("mobile", validate::mobile(&request.mobile))
        .check("password", validate::password(request.password.expose()));
    checks.finish()?;
    // Reported above with the other fields; this only unwraps it.
    let role = role.map_err(|e| ApiError::invalid_field("role", e))?;

    let password_hash = hasher.hash(&request.password).await?;
    let mut tx = pool.begin().await.context("failed to begin transaction")?;
    let new = NewAccount {
        role,
        full_name,
        email: &request.email,
        mobile: &request.mobile,
        password_hash: &password_hash,
    };
    let account = store::insert(&mut *tx, &new)
        .await
        .map_err(|err| match err {
            InsertError::EmailTaken => ApiError::client(ErrorCode::EmailTaken, err.to_string()),
            InsertError::Other(err) => ApiError::Unexpected(err),
        })?;
    let session = start_session(&mut tx, &keys, &account, Uuid::now_v7()).await?;
    tx.commit().await.context("failed to commit registration")?;
    tracing::info!(user.id = %account.id, user.role = %account.role, "account registered");
    Ok(CreatedJson(session))
}

/// Sign in with email and password. Any mismatch is the same 401.
///
/// Too many failures for one account lock it for a while: every login for it, even with the
/// right password, is then 429 with `Retry-After`.
#[api_operation(
    operation_id = "login",
    tag = "accounts",
    error_code = 400,
    error_code = 401,
    error_code = 422,
    error_code = 429,
    error_code = 503
)]
pub async fn login(
    limit: LoginLimit,
    body: JsonBody<LoginRequest>,
    pool: Data<PgPool>,
    hasher: Data<PasswordHasher>,
    keys: Data<JwtKeys>,
) -> Result<Json<Session>, ApiError> {
    let request = body.into_inner();
    // A locked account is refused here, before its password is hashed.
    let account_key = limit.unlocked(&request.email).await?;
    // No address holds a NUL (registration refuses them), and PostgreSQL cannot even compare one.
    let found = if request.email.contains('\0') {
        None
    } else {
        store::credentials(pool.get_ref(), &request.email).await?
    };
    let (account, hash) = match found {
        Some((account, hash)) => (Some(account), Some(hash)),
        None => (None, None),
    };
    let matches = hasher.verify(&request.password, hash).await?;
    let Some(account) = account.filter(|_| matches) else {
        // Counted whether or not the account exists; the failure that locks it is a 429.
        limit.failed(account_key).await?;
        return Err(ApiError::client(
            ErrorCode::InvalidCredentials,
            "email or password is incorrect",
        ));
    };
    let mut tx = pool.begin().await.context("failed to begin transaction")?;
    let session = start_session(&mut tx, &keys, &account, Uuid::now_v7()).await?;
    tx.commit().await.context("failed to commit login")?;
    Ok(Json(session))
}

/// Exchange a refresh token for a new pair. The old refresh token stops working; presenting it
/// again revokes every token of its session.
#[api_operation(
    operation_id = "refresh_session",
    tag = "accounts",
    error_code = 400,
    error_code = 401,
    error_code = 422,
    error_code = 429,
    error_code = 503
)]
pub async fn refresh(
    _limit: RefreshLimit,
    body: JsonBody<RefreshRequest>,
    pool: Data<PgPool>,
    keys: Data<JwtKeys>,
) -> Result<Json<Session>, ApiError> {
    let invalid = || {
        ApiError::client(
            ErrorCode::InvalidRefreshToken,
            "the refresh token is invalid or expired",
        )
    };
    let hash = tokens::refresh_token_hash(&body.refresh_token);
    let mut tx = pool.begin().await.context("failed to begin transaction")?;
    let token = store::lock_refresh_token(&mut *tx, &hash)
        .await?
        .ok_or_else(invalid)?;
    if token.revoked_at.is_some() || token.expires_at <= Utc::now() {
        return Err(invalid());
    }
    if token.rotated_at.is_some() {
        store::revoke_family(&mut *tx, token.family_id).await?;
        tx.commit()
            .await
            .context("failed to commit family revocation")?;
        tracing::warn!(user.id = %token.user_id, "refresh token reused: session revoked");
        return Err(ApiError::client(
            ErrorCode::RefreshTokenReused,
            "this refresh token was already used; the session has been revoked, sign in again",
        ));
    }
    store::mark_rotated(&mut *tx, token.id).await?;
    let account = store::by_id(&mut *tx, token.user_id)
        .await?
        .ok_or_else(invalid)?;
    let session = start_session(&mut tx, &keys, &account, token.family_id).await?;
    tx.commit().await.context("failed to commit refresh")?;
    Ok(Json(session))
}

/// Sign out: revoke the session the refresh token belongs to. Idempotent.
#[api_operation(
    operation_id = "logout",
    tag = "accounts",
    error_code = 400,
    error_code = 401,
    error_code = 422,
    error_code = 503
)]
pub async fn logout(
    user: AuthUser,
    body: JsonBody<RefreshRequest>,
    pool: Data<PgPool>,
) -> Result<NoContent, ApiError> {
    let hash = tokens::refresh_token_hash(&body.refresh_token);
    let mut tx = pool.begin().await.context("failed to begin transaction")?;
    // Someone else's token is left alone, and the answer is the same, so logout reveals nothing.
    if let Some(token) = store::lock_refresh_token(&mut *tx, &hash).await?
        && token.user_id == user.id
    {
        store::revoke_family(&mut *tx, token.family_id).await?;
    }
    tx.commit().await.context("failed to commit logout")?;
    Ok(NoContent)
}

/// Issue an access token and a new refresh token in `family_id`.
async fn start_session(
    tx: &mut PgConnection,
    keys: &JwtKeys,
    account: &Account,
    family_id: Uuid,
) -> Result<Session, ApiError> {
    let refresh_token = tokens::new_refresh_token();
    let expires_at = Utc::now() + chrono::Duration::days(REFRESH_TOKEN_TTL_DAYS);
    store::insert_refresh_token(
        &mut *tx,
        account.id,
        family_id,
        &tokens::refresh_token_hash(&refresh_token),
        expires_at,
    )
    .await?;
    Ok(Session {
        user: UserView::from(account),
        access_token: keys.issue(account.id, account.role)?,
        refresh_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL_SECS,
    })
}
