//! A JSON request body that must be an object, as the OpenAPI document says.
//!
//! serde's derived `Deserialize` for a struct also accepts a JSON array of its fields in order,
//! so with `Json<T>` alone `[null]` is a valid `{"reason": null}` and `["2030-01-01T00:00:00Z"]`
//! a valid reschedule. Every body here is documented as an object; anything else is refused (422)
//! before it reaches a handler. Limits, content type and syntax errors are `Json`'s own, through
//! the app's `JsonConfig`.

use crate::error::{ApiError, json_error};
use actix_web::error::JsonPayloadError;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web::Json};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use std::ops::Deref;

/// The request body, a JSON object deserialised into `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    /// The body itself.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let Json(value) = value.await?;
            Ok(Self(object(value)?))
        })
    }
}

/// `value` as a `T`, if it is an object of `T`'s shape.
fn object<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid_field("body", "expected a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| json_error(JsonPayloadError::Deserialize(e)))
}

documented_as_inner!(JsonBody);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::object;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Reason {
        reason: Option<String>,
    }

    #[test]
    fn an_object_of_the_right_shape_is_accepted() {
        let reason: Reason = object(json!({"reason": "rain"})).unwrap();
        assert_eq!(reason.reason.as_deref(), Some("rain"));
    }

    #[test]
    fn an_array_of_the_fields_is_refused_though_serde_would_take_it() {
        assert!(serde_json::from_value::<Reason>(json!([null])).is_ok());
        for not_an_object in [json!([null]), json!(["rain"]), json!("rain"), json!(null)] {
            assert!(object::<Reason>(not_an_object).is_err());
        }
    }

    #[test]
    fn an_object_of_the_wrong_shape_is_refused() {
        assert!(object::<Reason>(json!({"reason": 3})).is_err());
    }
}
