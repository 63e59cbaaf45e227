//! Admin catalog writes: venues (with their seat maps), performers, events
//! and ticket types. Every route needs an admin token (401 without a valid
//! one, 403 for another role).
//!
//! The write path touches only Postgres. Search and the page caches follow
//! through change data capture (the indexer), so nothing here writes to
//! Redis or the index. Bodies are validated before any SQL runs
//! ([`crate::admin_input`]); each failure is a 4xx naming its field.
#![allow(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]

use auth::AdminUser;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use problem::{ApiJson, Problem};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::AppState;
use crate::admin_input::{
    EventPatch, EventRow, NewEvent, NewPerformer, NewTicketType, NewVenue, PerformerPatch, SeatMap,
    VenuePatch,
};
use crate::sale_opener;

/// The body limit of venue writes: a 200,000-seat map is about 10 MB of JSON.
pub const SEAT_MAP_BODY_LIMIT: usize = 32 * 1024 * 1024;

type Answer = Result<Response, Problem>;

fn parse_id(raw: &str) -> Result<i64, Problem> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        Problem::invalid_field("id", format!("{raw:?} is not a positive integer id"))
    })
}

/// Maps a database error to a problem. Constraint violations the
/// validation did not catch (races, mostly) become 409 or 400 naming the
/// field; an unreachable database is 503; anything else is logged and 500.
fn db_problem(e: sqlx::Error) -> Problem {
    if let Some(db) = e.as_database_error() {
        let constraint = db.constraint().unwrap_or_default();
        let field = match constraint {
            "venue_sections_venue_id_name_key" => Some("name"),
            "ticket_types_event_id_name_key" => Some("name"),
            "ticket_type_sections_event_id_section_id_key" => Some("sections"),
            "event_performers_performer_id_fkey" => Some("performers"),
            "events_venue_id_fkey" => Some("venue_id"),
            _ => None,
        };
        let code = db.code().unwrap_or_default().into_owned();
        let problem = match code.as_str() {
            "23505" => Some(
                Problem::new(StatusCode::CONFLICT, "already_exists")
                    .with_detail(format!("conflicts with an existing row ({constraint})")),
            ),
            "23503" => Some(
                Problem::new(StatusCode::CONFLICT, "referenced_row_missing")
                    .with_detail(format!("a row it refers to is gone ({constraint})")),
            ),
            "23514" | "22P02" | "22007" | "22008" => Some(Problem::invalid_field(
                field.unwrap_or("body"),
                format!("the catalog refused the value ({constraint})"),
            )),
            "40001" | "40P01" => Some(Problem::unavailable(
                "the write conflicted with another; try again",
            )),
            _ => None,
        };
        if let Some(mut p) = problem {
            if let Some(field) = field {
                p = p.with_field(field);
            }
            return p;
        }
    }
    if matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
    ) {
        tracing::warn!(error = %e, "admin write: database unavailable");
        return Problem::unavailable("the catalog database is unavailable; try again shortly");
    }
    tracing::error!(error = %e, "admin write failed");
    Problem::internal()
}

fn created(location: String, body: &Value) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    no_store(response)
}

