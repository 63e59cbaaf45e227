//! What every service binary shares.
//!
//! - [`config`]: typed configuration from environment variables, failing at
//!   startup with the name of the variable that is wrong.
//! - [`telemetry`]: structured logs through `tracing`.
//! - [`metrics`]: a Prometheus registry and HTTP request metrics.
//! - [`health`]: `/healthz`, `/readyz` and `/metrics`.
//! - [`context`]: the connections every service opens.
//! - [`server`]: binding, serving and graceful shutdown on SIGTERM.

pub mod config;
pub mod context;
pub mod health;
pub mod metrics;
pub mod server;
pub mod telemetry;
