//! Venue writes: `POST /v1/venues`, `PATCH /v1/venues/{id}` and
//! `PUT /v1/venues/{id}/seat-map`. Admin only (see [`crate::admin`]).

use auth::CatalogAdmin;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use problem::{ApiJson, Problem};
use serde_json::Value;
use sqlx::PgConnection;
use utoipa::ToSchema;

use super::input::{NewVenue, SeatMap, VenuePatch};
use crate::AppState;
use crate::admin::{created, ok};
use crate::error::{ApiError, ApiResult, ResultExt, already_exists};
use crate::ids::VenueId;

// The database builds this body (`venue_view`); the type names its
// members for the API description, and a test checks them against the
// table.
/// A venue as the admin writes answer it: the stored row and the size of
/// its seat map.
#[derive(Debug, ToSchema)]
pub struct StoredVenue {
    pub venue_id: i64,
    pub name: String,
    pub address: String,
    pub city: String,
    #[schema(example = "GB")]
    pub country: String,
    pub lat: f64,
    pub lon: f64,
    #[schema(example = "Europe/London")]
    pub timezone: String,
    /// The stage, field or pitch outline (`[x, y]` points), if set with
    /// the seat map.
    #[schema(value_type = Option<Vec<Vec<f64>>>)]
    pub stage: Option<Vec<[f64; 2]>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub seat_map: SeatMapSize,
}

/// How big a venue's seat map is.
#[derive(Debug, ToSchema)]
pub struct SeatMapSize {
    pub sections: i64,
    pub rows: i64,
    pub seats: i64,
}

async fn known_timezone(conn: &mut PgConnection, tz: &str) -> ApiResult<()> {
    let known: bool =
        sqlx::query_scalar("select exists (select 1 from pg_timezone_names where name = $1)")
            .bind(tz)
            .fetch_one(conn)
            .await?;
    if known {
        Ok(())
    } else {
        Err(Problem::invalid_field(
            "timezone",
            format!("{tz:?} is not an IANA time zone such as \"Europe/London\""),
        )
        .into())
    }
}

async fn venue_view(conn: &mut PgConnection, id: i64) -> ApiResult<Option<Value>> {
    Ok(sqlx::query_scalar(
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
    .await?)
}

/// Inserts a seat map into an empty venue: one statement per level, arrays
/// bound as parameters.
async fn insert_seat_map(conn: &mut PgConnection, venue_id: i64, map: &SeatMap) -> ApiResult<()> {
    sqlx::query("update venues set stage = $2 where venue_id = $1")
        .bind(venue_id)
        .bind(map.stage.as_ref().map(sqlx::types::Json))
        .execute(&mut *conn)
        .await?;
    let section_ids = insert_sections(conn, venue_id, map).await?;
    let row_ids = insert_rows(conn, map, &section_ids).await?;
    insert_seats(conn, map, &row_ids).await
}

/// The sections' ids, in the map's order.
async fn insert_sections(
    conn: &mut PgConnection,
    venue_id: i64,
    map: &SeatMap,
) -> ApiResult<Vec<i64>> {
    let names: Vec<&str> = map.sections.iter().map(|s| s.name.as_str()).collect();
    let ranks: Vec<i32> = map.sections.iter().map(|s| s.rank).collect();
    sqlx::query_scalar(
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
    .on_constraint("venue_sections_venue_id_name_key", |db| {
        already_exists(db).with_field("name")
    })
}

/// The rows' ids, in the map's order (section by section).
async fn insert_rows(
    conn: &mut PgConnection,
    map: &SeatMap,
    section_ids: &[i64],
) -> ApiResult<Vec<i64>> {
    let mut row_sections = Vec::new();
    let mut labels = Vec::new();
    let mut positions = Vec::new();
    for (section, section_id) in map.sections.iter().zip(section_ids) {
        for (i, row) in section.rows.iter().enumerate() {
            row_sections.push(*section_id);
            labels.push(row.label.as_str());
            positions.push(row.position.unwrap_or(i32::try_from(i).unwrap_or(i32::MAX)));
        }
    }
    Ok(sqlx::query_scalar(
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
    .await?)
}

async fn insert_seats(conn: &mut PgConnection, map: &SeatMap, row_ids: &[i64]) -> ApiResult<()> {
    let rows = map.sections.iter().flat_map(|s| &s.rows);
    let mut seat_rows = Vec::with_capacity(map.seat_count());
    let mut numbers = Vec::with_capacity(map.seat_count());
    let mut xs = Vec::with_capacity(map.seat_count());
    let mut ys = Vec::with_capacity(map.seat_count());
    let mut accessible = Vec::with_capacity(map.seat_count());
    for (row, row_id) in rows.zip(row_ids) {
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
    .await?;
    Ok(())
}

/// Create a venue, optionally with its seat map.
///
/// Bodies up to 32 MB (a 200,000-seat map is about 10 MB of JSON).
#[utoipa::path(post, path = "/v1/venues", tag = "venues",
    security(("bearer" = [])),
    request_body = NewVenue,
    responses(
        (status = 201, description = "Created; `Location` names the venue.", body = StoredVenue,
            headers(("Location" = String, description = "The venue's URL."))),
        CatalogAdmin, ApiJson<NewVenue>, ApiError,
    ))]
pub async fn create_venue(
    State(state): State<AppState>,
    _admin: CatalogAdmin,
    ApiJson(body): ApiJson<NewVenue>,
) -> ApiResult<Response> {
    body.validate()?;
    let mut tx = state.ctx.pool.begin().await?;
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
    .await?;
    if let Some(map) = &body.seat_map {
        insert_seat_map(&mut tx, id, map).await?;
    }
    let view = venue_view(&mut tx, id).await?.unwrap_or_default();
    tx.commit().await?;
    Ok(created(&format!("/v1/venues/{id}"), &view))
}

/// Change a venue's details.
///
/// The fields present replace the stored ones. The seat map is not
/// accepted here; see `PUT /v1/venues/{id}/seat-map`.
#[utoipa::path(patch, path = "/v1/venues/{id}", tag = "venues",
    security(("bearer" = [])),
    params(VenueId),
    request_body = VenuePatch,
    responses(
        (status = 200, description = "The changed venue.", body = StoredVenue),
        CatalogAdmin, VenueId, ApiJson<VenuePatch>, ApiError,
    ))]
