//! A JSON body extractor whose rejections are problem+json naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::Problem;

/// A JSON body. Malformed JSON, a wrong content type or a field of the
/// wrong type is a 400 whose `field` is the JSON path of the problem.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(Problem::invalid_field(
                "content-type",
                "expected application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(rejection.status(), "payload_too_large")
                    .with_field("body")
                    .with_detail(rejection.body_text())
            } else {
                Problem::invalid_field("body", "could not read the request body")
            }
        })?;
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
                Err(Problem::invalid_field(field, detail))
            }
        }
    }
}
