//! The one place where failures become HTTP responses.
//!
//! Every error leaves as an RFC 9457 `application/problem+json` document with a stable `code`
//! from [`bus_contracts::ErrorCode`]. 5xx bodies say nothing internal; the cause chain goes to
//! the log instead. A dependency that is down, saturated (no free database connection in time)
//! or too slow is a 503 with `Retry-After`, never a 500: see [`dependency_unavailable`].

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use apistos::paths::{Header, MediaType, ParameterDefinition, Response};
use apistos::reference_or::ReferenceOr;
use apistos::{ApiErrorComponent, Schema};
use bus_contracts::ErrorCode;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// How long a client should wait before retrying a 503 (`Retry-After`, seconds): long enough
/// for a burst to drain from the connection pool or for a failed-over actor to be re-activated
/// elsewhere (which takes the lease TTL).
pub const RETRY_UNAVAILABLE_SECS: u64 = 2;

/// One invalid field of a request, as reported in a 422 problem's `errors` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FieldError {
    /// The JSON field name (`body` when the body as a whole has the wrong shape).
    pub field: String,
    /// What is wrong, for a person to read.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every way an HTTP request can fail.
#[derive(thiserror::Error)]
pub enum ApiError {
    /// The request could not be parsed.
    #[error("{0}")]
    Malformed(String),
    /// Fields parsed but are invalid.
    #[error("{} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// A failure with a code and a message meant for the client (4xx).
    #[error("{detail}")]
    Client {
        /// The stable code; decides the status.
        code: ErrorCode,
        /// Human-readable detail.
        detail: String,
    },
    /// Too many requests (429): the client should wait this many whole seconds (at least 1).
    #[error("too many requests, retry in {retry_after_secs} s")]
    RateLimited {
        /// Sent as `Retry-After`.
        retry_after_secs: u64,
    },
    /// A dependency is down, saturated or too slow (503 with `Retry-After`).
    #[error("dependency unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else; logged with its cause chain, reported as a bare 500.
    #[error("unexpected error")]
    Unexpected(#[source] anyhow::Error),
}

impl From<anyhow::Error> for ApiError {
    /// A dependency out of reach (see [`dependency_unavailable`]) is 503 with `Retry-After`:
    /// nothing is wrong with the request.
    fn from(err: anyhow::Error) -> Self {
        if dependency_unavailable(&err) {
            ApiError::Unavailable(err)
        } else {
            ApiError::Unexpected(err)
        }
    }
}

impl From<std::sync::Arc<anyhow::Error>> for ApiError {
    /// The error a coalescing cache shares among everyone who waited for one read: the cause
    /// chain is kept for the log and for telling a saturated database from a bug.
    fn from(err: std::sync::Arc<anyhow::Error>) -> Self {
        let unavailable = dependency_unavailable(&err);
        let err = anyhow::anyhow!("{err:#}");
        if unavailable {
            ApiError::Unavailable(err)
        } else {
            ApiError::Unexpected(err)
        }
    }
}

/// Whether `err` is a dependency out of reach (down, saturated or too slow) rather than a bug:
/// those are worth a retry, and are answered 503 with `Retry-After`.
pub fn dependency_unavailable(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        if let Some(err) = cause.downcast_ref::<sqlx::Error>() {
            return database_unavailable(err);
        }
        if let Some(err) = cause.downcast_ref::<async_nats::RequestError>() {
            use async_nats::RequestErrorKind;
            return matches!(
                err.kind(),
                RequestErrorKind::TimedOut | RequestErrorKind::NoResponders
            );
        }
        if let Some(err) = cause.downcast_ref::<async_nats::jetstream::context::PublishError>() {
            use async_nats::jetstream::context::PublishErrorKind;
            return matches!(
                err.kind(),
                PublishErrorKind::TimedOut
                    | PublishErrorKind::BrokenPipe
                    | PublishErrorKind::StreamNotFound
            );
        }
        false
    })
}

