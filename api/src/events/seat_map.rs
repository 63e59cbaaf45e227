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

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sqlx::PgPool;

use crate::AppState;
use crate::cache::Loaded;
use crate::cache::response::{Freshness, PageKind, serve};
use crate::ids::EventId;

const SEATS_PAGE: PageKind = PageKind {
    kind: "seats",
    what: "event",
    freshness: &Freshness::LIVE,
};

/// `GET /v1/events/{id}/seats`.
pub async fn get_seat_map(
    State(state): State<AppState>,
    EventId(id): EventId,
    headers: HeaderMap,
) -> Response {
    serve(&state, &SEATS_PAGE, id, &headers, load).await
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
    status: String,
}

const ROWS_SQL: &str = r#"
with e as (select event_id, venue_id from events where event_id = $1 and status <> 'draft'),
opened as (select exists (select 1 from event_seats where event_id = $1) as yes)
select vs.section_id, vs.name as section, vs.rank, tts.ticket_type_id,
       vr.row_id, vr.label,
       array_agg(s.seat_id order by s.number) as seat_ids,
       array_agg(s.number order by s.number) as numbers,
       array_agg(s.x order by s.number) as xs,
       array_agg(s.y order by s.number) as ys,
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

fn row_json(r: &RowSeats) -> Value {
    let mut m = Map::new();
    m.insert("row_id".into(), json!(r.row_id));
    m.insert("label".into(), json!(r.label));
    if consecutive(&r.seat_ids) {
        m.insert("first_seat_id".into(), json!(r.seat_ids.first()));
    } else {
        m.insert("seat_ids".into(), json!(r.seat_ids));
    }
    if consecutive(&r.numbers) {
        m.insert("first_number".into(), json!(r.numbers.first()));
    } else {
        m.insert("numbers".into(), json!(r.numbers));
    }
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
    if even {
        m.insert("x0".into(), json!(round(x0)));
        m.insert("dx".into(), json!(round(dx)));
    } else {
        m.insert("dxs".into(), json!(tenths_deltas(&r.xs)));
    }
    let y0 = r.ys.first().copied().unwrap_or(0.0);
    if r.ys.iter().all(|y| (y - y0).abs() < 0.01) {
        m.insert("y".into(), json!(round(y0)));
    } else {
        m.insert("dys".into(), json!(tenths_deltas(&r.ys)));
    }
    m.insert("status".into(), json!(r.status));
    Value::Object(m)
}

#[derive(Debug, Serialize)]
struct Section {
    section_id: i64,
    name: String,
    rank: i32,
    ticket_type_id: Option<i64>,
    rows: Vec<Value>,
}

/// The seat map of an event, or `None` for an unknown or draft event.
pub async fn load(pool: PgPool, event_id: i64) -> Result<Loaded, sqlx::Error> {
    let venue: Option<i64> =
        sqlx::query_scalar("select venue_id from events where event_id = $1 and status <> 'draft'")
            .bind(event_id)
            .fetch_optional(&pool)
            .await?;
    let Some(venue_id) = venue else {
        return Ok(None);
    };
    let rows: Vec<RowSeats> = sqlx::query_as(ROWS_SQL)
        .bind(event_id)
        .fetch_all(&pool)
        .await?;
    let tiers: Vec<(i64, String, i64, String)> = sqlx::query_as(
        "select ticket_type_id, name, price_cents, currency from ticket_types
          where event_id = $1 and kind = 'seated' order by price_cents desc, ticket_type_id",
    )
    .bind(event_id)
    .fetch_all(&pool)
    .await?;
    let mut sections: Vec<Section> = Vec::new();
    for r in &rows {
        if sections.last().is_none_or(|s| s.section_id != r.section_id) {
            sections.push(Section {
                section_id: r.section_id,
                name: r.section.clone(),
                rank: r.rank,
                ticket_type_id: r.ticket_type_id,
                rows: Vec::new(),
            });
        }
        if let Some(s) = sections.last_mut() {
            s.rows.push(row_json(r));
        }
    }
    let body = json!({
        "event_id": event_id,
        "venue_id": venue_id,
        "tiers": tiers.iter().map(|(id, name, price, currency)| json!({
            "ticket_type_id": id, "name": name, "price_cents": price, "currency": currency,
        })).collect::<Vec<_>>(),
        "sections": sections,
    });
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
