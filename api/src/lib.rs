//! The read API and public pages, by resource:
//!
//! - [`events`]: `GET /v1/events` (lists), `GET /v1/events/{id}` and its
//!   seat map, the admin event and ticket-type writes, and the sale opener;
//! - [`venues`] and [`performers`]: their public pages and admin writes;
//! - [`search`]: `GET /v1/events/search` (full-text search with filters,
//!   multi-select facets, sorting, geo and paging) and
//!   `GET /v1/events/suggest` (typed autocomplete);
//! - [`pages`]: the server-rendered HTML pages and the demo sign-in;
//! - every admin write is recorded in `admin_audit` (`service_kit::audit`);
//! - [`cache`]: the two-level page cache behind every public read, with
//!   CDN headers, and its invalidation;
//! - [`accounts`]: sign-up with a verified address, sign-in, sessions with
//!   rotating refresh tokens, sign-out, password change and reset, and
//!   their mail;
//! - [`users`]: an admin's disable and enable of a user account;
//! - [`api_keys`]: admins create, list and revoke integrations' API keys
//!   (`tk_...`, stored hashed, shown once, scoped).
//!
//! [`openapi`] is the API description, generated from the handlers'
//! `#[utoipa::path]` annotations as [`router`] registers them and served at
//! `GET /openapi.json`; `docs/openapi/api.json` is its committed snapshot.
//! [`schema`] names the closed sets of strings the description lists.
//!
//! Each resource has its own `router()`, merged by [`router`]. Handlers
//! return [`error::ApiResult`]; every error is an RFC 9457 problem, and
//! ids in paths are typed ([`ids`]) and checked before any database work.
//!
//! Search goes to the configured backend (embedded tantivy by default, or
//! Elasticsearch); when it is down those routes answer 503 and nothing else
//! is affected.

pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod cache;
pub mod currency_rates;
pub mod error;
pub mod events;
pub mod ids;
pub mod images;
pub mod pages;
pub mod performers;
pub mod schema;
pub mod search;
pub mod users;
pub mod venues;

use std::sync::Arc;

use auth::JwtKeys;
use axum::Router;
use axum::extract::FromRef;
use utoipa::Modify;
use utoipa::openapi::tag::{Tag, TagBuilder};
use utoipa_axum::router::OpenApiRouter;
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
    /// `AUTH_*_TTL_SECS`, `SMTP_URL`, `MAIL_FROM`, `PUBLIC_URL`,
    /// `MAIL_RETRY_BASE_MS`: sessions and their mail.
    pub accounts: accounts::AccountsConfig,
    /// `RATES_REFRESH_MS`: how old the in-memory exchange rates may get.
    pub rates_refresh: std::time::Duration,
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
            accounts: accounts::AccountsConfig::from_env(env)?,
            rates_refresh: std::time::Duration::from_millis(env.parse_or(
                "RATES_REFRESH_MS",
                currency_rates::DEFAULT_REFRESH.as_millis() as u64,
            )?),
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
    /// Session lifetimes and the mailer.
    pub accounts: accounts::Accounts,
    /// The exchange rates search compares prices with.
    pub rates: currency_rates::RatesStore,
    /// Event id -> its venue's time zone, for event suggestions.
    pub event_zones: ::search::suggest::EventZones,
}

impl FromRef<AppState> for Arc<JwtKeys> {
    fn from_ref(state: &AppState) -> Self {
        state.ctx.jwt.clone()
    }
}

impl FromRef<AppState> for auth::Users {
    fn from_ref(state: &AppState) -> Self {
        state.ctx.users.clone()
    }
}

impl FromRef<AppState> for auth::ApiKeys {
    fn from_ref(state: &AppState) -> Self {
        state.ctx.api_keys.clone()
    }
}

/// The service's own routes and their description, without the standard
/// health routes and middleware: each resource's router, merged. Each route
/// is registered with its `#[utoipa::path]`, so the description cannot miss
/// one. Venues come last so that, as before, their router (with its
/// seat-map body limit) supplies the default fallback.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(search::router())
        .merge(currency_rates::router())
        .merge(events::router())
        .merge(performers::router())
        .merge(images::router())
        .merge(pages::router())
        .merge(accounts::router())
        .merge(users::router())
        .merge(api_keys::router())
        .merge(venues::router())
}

/// The routes, with `GET /openapi.json`.
pub fn router(state: AppState) -> Router {
    use service_kit::ratelimit::{Classified, enforce_classified};
    let limits = Classified {
        limiter: state.ctx.limiter.clone(),
        classify: rate_limit_policy,
    };
    unbound_router()
        .layer(axum::middleware::from_fn_with_state(
            state.ctx.clone(),
            service_kit::audit::record,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            enforce_classified,
        ))
        .with_state(state)
}

