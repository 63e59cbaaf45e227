//! `/healthz` (the process is up), `/readyz` (its dependencies answer) and
//! `/metrics` (Prometheus text).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::future::{BoxFuture, join_all};
use problem::Problem;
use serde_json::json;
use sqlx::PgPool;

use crate::metrics::Metrics;

/// One dependency `/readyz` checks.
pub trait Check: Send + Sync {
    /// Short name shown in the readiness report.
    fn name(&self) -> &'static str;
    /// Ok when the dependency is usable; Err carries a reason safe to show.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// Postgres answers and carries every migration this build knows.
#[derive(Debug, Clone)]
pub struct PostgresCheck(pub PgPool);

impl Check for PostgresCheck {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let applied = db::applied_migration(&self.0)
                .await
                .map_err(|e| format!("unreachable: {}", short_error(&e)))?;
            let latest = db::latest_migration();
            match applied {
                Some(v) if v >= latest => Ok(()),
                Some(v) => Err(format!(
                    "schema at migration {v}, this build needs {latest}; run `ticketctl migrate`"
                )),
                None => Err("schema not migrated; run `ticketctl migrate`".to_owned()),
            }
        })
    }
}

/// Redis answers PING.
#[derive(Debug, Clone)]
pub struct RedisCheck(pub redis::Client);

impl Check for RedisCheck {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let mut conn = self
                .0
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| {
                    if e.is_connection_refusal() {
                        "connection refused".to_owned()
                    } else {
                        "unreachable".to_owned()
                    }
                })?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(drop)
                .map_err(|_| "ping failed".to_owned())
        })
    }
}

fn short_error(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::PoolTimedOut => "timed out".to_owned(),
        sqlx::Error::Io(_) => "connection failed".to_owned(),
        sqlx::Error::Database(db) => db
            .code()
            .map_or_else(|| "database error".to_owned(), |c| format!("sqlstate {c}")),
        _ => "error".to_owned(),
    }
}

/// The checks and the registry the health routes serve.
#[derive(Clone)]
pub struct Probes {
    checks: Arc<Vec<Arc<dyn Check>>>,
    metrics: Metrics,
    timeout: Duration,
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.checks.iter().map(|c| c.name()).collect();
        f.debug_struct("Probes")
            .field("checks", &names)
            .finish_non_exhaustive()
    }
}

impl Probes {
    /// Probes with no checks yet.
    pub fn new(metrics: Metrics) -> Self {
        Self {
            checks: Arc::new(Vec::new()),
            metrics,
            timeout: Duration::from_secs(2),
        }
    }

    /// Adds a readiness check.
    #[must_use]
    pub fn with_check(mut self, check: impl Check + 'static) -> Self {
        Arc::make_mut(&mut self.checks).push(Arc::new(check));
        self
    }

    /// Runs every check concurrently, each bounded by the probe timeout.
    pub async fn run(&self) -> Vec<(&'static str, Result<(), String>)> {
        join_all(self.checks.iter().map(|check| async move {
            let outcome = tokio::time::timeout(self.timeout, check.check())
                .await
                .unwrap_or_else(|_| Err("timed out".to_owned()));
            (check.name(), outcome)
        }))
        .await
    }
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn router(probes: Probes) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(probes)
}

/// `GET /healthz`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Liveness {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// `GET /readyz` when every dependency answers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Always `ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `ok` per dependency.
    #[schema(value_type = Object, example = json!({"postgres": "ok", "redis": "ok"}))]
    pub checks: serde_json::Map<String, serde_json::Value>,
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Up.", body = Liveness)))]
pub async fn healthz() -> Response {
    axum::Json(Liveness { status: "ok" }).into_response()
}

/// Readiness: every dependency answers.
///
/// Checks Postgres (reachable and migrated to this build's schema) and
/// Redis; the indexer also checks `wal_level=logical` and `replication`
/// (its slot exists, it streams, and its lag is under
/// `INDEXER_MAX_LAG_BYTES`).
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready.", body = Readiness),
    (status = 503, description = "A dependency is not ready; `checks` says which.",
        body = Problem, content_type = "application/problem+json"),
))]
pub async fn readyz(State(probes): State<Probes>) -> Response {
    let results = probes.run().await;
    let ready = results.iter().all(|(_, r)| r.is_ok());
    let checks: serde_json::Map<_, _> = results
        .into_iter()
        .map(|(name, r)| {
            let value = match r {
                Ok(()) => json!("ok"),
                Err(reason) => json!({ "error": reason }),
            };
            (name.to_owned(), value)
        })
        .collect();
    if ready {
        axum::Json(Readiness {
            status: "ready",
            checks,
        })
        .into_response()
    } else {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready")
            .with_detail("a dependency is not ready")
            .with_extension("checks", checks)
            .into_response()
    }
}

/// Prometheus metrics, as OpenMetrics text.
///
/// Includes `<service>_http_requests_total` and
/// `<service>_http_request_duration_seconds` by method, route and status.
/// The indexer adds `indexer_replication_lag_bytes`,
/// `indexer_commit_to_searchable_seconds` (a histogram),
/// `indexer_batches_total`, `indexer_documents_total`,
/// `indexer_errors_total`, `indexer_parked_documents_total`,
/// `indexer_bootstraps_total` and `indexer_invalidation_failures_total`.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "The metrics.", body = String,
        content_type = "application/openmetrics-text"),
))]
pub async fn metrics(State(probes): State<Probes>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        probes.metrics.render(),
    )
        .into_response()
}