fn database_unavailable(err: &sqlx::Error) -> bool {
    match err {
        // No free connection within the acquire timeout (pool exhaustion), or none to be had.
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE classes 08 (connection exception), 53 (insufficient resources, e.g. too many
        // connections), 57 (operator intervention: statement timeout, shutdown), and lock timeouts.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57")
                || code == "55P03"
        }),
        _ => false,
    }
}

impl ApiError {
    /// A client error with a stable code.
    pub fn client(code: ErrorCode, detail: impl Into<String>) -> Self {
        ApiError::Client {
            code,
            detail: detail.into(),
        }
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::client(ErrorCode::Forbidden, detail)
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::client(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 422 for a single field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError::new(field, message)])
    }

    /// 429: wait at least `wait` (rounded up to whole seconds, at least 1) before retrying.
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::RateLimited {
            retry_after_secs: secs.max(1),
        }
    }

    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Malformed(_) => ErrorCode::MalformedRequest,
            ApiError::Invalid(_) => ErrorCode::ValidationFailed,
            ApiError::Client { code, .. } => *code,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::Unexpected(_) => ErrorCode::Internal,
        }
    }
}

impl std::fmt::Debug for ApiError {
    // Debug prints the whole cause chain, which is what the logs need.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<cultfit_actors::client::CallError> for ApiError {
    fn from(err: cultfit_actors::client::CallError) -> Self {
        use cultfit_actors::client::CallError;
        match err {
            CallError::Rejected(rejected) if rejected.code == ErrorCode::Internal => {
                ApiError::Unexpected(anyhow::anyhow!("actor failed: {}", rejected.message))
            }
            CallError::Rejected(rejected) => ApiError::client(rejected.code, rejected.message),
            CallError::Other(err) => ApiError::from(err),
            other => ApiError::client(other.code(), other.to_string()),
        }
    }
}

/// An RFC 9457 problem document: the body of every error response
/// (`application/problem+json`).
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Problem")]
struct Problem<'a> {
    /// `urn:cultfit:problem:<code>`.
    #[serde(rename = "type")]
    kind: String,
    /// The HTTP status's reason phrase.
    title: &'a str,
    /// The HTTP status.
    #[schemars(range(min = 400, max = 599))]
    status: u16,
    /// What went wrong, for a person to read (nothing internal for 5xx).
    detail: String,
    /// The stable, machine-readable error code.
    #[schemars(schema_with = "error_code_schema")]
    code: ErrorCode,
    /// With `validation_failed` (422): every invalid field.
    #[serde(default, skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

/// `code`: one of [`ErrorCode::ALL`] (bus-contracts knows nothing of schemas).
fn error_code_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
    schemars::schema::SchemaObject {
        instance_type: Some(schemars::schema::InstanceType::String.into()),
        enum_values: Some(
            ErrorCode::ALL
                .iter()
                .map(|code| code.as_str().into())
                .collect(),
        ),
        ..Default::default()
    }
    .into()
}

/// Every error status an operation may list (`error_code = ...` on its `api_operation`), and
/// what it means.
const DOCUMENTED_ERRORS: [(u16, &str); 9] = [
    (400, "Malformed request (bad JSON, query or path)"),
    (401, "Missing, invalid or expired credentials"),
    (403, "Wrong role, or not yours"),
    (404, "Unknown resource"),
    (409, "Conflicts with the current state"),
    (422, "Invalid field values, each listed in `errors`"),
    (429, "Rate limited: retry after `Retry-After` seconds"),
    (500, "Unexpected failure"),
    (
        503,
        "A dependency is unavailable, saturated or timed out: retry after `Retry-After` seconds",
    ),
];

/// The `Problem` schema, inline (its `FieldError` included) so that it is one component.
fn problem_schema() -> (String, ReferenceOr<Schema>) {
    let mut settings = schemars::r#gen::SchemaSettings::openapi3();
    settings.inline_subschemas = true;
    let root = settings
        .into_generator()
        .into_root_schema_for::<Problem<'static>>();
    (
        "Problem".to_owned(),
        ReferenceOr::Object(Schema::Object(root.schema)),
    )
}

