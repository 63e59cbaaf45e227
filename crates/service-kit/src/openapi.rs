//! The generated API description: each service's own paths (from its
//! handlers' `#[utoipa::path]` annotations, collected by `utoipa-axum` as
//! the routes are registered) plus the standard routes, served at
//! `GET /openapi.json`.
//!
//! The committed copies under `docs/openapi/` are snapshots:
//! [`assert_snapshot`] fails a unit test when the description changes and
//! the snapshot was not regenerated (`UPDATE_OPENAPI=1 cargo test`).

use std::path::Path;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use problem::Problem;
use utoipa::OpenApi;
use utoipa::openapi::{InfoBuilder, OpenApi as Description, ServerBuilder};

use crate::health;

#[derive(OpenApi)]
#[openapi(
    paths(health::healthz, health::readyz, health::metrics, openapi_json),
    components(schemas(Problem)),
    tags(
        (name = "operations", description = "Health, readiness, metrics and this description; \
            served on each service's own port, not through the edge."),
    ),
)]
struct Standard;

/// `service`'s description: `routes` (its own paths, schemas and tags) with
/// the standard routes, an info block and the service's default server.
pub fn describe(
    service: &str,
    summary: &str,
    default_port: u16,
    routes: Description,
) -> Description {
    let mut routes = routes;
    document_shared_answers(&mut routes);
    let mut doc = Standard::openapi();
    doc.merge(routes);
    doc.info = InfoBuilder::new()
        .title(format!("Ticketing platform: {service}"))
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(format!(
            "{summary}\n\nEvery error is an RFC 9457 `application/problem+json` document \
             (see `Problem`) with a stable `code` and, for input errors, the `field` at fault."
        )))
        .build();
    doc.servers = Some(vec![
        ServerBuilder::new()
            .url(format!("http://127.0.0.1:{default_port}"))
            .description(Some(format!("{service}, on its default port")))
            .build(),
    ]);
    doc
}

/// Adds what the shared layers answer to every operation of `routes`: 429
/// (the edge limits every public route per address, and the services limit
/// writes, personal reads, search and sign-in further, see
/// [`crate::ratelimit`]), and a problem+json 400 wherever there are query
/// parameters (see [`crate::hardening`]).
fn document_shared_answers(routes: &mut Description) {
    use utoipa::IntoResponses;
    let limited = crate::ratelimit::Limited::responses();
    let nul = problem::openapi::problem_response(
        "A query parameter holds U+0000 (the NUL character); `field` names it.",
    );
    for item in routes.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
        ];
        for operation in operations.into_iter().flatten() {
            // service_kit::hardening refuses a NUL in any query parameter
            // before the handler runs, with problem+json, HTML page or not.
            let has_query = operation
                .parameters
                .iter()
                .flatten()
                .any(|p| p.parameter_in == utoipa::openapi::path::ParameterIn::Query);
            if has_query {
                let entry = operation
                    .responses
                    .responses
                    .entry("400".to_owned())
                    .or_insert_with(|| nul.clone().into());
                if let utoipa::openapi::RefOr::T(response) = entry {
                    for (media_type, content) in &nul.content {
                        response
                            .content
                            .entry(media_type.clone())
                            .or_insert_with(|| content.clone());
                    }
                }
            }
            for (status, response) in &limited {
                operation
                    .responses
                    .responses
                    .entry(status.clone())
                    .or_insert_with(|| response.clone());
            }
        }
    }
}

#[derive(Clone)]
struct Rendered(Bytes);

/// This service's API description, as JSON.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses(
    (status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json",
        body = Object),
))]
async fn openapi_json(State(Rendered(bytes)): State<Rendered>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        bytes,
    )
        .into_response()
}

/// Serves `doc` at `GET /openapi.json`.
pub fn router<S: Clone + Send + Sync + 'static>(doc: &Description) -> Router<S> {
    let bytes = doc.to_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the API description does not serialize");
        String::from("{}")
    });
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .with_state(Rendered(Bytes::from(bytes)))
}

/// Compares `doc` with the committed snapshot at `path` (pretty JSON and a
/// final newline). With `UPDATE_OPENAPI=1` it writes the snapshot instead.
///
/// # Panics
/// When they differ, naming the first differing line: this is for tests.
pub fn assert_snapshot(doc: &Description, path: &Path) {
    let mut rendered = doc.to_pretty_json().expect("the description serializes");
    rendered.push('\n');
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(path, &rendered).expect("writes the snapshot");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed != rendered {
        let line = committed
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(rendered.lines().count()));
        panic!(
            "the API description differs from {} at line {} (committed {:?}, generated {:?}); \
             if the change is intended, run `UPDATE_OPENAPI=1 cargo test -p <service> openapi` \
             and commit the snapshot",
            path.display(),
            line + 1,
            committed.lines().nth(line).unwrap_or("<end>"),
            rendered.lines().nth(line).unwrap_or("<end>"),
        );
    }
}
