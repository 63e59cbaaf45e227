//! `POST /v1/events/{id}/ticket-types`: adds a tier to an event. Admin only
//! (see [`crate::admin`]).
//!
//! A seated tier's sections must be the event venue's and not priced by
//! another tier. If the event's sale is open, the tier's seats are
//! materialized in the same transaction ([`super::sale_opener`]).

use auth::CatalogAdmin;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use problem::{ApiJson, Problem};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use utoipa::ToSchema;

use super::admin::StoredTicketType;
use super::input::NewTicketType;
use super::sale_opener;
use crate::AppState;
use crate::admin::created;
use crate::error::{ApiError, ApiResult, ResultExt, already_exists};
use crate::ids::EventId;

// The database builds this body; the type names its members for the API
// description, and a test checks them against the table.
/// A new ticket type as stored, and how many of its seats were
/// materialized (all of them when the event's sale is open, else none yet).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTicketType {
    #[serde(flatten)]
    pub stored: StoredTicketType,
    pub seats_materialized: i64,
}

/// Locks the event so its venue cannot change under us; returns the venue.
/// A cancelled or completed event takes no new tiers (409).
async fn lock_open_event(conn: &mut PgConnection, event_id: i64) -> ApiResult<i64> {
    let event: Option<(i64, String)> =
        sqlx::query_as("select venue_id, status from events where event_id = $1 for update")
            .bind(event_id)
            .fetch_optional(conn)
            .await?;
    let Some((venue_id, status)) = event else {
        return Err(Problem::not_found(format!("no event {event_id}")).into());
    };
    if matches!(status.as_str(), "cancelled" | "completed") {
        return Err(Problem::new(StatusCode::CONFLICT, "event_closed")
            .with_detail(format!("event {event_id} is {status}"))
            .into());
    }
    Ok(venue_id)
}

/// Every section is the venue's (400 otherwise) and not yet priced for
/// this event (409 otherwise), naming the first at fault.
async fn check_sections(
    conn: &mut PgConnection,
    event_id: i64,
    venue_id: i64,
    sections: &[i64],
) -> ApiResult<()> {
    if sections.is_empty() {
        return Ok(());
    }
    let (foreign, priced): (Vec<i64>, Vec<i64>) = sqlx::query_as(
        "select coalesce((select array_agg(id) from unnest($2::bigint[]) as u(id)
                           where not exists (select 1 from venue_sections s
                                              where s.section_id = u.id and s.venue_id = $1)), '{}'),
                coalesce((select array_agg(section_id) from ticket_type_sections
                           where event_id = $3 and section_id = any($2::bigint[])), '{}')",
    )
    .bind(venue_id)
    .bind(sections)
    .bind(event_id)
    .fetch_one(conn)
    .await?;
    let index_of = |id: i64| sections.iter().position(|s| *s == id).unwrap_or(0);
    if let Some(id) = foreign.first() {
        return Err(Problem::invalid_field(
            format!("sections[{}]", index_of(*id)),
            format!("section {id} is not a section of venue {venue_id}"),
        )
        .into());
    }
    if let Some(id) = priced.first() {
        return Err(Problem::new(StatusCode::CONFLICT, "section_already_priced")
            .with_field(format!("sections[{}]", index_of(*id)))
            .with_detail(format!("section {id} is already priced by another tier"))
            .into());
    }
    Ok(())
}

/// Inserts the tier and the sections it prices; returns its id.
async fn insert_ticket_type(
    conn: &mut PgConnection,
    event_id: i64,
    body: &NewTicketType,
) -> ApiResult<i64> {
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
    .fetch_one(&mut *conn)
    .await
    .on_constraint("ticket_types_event_id_name_key", |db| {
        already_exists(db).with_field("name")
    })?;
    sqlx::query(
        "insert into ticket_type_sections (ticket_type_id, event_id, section_id)
         select $1, $2, unnest($3::bigint[])",
    )
    .bind(ticket_type_id)
    .bind(event_id)
    .bind(&body.sections)
    .execute(&mut *conn)
    .await
    .on_constraint("ticket_type_sections_event_id_section_id_key", |db| {
        already_exists(db).with_field("sections")
    })?;
    Ok(ticket_type_id)
}

/// Add a ticket type to an event.
///
/// A seated tier prices sections of the event's venue (409
/// `section_already_priced` when another tier prices one of them); general
/// admission has a capacity. A cancelled or completed event is 409
/// `event_closed`. When the sale is open, the tier's seats are
/// materialized at once (`seats_materialized`); otherwise when it opens.
#[utoipa::path(post, path = "/v1/events/{id}/ticket-types", tag = "events",
    security(("bearer" = [])),
    params(EventId),
    request_body = NewTicketType,
    responses(
        (status = 201, description = "Created; `Location` names the event, whose page lists it.",
            body = CreatedTicketType,
            headers(("Location" = String, description = "The event's URL."))),
        CatalogAdmin, EventId, ApiJson<NewTicketType>, ApiError,
    ))]
pub async fn create_ticket_type(
    State(state): State<AppState>,
    _admin: CatalogAdmin,
    EventId(event_id): EventId,
    ApiJson(body): ApiJson<NewTicketType>,
) -> ApiResult<Response> {
    body.validate()?;
    let mut tx = state.ctx.pool.begin().await?;
    let venue_id = lock_open_event(&mut tx, event_id).await?;
    check_sections(&mut tx, event_id, venue_id, &body.sections).await?;
    let ticket_type_id = insert_ticket_type(&mut tx, event_id, &body).await?;
    let seats = sale_opener::materialize(&mut tx, event_id, Some(ticket_type_id)).await?;
    let mut view: Value = sqlx::query_scalar(
        "select to_jsonb(t) || jsonb_build_object(
                 'sections', (select coalesce(jsonb_agg(section_id order by section_id), '[]')
                                from ticket_type_sections s where s.ticket_type_id = t.ticket_type_id))
           from ticket_types t where ticket_type_id = $1",
    )
    .bind(ticket_type_id)
    .fetch_one(&mut *tx)
    .await?;
    view["seats_materialized"] = seats.into();
    tx.commit().await?;
    // The tier has no page of its own; the event page lists it.
    Ok(created(&format!("/v1/events/{event_id}"), &view))
}
