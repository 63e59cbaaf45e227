//! The outbox relay: booking events, written to `outbox` in the same
//! transaction as the state change they describe, are shipped to the Redis
//! stream `<CACHE_NAMESPACE>:booking-events` ([`stream`]) and marked
//! published.
//!
//! - One relay works at a time across instances: each round takes a
//!   transaction-level advisory lock, and an instance that cannot get it
//!   skips the round. Server-side timeouts end a round whose connection
//!   hangs, so a stuck relay cannot keep the lock.
//! - Delivery is at least once. A relay that dies between `XADD` and its
//!   commit leaves the rows unpublished and the next round sends them again,
//!   so every entry carries its `outbox_id` for consumers to drop repeats.
//! - Order: each round sends the unpublished rows in id order. A booking's
//!   events are written by successive transactions on its row, so they go
//!   out in order. Across bookings a row can arrive after rows with higher
//!   ids (its transaction committed after they were sent), so consumers
//!   dedupe by the ids they have seen, not by the highest one.
//! - The stream is capped at about [`MAX_LEN`] entries; Postgres keeps every
//!   row, with `published_at`.
//! - The relay has its own single database connection, so it never takes
//!   one from the hold path.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use redis::aio::MultiplexedConnection;
use service_kit::metrics::Metrics;
use sqlx::PgPool;

/// The Redis stream booking events go to, for a deployment's namespace.
pub fn stream(namespace: &str) -> String {
    format!("{namespace}:booking-events")
}
/// Rows sent per round.
const ROUND: i64 = 500;
/// Approximate cap on the stream's length (`XADD MAXLEN ~`).
const MAX_LEN: u64 = 1_000_000;
/// The advisory lock only one relay holds at a time.
pub const RELAY_LOCK: i64 = 0x6f75_7462_6f78;
/// A Redis round trip longer than this fails the round.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);
/// A round longer than this is abandoned (and rolled back).
const ROUND_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a round failed; the rows stay unpublished.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Postgres.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Redis.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The round took longer than [`ROUND_TIMEOUT`].
    #[error("the round took longer than {ROUND_TIMEOUT:?}")]
    Timeout,
}

/// The relay's metrics, `booking_outbox_*`.
#[derive(Debug, Clone)]
pub struct RelayMetrics {
    published: Counter,
    failures: Counter,
    oldest_unpublished_seconds: Gauge<f64, AtomicU64>,
}

impl RelayMetrics {
    /// Creates and registers the metrics.
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self {
            published: Counter::default(),
            failures: Counter::default(),
            oldest_unpublished_seconds: Gauge::default(),
        };
        metrics.register(
            "outbox_published",
            "Outbox rows sent to the booking-events stream",
            this.published.clone(),
        );
        metrics.register(
            "outbox_relay_failures",
            "Relay rounds that failed (their rows are sent again)",
            this.failures.clone(),
        );
        metrics.register(
            "outbox_oldest_unpublished_seconds",
            "Age of the oldest unpublished outbox row after the last round",
            this.oldest_unpublished_seconds.clone(),
        );
        this
    }
}

type Row = (i64, String, String, String, String);

/// One round: sends up to [`ROUND`] unpublished rows to `stream` and marks
/// them published. Returns how many were sent, or `None` if another relay
/// holds the lock.
pub async fn relay_once(
    pool: &PgPool,
    redis: &mut MultiplexedConnection,
    stream: &str,
) -> Result<Option<usize>, RelayError> {
    let mut tx = pool.begin().await?;
    // A statement, or the wait for Redis between two, that hangs ends the
    // session on the server, which releases the lock.
    let mine: bool = sqlx::query_scalar(
        "select pg_try_advisory_xact_lock($1)
           from (select set_config('statement_timeout', '10s', true),
                        set_config('idle_in_transaction_session_timeout', '15s', true)) t",
    )
    .bind(RELAY_LOCK)
    .fetch_one(&mut *tx)
    .await?;
    if !mine {
        return Ok(None);
    }
    let rows: Vec<Row> = sqlx::query_as(
        "select outbox_id, event_type, aggregate_id, payload::text,
                to_char(created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
           from outbox where published_at is null
          order by outbox_id limit $1",
    )
    .bind(ROUND)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(Some(0));
    }
    let mut pipe = redis::pipe();
    for (id, event_type, aggregate_id, payload, at) in &rows {
        pipe.cmd("XADD")
            .arg(stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(MAX_LEN)
            .arg("*")
            .arg("outbox_id")
            .arg(id)
            .arg("type")
            .arg(event_type)
            .arg("booking_id")
            .arg(aggregate_id)
            .arg("payload")
            .arg(payload)
            .arg("at")
            .arg(at)
            .ignore();
    }
    pipe.query_async::<()>(redis).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    sqlx::query("update outbox set published_at = now() where outbox_id = any($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(rows.len()))
}

/// Runs the relay every `interval`, draining the backlog each time, on a
/// connection of its own (options taken from `pool`).
pub fn spawn_relay(
    pool: &PgPool,
    client: redis::Client,
    stream: String,
    metrics: RelayMetrics,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*pool.connect_options()).clone());
    let redis_config =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(REDIS_TIMEOUT));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut conn: Option<MultiplexedConnection> = None;
        // Failures are logged when they start, not every round.
        let mut failing = false;
        loop {
            tick.tick().await;
            let result = async {
                if conn.is_none() {
                    conn = Some(
                        client
                            .get_multiplexed_async_connection_with_config(&redis_config)
                            .await?,
                    );
                }
                match conn.as_mut() {
                    Some(redis) => drain(&pool, redis, &stream, &metrics).await,
                    None => Ok(()),
                }
            }
            .await;
            match result {
                Ok(()) => failing = false,
                Err(e) => {
                    metrics.failures.inc();
                    if !failing {
                        tracing::warn!(error = %e, "outbox relay failing; rows stay unpublished until it recovers");
                    }
                    failing = true;
                    if !matches!(e, RelayError::Db(_)) {
                        conn = None;
                    }
                }
            }
            let oldest: Result<Option<f64>, _> = sqlx::query_scalar(
                "select extract(epoch from now() - created_at)::float8
                   from outbox where published_at is null order by outbox_id limit 1",
            )
            .fetch_optional(&pool)
            .await;
            if let Ok(age) = oldest {
                metrics.oldest_unpublished_seconds.set(age.unwrap_or(0.0));
            }
        }
    })
}

/// Rounds until the backlog is sent or another relay holds the lock.
async fn drain(
    pool: &PgPool,
    redis: &mut MultiplexedConnection,
    stream: &str,
    metrics: &RelayMetrics,
) -> Result<(), RelayError> {
    loop {
        let round = tokio::time::timeout(ROUND_TIMEOUT, relay_once(pool, redis, stream))
            .await
            .map_err(|_| RelayError::Timeout)??;
        match round {
            Some(n) => {
                metrics.published.inc_by(n as u64);
                if n < ROUND as usize {
                    return Ok(());
                }
            }
            None => return Ok(()),
        }
    }
}
