//! The booking service: holds, payment, cancellation and expiry.
//!
//! See [`holds`] for how the hold path batches requests per event and why it
//! stays correct with several instances.

pub mod error;
pub mod extract;
pub mod feed;
pub mod holds;
pub mod inventory;
pub mod lifecycle;
pub mod model;
pub mod notify;
pub mod outbox;
pub mod payment;
pub mod routes;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use auth::JwtKeys;
use axum::Router;
use axum::extract::FromRef;
use service_kit::config::{CommonConfig, ConfigError, EnvSource};
use service_kit::context::{ServiceContext, StartupError};
use service_kit::server::HttpServer;
use utoipa::Modify;
use utoipa_axum::router::OpenApiRouter;

use crate::feed::SeatFeed;
use crate::holds::{HoldEngine, HoldLimits};
use crate::payment::{PaymentProvider, SandboxProvider};

/// Default for `BOOKING_PORT`.
pub const DEFAULT_PORT: u16 = 8081;

/// Configuration, from environment variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// Settings shared by every service.
    pub common: CommonConfig,
    /// `BOOKING_PORT` (default 8081; 0 picks a free port).
    pub port: u16,
    /// `BOOKING_MAX_TICKETS_PER_BOOKING` (default 8) and
    /// `BOOKING_MAX_TICKETS_PER_USER_EVENT` (default 10).
    pub limits: HoldLimits,
    /// `BOOKING_SWEEP_INTERVAL_MS` (default 5000; 0 turns the sweeper off).
    pub sweep_interval: Option<Duration>,
    /// `BOOKING_OUTBOX_INTERVAL_MS` (default 200; 0 turns the outbox relay
    /// off).
    pub outbox_interval: Option<Duration>,
    /// `CACHE_NAMESPACE` (default `ticketing`): this deployment's Redis
    /// prefix; booking events go to `<namespace>:booking-events`.
    pub namespace: String,
    /// `SANDBOX_SLOW_CARD_MS`: how long the sandbox's slow card takes (default 3000).
    pub sandbox_slow: Duration,
    /// Webhooks and mails out of the outbox (`NOTIFY_*`, `WEBHOOK_*`).
    pub notify: notify::NotifyConfig,
    /// Where notification mails go (`SMTP_URL`, `MAIL_FROM`, `PUBLIC_URL`,
    /// DKIM), as for the api's account mails.
    pub mail: mail::MailConfig,
}

impl Config {
    /// Reads the configuration; the error names the offending variable.
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            port: env.parse_or("BOOKING_PORT", DEFAULT_PORT)?,
            limits: HoldLimits {
                max_per_booking: positive(env, "BOOKING_MAX_TICKETS_PER_BOOKING", 8)?,
                max_per_user_per_event: positive(env, "BOOKING_MAX_TICKETS_PER_USER_EVENT", 10)?,
            },
            sweep_interval: match env.parse_or::<u64>("BOOKING_SWEEP_INTERVAL_MS", 5_000)? {
                0 => None,
                ms => Some(Duration::from_millis(ms)),
            },
            outbox_interval: match env.parse_or::<u64>("BOOKING_OUTBOX_INTERVAL_MS", 200)? {
                0 => None,
                ms => Some(Duration::from_millis(ms)),
            },
            namespace: env.string_or("CACHE_NAMESPACE", "ticketing"),
            sandbox_slow: Duration::from_millis(env.parse_or("SANDBOX_SLOW_CARD_MS", 3_000)?),
            notify: notify::NotifyConfig::from_env(env)?,
            mail: mail::MailConfig::from_env(env)?,
        })
    }
}

fn startup(e: impl std::fmt::Display) -> StartupError {
    StartupError::Other(e.to_string())
}

fn positive(env: &EnvSource, var: &'static str, default: i32) -> Result<i32, ConfigError> {
    match env.parse_or(var, default)? {
        n if n > 0 => Ok(n),
        n => Err(ConfigError {
            var,
            reason: format!("must be at least 1, got {n}"),
        }),
    }
}

