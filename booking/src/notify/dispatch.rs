//! The dispatcher: turns each new outbox row into delivery rows, one per
//! subscribed endpoint (`webhook_deliveries`) and one per mail the event
//! calls for (`email_deliveries`), and marks the row dispatched, all in one
//! transaction.
//!
//! - It never reads with an `id > last` cursor: outbox ids are assigned at
//!   insert, not at commit, so a row can become visible after rows with
//!   higher ids. It takes every row not yet dispatched (a partial index
//!   keeps that cheap), whatever its id.
//! - One dispatcher works at a time across instances (a transaction-level
//!   advisory lock; others skip the round). That keeps a booking's events in
//!   order: a booking's later event is inserted only after its earlier one
//!   committed, so when a round sees the later one it sees the earlier one
//!   too, and takes rows in id order.
//! - A webhook delivery is created `ready` only when it is the first
//!   pending event of its booking for its endpoint. The round holds
//!   [`ORDER_LOCK`] exclusively while it decides; a lane finishing a
//!   delivery holds it shared while it readies the next, so neither can
//!   miss the other's rows.
//! - Delivery rows are unique per (endpoint, outbox row) and per (outbox
//!   row, mail kind), so a round that dies after inserting them and before
//!   committing is simply done again.
//! - An endpoint an admin paused gets its deliveries queued (sent when it
//!   is enabled again); one that answered 410 Gone gets none.
//! - Hold-expired mails are throttled: at most one per shopper and event per
//!   `hold_expired_every` (an on-sale can expire thousands of holds, many
//!   the same shopper's); the others are recorded as `skipped`.

use std::time::Duration;

use sqlx::PgPool;

/// Rows taken per round.
pub const ROUND: i64 = 1_000;
/// The advisory lock only one dispatcher holds at a time.
pub const DISPATCH_LOCK: i64 = 0x6e6f_7469_6679;
/// Held exclusively while deliveries are created or replayed, shared while
/// a finished delivery readies its booking's next one.
pub const ORDER_LOCK: i64 = 0x6f72_6465_7273;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dispatched {
    /// Outbox rows dispatched.
    pub events: u64,
    /// Webhook deliveries created.
    pub webhooks: u64,
    /// Mails created (pending or skipped).
    pub emails: u64,
}

/// One round. `None` if another instance holds the lock.
pub async fn dispatch_once(
    pool: &PgPool,
    hold_expired_every: Duration,
) -> Result<Option<Dispatched>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mine: bool = sqlx::query_scalar(
        "select pg_try_advisory_xact_lock($1)
           from (select set_config('statement_timeout', '30s', true)) t",
    )
    .bind(DISPATCH_LOCK)
    .fetch_one(&mut *tx)
    .await?;
    if !mine {
        return Ok(None);
    }
    super::index_plans(&mut tx).await?;
    // An idle round does not take the order lock lanes wait on.
    let work: bool =
        sqlx::query_scalar("select exists (select 1 from outbox where dispatched_at is null)")
            .fetch_one(&mut *tx)
            .await?;
    if !work {
        return Ok(Some(Dispatched::default()));
    }
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(ORDER_LOCK)
        .execute(&mut *tx)
        .await?;
    let (events, webhooks, emails): (i64, i64, i64) = sqlx::query_as(
        "with batch as materialized (
             select outbox_id, aggregate_id, event_type, payload
               from outbox where dispatched_at is null
              order by outbox_id limit $1
         ),
         hooks as (
             insert into webhook_deliveries (endpoint_id, outbox_id, aggregate_id, next_attempt_at, ready)
             select e.endpoint_id, b.outbox_id, b.aggregate_id,
                    -- Paused by an admin: queued, sent when enabled again.
                    case when e.enabled then now() else 'infinity' end,
                    row_number() over (partition by e.endpoint_id, b.aggregate_id order by b.outbox_id) = 1
                    and not exists (select 1 from webhook_deliveries p
                                     where p.endpoint_id = e.endpoint_id and p.aggregate_id = b.aggregate_id
                                       and p.status = 'pending')
               from batch b
               join webhook_endpoints e
                 on (e.enabled or e.disabled_reason = 'admin')
                and (cardinality(e.event_types) = 0 or b.event_type = any(e.event_types))
             order by b.outbox_id
             on conflict (endpoint_id, outbox_id) do nothing
             returning 1
         ),
         wanted as (
             select b.outbox_id, k.kind,
                    (b.payload->>'booking_id')::uuid as booking_id,
                    (b.payload->>'user_id')::uuid as user_id,
                    (b.payload->>'event_id')::bigint as event_id
               from batch b
               join (values ('booking.confirmed', 'confirmed'),
                            ('booking.cancelled', 'cancelled'),
                            ('booking.expired', 'hold_expired')) k (event_type, kind)
                 on k.event_type = b.event_type
         ),
         throttled as (
             -- The first expired hold of a shopper and event in this round
             -- is mailed unless one was mailed within the window.
             select w.*, (w.kind = 'hold_expired' and (
                        row_number() over (partition by w.kind, w.user_id, w.event_id order by w.outbox_id) > 1
                        or exists (select 1 from email_deliveries x
                                    where x.kind = 'hold_expired' and x.user_id = w.user_id
                                      and x.event_id = w.event_id and x.status <> 'skipped'
                                      and x.created_at > now() - make_interval(secs => $2))
                    )) as skip
               from wanted w
         ),
         mails as (
             insert into email_deliveries (outbox_id, kind, booking_id, user_id, event_id, status)
             select outbox_id, kind, booking_id, user_id, event_id,
                    case when skip then 'skipped' else 'pending' end
               from throttled
             on conflict (outbox_id, kind) do nothing
             returning 1
         ),
         marked as (
             update outbox o set dispatched_at = now()
               from batch b where o.outbox_id = b.outbox_id
             returning 1
         )
         select (select count(*) from marked), (select count(*) from hooks), (select count(*) from mails)",
    )
    .bind(ROUND)
    .bind(hold_expired_every.as_secs_f64())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(Some(Dispatched {
        events: count(events),
        webhooks: count(webhooks),
        emails: count(emails),
    }))
}
