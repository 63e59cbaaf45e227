//! RFC 9457 `application/problem+json` bodies.
//!
//! Every error a service returns goes through [`Problem`], so clients see one
//! shape everywhere: `type`, `title`, `status`, `detail`, plus a stable
//! snake_case `code` and, for input errors, the offending `field`.

mod json_body;
pub mod openapi;

pub use json_body::ApiJson;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Media type of problem documents.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// One problem document.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// A URI naming the problem type; relative to the API docs.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine-readable code, snake_case.
    pub code: String,
    /// The request field (body, query or header) at fault, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Extra members, for example the seats that were not available.
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    /// A problem with the given status and stable code; the title is the
    /// status's canonical reason.
    pub fn new(status: StatusCode, code: impl Into<String>) -> Self {
        let code = code.into();
        Self {
            kind: format!("/problems/{}", code.replace('_', "-")),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: None,
            code,
            field: None,
            extensions: serde_json::Map::new(),
        }
    }

    /// 400 for a field that failed validation.
    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_field")
            .with_field(field)
            .with_detail(detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found").with_detail(detail)
    }

    /// 401: no credentials, or credentials that do not verify.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized").with_detail(detail)
    }

    /// 403: valid credentials that lack the required role.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden").with_detail(detail)
    }

    /// 503: a dependency is down.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").with_detail(detail)
    }

    /// 500. The cause is for the logs, never for the client.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error").with_detail("internal error")
    }

    /// Sets `detail`.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets `field`.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds an extension member.
    #[must_use]
    pub fn with_extension(mut self, key: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        self.extensions.insert(key.to_owned(), value);
        self
    }

    /// The status as a [`StatusCode`].
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_field_serializes_the_rfc_9457_members_and_the_field() {
        let problem = Problem::invalid_field("seat_ids", "must not be empty");
        let json = serde_json::to_value(&problem).expect("serializes");
        assert_eq!(json["type"], "/problems/invalid-field");
        assert_eq!(json["title"], "Bad Request");
        assert_eq!(json["status"], 400);
        assert_eq!(json["code"], "invalid_field");
        assert_eq!(json["field"], "seat_ids");
        assert_eq!(json["detail"], "must not be empty");
    }

    #[test]
    fn extensions_are_flattened_into_the_document() {
        let problem = Problem::new(StatusCode::CONFLICT, "seats_unavailable")
            .with_extension("seat_ids", [4, 5]);
        let json = serde_json::to_value(&problem).expect("serializes");
        assert_eq!(json["seat_ids"], serde_json::json!([4, 5]));
        assert!(json.get("field").is_none());
    }
}
