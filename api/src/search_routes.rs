//! `GET /v1/events/search` and `GET /v1/events/suggest`.
#![allow(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]

use std::time::Instant;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use problem::Problem;
use search::{Facets, Hit, SearchError, Suggestion};
use serde::Serialize;

use crate::AppState;
use crate::search_params;

/// How long clients and the CDN may reuse a search answer.
const CACHE_CONTROL: &str = "public, max-age=15, stale-while-revalidate=30";

type Params = Vec<(String, String)>;

fn params(query: Result<Query<Params>, QueryRejection>) -> Result<Params, Problem> {
    query
        .map(|Query(p)| p)
        .map_err(|e| Problem::invalid_field("query", format!("malformed query string: {e}")))
}

fn search_problem(e: SearchError) -> Problem {
    match e {
        SearchError::Unavailable(detail) => {
            tracing::warn!(%detail, "search backend unavailable");
            Problem::unavailable("search is temporarily unavailable; event pages still work")
                .with_extension("backend_detail", detail)
        }
        SearchError::Backend(detail) => {
            tracing::error!(%detail, "search backend error");
            Problem::unavailable("search failed; try again shortly")
        }
    }
}

fn cacheable(body: impl Serialize) -> Response {
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    response
}

#[derive(Debug, Serialize)]
struct SearchResponse {
    total: u64,
    page: usize,
    size: usize,
    hits: Vec<Hit>,
    facets: Facets,
    took_ms: f64,
}

/// Full-text search with filters, facets, sorting and paging.
pub async fn search(
    State(state): State<AppState>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Response, Problem> {
    let started = Instant::now();
    let q = search_params::search_query(&params(query)?)?;
    let results = state.search.search(&q).await.map_err(search_problem)?;
    Ok(cacheable(SearchResponse {
        total: results.total,
        page: q.page,
        size: q.size,
        hits: results.hits,
        facets: results.facets,
        took_ms: millis(started),
    }))
}

#[derive(Debug, Serialize)]
struct SuggestResponse {
    q: String,
    suggestions: Vec<Suggestion>,
    took_ms: f64,
}

/// Typed autocomplete suggestions.
pub async fn suggest(
    State(state): State<AppState>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Response, Problem> {
    let started = Instant::now();
    let (q, limit) = search_params::suggest_query(&params(query)?)?;
    let suggestions = state
        .search
        .suggest(&q, limit)
        .await
        .map_err(search_problem)?;
    Ok(cacheable(SuggestResponse {
        q,
        suggestions,
        took_ms: millis(started),
    }))
}

fn millis(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1e5).round() / 100.0
}
