//! `GET /v1/events/search`: full-text search with filters, facets, sorting
//! and paging.

use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use search::{Facets, Hit};
use serde::Serialize;

use super::{Params, cacheable, millis, query_pairs};
use crate::AppState;
use crate::error::ApiResult;

#[derive(Debug, Serialize)]
struct SearchResponse {
    total: u64,
    page: usize,
    size: usize,
    hits: Vec<Hit>,
    facets: Facets,
    took_ms: f64,
}

/// `GET /v1/events/search`.
pub async fn search_events(
    State(state): State<AppState>,
    query: Result<Query<Params>, QueryRejection>,
) -> ApiResult<Response> {
    let started = Instant::now();
    let q = super::params::search_query(&query_pairs(query)?)?;
    let results = state.search.search(&q).await?;
    Ok(cacheable(SearchResponse {
        total: results.total,
        page: q.page,
        size: q.size,
        hits: results.hits,
        facets: results.facets,
        took_ms: millis(started),
    }))
}
