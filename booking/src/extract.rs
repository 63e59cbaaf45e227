//! Extractors that turn every rejection into problem+json naming the field.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::BookingError;

pub use problem::ApiJson;

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
