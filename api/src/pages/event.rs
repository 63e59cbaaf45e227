//! `GET /events/{id}`: the event page, from the same cache entry as
//! `GET /v1/events/{id}`. The seat map is drawn in the browser.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use problem::Problem;
use serde_json::Value;

use super::{
    BrokenPage, EVENT_CACHE, MalformedAddress, MissingPage, UnavailablePage, error_page, layout,
    money, page, text, when,
};
use crate::AppState;
use crate::cache::Lookup;
use crate::events::get;
use crate::ids::EventId;

/// The event's JSON page (the same cache entry `GET /v1/events/{id}` uses)
/// and its surrogate keys, or the error page to answer instead.
async fn event_json(state: &AppState, id: i64) -> Result<(Value, Vec<String>), Response> {
    let pool = state.ctx.pool.clone();
    let lookup = state
        .pages
        .get(
            &format!("{}:{id}", get::EVENT_PAGE.kind),
            get::EVENT_PAGE.freshness.fresh_for,
            || get::load_event(pool, id),
        )
        .await;
    match lookup {
        Lookup::Found(page, _) => serde_json::from_slice(&page.body)
            .map(|v| (v, page.keys.clone()))
            .map_err(|_| error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")),
        Lookup::NotFound => Err(error_page(StatusCode::NOT_FOUND, "No such event")),
        Lookup::Unavailable(_) => Err(error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The catalog is temporarily unavailable; try again shortly",
        )),
    }
}

/// The event page.
///
/// From the same cache entry as `GET /v1/events/{id}`; the seat map is
/// drawn in the browser from `GET /v1/events/{id}/seats`.
#[utoipa::path(get, path = "/events/{id}", tag = "pages",
    params(EventId),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        MalformedAddress, MissingPage, UnavailablePage, BrokenPage,
    ))]
pub async fn event_page(State(state): State<AppState>, id: Result<EventId, Problem>) -> Response {
    let Ok(EventId(id)) = id else {
        return error_page(StatusCode::BAD_REQUEST, "That is not an event address");
    };
    let (e, keys) = match event_json(&state, id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let venue = &e["venue"];
    let map_link = format!(
        "https://www.openstreetmap.org/?mlat={}&mlon={}#map=16/{}/{}",
        venue["lat"], venue["lon"], venue["lat"], venue["lon"]
    );
    let tiers = e["ticket_types"].as_array().cloned().unwrap_or_default();
    let on_sale = text(&e["status"]) == "scheduled";
    let markup = layout(
        text(&e["title"]),
        html! {
            article #event data-event-id=(id) {
                h1 #event-title { (text(&e["title"])) }
                @if !on_sale { p.status { "This event is " (text(&e["status"])) "." } }
                p #event-when { (when(&e["starts_at"])) }
                p #event-venue {
                    (text(&venue["name"])) ", " (text(&venue["address"])) ", " (text(&venue["city"]))
                    " · " a #map-link href=(map_link) rel="noopener" { "Map" }
                }
                @if let Some(performers) = e["performers"].as_array() {
                    h2 { "Performers" }
                    ul #performers {
                        @for p in performers { li { (text(&p["name"])) } }
                    }
                }
                p.description { (text(&e["description"])) }
                h2 { "Tickets" }
                ul #ticket-types {
                    @for t in &tiers {
                        li data-ticket-type-id=(t["ticket_type_id"]) data-kind=(text(&t["kind"])) {
                            span.tier-swatch data-tier=(t["ticket_type_id"]) {}
                            (text(&t["name"])) " · " (money(t["price_cents"].as_i64().unwrap_or(0), text(&t["currency"])))
                            " · " (t["available"]) " left"
                        }
                    }
                }
                @if on_sale {
                    section #booking aria-label="Choose seats" {
                        h2 { "Choose your seats" }
                        p.hint { "Click seats on the map, or use Tab and press Enter or Space to select. Or let us pick the best available." }
                        div #seat-map data-event-id=(id) role="group" aria-label="Seat map" { p.loading { "Loading the seat map…" } }
                        p #selection aria-live="polite" { "0 seats selected" }
                        button #hold-selected type="button" disabled { "Hold selected seats" }
                        div.best {
                            label for="best-tier" { "Ticket type" }
                            select #best-tier {
                                @for t in &tiers {
                                    option value=(t["ticket_type_id"]) data-kind=(text(&t["kind"])) { (text(&t["name"])) }
                                }
                            }
                            label for="best-quantity" { "Quantity" }
                            input #best-quantity type="number" min="1" max="8" value="2";
                            button #hold-best type="button" { "Hold best available" }
                        }
                        p #hold-error role="alert" {}
                    }
                }
            }
        },
    );
    page(markup, EVENT_CACHE, &keys)
}
