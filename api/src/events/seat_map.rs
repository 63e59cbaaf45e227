//! `GET /v1/events/{id}/seats`: the seat map with live status, compact,
//! from the page cache and fresh for about a second like the event page.
//!
//! A 50,000-seat stadium must not cost megabytes, so each row is sent in
//! columns, and regular columns collapse:
//!
//! ```json
//! {"row_id": 7, "label": "R1", "first_seat_id": 1001, "first_number": 1,
//!  "x0": 10.0, "dx": 10.0, "y": 0.0, "status": "aaahhss-aa"}
//! ```
//!
//! - seat ids: `first_seat_id` when they run consecutively by number,
//!   otherwise `seat_ids`;
//! - numbers: `first_number` when consecutive, otherwise `numbers`;
//! - x: `x0` and `dx` when evenly spaced, otherwise `dxs`: the first x and
//!   then each seat's offset from the one before, in tenths of a unit
//!   (`[6543, -25, -25]` is 654.3, 651.8, 649.3);
//! - y: `y` when the row is straight, otherwise `dys`, encoded as `dxs`;
//! - `status`: one letter per seat: `a` available (a lapsed hold counts),
//!   `h` held, `s` sold, `-` not for sale.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use problem::Problem;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::AppState;
use crate::cache::Loaded;
use crate::cache::response::{CachedAnswers, Conditional, Freshness, PageKind, respond, serve};
use crate::error::ApiError;
use crate::ids::EventId;

const SEATS_PAGE: PageKind = PageKind {
    kind: "seats",
    what: "event",
    freshness: &Freshness::LIVE,
};

/// An event's seat map with live status.
///
/// Sections (with the seated tier that prices them, if any) and their
/// rows, nearest the stage first; each row in columns (see `EventSeatRow`):
/// one status letter per seat, `a` available, `h` held, `s` sold, `-` not
/// for sale. Drafts are not public. From the page cache, fresh for about a
/// second, like the event page.
#[utoipa::path(get, path = "/v1/events/{id}/seats", tag = "events",
    params(EventId, SeatsParams, Conditional),
    responses(
        (status = 200, description = "The seat map.", body = EventSeats),
        CachedAnswers, EventId, ApiError,
    ))]
pub async fn get_seat_map(
    State(state): State<AppState>,
    EventId(id): EventId,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(params) = query
        .map_err(|e| Problem::invalid_field("query", format!("malformed query string: {e}")))?;
    let section = match params.iter().find(|(k, _)| k == "section") {
        None => None,
        Some((_, v)) => Some(v.parse::<i64>().ok().filter(|s| *s > 0).ok_or_else(|| {
            Problem::invalid_field("section", "must be a section id (a positive integer)")
        })?),
    };
    let Some(section) = section else {
        return Ok(serve(&state, &SEATS_PAGE, id, &headers, |pool, id| {
            load(pool, id, None)
        })
        .await);
    };
    let pool = state.ctx.pool.clone();
    let lookup = state
        .pages
        .get(
            &format!("{}:{id}:{section}", SEATS_PAGE.kind),
            SEATS_PAGE.freshness.fresh_for,
            || load(pool, id, Some(section)),
        )
        .await;
    Ok(respond(
        lookup,
        SEATS_PAGE.freshness,
        "event or section",
        &headers,
    ))
}

/// `GET /v1/events/{id}/seats`'s query string, for the API description.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeatsParams {
    /// Only this section's seats (a `section_id` of
    /// `GET /v1/events/{id}/sections`): what a zoomed seat map fetches, so
    /// a stadium's overview never downloads every seat.
    #[param(minimum = 1)]
    pub section: Option<i64>,
}

#[derive(Debug, sqlx::FromRow)]
struct RowSeats {
    section_id: i64,
    section: String,
    rank: i32,
    ticket_type_id: Option<i64>,
    row_id: i64,
    label: String,
    seat_ids: Vec<i64>,
    numbers: Vec<i32>,
    xs: Vec<f32>,
    ys: Vec<f32>,
    accessible: Vec<bool>,
    status: String,
}