pub async fn update_venue(
    State(state): State<AppState>,
    _admin: CatalogAdmin,
    VenueId(id): VenueId,
    ApiJson(patch): ApiJson<VenuePatch>,
) -> ApiResult<Response> {
    patch.validate()?;
    let mut tx = state.ctx.pool.begin().await?;
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
    .await?;
    if updated.rows_affected() == 0 {
        return Err(Problem::not_found(format!("no venue {id}")).into());
    }
    let view = venue_view(&mut tx, id).await?.unwrap_or_default();
    tx.commit().await?;
    Ok(ok(&view))
}

/// Replace a venue's seat map.
///
/// Refused with 409 `seat_map_in_use` once a ticket type prices any of the
/// venue's sections, because sold and held seats point at them. Bodies up
/// to 32 MB.
#[utoipa::path(put, path = "/v1/venues/{id}/seat-map", tag = "venues",
    security(("bearer" = [])),
    params(VenueId),
    request_body = SeatMap,
    responses(
        (status = 200, description = "The venue with its new seat map.", body = StoredVenue),
        CatalogAdmin, VenueId, ApiJson<SeatMap>, ApiError,
    ))]
pub async fn replace_seat_map(
    State(state): State<AppState>,
    _admin: CatalogAdmin,
    VenueId(id): VenueId,
    ApiJson(map): ApiJson<SeatMap>,
) -> ApiResult<Response> {
    map.validate("")?;
    let mut tx = state.ctx.pool.begin().await?;
    let exists: Option<i64> =
        sqlx::query_scalar("select venue_id from venues where venue_id = $1 for update")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        return Err(Problem::not_found(format!("no venue {id}")).into());
    }
    let in_use: Option<i64> = sqlx::query_scalar(
        "select tts.event_id from ticket_type_sections tts
           join venue_sections s using (section_id)
          where s.venue_id = $1 limit 1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(event_id) = in_use {
        return Err(Problem::new(StatusCode::CONFLICT, "seat_map_in_use")
            .with_field("sections")
            .with_detail(format!(
                "event {event_id} prices sections of this seat map; it cannot be replaced"
            ))
            .into());
    }
    sqlx::query("delete from venue_sections where venue_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    insert_seat_map(&mut tx, id, &map).await?;
    let view = venue_view(&mut tx, id).await?.unwrap_or_default();
    tx.commit().await?;
    Ok(ok(&view))
}
