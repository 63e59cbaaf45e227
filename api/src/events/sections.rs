//! `GET /v1/events/{id}/sections`: the seat map's overview, what a shopper
//! sees first. Each section as an outline (the convex hull of its seats'
//! x/y, derived here: the schema stores seats, not shapes), a label point,
//! its price and how many seats are left, plus the venue's stage outline.
//! A 50,000-seat stadium's overview is a few kilobytes; the seats of one
//! section come from `GET /v1/events/{id}/seats?section=...` when the
//! shopper zooms in. From the page cache, fresh for about a second.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use super::seat_map::{EventSeatTier, seated_tiers};
use crate::AppState;
use crate::cache::Loaded;
use crate::cache::response::{CachedAnswers, Conditional, Freshness, PageKind, serve};
use crate::ids::EventId;

const OVERVIEW_PAGE: PageKind = PageKind {
    kind: "sections",
    what: "event",
    freshness: &Freshness::LIVE,
};

/// An event's seat map overview.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventSections {
    pub event_id: i64,
    pub venue_id: i64,
    /// The drawing's extent: every seat and the stage.
    pub bounds: Bounds,
    /// The stage, floor or pitch outline (`[x, y]` points), if the venue
    /// has one.
    #[schema(value_type = Option<Vec<Vec<f64>>>)]
    pub stage: Option<Vec<[f64; 2]>>,
    /// The event's seated tiers, dearest first.
    pub tiers: Vec<EventSeatTier>,
    /// Best rank first.
    pub sections: Vec<SectionOverview>,
}

/// A rectangle in drawing coordinates.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq)]
pub struct Bounds {
    pub min_x: f64,
    pub min_y: f64,
    pub max_x: f64,
    pub max_y: f64,
}

/// One section on the overview.
#[derive(Debug, Serialize, ToSchema)]
pub struct SectionOverview {
    pub section_id: i64,
    pub name: String,
    /// Lower is better.
    pub rank: i32,
    /// The tier that prices it; null when its seats are not for sale.
    pub ticket_type_id: Option<i64>,
    /// Seats in the section.
    pub seats: i64,
    /// Seats a shopper could hold now (a lapsed hold counts).
    pub available: i64,
    /// Wheelchair spaces among the available seats.
    pub accessible_available: i64,
    /// The convex hull of its seats, counter-clockwise, `[x, y]` points.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub outline: Vec<[f64; 2]>,
    /// Where its label goes (the outline's centroid).
    #[schema(value_type = Vec<f64>)]
    pub label: [f64; 2],
    /// Its seats' extent, for zooming in.
    pub bounds: Bounds,
    /// The smallest distance between neighbouring seats of a row, for
    /// sizing seats when zoomed in.
    pub seat_pitch: f64,
}

/// An event's seat map overview.
///
/// Sections as outlines with their price and the seats left, and the
/// stage; no seats. The seats of a section: `GET /v1/events/{id}/seats
/// ?section={section_id}`. Drafts are not public. From the page cache,
/// fresh for about a second.
#[utoipa::path(get, path = "/v1/events/{id}/sections", tag = "events",
    params(EventId, Conditional),
    responses(
        (status = 200, description = "The overview.", body = EventSections),
        CachedAnswers, EventId,
    ))]
pub async fn get_sections(
    State(state): State<AppState>,
    EventId(id): EventId,
    headers: HeaderMap,
) -> Response {
    serve(&state, &OVERVIEW_PAGE, id, &headers, load).await
}

#[derive(Debug, sqlx::FromRow)]
struct SectionRow {
    section_id: i64,
    name: String,
    rank: i32,
    ticket_type_id: Option<i64>,
    seats: i64,
    available: i64,
    accessible_available: i64,
    xs: Vec<f32>,
    ys: Vec<f32>,
    pitch: Option<f64>,
}

/// Per section: the seats' coordinates, the seats left (the seat map's
/// rule: before the inventory exists, every seat of a priced section), and
/// the smallest gap between neighbours in a row.
const SECTIONS_SQL: &str = r#"
with e as (select event_id, venue_id from events where event_id = $1 and published_at is not null),
opened as (select exists (select 1 from event_seats where event_id = $1) as yes),
seat as (
    select vs.section_id, vs.name, vs.rank, tts.ticket_type_id, s.x, s.y, s.accessible,
           case when es.seat_id is null then not opened.yes and tts.ticket_type_id is not null
                else es.status = 'available' or (es.status = 'held' and es.held_until <= now())
           end as free,
           sqrt(power(s.x - lag(s.x) over w, 2) + power(s.y - lag(s.y) over w, 2)) as gap
    from e
    cross join opened
    join venue_sections vs on vs.venue_id = e.venue_id
    join venue_rows vr on vr.section_id = vs.section_id
    join seats s on s.row_id = vr.row_id
    left join ticket_type_sections tts on tts.event_id = e.event_id and tts.section_id = vs.section_id
    left join event_seats es on es.event_id = e.event_id and es.seat_id = s.seat_id
    window w as (partition by vr.row_id order by s.number)
)
select section_id, name, rank, ticket_type_id,
       count(*) as seats,
       count(*) filter (where free) as available,
       count(*) filter (where free and accessible) as accessible_available,
       array_agg(x) as xs, array_agg(y) as ys,
       min(gap) filter (where gap > 0) as pitch
