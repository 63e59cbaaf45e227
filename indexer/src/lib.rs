//! The indexer: follows Postgres logical replication into the search index and
//! publishes cache invalidations.
//!
//! Replication arrives with the indexer issue; today the service serves its
//! health, readiness (including that Postgres runs with `wal_level=logical`)
//! and metrics endpoints.

use axum::Router;
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
}

impl Config {
    /// Reads the configuration; the error names the offending variable.
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            port: env.parse_or("INDEXER_PORT", DEFAULT_PORT)?,
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
}

impl Application {
    /// Opens connections (lazily) and binds the port.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let ctx = ServiceContext::new(&config.common, "indexer")?;
        let probes = ctx
            .probes
            .clone()
            .with_check(WalLevelCheck(ctx.pool.clone()));
        let server = ctx
            .bind(
                router(ctx.clone()),
                probes,
                config.common.bind_host,
                config.port,
            )
            .await?;
        Ok(Self { server })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.run_until_stopped().await
    }

    /// Serves until `signal` resolves (tests use this).
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.server.run_until(signal).await
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
