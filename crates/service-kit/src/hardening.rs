//! Layers every service port has, so that no handler can forget them:
//!
//! - [`errors_as_problems`]: every 4xx and 5xx is `application/problem+json`,
//!   including axum's own rejections (a path that does not decode, a query
//!   that does not parse, 405, 413, 408). HTML pages keep their HTML error
//!   pages.
//! - [`reject_nul_in_query`]: a query parameter holding U+0000 is a 400
//!   naming the parameter, before any handler runs (the JSON body extractor
//!   does the same for bodies). No text column can store it.
//! - [`security_headers`]: `X-Content-Type-Options`, `Referrer-Policy`
//!   everywhere; on HTML, a Content-Security-Policy without inline script,
//!   and framing refused.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use problem::Problem;

/// The pages' policy: everything from this origin, no inline script or
/// style, no plugins, no framing, forms only to this origin. Images may
/// also come from any https origin: an admin's `image_url` (https only) is
/// where the image routes redirect.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: https:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The longest plain-text error body carried over as the problem's
/// `detail` (axum's rejection messages are short and meant for clients).
const MAX_DETAIL_BYTES: usize = 300;

/// 405 for a route that exists with other methods; axum adds `Allow`.
pub async fn method_not_allowed() -> Problem {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        .with_detail("this route does not accept that method; `Allow` lists those it does")
}

/// Rewrites any error response that is not already problem+json (or an
/// HTML page) as a problem with the same status and headers.
pub async fn errors_as_problems(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with(problem::CONTENT_TYPE) || content_type.starts_with("text/html") {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let detail = if content_type.starts_with("text/plain") {
        axum::body::to_bytes(body, MAX_DETAIL_BYTES)
            .await
            .ok()
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
            .filter(|s| !s.trim().is_empty())
    } else {
        None
    };
    let mut problem = Problem::new(status, code_for(status));
    if let Some(detail) = detail {
        problem = problem.with_detail(detail.trim());
    }
    let rebuilt = problem.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(problem::CONTENT_TYPE),
    );
    Response::from_parts(parts, rebuilt.into_body())
}

/// A stable code for a status: its canonical reason in snake_case.
fn code_for(status: StatusCode) -> String {
    match status {
        StatusCode::BAD_REQUEST => "invalid_request".to_owned(),
        StatusCode::NOT_FOUND => "not_found".to_owned(),
        StatusCode::INTERNAL_SERVER_ERROR => "internal_error".to_owned(),
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable".to_owned(),
        other => other
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .replace('\'', ""),
    }
}

/// 400 naming the first query parameter whose name or value holds U+0000.
pub async fn reject_nul_in_query(request: Request, next: Next) -> Response {
    if let Some(query) = request.uri().query()
        && let Some(field) = nul_parameter(query)
    {
        return Problem::invalid_field(field, "must not contain the NUL character (U+0000)")
            .into_response();
    }
    next.run(request).await
}

/// The decoded name of the first parameter holding `%00`.
fn nul_parameter(query: &str) -> Option<String> {
    if !query.contains("%00") {
        return None;
    }
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name.contains("%00") || value.contains("%00")).then(|| {
            let decoded = percent_decode(name);
            if decoded.is_empty() || decoded.contains('\0') {
                "query".to_owned()
            } else {
                decoded
            }
        })
    })
}

/// `application/x-www-form-urlencoded` decoding of one name, lossy.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&raw[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The headers every answer carries, and on HTML the page policy.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/html"));
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    if is_html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route(
                "/plain",
                get(|| async { (StatusCode::BAD_REQUEST, "bad thing") }),
            )
            .route(
                "/page",
                get(|| async {
                    (
                        StatusCode::NOT_FOUND,
                        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                        "<p>gone</p>",
                    )
                }),
            )
            .route("/q", get(|| async { "ok" }))
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::from_fn(reject_nul_in_query))
            .layer(axum::middleware::from_fn(errors_as_problems))
            .layer(axum::middleware::from_fn(security_headers))
    }

    async fn send(
        method: &str,
        uri: &str,
    ) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = app()
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(axum::body::Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 16).await.expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (parts.status, parts.headers, json)
    }

    #[tokio::test]
    async fn a_plain_text_error_becomes_a_problem_with_its_text_as_detail() {
        let (status, headers, json) = send("GET", "/plain").await;
        assert_eq!(status, 400);
        assert_eq!(headers[header::CONTENT_TYPE], problem::CONTENT_TYPE);
        assert_eq!(json["code"], "invalid_request");
        assert_eq!(json["detail"], "bad thing");
        assert_eq!(json["status"], 400);
    }

    #[tokio::test]
    async fn method_not_allowed_is_a_problem_and_keeps_allow() {
        let (status, headers, json) = send("DELETE", "/q").await;
        assert_eq!(status, 405);
        assert_eq!(headers[header::CONTENT_TYPE], problem::CONTENT_TYPE);
        assert_eq!(json["code"], "method_not_allowed");
        assert!(
            headers[header::ALLOW]
                .to_str()
                .expect("ascii")
                .contains("GET"),
            "{headers:?}"
        );
    }

    #[tokio::test]
    async fn an_html_error_page_stays_html_and_gets_the_page_policy() {
        let (status, headers, _) = send("GET", "/page").await;
        assert_eq!(status, 404);
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .expect("ascii")
                .starts_with("text/html")
        );
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }

    #[tokio::test]
    async fn json_answers_get_nosniff_but_no_page_policy() {
        let (status, headers, _) = send("GET", "/q").await;
        assert_eq!(status, 200);
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(headers.get(header::CONTENT_SECURITY_POLICY).is_none());
    }

    #[tokio::test]
    async fn a_nul_in_a_query_parameter_names_it() {
        let (status, _, json) = send("GET", "/q?ok=1&q=a%00b").await;
        assert_eq!(status, 400);
        assert_eq!(json["field"], "q");
        let (status, _, json) = send("GET", "/q?%00=1").await;
        assert_eq!(status, 400);
        assert_eq!(json["field"], "query");
        let (status, _, _) = send("GET", "/q?q=100%25").await;
        assert_eq!(status, 200);
    }

    #[test]
    fn percent_decoding_handles_plus_escapes_and_stray_percents() {
        assert_eq!(percent_decode("a+b%20c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
    }
}
