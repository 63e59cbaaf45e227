//! Extractors that turn every rejection into problem+json naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::BookingError;

/// A JSON body. Malformed JSON, a wrong content type or a field of the
/// wrong type is a 400 whose `field` is the JSON path of the problem.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = BookingError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(BookingError::invalid(
                "content-type",
                "expected application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| BookingError::invalid("body", "could not read the request body"))?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Ok(value) => Ok(Self(value)),
            Err(e) => {
                let path = e.path().to_string();
                let field = if path == "." || path.is_empty() {
                    "body".to_owned()
                } else {
                    path
                };
                let inner = e.into_inner();
                let detail = if inner.is_syntax() || inner.is_eof() {
                    format!("malformed JSON: {inner}")
                } else {
                    inner.to_string()
                };
                Err(BookingError::invalid(field, detail))
            }
        }
    }
}

/// The `Idempotency-Key` header: required, 1 to 255 visible ASCII characters.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = BookingError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get("idempotency-key").ok_or_else(|| {
            BookingError::invalid("idempotency-key", "the Idempotency-Key header is required")
        })?;
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 255)
            .ok_or_else(|| {
                BookingError::invalid(
                    "idempotency-key",
                    "must be 1 to 255 visible ASCII characters",
                )
            })?;
        Ok(Self(key.to_owned()))
    }
}