/// Which rate limit each api route is under. Public pages and catalog
/// reads have none here: they are cached, and the edge limits them per
/// address; they do no Redis work for the limiter.
pub fn rate_limit_policy(method: &axum::http::Method, path: &str) -> Option<&'static str> {
    use axum::http::Method;
    match (method, path) {
        (
            &Method::POST,
            "/v1/demo/login"
            | "/v1/sessions"
            | "/v1/web/sessions"
            | "/v1/sessions/refresh"
            | "/v1/accounts/verify",
        ) => Some("sign_in"),
        // A password change checks the current password: guessing it is
        // password guessing.
        (&Method::POST, "/v1/account/password") => Some("sign_in"),
        (&Method::POST, "/v1/accounts") => Some("sign_up"),
        (&Method::POST, "/v1/password-resets" | "/v1/password-resets/complete") => {
            Some("password_reset")
        }
        (&Method::GET | &Method::HEAD, "/v1/events/search" | "/v1/events/suggest" | "/search") => {
            Some("search")
        }
        (&Method::GET | &Method::HEAD | &Method::OPTIONS, _) => None,
        (_, path) if path.starts_with("/v1/") => Some("writes"),
        _ => None,
    }
}

fn unbound_router() -> Router<AppState> {
    let (routes, _) = routes().split_for_parts();
    Router::new()
        .merge(service_kit::openapi::router(&openapi()))
        .merge(routes)
}

fn tag(name: &str, description: &str) -> Tag {
    TagBuilder::new()
        .name(name)
        .description(Some(description))
        .build()
}

/// api's API description.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, paths) = routes().split_for_parts();
    let mut doc = service_kit::openapi::describe(
        "api",
        "Catalog reads (events, seat maps, venues, performers), search and autocomplete, \
         the admin catalog writes and the server-rendered pages. The edge sends everything \
         but `/v1/bookings*` and `/v1/me/*` here.\n\n\
         Public reads come from a two-level page cache and carry `Cache-Control` (public), \
         a strong `ETag` (304 on a matching `If-None-Match`), `Surrogate-Key` and `Cache-Tag` \
         (the `event:ID`, `venue:ID` and `performer:ID` keys a purge names) and `X-Cache` \
         (where the answer came from). Catalog writes need an admin token or an API key \
         with the `catalog:write` scope (401 without valid credentials, 403 for another role \
         or a key without the scope), touch only Postgres (search and the caches follow \
         through the indexer) and answer `Cache-Control: no-store`.",
        DEFAULT_PORT,
        paths,
    );
    auth::BearerScheme.modify(&mut doc);
    doc.tags.get_or_insert_with(Vec::new).extend([
        tag(
            "events",
            "Event lists, event pages and seat maps; admin event and ticket-type writes.",
        ),
        tag(
            "search",
            "Full-text event search with facets, and autocomplete.",
        ),
        tag("venues", "Venue pages; admin venue and seat-map writes."),
        tag("performers", "Performer pages; admin performer writes."),
        tag(
            "accounts",
            "Sign-up with a verified address, sign-in with a password, sessions with rotating \
             refresh tokens, sign-out, password change and reset by email. Answers are \
             `no-store`; sign-in, verification, refresh and the password change are under the \
             `sign_in` limit, sign-up under `sign_up`, the reset under `password_reset`.",
        ),
        tag(
            "users",
            "Admin: disable a user account (every session ends, sign-in is refused) and enable \
             it again.",
        ),
        tag(
            "api_keys",
            "Admin: API keys for integrations (`Authorization: Bearer tk_...`). A key is shown \
             once, when created, and only its SHA-256 is stored; `catalog:write` opens the \
             admin catalog writes, `catalog:read` is a read identity the rate limiter counts \
             on its own. Keys are made and revoked with an admin's sign-in, never with a key.",
        ),
        tag(
            "pages",
            "The server-rendered HTML pages, their assets and the demo sign-in. Nothing \
             user-specific is rendered: the browser fetches the user's data with the token \
             the demo sign-in stored.",
        ),
    ]);
    doc
}

/// A built service, bound to its port and ready to run.
#[derive(Debug)]
pub struct Application {
    server: HttpServer,
}

