//! Typed ids from request paths: [`EventId`], [`VenueId`], [`PerformerId`]
//! and [`BookingId`].
//!
//! Each is an axum extractor that reads the route's one path parameter and
//! refuses a malformed id before any database work, with a 400
//! `invalid_field` problem whose `field` is the path parameter's name,
//! `id`. The HTML pages take `Result<EventId, Problem>` and answer an error
//! page instead.
//!
//! For the API description each is an `IntoParams` (the `id` path
//! parameter), and the integer ids an `IntoResponses` (the 400 they answer
//! with).

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use problem::Problem;

/// The name of the path parameter every id route uses (`/v1/events/{id}`).
const FIELD: &str = "id";

/// The route's one path parameter, percent-decoded.
async fn raw_id<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<String, Problem> {
    match Path::<String>::from_request_parts(parts, state).await {
        Ok(Path(raw)) => Ok(raw),
        Err(rejection) if rejection.status().is_client_error() => Err(Problem::invalid_field(
            FIELD,
            "the id is not valid UTF-8 once percent-decoded",
        )),
        Err(rejection) => {
            tracing::error!(
                error = %rejection.body_text(),
                "a typed id extractor on a route without exactly one path parameter"
            );
            Err(Problem::internal())
        }
    }
}

/// The route's one path parameter as a positive integer, as the catalog's
/// `bigint` keys are.
async fn positive_id<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<i64, Problem> {
    let raw = raw_id(parts, state).await?;
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        Problem::invalid_field(FIELD, format!("{raw:?} is not a positive integer id"))
    })
}

/// The `{id}` of an event route: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct EventId(
    /// The event's id.
    #[param(minimum = 1)]
    pub i64,
);

impl<S: Send + Sync> FromRequestParts<S> for EventId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        positive_id(parts, state).await.map(Self)
    }
}

/// The `{id}` of a venue route: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct VenueId(
    /// The venue's id.
    #[param(minimum = 1)]
    pub i64,
);

impl<S: Send + Sync> FromRequestParts<S> for VenueId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        positive_id(parts, state).await.map(Self)
    }
}

/// The `{id}` of a performer route: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct PerformerId(
    /// The performer's id.
    #[param(minimum = 1)]
    pub i64,
);

impl<S: Send + Sync> FromRequestParts<S> for PerformerId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        positive_id(parts, state).await.map(Self)
    }
}

/// The `{id}` of a booking page (`/checkout/{id}`): shaped like a UUID, 36
/// hex digits and dashes. The booking service owns the booking itself; the
/// page only passes the id on to the browser.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct BookingId(
    /// The booking's id (a UUID).
    #[param(format = Uuid)]
    pub String,
);

impl<S: Send + Sync> FromRequestParts<S> for BookingId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = raw_id(parts, state).await?;
        if raw.len() == 36 && raw.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            Ok(Self(raw))
        } else {
            Err(Problem::invalid_field(
                FIELD,
                format!("{raw:?} is not a booking id"),
            ))
        }
    }
}

/// What an integer id's rejection answers, for the API description.
fn id_responses() -> problem::openapi::Responses {
    problem::openapi::responses(&[
        (
            400,
            "The path's `id` is not a positive integer (`invalid_field`, `field` is `id`).",
        ),
        (500, "An internal error; the cause is logged, never shown."),
    ])
}

impl utoipa::IntoResponses for EventId {
    fn responses() -> problem::openapi::Responses {
        id_responses()
    }
}

impl utoipa::IntoResponses for VenueId {
    fn responses() -> problem::openapi::Responses {
        id_responses()
    }
}

impl utoipa::IntoResponses for PerformerId {
    fn responses() -> problem::openapi::Responses {
        id_responses()
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn event(EventId(id): EventId) -> String {
        id.to_string()
    }

    async fn booking(BookingId(id): BookingId) -> String {
        id
    }

    async fn get_path(path: &str) -> (StatusCode, Option<String>, serde_json::Value) {
        let app = Router::new()
            .route("/v1/events/{id}", get(event))
            .route("/checkout/{id}", get(booking));
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, content_type, body)
    }

    #[tokio::test]
    async fn a_positive_id_is_extracted() {
        assert_eq!(get_path("/v1/events/42").await.2, 42);
        assert_eq!(get_path("/v1/events/%34%32").await.2, 42);
    }

    #[tokio::test]
    async fn malformed_ids_are_400_problems_naming_the_id() {
        for path in [
            "/v1/events/abc",
            "/v1/events/-3",
            "/v1/events/0",
            "/v1/events/1.5",
            "/v1/events/%FF",
            "/checkout/not-a-booking",
        ] {
            let (status, content_type, body) = get_path(path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
            assert_eq!(
                content_type.as_deref(),
                Some(problem::CONTENT_TYPE),
                "{path}"
            );
            assert_eq!(body["code"], "invalid_field", "{path}");
            assert_eq!(body["field"], "id", "{path}");
        }
        let (_, _, body) = get_path("/v1/events/abc").await;
        assert_eq!(body["detail"], "\"abc\" is not a positive integer id");
    }

    #[tokio::test]
    async fn a_uuid_shaped_booking_id_is_extracted() {
        let id = "0b6f2f8e-6a4e-4d7e-9a51-2f0c6f1d8a3b";
        assert_eq!(get_path(&format!("/checkout/{id}")).await.2, id);
    }
}