const ROWS_SQL: &str = r#"
with e as (select event_id, venue_id from events where event_id = $1 and published_at is not null),
opened as (select exists (select 1 from event_seats where event_id = $1) as yes)
select vs.section_id, vs.name as section, vs.rank, tts.ticket_type_id,
       vr.row_id, vr.label,
       array_agg(s.seat_id order by s.number) as seat_ids,
       array_agg(s.number order by s.number) as numbers,
       array_agg(s.x order by s.number) as xs,
       array_agg(s.y order by s.number) as ys,
       array_agg(s.accessible order by s.number) as accessible,
       string_agg(case
           when es.seat_id is null then
               case when not opened.yes and tts.ticket_type_id is not null then 'a' else '-' end
           when es.status = 'available' or (es.status = 'held' and es.held_until <= now()) then 'a'
           when es.status = 'held' then 'h'
           else 's' end, '' order by s.number) as status
from e
cross join opened
join venue_sections vs on vs.venue_id = e.venue_id
join venue_rows vr on vr.section_id = vs.section_id
join seats s on s.row_id = vr.row_id
left join ticket_type_sections tts on tts.event_id = e.event_id and tts.section_id = vs.section_id
left join event_seats es on es.event_id = e.event_id and es.seat_id = s.seat_id
where $2::bigint is null or vs.section_id = $2
group by vs.section_id, vs.name, vs.rank, tts.ticket_type_id, vr.row_id, vr.label, vr.position, opened.yes
order by vs.rank, vs.section_id, vr.position
"#;

fn consecutive<T: Copy + Into<i64>>(values: &[T]) -> bool {
    values.windows(2).all(|w| w[1].into() == w[0].into() + 1)
}

fn round(v: f32) -> f64 {
    (f64::from(v) * 100.0).round() / 100.0
}

/// The first value and then successive differences, in tenths; rounding
/// happens on the absolute values, so errors do not accumulate.
fn tenths_deltas(values: &[f32]) -> Vec<i64> {
    let mut previous = 0i64;
    values
        .iter()
        .map(|v| {
            let t = (f64::from(*v) * 10.0).round() as i64;
            let d = t - previous;
            previous = t;
            d
        })
        .collect()
}

/// The event's seated tiers, dearest first: what the seat map and its
/// overview colour and price seats by.
pub(super) async fn seated_tiers(
    pool: &PgPool,
    event_id: i64,
) -> Result<Vec<EventSeatTier>, sqlx::Error> {
    sqlx::query_as(
        "select ticket_type_id, name, price_cents, currency from ticket_types
          where event_id = $1 and kind = 'seated' order by price_cents desc, ticket_type_id",
    )
    .bind(event_id)
    .fetch_all(pool)
    .await
}

/// An event's seat map.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventSeats {
    pub event_id: i64,
    pub venue_id: i64,
    /// The event's seated tiers, dearest first.
    pub tiers: Vec<EventSeatTier>,
    /// Best rank first.
    pub sections: Vec<EventSeatSection>,
}

/// A seated tier of the event.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct EventSeatTier {
    pub ticket_type_id: i64,
    pub name: String,
    /// In minor units of `currency`.
    pub price_cents: i64,
    #[schema(example = "EUR")]
    pub currency: String,
}

/// A section of the venue, with its rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventSeatSection {
    pub section_id: i64,
    pub name: String,
    /// Lower is better.
    pub rank: i32,
    /// The tier that prices this section; null when none does (its seats
    /// are not for sale).
    pub ticket_type_id: Option<i64>,
    /// Nearest the stage first.
    pub rows: Vec<EventSeatRow>,
}

/// A row's seats in columns, by seat number. Of each pair of members
/// exactly one is present: `first_seat_id` (the ids run consecutively) or
/// `seat_ids`; `first_number` (consecutive) or `numbers`; `x0` and `dx`
/// (evenly spaced) or `dxs`; `y` (a straight row) or `dys`. `dxs` and
/// `dys` are the first coordinate and then each seat's offset from the one
/// before, in tenths of a unit (`[6543, -25, -25]` is 654.3, 651.8, 649.3).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventSeatRow {
    pub row_id: i64,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seat_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seat_ids: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_number: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numbers: Option<Vec<i32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x0: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dx: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dxs: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dys: Option<Vec<i64>>,
    /// One letter per seat: `a` available (a lapsed hold counts), `h`
    /// held, `s` sold, `-` not for sale.
    #[schema(pattern = "^[ahs-]*$", example = "aaahhss-aa")]
    pub status: String,
    /// Positions in the row (0-based, as in `status`) of wheelchair
    /// spaces; absent when the row has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accessible: Option<Vec<usize>>,
}

