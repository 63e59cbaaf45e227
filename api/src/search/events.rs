//! `GET /v1/events/search`: full-text search with filters, facets, sorting
//! and paging.

use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use search::{Facets, Hit};
use serde::Serialize;
use utoipa::ToSchema;

use super::params::SearchParams;
use super::{Params, cacheable, millis, query_pairs, schema};
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// A page of search results with the total and the facets.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SearchResults)]
struct SearchResponse {
    /// Events matching every filter.
    total: u64,
    page: usize,
    size: usize,
    #[schema(value_type = Vec<schema::SearchHit>)]
    hits: Vec<Hit>,
    #[schema(value_type = schema::Facets)]
    facets: Facets,
    /// The currency prices were filtered, sorted and bucketed in (see
    /// `currency`); absent only when the rates table is empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "USD")]
    display_currency: Option<String>,
    /// The exchange-rates table that was used (`GET /v1/currency-rates`).
    #[serde(skip_serializing_if = "Option::is_none")]
    rates_version: Option<i64>,
    /// How long the search took, in milliseconds.
    took_ms: f64,
}

/// Search events.
///
/// Full-text search with filters, multi-select facets, geo and sorting, on
/// the configured backend (embedded tantivy or Elasticsearch). When the
/// backend is down or has no index yet the answer is 503, and nothing else
/// is affected. Answers carry `Cache-Control: public, max-age=15,
/// stale-while-revalidate=30`.
#[utoipa::path(get, path = "/v1/events/search", tag = "search",
    params(SearchParams),
    responses(
        (status = 200, description = "A page of results with the total and the facets.",
            body = SearchResponse),
        ApiError,
    ))]
pub async fn search_events(
    State(state): State<AppState>,
    query: Result<Query<Params>, QueryRejection>,
) -> ApiResult<Response> {
    let started = Instant::now();
    let rates = state.rates.current().await?;
    let q = super::params::search_query(&query_pairs(query)?, &rates.rates)?;
    let results = state.search.search(&q).await?.converted(&q);
    Ok(cacheable(SearchResponse {
        total: results.total,
        page: q.page,
        size: q.size,
        hits: results.hits,
        facets: results.facets,
        display_currency: results.display_currency,
        rates_version: results.rates_version,
        took_ms: millis(started),
    }))
}
