//! `GET /venues/{id}`: a venue's page, from the same cache entry as
//! `GET /v1/venues/{id}`, with its upcoming events as the same cards as a
//! performer's page ([`super::performer`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use maud::html;
use problem::Problem;
use sqlx::PgPool;

use super::performer::{Of, cached_json, event_cards, keys, unavailable, upcoming};
use super::{
    BrokenPage, LIST_CACHE, MalformedAddress, MissingPage, UnavailablePage, error_page, layout,
    page, text,
};
use crate::AppState;
use crate::cache::Loaded;
use crate::ids::VenueId;
use crate::venues::get::VENUE_SQL;

/// The venue's JSON, as `GET /v1/venues/{id}` loads it (same cache key,
/// same surrogate key).
async fn load_venue(pool: PgPool, id: i64) -> Result<Loaded, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(VENUE_SQL)
        .bind(id)
        .fetch_optional(&pool)
        .await?;
    Ok(row.map(|(json,)| (json.into_bytes(), vec![format!("venue:{id}")])))
}

/// "50,000": digits in groups of three.
fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A venue's page.
///
/// The venue (from the same cache entry as `GET /v1/venues/{id}`): its
/// address with a map link, its seated capacity, and its next 50 scheduled
/// events, soonest first, in the venue's local time.
#[utoipa::path(get, path = "/venues/{id}", tag = "pages",
    params(VenueId),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        MalformedAddress, MissingPage, UnavailablePage, BrokenPage,
    ))]
pub async fn venue_page(State(state): State<AppState>, id: Result<VenueId, Problem>) -> Response {
    let Ok(VenueId(id)) = id else {
        return error_page(StatusCode::BAD_REQUEST, "That is not a venue address");
    };
    let pool = state.ctx.pool.clone();
    let v = match cached_json(&state, &format!("venue:{id}"), "No such venue", || {
        load_venue(pool, id)
    })
    .await
    {
        Ok(v) => v,
        Err(response) => return response,
    };
    let Ok(events) = upcoming(&state.ctx.pool, Of::Venue(id)).await else {
        return unavailable();
    };
    let name = text(&v["name"]);
    let map_link = format!(
        "https://www.openstreetmap.org/?mlat={}&mlon={}#map=16/{}/{}",
        v["lat"], v["lon"], v["lat"], v["lon"]
    );
    let capacity = v["capacity"].as_i64().filter(|c| *c > 0);
    let markup = layout(
        name,
        html! {
            article #venue data-venue-id=(id) data-timezone=(text(&v["timezone"])) {
                h1 #venue-name { (name) }
                p #venue-address {
                    (text(&v["address"])) ", " (text(&v["city"]))
                    " · " a #map-link href=(map_link) rel="noopener" { "Map" }
                }
                @if let Some(capacity) = capacity {
                    p #venue-capacity { "Capacity " (grouped(capacity)) " seats" }
                }
                section #upcoming aria-labelledby="upcoming-h" {
                    h2 #upcoming-h { "Upcoming events" }
                    (event_cards(&events, Utc::now()))
                }
            }
        },
    );
    page(markup, LIST_CACHE, &keys(format!("venue:{id}"), &events))
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn capacities_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(50_000), "50,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(-1200), "-1,200");
    }
}
