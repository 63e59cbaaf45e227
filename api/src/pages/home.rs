//! `GET /`: the home page, popular and upcoming events from the same cache
//! entries as `GET /v1/events`.

use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use serde_json::Value;

use super::{LIST_CACHE, layout, page, search_form, text, when};
use crate::AppState;
use crate::cache::Lookup;
use crate::cache::response::Freshness;
use crate::events::list;

fn event_list(events: &Value) -> Markup {
    html! {
        ul.events {
            @for e in events["events"].as_array().into_iter().flatten() {
                li {
                    a.event-link href={ "/events/" (e["event_id"]) } { (text(&e["title"])) }
                    span.meta { " · " (when(&e["starts_at"])) " · " (text(&e["venue"]["name"])) ", " (text(&e["venue"]["city"])) }
                }
            }
        }
    }
}

async fn list_json(state: &AppState, sort: &str) -> Value {
    let params = vec![
        ("sort".to_owned(), sort.to_owned()),
        ("limit".to_owned(), "12".to_owned()),
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
    let popular = list_json(&state, "popular").await;
    let upcoming = list_json(&state, "upcoming").await;
    let markup = layout(
        "Find events",
        html! {
            h1 { "Find your next event" }
            (search_form(""))
            section #popular aria-labelledby="popular-h" {
                h2 #popular-h { "Popular" }
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
