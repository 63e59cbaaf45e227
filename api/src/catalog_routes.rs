//! Public catalog pages: `GET /v1/events/{id}`, `/v1/venues/{id}` and
//! `/v1/performers/{id}`, served through [`PageCache`] with HTTP caching
//! headers a CDN understands.
//!
//! Nothing here is user-specific, so every answer is `public`.
#![allow(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use problem::Problem;
use sqlx::PgPool;

use crate::AppState;
use crate::page_cache::{Loaded, Lookup, Source};

/// How long a kind of page stays fresh in the cache, and its Cache-Control.
struct Freshness {
    fresh_for: Duration,
    cache_control: &'static str,
}

/// Event pages carry availability: fresh for about a second.
const EVENT: Freshness = Freshness {
    fresh_for: Duration::from_secs(1),
    cache_control: "public, max-age=1, s-maxage=1, stale-while-revalidate=30, stale-if-error=600",
};
/// Lists of events: a few seconds.
const LIST: Freshness = Freshness {
    fresh_for: Duration::from_secs(5),
    cache_control: "public, max-age=5, s-maxage=5, stale-while-revalidate=30, stale-if-error=600",
};
/// Venues and performers change rarely.
const STATIC: Freshness = Freshness {
    fresh_for: Duration::from_secs(300),
    cache_control: "public, max-age=60, s-maxage=300, stale-while-revalidate=600, stale-if-error=86400",
};

fn parse_id(raw: &str) -> Result<i64, Problem> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        Problem::invalid_field("id", format!("{raw:?} is not a positive integer id"))
    })
}

fn respond(lookup: Lookup, freshness: &Freshness, what: &str, headers: &HeaderMap) -> Response {
    let (page, source) = match lookup {
        Lookup::Found(page, source) => (page, source),
        Lookup::NotFound => return Problem::not_found(format!("no such {what}")).into_response(),
        Lookup::Unavailable(detail) => {
            tracing::warn!(%detail, "page unavailable: the database failed and nothing is cached");
            return Problem::unavailable(
                "the catalog is temporarily unavailable; try again shortly",
            )
            .into_response();
        }
    };
    let mut out_headers = HeaderMap::new();
    out_headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(freshness.cache_control),
    );
    if let Ok(v) = HeaderValue::from_str(&page.etag) {
        out_headers.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&page.keys.join(" ")) {
        out_headers.insert("surrogate-key", v);
    }
    if let Ok(v) = HeaderValue::from_str(&page.keys.join(",")) {
        out_headers.insert("cache-tag", v);
    }
    let source_name = match source {
        Source::Memory => "memory",
        Source::Redis => "redis",
        Source::Database => "database",
        Source::Stale => "stale",
    };
    out_headers.insert("x-cache", HeaderValue::from_static(source_name));
    let not_modified = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == page.etag || tag.trim() == "*");
    if not_modified {
        return (StatusCode::NOT_MODIFIED, out_headers).into_response();
    }
    out_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (StatusCode::OK, out_headers, page.body.clone()).into_response()
}

/// One page: parse the id, then the cache under `<kind>:<id>` (loading with
/// `load` on a miss); a missing one is "no such `what`".
async fn serve<F, Fut>(
    state: AppState,
    raw: &str,
    headers: &HeaderMap,
    kind: &str,
    what: &str,
    freshness: &Freshness,
    load: F,
) -> Result<Response, Problem>
where
    F: FnOnce(PgPool, i64) -> Fut,
    Fut: std::future::Future<Output = Result<Loaded, sqlx::Error>>,
{
    let id = parse_id(raw)?;
    let pool = state.ctx.pool.clone();
    let lookup = state
        .pages
        .get(&format!("{kind}:{id}"), freshness.fresh_for, || {
            load(pool, id)
        })
        .await;
    Ok(respond(lookup, freshness, what, headers))
}

pub(crate) async fn load_event(pool: PgPool, id: i64) -> Result<Loaded, sqlx::Error> {
    let row: Option<(String, Vec<String>)> = sqlx::query_as(EVENT_SQL)
        .bind(id)
        .fetch_optional(&pool)
        .await?;
    Ok(row.map(|(json, keys)| (json.into_bytes(), keys)))
}

