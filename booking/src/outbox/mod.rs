//! The outbox: every booking state change writes one row to `outbox` in the
//! same transaction as the change ([`write_outbox`], or the
//! [`outbox_payload!`] fragment inside a bigger statement), and the
//! [`relay`] ships the rows to Redis after commit.
//!
//! One payload definition serves every writer, so a consumer sees the same
//! shape whichever path (hold, confirm, cancel, expiry) wrote the row.

pub mod relay;

pub use relay::{RELAY_LOCK, RelayError, RelayMetrics, relay_once, spawn_relay, stream};

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// The payload of a booking's outbox row, from the booking row `b`; one
/// definition for every writer (a literal, so queries stay `&'static str`).
macro_rules! outbox_payload {
    () => {
        "jsonb_build_object('booking_id', b.booking_id, 'event_id', b.event_id, 'user_id', b.user_id,
                            'status', b.status, 'total_cents', b.total_cents, 'currency', b.currency)"
    };
}
pub(crate) use outbox_payload;

/// Writes one outbox row per booking, carrying its current state.
pub async fn write_outbox(
    tx: &mut Transaction<'_, Postgres>,
    bookings: &[Uuid],
    event_type: &str,
) -> Result<(), sqlx::Error> {
    if bookings.is_empty() {
        return Ok(());
    }
    sqlx::query(concat!(
        "insert into outbox (aggregate_type, aggregate_id, event_type, payload)
         select 'booking', b.booking_id::text, $2, ",
        outbox_payload!(),
        " from (select distinct unnest($1::uuid[]) as id) q
           cross join lateral (select * from bookings b where b.booking_id = q.id offset 0) b",
    ))
    .bind(bookings)
    .bind(event_type)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