/// State shared by the handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Connections, keys, metrics.
    pub ctx: ServiceContext,
    /// The hold path.
    pub holds: HoldEngine,
    /// The payment gateway.
    pub provider: Arc<dyn PaymentProvider>,
    /// Live seat status publisher.
    pub feed: SeatFeed,
    /// Ticket limits.
    pub limits: HoldLimits,
    /// What the webhook admin routes need: the sealing key and the address
    /// policy.
    pub notify: NotifyState,
}

/// The webhook settings the admin routes check against.
#[derive(Clone, Debug)]
pub struct NotifyState {
    /// Seals new endpoint secrets; `None` turns webhooks off.
    pub secrets_key: Option<Arc<notify::sealing::SecretsKey>>,
    /// Which addresses endpoints may point at.
    pub policy: notify::guard::AddressPolicy,
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

/// The routes that change bookings, each registered with its
/// `#[utoipa::path]`, so the description cannot miss one.
fn write_routes() -> OpenApiRouter<AppState> {
    use routes::*;
    OpenApiRouter::new()
        .routes(utoipa_axum::routes!(create_booking))
        .routes(utoipa_axum::routes!(confirm_booking))
        .routes(utoipa_axum::routes!(complete_payment_challenge))
        .routes(utoipa_axum::routes!(cancel_booking))
}

/// The routes that read the caller's bookings and tickets.
fn read_routes() -> OpenApiRouter<AppState> {
    use routes::*;
    OpenApiRouter::new()
        .routes(utoipa_axum::routes!(get_booking))
        .routes(utoipa_axum::routes!(list_my_bookings))
        .routes(utoipa_axum::routes!(list_my_tickets))
}

/// An admin's webhook endpoints: writes.
fn webhook_write_routes() -> OpenApiRouter<AppState> {
    use notify::admin::*;
    OpenApiRouter::new()
        .routes(utoipa_axum::routes!(create_endpoint))
        .routes(utoipa_axum::routes!(update_endpoint, delete_endpoint))
        .routes(utoipa_axum::routes!(rotate_secret))
        .routes(utoipa_axum::routes!(replay))
}

/// An admin's webhook endpoints: reads.
fn webhook_read_routes() -> OpenApiRouter<AppState> {
    use notify::admin::*;
    OpenApiRouter::new()
        .routes(utoipa_axum::routes!(list_endpoints))
        .routes(utoipa_axum::routes!(get_endpoint))
        .routes(utoipa_axum::routes!(list_attempts))
}

/// The routes, rate limited per account (`writes`, `personal_reads`), with
/// `GET /openapi.json`. Every booking answer is personal, so none may be
/// stored by a shared cache or kept by the browser.
pub fn router(state: AppState) -> Router {
    use axum::middleware::from_fn_with_state;
    use service_kit::ratelimit::enforce;
    let limiter = &state.ctx.limiter;
    let (writes, _) = write_routes()
        .merge(webhook_write_routes())
        .layer(from_fn_with_state(limiter.gate("writes"), enforce))
        .split_for_parts();
    let (reads, _) = read_routes()
        .merge(webhook_read_routes())
        .layer(from_fn_with_state(limiter.gate("personal_reads"), enforce))
        .split_for_parts();
    writes
        .merge(reads)
        .layer(from_fn_with_state(
            state.ctx.clone(),
            service_kit::audit::record,
        ))
        .layer(axum::middleware::map_response(private))
        .merge(service_kit::openapi::router(&openapi()))
        .with_state(state)
}

async fn private(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, no-store"),
    );
    response
}

