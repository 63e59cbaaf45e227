//! Sign-up (`POST /v1/accounts`) and address verification
//! (`POST /v1/accounts/verify`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use problem::{ApiJson, Problem};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{self, NewAccount, VerifyEmail};
use super::mails;
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// What sign-up answers, registered address or not.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignUpStatus {
    /// The address's owner gets a mail: a verification link, or word that
    /// the address already has an account.
    CheckYourEmail,
}

/// `POST /v1/accounts`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignUpAccepted {
    pub status: SignUpStatus,
}

/// What verification answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerifyStatus {
    /// The address is verified: the account can sign in.
    EmailVerified,
}

/// `POST /v1/accounts/verify`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    pub status: VerifyStatus,
    pub user_id: Uuid,
}

/// Hashing failed: an internal error, logged here.
pub(super) fn hashing_failed(e: &auth::password::PasswordError) -> ApiError {
    tracing::error!(error = %e, "password hashing failed");
    Problem::internal().into()
}

/// Create an account.
///
/// Always 202 with the same body, whether or not the address already has an
/// account, so the answer never tells who is registered: a new address gets
/// a verification link by mail (valid `AUTH_VERIFY_TTL_SECS`, once); a
/// registered one gets a mail saying someone tried to sign up with it, and
/// nothing changes. The account can sign in once the address is verified.
/// Addresses are compared case-insensitively. The password must have 12 to
/// 128 characters and not be common or easily guessed (the 400 names the
/// `password` field and, as `rule`, which rule failed: `min_length`,
/// `max_length` or `strength`).
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts",
    request_body = NewAccount,
    responses(
        (status = 202, description = "Accepted; check the mailbox. `no-store`.",
            body = SignUpAccepted),
        ApiJson<NewAccount>, ApiError,
    ))]
pub async fn sign_up(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewAccount>,
) -> ApiResult<Response> {
    let email = input::normalize_email(&body.email);
    let address = input::email(&email)?;
    let name = input::display_name(&body.display_name)?;
    input::new_password(&body.password, &email, name)?;
    // Hashed whether or not the address is taken: the same work either way.
    let hash = auth::password::hash(&body.password)
        .await
        .map_err(|e| hashing_failed(&e))?;
    let token = auth::tokens::generate();
    let mut tx = state.ctx.pool.begin().await?;
    // Any unique key (the address, or its lowercase form) means it is taken.
    let created: Option<Uuid> = sqlx::query_scalar(
        "insert into users (email, display_name, password_hash) values ($1, $2, $3)
         on conflict do nothing returning user_id",
    )
    .bind(&email)
    .bind(name)
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let accounts = &state.accounts;
    let public_url = &accounts.config.mail.public_url;
    match created {
        Some(user_id) => {
            sqlx::query(
                "insert into email_tokens (token_hash, user_id, purpose, expires_at)
                 values ($1, $2, 'verify_email', now() + make_interval(secs => $3))",
            )
            .bind(&token.hash)
            .bind(user_id)
            .bind(accounts.config.verify_ttl.as_secs_f64())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            let mail =
                mails::verification(public_url, name, &token.secret, accounts.config.verify_ttl);
            accounts.mailer.send_later(address, mail);
        }
        None => {
            tx.rollback().await?;
            accounts
                .mailer
                .send_later(address, mails::someone_tried(public_url));
        }
    }
    let body = SignUpAccepted {
        status: SignUpStatus::CheckYourEmail,
    };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// Verify an address.
///
/// `token` is the one in the verification link. It works once, until it
/// expires; an unknown, used or expired token is a 400 naming `token`.
#[utoipa::path(post, path = "/v1/accounts/verify", tag = "accounts",
    request_body = VerifyEmail,
    responses(
        (status = 200, description = "Verified; the account can sign in. `no-store`.",
            body = Verified),
        ApiJson<VerifyEmail>, ApiError,
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<VerifyEmail>,
) -> ApiResult<Response> {
    let refused = || {
        ApiError::from(Problem::invalid_field(
            "token",
            "the link is unknown, already used or expired",
        ))
    };
    let hash = auth::tokens::hash(&body.token).ok_or_else(refused)?;
    // One statement: the token is used up and the address verified together.
    let user_id: Option<Uuid> = sqlx::query_scalar(
        "with used as (
             update email_tokens set used_at = now()
              where token_hash = $1 and purpose = 'verify_email'
                and used_at is null and expires_at > now()
             returning user_id)
         update users u set email_verified_at = coalesce(u.email_verified_at, now())
           from used where u.user_id = used.user_id
         returning u.user_id",
    )
    .bind(&hash)
    .fetch_optional(&state.ctx.pool)
    .await?;
    let user_id = user_id.ok_or_else(refused)?;
    let body = Verified {
        status: VerifyStatus::EmailVerified,
        user_id,
    };
    Ok(axum::Json(body).into_response())
}