fn ok(body: &Value) -> Response {
    no_store((StatusCode::OK, axum::Json(body)).into_response())
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn begin(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, Problem> {
    pool.begin().await.map_err(db_problem)
}

async fn known_timezone(conn: &mut PgConnection, tz: &str) -> Result<(), Problem> {
    let known: bool =
        sqlx::query_scalar("select exists (select 1 from pg_timezone_names where name = $1)")
            .bind(tz)
            .fetch_one(conn)
            .await
            .map_err(db_problem)?;
    if known {
        Ok(())
    } else {
        Err(Problem::invalid_field(
            "timezone",
            format!("{tz:?} is not an IANA time zone such as \"Europe/London\""),
        ))
    }
}

async fn venue_view(conn: &mut PgConnection, id: i64) -> Result<Option<Value>, Problem> {
    sqlx::query_scalar(
        "select to_jsonb(v) || jsonb_build_object('seat_map', jsonb_build_object(
                 'sections', (select count(*) from venue_sections s where s.venue_id = v.venue_id),
                 'rows', (select count(*) from venue_rows r join venue_sections s using (section_id)
                           where s.venue_id = v.venue_id),
                 'seats', (select count(*) from seats t join venue_rows r using (row_id)
                            join venue_sections s using (section_id) where s.venue_id = v.venue_id)))
           from venues v where venue_id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(db_problem)
}

/// Inserts a seat map into an empty venue: one statement per level, arrays
/// bound as parameters.
async fn insert_seat_map(
    conn: &mut PgConnection,
    venue_id: i64,
    map: &SeatMap,
) -> Result<(), Problem> {
    let names: Vec<&str> = map.sections.iter().map(|s| s.name.as_str()).collect();
    let ranks: Vec<i32> = map.sections.iter().map(|s| s.rank).collect();
    let section_ids: Vec<i64> = sqlx::query_scalar(
        "with input as (select * from unnest($2::text[], $3::int[]) with ordinality as i(name, rank, ord)),
              inserted as (insert into venue_sections (venue_id, name, rank)
                           select $1, name, rank from input order by ord
                           returning section_id, name)
         select inserted.section_id from input join inserted using (name) order by input.ord",
    )
    .bind(venue_id)
    .bind(&names)
    .bind(&ranks)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_problem)?;

    let mut row_sections = Vec::new();
    let mut labels = Vec::new();
    let mut positions = Vec::new();
    for (section, section_id) in map.sections.iter().zip(&section_ids) {
        for (i, row) in section.rows.iter().enumerate() {
            row_sections.push(*section_id);
            labels.push(row.label.as_str());
            positions.push(row.position.unwrap_or(i32::try_from(i).unwrap_or(i32::MAX)));
        }
    }
    let row_ids: Vec<i64> = sqlx::query_scalar(
        "with input as (select * from unnest($1::bigint[], $2::text[], $3::int[])
                        with ordinality as i(section_id, label, position, ord)),
              inserted as (insert into venue_rows (section_id, label, position)
                           select section_id, label, position from input order by ord
                           returning row_id, section_id, label)
         select inserted.row_id from input join inserted using (section_id, label) order by input.ord",
    )
    .bind(&row_sections)
    .bind(&labels)
    .bind(&positions)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_problem)?;

    let rows = map.sections.iter().flat_map(|s| &s.rows);
    let mut seat_rows = Vec::with_capacity(map.seat_count());
    let mut numbers = Vec::with_capacity(map.seat_count());
    let mut xs = Vec::with_capacity(map.seat_count());
    let mut ys = Vec::with_capacity(map.seat_count());
    let mut accessible = Vec::with_capacity(map.seat_count());
    for (row, row_id) in rows.zip(&row_ids) {
        for seat in &row.seats {
            // Validation guarantees number, x and y are present.
            seat_rows.push(*row_id);
            numbers.push(seat.number.unwrap_or_default());
            xs.push(seat.x.unwrap_or_default());
            ys.push(seat.y.unwrap_or_default());
            accessible.push(seat.accessible);
        }
    }
    sqlx::query(
        "insert into seats (row_id, number, x, y, accessible)
         select * from unnest($1::bigint[], $2::int[], $3::real[], $4::real[], $5::bool[])",
    )
    .bind(&seat_rows)
    .bind(&numbers)
    .bind(&xs)
    .bind(&ys)
    .bind(&accessible)
    .execute(&mut *conn)
    .await
    .map_err(db_problem)?;
    Ok(())
}

/// `POST /v1/venues`.
pub async fn create_venue(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiJson(body): ApiJson<NewVenue>,
) -> Answer {
    body.validate()?;
    let mut tx = begin(&state.ctx.pool).await?;
    known_timezone(&mut tx, &body.timezone).await?;
    let id: i64 = sqlx::query_scalar(
        "insert into venues (name, address, city, country, lat, lon, timezone)
         values ($1, $2, $3, $4, $5, $6, $7) returning venue_id",
    )
    .bind(&body.name)
    .bind(&body.address)
    .bind(&body.city)
    .bind(&body.country)
    .bind(body.lat)
    .bind(body.lon)
    .bind(&body.timezone)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_problem)?;
    if let Some(map) = &body.seat_map {
        insert_seat_map(&mut tx, id, map).await?;
    }
    let view = venue_view(&mut tx, id).await?.unwrap_or_default();
    tx.commit().await.map_err(db_problem)?;
    Ok(created(format!("/v1/venues/{id}"), &view))
}

