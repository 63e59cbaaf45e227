//! The TOTP second factor of an account ([`auth::totp`]): enrolment
//! (`POST /v1/account/totp`, then `POST /v1/account/totp/confirm` with
//! the first code) and the check at sign-in.
//!
//! Enrolment is for any account; with `ADMIN_REQUIRE_TOTP` (the default in
//! production) admin routes answer 403 `second_factor_required` to a
//! session whose sign-in did not pass it. Once enrolled, every sign-in of
//! the account needs a code, and each code works once: the step it was
//! accepted for is stored with a compare-and-set, so two sign-ins racing
//! with one code cannot both pass.

use auth::AuthUser;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use problem::{ApiJson, Problem};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::TotpCode;
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// The issuer authenticator apps show beside the account.
const ISSUER: &str = "Ticketing";

fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default()
}

fn totp_failed(e: &auth::totp::TotpError) -> ApiError {
    tracing::error!(error = %e, "TOTP failed");
    Problem::internal().into()
}

fn code_problem(code: &'static str, detail: &'static str) -> ApiError {
    Problem::new(StatusCode::UNAUTHORIZED, code)
        .with_field("totp_code")
        .with_detail(detail)
        .into()
}

/// Accepts `code` for `user_id` against `secret`: records its step so it
/// never works again. `false` if wrong, outside its window, or used.
async fn accept(
    state: &AppState,
    user_id: Uuid,
    secret: &[u8],
    last_step: Option<i64>,
    code: &str,
    enable: bool,
) -> ApiResult<bool> {
    let Some(step) =
        auth::totp::verify(secret, code, last_step, unix_now()).map_err(|e| totp_failed(&e))?
    else {
        return Ok(false);
    };
    let claimed = sqlx::query(
        "update users set totp_last_step = $2,
                totp_enabled_at = case when $3 then coalesce(totp_enabled_at, now())
                                       else totp_enabled_at end
          where user_id = $1 and (totp_last_step is null or totp_last_step < $2)",
    )
    .bind(user_id)
    .bind(step)
    .bind(enable)
    .execute(&state.ctx.pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// At sign-in, after the password matched: whether the second factor was
/// passed (`false` for an account without one), or the refusal.
pub(super) async fn check_at_sign_in(
    state: &AppState,
    user_id: Uuid,
    code: Option<&str>,
) -> ApiResult<bool> {
    let row: Option<(Vec<u8>, Option<i64>)> = sqlx::query_as(
        "select totp_secret, totp_last_step from users
          where user_id = $1 and totp_enabled_at is not null",
    )
    .bind(user_id)
    .fetch_optional(&state.ctx.pool)
    .await?;
    let Some((secret, last_step)) = row else {
        return Ok(false);
    };
    let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
        return Err(code_problem(
            "totp_required",
            "this account has a second factor: send the authenticator app's code as totp_code",
        ));
    };
    if accept(state, user_id, &secret, last_step, code, false).await? {
        Ok(true)
    } else {
        Err(code_problem(
            "invalid_totp",
            "the authentication code is wrong, expired or was used already",
        ))
    }
}

/// A second factor being enrolled.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// The secret in base32, to type into an authenticator app.
    pub secret: String,
    /// The same as an `otpauth://totp/` URI (what a QR code would hold).
    pub otpauth_uri: String,
    /// Digits per code.
    pub digits: usize,
    /// Seconds per code.
    pub period: u64,
}

/// Start enrolling a second factor.
///
/// A new TOTP secret for the signed-in account, to add to an
/// authenticator app; it counts once `POST /v1/account/totp/confirm`
/// accepts a first code. Starting again replaces an unconfirmed secret.
/// 409 `totp_already_enabled` once confirmed. `no-store`.
#[utoipa::path(post, path = "/v1/account/totp", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The secret. `no-store`.", body = TotpEnrolment),
        (status = 409, description = "`totp_already_enabled`.",
            content_type = "application/problem+json", body = problem::Problem),
        AuthUser, ApiError,
    ))]
pub async fn start_enrolment(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> ApiResult<Response> {
    let secret = auth::totp::generate_secret();
    let email: Option<String> = sqlx::query_scalar(
        "update users set totp_secret = $2, totp_last_step = null
          where user_id = $1 and totp_enabled_at is null returning email",
    )
    .bind(claims.sub)
    .bind(&secret)
    .fetch_optional(&state.ctx.pool)
    .await?;
    let Some(email) = email else {
        return Err(Problem::new(StatusCode::CONFLICT, "totp_already_enabled")
            .with_detail("this account already has a second factor")
            .into());
    };
    let otpauth_uri =
        auth::totp::otpauth_uri(&secret, &email, ISSUER).map_err(|e| totp_failed(&e))?;
    let enrolment = TotpEnrolment {
        secret: auth::totp::base32(&secret),
        otpauth_uri,
        digits: auth::totp::DIGITS,
        period: auth::totp::STEP_SECS,
    };
    Ok((StatusCode::CREATED, axum::Json(enrolment)).into_response())
}

/// Confirm the second factor.
///
/// The app's first code turns the enrolled secret on: from now on every
/// sign-in of the account needs a code (`totp_code`). Sessions already
/// open go on, but did not pass the second factor: sign in again for admin
/// routes that need it. 401 `invalid_totp` for a wrong code, 409
/// `totp_not_started` without `POST /v1/account/totp` first.
#[utoipa::path(post, path = "/v1/account/totp/confirm", tag = "accounts",
    security(("bearer" = [])),
    request_body = TotpCode,
    responses(
        (status = 204, description = "The second factor is on."),
        (status = 409, description = "`totp_not_started` or `totp_already_enabled`.",
            content_type = "application/problem+json", body = problem::Problem),
        AuthUser, ApiJson<TotpCode>, ApiError,
    ))]
pub async fn confirm_enrolment(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    ApiJson(body): ApiJson<TotpCode>,
) -> ApiResult<StatusCode> {
    let row: Option<(Option<Vec<u8>>, Option<i64>, bool)> = sqlx::query_as(
        "select totp_secret, totp_last_step, totp_enabled_at is not null from users
          where user_id = $1",
    )
    .bind(claims.sub)
    .fetch_optional(&state.ctx.pool)
    .await?;
    let (secret, last_step) = match row {
        Some((_, _, true)) => {
            return Err(Problem::new(StatusCode::CONFLICT, "totp_already_enabled")
                .with_detail("this account already has a second factor")
                .into());
        }
        Some((Some(secret), last_step, false)) => (secret, last_step),
        _ => {
            return Err(Problem::new(StatusCode::CONFLICT, "totp_not_started")
                .with_detail("start with POST /v1/account/totp")
                .into());
        }
    };
    if accept(
        &state,
        claims.sub,
        &secret,
        last_step,
        &body.totp_code,
        true,
    )
    .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(code_problem(
            "invalid_totp",
            "the authentication code is wrong or expired: check the app's clock and try the next code",
        ))
    }
}