from seat
group by section_id, name, rank, ticket_type_id
order by rank, section_id
"#;

/// A stored outline: `[x, y]` points as JSON.
type Outline = sqlx::types::Json<Vec<[f64; 2]>>;

/// The overview of an event, or `None` for an unknown or draft event.
pub async fn load(pool: PgPool, event_id: i64) -> Result<Loaded, sqlx::Error> {
    let venue: Option<(i64, Option<Outline>)> = sqlx::query_as(
        "select v.venue_id, v.stage from events e join venues v using (venue_id)
          where e.event_id = $1 and e.published_at is not null",
    )
    .bind(event_id)
    .fetch_optional(&pool)
    .await?;
    let Some((venue_id, stage)) = venue else {
        return Ok(None);
    };
    let stage = stage.map(|s| s.0);
    let rows: Vec<SectionRow> = sqlx::query_as(SECTIONS_SQL)
        .bind(event_id)
        .fetch_all(&pool)
        .await?;
    let tiers = seated_tiers(&pool, event_id).await?;
    let sections: Vec<SectionOverview> = rows.into_iter().map(section_overview).collect();
    let mut all: Vec<[f64; 2]> = sections.iter().flat_map(|s| s.outline.clone()).collect();
    all.extend(stage.iter().flatten().copied());
    let body = EventSections {
        event_id,
        venue_id,
        bounds: bounds(&all),
        stage,
        tiers,
        sections,
    };
    let bytes = serde_json::to_vec(&body).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Some((
        bytes,
        vec![format!("event:{event_id}"), format!("venue:{venue_id}")],
    )))
}

fn section_overview(r: SectionRow) -> SectionOverview {
    let points: Vec<[f64; 2]> =
        r.xs.iter()
            .zip(&r.ys)
            .map(|(x, y)| [f64::from(*x), f64::from(*y)])
            .collect();
    let outline: Vec<[f64; 2]> = convex_hull(&points)
        .into_iter()
        .map(|[x, y]| [round1(x), round1(y)])
        .collect();
    let n = outline.len().max(1) as f64;
    let label = [
        round1(outline.iter().map(|p| p[0]).sum::<f64>() / n),
        round1(outline.iter().map(|p| p[1]).sum::<f64>() / n),
    ];
    SectionOverview {
        section_id: r.section_id,
        name: r.name,
        rank: r.rank,
        ticket_type_id: r.ticket_type_id,
        seats: r.seats,
        available: r.available,
        accessible_available: r.accessible_available,
        bounds: bounds(&points),
        outline,
        label,
        seat_pitch: round1(r.pitch.unwrap_or(10.0)).max(0.1),
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn bounds(points: &[[f64; 2]]) -> Bounds {
    let mut b = Bounds {
        min_x: f64::INFINITY,
        min_y: f64::INFINITY,
        max_x: f64::NEG_INFINITY,
        max_y: f64::NEG_INFINITY,
    };
    for [x, y] in points {
        b.min_x = b.min_x.min(*x);
        b.min_y = b.min_y.min(*y);
        b.max_x = b.max_x.max(*x);
        b.max_y = b.max_y.max(*y);
    }
    if points.is_empty() {
        b = Bounds {
            min_x: 0.0,
            min_y: 0.0,
            max_x: 0.0,
            max_y: 0.0,
        };
    }
    b
}

/// The convex hull, counter-clockwise, without collinear points (Andrew's
/// monotone chain). One or two distinct points come back as they are.
pub fn convex_hull(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut p: Vec<[f64; 2]> = points.to_vec();
    p.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let cross = |o: [f64; 2], a: [f64; 2], b: [f64; 2]| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    let mut hull: Vec<[f64; 2]> = Vec::with_capacity(2 * p.len());
    for pass in [p.clone(), p.iter().rev().copied().collect()] {
        let start = hull.len();
        for q in pass {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], q) <= 0.0
            {
                hull.pop();
            }
            hull.push(q);
        }
        hull.pop();
    }
    hull
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hull_of_a_grid_is_its_four_corners_counter_clockwise() {
        let grid: Vec<[f64; 2]> = (0..5)
            .flat_map(|x| (0..3).map(move |y| [f64::from(x), f64::from(y)]))
            .collect();
        assert_eq!(
            convex_hull(&grid),
            [[0.0, 0.0], [4.0, 0.0], [4.0, 2.0], [0.0, 2.0]]
        );
    }

    #[test]
    fn the_hull_of_an_arc_keeps_every_point_of_it_and_contains_the_rest() {
        let arc: Vec<[f64; 2]> = (0..10)
            .map(|i| {
                let t = f64::from(i) * 0.1;
                [100.0 * t.cos(), 100.0 * t.sin()]
            })
            .chain([[95.0, 20.0]])
            .collect();
        let hull = convex_hull(&arc);
        assert_eq!(hull.len(), 10, "{hull:?}");
        assert!(!hull.contains(&[95.0, 20.0]));
        assert_eq!(convex_hull(&[[1.0, 1.0], [1.0, 1.0]]), [[1.0, 1.0]]);
    }
}
