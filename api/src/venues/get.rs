//! `GET /v1/venues/{id}`: a venue with its capacity and sections, from the
//! page cache.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use sqlx::PgPool;

use crate::AppState;
use crate::cache::Loaded;
use crate::cache::response::{Freshness, PageKind, serve};
use crate::ids::VenueId;

const VENUE_PAGE: PageKind = PageKind {
    kind: "venue",
    what: "venue",
    freshness: &Freshness::STATIC,
};

/// `GET /v1/venues/{id}`.
pub async fn get_venue(
    State(state): State<AppState>,
    VenueId(id): VenueId,
    headers: HeaderMap,
) -> Response {
    serve(&state, &VENUE_PAGE, id, &headers, load_venue).await
}

async fn load_venue(pool: PgPool, id: i64) -> Result<Loaded, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        r#"select json_build_object(
                'venue_id', v.venue_id, 'name', v.name, 'address', v.address, 'city', v.city,
                'country', v.country, 'lat', v.lat, 'lon', v.lon, 'timezone', v.timezone,
                'capacity', (select count(*) from venue_sections vs
                               join venue_rows r using (section_id)
                               join seats s using (row_id) where vs.venue_id = v.venue_id),
                'sections', coalesce((select json_agg(json_build_object('section_id', section_id,
                                               'name', name, 'rank', rank) order by rank, section_id)
                                        from venue_sections where venue_id = v.venue_id), '[]'::json)
            )::text
            from venues v where v.venue_id = $1"#,
    )
    .bind(id)
    .fetch_optional(&pool)
    .await?;
    Ok(row.map(|(json,)| (json.into_bytes(), vec![format!("venue:{id}")])))
}
