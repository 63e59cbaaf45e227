//! The connections and shared handles every service opens at startup.

use std::net::IpAddr;
use std::sync::Arc;

use auth::JwtKeys;
use axum::Router;
use axum::extract::FromRef;
use sqlx::PgPool;

use crate::config::CommonConfig;
use crate::health::{PostgresCheck, Probes, RedisCheck};
use crate::metrics::Metrics;
use crate::server::{HttpServer, with_standard_routes};

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// `DATABASE_URL` did not parse.
    #[error("DATABASE_URL is not a valid Postgres URL: {0}")]
    DatabaseUrl(#[source] sqlx::Error),
    /// `REDIS_URL` did not parse.
    #[error("REDIS_URL is not a valid Redis URL: {0}")]
    RedisUrl(#[source] redis::RedisError),
    /// The listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// host:port.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A service-specific dependency could not be set up.
    #[error("{0}")]
    Other(String),
}

/// Postgres pool, Redis client, JWT keys, metrics and readiness probes.
///
/// Nothing here connects eagerly: a service starts while Postgres or Redis is
/// still down and `/readyz` says so, which is what an orchestrator needs.
#[derive(Clone, Debug)]
pub struct ServiceContext {
    /// Postgres, the source of truth.
    pub pool: PgPool,
    /// Redis, for caches and pub/sub.
    pub redis: redis::Client,
    /// Token verification.
    pub jwt: Arc<JwtKeys>,
    /// Whether a token's user exists, is enabled, and with which role.
    pub users: auth::Users,
    /// This instance's metrics registry.
    pub metrics: Metrics,
    /// Readiness checks for Postgres and Redis; services may add more.
    pub probes: Probes,
    /// The port's timeouts against slow clients.
    pub http_timeouts: crate::config::HttpTimeouts,
    /// Rate limits shared by every instance.
    pub limiter: crate::ratelimit::Limiter,
}

impl ServiceContext {
    /// Builds the context; `service` prefixes metric names.
    pub fn new(config: &CommonConfig, service: &str) -> Result<Self, StartupError> {
        let settings = db::PoolSettings {
            max_connections: config.database_max_connections,
            ..db::PoolSettings::default()
        };
        let pool =
            db::connect_lazy(&config.database_url, &settings).map_err(StartupError::DatabaseUrl)?;
        let redis =
            redis::Client::open(config.redis_url.as_str()).map_err(StartupError::RedisUrl)?;
        let metrics = Metrics::new(service);
        let probes = Probes::new(metrics.clone())
            .with_check(PostgresCheck(pool.clone()))
            .with_check(RedisCheck(redis.clone()));
        let jwt = Arc::new(JwtKeys::new(&config.jwt_secret));
        let limiter = crate::ratelimit::Limiter::new(
            &config.limits,
            redis.clone(),
            &config.namespace,
            jwt.clone(),
        );
        Ok(Self {
            redis,
            limiter,
            jwt,
            users: auth::Users::new(pool.clone(), config.auth_user_cache),
            pool,
            metrics,
            probes,
            http_timeouts: config.http,
        })
    }

    /// Binds `host:port` and serves `routes` plus the standard routes, with
    /// `probes` behind `/readyz`.
    pub async fn bind(
        &self,
        routes: Router,
        probes: Probes,
        host: IpAddr,
        port: u16,
    ) -> Result<HttpServer, StartupError> {
        let app = with_standard_routes(routes, probes, self.metrics.clone());
        HttpServer::bind(host, port, app, self.http_timeouts)
            .await
            .map_err(|source| StartupError::Bind {
                addr: format!("{host}:{port}"),
                source,
            })
    }
}

impl FromRef<ServiceContext> for Arc<JwtKeys> {
    fn from_ref(ctx: &ServiceContext) -> Self {
        ctx.jwt.clone()
    }
}

impl FromRef<ServiceContext> for auth::Users {
    fn from_ref(ctx: &ServiceContext) -> Self {
        ctx.users.clone()
    }
}
