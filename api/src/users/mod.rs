//! An admin's hold on user accounts: `POST /v1/admin/users/{user_id}/disable`
//! and `POST /v1/admin/users/{user_id}/enable`.
//!
//! Disabling sets `users.disabled_at`: from then on sign-in answers the
//! same 401 `invalid_credentials` as a wrong password, refresh tokens are
//! refused, no reset link is mailed or accepted (those already mailed
//! are used up), and every session is revoked, so every authenticated route of api and booking refuses the
//! user's tokens (`auth::Users`; at once on this instance, within
//! `AUTH_USER_CACHE_MS` elsewhere). Enabling clears it; the revoked
//! sessions stay revoked, so the user signs in again.
//!
//! Both are idempotent (204 each time), 404 for an unknown user, and take
//! an [`auth::AdminUser`]; an admin cannot disable their own account (409
//! naming `user_id`). Being under `/v1/admin`, every call is in the admin
//! audit log ([`crate::audit`]).

use auth::AdminUser;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use problem::Problem;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// The path parameter's name, and the field its 400 names.
const FIELD: &str = "user_id";

/// The `{user_id}` of an admin users route: a UUID, checked before any
/// database work (400 naming `user_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::IntoParams)]
#[into_params(names("user_id"), parameter_in = Path)]
pub struct UserId(
    /// The user's id.
    #[param(format = Uuid)]
    pub Uuid,
);

impl<S: Send + Sync> FromRequestParts<S> for UserId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(raw)) => raw,
            Err(rejection) if rejection.status().is_client_error() => {
                return Err(Problem::invalid_field(
                    FIELD,
                    "the user id is not valid UTF-8 once percent-decoded",
                ));
            }
            Err(rejection) => {
                tracing::error!(
                    error = %rejection.body_text(),
                    "UserId on a route without exactly one path parameter"
                );
                return Err(Problem::internal());
            }
        };
        Uuid::parse_str(&raw).map(Self).map_err(|_| {
            Problem::invalid_field(FIELD, format!("{raw:?} is not a user id (a UUID)"))
        })
    }
}

/// The admin users routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
}

/// 204, no-store.
fn done() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
    )
        .into_response()
}

fn no_such_user(user_id: Uuid) -> Problem {
    Problem::not_found(format!("no user {user_id}")).with_field(FIELD)
}

/// Disable a user.
///
/// Sets the account disabled, uses up its reset links and ends every
/// session of it: its tokens stop
/// working on every route of api and booking (at once here, within
/// `AUTH_USER_CACHE_MS` elsewhere), and signing in answers the same 401
/// `invalid_credentials` as a wrong password. Idempotent: disabling a
/// disabled user answers 204 again. 404 for an unknown user; 409
/// `cannot_disable_self` (naming `user_id`) for the admin's own account.
#[utoipa::path(post, path = "/v1/admin/users/{user_id}/disable", tag = "users",
    security(("bearer" = [])),
    params(UserId),
    responses(
        (status = 204, description = "Disabled; every session has ended. `no-store`."),
        AdminUser, ApiError,
    ))]
pub async fn disable_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    UserId(user_id): UserId,
) -> ApiResult<Response> {
    if user_id == admin.sub {
        return Err(Problem::new(StatusCode::CONFLICT, "cannot_disable_self")
            .with_field(FIELD)
            .with_detail("an admin cannot disable their own account")
            .into());
    }
    // The first disable's time stays: a second one changes nothing. Reset
    // links still unused die with it, so none works after an enable.
    let found: Option<Uuid> = sqlx::query_scalar(
        "with disabled as (
             update users set disabled_at = now()
              where user_id = $1 and disabled_at is null returning user_id),
         links as (
             update email_tokens set used_at = now()
              where user_id = $1 and purpose = 'reset_password' and used_at is null)
         select user_id from users where user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(&state.ctx.pool)
    .await?;
    found.ok_or_else(|| no_such_user(user_id))?;
    auth::sessions::revoke_all(&state.ctx.pool, user_id).await?;
    state.ctx.users.forget_user(user_id);
    Ok(done())
}

/// Enable a user again.
///
/// Clears the disable: the user can sign in again. Sessions ended by the
/// disable stay ended. Idempotent; 404 for an unknown user.
#[utoipa::path(post, path = "/v1/admin/users/{user_id}/enable", tag = "users",
    security(("bearer" = [])),
    params(UserId),
    responses(
        (status = 204, description = "Enabled. `no-store`."),
        AdminUser, ApiError,
    ))]
pub async fn enable_user(
    State(state): State<AppState>,
    _admin: AdminUser,
    UserId(user_id): UserId,
) -> ApiResult<Response> {
    let found: Option<Uuid> = sqlx::query_scalar(
        "with enabled as (
             update users set disabled_at = null
              where user_id = $1 and disabled_at is not null returning user_id)
         select user_id from users where user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(&state.ctx.pool)
    .await?;
    found.ok_or_else(|| no_such_user(user_id))?;
    // This instance may have cached "disabled"; it asks again.
    state.ctx.users.forget_user(user_id);
    Ok(done())
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::post;
    use tower::ServiceExt;

    use super::*;

    async fn user_id(UserId(id): UserId) -> String {
        id.to_string()
    }

    async fn call(path: &str) -> (StatusCode, serde_json::Value) {
        let app = Router::new().route("/v1/admin/users/{user_id}/disable", post(user_id));
        let response = app
            .oneshot(Request::post(path).body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, body)
    }

    #[tokio::test]
    async fn a_uuid_is_extracted_and_anything_else_is_400_naming_user_id() {
        let id = "0b6f2f8e-6a4e-4d7e-9a51-2f0c6f1d8a3b";
        let (status, body) = call(&format!("/v1/admin/users/{id}/disable")).await;
        assert_eq!((status, body), (StatusCode::OK, serde_json::json!(id)));
        for bad in ["42", "not-a-user", "%FF", "0b6f2f8e-6a4e-4d7e-9a51"] {
            let (status, body) = call(&format!("/v1/admin/users/{bad}/disable")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(body["field"], FIELD, "{bad}: {body}");
        }
    }
}
