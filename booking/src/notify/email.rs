//! Mails to shoppers about their bookings: confirmation (with an `.ics`),
//! cancellation or refund, hold expired.
//!
//! Each mail is an `email_deliveries` row, claimed with a lease like a
//! webhook, sent with one SMTP attempt, and retried with backoff on a
//! transient failure (a 4xx answer, a refused or timed-out connection)
//! until `retry_for` has passed; a permanent one (5xx) fails it at once.
//! The booking itself never waits on mail: the row was written after the
//! booking's transaction committed, by the dispatcher.
//!
//! Whether a mail is still wanted is decided when it is sent: a
//! cancellation of a booking that was never paid for (a released hold) is
//! not mailed, nor is a hold-expired mail to a shopper who has since
//! bought seats for that event.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use mail::booking::{BookingMail, BookingMailKind};
use service_kit::config::{ConfigError, EnvSource};
use sqlx::PgPool;
use uuid::Uuid;

use super::NotifyMetrics;

/// How mails are retried and throttled.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// `NOTIFY_MAIL_RETRY_BASE_MS` (30,000): the wait after the first
    /// transient failure; it doubles each time, up to an hour.
    pub retry_base: Duration,
    /// `NOTIFY_MAIL_RETRY_FOR_SECS` (86,400): how long a mail is tried.
    pub retry_for: Duration,
    /// `HOLD_EXPIRED_MAIL_EVERY_SECS` (3,600): at most one hold-expired
    /// mail per shopper and event in this window.
    pub hold_expired_every: Duration,
    /// `NOTIFY_MAIL_LEASE_MS` (60,000): how long a claimed mail is held.
    pub lease: Duration,
}

impl EmailSettings {
    /// Reads the settings.
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            retry_base: super::millis(env, "NOTIFY_MAIL_RETRY_BASE_MS", 30_000)?,
            retry_for: Duration::from_secs(env.parse_or("NOTIFY_MAIL_RETRY_FOR_SECS", 86_400)?),
            hold_expired_every: Duration::from_secs(
                env.parse_or("HOLD_EXPIRED_MAIL_EVERY_SECS", 3_600)?,
            ),
            lease: super::millis(env, "NOTIFY_MAIL_LEASE_MS", 60_000)?,
        })
    }
}

/// The mailer and the origin of the links in mails.
#[derive(Debug, Clone)]
pub struct MailSender {
    /// The SMTP mailer.
    pub mailer: mail::Mailer,
    /// `PUBLIC_URL`, without a trailing slash.
    pub public_url: String,
}

/// Mails claimed at once: two rounds of [`CONCURRENT`] sends fit well
/// inside the lease even when the relay is slow.
const BATCH: i64 = 8;
/// Mails sent at the same time.
const CONCURRENT: usize = 4;

#[derive(Debug, sqlx::FromRow)]
struct Claimed {
    email_id: i64,
    kind: String,
    booking_id: Uuid,
    attempts: i32,
    created_at: DateTime<Utc>,
    leased_until: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
struct Details {
    email: String,
    display_name: String,
    total_cents: i64,
    currency: String,
    event_id: i64,
    title: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    venue_name: String,
    venue_city: String,
    venue_address: String,
    timezone: String,
    seats: Vec<String>,
    charged: bool,
    refunded_cents: Option<i64>,
    bought_since: bool,
}

/// What became of one mail.
#[derive(Debug)]
enum Sent {
    Delivered,
    Skipped(&'static str),
    Retry(String),
    Failed(String),
}

async fn claim(pool: &PgPool, settings: &EmailSettings) -> Result<Vec<Claimed>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    super::index_plans(&mut tx).await?;
    let claimed = sqlx::query_as(
        "with due as (
             select m.email_id from email_deliveries m
              where m.status = 'pending' and m.next_attempt_at <= now()
                and (m.leased_until is null or m.leased_until < now())
                -- A booking's mails go in order (email_deliveries_order_idx).
                and not exists (select 1 from email_deliveries p
                                 where p.booking_id = m.booking_id and p.status = 'pending'
                                   and p.outbox_id < m.outbox_id)
              order by m.next_attempt_at, m.email_id
              limit $1
                for update of m skip locked
         )
         update email_deliveries m
            set leased_until = now() + make_interval(secs => $2), attempts = m.attempts + 1
           from due where m.email_id = due.email_id
         returning m.email_id, m.kind, m.booking_id, m.attempts, m.created_at, m.leased_until",
    )
    .bind(BATCH)
    .bind(settings.lease.as_secs_f64())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(claimed)
}

async fn details(pool: &PgPool, booking: Uuid) -> Result<Option<Details>, sqlx::Error> {
    sqlx::query_as(
        "select u.email, u.display_name, b.total_cents, b.currency,
                e.event_id, e.title, e.starts_at, e.ends_at,
                v.name as venue_name, v.city as venue_city, v.address as venue_address, v.timezone,
                coalesce((select array_agg(label order by sort_key, label)
                            from (select case when i.seat_id is null
                                              then t.name || ' × ' || i.quantity
                                              else vs.name || ', row ' || r.label || ', seat ' || s.number
                                         end as label,
                                         coalesce(vs.rank, 0) * 1000000 + coalesce(r.position, 0) * 1000
                                             + coalesce(s.number, 0) as sort_key
                                    from booking_items i
                                    join ticket_types t on t.ticket_type_id = i.ticket_type_id
                                    left join seats s on s.seat_id = i.seat_id
                                    left join venue_rows r on r.row_id = s.row_id
                                    left join venue_sections vs on vs.section_id = r.section_id
                                   where i.booking_id = b.booking_id) items), '{}') as seats,
                exists (select 1 from payments p where p.booking_id = b.booking_id
                          and p.kind = 'charge' and p.status = 'succeeded') as charged,
                (select p.amount_cents from payments p where p.booking_id = b.booking_id
                    and p.kind = 'refund' and p.status = 'succeeded') as refunded_cents,
                exists (select 1 from bookings o where o.user_id = b.user_id and o.event_id = b.event_id
                          and o.booking_id <> b.booking_id
                          and o.status in ('confirmed', 'in_process', 'payment_pending')
                          and o.created_at > b.created_at) as bought_since
           from bookings b
           join users u on u.user_id = b.user_id
           join events e on e.event_id = b.event_id
           join venues v on v.venue_id = e.venue_id
          where b.booking_id = $1",
    )
    .bind(booking)
    .fetch_optional(pool)
    .await
}

