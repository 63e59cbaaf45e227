//! Bulk loading with binary COPY.
//!
//! Ids are assigned by the generator, so every table loads in one COPY
//! without round trips; identity sequences are moved past them afterwards.
//! Seat inventory is derived in the database (`insert .. select`) from the
//! seat map and the ticket types' sections, the same way an admin opening a
//! sale materializes it.

use std::pin::pin;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use crate::generate::Catalog;

/// Why loading failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The catalog tables already hold rows.
    #[error("the database already holds a catalog ({0} events); pass --reset to replace it")]
    NotEmpty(i64),
    /// A statement failed.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
}

/// What was loaded, and how long it took.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub users: usize,
    pub performers: usize,
    pub venues: usize,
    pub seats: usize,
    pub events: usize,
    pub ticket_types: usize,
    /// Events whose seat inventory was materialized (seated, sale open).
    pub events_on_sale: u64,
    /// Rows in `event_seats`.
    pub event_seats: u64,
    pub elapsed: Duration,
}

static TICKET_KINDS: [&str; 2] = ["seated", "general_admission"];

const CATALOG_TABLES: &str = "users, performers, venues, venue_sections, venue_rows, seats, events, \
     event_performers, ticket_types, ticket_type_sections, ga_inventory, event_seats, bookings, \
     booking_items, payments, idempotency_keys, outbox";

/// Loads `catalog` in one transaction. With `reset`, existing catalog and
/// booking rows are removed first; without it, a non-empty catalog is an error.
/// Seat inventory is materialized for at most `inventory_events` of the
/// events on sale at `now` (the most popular; all with `None`); the rest
/// follow with [`materialize_open_inventory`] (`ticketctl open-sales`).
pub async fn load(
    client: &mut Client,
    catalog: &Catalog,
    now: DateTime<Utc>,
    reset: bool,
    inventory_events: Option<i64>,
) -> Result<LoadReport, LoadError> {
    let started = Instant::now();
    let tx = client.transaction().await?;
    if reset {
        tx.batch_execute(&format!(
            "truncate {CATALOG_TABLES} restart identity cascade"
        ))
        .await?;
    } else {
        let existing: i64 = tx
            .query_one("select count(*) from events", &[])
            .await?
            .get(0);
        if existing > 0 {
            return Err(LoadError::NotEmpty(existing));
        }
    }

    copy_places(&tx, catalog).await?;
    copy_events(&tx, catalog).await?;
    move_sequences(&tx).await?;

    let (events_on_sale, event_seats) =
        materialize_open_inventory(&tx, now, inventory_events).await?;
    tx.commit().await?;

    Ok(LoadReport {
        users: catalog.users.len(),
        performers: catalog.performers.len(),
        venues: catalog.venues.len(),
        seats: catalog.venue_seat_count(),
        events: catalog.events.len(),
        ticket_types: catalog.events.iter().map(|e| e.ticket_types.len()).sum(),
        events_on_sale,
        event_seats,
        elapsed: started.elapsed(),
    })
}

