//! Booking state changes after the hold: confirm (with payment), cancel
//! (with refund), expire (the sweeper). Each change writes its outbox row in
//! the same transaction.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::{BookingError, is_retryable};
use crate::feed::SeatFeed;
use crate::inventory::{self, Changes};
use crate::model::{self, BookingView, CompleteChallenge, PaymentRequiresAction};
use crate::outbox::write_outbox;
use crate::payment::{Card, ChargeOutcome, PaymentProvider};
use crate::status::{BookingStatus, PaymentStatus, SeatStatus};

/// How long a confirm may keep seats past their hold while the provider
/// answers; the sweeper leaves bookings with a charge in flight alone.
const PAYMENT_GRACE: &str = "2 minutes";
/// A charge still pending this long after it was recorded is abandoned.
const ABANDONED_AFTER: &str = "5 minutes";
/// The decline code of a challenge whose booking ended before it was
/// answered (`inventory::abandon_challenges`).
const ABANDONED_CHALLENGE: &str = "challenge_abandoned";
/// Cards a booking may try: a decline before the last keeps the hold (so
/// the shopper can try another card), the last one rejects the booking and
/// releases its seats.
pub const PAYMENT_ATTEMPTS: i64 = 3;

/// Background sweeper: expires lapsed holds every `interval`.
pub fn spawn_sweeper(
    pool: PgPool,
    feed: SeatFeed,
    provider: Arc<dyn PaymentProvider>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match resolve_abandoned_charges(&pool, &provider, &feed).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(resolved = n, "resolved abandoned charges"),
                Err(e) => tracing::warn!(error = %e, "resolving abandoned charges failed"),
            }
            match sweep_once(&pool, &feed).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "expired lapsed holds"),
                Err(e) => tracing::warn!(error = %e, "sweep failed"),
            }
        }
    })
}

/// A confirm that died between recording its charge and recording the
/// outcome leaves the charge `pending`, and its booking out of the sweeper's
/// reach. After [`ABANDONED_AFTER`] the provider is asked what became of the
/// charge (by its idempotency key): unknown means no money moved, so the
/// charge is marked failed and the booking expires as usual; a known outcome
/// is finished exactly as the confirm would have (refunding it if the seats
/// are gone). Returns how many charges were resolved.
pub async fn resolve_abandoned_charges(
    pool: &PgPool,
    provider: &Arc<dyn PaymentProvider>,
    feed: &SeatFeed,
) -> Result<usize, sqlx::Error> {
    let stale: Vec<(String, Uuid, i64)> = sqlx::query_as(&format!(
        "select p.idempotency_key, p.booking_id, b.event_id
           from payments p join bookings b on b.booking_id = p.booking_id
          where p.kind = 'charge' and p.status = 'pending' and p.updated_at < now() - interval '{ABANDONED_AFTER}'
          order by p.updated_at
          limit 100"
    ))
    .fetch_all(pool)
    .await?;
    let mut resolved = 0;
    for (key, booking_id, event_id) in stale {
        match provider.lookup(&key).await {
            Ok(None) => {
                sqlx::query(
                    "update payments set status = 'failed', failure_code = 'abandoned'
                      where idempotency_key = $1 and status = 'pending'",
                )
                .bind(&key)
                .execute(pool)
                .await?;
            }
            Ok(Some(outcome)) => {
                let finished = finish_charge(pool, booking_id, event_id, &key, &outcome).await?;
                feed.publish(event_id, &finished.changes).await;
                if finished.refund {
                    refund_charge(pool, provider, booking_id, &key).await;
                }
            }
            Err(e) => {
                tracing::warn!(%booking_id, error = %e, "provider unavailable; will retry");
                continue;
            }
        }
        resolved += 1;
    }
    Ok(resolved)
}

/// One sweep pass; returns how many bookings expired.
pub async fn sweep_once(pool: &PgPool, feed: &SeatFeed) -> Result<usize, sqlx::Error> {
    let mut total = 0;
    loop {
        let mut tx = pool.begin().await?;
        let (per_event, n) = inventory::expire_lapsed(&mut tx, None, 500).await?;
        tx.commit().await?;
        for (event_id, changes) in &per_event {
            feed.publish(*event_id, changes).await;
        }
        total += n;
        if n < 500 {
            return Ok(total);
        }
    }
}

