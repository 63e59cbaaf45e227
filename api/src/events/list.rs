//! `GET /v1/events`: popular or upcoming scheduled events, with keyset
//! pagination (an opaque `after` cursor; no page ever scans the ones before
//! it), from the page cache and fresh for a few seconds.
#![expect(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use problem::Problem;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::AppState;
use crate::cache::Loaded;
use crate::cache::response::{CachedAnswers, Conditional, Freshness, respond};
use crate::error::{ApiError, ApiResult};
use crate::schema::Category;

/// `GET /v1/events`'s query string, for the API description; [`parse`]
/// reads it.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `popular` (most popular first) or `upcoming` (soonest first, from
    /// now on).
    #[param(value_type = Option<ListOrder>, default = "popular")]
    pub sort: Option<String>,
    /// Events per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
    /// `next_after` of the previous page, for the same `sort`.
    pub after: Option<String>,
    /// `true`: only events a shopper can buy now (the sale is open and the
    /// event has not started).
    #[param(default = false)]
    pub on_sale: Option<bool>,
}

/// Which list `sort` asks for.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ListOrder {
    Popular,
    Upcoming,
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<ListedEvent>,
    /// `after` for the next page; null on the last page.
    pub next_after: Option<String>,
}

/// One event in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedEvent {
    pub event_id: i64,
    pub title: String,
    #[schema(value_type = Category)]
    pub category: String,
    pub starts_at: DateTime<Utc>,
    /// When the sale opens and closes.
    pub sale_starts_at: DateTime<Utc>,
    pub sale_ends_at: DateTime<Utc>,
    pub popularity: f64,
    pub venue: ListedVenue,
    /// The cheapest ticket type's price in minor units of `currency`;
    /// null for an event with no ticket types yet.
    pub from_price_cents: Option<i64>,
    #[schema(example = "EUR")]
    pub currency: Option<String>,
}

/// The venue of a listed event.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedVenue {
    pub venue_id: i64,
    pub name: String,
    pub city: String,
    /// An IANA time zone name, for showing local times.
    #[schema(example = "Europe/London")]
    pub timezone: String,
}

/// Popular or upcoming events.
///
/// Scheduled events, most popular or soonest first, with keyset
/// pagination: pass a page's `next_after` as `after` for the next one.
/// From the page cache, fresh for about five seconds.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(ListParams, Conditional),
    responses(
        (status = 200, description = "A page of scheduled events.", body = EventList),
        CachedAnswers, ApiError,
    ))]
pub async fn list_events(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Query(params) = query
        .map_err(|e| Problem::invalid_field("query", format!("malformed query string: {e}")))?;
    let q = parse(&params)?;
    let pool = state.ctx.pool.clone();
    let key = q.key();
    let lookup = state
        .pages
        .get(&key, Freshness::LIST.fresh_for, || load(pool, q))
        .await;
    Ok(respond(lookup, &Freshness::LIST, "list", &headers))
}

/// Largest page.
pub const MAX_LIMIT: i64 = 100;

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Most popular first.
    Popular,
    /// Soonest first (from now on).
    Upcoming,
}

/// A validated list request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub order: Order,
    pub limit: i64,
    /// The last row of the previous page.
    pub after: Option<After>,
    /// Only events on sale now.
    pub on_sale: bool,
}

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq)]
pub enum After {
    Popularity(f64, i64),
    Start(DateTime<Utc>, i64),
}

impl ListQuery {
    /// The cache key.
    pub fn key(&self) -> String {
        let order = match self.order {
            Order::Popular => "popular",
            Order::Upcoming => "upcoming",
        };
        let order = if self.on_sale {
            format!("{order}-on-sale")
        } else {
            order.to_owned()
        };
        match &self.after {
            Some(a) => format!("list:{order}:{}:{}", self.limit, encode_cursor(a)),
            None => format!("list:{order}:{}", self.limit),
        }
    }
}

fn encode_cursor(after: &After) -> String {
    hex::encode(match after {
        After::Popularity(p, id) => format!("p|{p}|{id}"),
        After::Start(t, id) => format!("t|{}|{id}", t.to_rfc3339()),
    })
}

fn decode_cursor(raw: &str) -> Option<After> {
    let text = String::from_utf8(hex::decode(raw).ok()?).ok()?;
    let mut parts = text.splitn(3, '|');
    let (kind, key, id) = (parts.next()?, parts.next()?, parts.next()?.parse().ok()?);
    match kind {
        "p" => Some(After::Popularity(
            key.parse().ok().filter(|k: &f64| k.is_finite())?,
            id,
        )),
        "t" => Some(After::Start(
            DateTime::parse_from_rfc3339(key).ok()?.with_timezone(&Utc),
            id,
        )),
        _ => None,
    }
}