/// Users, performers, venues and their seat maps.
async fn copy_places(
    tx: &tokio_postgres::Transaction<'_>,
    catalog: &Catalog,
) -> Result<(), tokio_postgres::Error> {
    copy_rows(
        tx,
        "copy users (user_id, email, display_name, role) from stdin binary",
        &[Type::UUID, Type::TEXT, Type::TEXT, Type::TEXT],
        catalog.users.iter().map(|u| {
            vec![
                &u.user_id as &(dyn ToSql + Sync),
                &u.email,
                &u.display_name,
                &u.role,
            ]
        }),
    )
    .await?;
    copy_rows(
        tx,
        "copy performers (performer_id, name, genre, description) from stdin binary",
        &[Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT],
        catalog.performers.iter().map(|p| {
            vec![
                &p.performer_id as &(dyn ToSql + Sync),
                &p.name,
                &p.genre,
                &p.description,
            ]
        }),
    )
    .await?;
    let stages: Vec<Option<serde_json::Value>> = catalog
        .venues
        .iter()
        .map(|v| v.stage.as_ref().map(|points| serde_json::json!(points)))
        .collect();
    copy_rows(
        tx,
        "copy venues (venue_id, name, address, city, country, lat, lon, timezone, stage) from stdin binary",
        &[Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::FLOAT8, Type::FLOAT8, Type::TEXT, Type::JSONB],
        catalog.venues.iter().zip(&stages).map(|(v, stage)| {
            vec![&v.venue_id as &(dyn ToSql + Sync), &v.name, &v.address, &v.city, &v.country, &v.lat, &v.lon, &v.timezone, stage]
        }),
    )
    .await?;
    copy_rows(
        tx,
        "copy venue_sections (section_id, venue_id, name, rank) from stdin binary",
        &[Type::INT8, Type::INT8, Type::TEXT, Type::INT4],
        catalog.venues.iter().flat_map(|v| {
            v.sections.iter().map(move |s| {
                vec![
                    &s.section_id as &(dyn ToSql + Sync),
                    &v.venue_id,
                    &s.name,
                    &s.rank,
                ]
            })
        }),
    )
    .await?;
    copy_rows(
        tx,
        "copy venue_rows (row_id, section_id, label, position) from stdin binary",
        &[Type::INT8, Type::INT8, Type::TEXT, Type::INT4],
        catalog
            .venues
            .iter()
            .flat_map(|v| &v.sections)
            .flat_map(|s| {
                s.rows.iter().map(move |r| {
                    vec![
                        &r.row_id as &(dyn ToSql + Sync),
                        &s.section_id,
                        &r.label,
                        &r.position,
                    ]
                })
            }),
    )
    .await?;
    copy_rows(
        tx,
        "copy seats (seat_id, row_id, number, x, y, accessible) from stdin binary",
        &[
            Type::INT8,
            Type::INT8,
            Type::INT4,
            Type::FLOAT4,
            Type::FLOAT4,
            Type::BOOL,
        ],
        catalog
            .venues
            .iter()
            .flat_map(|v| &v.sections)
            .flat_map(|s| &s.rows)
            .flat_map(|r| {
                r.seats.iter().map(move |s| {
                    vec![
                        &s.seat_id as &(dyn ToSql + Sync),
                        &r.row_id,
                        &s.number,
                        &s.x,
                        &s.y,
                        &s.accessible,
                    ]
                })
            }),
    )
    .await?;
    Ok(())
}

/// Events with their performers, ticket types and the sections they sell.
async fn copy_events(
    tx: &tokio_postgres::Transaction<'_>,
    catalog: &Catalog,
) -> Result<(), tokio_postgres::Error> {
    let categories: Vec<&str> = catalog.events.iter().map(|e| e.category.as_str()).collect();
    copy_rows(
        tx,
        "copy events (event_id, venue_id, title, description, category, genre, starts_at, ends_at, \
         status, popularity, sale_starts_at, sale_ends_at, doors_at) from stdin binary",
        &[
            Type::INT8,
            Type::INT8,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TIMESTAMPTZ,
            Type::TIMESTAMPTZ,
            Type::TEXT,
            Type::FLOAT8,
            Type::TIMESTAMPTZ,
            Type::TIMESTAMPTZ,
            Type::TIMESTAMPTZ,
        ],
        catalog.events.iter().zip(&categories).map(|(e, category)| {
            vec![
                &e.event_id as &(dyn ToSql + Sync),
                &e.venue_id,
                &e.title,
                &e.description,
                category,
                &e.genre,
                &e.starts_at,
                &e.ends_at,
                &e.status,
                &e.popularity,
                &e.sale_starts_at,
                &e.sale_ends_at,
                &e.doors_at,
            ]
        }),
    )
    .await?;
    let billing: Vec<i32> = (0..8).collect();
    copy_rows(
        tx,
        "copy event_performers (event_id, performer_id, billing) from stdin binary",
        &[Type::INT8, Type::INT8, Type::INT4],
        catalog.events.iter().flat_map(|e| {
            e.performer_ids
                .iter()
                .zip(&billing)
                .map(move |(p, b)| vec![&e.event_id as &(dyn ToSql + Sync), p, b])
        }),
    )
    .await?;
    copy_rows(
        tx,
        "copy ticket_types (ticket_type_id, event_id, name, kind, price_cents, currency, capacity, hold_seconds) \
         from stdin binary",
        &[Type::INT8, Type::INT8, Type::TEXT, Type::TEXT, Type::INT8, Type::TEXT, Type::INT4, Type::INT4],
        catalog.events.iter().flat_map(|e| {
            e.ticket_types.iter().map(move |t| {
                let kind = if t.seated { &TICKET_KINDS[0] } else { &TICKET_KINDS[1] };
                vec![
                    &t.ticket_type_id as &(dyn ToSql + Sync),
                    &e.event_id,
                    &t.name,
                    kind,
                    &t.price_cents,
                    &t.currency,
                    &t.capacity,
                    &t.hold_seconds,
                ]
            })
        }),
    )
    .await?;
    copy_rows(
        tx,
        "copy ticket_type_sections (ticket_type_id, event_id, section_id) from stdin binary",
        &[Type::INT8, Type::INT8, Type::INT8],
        catalog.events.iter().flat_map(|e| {
            e.ticket_types.iter().flat_map(move |t| {
                t.section_ids
                    .iter()
                    .map(move |s| vec![&t.ticket_type_id as &(dyn ToSql + Sync), &e.event_id, s])
            })
        }),
    )
    .await?;
    Ok(())
}

