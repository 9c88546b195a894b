//! `/api/v1/me`: the caller's own profile (and, in [`super::history`], their history).

use super::json_body::JsonBody;
use crate::accounts::store::{self, ProfileChanges};
use crate::accounts::{Account, Role, Sex, validate};
use crate::auth::AuthUser;
use crate::error::ApiError;
use actix_web::web::{Data, Json};
use apistos::web::{Scope, get, patch, resource, scope};
use apistos::{ApiComponent, api_operation};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// `/me`.
pub fn routes() -> Scope {
    scope("/me")
        .service(
            resource("")
                .route(get().to(get_me))
                .route(patch().to(update_me)),
        )
        .service(resource("/history").route(get().to(super::history::get_history)))
}

/// The caller's profile.
#[derive(Debug, Serialize, JsonSchema, ApiComponent)]
pub struct Profile {
    /// Id.
    pub id: Uuid,
    /// Role (cannot be changed).
    pub role: Role,
    /// Full name.
    pub full_name: String,
    /// Email (cannot be changed).
    pub email: String,
    /// Mobile (E.164).
    pub mobile: String,
    /// Body weight in kg, for calorie estimates.
    pub weight_kg: Option<f32>,
    /// Birth year, for calorie estimates.
    pub birth_year: Option<i32>,
    /// Sex, for calorie estimates.
    pub sex: Option<Sex>,
    /// Appear anonymously on live leaderboards.
    pub hide_from_leaderboard: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl From<Account> for Profile {
    fn from(a: Account) -> Self {
        Profile {
            id: a.id,
            role: a.role,
            full_name: a.full_name,
            email: a.email,
            mobile: a.mobile,
            weight_kg: a.weight_kg,
            birth_year: a.birth_year,
            sex: a.sex,
            hide_from_leaderboard: a.hide_from_leaderboard,
            created_at: a.created_at,
        }
    }
}

/// Profile changes; omitted (or null) fields stay as they are. Role and email cannot be
/// changed: sending them (or any unknown field) is a 422, not silently ignored.
#[derive(Debug, Deserialize, JsonSchema, ApiComponent)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// 1 to 100 characters, not only whitespace (which is trimmed from either end).
    #[schemars(
        length(min = 1, max = "validate::FULL_NAME_MAX_CHARS"),
        regex = "validate::NAME_PATTERN"
    )]
    pub full_name: Option<String>,
    /// E.164, e.g. `+919876543210`.
    #[schemars(regex = "validate::MOBILE_PATTERN")]
    pub mobile: Option<String>,
    /// 20 to 400.
    #[schemars(range(min = "validate::WEIGHT_KG_MIN", max = "validate::WEIGHT_KG_MAX"))]
    pub weight_kg: Option<f64>,
    /// 1900 to five years ago.
    pub birth_year: Option<BirthYear>,
    /// `female` or `male`.
    pub sex: Option<Sex>,
    /// Appear anonymously on live leaderboards.
    pub hide_from_leaderboard: Option<bool>,
}

/// A birth year as `PATCH /me` takes it. Its own type so that its schema's upper bound is the
/// year five years ago at the time the document is built, as [`validate::birth_year`] checks.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(transparent)]
pub struct BirthYear(pub i32);

impl JsonSchema for BirthYear {
    fn schema_name() -> String {
        "BirthYear".to_owned()
    }

    fn is_referenceable() -> bool {
        false
    }

    fn json_schema(generator: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = i32::json_schema(generator).into_object();
        let number = schema.number();
        number.minimum = Some(f64::from(validate::BIRTH_YEAR_MIN));
        number.maximum = Some(f64::from(validate::birth_year_max()));
        schema.into()
    }
}

/// The caller's profile.
#[api_operation(
    operation_id = "get_me",
    tag = "accounts",
    error_code = 401,
    error_code = 404,
    error_code = 503
)]
pub async fn get_me(user: AuthUser, pool: Data<PgPool>) -> Result<Json<Profile>, ApiError> {
    let account = store::by_id(pool.get_ref(), user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    Ok(Json(account.into()))
}

/// Change the caller's profile.
#[api_operation(
    operation_id = "update_me",
    tag = "accounts",
    error_code = 400,
    error_code = 401,
    error_code = 404,
    error_code = 422,
    error_code = 503
)]
pub async fn update_me(
    user: AuthUser,
    body: JsonBody<ProfileUpdate>,
    pool: Data<PgPool>,
) -> Result<Json<Profile>, ApiError> {
    let update = body.into_inner();
    let mut checks = validate::Checks::default();
    if let Some(name) = &update.full_name {
        checks.check("full_name", validate::full_name(name));
    }
    if let Some(mobile) = &update.mobile {
        checks.check("mobile", validate::mobile(mobile));
    }
    if let Some(weight) = update.weight_kg {
        checks.check("weight_kg", validate::weight_kg(weight));
    }
    if let Some(BirthYear(year)) = update.birth_year {
        checks.check("birth_year", validate::birth_year(year));
    }
    checks.finish()?;
    let changes = ProfileChanges {
        full_name: update.full_name.map(|name| name.trim().to_owned()),
        mobile: update.mobile,
        // In range, checked above, so narrowing only rounds.
        weight_kg: update.weight_kg.map(|kg| kg as f32),
        birth_year: update.birth_year.map(|BirthYear(year)| year),
        sex: update.sex,
        hide_from_leaderboard: update.hide_from_leaderboard,
    };
    let account = store::update_profile(pool.get_ref(), user.id, &changes)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    Ok(Json(account.into()))
}
