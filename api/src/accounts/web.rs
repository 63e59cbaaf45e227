//! The browser's sign-in: `POST /v1/web/sessions` starts a session held in
//! the `HttpOnly` session cookie ([`auth::web`]) instead of tokens a script
//! could read, and `GET /v1/account` tells the pages who is signed in.
//!
//! The cookie's value is a token of the session that lasts as long as the
//! session (`AUTH_SESSION_TTL_SECS`); there is nothing to refresh. Signing
//! out (`DELETE /v1/sessions/current`) ends the session and removes the
//! cookie; "sign out everywhere", a password change or reset and an
//! admin's disable end it too. Either way the cookie stops working within
//! `AUTH_USER_CACHE_MS`, since every request checks its session.

use auth::AuthUser;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use problem::{ApiJson, Problem};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::SignIn;
use super::sessions::{SignInRefused, authenticate, parse_role};
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// Who is signed in.
#[derive(Debug, Serialize, ToSchema)]
pub struct Account {
    pub user_id: Uuid,
    #[schema(format = "email")]
    pub email: String,
    pub display_name: String,
    #[schema(value_type = crate::schema::Role)]
    pub role: &'static str,
}

/// Starts a session for `user_id`: its token, and the `Set-Cookie` that
/// holds it (the web's sign-in, and the development demo sign-in).
pub(crate) async fn start(
    state: &AppState,
    user_id: Uuid,
    role: auth::Role,
    second_factor: bool,
) -> ApiResult<(String, HeaderValue)> {
    let ttl = state.accounts.config.session_ttl;
    let (session_id, _refresh) =
        auth::sessions::create(&state.ctx.pool, user_id, ttl, second_factor).await?;
    let token = super::sessions::mint(state, user_id, role, session_id, ttl)?;
    let cookie = state
        .ctx
        .jwt
        .cookie()
        .set(&token, ttl.as_secs())
        .ok_or_else(Problem::internal)?;
    Ok((token, cookie))
}

async fn account(state: &AppState, user_id: Uuid) -> ApiResult<Account> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "select email, display_name, role from users where user_id = $1 and disabled_at is null",
    )
    .bind(user_id)
    .fetch_optional(&state.ctx.pool)
    .await?;
    let (email, display_name, role) = row.ok_or_else(|| {
        ApiError::from(
            Problem::unauthorized("the token's user does not exist or is disabled")
                .with_field("authorization"),
        )
    })?;
    Ok(Account {
        user_id,
        email,
        display_name,
        role: parse_role(&role)?.as_str(),
    })
}

/// Sign in on the web.
///
/// The same check as `POST /v1/sessions` (one 401 `invalid_credentials`
/// for a wrong password and an unknown address, 403 `email_not_verified`),
/// but the session comes back as an `HttpOnly`, `SameSite=Strict` cookie
/// (`Secure` and named `__Host-session` over TLS) that lasts the session;
/// the body says who signed in. Writes signed in by the cookie must come
/// from this site's pages. Rate limited per address (`sign_in`) and per
/// account named (`sign_in_account`).
#[utoipa::path(post, path = "/v1/web/sessions", tag = "accounts",
    request_body = SignIn,
    responses(
        (status = 201, description = "Signed in; `Set-Cookie` holds the session. `no-store`.",
            body = Account),
        SignInRefused, ApiJson<SignIn>, ApiError,
    ))]
pub async fn web_sign_in(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignIn>,
) -> ApiResult<Response> {
    if let Some(refusal) = super::per_account(&state, "sign_in_account", &body.email).await {
        return Ok(refusal);
    }
    let (user_id, role, second_factor) = authenticate(&state, &body).await?;
    let (_, cookie) = start(&state, user_id, role, second_factor).await?;
    let account = account(&state, user_id).await?;
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, cookie)],
        axum::Json(account),
    )
        .into_response())
}

/// Who is signed in.
///
/// The account behind the bearer token or the session cookie; the pages
/// ask after load, so they stay the same for every visitor. `private,
/// no-store`.
#[utoipa::path(get, path = "/v1/account", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account. `private, no-store`.", body = Account),
        AuthUser, ApiError,
    ))]
pub async fn current_account(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> ApiResult<Response> {
    let mut response = axum::Json(account(&state, claims.sub).await?).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
