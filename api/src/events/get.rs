//! `GET /v1/events/{id}`: the public event page, from the page cache.
//!
//! The event with its venue, performers and ticket types with live
//! availability, fresh for about a second. Drafts are not public.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::AppState;
use crate::cache::Loaded;
use crate::cache::response::{CachedAnswers, Conditional, Freshness, PageKind, serve};
use crate::ids::EventId;
use crate::schema::{Category, EventStatus, TicketKind};

/// The event page's cache key kind; the HTML event page shares the entry.
pub const EVENT_PAGE: PageKind = PageKind {
    kind: "event",
    what: "event",
    freshness: &Freshness::LIVE,
};

// The database builds this body (`EVENT_SQL`); the type names its
// members for the API description, and a test checks the two agree.
/// An event page: the event with its venue, performers and ticket types.
#[derive(Debug, ToSchema)]
pub struct EventPage {
    pub event_id: i64,
    pub title: String,
    pub description: String,
    #[schema(value_type = Category)]
    pub category: String,
    pub genre: String,
    /// `scheduled`, `cancelled` or `completed`; an event that was never
    /// published (a draft, or a draft cancelled) is not public.
    #[schema(value_type = EventStatus)]
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub sale_starts_at: DateTime<Utc>,
    pub sale_ends_at: DateTime<Utc>,
    /// When the doors open, if the promoter said.
    pub doors_at: Option<DateTime<Utc>>,
    pub popularity: f64,
    pub venue: EventPageVenue,
    /// Headliner first.
    pub performers: Vec<EventPagePerformer>,
    /// Dearest first.
    pub ticket_types: Vec<EventPageTicketType>,
    pub availability: Availability,
}

/// The venue on an event page.
#[derive(Debug, ToSchema)]
pub struct EventPageVenue {
    pub venue_id: i64,
    pub name: String,
    pub address: String,
    pub city: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "GB")]
    pub country: String,
    pub lat: f64,
    pub lon: f64,
    /// An IANA time zone name, for showing local times.
    #[schema(example = "Europe/London")]
    pub timezone: String,
}

/// A performer on an event page.
#[derive(Debug, ToSchema)]
pub struct EventPagePerformer {
    pub performer_id: i64,
    pub name: String,
    pub genre: String,
    /// 0 is the headliner.
    pub billing: i32,
}

/// A ticket type on an event page, with the tickets left.
#[derive(Debug, ToSchema)]
pub struct EventPageTicketType {
    pub ticket_type_id: i64,
    pub name: String,
    #[schema(value_type = TicketKind)]
    pub kind: String,
    /// In minor units of `currency`.
    pub price_cents: i64,
    #[schema(example = "EUR")]
    pub currency: String,
    /// Tickets left (a lapsed hold counts as available).
    pub available: i64,
}

/// How many tickets are left across the event's ticket types.
#[derive(Debug, ToSchema)]
pub struct Availability {
    pub available_tickets: i64,
    pub sold_out: bool,
}

/// An event page.
///
/// The event with its venue, performers (headliner first), its ticket
/// types with their price and the tickets left, and an availability
/// summary. Drafts are not public. From the page cache, fresh for about a
/// second.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events",
    params(EventId, Conditional),
    responses(
        (status = 200, description = "The event.", body = EventPage),
        CachedAnswers, EventId,
    ))]
pub async fn get_event(
    State(state): State<AppState>,
    EventId(id): EventId,
    headers: HeaderMap,
) -> Response {
    serve(&state, &EVENT_PAGE, id, &headers, load_event).await
}

/// The event page's JSON and surrogate keys, or `None` for an unknown or
/// draft event.
pub async fn load_event(pool: PgPool, id: i64) -> Result<Loaded, sqlx::Error> {
    let row: Option<(String, Vec<String>)> = sqlx::query_as(EVENT_SQL)
        .bind(id)
        .fetch_optional(&pool)
        .await?;
    Ok(row.map(|(json, keys)| (json.into_bytes(), keys)))
}

/// The event, its venue, performers and ticket types with availability.
/// Drafts are not public.
pub(crate) const EVENT_SQL: &str = r#"
with e as (select * from events where event_id = $1 and published_at is not null),
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
    'doors_at', e.doors_at,
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