#[derive(sqlx::FromRow)]
struct Locked {
    user_id: Uuid,
    event_id: i64,
    status: BookingStatus,
    lapsed: bool,
    total_cents: i64,
    currency: String,
    event_started: bool,
}

async fn lock_booking(
    tx: &mut Transaction<'_, Postgres>,
    booking_id: Uuid,
    caller: Uuid,
    admin: bool,
) -> Result<Locked, BookingError> {
    let row: Option<Locked> = sqlx::query_as(
        "select b.user_id, b.event_id, b.status, b.expires_at < now() as lapsed, b.total_cents, b.currency,
                e.starts_at <= now() as event_started
           from bookings b join events e on e.event_id = b.event_id
          where b.booking_id = $1
            for update of b",
    )
    .bind(booking_id)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(row) if row.user_id == caller || admin => Ok(row),
        _ => Err(BookingError::NotFound(format!("booking {booking_id}"))),
    }
}

async fn view(pool: &PgPool, booking_id: Uuid) -> Result<BookingView, BookingError> {
    model::load_views(pool, &[booking_id])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| BookingError::NotFound(format!("booking {booking_id}")))
}

/// What a confirm, or the answer to the bank's challenge, led to.
#[derive(Debug)]
pub enum Confirmation {
    /// Paid and confirmed (now or before).
    Confirmed(BookingView),
    /// The cardholder's bank wants its challenge passed first (3-D
    /// Secure); the hold is kept until its own expiry, no longer.
    RequiresAction(PaymentRequiresAction),
}

/// A live charge of a booking: sent, or waiting on its challenge.
#[derive(sqlx::FromRow)]
struct LiveCharge {
    idempotency_key: String,
    status: PaymentStatus,
    challenge_id: Option<String>,
}

/// Charges the booking and, on success, sells its seats. A decline keeps
/// the hold for another card, up to [`PAYMENT_ATTEMPTS`] cards; the last
/// decline rejects the booking and releases its seats. A card whose bank
/// wants a challenge answers [`Confirmation::RequiresAction`]; a retried
/// confirm answers with the same challenge. Each attempt charges at most
/// once.
pub async fn confirm(
    pool: &PgPool,
    provider: &Arc<dyn PaymentProvider>,
    feed: &SeatFeed,
    booking_id: Uuid,
    caller: Uuid,
    card: &Card,
) -> Result<Confirmation, BookingError> {
    // 1. Check the hold and record the charge attempt.
    let mut tx = pool.begin().await?;
    let booking = lock_booking(&mut tx, booking_id, caller, false).await?;
    match booking.status {
        BookingStatus::Confirmed => {
            return view(pool, booking_id).await.map(Confirmation::Confirmed);
        }
        BookingStatus::PaymentPending | BookingStatus::InProcess => {}
        other @ (BookingStatus::Rejected | BookingStatus::Cancelled | BookingStatus::Expired) => {
            return Err(BookingError::conflict(
                "booking_not_pending",
                format!("booking is {other}"),
            ));
        }
    }
    let live: Option<LiveCharge> = sqlx::query_as(
        "select idempotency_key, status, challenge_id from payments
          where booking_id = $1 and kind = 'charge' and status in ('pending', 'requires_action')",
    )
    .bind(booking_id)
    .fetch_optional(&mut *tx)
    .await?;
    let charge_key = match live {
        Some(LiveCharge {
            status: PaymentStatus::RequiresAction,
            ..
        }) => {
            // A retried Pay while the bank's challenge awaits: the same
            // challenge again, for as long as the hold lasts.
            if booking.lapsed {
                return Err(expire_lapsed_hold(tx, feed, booking_id, booking.event_id).await?);
            }
            tx.commit().await?;
            return requires_action(pool, booking_id).await;
        }
        Some(LiveCharge {
            challenge_id: Some(_),
            ..
        }) => {
            return Err(BookingError::conflict(
                "payment_in_progress",
                "your bank's answer is being processed; try again shortly",
            ));
        }
        // A confirm that died mid-charge: retry with the same key, so the
        // provider answers with the first outcome instead of charging again.
        Some(LiveCharge {
            idempotency_key, ..
        }) => idempotency_key,
        None => {
            if booking.lapsed {
                return Err(expire_lapsed_hold(tx, feed, booking_id, booking.event_id).await?);
            }
            record_charge_attempt(&mut tx, provider.name(), booking_id, &booking).await?
        }
    };
    tx.commit().await?;

    // 2. Charge, outside any transaction.
    let outcome = provider
        .charge(&charge_key, booking.total_cents, &booking.currency, card)
        .await
        .map_err(|e| BookingError::Unavailable(e.to_string()))?;

    // 3. Record the outcome and move the seats, atomically and once.
    settle(
        pool,
        provider,
        feed,
        booking_id,
        booking.event_id,
        &charge_key,
        &outcome,
    )
    .await
}

