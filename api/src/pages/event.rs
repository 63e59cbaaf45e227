//! `GET /events/{id}`: the event page, from the same cache entry as
//! `GET /v1/events/{id}`. The seat map is drawn in the browser.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use problem::Problem;
use serde_json::Value;

use super::{
    BrokenPage, EVENT_CACHE, MalformedAddress, MissingPage, SaleState, UnavailablePage, error_page,
    instant, layout, money, page, text,
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
    let markup = layout(text(&e["title"]), event_article(id, &e, Utc::now()));
    page(markup, EVENT_CACHE, &keys)
}

/// The page's content: what the event is, when in the venue's time, where,
/// its sale state, its ticket types with prices, and the buy controls only
/// while a shopper can buy.
fn event_article(id: i64, e: &Value, now: DateTime<Utc>) -> Markup {
    let venue = &e["venue"];
    let zone = text(&venue["timezone"]);
    let map_link = format!(
        "https://www.openstreetmap.org/?mlat={}&mlon={}#map=16/{}/{}",
        venue["lat"], venue["lon"], venue["lat"], venue["lon"]
    );
    let tiers = e["ticket_types"].as_array().cloned().unwrap_or_default();
    let state = SaleState::of_event(e, now);
    let seated: Vec<&Value> = tiers
        .iter()
        .filter(|t| text(&t["kind"]) == "seated")
        .collect();
    let standing: Vec<&Value> = tiers
        .iter()
        .filter(|t| text(&t["kind"]) != "seated")
        .collect();
    html! {
        article #event data-event-id=(id) data-sale-state=(state.key()) data-timezone=(zone) {
            h1 #event-title { (text(&e["title"])) }
            (event_times(e, zone))
            p #event-venue {
                a #venue-link href={ "/venues/" (venue["venue_id"]) } { (text(&venue["name"])) }
                ", " (text(&venue["address"])) ", " (text(&venue["city"]))
                " · " a #map-link href=(map_link) rel="noopener" { "Map" }
            }
            p #sale-state .badge data-state=(state.key()) { (state.label(zone)) }
            @if let Some(performers) = e["performers"].as_array() {
                h2 { "Performers" }
                ul #performers {
                    @for p in performers {
                        li { a.performer-link href={ "/performers/" (p["performer_id"]) } { (text(&p["name"])) } }
                    }
                }
            }
            p.description { (text(&e["description"])) }
            h2 { "Tickets" }
            ul #ticket-types {
                @for t in &tiers { (ticket_type_line(t)) }
            }
            @if state == SaleState::OnSale {
                @if !seated.is_empty() { (seat_picker(id, &seated)) }
                @if !standing.is_empty() { (standing_picker(&standing)) }
                p #hold-error role="alert" {}
            }
        }
    }
}

/// When, in the venue's time: the start with its zone, the doors and the
/// end.
fn event_times(e: &Value, zone: &str) -> Markup {
    let starts = instant(&e["starts_at"]).map(|t| l10n::local(t, zone));
    let doors = instant(&e["doors_at"]).map(|t| l10n::local(t, zone));
    let ends = instant(&e["ends_at"]).map(|t| l10n::local(t, zone));
    html! {
        @if let Some(starts) = starts {
            p #event-when {
                time datetime=(starts.machine) { (starts.full()) }
                @if let Some(doors) = &doors { " · Doors " time #event-doors datetime=(doors.machine) { (doors.time) } }
                @if let Some(ends) = &ends { " · Ends " time #event-ends datetime=(ends.machine) { (ends.time) } }
            }
        }
    }
}

fn ticket_type_line(t: &Value) -> Markup {
    let left = t["available"].as_i64().unwrap_or(0);
    html! {
        li data-ticket-type-id=(t["ticket_type_id"]) data-kind=(text(&t["kind"])) {
            span.tier-swatch data-tier=(t["ticket_type_id"]) {}
            span.tier-name { (text(&t["name"])) }
            " · " span.price { (money(t["price_cents"].as_i64().unwrap_or(0), text(&t["currency"]))) }
            " · "
            @if left > 0 { span.left { (left) " left" } } @else { strong.sold-out { "Sold out" } }
        }
    }
}

/// The seat map and best available, for seated ticket types.
fn seat_picker(id: i64, seated: &[&Value]) -> Markup {
    html! {
        section #booking aria-labelledby="choose-h" {
            h2 #choose-h { "Choose your seats" }
            a.skip-link href="#best" { "Skip the seat map: let us pick the best available seats" }
            p.hint { "Choose a section on the map to see its seats, then click the seats you want. With a keyboard: Tab to a section and press Enter, then use the arrow keys and Enter." }
            div #seat-map data-event-id=(id) role="group" aria-label="Seat map" { p.loading { "Loading the seat map…" } }
            div #your-seats {
                h3 { "Your seats" }
                p #selection aria-live="polite" { "0 seats selected" }
                ul #chosen {}
                p #chosen-total {}
                button #hold-selected type="button" disabled { "Hold selected seats" }
            }
            div #best .best {
                label for="best-tier" { "Ticket type" }
                select #best-tier {
                    @for t in seated {
                        option value=(t["ticket_type_id"]) data-kind="seated" disabled[t["available"].as_i64().unwrap_or(0) <= 0] {
                            (text(&t["name"])) " · " (money(t["price_cents"].as_i64().unwrap_or(0), text(&t["currency"])))
                        }
                    }
                }
                label for="best-quantity" { "Seats" }
                input #best-quantity type="number" min="1" max="8" value="2" inputmode="numeric";
                label.check for="best-accessible" {
                    input #best-accessible type="checkbox";
                    " Include a wheelchair space (the other seats beside it)"
                }
                button #hold-best type="button" { "Hold best available" }
            }
        }
    }
}

/// A quantity and "Get tickets" per general-admission ticket type: no map.
fn standing_picker(standing: &[&Value]) -> Markup {
    html! {
        section #general-admission aria-labelledby="ga-h" {
            h2 #ga-h { "Standing and general admission" }
            @for t in standing {
                @let tid = t["ticket_type_id"].as_i64().unwrap_or(0);
                @let left = t["available"].as_i64().unwrap_or(0);
                form.ga-form data-ticket-type-id=(tid) {
                    h3 { (text(&t["name"])) " · " (money(t["price_cents"].as_i64().unwrap_or(0), text(&t["currency"]))) }
                    @if left > 0 {
                        label for={ "ga-quantity-" (tid) } { "Tickets" }
                        select id={ "ga-quantity-" (tid) } name="quantity" {
                            @for n in 1..=left.min(8) { option value=(n) selected[n == 2.min(left)] { (n) } }
                        }
                        button.get-tickets type="submit" { "Get tickets" }
                    } @else {
                        p { strong { "Sold out" } }
                    }
                }
            }
        }
    }
}