/// The event, its venue, performers and ticket types with availability.
/// Drafts are not public.
const EVENT_SQL: &str = r#"
with e as (select * from events where event_id = $1 and status <> 'draft'),
tiers as (
    select t.ticket_type_id, t.name, t.kind, t.price_cents, t.currency,
           case when t.kind = 'general_admission'
                then (select g.capacity - g.held - g.sold from ga_inventory g
                       where g.ticket_type_id = t.ticket_type_id)
                else coalesce(
                    (select count(*) filter (where s.status = 'available'
                                               or (s.status = 'held' and s.held_until <= now()))
                       from event_seats s
                      where s.event_id = t.event_id and s.ticket_type_id = t.ticket_type_id
                     having count(*) > 0),
                    (select count(*) from ticket_type_sections tts
                       join venue_rows r on r.section_id = tts.section_id
                       join seats st on st.row_id = r.row_id
                      where tts.ticket_type_id = t.ticket_type_id))
           end as available
    from ticket_types t where t.event_id = $1
)
select json_build_object(
    'event_id', e.event_id, 'title', e.title, 'description', e.description,
    'category', e.category, 'genre', e.genre, 'status', e.status,
    'starts_at', e.starts_at, 'ends_at', e.ends_at,
    'sale_starts_at', e.sale_starts_at, 'sale_ends_at', e.sale_ends_at,
    'popularity', e.popularity,
    'venue', json_build_object('venue_id', v.venue_id, 'name', v.name, 'address', v.address,
                               'city', v.city, 'country', v.country, 'lat', v.lat, 'lon', v.lon,
                               'timezone', v.timezone),
    'performers', coalesce((
        select json_agg(json_build_object('performer_id', p.performer_id, 'name', p.name,
                                          'genre', p.genre, 'billing', ep.billing)
                        order by ep.billing, p.performer_id)
          from event_performers ep join performers p using (performer_id)
         where ep.event_id = e.event_id), '[]'::json),
    'ticket_types', coalesce((
        select json_agg(json_build_object('ticket_type_id', ticket_type_id, 'name', name, 'kind', kind,
                                          'price_cents', price_cents, 'currency', currency,
                                          'available', available)
                        order by price_cents desc, ticket_type_id)
          from tiers), '[]'::json),
    'availability', json_build_object(
        'available_tickets', coalesce((select sum(available) from tiers), 0),
        'sold_out', coalesce((select sum(available) from tiers), 0) <= 0)
)::text,
array['event:' || e.event_id, 'venue:' || v.venue_id]
    || array(select 'performer:' || performer_id from event_performers
              where event_id = e.event_id order by performer_id)
from e join venues v using (venue_id)
"#;

/// `GET /v1/events/{id}`.
pub async fn event(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    serve(state, &raw, &headers, "event", "event", &EVENT, load_event).await
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

/// `GET /v1/events?sort=popular|upcoming&limit=&after=`.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let Query(params) = query
        .map_err(|e| Problem::invalid_field("query", format!("malformed query string: {e}")))?;
    let q = crate::event_list::parse(&params)?;
    let pool = state.ctx.pool.clone();
    let key = q.key();
    let lookup = state
        .pages
        .get(&key, LIST.fresh_for, || crate::event_list::load(pool, q))
        .await;
    Ok(respond(lookup, &LIST, "list", &headers))
}

/// `GET /v1/events/{id}/seats`: the seat map with live status, cached for
/// about a second like the event page.
pub async fn seats(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    serve(
        state,
        &raw,
        &headers,
        "seats",
        "event",
        &EVENT,
        crate::seat_map::load,
    )
    .await
}

/// `GET /v1/venues/{id}`.
pub async fn venue(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    serve(state, &raw, &headers, "venue", "venue", &STATIC, load_venue).await
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

/// `GET /v1/performers/{id}`.
pub async fn performer(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    serve(
        state,
        &raw,
        &headers,
        "performer",
        "performer",
        &STATIC,
        load_performer,
    )
    .await
}
