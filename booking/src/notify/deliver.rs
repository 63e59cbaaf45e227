//! Webhook delivery: claim due deliveries, POST them signed (Standard
//! Webhooks v1), record each attempt.
//!
//! - **At least once.** A claim leases its rows (`leased_until`) and counts
//!   the attempt; the outcome is recorded afterwards, fenced on that count,
//!   so a worker killed mid-send leaves its rows to be claimed again when
//!   the lease ends, and a late answer from a worker whose lease ran out
//!   cannot overwrite a newer attempt (nor a replay's reset). Receivers deduplicate on
//!   `webhook-id`, the outbox row's id.
//! - **Order per booking.** Only a `ready` delivery is claimed: the first
//!   pending event of its booking for its endpoint. Finishing it (delivered,
//!   or given up) readies the next in the same transaction. A failing event
//!   holds back only its own booking's later events, not the whole
//!   endpoint: one bad payload cannot stall a promoter's feed. The claim is
//!   an index scan of ready rows in due order, however long the backlog.
//! - **Several instances** claim with `FOR UPDATE SKIP LOCKED`, so they
//!   share the work without waiting on each other.
//! - **Answers.** 2xx is delivered. 410 disables the endpoint (its pending
//!   deliveries wait for it to be enabled again). Anything else, a redirect,
//!   a timeout or a refused address is retried with exponential backoff
//!   and jitter, or after `Retry-After` when the answer has one, until
//!   `retry_for` has passed since the event (or its replay); then it is
//!   `failed`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use sqlx::PgPool;
use uuid::Uuid;
use webhooks::Secret;

use super::guard::{self, AddressPolicy};
use super::sealing::SecretsKey;
use super::{NotifyMetrics, WebhookSettings};

/// At most this much of an answer's body is read (and thrown away).
const MAX_BODY: usize = 64 * 1024;
/// The error text kept in the log, at most.
const MAX_ERROR: usize = 300;