/// `Retry-After` on 429 and 503: whole seconds, at least 1.
fn retry_after_header() -> Header {
    let seconds = schemars::schema::SchemaObject {
        instance_type: Some(schemars::schema::InstanceType::Integer.into()),
        number: Some(Box::new(schemars::schema::NumberValidation {
            minimum: Some(1.0),
            ..Default::default()
        })),
        ..Default::default()
    };
    Header {
        required: Some(true),
        description: Some("Seconds to wait before retrying".to_owned()),
        definition: Some(ParameterDefinition::Schema(Box::new(ReferenceOr::Object(
            Schema::Object(seconds),
        )))),
        ..Default::default()
    }
}

// Hand-written rather than derived: the derive documents statuses without a body; every error
// here has a problem+json body, and 429 and 503 a `Retry-After` header.
impl ApiErrorComponent for ApiError {
    fn schemas_by_status_code() -> BTreeMap<String, (String, ReferenceOr<Schema>)> {
        let problem = problem_schema();
        DOCUMENTED_ERRORS
            .iter()
            .map(|(status, _)| (status.to_string(), problem.clone()))
            .collect()
    }

    fn error_responses() -> Vec<(String, Response)> {
        DOCUMENTED_ERRORS
            .iter()
            .map(|(status, description)| {
                let body = MediaType {
                    schema: Some(ReferenceOr::Reference {
                        _ref: "#/components/schemas/Problem".to_owned(),
                    }),
                    ..Default::default()
                };
                let mut headers = BTreeMap::new();
                if matches!(status, 429 | 503) {
                    headers.insert(
                        "Retry-After".to_owned(),
                        ReferenceOr::Object(retry_after_header()),
                    );
                }
                let response = Response {
                    description: (*description).to_owned(),
                    headers,
                    content: BTreeMap::from([("application/problem+json".to_owned(), body)]),
                    ..Default::default()
                };
                (status.to_string(), response)
            })
            .collect()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let code = self.code();
        if status.is_server_error() {
            tracing::error!(error.code = %code, error = ?self, "request failed");
        }
        let detail = match self {
            // Internal causes stay in the log.
            ApiError::Unexpected(_) => "an unexpected error occurred".to_owned(),
            ApiError::Unavailable(_) => "a dependency is unavailable, retry later".to_owned(),
            ApiError::Invalid(_) => "one or more fields are invalid".to_owned(),
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Invalid(errors) => errors.as_slice(),
            _ => &[],
        };
        let problem = Problem {
            kind: format!("urn:cultfit:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail,
            code,
            errors,
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if let ApiError::RateLimited { retry_after_secs } = self {
            response.insert_header((header::RETRY_AFTER, *retry_after_secs));
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, RETRY_UNAVAILABLE_SECS));
        }
        response.body(serde_json::to_string(&problem).unwrap_or_default())
    }
}

/// Maps body, path and query extraction failures onto problem documents: bad syntax is 400,
/// well-formed JSON of the wrong shape (missing field, wrong type, unknown field) is 422.
pub fn json_error(err: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError;
    match err {
        JsonPayloadError::Deserialize(e) if e.classify() == serde_json::error::Category::Data => {
            ApiError::invalid_field("body", strip_position(&e.to_string()))
        }
        JsonPayloadError::ContentType => {
            ApiError::Malformed("expected a JSON body (Content-Type: application/json)".into())
        }
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::Malformed(format!("body larger than {limit} bytes"))
        }
        other => ApiError::Malformed(format!(
            "malformed JSON body: {}",
            strip_position(&other.to_string())
        )),
    }
}

/// Query-string failures are 400.
pub fn query_error(err: actix_web::error::QueryPayloadError) -> ApiError {
    ApiError::Malformed(format!("invalid query string: {err}"))
}

/// Path failures (e.g. an id that is not a UUID) are 400.
pub fn path_error(err: actix_web::error::PathError) -> ApiError {
    ApiError::Malformed(format!("invalid path: {err}"))
}