async fn send_one(pool: &PgPool, sender: &MailSender, claimed: &Claimed) -> Sent {
    let details = match details(pool, claimed.booking_id).await {
        Ok(Some(details)) => details,
        Ok(None) => return Sent::Skipped("the booking is gone"),
        Err(e) => return Sent::Retry(format!("database: {e}")),
    };
    let kind = match claimed.kind.as_str() {
        "confirmed" => BookingMailKind::Confirmed,
        "cancelled" if !details.charged => return Sent::Skipped("never paid for: nothing to say"),
        "cancelled" => BookingMailKind::Cancelled {
            refunded_cents: details.refunded_cents,
        },
        "hold_expired" if details.bought_since => {
            return Sent::Skipped("the shopper has booked this event since");
        }
        _ => BookingMailKind::HoldExpired,
    };
    let Ok(to) = details.email.parse::<lettre::Address>() else {
        return Sent::Failed(format!("{:?} is not a mail address", details.email));
    };
    let mail = mail::booking::render(
        &BookingMail {
            kind,
            booking_id: claimed.booking_id,
            recipient_name: details.display_name,
            event_id: details.event_id,
            event_name: details.title,
            venue_name: details.venue_name,
            venue_city: details.venue_city,
            venue_address: Some(details.venue_address).filter(|a| !a.trim().is_empty()),
            timezone: details.timezone,
            starts_at: details.starts_at,
            ends_at: Some(details.ends_at),
            seats: details.seats,
            total_cents: details.total_cents,
            currency: details.currency,
        },
        &sender.public_url,
    );
    match sender.mailer.send(&to, &mail).await {
        Ok(()) => Sent::Delivered,
        Err(e) if e.is_transient() => Sent::Retry(e.to_string()),
        Err(e) => Sent::Failed(e.to_string()),
    }
}

/// One round: claim due mails, send them, record. Returns how many.
pub async fn send_once(
    pool: &PgPool,
    sender: &MailSender,
    settings: &EmailSettings,
    metrics: &NotifyMetrics,
) -> Result<usize, sqlx::Error> {
    let claimed = claim(pool, settings).await?;
    let count = claimed.len();
    // Each mail is recorded as soon as it is sent, so a slow relay cannot
    // make a sent mail's lease run out before it is written down.
    let recorded: Vec<Result<(), sqlx::Error>> = futures_util::stream::iter(claimed)
        .map(|c| async move {
            let sent = send_one(pool, sender, &c).await;
            record(pool, settings, metrics, &c, &sent).await
        })
        .buffer_unordered(CONCURRENT)
        .collect()
        .await;
    recorded.into_iter().collect::<Result<(), _>>()?;
    Ok(count)
}

/// Writes down what became of one mail, fenced on its lease.
async fn record(
    pool: &PgPool,
    settings: &EmailSettings,
    metrics: &NotifyMetrics,
    claimed: &Claimed,
    sent: &Sent,
) -> Result<(), sqlx::Error> {
    let (status, delay, error, outcome) = match sent {
        Sent::Delivered => ("sent", Duration::ZERO, None, "sent"),
        Sent::Skipped(why) => (
            "skipped",
            Duration::ZERO,
            Some((*why).to_owned()),
            "skipped",
        ),
        Sent::Failed(e) => ("failed", Duration::ZERO, Some(e.clone()), "failed"),
        Sent::Retry(e) => {
            let exp = u32::try_from(claimed.attempts.clamp(1, 20) - 1).unwrap_or(0);
            let delay = settings
                .retry_base
                .saturating_mul(2u32.saturating_pow(exp))
                .min(Duration::from_secs(3_600));
            let age = (Utc::now() - claimed.created_at)
                .to_std()
                .unwrap_or_default();
            if age + delay > settings.retry_for {
                ("failed", Duration::ZERO, Some(e.clone()), "failed")
            } else {
                ("pending", delay, Some(e.clone()), "retry")
            }
        }
    };
    match (outcome, error.as_deref()) {
        ("retry", Some(e)) => {
            tracing::info!(
                email_id = claimed.email_id,
                error = e,
                "mail not sent; will retry"
            );
        }
        ("failed", Some(e)) => {
            tracing::warn!(email_id = claimed.email_id, error = e, "mail given up");
        }
        _ => {}
    }
    sqlx::query(
        "update email_deliveries
            set status = $3, leased_until = null, last_error = $4,
                next_attempt_at = now() + make_interval(secs => $5),
                sent_at = case when $3 = 'sent' then now() end
          where email_id = $1 and leased_until = $2",
    )
    .bind(claimed.email_id)
    .bind(claimed.leased_until)
    .bind(status)
    .bind(error)
    .bind(delay.as_secs_f64())
    .execute(pool)
    .await?;
    metrics.email(outcome);
    Ok(())
}
