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

/// Fills in each event suggestion's venue time zone, so a client shows the
/// venue's local date: from memory ([`search::suggest::EventZones`]), and
/// the events not there yet in one query of at most ten primary keys.
async fn with_time_zones(
    pool: &sqlx::PgPool,
    zones: &::search::suggest::EventZones,
    suggestions: &mut [Suggestion],
) -> Result<(), sqlx::Error> {
    let events = |s: &&mut Suggestion| s.kind == search::SuggestionKind::Event;
    let missing: Vec<i64> = suggestions
        .iter()
        .filter(|s| s.kind == search::SuggestionKind::Event)
        .filter_map(|s| s.id)
        .filter(|id| !zones.contains_key(id))
        .collect();
    if !missing.is_empty() {
        let found: Vec<(i64, String)> = sqlx::query_as(
            "select e.event_id, v.timezone from events e join venues v using (venue_id)
              where e.event_id = any($1)",
        )
        .bind(&missing)
        .fetch_all(pool)
        .await?;
        for (id, zone) in found {
            zones.insert(id, zone.into());
        }
    }
    for s in suggestions.iter_mut().filter(events) {
        s.timezone = s.id.and_then(|id| zones.get(&id)).map(|z| z.to_string());
    }
    Ok(())
}

/// Autocomplete.
///
/// Typed suggestions (events, performers, venues, cities) for what was
/// typed so far; tolerates typos. An event suggestion says when it starts,
/// in which city, and the venue's time zone to show the date in. Cached
/// like search.
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
    let mut suggestions = state.search.suggest(&q, limit).await?;
    with_time_zones(&state.ctx.pool, &state.event_zones, &mut suggestions).await?;
    Ok(cacheable(SuggestResponse {
        q,
        suggestions,
        took_ms: millis(started),
    }))
}
