//! `GET /v1/events/suggest`: typed autocomplete suggestions.

use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use search::Suggestion;
use serde::Serialize;

use super::{Params, cacheable, millis, query_pairs};
use crate::AppState;
use crate::error::ApiResult;

#[derive(Debug, Serialize)]
struct SuggestResponse {
    q: String,
    suggestions: Vec<Suggestion>,
    took_ms: f64,
}

/// `GET /v1/events/suggest`.
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
