//! `GET /`: the home page, popular events on sale now and upcoming events,
//! from the same cache entries as `GET /v1/events`, as cards with the
//! local date, the venue, the "from" price and the sale state.

use axum::extract::State;
use axum::response::Response;
use chrono::{Datelike, Days, NaiveDate, Utc, Weekday};
use maud::{Markup, html};
use serde_json::Value;

use super::{
    LIST_CACHE, SaleState, instant, layout, money, page, picture, search_form, text, when,
};
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
                    @if let Some(id) = e["event_id"].as_i64() { (picture::event_picture(id)) }
                    a.event-link href={ "/events/" (e["event_id"]) } { (text(&e["title"])) }
                    p.meta {
                        span.when { (when(&e["starts_at"], zone)) } br;
                        span.where { (text(&e["venue"]["name"])) ", " (text(&e["venue"]["city"])) }
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

/// The categories of the catalog, as the home page links them: the value
/// the search takes and a label.
pub const CATEGORY_LINKS: [(&str, &str); 5] = [
    ("concert", "Concerts"),
    ("sports", "Sports"),
    ("theatre", "Theatre"),
    ("comedy", "Comedy"),
    ("family", "Family"),
];

/// The coming weekend's Friday and Sunday: this one from Friday to Sunday,
/// else the next. The page's link carries these days (read by the search
/// as UTC days); app.js replaces them with the shopper's own Friday 00:00
/// to Sunday 23:59:59 in the browser's zone.
pub fn weekend(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let from_monday = today.weekday().num_days_from_monday();
    let friday = Weekday::Fri.num_days_from_monday();
    let friday = if from_monday >= friday {
        today - Days::new(u64::from(from_monday - friday))
    } else {
        today + Days::new(u64::from(friday - from_monday))
    };
    (friday, friday + Days::new(2))
}

/// Category links, "This weekend" and "Near me" (shown by app.js where the
/// browser can locate the shopper).
fn browse(today: NaiveDate) -> Markup {
    let (friday, sunday) = weekend(today);
    html! {
        nav #browse aria-labelledby="browse-h" {
            h2 #browse-h { "Browse" }
            ul.categories {
                @for (value, label) in CATEGORY_LINKS {
                    li { a.category href={ "/search?category=" (value) } data-category=(value) { (label) } }
                }
            }
            ul.quick-links {
                li {
                    a #this-weekend href={ "/search?start=" (friday) "&end=" (sunday) "&when=weekend&sort=date" } {
                        "This weekend"
                    }
                }
                li { button #near-me .secondary type="button" hidden { "Events near me" } }
            }
            p #near-me-status role="status" {}
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
            (browse(Utc::now().date_naive()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    #[test]
    fn the_weekend_is_this_one_from_friday_and_else_the_next() {
        // 2026-12-07 is a Monday.
        let next = (day("2026-12-11"), day("2026-12-13"));
        for today in [
            "2026-12-07",
            "2026-12-10",
            "2026-12-11",
            "2026-12-12",
            "2026-12-13",
        ] {
            assert_eq!(weekend(day(today)), next, "{today}");
        }
        assert_eq!(
            weekend(day("2026-12-14")),
            (day("2026-12-18"), day("2026-12-20"))
        );
    }

    #[test]
    fn category_links_name_every_category_the_catalog_has() {
        let values: Vec<&str> = CATEGORY_LINKS.iter().map(|(v, _)| *v).collect();
        assert_eq!(values, crate::events::input::CATEGORIES);
    }
}
