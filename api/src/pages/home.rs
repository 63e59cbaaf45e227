//! `GET /`: the home page, popular events on sale now and upcoming events,
//! from the same cache entries as `GET /v1/events`, as cards with the
//! local date, the venue, the "from" price and the sale state.

use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use maud::{Markup, html};
use serde_json::Value;

use super::{LIST_CACHE, SaleState, instant, layout, money, page, search_form, text, when};
use crate::AppState;
use crate::cache::Lookup;
use crate::cache::response::Freshness;
use crate::events::list;

pub(super) fn event_list(events: &Value) -> Markup {
    let now = Utc::now();
    html! {
        ul.events.cards {
            @for e in events["events"].as_array().into_iter().flatten() {
                @let zone = text(&e["venue"]["timezone"]);
                @let state = SaleState::of(
                    "scheduled",
                    instant(&e["starts_at"]),
                    (instant(&e["sale_starts_at"]), instant(&e["sale_ends_at"])),
                    false,
                    now,
                );
                li.card data-event-id=(e["event_id"]) {
                    a.event-link href={ "/events/" (e["event_id"]) } { (text(&e["title"])) }
                    p.meta {
                        (when(&e["starts_at"], zone)) br;
                        (text(&e["venue"]["name"])) ", " (text(&e["venue"]["city"]))
                    }
                    p.card-foot {
                        @if let (Some(from), Some(currency)) = (e["from_price_cents"].as_i64(), e["currency"].as_str()) {
                            span.from { "From " (money(from, currency)) }
                        }
                        span.badge data-state=(state.key()) { (state.label(zone)) }
                    }
                }
            }
        }
    }
}

pub(super) async fn list_json(state: &AppState, sort: &str, on_sale: bool) -> Value {
    let params = vec![
        ("sort".to_owned(), sort.to_owned()),
        ("limit".to_owned(), "12".to_owned()),
        ("on_sale".to_owned(), on_sale.to_string()),
    ];
    let Ok(q) = list::parse(&params) else {
        return Value::Null;
    };
    let pool = state.ctx.pool.clone();
    let key = q.key();
    match state
        .pages
        .get(&key, Freshness::LIST.fresh_for, || list::load(pool, q))
        .await
    {
        Lookup::Found(page, _) => serde_json::from_slice(&page.body).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// The home page.
///
/// Popular and upcoming events, from the same cache entries as
/// `GET /v1/events`.
#[utoipa::path(get, path = "/", tag = "pages",
    responses((status = 200, description = "The page.", content_type = "text/html", body = String)))]
pub async fn home_page(State(state): State<AppState>) -> Response {
    // Popular lists what a shopper can buy now; coming up lists every
    // scheduled event, each with its sale state.
    let popular = list_json(&state, "popular", true).await;
    let upcoming = list_json(&state, "upcoming", false).await;
    let markup = layout(
        "Find events",
        html! {
            h1 { "Find your next event" }
            (search_form(""))
            section #popular aria-labelledby="popular-h" {
                h2 #popular-h { "Popular, on sale now" }
                (event_list(&popular))
            }
            section #upcoming aria-labelledby="upcoming-h" {
                h2 #upcoming-h { "Coming up" }
                (event_list(&upcoming))
            }
        },
    );
    page(markup, LIST_CACHE, &[])
}
