//! `GET /v1/performers/{id}`: a performer with their next 50 scheduled
//! events, from the page cache.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use sqlx::PgPool;

use crate::AppState;
use crate::cache::Loaded;
use crate::cache::response::{Freshness, PageKind, serve};
use crate::ids::PerformerId;

const PERFORMER_PAGE: PageKind = PageKind {
    kind: "performer",
    what: "performer",
    freshness: &Freshness::STATIC,
};

/// `GET /v1/performers/{id}`.
pub async fn get_performer(
    State(state): State<AppState>,
    PerformerId(id): PerformerId,
    headers: HeaderMap,
) -> Response {
    serve(&state, &PERFORMER_PAGE, id, &headers, load_performer).await
}

async fn load_performer(pool: PgPool, id: i64) -> Result<Loaded, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        r#"select json_build_object(
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
            from performers p where p.performer_id = $1"#,
    )
    .bind(id)
    .fetch_optional(&pool)
    .await?;
    Ok(row.map(|(json,)| (json.into_bytes(), vec![format!("performer:{id}")])))
}
