//! What every service binary shares.
//!
//! - [`config`]: typed configuration from environment variables, failing at
//!   startup with the name of the variable that is wrong.
//! - [`telemetry`]: structured logs through `tracing`.
//! - [`metrics`]: a Prometheus registry and HTTP request metrics.
//! - [`hardening`]: problem+json for every error, NUL refused in queries,
//!   security headers.
//! - [`health`]: `/healthz`, `/readyz` and `/metrics`.
//! - [`openapi`]: the generated API description and `GET /openapi.json`.
//! - [`ratelimit`]: limits shared across instances (GCRA in Redis, with
//!   `governor` in front).
//! - [`context`]: the connections every service opens.
//! - [`server`]: binding, serving and graceful shutdown on SIGTERM.

pub mod audit;
pub mod config;
pub mod context;
pub mod hardening;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod ratelimit;
pub mod server;
pub mod telemetry;
