//! Event search: `GET /v1/events/search` (full-text search with filters,
//! multi-select facets, sorting, geo and paging) and `GET /v1/events/suggest`
//! (typed autocomplete). [`params`] documents and validates the parameters.
//!
//! Search goes to the configured backend (embedded tantivy by default, or
//! Elasticsearch); when it is down these routes answer 503 and nothing else
//! is affected. Answers are `public` for a few seconds.

pub mod events;
pub mod params;
pub mod schema;
pub mod suggest;

use std::time::Instant;

use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use problem::Problem;
use serde::Serialize;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiResult;

/// How long clients and the CDN may reuse a search answer.
const CACHE_CONTROL: &str = "public, max-age=15, stale-while-revalidate=30";

/// `/v1/events/search` and `/v1/events/suggest`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ParameterSchemas::openapi())
        .routes(routes!(events::search_events))
        .routes(routes!(suggest::suggest_events))
}

/// A schema only a query parameter names, which `routes!` does not collect.
#[derive(OpenApi)]
#[openapi(components(schemas(schema::SearchSort)))]
struct ParameterSchemas;

/// A query string as its pairs, in order.
type Params = Vec<(String, String)>;

fn query_pairs(query: Result<Query<Params>, QueryRejection>) -> ApiResult<Params> {
    query
        .map(|Query(p)| p)
        .map_err(|e| Problem::invalid_field("query", format!("malformed query string: {e}")).into())
}

fn cacheable(body: impl Serialize) -> Response {
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    response
}

fn millis(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1e5).round() / 100.0
}