// serde_json appends " at line 1 column 42"; useful for syntax errors, noise for field errors.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body_of(err: &ApiError) -> serde_json::Value {
        let bytes = err
            .error_response()
            .into_body()
            .try_into_bytes()
            .unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or_default()
    }

    fn header<'a>(response: &'a HttpResponse, name: &str) -> Option<&'a str> {
        response.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn problem_documents_have_the_rfc_9457_shape_and_a_stable_code() {
        let err = ApiError::client(ErrorCode::EmailTaken, "email already registered");
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(
            header(&response, "content-type"),
            Some("application/problem+json")
        );
        assert_eq!(
            body_of(&err),
            serde_json::json!({
                "type": "urn:cultfit:problem:email_taken",
                "title": "Conflict",
                "status": 409,
                "detail": "email already registered",
                "code": "email_taken",
            })
        );
    }

    #[test]
    fn server_errors_reveal_nothing_internal() {
        let err = ApiError::from(anyhow::anyhow!(
            "password authentication failed for user root"
        ));
        let body = body_of(&err);
        assert_eq!(body["status"], 500);
        assert_eq!(body["code"], "internal");
        assert!(
            !body.to_string().contains("password authentication"),
            "{body}"
        );
    }

    #[test]
    fn rate_limited_problems_say_when_to_retry_in_whole_seconds() {
        for (wait, secs) in [
            (std::time::Duration::ZERO, 1),
            (std::time::Duration::from_millis(1), 1),
            (std::time::Duration::from_secs(1), 1),
            (std::time::Duration::from_millis(1001), 2),
            (std::time::Duration::from_secs(20), 20),
        ] {
            let err = ApiError::rate_limited(wait);
            let response = err.error_response();
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(
                header(&response, "retry-after"),
                Some(secs.to_string().as_str()),
                "{wait:?}"
            );
            assert_eq!(
                header(&response, "content-type"),
                Some("application/problem+json")
            );
            assert_eq!(
                body_of(&err),
                serde_json::json!({
                    "type": "urn:cultfit:problem:rate_limited",
                    "title": "Too Many Requests",
                    "status": 429,
                    "detail": format!("too many requests, retry in {secs} s"),
                    "code": "rate_limited",
                })
            );
        }
    }

    #[test]
    fn only_rate_limited_and_unavailable_problems_carry_retry_after() {
        let response = ApiError::not_found("workout").error_response();
        assert!(response.headers().get("retry-after").is_none());
        let response = ApiError::from(anyhow::anyhow!("a bug")).error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get("retry-after").is_none());
    }

    #[test]
    fn an_exhausted_pool_or_a_timeout_is_503_with_retry_after_never_500() {
        let pool_timeout =
            anyhow::Error::new(sqlx::Error::PoolTimedOut).context("failed to read the account");
        for (err, code) in [
            (ApiError::from(pool_timeout), "unavailable"),
            (
                ApiError::from(anyhow::Error::from(sqlx::Error::PoolClosed)),
                "unavailable",
            ),
            (
                ApiError::client(ErrorCode::Unavailable, "the database is unavailable"),
                "unavailable",
            ),
            (ApiError::client(ErrorCode::Timeout, "too slow"), "timeout"),
            (
                ApiError::from(cultfit_actors::client::CallError::Timeout),
                "timeout",
            ),
        ] {
            let response = err.error_response();
            assert_eq!(
                response.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{err:?}"
            );
            assert_eq!(
                header(&response, "retry-after"),
                Some(RETRY_UNAVAILABLE_SECS.to_string().as_str()),
                "{err:?}"
            );
            assert_eq!(body_of(&err)["code"], code, "{err:?}");
        }
    }

    #[test]
    fn field_errors_are_listed() {
        let body = body_of(&ApiError::invalid_field("email", "not an email address"));
        assert_eq!(body["status"], 422);
        assert_eq!(body["errors"][0]["field"], "email");
    }
}
