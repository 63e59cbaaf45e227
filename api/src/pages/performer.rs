//! `GET /performers/{id}`: a performer's page, from the same cache entry as
//! `GET /v1/performers/{id}`, with their upcoming events as cards (the
//! local date, the venue, the "from" price and the sale state) read from
//! Postgres. The venue page ([`super::venue`]) lists its events with the
//! same cards.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use problem::Problem;
use serde_json::Value;
use sqlx::PgPool;

use super::{
    BrokenPage, LIST_CACHE, MalformedAddress, MissingPage, SaleState, UnavailablePage, error_page,
    layout, money, page, picture, text,
};
use crate::AppState;
use crate::cache::response::Freshness;
use crate::cache::{Loaded, Lookup};
use crate::ids::PerformerId;
use crate::performers::get::PERFORMER_SQL;

/// The answer while the catalog database is down.
pub(super) fn unavailable() -> Response {
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The catalog is temporarily unavailable; try again shortly",
    )
}

/// A cached JSON page under `key` (the entry its `/v1` route serves), or
/// the error page to answer instead; `missing` names what is not there.
pub(super) async fn cached_json<F, Fut>(
    state: &AppState,
    key: &str,
    missing: &str,
    load: F,
) -> Result<Value, Response>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Loaded, sqlx::Error>>,
{
    match state
        .pages
        .get(key, Freshness::STATIC.fresh_for, load)
        .await
    {
        Lookup::Found(page, _) => serde_json::from_slice(&page.body)
            .map_err(|_| error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")),
        Lookup::NotFound => Err(error_page(StatusCode::NOT_FOUND, missing)),
        Lookup::Unavailable(_) => Err(unavailable()),
    }
}

/// The performer's JSON, as `GET /v1/performers/{id}` loads it (same
/// cache key, same surrogate key).
async fn load_performer(pool: PgPool, id: i64) -> Result<Loaded, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(PERFORMER_SQL)
        .bind(id)
        .fetch_optional(&pool)
        .await?;
    Ok(row.map(|(json,)| (json.into_bytes(), vec![format!("performer:{id}")])))
}

/// One upcoming event on a card.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct Upcoming {
    event_id: i64,
    title: String,
    starts_at: DateTime<Utc>,
    sale_starts_at: Option<DateTime<Utc>>,
    sale_ends_at: Option<DateTime<Utc>>,
    venue_id: i64,
    venue: String,
    city: String,
    timezone: String,
    from_price_cents: Option<i64>,
    currency: Option<String>,
}

/// Whose upcoming events.
#[derive(Debug, Clone, Copy)]
pub(super) enum Of {
    Performer(i64),
    Venue(i64),
}

/// The next 50 scheduled events of a performer or at a venue, soonest
/// first, with their venue and cheapest ticket type.
pub(super) async fn upcoming(pool: &PgPool, of: Of) -> Result<Vec<Upcoming>, sqlx::Error> {
    let (filter, id) = match of {
        Of::Performer(id) => (
            "exists (select 1 from event_performers ep
                      where ep.event_id = e.event_id and ep.performer_id = $1)",
            id,
        ),
        Of::Venue(id) => ("e.venue_id = $1", id),
    };
    sqlx::query_as(&format!(
        "select e.event_id, e.title, e.starts_at, e.sale_starts_at, e.sale_ends_at,
                v.venue_id, v.name as venue, v.city, v.timezone,
                p.price_cents as from_price_cents, p.currency
           from events e join venues v on v.venue_id = e.venue_id
           left join lateral (select t.price_cents, t.currency from ticket_types t
                               where t.event_id = e.event_id
                               order by t.price_cents, t.ticket_type_id limit 1) p on true
          where {filter} and e.status = 'scheduled' and e.starts_at > now()
          order by e.starts_at, e.event_id
          limit 50"
    ))
    .bind(id)
    .fetch_all(pool)
    .await
}

/// The page's surrogate keys: its own, `events` (as the lists have), and
/// each listed event's and venue's, so a change to one of them (the
/// indexer names the event) evicts the page too.
pub(super) fn keys(own: String, events: &[Upcoming]) -> Vec<String> {
    let mut keys = vec![own, "events".to_owned()];
    for e in events {
        keys.push(format!("event:{}", e.event_id));
        let venue = format!("venue:{}", e.venue_id);
        if !keys.contains(&venue) {
            keys.push(venue);
        }
    }
    keys
}

/// The cards, as the home page draws them, or a line saying there are
/// none.
pub(super) fn event_cards(events: &[Upcoming], now: DateTime<Utc>) -> Markup {
    html! {
        @if events.is_empty() {
            p.empty { "No upcoming events right now." }
        } @else {
            ul.events.cards {
                @for e in events {
                    @let zone = e.timezone.as_str();
                    @let starts = l10n::local(e.starts_at, zone);
                    @let state = SaleState::of(
                        "scheduled",
                        Some(e.starts_at),
                        (e.sale_starts_at, e.sale_ends_at),
                        false,
                        now,
                    );
                    li.card data-event-id=(e.event_id) data-venue-id=(e.venue_id) {
                        (picture::event_picture(e.event_id))
                        a.event-link href={ "/events/" (e.event_id) } { (e.title) }
                        p.meta {
                            time.when datetime=(starts.machine) { (starts.full()) } br;
                            span.where { (e.venue) ", " (e.city) }
                        }
                        p.card-foot {
                            @if let (Some(from), Some(currency)) = (e.from_price_cents, e.currency.as_deref()) {
                                span.from { "From " (money(from, currency)) }
                            }
                            span.badge data-state=(state.key()) { (state.label(zone)) }
                        }
                    }
                }
            }
        }
    }
}

/// A performer's page.
///
/// The performer (from the same cache entry as `GET /v1/performers/{id}`)
/// and their next 50 scheduled events, soonest first, with the local date,
/// the venue, the "from" price and the sale state.
#[utoipa::path(get, path = "/performers/{id}", tag = "pages",
    params(PerformerId),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        MalformedAddress, MissingPage, UnavailablePage, BrokenPage,
    ))]
pub async fn performer_page(
    State(state): State<AppState>,
    id: Result<PerformerId, Problem>,
) -> Response {
    let Ok(PerformerId(id)) = id else {
        return error_page(StatusCode::BAD_REQUEST, "That is not a performer address");
    };
    let pool = state.ctx.pool.clone();
    let p = match cached_json(
        &state,
        &format!("performer:{id}"),
        "No such performer",
        || load_performer(pool, id),
    )
    .await
    {
        Ok(p) => p,
        Err(response) => return response,
    };
    let Ok(events) = upcoming(&state.ctx.pool, Of::Performer(id)).await else {
        return unavailable();
    };
    let name = text(&p["name"]);
    let markup = layout(
        name,
        html! {
            article #performer data-performer-id=(id) {
                (picture::performer_picture(id))
                h1 #performer-name { (name) }
                @if !text(&p["genre"]).is_empty() {
                    p #performer-genre .genre { "Genre: " (text(&p["genre"])) }
                }
                p.description { (text(&p["description"])) }
                section #upcoming aria-labelledby="upcoming-h" {
                    h2 #upcoming-h { "Upcoming events" }
                    (event_cards(&events, Utc::now()))
                }
            }
        },
    );
    page(
        markup,
        LIST_CACHE,
        &keys(format!("performer:{id}"), &events),
    )
}
