//! Binding, serving and graceful shutdown.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use axum::Router;
use tokio::net::TcpListener;

/// A bound listener plus the router it will serve. Binding happens in
/// [`HttpServer::bind`], so port 0 works and [`HttpServer::port`] tells which
/// port the OS chose.
#[derive(Debug)]
pub struct HttpServer {
    listener: TcpListener,
    router: Router,
}

impl HttpServer {
    /// Binds `host:port`.
    pub async fn bind(host: IpAddr, port: u16, router: Router) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::new(host, port)).await?;
        Ok(Self { listener, router })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// Serves until SIGTERM or Ctrl-C, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` resolves, then drains in-flight requests.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(port = self.port(), "listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(signal)
            .await?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received, shutting down"),
        () = terminate => tracing::info!("sigterm received, shutting down"),
    }
}

/// Wraps a service's routes with what every service serves: the health
/// routes, request metrics, request tracing with an `x-request-id`, and a
/// problem+json 404 for unknown paths.
pub fn with_standard_routes(
    routes: Router,
    probes: crate::health::Probes,
    metrics: crate::metrics::Metrics,
) -> Router {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::trace::TraceLayer;

    routes
        .merge(crate::health::router(probes))
        .fallback(|| async { problem::Problem::not_found("no such route") })
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::metrics::track_http,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Reads a service's config, or prints the offending variable and exits
/// with status 2. For `main.rs`.
pub fn config_or_exit<T>(
    service: &str,
    read: impl FnOnce(&crate::config::EnvSource) -> Result<T, crate::config::ConfigError>,
) -> T {
    match read(&crate::config::EnvSource::process()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{service}: invalid configuration: {e}");
            std::process::exit(2);
        }
    }
}
