//! The one Postgres schema and how services connect to it.
//!
//! The migrations in `migrations/` at the repository root are embedded at
//! compile time, so every binary and every test applies exactly the schema it
//! was built with.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// All migrations, embedded.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// How a pool is sized and how long it waits.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Upper bound on open connections.
    pub max_connections: u32,
    /// How long a request waits for a connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// A pool that connects on first use, so a service can start (and report
/// "not ready") while Postgres is still down. Fails only on a malformed URL.
pub fn connect_lazy(url: &SecretString, settings: &PoolSettings) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url
        .expose_secret()
        .parse::<PgConnectOptions>()?
        .application_name("ticketing")
        // Short OLTP statements: JIT compilation only adds latency, and the
        // odd big planning estimate (a 50,000-seat map) would trigger it.
        .options([("jit", "off")]);
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect_lazy_with(options))
}

/// The newest migration version this build knows.
pub fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The newest migration applied to the database, if any.
pub async fn applied_migration(pool: &PgPool) -> Result<Option<i64>, sqlx::Error> {
    let exists: bool = sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(None);
    }
    sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
        .fetch_one(pool)
        .await
}