/// The HTTP client webhooks go out on: the address guard as its resolver,
/// no proxy, no redirects, bounded timeouts.
pub fn client(settings: &WebhookSettings) -> Result<reqwest::Client, reqwest::Error> {
    // Two crypto providers are linked (aws-lc-rs for mail, ring as reqwest's
    // fallback): make aws-lc-rs the process default, as for mail; a second
    // call (another client) changes nothing.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .dns_resolver(settings.policy.resolver())
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
        .pool_max_idle_per_host(64)
        .user_agent(concat!("ticketing-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A claimed delivery, with what it sends.
#[derive(Debug, sqlx::FromRow)]
struct Claimed {
    delivery_id: i64,
    endpoint_id: Uuid,
    outbox_id: i64,
    attempts: i32,
    leased_until: DateTime<Utc>,
    since: DateTime<Utc>,
    event_at: DateTime<Utc>,
    url: String,
    body: String,
}

/// How one attempt ended.
#[derive(Debug)]
enum Outcome {
    Delivered(u16),
    Gone,
    Retry {
        status: Option<u16>,
        error: String,
        after: Option<Duration>,
    },
}

/// One attempt's record.
#[derive(Debug)]
struct Attempt {
    claimed: Claimed,
    outcome: Outcome,
    latency: Duration,
}

/// Claims up to `settings.batch` due deliveries.
async fn claim(pool: &PgPool, settings: &WebhookSettings) -> Result<Vec<Claimed>, sqlx::Error> {
    let lease = settings.timeout + settings.lease_margin;
    let mut tx = pool.begin().await?;
    super::index_plans(&mut tx).await?;
    let claimed = sqlx::query_as(
        "with due as (
             select d.delivery_id
               from webhook_deliveries d
              where d.status = 'pending' and d.ready and d.next_attempt_at <= now()
                and (d.leased_until is null or d.leased_until < now())
                and exists (select 1 from webhook_endpoints e
                             where e.endpoint_id = d.endpoint_id and e.enabled)
              order by d.next_attempt_at, d.outbox_id
              limit $1
                for update of d skip locked
         ),
         claimed as (
             update webhook_deliveries d
                set leased_until = now() + make_interval(secs => $2), attempts = d.attempts + 1
               from due where d.delivery_id = due.delivery_id
             returning d.delivery_id, d.endpoint_id, d.outbox_id, d.attempts, d.leased_until,
                       d.retry_from as since
         )
         select c.delivery_id, c.endpoint_id, c.outbox_id, c.attempts, c.leased_until, c.since, o.created_at as event_at, e.url,
                jsonb_build_object(
                    'type', o.event_type,
                    'timestamp', to_char(o.created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
                    'data', o.payload - 'user_id')::text as body
           from claimed c
           join outbox o on o.outbox_id = c.outbox_id
           join webhook_endpoints e on e.endpoint_id = c.endpoint_id
          order by c.outbox_id",
    )
    .bind(settings.batch)
    .bind(lease.as_secs_f64())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// The live signing secrets of `endpoints`, newest first.
async fn secrets(
    pool: &PgPool,
    key: &SecretsKey,
    endpoints: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Secret>>, sqlx::Error> {
    let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(
        "select endpoint_id, sealed from webhook_secrets
          where endpoint_id = any($1) and (expires_at is null or expires_at > now())
          order by created_at desc",
    )
    .bind(endpoints)
    .fetch_all(pool)
    .await?;
    let mut by_endpoint: HashMap<Uuid, Vec<Secret>> = HashMap::new();
    for (endpoint, sealed) in rows {
        match key.open(endpoint, &sealed) {
            Ok(secret) => by_endpoint.entry(endpoint).or_default().push(secret),
            Err(e) => tracing::error!(%endpoint, error = %e, "a webhook secret does not open"),
        }
    }
    Ok(by_endpoint)
}

/// `Retry-After`, in seconds or as an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&Utc) - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_ERROR {
        let mut end = MAX_ERROR;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The chain of causes, for the log ("error sending request: ... internal address").
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    truncate(text)
}

/// Sends one delivery.
async fn send(
    client: &reqwest::Client,
    policy: &AddressPolicy,
    claimed: &Claimed,
    secrets: &[Secret],
) -> Outcome {
    let retry = |status: Option<u16>, error: String| Outcome::Retry {
        status,
        error: truncate(error),
        after: None,
    };
    let url = match reqwest::Url::parse(&claimed.url) {
        Ok(url) => url,
        Err(e) => return retry(None, format!("bad URL: {e}")),
    };
    if let Err(refused) = guard::check_url(policy, &url) {
        return retry(None, format!("refused: {refused}"));
    }
    if secrets.is_empty() {
        return retry(None, "the endpoint has no live signing secret".to_owned());
    }
    let id = claimed.outbox_id.to_string();
    let timestamp = Utc::now().timestamp();
    let signature = webhooks::sign(secrets, &id, timestamp, claimed.body.as_bytes());
    let sent = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(claimed.body.clone())
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(e) => return retry(None, describe(&e)),
    };
    let status = response.status();
    let after = retry_after(response.headers());
    // Read a little of the body so the connection can be reused.
    let mut read = 0;
    while read < MAX_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
    match status.as_u16() {
        code @ 200..=299 => Outcome::Delivered(code),
        410 => Outcome::Gone,
        code @ 300..=399 => retry(Some(code), "redirects are not followed".to_owned()),
        code => Outcome::Retry {
            status: Some(code),
            error: format!("answered {status}"),
            after,
        },
    }
}

/// The wait before attempt `attempts + 1`: `base · 2^(attempts−1)`, at most
/// `max`, times a jitter in [0.5, 1) so a crowd of failures spreads out.
pub fn backoff(settings: &WebhookSettings, attempts: i32, seed: i64) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = settings
        .retry_base
        .saturating_mul(2u32.saturating_pow(exp))
        .min(settings.retry_max);
    // splitmix64 over the delivery and attempt: cheap, and spread enough.
    let mut z = (seed as u64) ^ (u64::from(exp) << 48) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let jitter = 0.5 + (z >> 11) as f64 / (1u64 << 53) as f64 / 2.0;
    full.mul_f64(jitter)
}

/// What an attempt leaves in the delivery row: (status, delay before the
/// next attempt, log outcome).
fn next_state(
    settings: &WebhookSettings,
    claimed: &Claimed,
    outcome: &Outcome,
) -> (&'static str, Duration, &'static str) {
    match outcome {
        Outcome::Delivered(_) => ("delivered", Duration::ZERO, "delivered"),
        Outcome::Gone => ("pending", Duration::ZERO, "gone"),
        Outcome::Retry { after, .. } => {
            let delay = match after {
                Some(after) => (*after)
                    .min(settings.retry_max)
                    .max(settings.retry_base.min(Duration::from_secs(1))),
                None => backoff(settings, claimed.attempts, claimed.delivery_id),
            };
            let age = (Utc::now() - claimed.since).to_std().unwrap_or_default();
            if age + delay > settings.retry_for {
                ("failed", Duration::ZERO, "failed")
            } else {
                ("pending", delay, "retry")
            }
        }
    }
}

/// Records a batch's attempts: the delivery rows (fenced on the attempt
/// count), the log, and endpoints that answered 410.
async fn record(
    pool: &PgPool,
    settings: &WebhookSettings,
    attempts: &[Attempt],
    metrics: &NotifyMetrics,
) -> Result<(), sqlx::Error> {
    let mut ids = Vec::with_capacity(attempts.len());
    let mut counts = Vec::with_capacity(attempts.len());
    let mut leases = Vec::with_capacity(attempts.len());
    let mut endpoints = Vec::with_capacity(attempts.len());
    let mut outbox = Vec::with_capacity(attempts.len());
    let mut states = Vec::with_capacity(attempts.len());
    let mut outcomes = Vec::with_capacity(attempts.len());
    let mut delays = Vec::with_capacity(attempts.len());
    let mut codes: Vec<Option<i16>> = Vec::with_capacity(attempts.len());
    let mut errors: Vec<Option<String>> = Vec::with_capacity(attempts.len());
    let mut latencies = Vec::with_capacity(attempts.len());
    let mut gone: Vec<Uuid> = Vec::new();
    for a in attempts {
        let (state, delay, logged) = next_state(settings, &a.claimed, &a.outcome);
        let (code, error) = match &a.outcome {
            Outcome::Delivered(code) => (Some(*code), None),
            Outcome::Gone => (
                Some(410),
                Some("answered 410 Gone: endpoint disabled".to_owned()),
            ),
            Outcome::Retry { status, error, .. } => (*status, Some(error.clone())),
        };
        if matches!(a.outcome, Outcome::Gone) {
            gone.push(a.claimed.endpoint_id);
        }
        ids.push(a.claimed.delivery_id);
        counts.push(a.claimed.attempts);
        leases.push(a.claimed.leased_until);
        endpoints.push(a.claimed.endpoint_id);
        outbox.push(a.claimed.outbox_id);
        states.push(state);
        outcomes.push(logged);
        delays.push(delay.as_secs_f64());
        codes.push(code.and_then(|c| i16::try_from(c).ok()));
        errors.push(error);
        latencies.push(i32::try_from(a.latency.as_millis()).unwrap_or(i32::MAX));
    }
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock_shared($1)")
        .bind(super::dispatch::ORDER_LOCK)
        .execute(&mut *tx)
        .await?;
    super::index_plans(&mut tx).await?;
    sqlx::query(
        "update webhook_deliveries d
            set status = r.state, leased_until = null, last_status = r.code, last_error = r.error,
                next_attempt_at = now() + make_interval(secs => r.delay),
                delivered_at = case when r.state = 'delivered' then now() end
           from unnest($1::bigint[], $2::int[], $3::text[], $4::float8[], $5::smallint[], $6::text[],
                       $7::timestamptz[])
                as r (delivery_id, attempts, state, delay, code, error, lease)
          -- The lease is the fence: a finished row has none, a row claimed
          -- again has another. (No status condition: on stale statistics it
          -- would tempt the planner into a pending-index scan.)
          where d.delivery_id = r.delivery_id and d.attempts = r.attempts
            and d.leased_until = r.lease",
    )
    .bind(&ids)
    .bind(&counts)
    .bind(&states)
    .bind(&delays)
    .bind(&codes)
    .bind(&errors)
    .bind(&leases)
    .execute(&mut *tx)
    .await?;
    // The next event of each finished delivery's booking becomes ready.
    sqlx::query(
        "update webhook_deliveries n set ready = true, retry_from = now()
           from unnest($1::bigint[]) as done (delivery_id)
           join webhook_deliveries f on f.delivery_id = done.delivery_id and f.status <> 'pending'
           -- Per finished delivery, one probe of (endpoint, booking, outbox id).
           cross join lateral (
               select p.delivery_id, p.ready from webhook_deliveries p
                where p.endpoint_id = f.endpoint_id and p.aggregate_id = f.aggregate_id
                  and p.status = 'pending'
                order by p.endpoint_id, p.aggregate_id, p.outbox_id
                limit 1) x
          where n.delivery_id = x.delivery_id and not x.ready",
    )
    .bind(&ids)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into webhook_attempts (delivery_id, endpoint_id, outbox_id, latency_ms, status_code, outcome, error)
         select r.* from unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::int[], $5::smallint[], $6::text[], $7::text[])
                as r (delivery_id, endpoint_id, outbox_id, latency_ms, status_code, outcome, error)
          -- An endpoint deleted meanwhile took its deliveries with it.
          where exists (select 1 from webhook_deliveries d where d.delivery_id = r.delivery_id)",
    )
    .bind(&ids)
    .bind(&endpoints)
    .bind(&outbox)
    .bind(&latencies)
    .bind(&codes)
    .bind(&outcomes)
    .bind(&errors)
    .execute(&mut *tx)
    .await?;
    if !gone.is_empty() {
        let disabled = sqlx::query(
            "update webhook_endpoints set enabled = false, disabled_reason = 'gone', disabled_at = now()
              where endpoint_id = any($1) and enabled",
        )
        .bind(&gone)
        .execute(&mut *tx)
        .await?;
        // Out of the claim's range until the endpoint is enabled again.
        sqlx::query(
            "update webhook_deliveries set next_attempt_at = 'infinity'
              where endpoint_id = any($1) and status = 'pending'",
        )
        .bind(&gone)
        .execute(&mut *tx)
        .await?;
        if disabled.rows_affected() > 0 {
            tracing::warn!(endpoints = ?gone, "webhook endpoints answered 410 Gone and are disabled");
        }
    }
    tx.commit().await?;
    // Counted once recorded: a batch that did not commit is sent again.
    for (a, outcome) in attempts.iter().zip(&outcomes) {
        metrics.outcome(outcome);
        if a.claimed.attempts > 1 {
            metrics.retries.inc();
        }
    }
    Ok(())
}

