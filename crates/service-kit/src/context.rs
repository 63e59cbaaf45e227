//! The connections and shared handles every service opens at startup.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use auth::JwtKeys;
use axum::Router;
use axum::extract::FromRef;
use futures_util::future::BoxFuture;
use sqlx::PgPool;

use crate::config::{AppEnv, CommonConfig, DEMO_EMAIL_DOMAIN};
use crate::health::{Check, PostgresCheck, Probes, RedisCheck};
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
    /// `APP_ENV=production` and something demo-like (demo accounts in the
    /// database). The message says it all: the binaries print this variant
    /// with `Debug`.
    #[error("{0}")]
    DemoLike(String),
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
    /// Which live API key a presented `tk_...` one is, and its scopes.
    pub api_keys: auth::ApiKeys,
    /// This instance's metrics registry.
    pub metrics: Metrics,
    /// Readiness checks for Postgres and Redis; services may add more.
    pub probes: Probes,
    /// The port's timeouts against slow clients.
    pub http_timeouts: crate::config::HttpTimeouts,
    /// Rate limits shared by every instance.
    pub limiter: crate::ratelimit::Limiter,
    /// The service's HTML page for an unknown address, if it serves pages.
    pub not_found_page: Option<crate::server::NotFoundPage>,
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
        let jwt = Arc::new(
            JwtKeys::new(&config.jwt_secret).with_cookie(auth::web::WebCookie {
                secure: config.session_cookie_secure,
            }),
        );
        let api_keys = auth::ApiKeys::new(pool.clone(), config.auth_user_cache);
        let limiter = crate::ratelimit::Limiter::new(
            &config.limits,
            redis.clone(),
            &config.namespace,
            jwt.clone(),
        )
        .with_api_keys(api_keys.clone());
        Ok(Self {
            redis,
            limiter,
            jwt,
            api_keys,
            users: auth::Users::new(pool.clone(), config.auth_user_cache)
                .with_admin_second_factor(config.admin_require_totp),
            pool,
            metrics,
            probes,
            http_timeouts: config.http,
            not_found_page: None,
        })
    }

    /// [`ServiceContext::new`], then, with `APP_ENV=production`, a look at
    /// the database: one that holds demo accounts (`...@demo.ticketing.test`,
    /// from `ticketctl seed`) is refused. If the database cannot be asked yet
    /// (down, not migrated), the service starts and `/readyz` fails until it
    /// can, and finds none.
    pub async fn start(config: &CommonConfig, service: &str) -> Result<Self, StartupError> {
        let mut ctx = Self::new(config, service)?;
        if config.app_env == AppEnv::Production {
            match demo_account(&ctx.pool).await {
                Ok(None) => {}
                Ok(Some(email)) => return Err(StartupError::DemoLike(demo_accounts(&email))),
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "cannot look for demo accounts in the database yet; not ready until it can"
                    );
                    ctx.probes = ctx.probes.with_check(NoDemoAccounts {
                        pool: ctx.pool.clone(),
                        clean: AtomicBool::new(false),
                    });
                }
            }
        }
        Ok(ctx)
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
        let app = with_standard_routes(routes, probes, self.metrics.clone(), self.not_found_page);
        HttpServer::bind(host, port, app, self.http_timeouts)
            .await
            .map_err(|source| StartupError::Bind {
                addr: format!("{host}:{port}"),
                source,
            })
    }
}

/// One of the demo catalog's accounts in the database, if there is one.
pub async fn demo_account(pool: &PgPool) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select email from users where lower(email) like $1 limit 1")
        .bind(format!("%@{DEMO_EMAIL_DOMAIN}"))
        .fetch_optional(pool)
        .await
}

fn demo_accounts(example: &str) -> String {
    format!(
        "refusing to start with APP_ENV=production: the database holds demo accounts \
         ({example}, ...@{DEMO_EMAIL_DOMAIN}: the demo catalog of `ticketctl seed`)"
    )
}

/// Readiness, in production, when the database could not be checked for
/// demo accounts at startup: fails until it has been, and found none.
struct NoDemoAccounts {
    pool: PgPool,
    clean: AtomicBool,
}

impl Check for NoDemoAccounts {
    fn name(&self) -> &'static str {
        "no_demo_accounts"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if self.clean.load(Ordering::Relaxed) {
                return Ok(());
            }
            match demo_account(&self.pool).await {
                Ok(None) => {
                    self.clean.store(true, Ordering::Relaxed);
                    Ok(())
                }
                Ok(Some(email)) => {
                    let reason = demo_accounts(&email);
                    tracing::error!(%reason, "APP_ENV=production");
                    Err(reason)
                }
                Err(_) => Err("cannot look for demo accounts yet".to_owned()),
            }
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

impl FromRef<ServiceContext> for auth::ApiKeys {
    fn from_ref(ctx: &ServiceContext) -> Self {
        ctx.api_keys.clone()
    }
}
