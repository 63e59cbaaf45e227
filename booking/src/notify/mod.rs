//! Notifications: booking events out of the outbox, to promoters' systems
//! as signed webhooks and to shoppers as emails.
//!
//! ```text
//! outbox --dispatch--> webhook_deliveries --deliver--> POST (Standard Webhooks v1)
//!                  \-> email_deliveries   --mail-----> SMTP (lettre)
//! ```
//!
//! It reads the `outbox` table, not the Redis stream: that stream lives in
//! a Redis without persistence and is capped, so it cannot back retries
//! that run for days. Every step is a transaction on Postgres rows, so a
//! restart loses nothing and several booking instances share the work
//! (see [`dispatch`], [`deliver`], [`email`]). It runs inside booking, on
//! a connection pool of its own, so it never takes a connection from the
//! hold path.

pub mod admin;
pub mod deliver;
pub mod dispatch;
pub mod email;
pub mod guard;
pub mod sealing;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use service_kit::config::{ConfigError, EnvSource};
use service_kit::metrics::Metrics;
use sqlx::PgPool;
use tokio::sync::Notify;

use self::guard::AddressPolicy;
use self::sealing::SecretsKey;

/// Pins the rest of `tx` to index scans and nested loops.
///
/// Every statement here touches a handful of rows of a queue table that can
/// grow from empty to millions of rows between two autovacuum analyses; on
/// stale statistics the planner can pick a sequential scan or a hash join
/// over the whole table for a batch of 200 (seen in the benchmark: seconds
/// per statement, leases running out). With these off it cannot.
pub async fn index_plans(tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "select set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
                set_config('enable_mergejoin', 'off', true)",
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// How webhooks are sent.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `WEBHOOK_RETRY_BASE_MS` (30,000): the wait after the first failure;
    /// it doubles each time, with jitter.
    pub retry_base: Duration,
    /// `WEBHOOK_RETRY_MAX_MS` (12 hours): the longest wait between attempts.
    pub retry_max: Duration,
    /// `WEBHOOK_RETRY_FOR_SECS` (259,200: three days): how long after the
    /// event (or its replay) a delivery is still tried.
    pub retry_for: Duration,
    /// `WEBHOOK_TIMEOUT_MS` (10,000): one attempt, connect to last byte.
    pub timeout: Duration,
    /// `WEBHOOK_LEASE_MARGIN_MS` (5,000): a claim is held for the timeout
    /// plus this; a worker killed mid-send frees its claims after it.
    pub lease_margin: Duration,
    /// `WEBHOOK_BATCH` (200): deliveries claimed and sent at once per lane.
    pub batch: i64,
    /// `WEBHOOK_LANES` (4): claim-send-record loops per instance, so one slow
    /// receiver holds up only its lane's batch.
    pub lanes: usize,
    /// `WEBHOOK_ALLOW_PRIVATE` (empty): CIDR blocks of internal addresses
    /// webhooks may reach anyway (tests and the demo: `127.0.0.0/8,::1`).
    pub policy: AddressPolicy,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(12 * 3600),
            retry_for: Duration::from_secs(3 * 86_400),
            timeout: Duration::from_secs(10),
            lease_margin: Duration::from_secs(5),
            batch: 200,
            lanes: 4,
            policy: AddressPolicy::default(),
        }
    }
}

impl WebhookSettings {
    /// The batch size as a count.
    pub fn batch_usize(&self) -> usize {
        usize::try_from(self.batch).unwrap_or(1).max(1)
    }
}

/// Settings of the whole notification pipeline.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// `NOTIFY_INTERVAL_MS` (100; 0 turns notifications off in this
    /// instance): how often idle workers look for new work.
    pub interval: Option<Duration>,
    /// `WEBHOOK_SECRETS_KEY`: 32 bytes, base64, sealing endpoint secrets.
    /// Without it no endpoint can be registered and no webhook is sent.
    pub secrets_key: Option<Arc<SecretsKey>>,
    /// Webhook delivery.
    pub webhooks: WebhookSettings,
    /// `WEBHOOK_LOG_RETENTION_DAYS` (30): attempts older than this are
    /// deleted from the delivery log, and delivered rows with them.
    pub log_retention: Duration,
    /// Mail.
    pub email: email::EmailSettings,
}

