//! Event and performer images: `GET /v1/events/{id}/image` and
//! `GET /v1/performers/{id}/image`.
//!
//! When an admin set an `image_url`, the answer is a 302 to it. Otherwise
//! it is a poster ([`poster`]) drawn at request time from the name and
//! genre: deterministic, so nothing is stored, and cacheable for long by
//! its strong `ETag`. The facts (name, kind, genre, URL) come through the
//! page cache under `image:<kind>:<id>`, carrying the `event:ID` or
//! `performer:ID` surrogate key, so an invalidation evicts them; its Redis
//! copy lives a minute. Cards that only know an event's id (search hits)
//! show its picture through this route.

pub mod poster;
pub mod url;

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use problem::Problem;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::cache::response::{CachedAnswers, Conditional};
use crate::cache::{Loaded, Lookup, strong_etag};
use crate::ids::{EventId, PerformerId};

/// How long the facts behind an image stay fresh in the page cache.
const FACTS_FRESH_FOR: Duration = Duration::from_secs(60);
/// A poster is a function of the name and genre: browsers keep it a day
/// (and revalidate by ETag), the edge an hour (a CDN is purged by the
/// surrogate key when the name changes).
const POSTER_CACHE: &str =
    "public, max-age=86400, s-maxage=3600, stale-while-revalidate=86400, stale-if-error=604800";
/// A redirect to an admin's URL, which can change: five minutes.
const REDIRECT_CACHE: &str =
    "public, max-age=300, s-maxage=300, stale-while-revalidate=600, stale-if-error=86400";
/// The poster's own policy, for when it is opened as a document: nothing
/// loads, nothing runs.
const POSTER_CSP: &str = "default-src 'none'; sandbox";
/// The media type of a poster.
pub const SVG: &str = "image/svg+xml";

/// What an image is drawn from.
#[derive(Debug, Serialize, Deserialize)]
struct Facts {
    name: String,
    kind: String,
    genre: String,
    image_url: Option<String>,
}

/// `/v1/events/{id}/image` and `/v1/performers/{id}/image`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_event_image))
        .routes(routes!(get_performer_image))
}

async fn load(
    pool: PgPool,
    sql: &'static str,
    key: String,
    id: i64,
) -> Result<Loaded, sqlx::Error> {
    let row: Option<(String, String, String, Option<String>)> =
        sqlx::query_as(sql).bind(id).fetch_optional(&pool).await?;
    Ok(row.and_then(|(name, kind, genre, image_url)| {
        let facts = Facts {
            name,
            kind,
            genre,
            image_url,
        };
        serde_json::to_vec(&facts)
            .ok()
            .map(|body| (body, vec![key]))
    }))
}

/// The answer for one image: a redirect or the poster.
async fn answer(
    state: &AppState,
    kind: &'static str,
    id: i64,
    sql: &'static str,
    headers: &HeaderMap,
) -> Response {
    let pool = state.ctx.pool.clone();
    let key = format!("{kind}:{id}");
    let lookup = state
        .pages
        .get(&format!("image:{key}"), FACTS_FRESH_FOR, || {
            load(pool, sql, key, id)
        })
        .await;
    let page = match lookup {
        Lookup::Found(page, _) => page,
        Lookup::NotFound => return Problem::not_found(format!("no such {kind}")).into_response(),
        Lookup::Unavailable(detail) => {
            tracing::warn!(%detail, "image unavailable: the database failed and nothing is cached");
            return Problem::unavailable(
                "the catalog is temporarily unavailable; try again shortly",
            )
            .into_response();
        }
    };
    let Ok(facts) = serde_json::from_slice::<Facts>(&page.body) else {
        return Problem::internal().into_response();
    };
    let mut out = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&page.keys.join(" ")) {
        out.insert("surrogate-key", v);
    }
    if let Ok(v) = HeaderValue::from_str(&page.keys.join(",")) {
        out.insert("cache-tag", v);
    }
    if let Some(target) = facts.image_url.as_deref()
        && let Ok(location) = HeaderValue::from_str(target)
    {
        out.insert(header::LOCATION, location);
        out.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(REDIRECT_CACHE),
        );
        return (StatusCode::FOUND, out).into_response();
    }
    let svg = poster::svg(poster::Poster {
        name: &facts.name,
        kind: &facts.kind,
        genre: &facts.genre,
    });
    let etag = strong_etag(svg.as_bytes());
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(POSTER_CACHE),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, v);
    }
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    if matches {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(SVG));
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POSTER_CSP),
    );
    (StatusCode::OK, out, svg).into_response()
}

const EVENT_FACTS: &str = "select title, category, genre, image_url from events
                            where event_id = $1 and published_at is not null";
const PERFORMER_FACTS: &str = "select name, 'performer', genre, image_url from performers
                                where performer_id = $1";

/// An event's image.
///
/// A 302 to the image URL an admin set, or else a poster drawn from the
/// title, category and genre (SVG, the same bytes every time: long
/// `max-age` and an `ETag`). Drafts have none.
#[utoipa::path(get, path = "/v1/events/{id}/image", tag = "events",
    params(EventId, Conditional),
    responses(
        (status = 200, description = "The generated poster, 600 × 400.", content_type = "image/svg+xml", body = String),
        (status = 302, description = "To the image URL an admin set.",
            headers(("Location" = String, description = "The image's https URL."))),
        CachedAnswers, EventId,
    ))]
pub async fn get_event_image(
    State(state): State<AppState>,
    EventId(id): EventId,
    headers: HeaderMap,
) -> Response {
    answer(&state, "event", id, EVENT_FACTS, &headers).await
}

/// A performer's image.
///
/// A 302 to the image URL an admin set, or else a poster drawn from the
/// name and genre (SVG, the same bytes every time: long `max-age` and an
/// `ETag`).
#[utoipa::path(get, path = "/v1/performers/{id}/image", tag = "performers",
    params(PerformerId, Conditional),
    responses(
        (status = 200, description = "The generated poster, 600 × 400.", content_type = "image/svg+xml", body = String),
        (status = 302, description = "To the image URL an admin set.",
            headers(("Location" = String, description = "The image's https URL."))),
        CachedAnswers, PerformerId,
    ))]
pub async fn get_performer_image(
    State(state): State<AppState>,
    PerformerId(id): PerformerId,
    headers: HeaderMap,
) -> Response {
    answer(&state, "performer", id, PERFORMER_FACTS, &headers).await
}