fn row_view(r: &RowSeats) -> EventSeatRow {
    let (first_seat_id, seat_ids) = if consecutive(&r.seat_ids) {
        (r.seat_ids.first().copied(), None)
    } else {
        (None, Some(r.seat_ids.clone()))
    };
    let (first_number, numbers) = if consecutive(&r.numbers) {
        (r.numbers.first().copied(), None)
    } else {
        (None, Some(r.numbers.clone()))
    };
    let x0 = r.xs.first().copied().unwrap_or(0.0);
    let dx = if r.xs.len() > 1 {
        r.xs[1] - r.xs[0]
    } else {
        0.0
    };
    let even =
        r.xs.iter()
            .enumerate()
            .all(|(i, x)| (x - (x0 + dx * i as f32)).abs() < 0.01);
    let (x0, dx, dxs) = if even {
        (Some(round(x0)), Some(round(dx)), None)
    } else {
        (None, None, Some(tenths_deltas(&r.xs)))
    };
    let y0 = r.ys.first().copied().unwrap_or(0.0);
    let (y, dys) = if r.ys.iter().all(|y| (y - y0).abs() < 0.01) {
        (Some(round(y0)), None)
    } else {
        (None, Some(tenths_deltas(&r.ys)))
    };
    EventSeatRow {
        row_id: r.row_id,
        label: r.label.clone(),
        first_seat_id,
        seat_ids,
        first_number,
        numbers,
        x0,
        dx,
        dxs,
        y,
        dys,
        status: r.status.clone(),
        accessible: Some(
            r.accessible
                .iter()
                .enumerate()
                .filter_map(|(i, a)| a.then_some(i))
                .collect::<Vec<_>>(),
        )
        .filter(|v| !v.is_empty()),
    }
}

/// The seat map of an event (of one of its sections, with `section`), or
/// `None` for an unknown or draft event or a section not in its venue.
pub async fn load(
    pool: PgPool,
    event_id: i64,
    section: Option<i64>,
) -> Result<Loaded, sqlx::Error> {
    let venue: Option<i64> = sqlx::query_scalar(
        "select venue_id from events where event_id = $1 and published_at is not null",
    )
    .bind(event_id)
    .fetch_optional(&pool)
    .await?;
    let Some(venue_id) = venue else {
        return Ok(None);
    };
    let rows: Vec<RowSeats> = sqlx::query_as(ROWS_SQL)
        .bind(event_id)
        .bind(section)
        .fetch_all(&pool)
        .await?;
    if section.is_some() && rows.is_empty() {
        return Ok(None);
    }
    let tiers = seated_tiers(&pool, event_id).await?;
    let mut sections: Vec<EventSeatSection> = Vec::new();
    for r in &rows {
        if sections.last().is_none_or(|s| s.section_id != r.section_id) {
            sections.push(EventSeatSection {
                section_id: r.section_id,
                name: r.section.clone(),
                rank: r.rank,
                ticket_type_id: r.ticket_type_id,
                rows: Vec::new(),
            });
        }
        if let Some(s) = sections.last_mut() {
            s.rows.push(row_view(r));
        }
    }
    let body = EventSeats {
        event_id,
        venue_id,
        tiers,
        sections,
    };
    let bytes = serde_json::to_vec(&body).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Some((
        bytes,
        vec![format!("event:{event_id}"), format!("venue:{venue_id}")],
    )))
}

#[cfg(test)]
mod tests {
    #[test]
    fn deltas_decode_to_the_rounded_values() {
        let xs = [654.34, 651.86, 649.34, 646.78];
        let d = super::tenths_deltas(&xs);
        assert_eq!(d, [6543, -24, -26, -25]);
        let decoded: Vec<i64> = d
            .iter()
            .scan(0, |acc, x| {
                *acc += x;
                Some(*acc)
            })
            .collect();
        assert_eq!(decoded, [6543, 6519, 6493, 6468]);
    }
}