/// Records a new charge attempt, pending, under its own idempotency key
/// (the first attempt's key is the booking's own, `charge-{id}`; a declined
/// card may be followed by another, `charge-{id}-2`, ...), and keeps the
/// seats while the provider answers.
async fn record_charge_attempt(
    tx: &mut Transaction<'_, Postgres>,
    provider: &str,
    booking_id: Uuid,
    booking: &Locked,
) -> Result<String, sqlx::Error> {
    let earlier: i64 = sqlx::query_scalar(
        "select count(*) from payments where booking_id = $1 and kind = 'charge'",
    )
    .bind(booking_id)
    .fetch_one(&mut **tx)
    .await?;
    let key = if earlier == 0 {
        format!("charge-{booking_id}")
    } else {
        format!("charge-{booking_id}-{}", earlier + 1)
    };
    sqlx::query(
        "insert into payments (booking_id, kind, provider, idempotency_key, amount_cents, currency)
         values ($1, 'charge', $2, $3, $4, $5)",
    )
    .bind(booking_id)
    .bind(provider)
    .bind(&key)
    .bind(booking.total_cents)
    .bind(&booking.currency)
    .execute(&mut **tx)
    .await?;
    give_payment_grace(tx, booking_id).await?;
    Ok(key)
}

/// Keeps the booking's seats past their hold while the provider answers
/// (the sweeper leaves a booking with a pending charge alone).
async fn give_payment_grace(
    tx: &mut Transaction<'_, Postgres>,
    booking_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "update event_seats es set held_until = greatest(es.held_until, now() + interval '{PAYMENT_GRACE}')
           from booking_items i
          where i.booking_id = $1 and es.event_id = i.event_id and es.seat_id = i.seat_id
            and es.booking_id = i.booking_id and es.status = 'held'"
    ))
    .bind(booking_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Expires a lapsed hold (nothing is charged) and says so.
async fn expire_lapsed_hold(
    mut tx: Transaction<'_, Postgres>,
    feed: &SeatFeed,
    booking_id: Uuid,
    event_id: i64,
) -> Result<BookingError, sqlx::Error> {
    let (changes, ()) = expire_one(&mut tx, booking_id).await?;
    tx.commit().await?;
    feed.publish(event_id, &changes).await;
    Ok(BookingError::conflict(
        "hold_expired",
        "the hold expired; nothing was charged",
    ))
}

/// The 202 answer: the booking with the challenge that awaits.
async fn requires_action(pool: &PgPool, booking_id: Uuid) -> Result<Confirmation, BookingError> {
    let booking = view(pool, booking_id).await?;
    match booking.payment_challenge.clone() {
        Some(challenge) => Ok(Confirmation::RequiresAction(PaymentRequiresAction {
            status: "requires_action".to_owned(),
            challenge,
            booking,
        })),
        None if booking.status == BookingStatus::Confirmed => Ok(Confirmation::Confirmed(booking)),
        None => Err(BookingError::conflict(
            "payment_in_progress",
            "a payment is in progress; try again shortly",
        )),
    }
}

/// Completes the bank's challenge of a charge with the shopper's answer,
/// then settles the charge as a confirm would: passed, the booking is paid
/// and confirmed; failed, it is a decline (the hold is kept for another
/// card, up to [`PAYMENT_ATTEMPTS`]). A retried or concurrent answer gets
/// the first one's result, and the charge settles once.
pub async fn complete_challenge(
    pool: &PgPool,
    provider: &Arc<dyn PaymentProvider>,
    feed: &SeatFeed,
    booking_id: Uuid,
    caller: Uuid,
    answer: &CompleteChallenge,
) -> Result<Confirmation, BookingError> {
    // 1. Find the challenge and hand its answer to the provider's record.
    let mut tx = pool.begin().await?;
    let booking = lock_booking(&mut tx, booking_id, caller, false).await?;
    let charge: Option<(String, PaymentStatus, Option<String>)> = sqlx::query_as(
        "select idempotency_key, status, failure_code from payments
          where booking_id = $1 and kind = 'charge' and challenge_id = $2",
    )
    .bind(booking_id)
    .bind(&answer.challenge_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((charge_key, status, failure)) = charge else {
        return Err(BookingError::Conflict {
            code: "challenge_unknown",
            detail: "this booking has no such payment challenge".into(),
            field: Some("challenge_id"),
            extra: None,
        });
    };
    let pending = booking.status.is_pending();
    match status {
        _ if booking.status == BookingStatus::Confirmed => {
            return view(pool, booking_id).await.map(Confirmation::Confirmed);
        }
        // A retried answer: the first answer's decline, again (a challenge
        // abandoned with its hold was never answered: that is below).
        PaymentStatus::Declined if failure.as_deref() != Some(ABANDONED_CHALLENGE) => {
            let left = if pending {
                declined_attempts_left(&mut tx, booking_id).await?
            } else {
                0
            };
            let code = failure.unwrap_or_default();
            return Err(declined(&code, Some(left), booking_id));
        }
        PaymentStatus::RequiresAction if pending => {
            if booking.lapsed {
                return Err(expire_lapsed_hold(tx, feed, booking_id, booking.event_id).await?);
            }
            sqlx::query(
                "update payments set status = 'pending' where idempotency_key = $1 and status = 'requires_action'",
            )
            .bind(&charge_key)
            .execute(&mut *tx)
            .await?;
            give_payment_grace(&mut tx, booking_id).await?;
            tx.commit().await?;
        }
        // The answer is with the provider already (a concurrent or retried
        // call, or one that died): ask again under the same key.
        PaymentStatus::Pending if pending => tx.commit().await?,
        _ => {
            return Err(BookingError::conflict(
                "booking_not_pending",
                format!(
                    "booking is {}; the challenge can no longer be answered",
                    booking.status
                ),
            ));
        }
    }

    // 2. The answer goes to the provider, outside any transaction.
    let outcome = provider
        .confirm_challenge(&charge_key, &answer.challenge_id, &answer.response)
        .await
        .map_err(|e| BookingError::Unavailable(e.to_string()))?;

    // 3. As a confirm's.
    settle(
        pool,
        provider,
        feed,
        booking_id,
        booking.event_id,
        &charge_key,
        &outcome,
    )
    .await
}

/// Step 3 of a confirm or a challenge's answer: records the provider's
/// outcome and moves the seats (once), then answers.
async fn settle(
    pool: &PgPool,
    provider: &Arc<dyn PaymentProvider>,
    feed: &SeatFeed,
    booking_id: Uuid,
    event_id: i64,
    charge_key: &str,
    outcome: &ChargeOutcome,
) -> Result<Confirmation, BookingError> {
    let mut attempt = 0;
    let finished = loop {
        attempt += 1;
        match finish_charge(pool, booking_id, event_id, charge_key, outcome).await {
            Err(e) if is_retryable(&e) && attempt < 4 => {}
            other => break other?,
        }
    };
    feed.publish(event_id, &finished.changes).await;
    if finished.refund {
        refund_charge(pool, provider, booking_id, charge_key).await;
        return Err(BookingError::Conflict {
            code: "hold_expired",
            detail: "the hold lapsed while the payment was processed; the charge was refunded"
                .into(),
            field: None,
            extra: Some(("booking_id", serde_json::json!(booking_id))),
        });
    }
    if finished.expired {
        return Err(BookingError::conflict(
            "hold_expired",
            "the hold expired while your bank was asked; nothing was charged",
        ));
    }
    match outcome {
        ChargeOutcome::Declined { code } => Err(declined(code, finished.attempts_left, booking_id)),
        ChargeOutcome::RequiresAction { .. } => requires_action(pool, booking_id).await,
        ChargeOutcome::Succeeded { .. } => {
            view(pool, booking_id).await.map(Confirmation::Confirmed)
        }
    }
}

/// The 409 for a declined card or a failed challenge.
fn declined(code: &str, attempts_left: Option<i64>, booking_id: Uuid) -> BookingError {
    let what = if code == "authentication_failed" {
        "your bank did not confirm the payment"
    } else {
        "the card was declined"
    };
    let detail = match attempts_left {
        Some(0) | None => {
            format!("{what} ({code}); that was the last attempt, so the seats were released")
        }
        Some(n) => format!(
            "{what} ({code}); your seats are still held: try another card ({n} attempt{} left)",
            if n == 1 { "" } else { "s" }
        ),
    };
    BookingError::Conflict {
        code: "payment_declined",
        detail,
        field: Some("payment.card_number"),
        extra: Some(("booking_id", serde_json::json!(booking_id))),
    }
}

/// What step 3 of a confirm did.
struct Finished {
    changes: Changes,
    /// The charge succeeded but the booking can no longer have its seats.
    refund: bool,
    /// After a decline: how many more cards may be tried (`Some(0)`: the
    /// booking was rejected and its seats released).
    attempts_left: Option<i64>,
    /// The bank asked for a challenge, but the hold lapsed (or lost its
    /// seats) meanwhile: the booking expired and nothing was charged.
    expired: bool,
}

/// Step 3 of a confirm. Only the request that moves the payment out of
/// `pending` moves inventory, so concurrent or retried confirms cannot
/// count a sale twice; and a charge whose booking lost its seats meanwhile
/// (expired by a race, or seats taken over after the grace period) is
/// marked for refund instead of confirming seats the buyer does not hold.
async fn finish_charge(
    pool: &PgPool,
    booking_id: Uuid,
    event_id: i64,
    charge_key: &str,
    outcome: &ChargeOutcome,
) -> Result<Finished, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // The hold path's lock order: seats by id, before anything else.
    let seat_rows: Vec<(i64, Option<Uuid>, SeatStatus)> = sqlx::query_as(
        "select es.seat_id, es.booking_id, es.status
           from event_seats es join booking_items i on es.event_id = i.event_id and es.seat_id = i.seat_id
          where i.booking_id = $1
          order by es.seat_id
            for update of es",
    )
    .bind(booking_id)
    .fetch_all(&mut *tx)
    .await?;
    let (status, reference, failure, challenge) = match outcome {
        ChargeOutcome::Succeeded { reference } => (
            PaymentStatus::Succeeded,
            Some(reference.as_str()),
            None,
            None,
        ),
        ChargeOutcome::Declined { code } => {
            (PaymentStatus::Declined, None, Some(code.as_str()), None)
        }
        ChargeOutcome::RequiresAction { challenge_id, url } => (
            PaymentStatus::RequiresAction,
            None,
            None,
            Some((challenge_id.as_str(), url.as_deref())),
        ),
    };
    let moved: Option<PaymentStatus> = sqlx::query_scalar(
        "update payments set status = $2, provider_ref = $3, failure_code = $4,
                challenge_id = coalesce($5, challenge_id), challenge_url = coalesce($6, challenge_url)
          where idempotency_key = $1 and status = 'pending' returning status",
    )
    .bind(charge_key)
    .bind(status)
    .bind(reference)
    .bind(failure)
    .bind(challenge.map(|(id, _)| id))
    .bind(challenge.and_then(|(_, url)| url))
    .fetch_optional(&mut *tx)
    .await?;
    if moved.is_none() {
        // Another confirm (or answer to the challenge) of the same booking
        // finished it first; a decline still says what is left to try.
        let attempts_left = if matches!(outcome, ChargeOutcome::Declined { .. }) {
            Some(attempts_left_now(&mut tx, booking_id).await?)
        } else {
            None
        };
        tx.rollback().await?;
        return Ok(Finished {
            changes: Changes::default(),
            refund: false,
            attempts_left,
            expired: false,
        });
    }
    let (booking_status, lapsed): (BookingStatus, bool) = sqlx::query_as(
        "select status, expires_at < now() from bookings where booking_id = $1 for update",
    )
    .bind(booking_id)
    .fetch_one(&mut *tx)
    .await?;
    let pending = booking_status.is_pending();
    let seats_intact = seat_rows
        .iter()
        .all(|(_, holder, st)| *holder == Some(booking_id) && *st == SeatStatus::Held);
    let mut refund = false;
    let mut attempts_left = None;
    let mut expired = false;
    let changes = match outcome {
        ChargeOutcome::Succeeded { .. } if pending && seats_intact => {
            sqlx::query("update bookings set status = 'confirmed' where booking_id = $1")
                .bind(booking_id)
                .execute(&mut *tx)
                .await?;
            let seats: Vec<i64> = sqlx::query_scalar(
                "update event_seats set status = 'sold', held_until = null
                  where event_id = $1 and seat_id = any($2) and booking_id = $3 and status = 'held'
                  returning seat_id",
            )
            .bind(event_id)
            .bind(seat_rows.iter().map(|(s, _, _)| *s).collect::<Vec<_>>())
            .bind(booking_id)
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query(
                "update ga_inventory g set held = g.held - q.n, sold = g.sold + q.n
                   from (select ticket_type_id, sum(quantity)::int as n from booking_items
                          where booking_id = $1 and seat_id is null group by ticket_type_id) q
                  where g.ticket_type_id = q.ticket_type_id",
            )
            .bind(booking_id)
            .execute(&mut *tx)
            .await?;
            write_outbox(&mut tx, &[booking_id], "booking.confirmed").await?;
            Changes {
                seats: seats.into_iter().map(|s| (s, SeatStatus::Sold)).collect(),
                general_admission: Vec::new(),
            }
        }
        ChargeOutcome::Succeeded { .. } => {
            // Paid for a hold that is gone: reject, release what it still
            // holds, and refund after commit.
            refund = true;
            if pending {
                reject_and_release(&mut tx, booking_id).await?
            } else {
                Changes::default()
            }
        }
        ChargeOutcome::Declined { .. } if pending => {
            let left = declined_attempts_left(&mut tx, booking_id).await?;
            attempts_left = Some(left);
            if left > 0 {
                keep_hold_after_decline(&mut tx, booking_id).await?;
                Changes::default()
            } else {
                reject_and_release(&mut tx, booking_id).await?
            }
        }
        ChargeOutcome::Declined { .. } => Changes::default(),
        ChargeOutcome::RequiresAction { .. } if pending && seats_intact && !lapsed => {
            // The challenge waits on the shopper, not the provider: the
            // hold lasts until its own expiry, no longer.
            keep_hold_after_decline(&mut tx, booking_id).await?;
            Changes::default()
        }
        ChargeOutcome::RequiresAction { .. } => {
            // The hold is gone: the challenge can never be answered, and
            // nothing was charged.
            expired = true;
            let (changes, ()) = if pending {
                expire_one(&mut tx, booking_id).await?
            } else {
                (Changes::default(), ())
            };
            inventory::abandon_challenges(&mut tx, &[booking_id]).await?;
            changes
        }
    };
    tx.commit().await?;
    Ok(Finished {
        changes,
        refund,
        attempts_left,
        expired,
    })
}

/// Rejects a pending booking and releases what it holds, with its outbox
/// row; the seats' changes, for the live feed after commit.
async fn reject_and_release(
    tx: &mut Transaction<'_, Postgres>,
    booking_id: Uuid,
) -> Result<Changes, sqlx::Error> {
    sqlx::query("update bookings set status = 'rejected' where booking_id = $1")
        .bind(booking_id)
        .execute(&mut **tx)
        .await?;
    let changes = inventory::release(tx, &[booking_id], SeatStatus::Held).await?;
    write_outbox(tx, &[booking_id], "booking.rejected").await?;
    Ok(changes)
}

/// How many more cards a booking may try, as it stands (none once it is no
/// longer pending).
async fn attempts_left_now(
    tx: &mut Transaction<'_, Postgres>,
    booking_id: Uuid,
) -> Result<i64, sqlx::Error> {
    let status: BookingStatus =
        sqlx::query_scalar("select status from bookings where booking_id = $1")
            .bind(booking_id)
            .fetch_one(&mut **tx)
            .await?;
    if status.is_pending() {
        declined_attempts_left(tx, booking_id).await
    } else {
        Ok(0)
    }
}

/// How many more cards a booking may try after this decline
/// ([`PAYMENT_ATTEMPTS`] in all).
async fn declined_attempts_left(
    tx: &mut Transaction<'_, Postgres>,
    booking_id: Uuid,
) -> Result<i64, sqlx::Error> {
    let declined: i64 = sqlx::query_scalar(
        "select count(*) from payments where booking_id = $1 and kind = 'charge' and status = 'declined'",
    )
    .bind(booking_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok((PAYMENT_ATTEMPTS - declined).max(0))
}

/// A decline with attempts left, or a challenge from the bank, keeps the
/// hold as it was before the charge: the payment grace given to the seats
/// is taken back, so trying cards (or leaving a challenge unanswered)
/// cannot hold seats past the booking's own expiry.
async fn keep_hold_after_decline(
    tx: &mut Transaction<'_, Postgres>,
    booking_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update event_seats es set held_until = b.expires_at
           from bookings b
          where b.booking_id = $1 and es.event_id = b.event_id
            and es.booking_id = b.booking_id and es.status = 'held'",
    )
    .bind(booking_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Refunds a succeeded charge and records the refund. A provider failure is
/// logged for reconciliation; the charge row still says succeeded.
async fn refund_charge(
    pool: &PgPool,
    provider: &Arc<dyn PaymentProvider>,
    booking_id: Uuid,
    charge_key: &str,
) {
    let charge: Option<(Option<String>, i64, String)> = sqlx::query_as(
        "select provider_ref, amount_cents, currency from payments where idempotency_key = $1",
    )
    .bind(charge_key)
    .fetch_optional(pool)
    .await
    .unwrap_or(None);
    let Some((reference, amount, currency)) = charge else {
        return;
    };
    let refund_key = format!("refund-{booking_id}");
    match provider
        .refund(
            &refund_key,
            reference.as_deref().unwrap_or_default(),
            amount,
        )
        .await
    {
        Ok(ChargeOutcome::Succeeded { reference }) => {
            let recorded = sqlx::query(
                "insert into payments (booking_id, kind, provider, provider_ref, idempotency_key, amount_cents, currency, status)
                 values ($1, 'refund', $2, $3, $4, $5, $6, 'succeeded')
                 on conflict (idempotency_key) do nothing",
            )
            .bind(booking_id)
            .bind(provider.name())
            .bind(&reference)
            .bind(&refund_key)
            .bind(amount)
            .bind(&currency)
            .execute(pool)
            .await;
            if let Err(e) = recorded {
                tracing::error!(%booking_id, error = %e, "refund made but not recorded");
            }
        }
        other => {
            tracing::error!(%booking_id, outcome = ?other, "refund failed; needs reconciliation")
        }
    }
}

async fn refund_confirmed(
    pool: &PgPool,
    provider: &Arc<dyn PaymentProvider>,
    feed: &SeatFeed,
    booking_id: Uuid,
    event_id: i64,
    refund_key: &str,
) -> Result<BookingView, BookingError> {
    let charge: Option<(Option<String>, i64)> = sqlx::query_as(
        "select provider_ref, amount_cents from payments
          where booking_id = $1 and kind = 'charge' and status = 'succeeded'",
    )
    .bind(booking_id)
    .fetch_optional(pool)
    .await?;
    let (reference, amount) = charge.unwrap_or((None, 0));
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        provider.refund(refund_key, reference.as_deref().unwrap_or_default(), amount),
    )
    .await;
    let Ok(Ok(ChargeOutcome::Succeeded { reference })) = outcome else {
        sqlx::query("update payments set status = 'failed' where idempotency_key = $1 and status = 'pending'")
            .bind(refund_key)
            .execute(pool)
            .await?;
        return Err(BookingError::Unavailable(
            "the refund did not go through; try again".into(),
        ));
    };
    let mut tx = pool.begin().await?;
    let moved: Option<Uuid> = sqlx::query_scalar(
        "update payments set status = 'succeeded', provider_ref = $2
          where idempotency_key = $1 and status = 'pending' returning payment_id",
    )
    .bind(refund_key)
    .bind(&reference)
    .fetch_optional(&mut *tx)
    .await?;
    let cancelled: Option<Uuid> = if moved.is_some() {
        sqlx::query_scalar("update bookings set status = 'cancelled' where booking_id = $1 and status = 'confirmed' returning booking_id")
            .bind(booking_id)
            .fetch_optional(&mut *tx)
            .await?
    } else {
        None
    };
    let changes = if cancelled.is_some() {
        let changes = inventory::release(&mut tx, &[booking_id], SeatStatus::Sold).await?;
        write_outbox(&mut tx, &[booking_id], "booking.cancelled").await?;
        changes
    } else {
        Changes::default()
    };
    tx.commit().await?;
    feed.publish(event_id, &changes).await;
    view(pool, booking_id).await
}

async fn expire_one(
    tx: &mut Transaction<'_, Postgres>,
    booking_id: Uuid,
) -> Result<(Changes, ()), sqlx::Error> {
    sqlx::query("update bookings set status = 'expired' where booking_id = $1")
        .bind(booking_id)
        .execute(&mut **tx)
        .await?;
    let changes = inventory::release(tx, &[booking_id], SeatStatus::Held).await?;
    inventory::abandon_challenges(tx, &[booking_id]).await?;
    write_outbox(tx, &[booking_id], "booking.expired").await?;
    Ok((changes, ()))
}

/// Cancels a pending booking (releasing its seats) or a confirmed one
/// (refunding it, until the event starts).
pub async fn cancel(
    pool: &PgPool,
    provider: &Arc<dyn PaymentProvider>,
    feed: &SeatFeed,
    booking_id: Uuid,
    caller: Uuid,
    admin: bool,
) -> Result<BookingView, BookingError> {
    let mut tx = pool.begin().await?;
    let booking = lock_booking(&mut tx, booking_id, caller, admin).await?;
    let changes = match booking.status {
        BookingStatus::Cancelled => return view(pool, booking_id).await,
        BookingStatus::PaymentPending | BookingStatus::InProcess => {
            let in_flight: bool = sqlx::query_scalar(
                "select exists (select 1 from payments where booking_id = $1 and kind = 'charge' and status = 'pending')",
            )
            .bind(booking_id)
            .fetch_one(&mut *tx)
            .await?;
            if in_flight {
                return Err(BookingError::conflict(
                    "payment_in_progress",
                    "a payment is in progress; try again shortly",
                ));
            }
            sqlx::query("update bookings set status = 'cancelled' where booking_id = $1")
                .bind(booking_id)
                .execute(&mut *tx)
                .await?;
            inventory::abandon_challenges(&mut tx, &[booking_id]).await?;
            inventory::release(&mut tx, &[booking_id], SeatStatus::Held).await?
        }
        BookingStatus::Confirmed => {
            if booking.event_started {
                return Err(BookingError::conflict(
                    "event_started",
                    "a booking cannot be refunded once the event has started",
                ));
            }
            // Record the refund attempt, then call the provider outside any
            // transaction, then finish; like confirm, in two steps.
            let refund_key = format!("refund-{booking_id}");
            let claimed: Option<Uuid> = sqlx::query_scalar(
                "insert into payments (booking_id, kind, provider, idempotency_key, amount_cents, currency)
                 values ($1, 'refund', $2, $3, $4, $5)
                 on conflict (idempotency_key) do update set status = 'pending'
                  where payments.status = 'failed'
                 returning payment_id",
            )
            .bind(booking_id)
            .bind(provider.name())
            .bind(&refund_key)
            .bind(booking.total_cents)
            .bind(&booking.currency)
            .fetch_optional(&mut *tx)
            .await?;
            if claimed.is_none() {
                return Err(BookingError::conflict(
                    "refund_in_progress",
                    "a refund is in progress; try again shortly",
                ));
            }
            tx.commit().await?;
            return refund_confirmed(
                pool,
                provider,
                feed,
                booking_id,
                booking.event_id,
                &refund_key,
            )
            .await;
        }
        other @ (BookingStatus::Rejected | BookingStatus::Expired) => {
            return Err(BookingError::conflict(
                "booking_not_cancellable",
                format!("booking is {other}"),
            ));
        }
    };
    write_outbox(&mut tx, &[booking_id], "booking.cancelled").await?;
    tx.commit().await?;
    feed.publish(booking.event_id, &changes).await;
    view(pool, booking_id).await
}
