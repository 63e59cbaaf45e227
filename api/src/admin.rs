//! What the admin catalog writes share: venues (with their seat maps),
//! performers, events and ticket types. Every such route takes an
//! [`auth::CatalogAdmin`]: an admin's token or session, as
//! [`auth::AdminUser`] admits it, or an integration's API key with the
//! `catalog:write` scope (401 without valid credentials, 403 for another
//! role or a key without the scope), and answers `no-store`.
//!
//! The write path touches only Postgres. Search and the page caches follow
//! through change data capture (the indexer), so no admin write touches
//! Redis or the index. Bodies are validated before any SQL runs (each
//! resource's `input` module); each failure is a 4xx naming its field. The
//! schema's CHECK constraints stay the last line of defence, and a
//! constraint the validation could not see (a race) is mapped with
//! [`crate::error::ResultExt::on_constraint`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use problem::Problem;
use serde_json::Value;

/// 201 with `Location`, no-store.
pub fn created(location: &str, body: &Value) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    no_store(response)
}

/// 200, no-store.
pub fn ok(body: &Value) -> Response {
    no_store((StatusCode::OK, axum::Json(body)).into_response())
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A required text field: not blank, at most `max` characters.
#[expect(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]
pub fn text(field: &str, value: &str, max: usize) -> Result<(), Problem> {
    let chars = value.chars().count();
    if value.trim().is_empty() {
        return Err(Problem::invalid_field(field, "must not be empty"));
    }
    if chars > max {
        return Err(Problem::invalid_field(
            field,
            format!("must be at most {max} characters (got {chars})"),
        ));
    }
    Ok(())
}

/// A free-text description: at most 20,000 characters.
#[expect(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]
pub fn description(value: &str) -> Result<(), Problem> {
    if value.chars().count() > 20_000 {
        return Err(Problem::invalid_field(
            "description",
            "must be at most 20000 characters",
        ));
    }
    Ok(())
}
