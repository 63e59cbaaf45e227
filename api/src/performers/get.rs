//! `GET /v1/performers/{id}`: a performer with their next 50 scheduled
//! events, from the page cache.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::AppState;
use crate::cache::Loaded;
use crate::cache::response::{CachedAnswers, Conditional, Freshness, PageKind, serve};
use crate::ids::PerformerId;

const PERFORMER_PAGE: PageKind = PageKind {
    kind: "performer",
    what: "performer",
    freshness: &Freshness::STATIC,
};

// The database builds this body (`PERFORMER_SQL`); the type names its
// members for the API description, and a test checks the two agree.
/// A performer page: the performer and their next scheduled events.
#[derive(Debug, ToSchema)]
pub struct PerformerPage {
    pub performer_id: i64,
    pub name: String,
    pub genre: String,
    pub description: String,
    #[schema(format = "uri")]
    pub image_url: Option<String>,
    /// Up to 50, soonest first.
    pub upcoming_events: Vec<PerformerEvent>,
}

/// One of a performer's upcoming events.
#[derive(Debug, ToSchema)]
pub struct PerformerEvent {
    pub event_id: i64,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub venue_id: i64,
    /// The venue's name.
    pub venue: String,
    pub city: String,
}

/// A performer with up to 50 upcoming events.
///
/// From the page cache, fresh for five minutes.
#[utoipa::path(get, path = "/v1/performers/{id}", tag = "performers",
    params(PerformerId, Conditional),
    responses(
        (status = 200, description = "The performer.", body = PerformerPage),
        CachedAnswers, PerformerId,
    ))]
pub async fn get_performer(
    State(state): State<AppState>,
    PerformerId(id): PerformerId,
    headers: HeaderMap,
) -> Response {
    serve(&state, &PERFORMER_PAGE, id, &headers, load_performer).await
}

/// The performer page's JSON.
pub(crate) const PERFORMER_SQL: &str = r#"select json_build_object(
                'performer_id', p.performer_id, 'name', p.name, 'genre', p.genre,
                'description', p.description, 'image_url', p.image_url,
                'upcoming_events', coalesce((
                    select json_agg(json_build_object('event_id', e.event_id, 'title', e.title,
                                                      'starts_at', e.starts_at, 'venue_id', v.venue_id,
                                                      'venue', v.name, 'city', v.city)
                                    order by e.starts_at, e.event_id)
                      from (select e.* from events e join event_performers ep using (event_id)
                             where ep.performer_id = p.performer_id and e.status = 'scheduled'
                               and e.starts_at > now()
                             order by e.starts_at, e.event_id limit 50) e
                      join venues v using (venue_id)), '[]'::json)
            )::text
            from performers p where p.performer_id = $1"#;

async fn load_performer(pool: PgPool, id: i64) -> Result<Loaded, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(PERFORMER_SQL)
        .bind(id)
        .fetch_optional(&pool)
        .await?;
    Ok(row.map(|(json,)| (json.into_bytes(), vec![format!("performer:{id}")])))
}
