//! Seat inventory is materialized when an event's sale opens.
//!
//! Inventory is one `event_seats` row per seat of every section a seated
//! tier prices. It appears:
//!
//! - in the admin write that opens the sale (an event created or changed
//!   so its sale window is open now, or a seated tier added to such an
//!   event), inside that write's transaction;
//! - otherwise when the sale window opens: every api instance checks once a
//!   second for events whose sale started since its last look (and, on
//!   start, within the last hour) and materializes them.
//!
//! Every path inserts with `on conflict do nothing`, so several instances,
//! retries and overlaps are harmless. `ticketctl open-sales` catches up on
//! anything older (for example after all api instances were down for longer
//! than an hour).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// How often each instance looks for sales that opened.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// How far back an instance looks when it starts.
pub const STARTUP_LOOKBACK: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Inserts the seats of `event_id` (only `ticket_type_id`'s, if given) when
/// the event is scheduled and its sale is open at the transaction's time.
/// Returns how many seats were added.
pub async fn materialize(
    conn: &mut PgConnection,
    event_id: i64,
    ticket_type_id: Option<i64>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "insert into event_seats (event_id, seat_id, ticket_type_id)
         select tts.event_id, s.seat_id, tts.ticket_type_id
           from events e
           join ticket_type_sections tts on tts.event_id = e.event_id
           join venue_rows r on r.section_id = tts.section_id
           join seats s on s.row_id = r.row_id
          where e.event_id = $1
            and e.status = 'scheduled'
            and e.sale_starts_at <= now() and now() < e.sale_ends_at
            and ($2::bigint is null or tts.ticket_type_id = $2)
         on conflict do nothing",
    )
    .bind(event_id)
    .bind(ticket_type_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// One look: materializes events whose sale opened after `since` and by
/// now and that have no inventory yet (a tier added while the sale is open
/// is materialized by the write that adds it). Returns the database's `now()`, the next look's `since`.
pub async fn open_sales_since(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> Result<DateTime<Utc>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let (now, opened): (DateTime<Utc>, Vec<i64>) = sqlx::query_as(
        "select now(), coalesce(array_agg(event_id order by event_id), '{}')
           from events
          where status = 'scheduled'
            and sale_starts_at > $1 and sale_starts_at <= now()
            and now() < sale_ends_at
            and not exists (select 1 from event_seats es where es.event_id = events.event_id)",
    )
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    for event_id in opened {
        let seats = materialize(&mut conn, event_id, None).await?;
        if seats > 0 {
            tracing::info!(event_id, seats, "sale opened: seat inventory materialized");
        }
    }
    Ok(now)
}

/// Runs [`open_sales_since`] every [`INTERVAL`] for the life of the process.
pub fn spawn(pool: PgPool) {
    tokio::spawn(async move {
        let mut since = Utc::now() - STARTUP_LOOKBACK;
        let mut ticker = tokio::time::interval(INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match open_sales_since(&pool, since).await {
                // Look a little behind the last look: a transaction that
                // committed late may carry an earlier sale_starts_at.
                Ok(now) => since = now - chrono::TimeDelta::seconds(30),
                Err(e) => {
                    tracing::warn!(error = %e, "sale opener: database unavailable; will retry")
                }
            }
        }
    });
}
