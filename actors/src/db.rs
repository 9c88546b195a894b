//! Conversions between PostgreSQL enum labels and wire enums, and the outbox insert.
//!
//! Queries select enums as `::text` and bind them through `CAST($n::text AS ...)`, so the wire
//! enums in `bus-contracts` need no sqlx derive (that crate knows nothing of databases).

use anyhow::{Context, bail};
use bus_contracts::v1::{DomainEvent, RegistrationStatus, WorkoutState};
use sqlx::PgConnection;

/// Whether `err` comes from PostgreSQL being out of reach (refused or dropped connections, an
/// exhausted pool) rather than from a query: the caller should hear "unavailable, retry" and
/// nothing is wrong with the data.
pub fn is_unreachable(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<sqlx::Error>(),
            Some(
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            )
        )
    })
}

/// A `workout_state` label.
pub fn workout_state(label: &str) -> anyhow::Result<WorkoutState> {
    Ok(match label {
        "scheduled" => WorkoutState::Scheduled,
        "live" => WorkoutState::Live,
        "ended" => WorkoutState::Ended,
        "cancelled" => WorkoutState::Cancelled,
        other => bail!("unknown workout_state {other:?}"),
    })
}

/// A `registration_status` label.
pub fn registration_status(label: &str) -> anyhow::Result<RegistrationStatus> {
    Ok(match label {
        "booked" => RegistrationStatus::Booked,
        "waitlisted" => RegistrationStatus::Waitlisted,
        "cancelled" => RegistrationStatus::Cancelled,
        other => bail!("unknown registration_status {other:?}"),
    })
}

/// The label of a registration status.
pub fn registration_label(status: RegistrationStatus) -> &'static str {
    match status {
        RegistrationStatus::Booked => "booked",
        RegistrationStatus::Waitlisted => "waitlisted",
        RegistrationStatus::Cancelled => "cancelled",
    }
}

/// Whether `id` is an account with this role (`trainee` or `trainer`).
pub async fn has_role(pool: &sqlx::PgPool, id: uuid::Uuid, role: &str) -> anyhow::Result<bool> {
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND role = CAST($2::text AS user_role)) AS "found!""#,
        id,
        role
    )
    .fetch_one(pool)
    .await
    .context("failed to look up account")?;
    Ok(found)
}

/// Record a domain event in the outbox, in the caller's transaction; the relay publishes it.
pub async fn enqueue(
    tx: &mut PgConnection,
    subject: String,
    event: &DomainEvent,
) -> anyhow::Result<()> {
    let payload = serde_json::to_value(event).context("failed to encode domain event")?;
    sqlx::query!(
        "INSERT INTO outbox (subject, payload) VALUES ($1, $2)",
        subject,
        payload
    )
    .execute(&mut *tx)
    .await
    .context("failed to insert outbox row")?;
    Ok(())
}