impl Application {
    /// Opens connections (lazily) and binds the port.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let mut ctx = ServiceContext::start(&config.common, "api").await?;
        ctx.not_found_page = Some(service_kit::server::NotFoundPage(pages::not_found_page));
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
        auth::sessions::spawn_sweeper(
            ctx.pool.clone(),
            config.accounts.sweep_every,
            config.accounts.sweep_keep,
        );
        let accounts = accounts::Accounts::new(config.accounts.clone())
            .map_err(|e| StartupError::Other(e.to_string()))?;
        let state = AppState {
            rates: currency_rates::RatesStore::new(ctx.pool.clone(), config.rates_refresh),
            event_zones: ::search::suggest::event_zones(),
            accounts,
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
    fn the_openapi_snapshot_is_current() {
        service_kit::openapi::assert_snapshot(
            &super::openapi(),
            std::path::Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../docs/openapi/api.json"
            )),
        );
    }

    #[test]
    fn every_operation_documents_its_success_body_and_its_problems() {
        // Writes anyone may call.
        let public_writes = [
            "/v1/demo/login",
            "/v1/accounts",
            "/v1/accounts/verify",
            "/v1/sessions",
            "/v1/web/sessions",
            "/v1/sessions/refresh",
            "/v1/password-resets",
            "/v1/password-resets/complete",
        ];
        // Reads only a signed-in user may call.
        let user_reads = ["/v1/account", "/v1/admin/api-keys"];
        let doc = serde_json::to_value(super::openapi()).expect("serializes");
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                operations += 1;
                let responses = op["responses"].as_object().expect("responses");
                let success = responses
                    .iter()
                    .find(|(status, _)| status.starts_with('2'))
                    .unwrap_or_else(|| panic!("{method} {path} documents no success"));
                assert!(
                    success.1["content"].is_object() || success.0 == "204",
                    "{method} {path}: no success body"
                );
                if !path.starts_with("/v1/") {
                    continue;
                }
                let public = if method == "get" {
                    !user_reads.contains(&path.as_str())
                } else {
                    public_writes.contains(&path.as_str())
                };
                let mut statuses = vec!["400", "404", "429", "500"];
                if public {
                    assert!(op["security"].is_null(), "{method} {path} needs no token");
                } else {
                    // 403: the admin role, or (any signed-in route) a
                    // cross-site write signed in by the session cookie.
                    statuses.extend(["401", "403"]);
                    assert_eq!(
                        op["security"][0]["bearer"],
                        serde_json::json!([]),
                        "{method} {path}"
                    );
                }
                for status in statuses {
                    assert_eq!(
                        responses[status]["content"]["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{method} {path} {status}"
                    );
                }
            }
        }
        assert_eq!(
            operations,
            18 + 2 + 2 + 10 + 3 + 2 + 3 + 14 + 4,
            "18 JSON routes, two images (event, performer), two currency-rates routes (read, \
             replace), ten accounts routes (sign-up, sessions, the web sign-in, the \
             account, TOTP), three password routes, two admin users routes, three admin API key \
             routes, fourteen pages and \
             four standard routes"
        );
    }

    #[test]
    fn sign_in_and_sign_up_routes_are_under_their_limits() {
        use axum::http::Method;
        for path in [
            "/v1/sessions",
            "/v1/sessions/refresh",
            "/v1/accounts/verify",
            "/v1/demo/login",
        ] {
            assert_eq!(
                super::rate_limit_policy(&Method::POST, path),
                Some("sign_in"),
                "{path}"
            );
        }
        assert_eq!(
            super::rate_limit_policy(&Method::POST, "/v1/accounts"),
            Some("sign_up")
        );
        assert_eq!(
            super::rate_limit_policy(&Method::POST, "/v1/account/password"),
            Some("sign_in")
        );
        for path in ["/v1/password-resets", "/v1/password-resets/complete"] {
            assert_eq!(
                super::rate_limit_policy(&Method::POST, path),
                Some("password_reset"),
                "{path}"
            );
        }
        assert_eq!(
            super::rate_limit_policy(&Method::POST, "/v1/admin/users/{user_id}/disable"),
            Some("writes")
        );
        assert_eq!(
            super::rate_limit_policy(&Method::DELETE, "/v1/sessions/current"),
            Some("writes")
        );
    }

    #[test]
    fn the_routes_and_the_description_merge_without_conflict() {
        let _ = super::unbound_router();
    }

    #[test]
    fn every_reference_resolves() {
        fn refs<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
            match value {
                serde_json::Value::Object(map) => {
                    out.extend(map.get("$ref").and_then(serde_json::Value::as_str));
                    map.values().for_each(|v| refs(v, out));
                }
                serde_json::Value::Array(list) => list.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = serde_json::to_value(super::openapi()).expect("serializes");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{r} is not a schema reference"));
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{r} does not resolve"
            );
        }
    }

    #[test]
    fn the_api_description_documents_every_route() {
        let doc = serde_json::to_value(super::openapi()).expect("serializes");
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
            ("/v1/accounts", "post"),
            ("/v1/accounts/verify", "post"),
            ("/v1/sessions", "post"),
            ("/v1/sessions/refresh", "post"),
            ("/v1/sessions/current", "delete"),
            ("/v1/sessions/revoke-all", "post"),
            ("/v1/account/password", "post"),
            ("/v1/password-resets", "post"),
            ("/v1/password-resets/complete", "post"),
            ("/v1/admin/users/{user_id}/disable", "post"),
            ("/v1/admin/users/{user_id}/enable", "post"),
            ("/v1/admin/api-keys", "post"),
            ("/v1/admin/api-keys", "get"),
            ("/v1/admin/api-keys/{key_id}", "delete"),
            ("/", "get"),
            ("/search", "get"),
            ("/events/{id}", "get"),
            ("/checkout/{id}", "get"),
            ("/confirmation/{id}", "get"),
            ("/me/tickets", "get"),
            ("/login", "get"),
            ("/static/{name}", "get"),
        ] {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is not documented"
            );
        }
    }
}
