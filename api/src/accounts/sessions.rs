//! Sessions: sign in (`POST /v1/sessions`), refresh
//! (`POST /v1/sessions/refresh`), sign out (`DELETE /v1/sessions/current`)
//! and sign out everywhere (`POST /v1/sessions/revoke-all`).

use auth::{AuthUser, Role};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use problem::{ApiJson, Problem};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{self, Refresh, SignIn};
use super::signup::hashing_failed;
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// The token type of every access token.
#[derive(Debug, Serialize, ToSchema)]
pub enum TokenType {
    Bearer,
}

/// A session's tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionTokens {
    /// A bearer token (JWT) for every authenticated route of api and
    /// booking, valid `expires_in` seconds.
    pub access_token: String,
    pub token_type: TokenType,
    /// Seconds until `access_token` expires (`AUTH_ACCESS_TTL_SECS`).
    pub expires_in: u64,
    /// Trade it once at `POST /v1/sessions/refresh` for a new pair; the
    /// session lasts `AUTH_SESSION_TTL_SECS` from sign-in.
    pub refresh_token: String,
    pub user_id: Uuid,
    #[schema(value_type = crate::schema::Role)]
    pub role: &'static str,
}

/// 401 `invalid_credentials`: the same for a wrong password, an unknown
/// address and a disabled account.
pub(super) fn invalid_credentials() -> ApiError {
    Problem::new(StatusCode::UNAUTHORIZED, "invalid_credentials")
        .with_detail("the email address or the password is wrong")
        .into()
}

fn invalid_refresh_token() -> ApiError {
    Problem::new(StatusCode::UNAUTHORIZED, "invalid_refresh_token")
        .with_field("refresh_token")
        .with_detail("the refresh token is unknown, or its session has ended; sign in again")
        .into()
}

/// The sign-in's refusals, for the API description.
#[derive(Debug)]
pub struct SignInRefused;

impl utoipa::IntoResponses for SignInRefused {
    fn responses() -> problem::openapi::Responses {
        problem::openapi::responses(&[
            (
                401,
                "`invalid_credentials`: the address or the password is wrong, or the account \
                 is disabled (one answer for all three). `totp_required`: the password is \
                 right and the account has the second factor, so send `totp_code` too; \
                 `invalid_totp`: the code is wrong, expired or used already.",
            ),
            (
                403,
                "`email_not_verified`: the password is right but the address is not verified \
                 yet; follow the link in the verification mail.",
            ),
        ])
    }
}

/// The refresh's refusals, for the API description.
#[derive(Debug)]
pub struct RefreshRefused;

impl utoipa::IntoResponses for RefreshRefused {
    fn responses() -> problem::openapi::Responses {
        problem::openapi::responses(&[(
            401,
            "`invalid_refresh_token`: unknown, or its session has ended; \
             `refresh_token_reused`: the token was used before, so the session is revoked \
             (all its tokens stop working). Sign in again.",
        )])
    }
}

/// A token of `session_id`, valid for `ttl` from now.
pub(super) fn mint(
    state: &AppState,
    user_id: Uuid,
    role: Role,
    session_id: Uuid,
    ttl: std::time::Duration,
) -> ApiResult<String> {
    chrono::Duration::from_std(ttl)
        .map_err(|e| e.to_string())
        .and_then(|ttl| {
            state
                .ctx
                .jwt
                .mint_session(user_id, role, session_id, Utc::now(), ttl)
                .map_err(|e| e.to_string())
        })
        .map_err(|e| {
            tracing::error!(error = %e, "could not mint a session token");
            Problem::internal().into()
        })
}

/// A new access token of `session_id`, with `refresh_token`.
fn issue(
    state: &AppState,
    user_id: Uuid,
    role: Role,
    session_id: Uuid,
    refresh_token: String,
) -> ApiResult<SessionTokens> {
    let ttl = state.accounts.config.access_ttl;
    let access_token = mint(state, user_id, role, session_id, ttl)?;
    Ok(SessionTokens {
        access_token,
        token_type: TokenType::Bearer,
        expires_in: ttl.as_secs(),
        refresh_token,
        user_id,
        role: role.as_str(),
    })
}

pub(super) fn parse_role(role: &str) -> ApiResult<Role> {
    role.parse().map_err(|e: String| {
        tracing::error!(error = %e, "a stored role does not parse");
        Problem::internal().into()
    })
}

/// Sign in.
///
/// Starts a session for a verified account: an access token (with the
/// session as `sid`, `AUTH_ACCESS_TTL_SECS`) and a refresh token. A wrong
/// password and an unknown address are one 401 `invalid_credentials`,
/// after the same password-hashing work; a right password on an address
/// not verified yet is 403 `email_not_verified`. Rate limited per address
/// (`sign_in`) and per account named (`sign_in_account`).
#[utoipa::path(post, path = "/v1/sessions", tag = "accounts",
    request_body = SignIn,
    responses(
        (status = 201, description = "Signed in. `no-store`.", body = SessionTokens),
        SignInRefused, ApiJson<SignIn>, ApiError,
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignIn>,
) -> ApiResult<Response> {
    if let Some(refusal) = super::per_account(&state, "sign_in_account", &body.email).await {
        return Ok(refusal);
    }
    let (user_id, role, second_factor) = authenticate(&state, &body).await?;
    let (session_id, refresh_token) = auth::sessions::create(
        &state.ctx.pool,
        user_id,
        state.accounts.config.session_ttl,
        second_factor,
    )
    .await?;
    let tokens = issue(&state, user_id, role, session_id, refresh_token)?;
    Ok((StatusCode::CREATED, axum::Json(tokens)).into_response())
}