/// `PATCH /v1/venues/{id}`.
pub async fn update_venue(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(raw): Path<String>,
    ApiJson(patch): ApiJson<VenuePatch>,
) -> Answer {
    let id = parse_id(&raw)?;
    patch.validate()?;
    let mut tx = begin(&state.ctx.pool).await?;
    if let Some(tz) = &patch.timezone {
        known_timezone(&mut tx, tz).await?;
    }
    let updated = sqlx::query(
        "update venues set name = coalesce($2, name), address = coalesce($3, address),
                city = coalesce($4, city), country = coalesce($5, country),
                lat = coalesce($6, lat), lon = coalesce($7, lon),
                timezone = coalesce($8, timezone)
          where venue_id = $1",
    )
    .bind(id)
    .bind(&patch.name)
    .bind(&patch.address)
    .bind(&patch.city)
    .bind(&patch.country)
    .bind(patch.lat)
    .bind(patch.lon)
    .bind(&patch.timezone)
    .execute(&mut *tx)
    .await
    .map_err(db_problem)?;
    if updated.rows_affected() == 0 {
        return Err(Problem::not_found(format!("no venue {id}")));
    }
    let view = venue_view(&mut tx, id).await?.unwrap_or_default();
    tx.commit().await.map_err(db_problem)?;
    Ok(ok(&view))
}

/// `PUT /v1/venues/{id}/seat-map`: replaces the seat map. Refused with 409
/// once a ticket type prices any of the venue's sections, because sold and
/// held seats point at them.
pub async fn replace_seat_map(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(raw): Path<String>,
    ApiJson(map): ApiJson<SeatMap>,
) -> Answer {
    let id = parse_id(&raw)?;
    map.validate("")?;
    let mut tx = begin(&state.ctx.pool).await?;
    let exists: Option<i64> =
        sqlx::query_scalar("select venue_id from venues where venue_id = $1 for update")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_problem)?;
    if exists.is_none() {
        return Err(Problem::not_found(format!("no venue {id}")));
    }
    let in_use: Option<i64> = sqlx::query_scalar(
        "select tts.event_id from ticket_type_sections tts
           join venue_sections s using (section_id)
          where s.venue_id = $1 limit 1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_problem)?;
    if let Some(event_id) = in_use {
        return Err(Problem::new(StatusCode::CONFLICT, "seat_map_in_use")
            .with_field("sections")
            .with_detail(format!(
                "event {event_id} prices sections of this seat map; it cannot be replaced"
            )));
    }
    sqlx::query("delete from venue_sections where venue_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_problem)?;
    insert_seat_map(&mut tx, id, &map).await?;
    let view = venue_view(&mut tx, id).await?.unwrap_or_default();
    tx.commit().await.map_err(db_problem)?;
    Ok(ok(&view))
}

async fn performer_view(conn: &mut PgConnection, id: i64) -> Result<Option<Value>, Problem> {
    sqlx::query_scalar("select to_jsonb(p) from performers p where performer_id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(db_problem)
}

/// `POST /v1/performers`.
pub async fn create_performer(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiJson(body): ApiJson<NewPerformer>,
) -> Answer {
    body.validate()?;
    let mut conn = state.ctx.pool.acquire().await.map_err(db_problem)?;
    let id: i64 = sqlx::query_scalar(
        "insert into performers (name, genre, description, image_url)
         values ($1, $2, $3, $4) returning performer_id",
    )
    .bind(&body.name)
    .bind(&body.genre)
    .bind(&body.description)
    .bind(&body.image_url)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_problem)?;
    let view = performer_view(&mut conn, id).await?.unwrap_or_default();
    Ok(created(format!("/v1/performers/{id}"), &view))
}

