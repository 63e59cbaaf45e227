//! The indexer: follows Postgres logical replication into the search index and
//! publishes cache invalidations.
//!
//! - [`wal`]: the change feed (pgoutput over a replication slot) behind the
//!   [`wal::ChangeFeed`] trait;
//! - [`changes`]: which documents a row change touches;
//! - [`pipeline`]: bootstrap, commit-order apply, fan-out, coalescing,
//!   checkpoint and acknowledgement;
//! - [`invalidate`]: cache invalidations on Redis once a batch is durable;
//! - [`metrics`]: lag, commit-to-searchable latency, batches, documents,
//!   errors.
//!
//! `/readyz` adds `wal_level` (logical replication is possible) and
//! `replication` (the slot exists, the pipeline streams, and the lag is
//! under `INDEXER_MAX_LAG_BYTES`).

pub mod changes;
pub mod invalidate;
pub mod metrics;
pub mod pipeline;
pub mod wal;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use search::config::SearchConfig;
use secrecy::ExposeSecret;
use service_kit::config::{CommonConfig, ConfigError, EnvSource};
use service_kit::context::{ServiceContext, StartupError};
use service_kit::server::HttpServer;
use sqlx::PgPool;

/// Default for `INDEXER_PORT`.
pub const DEFAULT_PORT: u16 = 8082;

/// Configuration, from environment variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// Settings shared by every service.
    pub common: CommonConfig,
    /// `INDEXER_PORT` (default 8082; 0 picks a free port).
    pub port: u16,
    /// `SEARCH_BACKEND` and its settings: the index the indexer writes.
    pub search: SearchConfig,
    /// `INDEXER_SLOT`: the replication slot (one per deployment).
    pub slot: String,
    /// `INDEXER_PUBLICATION`: the publication the slot streams.
    pub publication: String,
    /// `INDEXER_FLUSH_MS`: how long committed changes are batched.
    pub flush_interval: Duration,
    /// `INDEXER_COALESCE_MS`: least time between index updates of one event
    /// caused by inventory alone.
    pub coalesce: Duration,
    /// `INDEXER_IDLE_CHECKPOINT_MS`: while the published tables are idle,
    /// how often the checkpoint follows the server (so the slot advances).
    pub idle_checkpoint: Duration,
    /// `INDEXER_MAX_LAG_BYTES`: /readyz fails past this lag.
    pub max_lag_bytes: u64,
    /// `CACHE_NAMESPACE`: the api's cache key prefix, for invalidations.
    pub cache_namespace: String,
}

impl Config {
    /// Reads the configuration; the error names the offending variable.
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        let slot = env.string_or("INDEXER_SLOT", "ticketing_indexer");
        if slot.is_empty()
            || slot.len() > 63
            || !slot
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(ConfigError {
                var: "INDEXER_SLOT",
                reason: format!("{slot:?}: a slot name is 1-63 of a-z, 0-9 and _"),
            });
        }
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            port: env.parse_or("INDEXER_PORT", DEFAULT_PORT)?,
            search: SearchConfig::from_env(env)?,
            slot,
            publication: env.string_or("INDEXER_PUBLICATION", "ticketing_catalog"),
            flush_interval: Duration::from_millis(env.parse_or("INDEXER_FLUSH_MS", 100u64)?),
            coalesce: Duration::from_millis(env.parse_or("INDEXER_COALESCE_MS", 600u64)?),
            idle_checkpoint: Duration::from_millis(
                env.parse_or("INDEXER_IDLE_CHECKPOINT_MS", 5000u64)?,
            ),
            max_lag_bytes: env.parse_or("INDEXER_MAX_LAG_BYTES", 256u64 * 1024 * 1024)?,
            cache_namespace: env.string_or("CACHE_NAMESPACE", "ticketing"),
        })
    }
}

/// The service's own routes, without the standard health routes and
/// middleware. Handlers share the [`ServiceContext`].
pub fn router(ctx: ServiceContext) -> Router {
    Router::new().with_state(ctx)
}