async fn move_sequences(tx: &tokio_postgres::Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    // Generated ids were explicit; move identity sequences past them.
    tx.batch_execute(
        "select setval(pg_get_serial_sequence('performers', 'performer_id'), coalesce(max(performer_id), 0) + 1, false) from performers;
         select setval(pg_get_serial_sequence('venues', 'venue_id'), coalesce(max(venue_id), 0) + 1, false) from venues;
         select setval(pg_get_serial_sequence('venue_sections', 'section_id'), coalesce(max(section_id), 0) + 1, false) from venue_sections;
         select setval(pg_get_serial_sequence('venue_rows', 'row_id'), coalesce(max(row_id), 0) + 1, false) from venue_rows;
         select setval(pg_get_serial_sequence('seats', 'seat_id'), coalesce(max(seat_id), 0) + 1, false) from seats;
         select setval(pg_get_serial_sequence('events', 'event_id'), coalesce(max(event_id), 0) + 1, false) from events;
         select setval(pg_get_serial_sequence('ticket_types', 'ticket_type_id'), coalesce(max(ticket_type_id), 0) + 1, false) from ticket_types;",
    )
    .await?;
    Ok(())
}

/// Creates `event_seats` rows for scheduled events whose sale is open at `now`
/// and that have none yet, most popular first, at most `limit` events (all
/// when `None`). Returns (events, seats) materialized. Idempotent.
pub async fn materialize_open_inventory(
    client: &impl tokio_postgres::GenericClient,
    now: DateTime<Utc>,
    limit: Option<i64>,
) -> Result<(u64, u64), tokio_postgres::Error> {
    let row = client
        .query_one(
            "with open_events as (
                 select e.event_id
                   from events e
                  where e.status = 'scheduled'
                    and e.sale_starts_at <= $1 and $1 < e.sale_ends_at
                    and exists (select 1 from ticket_type_sections t where t.event_id = e.event_id)
                    and not exists (select 1 from event_seats s where s.event_id = e.event_id)
                  order by e.popularity desc, e.event_id
                  limit $2
             ), inserted as (
                 insert into event_seats (event_id, seat_id, ticket_type_id)
                 select tts.event_id, s.seat_id, tts.ticket_type_id
                   from open_events o
                   join ticket_type_sections tts on tts.event_id = o.event_id
                   join venue_rows r on r.section_id = tts.section_id
                   join seats s on s.row_id = r.row_id
                 on conflict do nothing
                 returning event_id
             )
             select count(distinct event_id), count(*) from inserted",
            &[&now, &limit],
        )
        .await?;
    let events: i64 = row.get(0);
    let seats: i64 = row.get(1);
    Ok((events.unsigned_abs(), seats.unsigned_abs()))
}

async fn copy_rows<'a, I>(
    tx: &tokio_postgres::Transaction<'_>,
    statement: &str,
    types: &[Type],
    rows: I,
) -> Result<u64, tokio_postgres::Error>
where
    I: Iterator<Item = Vec<&'a (dyn ToSql + Sync)>>,
{
    let sink = tx.copy_in(statement).await?;
    let mut writer = pin!(BinaryCopyInWriter::new(sink, types));
    for row in rows {
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await
}
