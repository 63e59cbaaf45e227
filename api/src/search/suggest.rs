//! `GET /v1/events/suggest`: typed autocomplete suggestions.

use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use search::Suggestion;
use serde::Serialize;
use utoipa::ToSchema;

use super::params::SuggestParams;
use super::{Params, cacheable, millis, query_pairs, schema};
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// Autocomplete suggestions for what was typed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Suggestions)]
struct SuggestResponse {
    /// The `q` asked for.
    q: String,
    /// At most `limit`, best first.
    #[schema(value_type = Vec<schema::Suggestion>, max_items = 10)]
    suggestions: Vec<Suggestion>,
    /// How long it took, in milliseconds.
    took_ms: f64,
}

/// Autocomplete.
///
/// Typed suggestions (events, performers, venues, cities) for what was
/// typed so far; tolerates typos. Cached like search.
#[utoipa::path(get, path = "/v1/events/suggest", tag = "search",
    params(SuggestParams),
    responses(
        (status = 200, description = "At most `limit` suggestions, best first.",
            body = SuggestResponse),
        ApiError,
    ))]
pub async fn suggest_events(
    State(state): State<AppState>,
    query: Result<Query<Params>, QueryRejection>,
) -> ApiResult<Response> {
    let started = Instant::now();
    let (q, limit) = super::params::suggest_query(&query_pairs(query)?)?;
    let suggestions = state.search.suggest(&q, limit).await?;
    Ok(cacheable(SuggestResponse {
        q,
        suggestions,
        took_ms: millis(started),
    }))
}
