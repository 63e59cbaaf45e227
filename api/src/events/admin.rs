//! Event writes: `POST /v1/events`, `PATCH /v1/events/{id}` and
//! `POST /v1/events/{id}/cancel`. Admin only (see [`crate::admin`]).
//!
//! A write that leaves an event's sale open materializes its seat inventory
//! in the same transaction ([`super::sale_opener`]).

use auth::CatalogAdmin;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use problem::{ApiJson, Problem};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use utoipa::ToSchema;

use super::input::{EventPatch, EventRow, NewEvent};
use super::sale_opener;
use crate::AppState;
use crate::admin::{created, ok};
use crate::error::{ApiError, ApiResult, ResultExt, referenced_row_missing};
use crate::ids::EventId;
use crate::schema::{Category, EventStatus, TicketKind};

// The database builds this body (`event_view`); the type names its
// members for the API description, and a test checks them against the
// table.
/// An event as the admin writes answer it: the stored row, its performers,
/// its ticket types with their sections, and how many seats are
/// materialized.
#[derive(Debug, ToSchema)]
pub struct StoredEvent {
    pub event_id: i64,
    pub venue_id: i64,
    pub title: String,
    pub description: String,
    #[schema(value_type = Category)]
    pub category: String,
    pub genre: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[schema(value_type = EventStatus)]
    pub status: String,
    pub popularity: f64,
    pub sale_starts_at: DateTime<Utc>,
    pub sale_ends_at: DateTime<Utc>,
    /// When the doors open, if set.
    pub doors_at: Option<DateTime<Utc>>,
    /// The picture an admin set (https), if any.
    #[schema(format = "uri")]
    pub image_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it first left `draft`; never set for an event that stayed a
    /// draft, which has no public page.
    pub published_at: Option<DateTime<Utc>>,
    /// Performer ids, headliner first.
    pub performers: Vec<i64>,
    pub ticket_types: Vec<StoredTicketType>,
    /// Seats in the event's inventory; they appear when the sale opens.
    pub seats_materialized: i64,
}

/// A ticket type as stored, with the sections it prices.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredTicketType {
    pub ticket_type_id: i64,
    pub event_id: i64,
    pub name: String,
    #[schema(value_type = TicketKind)]
    pub kind: String,
    /// In minor units of `currency`.
    pub price_cents: i64,
    #[schema(example = "EUR")]
    pub currency: String,
    /// General admission only; null for a seated tier.
    pub capacity: Option<i32>,
    pub hold_seconds: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The venue sections a seated tier prices; empty for general
    /// admission.
    pub sections: Vec<i64>,
}

/// The event as the admin API shows it: the row, its performers, its
/// ticket types with their sections, and how many seats are materialized.
async fn event_view(conn: &mut PgConnection, id: i64) -> ApiResult<Option<Value>> {
    Ok(sqlx::query_scalar(
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
    .await?)
}

/// The venue must exist and every performer too; names the field if not.
async fn check_references(
    conn: &mut PgConnection,
    venue_id: i64,
    performers: &[i64],
) -> ApiResult<()> {
    let (venue, missing): (bool, Vec<i64>) = sqlx::query_as(
        "select exists (select 1 from venues where venue_id = $1),
                coalesce((select array_agg(id order by ord) from unnest($2::bigint[]) with ordinality as u(id, ord)
                           where not exists (select 1 from performers p where p.performer_id = u.id)), '{}')",
    )
    .bind(venue_id)
    .bind(performers)
    .fetch_one(conn)
    .await?;
    if !venue {
        return Err(Problem::invalid_field("venue_id", format!("no venue {venue_id}")).into());
    }
    if let Some(first) = missing.first() {
        let index = performers.iter().position(|p| p == first).unwrap_or(0);
        return Err(Problem::invalid_field(
            format!("performers[{index}]"),
            format!("no performer {first}"),
        )
        .into());
    }
    Ok(())
}

async fn set_performers(
    conn: &mut PgConnection,
    event_id: i64,
    performers: &[i64],
) -> ApiResult<()> {
    sqlx::query(
        "delete from event_performers where event_id = $1 and performer_id <> all($2::bigint[])",
    )
    .bind(event_id)
    .bind(performers)
    .execute(&mut *conn)
    .await?;
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
    .on_constraint("event_performers_performer_id_fkey", |db| {
        referenced_row_missing(db).with_field("performers")
    })?;
    Ok(())
}

/// Binds an event row's columns as $1..$13, in table order.
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
        .bind(row.doors_at)
        .bind(&row.image_url)
}

/// The event's venue is gone (a race with the reference check).
fn venue_gone(db: &dyn sqlx::error::DatabaseError) -> Problem {
    referenced_row_missing(db).with_field("venue_id")
}

/// Create an event.
///
/// Writes Postgres only; search and the page caches follow through the
/// indexer. When the sale window is open already, the seat inventory is
/// materialized in the same transaction.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    security(("bearer" = [])),
    request_body = NewEvent,
    responses(
        (status = 201, description = "Created; `Location` names the event.", body = StoredEvent,
            headers(("Location" = String, description = "The event's URL."))),
        CatalogAdmin, ApiJson<NewEvent>, ApiError,
    ))]
