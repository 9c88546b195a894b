//! The one place where failures become HTTP responses.
//!
//! Every error leaves as an RFC 9457 `application/problem+json` document with a stable `code`
//! from [`bus_contracts::ErrorCode`]. 5xx bodies say nothing internal; the cause chain goes to
//! the log instead.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use apistos::ApiErrorComponent;
use bus_contracts::ErrorCode;
use serde::Serialize;

/// One invalid field of a request, as reported in a 422 problem's `errors` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
#[derive(thiserror::Error, ApiErrorComponent)]
#[allow(
    clippy::duplicated_attributes,
    reason = "apistos takes one status(...) per documented code"
)]
#[openapi_error(
    status(
        code = 400,
        description = "Malformed request (bad JSON, query or path)"
    ),
    status(code = 401, description = "Missing, invalid or expired credentials"),
    status(code = 403, description = "Wrong role, or not yours"),
    status(code = 404, description = "Unknown resource"),
    status(code = 409, description = "Conflicts with the current state"),
    status(code = 422, description = "Invalid field values"),
    status(
        code = 429,
        description = "Rate limited: retry after the `Retry-After` header's seconds"
    ),
    status(code = 500, description = "Unexpected failure"),
    status(code = 503, description = "A dependency is unavailable"),
    status(code = 504, description = "A dependency timed out")
)]
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
    /// A dependency is down.
    #[error("dependency unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else; logged with its cause chain, reported as a bare 500.
    #[error("unexpected error")]
    Unexpected(anyhow::Error),
}

/// How long a client should wait before retrying after a 503: a database or bus outage is
/// usually a restart or a failover, over in seconds.
const RETRY_UNAVAILABLE_SECS: u64 = 2;

impl From<anyhow::Error> for ApiError {
    /// PostgreSQL out of reach (refused or dropped connections, an exhausted pool) is 503 with
    /// `Retry-After`: nothing is wrong with the request, and nothing was written.
    fn from(err: anyhow::Error) -> Self {
        if cultfit_actors::db::is_unreachable(&err) {
            ApiError::Unavailable(err)
        } else {
            ApiError::Unexpected(err)
        }
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
            CallError::Other(err) => ApiError::Unexpected(err),
            other => ApiError::client(other.code(), other.to_string()),
        }
    }
}

/// The RFC 9457 body.
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: ErrorCode,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
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
        } else if code == ErrorCode::Unavailable {
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
        let response = ApiError::from(anyhow::anyhow!("boom")).error_response();
        assert!(response.headers().get("retry-after").is_none());
        for unavailable in [
            ApiError::from(anyhow::Error::new(sqlx::Error::PoolTimedOut).context("reading")),
            ApiError::client(ErrorCode::Unavailable, "the database is unavailable"),
        ] {
            let response = unavailable.error_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(header(&response, "retry-after"), Some("2"));
        }
    }

    #[test]
    fn field_errors_are_listed() {
        let body = body_of(&ApiError::invalid_field("email", "not an email address"));
        assert_eq!(body["status"], 422);
        assert_eq!(body["errors"][0]["field"], "email");
    }
}