/// `PATCH /v1/performers/{id}`.
pub async fn update_performer(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(raw): Path<String>,
    ApiJson(patch): ApiJson<PerformerPatch>,
) -> Answer {
    let id = parse_id(&raw)?;
    patch.validate()?;
    let mut conn = state.ctx.pool.acquire().await.map_err(db_problem)?;
    let view: Option<Value> = sqlx::query_scalar(
        "update performers p set name = coalesce($2, name), genre = coalesce($3, genre),
                description = coalesce($4, description), image_url = coalesce($5, image_url)
          where performer_id = $1
         returning to_jsonb(p)",
    )
    .bind(id)
    .bind(&patch.name)
    .bind(&patch.genre)
    .bind(&patch.description)
    .bind(&patch.image_url)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_problem)?;
    view.map(|v| ok(&v))
        .ok_or_else(|| Problem::not_found(format!("no performer {id}")))
}

async fn event_view(conn: &mut PgConnection, id: i64) -> Result<Option<Value>, Problem> {
    sqlx::query_scalar(
        "select to_jsonb(e) || jsonb_build_object(
                 'performers', (select coalesce(jsonb_agg(performer_id order by billing, performer_id), '[]')
                                  from event_performers ep where ep.event_id = e.event_id),
                 'ticket_types', (select coalesce(jsonb_agg(to_jsonb(t) || jsonb_build_object(
                                      'sections', (select coalesce(jsonb_agg(section_id order by section_id), '[]')
                                                     from ticket_type_sections s
                                                    where s.ticket_type_id = t.ticket_type_id))
                                      order by t.ticket_type_id), '[]')
                                    from ticket_types t where t.event_id = e.event_id),
                 'seats_materialized', (select count(*) from event_seats es where es.event_id = e.event_id))
           from events e where event_id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(db_problem)
}

/// The venue must exist and every performer too; names the field if not.
async fn check_references(
    conn: &mut PgConnection,
    venue_id: i64,
    performers: &[i64],
) -> Result<(), Problem> {
    let (venue, missing): (bool, Vec<i64>) = sqlx::query_as(
        "select exists (select 1 from venues where venue_id = $1),
                coalesce((select array_agg(id order by ord) from unnest($2::bigint[]) with ordinality as u(id, ord)
                           where not exists (select 1 from performers p where p.performer_id = u.id)), '{}')",
    )
    .bind(venue_id)
    .bind(performers)
    .fetch_one(conn)
    .await
    .map_err(db_problem)?;
    if !venue {
        return Err(Problem::invalid_field(
            "venue_id",
            format!("no venue {venue_id}"),
        ));
    }
    if let Some(first) = missing.first() {
        let index = performers.iter().position(|p| p == first).unwrap_or(0);
        return Err(Problem::invalid_field(
            format!("performers[{index}]"),
            format!("no performer {first}"),
        ));
    }
    Ok(())
}

async fn set_performers(
    conn: &mut PgConnection,
    event_id: i64,
    performers: &[i64],
) -> Result<(), Problem> {
    sqlx::query(
        "delete from event_performers where event_id = $1 and performer_id <> all($2::bigint[])",
    )
    .bind(event_id)
    .bind(performers)
    .execute(&mut *conn)
    .await
    .map_err(db_problem)?;
    sqlx::query(
        "insert into event_performers (event_id, performer_id, billing)
         select $1, id, (ord - 1)::int from unnest($2::bigint[]) with ordinality as u(id, ord)
         on conflict (event_id, performer_id) do update set billing = excluded.billing
          where event_performers.billing is distinct from excluded.billing",
    )
    .bind(event_id)
    .bind(performers)
    .execute(&mut *conn)
    .await
    .map_err(db_problem)?;
    Ok(())
}

/// Binds an event row's columns as $1..$11, in table order.
fn bind_event<'q>(
    query: sqlx::query::QueryScalar<'q, sqlx::Postgres, i64, sqlx::postgres::PgArguments>,
    row: &'q EventRow,
) -> sqlx::query::QueryScalar<'q, sqlx::Postgres, i64, sqlx::postgres::PgArguments> {
    query
        .bind(row.venue_id)
        .bind(&row.title)
        .bind(&row.description)
        .bind(&row.category)
        .bind(&row.genre)
        .bind(row.starts_at)
        .bind(row.ends_at)
        .bind(&row.status)
        .bind(row.popularity)
        .bind(row.sale_starts_at)
        .bind(row.sale_ends_at)
}

