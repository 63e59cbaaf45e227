//! The indexer's metrics, on `/metrics` with the `indexer_` prefix.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use service_kit::metrics::Metrics;

/// Handles to the indexer's metrics. Clone is cheap.
#[derive(Debug, Clone)]
pub struct IndexerMetrics {
    /// WAL bytes between the server's position and the durable checkpoint.
    pub lag_bytes: Gauge,
    /// Seconds from a change's commit to its document being durable and
    /// searchable in the index (one observation per changed document per
    /// transaction; fan-out roots once per transaction).
    pub commit_to_searchable: Histogram,
    /// Seconds one flush takes: fan-out, render, write, commit.
    pub flush_seconds: Histogram,
    pub batches: Counter,
    /// Documents written (upserts and deletes, stale ones included).
    pub documents: Counter,
    pub errors: Counter,
    /// Documents the engine refused for good.
    pub parked: Counter,
    pub bootstraps: Counter,
    /// Invalidation messages that could not be published.
    pub invalidation_failures: Counter,
}

/// Buckets fine enough around one second to read p50 and p99 from.
const LATENCY_BUCKETS: [f64; 20] = [
    0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0,
    5.0, 10.0,
];

impl IndexerMetrics {
    /// Creates and registers the metrics.
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self {
            lag_bytes: Gauge::default(),
            commit_to_searchable: Histogram::new(LATENCY_BUCKETS),
            flush_seconds: Histogram::new(LATENCY_BUCKETS),
            batches: Counter::default(),
            documents: Counter::default(),
            errors: Counter::default(),
            parked: Counter::default(),
            bootstraps: Counter::default(),
            invalidation_failures: Counter::default(),
        };
        metrics.register(
            "replication_lag_bytes",
            "WAL bytes the index is behind the server",
            this.lag_bytes.clone(),
        );
        metrics.register(
            "commit_to_searchable_seconds",
            "Seconds from a transaction's commit to its effects being searchable",
            this.commit_to_searchable.clone(),
        );
        metrics.register(
            "flush_seconds",
            "Seconds a flush takes (fan-out, render, write, commit)",
            this.flush_seconds.clone(),
        );
        metrics.register("batches", "Index batches committed", this.batches.clone());
        metrics.register("documents", "Documents written", this.documents.clone());
        metrics.register("errors", "Pipeline errors (retried)", this.errors.clone());
        metrics.register(
            "parked_documents",
            "Documents the search engine refused for good",
            this.parked.clone(),
        );
        metrics.register("bootstraps", "Index bootstraps", this.bootstraps.clone());
        metrics.register(
            "invalidation_failures",
            "Invalidation messages not published",
            this.invalidation_failures.clone(),
        );
        this
    }
}
