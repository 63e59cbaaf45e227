//! Binding, serving and graceful shutdown.
//!
//! The accept loop is hyper's HTTP/1.1 connection builder rather than
//! `axum::serve`, because that is where the port's timeouts live:
//! [`HttpTimeouts::header`] closes a connection that has not sent its
//! request headers in time (idle keep-alive connections included), and
//! [`HttpTimeouts::body`] ends a request whose body stalls. Each request
//! carries the peer address as `ConnectInfo<SocketAddr>`.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::config::HttpTimeouts;

/// A bound listener plus the router it will serve. Binding happens in
/// [`HttpServer::bind`], so port 0 works and [`HttpServer::port`] tells which
/// port the OS chose.
#[derive(Debug)]
pub struct HttpServer {
    listener: TcpListener,
    router: Router,
    timeouts: HttpTimeouts,
}

impl HttpServer {
    /// Binds `host:port`.
    pub async fn bind(
        host: IpAddr,
        port: u16,
        router: Router,
        timeouts: HttpTimeouts,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::new(host, port)).await?;
        let router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            timeouts.body,
        ));
        Ok(Self {
            listener,
            router,
            timeouts,
        })
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
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.timeouts.header)
            .keep_alive(true);
        let graceful = GracefulShutdown::new();
        let mut signal = std::pin::pin!(signal);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, say: back off rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut signal => break,
            };
            // Small responses should not wait for Nagle.
            let _ = stream.set_nodelay(true);
            let router = self.router.clone();
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    let router = router.clone();
                    async move {
                        let answer: Result<_, Infallible> =
                            router.oneshot(request.map(axum::body::Body::new)).await;
                        answer
                    }
                });
            let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
        drop(self.listener);
        graceful.shutdown().await;
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

/// A service's own HTML answer to a browser asking for a page that does
/// not exist (a `GET` off `/v1/` that accepts `text/html`); JSON clients
/// and API paths keep the problem+json 404.
#[derive(Debug, Clone, Copy)]
pub struct NotFoundPage(pub fn() -> axum::response::Response);

fn wants_page(
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
) -> bool {
    let accepts_html = headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"));
    (method == axum::http::Method::GET || method == axum::http::Method::HEAD)
        && !uri.path().starts_with("/v1/")
        && accepts_html
}

/// Wraps a service's routes with what every service serves: the health
/// routes, request metrics, request tracing with an `x-request-id`, a
/// problem+json 404 for unknown paths and 405 for unknown methods, and the
/// [`hardening`](crate::hardening) layers.
pub fn with_standard_routes(
    routes: Router,
    probes: crate::health::Probes,
    metrics: crate::metrics::Metrics,
    not_found_page: Option<NotFoundPage>,
) -> Router {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::trace::TraceLayer;

    routes
        .merge(crate::health::router(probes))
        .fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap| async move {
                match not_found_page {
                    Some(NotFoundPage(page)) if wants_page(&method, &uri, &headers) => page(),
                    _ => problem::Problem::not_found("no such route").into_response(),
                }
            },
        )
        .method_not_allowed_fallback(crate::hardening::method_not_allowed)
        .layer(axum::middleware::from_fn(
            crate::hardening::reject_nul_in_query,
        ))
        .layer(axum::middleware::from_fn(
            crate::hardening::errors_as_problems,
        ))
        .layer(axum::middleware::from_fn(
            crate::hardening::security_headers,
        ))
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