/// One round: claim, send concurrently, record. Returns how many were sent.
pub async fn deliver_once(
    pool: &PgPool,
    client: &reqwest::Client,
    key: &SecretsKey,
    settings: &WebhookSettings,
    metrics: &NotifyMetrics,
) -> Result<usize, sqlx::Error> {
    let claimed = claim(pool, settings).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let mut endpoints: Vec<Uuid> = claimed.iter().map(|c| c.endpoint_id).collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    let secrets = secrets(pool, key, &endpoints).await?;
    let none = Vec::new();
    let attempts: Vec<Attempt> = futures_util::stream::iter(claimed)
        .map(|claimed| {
            let secrets = secrets.get(&claimed.endpoint_id).unwrap_or(&none);
            async move {
                let started = Instant::now();
                let outcome = send(client, &settings.policy, &claimed, secrets).await;
                let latency = started.elapsed();
                if let Outcome::Delivered(_) = outcome {
                    metrics.delay(claimed.event_at);
                }
                Attempt {
                    claimed,
                    outcome,
                    latency,
                }
            }
        })
        .buffer_unordered(settings.batch_usize())
        .collect()
        .await;
    record(pool, settings, &attempts, metrics).await?;
    Ok(attempts.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WebhookSettings {
        WebhookSettings {
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(12 * 3600),
            ..WebhookSettings::default()
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let s = settings();
        for attempt in 1..=20 {
            let full = Duration::from_secs(30)
                .saturating_mul(2u32.pow(u32::try_from(attempt - 1).expect("small")))
                .min(s.retry_max);
            for seed in 0..50 {
                let d = backoff(&s, attempt, seed);
                assert!(
                    d >= full / 2 && d < full,
                    "attempt {attempt}: {d:?} vs {full:?}"
                );
            }
        }
        // The defaults retry for about three days in about 15 attempts.
        let mut total = Duration::ZERO;
        let mut n = 0;
        while total < s.retry_for {
            n += 1;
            total += backoff(&s, n, 7);
        }
        assert!((12..=20).contains(&n), "{n} attempts over three days");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "120".parse().expect("value"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(120)));
        let later = (Utc::now() + chrono::Duration::seconds(600)).to_rfc2822();
        headers.insert(reqwest::header::RETRY_AFTER, later.parse().expect("value"));
        let d = retry_after(&headers).expect("a date");
        assert!(
            d > Duration::from_secs(590) && d <= Duration::from_secs(600),
            "{d:?}"
        );
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().expect("value"));
        assert_eq!(retry_after(&headers), None);
    }
}