/// A built service, bound to its port and ready to run.
#[derive(Debug)]
pub struct Application {
    server: HttpServer,
    pipeline: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Opens connections (lazily) and binds the port.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let ctx = ServiceContext::start(&config.common, "indexer").await?;
        let index = config
            .search
            .open_writer()
            .map_err(|e| StartupError::Other(e.to_string()))?;
        let target = config
            .search
            .rebuild_target()
            .map_err(|e| StartupError::Other(e.to_string()))?;
        let metrics = metrics::IndexerMetrics::register(&ctx.metrics);
        let shared = Arc::new(pipeline::Shared::default());
        let database_url = config.common.database_url.clone();
        let settings = pipeline::Settings {
            slot: wal::PgSlot {
                conninfo: wal::replication_conninfo(database_url.expose_secret()),
                slot: config.slot.clone(),
                publication: config.publication.clone(),
            },
            database_url,
            flush_interval: config.flush_interval,
            coalesce: config.coalesce,
            max_batch_events: 5_000,
            idle_checkpoint: config.idle_checkpoint,
            status_interval: Duration::from_secs(1),
            cache_namespace: config.cache_namespace.clone(),
        };
        let pipeline = tokio::spawn(pipeline::run_forever(
            settings,
            ctx.pool.clone(),
            ctx.redis.clone(),
            index,
            target,
            shared.clone(),
            metrics,
        ));
        let probes = ctx
            .probes
            .clone()
            .with_check(WalLevelCheck(ctx.pool.clone()))
            .with_check(ReplicationCheck {
                pool: ctx.pool.clone(),
                slot: config.slot.clone(),
                shared,
                max_lag_bytes: config.max_lag_bytes,
            });
        let server = ctx
            .bind(
                router(ctx.clone()),
                probes,
                config.common.bind_host,
                config.port,
            )
            .await?;
        Ok(Self { server, pipeline })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let outcome = self.server.run_until_stopped().await;
        // Unacknowledged work is replayed from the checkpoint next time.
        self.pipeline.abort();
        outcome
    }

    /// Serves until `signal` resolves (tests use this).
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let outcome = self.server.run_until(signal).await;
        self.pipeline.abort();
        outcome
    }
}

/// Logical replication needs `wal_level=logical` on the server.
#[derive(Debug, Clone)]
pub struct WalLevelCheck(pub PgPool);

impl service_kit::health::Check for WalLevelCheck {
    fn name(&self) -> &'static str {
        "wal_level"
    }

    fn check(&self) -> futures_util::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let level: String = sqlx::query_scalar("select current_setting('wal_level')")
                .fetch_one(&self.0)
                .await
                .map_err(|_| "cannot read wal_level".to_owned())?;
            if level == "logical" {
                Ok(())
            } else {
                Err(format!(
                    "wal_level is {level}; logical replication needs wal_level=logical"
                ))
            }
        })
    }
}

/// The slot exists, the pipeline streams, and the lag is within bounds.
#[derive(Debug, Clone)]
pub struct ReplicationCheck {
    pool: PgPool,
    slot: String,
    shared: Arc<pipeline::Shared>,
    max_lag_bytes: u64,
}

impl service_kit::health::Check for ReplicationCheck {
    fn name(&self) -> &'static str {
        "replication"
    }

    fn check(&self) -> futures_util::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let state = wal::slot_state(&self.pool, &self.slot)
                .await
                .map_err(|_| "cannot read pg_replication_slots".to_owned())?;
            if state.is_none() {
                return Err(format!("replication slot {} is missing", self.slot));
            }
            if !self.shared.streaming.load(Ordering::Relaxed) {
                return Err("not streaming yet (bootstrapping or reconnecting)".to_owned());
            }
            let lag = self.shared.lag_bytes();
            if lag > self.max_lag_bytes {
                return Err(format!(
                    "replication lag {lag} bytes is over {} bytes",
                    self.max_lag_bytes
                ));
            }
            Ok(())
        })
    }
}