/// Parses `sort`, `limit` and `after`.
pub fn parse(params: &[(String, String)]) -> Result<ListQuery, Problem> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let order = match get("sort") {
        None | Some("popular") => Order::Popular,
        Some("upcoming") => Order::Upcoming,
        Some(other) => {
            return Err(Problem::invalid_field(
                "sort",
                format!("{other:?} is not popular or upcoming"),
            ));
        }
    };
    let limit = match get("limit") {
        None => 20,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                Problem::invalid_field("limit", format!("must be between 1 and {MAX_LIMIT}"))
            })?,
    };
    let after = match get("after") {
        None => None,
        Some(v) => {
            let bad = || {
                Problem::invalid_field("after", "not a cursor from a previous page's next_after")
            };
            let a = decode_cursor(v).ok_or_else(bad)?;
            let fits = matches!(
                (&a, order),
                (After::Popularity(..), Order::Popular) | (After::Start(..), Order::Upcoming)
            );
            if !fits {
                return Err(bad());
            }
            Some(a)
        }
    };
    let on_sale = match get("on_sale") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(Problem::invalid_field(
                "on_sale",
                format!("{other:?} is not true or false"),
            ));
        }
    };
    Ok(ListQuery {
        order,
        limit,
        after,
        on_sale,
    })
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    event_id: i64,
    title: String,
    category: String,
    starts_at: DateTime<Utc>,
    sale_starts_at: DateTime<Utc>,
    sale_ends_at: DateTime<Utc>,
    popularity: f64,
    venue_id: i64,
    venue: String,
    city: String,
    timezone: String,
    from_price_cents: Option<i64>,
    currency: Option<String>,
}

/// One page of the list.
pub async fn load(pool: PgPool, q: ListQuery) -> Result<Loaded, sqlx::Error> {
    let on_sale = if q.on_sale {
        " and e.sale_starts_at <= now() and now() < e.sale_ends_at and e.starts_at > now()"
    } else {
        ""
    };
    let select = format!(
        "select e.event_id, e.title, e.category, e.starts_at, e.sale_starts_at, e.sale_ends_at,
                e.popularity, v.venue_id, v.name as venue, v.city, v.timezone,
                p.price_cents as from_price_cents, p.currency
           from events e join venues v using (venue_id)
           left join lateral (select t.price_cents, t.currency from ticket_types t
                               where t.event_id = e.event_id
                               order by t.price_cents, t.ticket_type_id limit 1) p on true
          where e.status = 'scheduled'{on_sale}"
    );
    // Popular: (popularity, event_id) descending, so one row comparison
    // starts the scan of `events_popular_keyset_idx` right after the cursor.
    let rows: Vec<Row> = match (q.order, &q.after) {
        (Order::Popular, None) => {
            sqlx::query_as(&format!(
                "{select} order by e.popularity desc, e.event_id desc limit $1"
            ))
            .bind(q.limit)
            .fetch_all(&pool)
            .await?
        }
        (Order::Popular, Some(After::Popularity(p, id))) => {
            sqlx::query_as(&format!(
                "{select} and (e.popularity, e.event_id) < ($2, $3)
                 order by e.popularity desc, e.event_id desc limit $1"
            ))
            .bind(q.limit)
            .bind(p)
            .bind(id)
            .fetch_all(&pool)
            .await?
        }
        (Order::Upcoming, None) => {
            sqlx::query_as(&format!(
                "{select} and e.starts_at > now() order by e.starts_at, e.event_id limit $1"
            ))
            .bind(q.limit)
            .fetch_all(&pool)
            .await?
        }
        (Order::Upcoming, Some(After::Start(t, id))) => {
            sqlx::query_as(&format!(
                "{select} and e.starts_at > now()
                   and (e.starts_at, e.event_id) > ($2, $3)
                 order by e.starts_at, e.event_id limit $1"
            ))
            .bind(q.limit)
            .bind(t)
            .bind(id)
            .fetch_all(&pool)
            .await?
        }
        // `parse` only pairs a cursor with its own order.
        _ => Vec::new(),
    };
    let next_after = if rows.len() as i64 == q.limit {
        rows.last().map(|r| {
            encode_cursor(&match q.order {
                Order::Popular => After::Popularity(r.popularity, r.event_id),
                Order::Upcoming => After::Start(r.starts_at, r.event_id),
            })
        })
    } else {
        None
    };
    let events = rows
        .into_iter()
        .map(|r| ListedEvent {
            event_id: r.event_id,
            title: r.title,
            category: r.category,
            starts_at: r.starts_at,
            sale_starts_at: r.sale_starts_at,
            sale_ends_at: r.sale_ends_at,
            popularity: r.popularity,
            venue: ListedVenue {
                venue_id: r.venue_id,
                name: r.venue,
                city: r.city,
                timezone: r.timezone,
            },
            from_price_cents: r.from_price_cents,
            currency: r.currency,
        })
        .collect();
    let body = EventList { events, next_after };
    let bytes = serde_json::to_vec(&body).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Some((bytes, vec!["events".to_owned()])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_name_the_field() {
        let c = encode_cursor(&After::Popularity(12.5, 7));
        assert_eq!(decode_cursor(&c), Some(After::Popularity(12.5, 7)));
        let t = DateTime::parse_from_rfc3339("2027-01-02T19:30:00.123456Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(
            decode_cursor(&encode_cursor(&After::Start(t, 3))),
            Some(After::Start(t, 3))
        );
        let upcoming_cursor_for_popular = [("after", c.as_str()), ("sort", "upcoming")];
        assert!(parse(&p(&upcoming_cursor_for_popular)).is_err());
        let field = |q: &[(&str, &str)]| parse(&p(q)).err().and_then(|e| e.field);
        assert_eq!(field(&[("after", "zz")]).as_deref(), Some("after"));
        assert_eq!(field(&[("limit", "0")]).as_deref(), Some("limit"));
        assert_eq!(field(&[("limit", "101")]).as_deref(), Some("limit"));
        assert_eq!(field(&[("sort", "random")]).as_deref(), Some("sort"));
        assert_eq!(field(&[("on_sale", "yes")]).as_deref(), Some("on_sale"));
        let on_sale = parse(&p(&[("on_sale", "true")])).expect("parses");
        assert!(on_sale.on_sale);
        assert_ne!(on_sale.key(), parse(&p(&[])).expect("parses").key());
    }
}