pub async fn create_event(
    State(state): State<AppState>,
    _admin: CatalogAdmin,
    ApiJson(body): ApiJson<NewEvent>,
) -> ApiResult<Response> {
    body.validate()?;
    let row = body.row();
    let mut tx = state.ctx.pool.begin().await?;
    check_references(&mut tx, row.venue_id, &body.performers).await?;
    let insert = sqlx::query_scalar(
        "insert into events (venue_id, title, description, category, genre, starts_at, ends_at,
                             status, popularity, sale_starts_at, sale_ends_at, doors_at, image_url)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) returning event_id",
    );
    let id: i64 = bind_event(insert, &row)
        .fetch_one(&mut *tx)
        .await
        .on_constraint("events_venue_id_fkey", venue_gone)?;
    set_performers(&mut tx, id, &body.performers).await?;
    let view = event_view(&mut tx, id).await?.unwrap_or_default();
    tx.commit().await?;
    Ok(created(&format!("/v1/events/{id}"), &view))
}

/// The stored row, locked for the rest of the transaction. A cancelled
/// event is not edited (409).
async fn lock_editable_event(conn: &mut PgConnection, id: i64) -> ApiResult<EventRow> {
    let current: Option<EventRow> = sqlx::query_as(
        "select venue_id, title, description, category, genre, starts_at, ends_at, status,
                popularity, sale_starts_at, sale_ends_at, doors_at, image_url
           from events where event_id = $1 for update",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    let Some(current) = current else {
        return Err(Problem::not_found(format!("no event {id}")).into());
    };
    if current.status == "cancelled" {
        return Err(Problem::new(StatusCode::CONFLICT, "event_cancelled")
            .with_detail(format!("event {id} is cancelled and can no longer change"))
            .into());
    }
    Ok(current)
}

/// The venue cannot change once a seated tier prices its sections (409).
async fn check_venue_change(
    conn: &mut PgConnection,
    id: i64,
    current: &EventRow,
    row: &EventRow,
) -> ApiResult<()> {
    if row.venue_id == current.venue_id {
        return Ok(());
    }
    let priced: bool = sqlx::query_scalar(
        "select exists (select 1 from ticket_type_sections where event_id = $1)",
    )
    .bind(id)
    .fetch_one(conn)
    .await?;
    if priced {
        return Err(Problem::new(StatusCode::CONFLICT, "venue_in_use")
            .with_field("venue_id")
            .with_detail("seated ticket types price this venue's sections; the venue cannot change")
            .into());
    }
    Ok(())
}

/// Change an event.
///
/// The fields present replace the stored ones and the result is checked
/// whole. A cancelled event is 409 `event_cancelled`; moving an event to
/// another venue once a seated tier prices its sections is 409
/// `venue_in_use`. When the change opens the sale, the seat inventory is
/// materialized in the same transaction.
#[utoipa::path(patch, path = "/v1/events/{id}", tag = "events",
    security(("bearer" = [])),
    params(EventId),
    request_body = EventPatch,
    responses(
        (status = 200, description = "The changed event.", body = StoredEvent),
        CatalogAdmin, EventId, ApiJson<EventPatch>, ApiError,
    ))]
pub async fn update_event(
    State(state): State<AppState>,
    _admin: CatalogAdmin,
    EventId(id): EventId,
    ApiJson(patch): ApiJson<EventPatch>,
) -> ApiResult<Response> {
    let mut tx = state.ctx.pool.begin().await?;
    let current = lock_editable_event(&mut tx, id).await?;
    let row = patch.apply(&current)?;
    row.validate()?;
    let performers = patch.performers.as_deref().unwrap_or_default();
    check_references(&mut tx, row.venue_id, performers).await?;
    check_venue_change(&mut tx, id, &current, &row).await?;
    let update = sqlx::query_scalar::<_, i64>(
        "update events set venue_id = $1, title = $2, description = $3, category = $4, genre = $5,
                starts_at = $6, ends_at = $7, status = $8, popularity = $9,
                sale_starts_at = $10, sale_ends_at = $11, doors_at = $12, image_url = $13
          where event_id = $14 returning event_id",
    );
    bind_event(update, &row)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .on_constraint("events_venue_id_fkey", venue_gone)?;
    if let Some(performers) = &patch.performers {
        set_performers(&mut tx, id, performers).await?;
    }
    sale_opener::materialize(&mut tx, id, None).await?;
    let view = event_view(&mut tx, id).await?.unwrap_or_default();
    tx.commit().await?;
    Ok(ok(&view))
}

/// Cancel an event.
///
/// Idempotent: cancelling a cancelled event answers 200 again. A completed
/// event is 409 `event_completed`. Bookings are left to the booking
/// service (holds lapse; refunds are its job).
#[utoipa::path(post, path = "/v1/events/{id}/cancel", tag = "events",
    security(("bearer" = [])),
    params(EventId),
    responses(
        (status = 200, description = "The cancelled event.", body = StoredEvent),
        CatalogAdmin, EventId, ApiError,
    ))]
pub async fn cancel_event(
    State(state): State<AppState>,
    _admin: CatalogAdmin,
    EventId(id): EventId,
) -> ApiResult<Response> {
    let mut tx = state.ctx.pool.begin().await?;
    let status: Option<String> =
        sqlx::query_scalar("select status from events where event_id = $1 for update")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match status.as_deref() {
        None => return Err(Problem::not_found(format!("no event {id}")).into()),
        Some("completed") => {
            return Err(Problem::new(StatusCode::CONFLICT, "event_completed")
                .with_detail(format!("event {id} has already taken place"))
                .into());
        }
        Some("cancelled") => {}
        Some(_) => {
            sqlx::query("update events set status = 'cancelled' where event_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
    }
    let view = event_view(&mut tx, id).await?.unwrap_or_default();
    tx.commit().await?;
    Ok(ok(&view))
}