/// booking's API description.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, paths) = write_routes()
        .merge(read_routes())
        .merge(webhook_write_routes())
        .merge(webhook_read_routes())
        .split_for_parts();
    let mut doc = service_kit::openapi::describe(
        "booking",
        "Holds, payment, cancellation, the caller's bookings and tickets, and \
         admins' webhook endpoints. The edge sends `/v1/bookings*`, `/v1/me/*` \
         and `/v1/admin/webhook-endpoints*` here.",
        DEFAULT_PORT,
        paths,
    );
    auth::BearerScheme.modify(&mut doc);
    doc.tags.get_or_insert_with(Vec::new).push(
        utoipa::openapi::tag::TagBuilder::new()
            .name("bookings")
            .description(Some("Holding, paying for and cancelling bookings."))
            .build(),
    );
    doc.tags.get_or_insert_with(Vec::new).push(
        utoipa::openapi::tag::TagBuilder::new()
            .name("webhooks")
            .description(Some(
                "Signed booking events (Standard Webhooks v1) to promoters' systems: \
                 endpoints, secrets, the delivery log and replay. Admins only.",
            ))
            .build(),
    );
    doc
}

/// A built service, bound to its port and ready to run.
#[derive(Debug)]
pub struct Application {
    server: HttpServer,
    sweeper: Option<tokio::task::JoinHandle<()>>,
    relay: Option<tokio::task::JoinHandle<()>>,
    notifier: notify::Notifier,
}

impl Application {
    /// Opens connections (lazily) and binds the port.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let ctx = ServiceContext::start(&config.common, "booking").await?;
        let feed = SeatFeed::new(ctx.redis.clone());
        let provider: Arc<dyn PaymentProvider> =
            Arc::new(SandboxProvider::new(config.sandbox_slow));
        let state = AppState {
            holds: HoldEngine::new(ctx.pool.clone(), config.limits, feed.clone()),
            provider: provider.clone(),
            feed: feed.clone(),
            limits: config.limits,
            notify: NotifyState {
                secrets_key: config.notify.secrets_key.clone(),
                policy: config.notify.webhooks.policy.clone(),
            },
            ctx: ctx.clone(),
        };
        let probes = ctx.probes.clone();
        let server = ctx
            .bind(router(state), probes, config.common.bind_host, config.port)
            .await?;
        let sweeper = config
            .sweep_interval
            .map(|every| lifecycle::spawn_sweeper(ctx.pool.clone(), feed, provider, every));
        let relay_metrics = outbox::RelayMetrics::register(&ctx.metrics);
        let relay = config.outbox_interval.map(|every| {
            outbox::spawn_relay(
                &ctx.pool,
                ctx.redis.clone(),
                outbox::stream(&config.namespace),
                relay_metrics,
                every,
            )
        });
        let mailer = mail::Mailer::new(&config.mail).map_err(startup)?;
        let notifier = notify::spawn(
            &ctx.pool,
            config.notify,
            Some(notify::email::MailSender {
                mailer,
                public_url: config.mail.public_url.clone(),
            }),
            notify::NotifyMetrics::register(&ctx.metrics),
        )
        .map_err(startup)?;
        Ok(Self {
            server,
            sweeper,
            relay,
            notifier,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(service_kit::server::shutdown_signal()).await
    }

    /// Serves until `signal` resolves (tests use this).
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let result = self.server.run_until(signal).await;
        for task in [self.sweeper, self.relay].into_iter().flatten() {
            task.abort();
        }
        drop(self.notifier);
        result
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
                "/../docs/openapi/booking.json"
            )),
        );
    }

    #[test]
    fn every_operation_documents_its_success_body_and_its_problems() {
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
                if path.starts_with("/v1/") {
                    for status in ["400", "401", "404", "429", "500"] {
                        assert_eq!(
                            responses[status]["content"]["application/problem+json"]["schema"]["$ref"],
                            "#/components/schemas/Problem",
                            "{method} {path} {status}"
                        );
                    }
                    assert_eq!(op["security"][0]["bearer"], serde_json::json!([]));
                }
            }
        }
        assert_eq!(
            operations,
            7 + 8 + 4,
            "seven booking routes, eight webhook routes and four standard ones"
        );
    }
}