/// `POST /v1/events`.
pub async fn create_event(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiJson(body): ApiJson<NewEvent>,
) -> Answer {
    body.validate()?;
    let row = body.row();
    let mut tx = begin(&state.ctx.pool).await?;
    check_references(&mut tx, row.venue_id, &body.performers).await?;
    let insert = sqlx::query_scalar(
        "insert into events (venue_id, title, description, category, genre, starts_at, ends_at,
                             status, popularity, sale_starts_at, sale_ends_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning event_id",
    );
    let id: i64 = bind_event(insert, &row)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_problem)?;
    set_performers(&mut tx, id, &body.performers).await?;
    let view = event_view(&mut tx, id).await?.unwrap_or_default();
    tx.commit().await.map_err(db_problem)?;
    Ok(created(format!("/v1/events/{id}"), &view))
}

/// `PATCH /v1/events/{id}`. The patch is applied to the stored row and the
/// result validated whole. A cancelled event is not edited (409); the venue
/// cannot change once a seated tier prices its sections (409).
pub async fn update_event(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(raw): Path<String>,
    ApiJson(patch): ApiJson<EventPatch>,
) -> Answer {
    let id = parse_id(&raw)?;
    let mut tx = begin(&state.ctx.pool).await?;
    let current: Option<EventRow> = sqlx::query_as(
        "select venue_id, title, description, category, genre, starts_at, ends_at, status,
                popularity, sale_starts_at, sale_ends_at
           from events where event_id = $1 for update",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_problem)?;
    let Some(current) = current else {
        return Err(Problem::not_found(format!("no event {id}")));
    };
    if current.status == "cancelled" {
        return Err(Problem::new(StatusCode::CONFLICT, "event_cancelled")
            .with_detail(format!("event {id} is cancelled and can no longer change")));
    }
    let row = patch.apply(&current)?;
    row.validate()?;
    let performers = patch.performers.as_deref().unwrap_or_default();
    check_references(&mut tx, row.venue_id, performers).await?;
    if row.venue_id != current.venue_id {
        let priced: bool = sqlx::query_scalar(
            "select exists (select 1 from ticket_type_sections where event_id = $1)",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_problem)?;
        if priced {
            return Err(Problem::new(StatusCode::CONFLICT, "venue_in_use")
                .with_field("venue_id")
                .with_detail(
                    "seated ticket types price this venue's sections; the venue cannot change",
                ));
        }
    }
    let update = sqlx::query_scalar::<_, i64>(
        "update events set venue_id = $1, title = $2, description = $3, category = $4, genre = $5,
                starts_at = $6, ends_at = $7, status = $8, popularity = $9,
                sale_starts_at = $10, sale_ends_at = $11
          where event_id = $12 returning event_id",
    );
    bind_event(update, &row)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_problem)?;
    if let Some(performers) = &patch.performers {
        set_performers(&mut tx, id, performers).await?;
    }
    sale_opener::materialize(&mut tx, id, None)
        .await
        .map_err(db_problem)?;
    let view = event_view(&mut tx, id).await?.unwrap_or_default();
    tx.commit().await.map_err(db_problem)?;
    Ok(ok(&view))
}

/// `POST /v1/events/{id}/cancel`. Idempotent: cancelling a cancelled event
/// answers 200 again. A completed event is not cancelled (409). Bookings
/// are left to the booking service (holds lapse; refunds are its job).
pub async fn cancel_event(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(raw): Path<String>,
) -> Answer {
    let id = parse_id(&raw)?;
    let mut tx = begin(&state.ctx.pool).await?;
    let status: Option<String> =
        sqlx::query_scalar("select status from events where event_id = $1 for update")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_problem)?;
    match status.as_deref() {
        None => return Err(Problem::not_found(format!("no event {id}"))),
        Some("completed") => {
            return Err(Problem::new(StatusCode::CONFLICT, "event_completed")
                .with_detail(format!("event {id} has already taken place")));
        }
        Some("cancelled") => {}
        Some(_) => {
            sqlx::query("update events set status = 'cancelled' where event_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_problem)?;
        }
    }
    let view = event_view(&mut tx, id).await?.unwrap_or_default();
    tx.commit().await.map_err(db_problem)?;
    Ok(ok(&view))
}

