//! Inventory: seats and general-admission counters going back to the pool,
//! and the [`Changes`] a committed transaction made to them (for the live
//! seat feed).
//!
//! Every path that frees inventory (cancel, decline, expiry, the hold path
//! releasing lapsed holds inline) goes through [`release`], which only
//! touches seats still owned by the booking being released, so a seat
//! already handed to another booking is never taken back.

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::outbox::write_outbox;
use crate::status::SeatStatus;

/// Seat and counter changes a committed transaction made, for the live feed.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Changes {
    /// (seat id, new status).
    pub seats: Vec<(i64, SeatStatus)>,
    /// (ticket type id, change in held).
    pub general_admission: Vec<(i64, i32)>,
}

/// Returns held or sold seats and general-admission quantities of
/// `bookings` to the pool. Seats already taken over by another booking are
/// left alone.
pub(crate) async fn release(
    tx: &mut Transaction<'_, Postgres>,
    bookings: &[Uuid],
    from: SeatStatus,
) -> Result<Changes, sqlx::Error> {
    let seats: Vec<i64> = sqlx::query_scalar(
        "update event_seats es set status = 'available', booking_id = null, held_until = null
           from booking_items i
          where i.booking_id = any($1) and i.seat_id is not null
            and es.event_id = i.event_id and es.seat_id = i.seat_id
            and es.booking_id = i.booking_id and es.status = $2
          returning es.seat_id",
    )
    .bind(bookings)
    .bind(from)
    .fetch_all(&mut **tx)
    .await?;
    let column = if from == SeatStatus::Sold {
        "sold"
    } else {
        "held"
    };
    let ga: Vec<(i64, i32)> = sqlx::query_as(&format!(
        "update ga_inventory g set {column} = g.{column} - q.n
           from (select ticket_type_id, sum(quantity)::int as n from booking_items
                  where booking_id = any($1) and seat_id is null group by ticket_type_id) q
          where g.ticket_type_id = q.ticket_type_id
          returning g.ticket_type_id, -q.n"
    ))
    .bind(bookings)
    .fetch_all(&mut **tx)
    .await?;
    Ok(Changes {
        seats: seats
            .into_iter()
            .map(|s| (s, SeatStatus::Available))
            .collect(),
        general_admission: ga,
    })
}

/// A booking that ends (expires, is cancelled) while its bank's challenge
/// awaits the shopper: the waiting charge is declined
/// (`challenge_abandoned`), so it can never be answered. No money moved:
/// a provider settles a challenged charge only when it is answered.
pub(crate) async fn abandon_challenges(
    tx: &mut Transaction<'_, Postgres>,
    bookings: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update payments set status = 'declined', failure_code = 'challenge_abandoned'
          where booking_id = any($1) and kind = 'charge' and status = 'requires_action'",
    )
    .bind(bookings)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks lapsed holds `expired` and releases them, at most `limit`, for one
/// event or all. Safe with several instances: rows another sweeper holds are
/// skipped. Bookings with a charge in flight are left to their confirm.
pub async fn expire_lapsed(
    tx: &mut Transaction<'_, Postgres>,
    event_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<(i64, Changes)>, usize), sqlx::Error> {
    let expired: Vec<(Uuid, i64)> = sqlx::query_as(
        "with lapsed as (
             select booking_id from bookings b
              where status in ('in_process', 'payment_pending') and expires_at < now()
                and ($1::bigint is null or event_id = $1)
                and not exists (select 1 from payments p
                                 where p.booking_id = b.booking_id and p.kind = 'charge' and p.status = 'pending')
              order by expires_at
              limit $2
                for update skip locked
         )
         update bookings b set status = 'expired'
           from lapsed where b.booking_id = lapsed.booking_id
         returning b.booking_id, b.event_id",
    )
    .bind(event_id)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    if expired.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let ids: Vec<Uuid> = expired.iter().map(|(b, _)| *b).collect();
    let changes = release(tx, &ids, SeatStatus::Held).await?;
    abandon_challenges(tx, &ids).await?;
    write_outbox(tx, &ids, "booking.expired").await?;
    // The feed is per event; a sweep spans events, so group the seat changes.
    let mut events: Vec<i64> = expired.iter().map(|(_, e)| *e).collect();
    events.sort_unstable();
    events.dedup();
    let per_event = if events.len() == 1 {
        vec![(events[0], changes)]
    } else {
        let seat_events: Vec<(i64, i64)> = sqlx::query_as(
            "select seat_id, event_id from event_seats where event_id = any($1) and seat_id = any($2)",
        )
        .bind(&events)
        .bind(changes.seats.iter().map(|(s, _)| *s).collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?;
        events
            .iter()
            .map(|e| {
                let seats = seat_events
                    .iter()
                    .filter(|(_, ev)| ev == e)
                    .map(|(s, _)| (*s, SeatStatus::Available))
                    .collect();
                (
                    *e,
                    Changes {
                        seats,
                        general_admission: Vec::new(),
                    },
                )
            })
            .collect()
    };
    Ok((per_event, ids.len()))
}