/// The user and role of a sign-in's address and password (and its TOTP
/// code, once the account has the second factor), and whether the second
/// factor was passed: the one check behind the JSON and the web sign-in.
pub(super) async fn authenticate(state: &AppState, body: &SignIn) -> ApiResult<(Uuid, Role, bool)> {
    let email = input::normalize_email(&body.email);
    let user: Option<(Uuid, String, Option<String>, bool, bool)> = sqlx::query_as(
        "select user_id, role, password_hash, email_verified_at is not null, disabled_at is null
           from users where lower(email) = $1",
    )
    .bind(&email)
    .fetch_optional(&state.ctx.pool)
    .await?;
    // No user, or none with a password: the dummy hash takes as long.
    let stored = user.as_ref().and_then(|u| u.2.as_deref());
    let matches = auth::password::verify(&body.password, stored)
        .await
        .map_err(|e| hashing_failed(&e))?;
    let Some((user_id, role, _, verified, enabled)) = user.filter(|_| matches) else {
        return Err(invalid_credentials());
    };
    if !enabled {
        return Err(invalid_credentials());
    }
    if !verified {
        return Err(Problem::new(StatusCode::FORBIDDEN, "email_not_verified")
            .with_detail("verify the address first: follow the link in the verification mail")
            .into());
    }
    let role = parse_role(&role)?;
    let second_factor =
        super::totp::check_at_sign_in(state, user_id, body.totp_code.as_deref()).await?;
    Ok((user_id, role, second_factor))
}

/// Refresh a session.
///
/// Trades the session's latest refresh token for a new access token and a
/// new refresh token; each refresh token works once. Presenting one that
/// was already used is taken as theft: the whole session is revoked (its
/// access tokens stop working within `AUTH_USER_CACHE_MS`) and the answer
/// is 401 `refresh_token_reused`.
#[utoipa::path(post, path = "/v1/sessions/refresh", tag = "accounts",
    request_body = Refresh,
    responses(
        (status = 200, description = "The new pair. `no-store`.", body = SessionTokens),
        RefreshRefused, ApiJson<Refresh>, ApiError,
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Refresh>,
) -> ApiResult<Response> {
    use auth::sessions::RefreshError;
    let length = body.refresh_token.chars().count();
    if !(1..=200).contains(&length) {
        return Err(Problem::invalid_field("refresh_token", "must be 1 to 200 characters").into());
    }
    let (session_id, user_id, refresh_token) = match auth::sessions::refresh(
        &state.ctx.pool,
        &body.refresh_token,
    )
    .await
    {
        Ok(refreshed) => refreshed,
        Err(RefreshError::Unknown | RefreshError::Ended) => return Err(invalid_refresh_token()),
        Err(RefreshError::Reused {
            session_id,
            user_id,
        }) => {
            tracing::warn!(%session_id, %user_id, "a used refresh token came back: session revoked");
            state.ctx.users.forget_session(user_id, session_id).await;
            return Err(Problem::new(StatusCode::UNAUTHORIZED, "refresh_token_reused")
                    .with_field("refresh_token")
                    .with_detail(
                        "this refresh token was used before, so its session is revoked; sign in again",
                    )
                    .into());
        }
        Err(RefreshError::Database(e)) => return Err(e.into()),
    };
    let role: Option<String> =
        sqlx::query_scalar("select role from users where user_id = $1 and disabled_at is null")
            .bind(user_id)
            .fetch_optional(&state.ctx.pool)
            .await?;
    let role = parse_role(&role.ok_or_else(invalid_refresh_token)?)?;
    let tokens = issue(&state, user_id, role, session_id, refresh_token)?;
    Ok(axum::Json(tokens).into_response())
}

/// The answer to a token without a session.
fn no_session() -> ApiError {
    Problem::invalid_field(
        "authorization",
        "this token was not issued by a sign-in, so it has no session to end",
    )
    .into()
}

/// Sign out.
///
/// Ends the session of the bearer token (one from `POST /v1/sessions`) or
/// of the web session cookie, and removes the cookie:
/// its access and refresh tokens stop working (within
/// `AUTH_USER_CACHE_MS` on other instances). Other sessions of the user go
/// on.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out."),
        AuthUser, ApiError,
    ))]
pub async fn sign_out(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> ApiResult<Response> {
    let session_id = claims.sid.ok_or_else(no_session)?;
    auth::sessions::revoke(&state.ctx.pool, session_id).await?;
    state.ctx.users.forget_session(claims.sub, session_id).await;
    Ok(signed_out(&state))
}

/// 204 that also removes the web session cookie (a JSON client ignores it).
pub(super) fn signed_out(state: &AppState) -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, state.ctx.jwt.cookie().clear())],
    )
        .into_response()
}

/// Sign out everywhere.
///
/// Ends every session of the bearer token's user, this one included.
#[utoipa::path(post, path = "/v1/sessions/revoke-all", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session ended."),
        AuthUser, ApiError,
    ))]
pub async fn revoke_all(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> ApiResult<Response> {
    auth::sessions::revoke_all(&state.ctx.pool, claims.sub).await?;
    state.ctx.users.forget_user(claims.sub);
    Ok(signed_out(&state))
}
