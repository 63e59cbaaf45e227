//! The read API and public pages, by resource:
//!
//! - [`events`]: `GET /v1/events` (lists), `GET /v1/events/{id}` and its
//!   seat map, the admin event and ticket-type writes, and the sale opener;
//! - [`venues`] and [`performers`]: their public pages and admin writes;
//! - [`search`]: `GET /v1/events/search` (full-text search with filters,
//!   multi-select facets, sorting, geo and paging) and
//!   `GET /v1/events/suggest` (typed autocomplete);
//! - [`pages`]: the server-rendered HTML pages and the demo sign-in;
//! - [`cache`]: the two-level page cache behind every public read, with
//!   CDN headers, and its invalidation.
//!
//! Each resource has its own `router()`, merged by [`router`]. Handlers
//! return [`error::ApiResult`]; every error is an RFC 9457 problem, and
//! ids in paths are typed ([`ids`]) and checked before any database work.
//!
//! Search goes to the configured backend (embedded tantivy by default, or
//! Elasticsearch); when it is down those routes answer 503 and nothing else
//! is affected.

pub mod admin;
pub mod cache;
pub mod error;
pub mod events;
pub mod ids;
pub mod pages;
pub mod performers;
pub mod search;
pub mod venues;

use std::sync::Arc;

use auth::JwtKeys;
use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
// `::search` is the search crate; `search` alone is this crate's module.
use ::search::SearchIndex;
use ::search::config::SearchConfig;
use service_kit::config::{CommonConfig, ConfigError, EnvSource};

use service_kit::context::{ServiceContext, StartupError};
use service_kit::server::HttpServer;

/// Default for `API_PORT`.
pub const DEFAULT_PORT: u16 = 8080;

/// Configuration, from environment variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// Settings shared by every service.
    pub common: CommonConfig,
    /// `API_PORT` (default 8080; 0 picks a free port).
    pub port: u16,
    /// `SEARCH_BACKEND` and its settings.
    pub search: SearchConfig,
    /// `PAGE_CACHE_BYTES`: the in-process page cache's budget.
    pub page_cache_bytes: u64,
    /// `CACHE_NAMESPACE`: prefix of this deployment's Redis cache keys.
    pub cache_namespace: String,
    /// `CDN_PURGE_URL`: where to POST surrogate keys to purge, if anywhere.
    pub cdn_purge_url: Option<String>,
}

impl Config {
    /// Reads the configuration; the error names the offending variable.
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            port: env.parse_or("API_PORT", DEFAULT_PORT)?,
            search: SearchConfig::from_env(env)?,
            page_cache_bytes: env.parse_or("PAGE_CACHE_BYTES", cache::DEFAULT_L1_BYTES)?,
            cache_namespace: env.string_or("CACHE_NAMESPACE", "ticketing"),
            cdn_purge_url: match env.get("CDN_PURGE_URL") {
                Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                    return Err(ConfigError {
                        var: "CDN_PURGE_URL",
                        reason: format!("{url:?} is not an http(s) URL"),
                    });
                }
                url => url,
            },
        })
    }
}

/// What handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub ctx: ServiceContext,
    pub search: Arc<dyn SearchIndex>,
    pub pages: cache::PageCache,
    /// `APP_ENV=production`: the demo sign-in is off.
    pub production: bool,
}

impl FromRef<AppState> for Arc<JwtKeys> {
    fn from_ref(state: &AppState) -> Self {
        state.ctx.jwt.clone()
    }
}

/// The service's own routes, without the standard health routes and
/// middleware: each resource's router, merged. Venues come last so that,
/// as before, their router (with its seat-map body limit) supplies the
/// default fallback.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi))
        .merge(search::router())
        .merge(events::router())
        .merge(performers::router())
        .merge(pages::router())
        .merge(venues::router())
        .with_state(state)
}

/// The API description, `docs/openapi.yaml`, as JSON.
pub fn openapi_json() -> Result<&'static [u8], &'static str> {
    static DOC: std::sync::LazyLock<Result<Vec<u8>, String>> = std::sync::LazyLock::new(|| {
        let yaml = include_str!("../../docs/openapi.yaml");
        let value: serde_json::Value =
            serde_norway::from_str(yaml).map_err(|e| format!("docs/openapi.yaml: {e}"))?;
        serde_json::to_vec(&value).map_err(|e| e.to_string())
    });
    DOC.as_deref().map_err(String::as_str)
}

async fn openapi() -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    match openapi_json() {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = e, "the embedded API description does not parse");
            problem::Problem::internal().into_response()
        }
    }
}

/// A built service, bound to its port and ready to run.
#[derive(Debug)]
pub struct Application {
    server: HttpServer,
}

impl Application {
    /// Opens connections (lazily) and binds the port.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let ctx = ServiceContext::new(&config.common, "api")?;
        let search = config
            .search
            .open_reader()
            .map_err(|e| StartupError::Other(e.to_string()))?;
        let probes = ctx.probes.clone();
        let pages = cache::PageCache::new(
            ctx.redis.clone(),
            &config.cache_namespace,
            config.page_cache_bytes,
        );
        cache::invalidation::spawn(
            ctx.redis.clone(),
            config.cache_namespace.clone(),
            pages.clone(),
            config
                .cdn_purge_url
                .clone()
                .map(cache::invalidation::Purger::new),
        );
        events::sale_opener::spawn(ctx.pool.clone());
        let state = AppState {
            pages,
            ctx: ctx.clone(),
            search,
            production: config.common.app_env == service_kit::config::AppEnv::Production,
        };
        let server = ctx
            .bind(router(state), probes, config.common.bind_host, config.port)
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_api_description_parses_and_documents_every_route() {
        let doc: serde_json::Value =
            serde_json::from_slice(super::openapi_json().expect("parses")).expect("json");
        for (path, method) in [
            ("/healthz", "get"),
            ("/readyz", "get"),
            ("/metrics", "get"),
            ("/openapi.json", "get"),
            ("/v1/events", "get"),
            ("/v1/events", "post"),
            ("/v1/events/{id}", "get"),
            ("/v1/events/{id}", "patch"),
            ("/v1/events/{id}/seats", "get"),
            ("/v1/events/{id}/cancel", "post"),
            ("/v1/events/{id}/ticket-types", "post"),
            ("/v1/events/search", "get"),
            ("/v1/events/suggest", "get"),
            ("/v1/venues", "post"),
            ("/v1/venues/{id}", "get"),
            ("/v1/venues/{id}", "patch"),
            ("/v1/venues/{id}/seat-map", "put"),
            ("/v1/performers", "post"),
            ("/v1/performers/{id}", "get"),
            ("/v1/performers/{id}", "patch"),
            ("/v1/demo/login", "post"),
        ] {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is not documented"
            );
        }
    }
}
