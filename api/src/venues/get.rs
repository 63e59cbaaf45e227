//! `GET /v1/venues/{id}`: a venue with its capacity and sections, from the
//! page cache.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::AppState;
use crate::cache::Loaded;
use crate::cache::response::{CachedAnswers, Conditional, Freshness, PageKind, serve};
use crate::ids::VenueId;

const VENUE_PAGE: PageKind = PageKind {
    kind: "venue",
    what: "venue",
    freshness: &Freshness::STATIC,
};

// The database builds this body (`VENUE_SQL`); the type names its members
// for the API description, and a test checks the two agree.
/// A venue page: the venue, its capacity and its sections.
#[derive(Debug, ToSchema)]
pub struct VenuePage {
    pub venue_id: i64,
    pub name: String,
    pub address: String,
    pub city: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "GB")]
    pub country: String,
    pub lat: f64,
    pub lon: f64,
    /// An IANA time zone name.
    #[schema(example = "Europe/London")]
    pub timezone: String,
    /// Seats in the seat map.
    pub capacity: i64,
    /// Best rank first.
    pub sections: Vec<VenuePageSection>,
}

/// A section on a venue page.
#[derive(Debug, ToSchema)]
pub struct VenuePageSection {
    pub section_id: i64,
    pub name: String,
    /// Lower is better.
    pub rank: i32,
}

/// A venue with its sections and capacity.
///
/// From the page cache, fresh for five minutes.
#[utoipa::path(get, path = "/v1/venues/{id}", tag = "venues",
    params(VenueId, Conditional),
    responses(
        (status = 200, description = "The venue.", body = VenuePage),
        CachedAnswers, VenueId,
    ))]
pub async fn get_venue(
    State(state): State<AppState>,
    VenueId(id): VenueId,
    headers: HeaderMap,
) -> Response {
    serve(&state, &VENUE_PAGE, id, &headers, load_venue).await
}

/// The venue page's JSON.
pub(crate) const VENUE_SQL: &str = r#"select json_build_object(
                'venue_id', v.venue_id, 'name', v.name, 'address', v.address, 'city', v.city,
                'country', v.country, 'lat', v.lat, 'lon', v.lon, 'timezone', v.timezone,
                'capacity', (select count(*) from venue_sections vs
                               join venue_rows r using (section_id)
                               join seats s using (row_id) where vs.venue_id = v.venue_id),
                'sections', coalesce((select json_agg(json_build_object('section_id', section_id,
                                               'name', name, 'rank', rank) order by rank, section_id)
                                        from venue_sections where venue_id = v.venue_id), '[]'::json)
            )::text
            from venues v where v.venue_id = $1"#;

async fn load_venue(pool: PgPool, id: i64) -> Result<Loaded, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(VENUE_SQL)
        .bind(id)
        .fetch_optional(&pool)
        .await?;
    Ok(row.map(|(json,)| (json.into_bytes(), vec![format!("venue:{id}")])))
}