fn millis(env: &EnvSource, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
    match env.parse_or(var, default)? {
        0 => Err(ConfigError {
            var,
            reason: "must be at least 1".into(),
        }),
        ms => Ok(Duration::from_millis(ms)),
    }
}

impl NotifyConfig {
    /// Reads the configuration; the error names the offending variable.
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        let secrets_key = match env.get("WEBHOOK_SECRETS_KEY") {
            Some(text) => Some(Arc::new(SecretsKey::parse(&text).map_err(|e| {
                ConfigError {
                    var: "WEBHOOK_SECRETS_KEY",
                    reason: e.to_string(),
                }
            })?)),
            None => None,
        };
        let allow = env.string_or("WEBHOOK_ALLOW_PRIVATE", "");
        let allowed = guard::parse_allow_list(&allow).map_err(|reason| ConfigError {
            var: "WEBHOOK_ALLOW_PRIVATE",
            reason,
        })?;
        let batch: i64 = env.parse_or("WEBHOOK_BATCH", 200)?;
        let lanes: usize = env.parse_or("WEBHOOK_LANES", 4)?;
        if !(1..=10_000).contains(&batch) || !(1..=64).contains(&lanes) {
            return Err(ConfigError {
                var: if (1..=64).contains(&lanes) {
                    "WEBHOOK_BATCH"
                } else {
                    "WEBHOOK_LANES"
                },
                reason: "WEBHOOK_BATCH must be 1 to 10,000 and WEBHOOK_LANES 1 to 64".into(),
            });
        }
        Ok(Self {
            interval: match env.parse_or::<u64>("NOTIFY_INTERVAL_MS", 100)? {
                0 => None,
                ms => Some(Duration::from_millis(ms)),
            },
            secrets_key,
            webhooks: WebhookSettings {
                retry_base: millis(env, "WEBHOOK_RETRY_BASE_MS", 30_000)?,
                retry_max: millis(env, "WEBHOOK_RETRY_MAX_MS", 12 * 3_600_000)?,
                retry_for: Duration::from_secs(env.parse_or("WEBHOOK_RETRY_FOR_SECS", 259_200)?),
                timeout: millis(env, "WEBHOOK_TIMEOUT_MS", 10_000)?,
                lease_margin: Duration::from_millis(
                    env.parse_or("WEBHOOK_LEASE_MARGIN_MS", 5_000)?,
                ),
                batch,
                lanes,
                policy: AddressPolicy::new(allowed),
            },
            log_retention: Duration::from_secs(
                86_400 * env.parse_or::<u64>("WEBHOOK_LOG_RETENTION_DAYS", 30)?,
            ),
            email: email::EmailSettings::from_env(env)?,
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The pipeline's metrics, `booking_webhook_*`, `booking_email_*`.
#[derive(Debug, Clone)]
pub struct NotifyMetrics {
    deliveries: Family<OutcomeLabels, Counter>,
    retries: Counter,
    delay: Histogram,
    oldest_undelivered_seconds: Gauge<f64, AtomicU64>,
    disabled_endpoints: Gauge,
    emails: Family<OutcomeLabels, Counter>,
    oldest_unsent_email_seconds: Gauge<f64, AtomicU64>,
}

impl NotifyMetrics {
    /// Creates and registers the metrics.
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self {
            deliveries: Family::default(),
            retries: Counter::default(),
            delay: Histogram::new([
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 600.0,
            ]),
            oldest_undelivered_seconds: Gauge::default(),
            disabled_endpoints: Gauge::default(),
            emails: Family::default(),
            oldest_unsent_email_seconds: Gauge::default(),
        };
        metrics.register(
            "webhook_attempts",
            "Webhook delivery attempts by outcome (delivered, retry, failed, gone)",
            this.deliveries.clone(),
        );
        metrics.register(
            "webhook_retries",
            "Webhook attempts after a delivery's first",
            this.retries.clone(),
        );
        metrics.register(
            "webhook_delivery_delay_seconds",
            "From the event's outbox row to its successful delivery",
            this.delay.clone(),
        );
        metrics.register(
            "webhook_oldest_undelivered_seconds",
            "Age of the oldest event still pending for an enabled endpoint",
            this.oldest_undelivered_seconds.clone(),
        );
        metrics.register(
            "webhook_disabled_endpoints",
            "Endpoints disabled (answered 410, or by an admin)",
            this.disabled_endpoints.clone(),
        );
        metrics.register(
            "email_sends",
            "Notification mails by outcome (sent, retry, failed, skipped)",
            this.emails.clone(),
        );
        metrics.register(
            "email_oldest_unsent_seconds",
            "Age of the oldest notification mail still pending",
            this.oldest_unsent_email_seconds.clone(),
        );
        this
    }

    fn outcome(&self, outcome: &'static str) {
        self.deliveries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    fn email(&self, outcome: &'static str) {
        self.emails.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    fn delay(&self, event_at: DateTime<Utc>) {
        let seconds = (Utc::now() - event_at).num_microseconds().unwrap_or(0) as f64 / 1e6;
        self.delay.observe(seconds.max(0.0));
    }
}

/// The running pipeline's tasks.
#[derive(Debug)]
pub struct Notifier {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Notifier {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Logs a failing loop once when it starts failing, not every round.
#[derive(Debug, Default)]
struct Failing(bool);

impl Failing {
    fn report<E: std::fmt::Display>(&mut self, what: &str, result: Result<(), E>) {
        match result {
            Ok(()) => self.0 = false,
            Err(e) => {
                if !self.0 {
                    tracing::warn!(error = %e, "{what} failing; its rows wait until it recovers");
                }
                self.0 = true;
            }
        }
    }
}

/// Starts the dispatcher, the webhook lanes, the mail worker and the
/// housekeeping on a pool of their own (options taken from `pool`).
pub fn spawn(
    pool: &PgPool,
    config: NotifyConfig,
    mailer: Option<email::MailSender>,
    metrics: NotifyMetrics,
) -> Result<Notifier, reqwest::Error> {
    let Some(interval) = config.interval else {
        return Ok(Notifier { tasks: Vec::new() });
    };
    let lanes = config.webhooks.lanes;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(u32::try_from(lanes).unwrap_or(4) + 7)
        .connect_lazy_with((*pool.connect_options()).clone());
    let work = Arc::new(Notify::new());
    let mut tasks = Vec::new();

    let (p, w, every) = (pool.clone(), work.clone(), config.email.hold_expired_every);
    tasks.push(tokio::spawn(async move {
        let mut failing = Failing::default();
        loop {
            let round = async {
                loop {
                    match dispatch::dispatch_once(&p, every).await? {
                        Some(done) if done.events > 0 => {
                            w.notify_waiters();
                            if done.events < dispatch::ROUND as u64 {
                                return Ok::<_, sqlx::Error>(());
                            }
                        }
                        _ => return Ok(()),
                    }
                }
            }
            .await;
            failing.report("notification dispatcher", round);
            tokio::time::sleep(interval).await;
        }
    }));

    if let Some(key) = config.secrets_key.clone() {
        let client = deliver::client(&config.webhooks)?;
        for _ in 0..lanes {
            let (p, w, key, client, settings, m) = (
                pool.clone(),
                work.clone(),
                key.clone(),
                client.clone(),
                config.webhooks.clone(),
                metrics.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut failing = Failing::default();
                loop {
                    let sent = deliver::deliver_once(&p, &client, &key, &settings, &m).await;
                    let idle = !matches!(sent, Ok(n) if n > 0);
                    failing.report("webhook delivery", sent.map(|_| ()));
                    if idle {
                        let _ = tokio::time::timeout(interval, w.notified()).await;
                    }
                }
            }));
        }
    } else {
        tracing::info!("WEBHOOK_SECRETS_KEY is not set: webhooks are off");
    }

    if let Some(mailer) = mailer {
        let (p, w, settings, m) = (
            pool.clone(),
            work.clone(),
            config.email.clone(),
            metrics.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut failing = Failing::default();
            loop {
                let sent = email::send_once(&p, &mailer, &settings, &m).await;
                let idle = !matches!(sent, Ok(n) if n > 0);
                failing.report("notification mail", sent.map(|_| ()));
                if idle {
                    let _ = tokio::time::timeout(interval, w.notified()).await;
                }
            }
        }));
    }

    let (p, m, retention) = (pool, metrics, config.log_retention);
    tasks.push(tokio::spawn(async move {
        let mut failing = Failing::default();
        let mut since_cleanup = Duration::MAX;
        loop {
            let result = housekeeping(&p, &m, retention, &mut since_cleanup).await;
            failing.report("notification housekeeping", result);
            tokio::time::sleep(Duration::from_secs(5).max(interval)).await;
            since_cleanup = since_cleanup.saturating_add(Duration::from_secs(5).max(interval));
        }
    }));
    Ok(Notifier { tasks })
}

/// How often the delivery log is trimmed.
const CLEANUP_EVERY: Duration = Duration::from_secs(600);

/// The gauges, and every [`CLEANUP_EVERY`] the delivery log's retention.
async fn housekeeping(
    pool: &PgPool,
    metrics: &NotifyMetrics,
    retention: Duration,
    since_cleanup: &mut Duration,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    index_plans(&mut tx).await?;
    // Deliveries of disabled or paused endpoints wait at 'infinity'.
    let (oldest, disabled, oldest_mail): (Option<f64>, i64, Option<f64>) = sqlx::query_as(
        // A booking's oldest pending event is its ready one, so the oldest
        // ready row is the oldest undelivered event.
        "select (select extract(epoch from now() - o.created_at)::float8 from outbox o
                  where o.outbox_id = (select min(d.outbox_id) from webhook_deliveries d
                                        where d.status = 'pending' and d.ready
                                          and d.next_attempt_at < 'infinity')),
                (select count(*) from webhook_endpoints where not enabled),
                (select extract(epoch from now() - min(created_at))::float8
                   from email_deliveries where status = 'pending')",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    metrics
        .oldest_undelivered_seconds
        .set(oldest.unwrap_or(0.0));
    metrics.disabled_endpoints.set(disabled);
    metrics
        .oldest_unsent_email_seconds
        .set(oldest_mail.unwrap_or(0.0));
    if *since_cleanup >= CLEANUP_EVERY {
        *since_cleanup = Duration::ZERO;
        let healed = heal_order(pool).await?;
        if healed > 0 {
            tracing::warn!(
                healed,
                "pending webhook deliveries were not ready though first of their booking"
            );
        }
        let removed = trim_log(pool, retention).await?;
        if removed > 0 {
            tracing::info!(removed, "delivery log trimmed");
        }
    }
    Ok(())
}

/// Readies every pending delivery that is the first pending event of its
/// booking for its endpoint but is not ready: the `ready` protocol should
/// leave none, and this makes sure none waits forever if it ever did.
pub async fn heal_order(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(dispatch::ORDER_LOCK)
        .execute(&mut *tx)
        .await?;
    let healed = sqlx::query(
        "update webhook_deliveries d set ready = true, retry_from = now()
          where d.status = 'pending' and not d.ready
            and not exists (select 1 from webhook_deliveries p
                             where p.endpoint_id = d.endpoint_id and p.aggregate_id = d.aggregate_id
                               and p.status = 'pending' and p.outbox_id < d.outbox_id)",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(healed)
}

/// Deletes attempts older than `retention`, and finished delivery rows
/// older than that with no attempt left, in batches.
pub async fn trim_log(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    let mut removed = 0;
    loop {
        let done = sqlx::query(
            "delete from webhook_attempts where attempt_id in (
                 select attempt_id from webhook_attempts
                  where attempted_at < now() - make_interval(secs => $1) limit 5000)",
        )
        .bind(retention.as_secs_f64())
        .execute(pool)
        .await?
        .rows_affected();
        removed += done;
        if done < 5_000 {
            break;
        }
    }
    removed += sqlx::query(
        "delete from webhook_deliveries d
          where d.status in ('delivered', 'failed')
            and d.updated_at < now() - make_interval(secs => $1)
            and not exists (select 1 from webhook_attempts a where a.delivery_id = d.delivery_id)",
    )
    .bind(retention.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(removed)
}
