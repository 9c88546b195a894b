//! Account and refresh-token queries. Each takes an executor; the caller owns the transaction.

use super::model::{Account, Role, Sex};
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A new account, already validated and with its password hashed.
pub struct NewAccount<'a> {
    /// Role.
    pub role: Role,
    /// Full name (trimmed).
    pub full_name: &'a str,
    /// Email as typed.
    pub email: &'a str,
    /// Mobile in E.164.
    pub mobile: &'a str,
    /// argon2id PHC string.
    pub password_hash: &'a str,
}

/// Why an insert failed.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// The email is taken (compared case-insensitively).
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Insert an account; a taken email (any case) is [`InsertError::EmailTaken`].
pub async fn insert(db: impl PgExecutor<'_>, new: &NewAccount<'_>) -> Result<Account, InsertError> {
    sqlx::query_as!(
        Account,
        r#"INSERT INTO users (id, role, full_name, email, mobile, password_hash)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING id, role AS "role: Role", full_name, email, mobile, weight_kg, birth_year,
                     sex AS "sex: Sex", hide_from_leaderboard, created_at"#,
        Uuid::now_v7(),
        new.role as Role,
        new.full_name,
        new.email,
        new.mobile,
        new.password_hash,
    )
    .fetch_one(db)
    .await
    .map_err(|err| match &err {
        sqlx::Error::Database(db_err) if db_err.constraint() == Some("users_email_lower_key") => {
            InsertError::EmailTaken
        }
        _ => InsertError::Other(anyhow::Error::new(err).context("failed to insert account")),
    })
}

/// The account and password hash for a login, by email (any case).
pub async fn credentials(
    db: impl PgExecutor<'_>,
    email: &str,
) -> anyhow::Result<Option<(Account, String)>> {
    let row = sqlx::query!(
        r#"SELECT id, role AS "role: Role", full_name, email, mobile, weight_kg, birth_year,
                  sex AS "sex: Sex", hide_from_leaderboard, created_at, password_hash
           FROM users WHERE lower(email) = lower($1)"#,
        email,
    )
    .fetch_optional(db)
    .await
    .context("failed to look up account by email")?;
    Ok(row.map(|r| {
        let account = Account {
            id: r.id,
            role: r.role,
            full_name: r.full_name,
            email: r.email,
            mobile: r.mobile,
            weight_kg: r.weight_kg,
            birth_year: r.birth_year,
            sex: r.sex,
            hide_from_leaderboard: r.hide_from_leaderboard,
            created_at: r.created_at,
        };
        (account, r.password_hash)
    }))
}

/// An account by id.
pub async fn by_id(db: impl PgExecutor<'_>, id: Uuid) -> anyhow::Result<Option<Account>> {
    sqlx::query_as!(
        Account,
        r#"SELECT id, role AS "role: Role", full_name, email, mobile, weight_kg, birth_year,
                  sex AS "sex: Sex", hide_from_leaderboard, created_at
           FROM users WHERE id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
    .context("failed to load account")
}

/// Profile fields a user may change; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ProfileChanges {
    /// New full name.
    pub full_name: Option<String>,
    /// New mobile.
    pub mobile: Option<String>,
    /// New weight.
    pub weight_kg: Option<f32>,
    /// New birth year.
    pub birth_year: Option<i32>,
    /// New sex.
    pub sex: Option<Sex>,
    /// New leaderboard visibility.
    pub hide_from_leaderboard: Option<bool>,
}

/// Apply profile changes; `None` if the account no longer exists.
pub async fn update_profile(
    db: impl PgExecutor<'_>,
    id: Uuid,
    changes: &ProfileChanges,
) -> anyhow::Result<Option<Account>> {
    sqlx::query_as!(
        Account,
        r#"UPDATE users SET
               full_name = COALESCE($2, full_name),
               mobile = COALESCE($3, mobile),
               weight_kg = COALESCE($4, weight_kg),
               birth_year = COALESCE($5, birth_year),
               sex = COALESCE($6, sex),
               hide_from_leaderboard = COALESCE($7, hide_from_leaderboard),
               updated_at = now()
           WHERE id = $1
           RETURNING id, role AS "role: Role", full_name, email, mobile, weight_kg, birth_year,
                     sex AS "sex: Sex", hide_from_leaderboard, created_at"#,
        id,
        changes.full_name.as_deref(),
        changes.mobile.as_deref(),
        changes.weight_kg,
        changes.birth_year,
        changes.sex as Option<Sex>,
        changes.hide_from_leaderboard,
    )
    .fetch_optional(db)
    .await
    .context("failed to update profile")
}

/// A stored refresh token.
#[derive(Debug)]
pub struct RefreshToken {
    /// Row id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// The login this token descends from.
    pub family_id: Uuid,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Set once it has been exchanged for a new one.
    pub rotated_at: Option<DateTime<Utc>>,
    /// Set when its family was revoked (logout or reuse).
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Store a refresh token's hash.
pub async fn insert_refresh_token(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    family_id: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query!(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        Uuid::now_v7(),
        user_id,
        family_id,
        token_hash,
        expires_at,
    )
    .execute(db)
    .await
    .context("failed to insert refresh token")?;
    Ok(())
}

/// A refresh token by hash, locked for the rest of the transaction so two concurrent refreshes
/// with the same token cannot both succeed.
pub async fn lock_refresh_token(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
) -> anyhow::Result<Option<RefreshToken>> {
    sqlx::query_as!(
        RefreshToken,
        "SELECT id, user_id, family_id, expires_at, rotated_at, revoked_at
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
        token_hash,
    )
    .fetch_optional(db)
    .await
    .context("failed to look up refresh token")
}

/// Mark a refresh token as exchanged.
pub async fn mark_rotated(db: impl PgExecutor<'_>, id: Uuid) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE refresh_tokens SET rotated_at = now() WHERE id = $1",
        id
    )
    .execute(db)
    .await
    .context("failed to rotate refresh token")?;
    Ok(())
}

/// Revoke every live token of a family; returns how many were revoked.
pub async fn revoke_family(db: impl PgExecutor<'_>, family_id: Uuid) -> anyhow::Result<u64> {
    let done = sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
    )
    .execute(db)
    .await
    .context("failed to revoke refresh token family")?;
    Ok(done.rows_affected())
}
