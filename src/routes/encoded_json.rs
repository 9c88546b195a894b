//! A JSON body encoded once and served many times: what a cache of responses holds, so a hit
//! costs a reference count instead of a deep clone and a fresh serialisation.
//!
//! The OpenAPI document describes it exactly as `Json<T>`: the bytes are `T` serialised by
//! [`EncodedJson::encode`], the only way to make one.

use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, Responder, body::BoxBody};
use bytes::Bytes;
use serde::Serialize;
use std::marker::PhantomData;

/// `T` as JSON, encoded already; cloning shares the bytes.
pub struct EncodedJson<T> {
    body: Bytes,
    of: PhantomData<fn() -> T>,
}

impl<T> Clone for EncodedJson<T> {
    fn clone(&self) -> Self {
        Self {
            body: self.body.clone(),
            of: PhantomData,
        }
    }
}

impl<T: Serialize> EncodedJson<T> {
    /// `value` serialised as `Json<T>` would serialise it.
    pub fn encode(value: &T) -> serde_json::Result<Self> {
        Ok(Self {
            body: serde_json::to_vec(value)?.into(),
            of: PhantomData,
        })
    }
}

impl<T> Responder for EncodedJson<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(self.body)
    }
}

documented_as_inner!(EncodedJson);
