//! The admin audit log: every catalog write by an admin (venues, seat maps,
//! performers, events, ticket types, cancellations) and every write under
//! `/v1/admin` (disabling and enabling users), with who, what, when,
//! from where (the client address as the rate limiter sees it) and the
//! status it got, in `admin_audit`.
//!
//! A write authenticated by an API key with `catalog:write` is recorded
//! with the key in `api_key_id` and, as `actor`, the admin who created it
//! (whose authority the key carries); the key is looked up before the
//! handler runs, so a row names the key that was presented even if it is
//! revoked meanwhile. A shopper's, a stranger's or a `catalog:read` key's
//! refused attempt is not recorded.
//!
//! It is a layer, so no write route can forget it; api and booking (its
//! webhook endpoints under `/v1/admin`) both put it in front of every route. The row is written after
//! the handler answered, on the request's own task; a failure to write it
//! is logged at error level and does not change the answer (the write
//! itself has committed by then).

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::context::ServiceContext;

/// Whether `method path` is an admin write: a catalog write, or anything
/// under `/v1/admin`.
pub fn is_admin_write(method: &Method, path: &str) -> bool {
    let write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let search = matches!(path, "/v1/events/search" | "/v1/events/suggest");
    write
        && !search
        && ["/v1/venues", "/v1/performers", "/v1/events", "/v1/admin"]
            .iter()
            .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")))
}

/// Records admin writes in `admin_audit`.
pub async fn record(State(ctx): State<ServiceContext>, request: Request, next: Next) -> Response {
    if !is_admin_write(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let user = ctx
        .jwt
        .verify_headers_of(request.headers())
        .ok()
        .map(|claims| claims.sub);
    let presented = auth::api_keys::presented(request.headers()).map(str::to_owned);
    let key = match presented {
        // Cached: the extractor finds the answer again.
        Some(presented) => ctx
            .api_keys
            .find(&presented)
            .await
            .ok()
            .flatten()
            .filter(|key| key.has(auth::api_keys::Scope::CatalogWrite)),
        None => None,
    };
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let client_address = ctx.limiter.client_address(&request);
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(request).await;
    // Only admins' writes (and their keys'): a shopper's or a stranger's
    // refused attempt is in the access log and the rate limiter, not here.
    let (actor, api_key_id) = match (key, user) {
        (Some(key), _) => (key.created_by, Some(key.key_id)),
        (None, Some(user)) if matches!(ctx.users.role(user).await, Ok(Some(auth::Role::Admin))) => {
            (user, None)
        }
        (None, _) => return response,
    };
    let written = sqlx::query(
        "insert into admin_audit
                (actor, api_key_id, method, path, status, client_address, request_id)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(actor)
    .bind(api_key_id)
    .bind(&method)
    .bind(&path)
    .bind(i16::try_from(response.status().as_u16()).unwrap_or(i16::MAX))
    .bind(&client_address)
    .bind(&request_id)
    .execute(&ctx.pool)
    .await;
    if let Err(e) = written {
        tracing::error!(
            error = %e, %actor, ?api_key_id, %method, %path,
            "could not write the admin audit row"
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_writes_are_the_catalog_writes_and_the_admin_routes() {
        for (method, path) in [
            (Method::POST, "/v1/venues"),
            (Method::PUT, "/v1/venues/3/seat-map"),
            (Method::PATCH, "/v1/performers/1"),
            (Method::POST, "/v1/events/9/cancel"),
            (Method::POST, "/v1/events/9/ticket-types"),
            (Method::POST, "/v1/admin/users/7/disable"),
        ] {
            assert!(is_admin_write(&method, path), "{method} {path}");
        }
        for (method, path) in [
            (Method::GET, "/v1/venues/3"),
            (Method::POST, "/v1/events/search"),
            (Method::POST, "/v1/sessions"),
            (Method::POST, "/v1/demo/login"),
            (Method::POST, "/v1/eventsx"),
            (Method::POST, "/v1/administrators"),
        ] {
            assert!(!is_admin_write(&method, path), "{method} {path}");
        }
    }
}
