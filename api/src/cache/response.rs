//! Answers a public JSON page from the [`super::PageCache`] with HTTP caching
//! headers a CDN understands: `Cache-Control` per kind of page, a strong
//! `ETag` (and 304 on `If-None-Match`), surrogate keys as `surrogate-key`
//! and `cache-tag`, and `x-cache` naming where the answer came from.
//!
//! Nothing served this way is user-specific, so every answer is `public`.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use problem::Problem;
use sqlx::PgPool;

use super::{Loaded, Lookup, Source};
use crate::AppState;

/// How long a kind of page stays fresh in the cache, and its Cache-Control.
#[derive(Debug)]
pub struct Freshness {
    pub fresh_for: Duration,
    pub cache_control: &'static str,
}

impl Freshness {
    /// Event pages and seat maps carry availability: fresh for about a
    /// second.
    pub const LIVE: Self = Self {
        fresh_for: Duration::from_secs(1),
        cache_control: "public, max-age=1, s-maxage=1, stale-while-revalidate=30, stale-if-error=600",
    };
    /// Lists of events: a few seconds.
    pub const LIST: Self = Self {
        fresh_for: Duration::from_secs(5),
        cache_control: "public, max-age=5, s-maxage=5, stale-while-revalidate=30, stale-if-error=600",
    };
    /// Venues and performers change rarely.
    pub const STATIC: Self = Self {
        fresh_for: Duration::from_secs(300),
        cache_control: "public, max-age=60, s-maxage=300, stale-while-revalidate=600, stale-if-error=86400",
    };
}

/// The HTTP answer for a cache lookup; a missing page is "no such `what`".
pub fn respond(lookup: Lookup, freshness: &Freshness, what: &str, headers: &HeaderMap) -> Response {
    let (page, source) = match lookup {
        Lookup::Found(page, source) => (page, source),
        Lookup::NotFound => return Problem::not_found(format!("no such {what}")).into_response(),
        Lookup::Unavailable(detail) => {
            tracing::warn!(%detail, "page unavailable: the database failed and nothing is cached");
            return Problem::unavailable(
                "the catalog is temporarily unavailable; try again shortly",
            )
            .into_response();
        }
    };
    let mut out_headers = HeaderMap::new();
    out_headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(freshness.cache_control),
    );
    if let Ok(v) = HeaderValue::from_str(&page.etag) {
        out_headers.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&page.keys.join(" ")) {
        out_headers.insert("surrogate-key", v);
    }
    if let Ok(v) = HeaderValue::from_str(&page.keys.join(",")) {
        out_headers.insert("cache-tag", v);
    }
    let source_name = match source {
        Source::Memory => "memory",
        Source::Redis => "redis",
        Source::Database => "database",
        Source::Stale => "stale",
    };
    out_headers.insert("x-cache", HeaderValue::from_static(source_name));
    let not_modified = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == page.etag || tag.trim() == "*");
    if not_modified {
        return (StatusCode::NOT_MODIFIED, out_headers).into_response();
    }
    out_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (StatusCode::OK, out_headers, page.body.clone()).into_response()
}

/// The answers [`respond`] gives besides the page itself, for the API
/// description: 304 on a matching `If-None-Match`, 404, and 503 when the
/// database is down and nothing is cached.
#[derive(Debug)]
pub struct CachedAnswers;

impl utoipa::IntoResponses for CachedAnswers {
    fn responses() -> problem::openapi::Responses {
        let mut answers = problem::openapi::responses(&[
            (404, "No such resource, or not a public one (`not_found`)."),
            (
                503,
                "The catalog database is unavailable and no copy is cached \
                 (`service_unavailable`); try again shortly.",
            ),
        ]);
        answers.insert(
            "304".to_owned(),
            utoipa::openapi::ResponseBuilder::new()
                .description("Not modified: `If-None-Match` names the current `ETag`. No body.")
                .build()
                .into(),
        );
        answers
    }
}

/// The request header a cached page honours.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct Conditional {
    /// `ETag`s of copies the client holds (comma-separated, or `*`): while
    /// the page is unchanged the answer is 304 without a body.
    #[param(rename = "If-None-Match", value_type = String, required = false)]
    pub if_none_match: Option<String>,
}

/// What one page is: its cache key is `<kind>:<id>`, a missing one is "no
/// such `what`", and it stays fresh as `freshness` says.
#[derive(Debug)]
pub struct PageKind {
    pub kind: &'static str,
    pub what: &'static str,
    pub freshness: &'static Freshness,
}

/// One page by id: the cache under `<kind>:<id>`, loading with `load` on a
/// miss.
pub async fn serve<F, Fut>(
    state: &AppState,
    page: &PageKind,
    id: i64,
    headers: &HeaderMap,
    load: F,
) -> Response
where
    F: FnOnce(PgPool, i64) -> Fut,
    Fut: std::future::Future<Output = Result<Loaded, sqlx::Error>>,
{
    let pool = state.ctx.pool.clone();
    let lookup = state
        .pages
        .get(
            &format!("{}:{id}", page.kind),
            page.freshness.fresh_for,
            || load(pool, id),
        )
        .await;
    respond(lookup, page.freshness, page.what, headers)
}