/// `POST /v1/events/{id}/ticket-types`. A seated tier's sections must be
/// the event venue's and not priced by another tier. If the event's sale is
/// open, the tier's seats are materialized in the same transaction.
pub async fn create_ticket_type(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<NewTicketType>,
) -> Answer {
    let event_id = parse_id(&raw)?;
    body.validate()?;
    let mut tx = begin(&state.ctx.pool).await?;
    // Lock the event so its venue cannot change under us.
    let event: Option<(i64, String)> =
        sqlx::query_as("select venue_id, status from events where event_id = $1 for update")
            .bind(event_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_problem)?;
    let Some((venue_id, status)) = event else {
        return Err(Problem::not_found(format!("no event {event_id}")));
    };
    if matches!(status.as_str(), "cancelled" | "completed") {
        return Err(Problem::new(StatusCode::CONFLICT, "event_closed")
            .with_detail(format!("event {event_id} is {status}")));
    }
    if !body.sections.is_empty() {
        let (foreign, priced): (Vec<i64>, Vec<i64>) = sqlx::query_as(
            "select coalesce((select array_agg(id) from unnest($2::bigint[]) as u(id)
                               where not exists (select 1 from venue_sections s
                                                  where s.section_id = u.id and s.venue_id = $1)), '{}'),
                    coalesce((select array_agg(section_id) from ticket_type_sections
                               where event_id = $3 and section_id = any($2::bigint[])), '{}')",
        )
        .bind(venue_id)
        .bind(&body.sections)
        .bind(event_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_problem)?;
        let index_of = |id: i64| body.sections.iter().position(|s| *s == id).unwrap_or(0);
        if let Some(id) = foreign.first() {
            return Err(Problem::invalid_field(
                format!("sections[{}]", index_of(*id)),
                format!("section {id} is not a section of venue {venue_id}"),
            ));
        }
        if let Some(id) = priced.first() {
            return Err(Problem::new(StatusCode::CONFLICT, "section_already_priced")
                .with_field(format!("sections[{}]", index_of(*id)))
                .with_detail(format!("section {id} is already priced by another tier")));
        }
    }
    let ticket_type_id: i64 = sqlx::query_scalar(
        "insert into ticket_types (event_id, name, kind, price_cents, currency, capacity, hold_seconds)
         values ($1, $2, $3, $4, $5, $6, $7) returning ticket_type_id",
    )
    .bind(event_id)
    .bind(&body.name)
    .bind(&body.kind)
    .bind(body.price_cents)
    .bind(&body.currency)
    .bind(body.capacity)
    .bind(body.hold_seconds)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_problem)?;
    sqlx::query(
        "insert into ticket_type_sections (ticket_type_id, event_id, section_id)
         select $1, $2, unnest($3::bigint[])",
    )
    .bind(ticket_type_id)
    .bind(event_id)
    .bind(&body.sections)
    .execute(&mut *tx)
    .await
    .map_err(db_problem)?;
    let seats = sale_opener::materialize(&mut tx, event_id, Some(ticket_type_id))
        .await
        .map_err(db_problem)?;
    let mut view: Value = sqlx::query_scalar(
        "select to_jsonb(t) || jsonb_build_object(
                 'sections', (select coalesce(jsonb_agg(section_id order by section_id), '[]')
                                from ticket_type_sections s where s.ticket_type_id = t.ticket_type_id))
           from ticket_types t where ticket_type_id = $1",
    )
    .bind(ticket_type_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_problem)?;
    view["seats_materialized"] = seats.into();
    tx.commit().await.map_err(db_problem)?;
    // The tier has no page of its own; the event page lists it.
    Ok(created(format!("/v1/events/{event_id}"), &view))
}
