//! The account as stored.

use apistos::ApiComponent;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a user is: a `trainee` books and takes part in workouts, a `trainer` creates and runs
/// them.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, JsonSchema, ApiComponent,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "user_role", rename_all = "lowercase")]
#[allow(
    missing_docs,
    reason = "described on the type: docs on variants would make its schema a `oneOf`, not an `enum`"
)]
pub enum Role {
    Trainee,
    Trainer,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Trainee => "trainee",
            Role::Trainer => "trainer",
        })
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trainee" => Ok(Role::Trainee),
            "trainer" => Ok(Role::Trainer),
            _ => Err("must be \"trainee\" or \"trainer\"".to_owned()),
        }
    }
}

/// Sex, used only to pick the calorie formula: `female` or `male`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, JsonSchema, ApiComponent,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "user_sex", rename_all = "lowercase")]
#[allow(
    missing_docs,
    reason = "described on the type: docs on variants would make its schema a `oneOf`, not an `enum`"
)]
pub enum Sex {
    Female,
    Male,
}

/// An account row, without its password hash.
#[derive(Clone, Debug)]
pub struct Account {
    /// Id.
    pub id: Uuid,
    /// Role.
    pub role: Role,
    /// Full name.
    pub full_name: String,
    /// Email as typed at registration.
    pub email: String,
    /// Mobile number in E.164.
    pub mobile: String,
    /// Body weight, for calories.
    pub weight_kg: Option<f32>,
    /// Birth year, for calories.
    pub birth_year: Option<i32>,
    /// Sex, for calories.
    pub sex: Option<Sex>,
    /// Shown anonymously on live leaderboards.
    pub hide_from_leaderboard: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}
