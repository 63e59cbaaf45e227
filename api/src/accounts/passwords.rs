//! Passwords: change (`POST /v1/account/password`), and reset by email
//! (`POST /v1/password-resets`, then `POST /v1/password-resets/complete`
//! with the link's token).
//!
//! Either way the new password must meet the sign-up policy, and once it is
//! stored every session of the user ends (`auth::sessions::revoke_all`, and
//! this instance forgets what it cached about the user; other instances and
//! booking refuse the sessions' tokens within `AUTH_USER_CACHE_MS`). Every
//! reset link of the user still unused stops working too.
//!
//! A reset request never says whether the address is registered: the answer
//! is the same 202 after the same work (checking the address's shape),
//! and the lookup, the token and the mail happen on a spawned task, off
//! the request. A registered, enabled account gets a link valid
//! `AUTH_RESET_TTL_SECS`, once; an unknown address gets nothing. Completing
//! a reset also verifies the address, since the mail reached it. Both
//! reset routes are under the `password_reset` limit; the change, which
//! checks the current password, under `sign_in`.

use auth::AuthUser;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use problem::{ApiJson, Problem};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{self, ChangePassword, CompletePasswordReset, RequestPasswordReset};
use super::mails;
use super::sessions::signed_out;
use super::signup::hashing_failed;
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// What a reset request answers, registered address or not.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PasswordResetStatus {
    /// If the address has an account, its owner gets a reset link by mail.
    CheckYourEmail,
}

/// `POST /v1/password-resets`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordResetRequested {
    pub status: PasswordResetStatus,
}

/// The change's refusals, for the API description.
#[derive(Debug)]
pub struct ChangeRefused;

impl utoipa::IntoResponses for ChangeRefused {
    fn responses() -> problem::openapi::Responses {
        problem::openapi::responses(&[(
            401,
            "No bearer token (or session cookie), one that does not verify or has expired, or \
             one whose user does not exist or is disabled; or `invalid_credentials` naming \
             `current_password`: the current password is wrong.",
        )])
    }
}

/// 401 `invalid_credentials` naming `current_password`.
fn wrong_current_password() -> ApiError {
    Problem::new(StatusCode::UNAUTHORIZED, "invalid_credentials")
        .with_field("current_password")
        .with_detail("the current password is wrong")
        .into()
}

/// 400 naming `token`: unknown, used, expired, or its account is disabled.
fn refused_token() -> ApiError {
    Problem::invalid_field("token", "the link is unknown, already used or expired").into()
}

/// Ends every session of `user_id`, on this instance at once.
async fn end_every_session(state: &AppState, user_id: Uuid) -> ApiResult<()> {
    auth::sessions::revoke_all(&state.ctx.pool, user_id).await?;
    state.ctx.users.forget_user(user_id);
    Ok(())
}

/// Marks every unused reset link of `user_id` used.
async fn use_up_reset_links(tx: &mut sqlx::PgConnection, user_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update email_tokens set used_at = now()
          where user_id = $1 and purpose = 'reset_password' and used_at is null",
    )
    .bind(user_id)
    .execute(tx)
    .await?;
    Ok(())
}

/// Change the password.
///
/// Needs the current password (a wrong one is 401 `invalid_credentials`
/// naming `current_password`); the new one must have 12 to 128 characters
/// and not be common or easily guessed (400 naming `new_password`, with the
/// `rule` that failed). Then every session of the user ends, this one
/// included (the web session cookie is removed), and unused reset links
/// stop working: sign in again with the new password. Under the `sign_in`
/// limit, since it checks a password.
#[utoipa::path(post, path = "/v1/account/password", tag = "accounts",
    security(("bearer" = [])),
    request_body = ChangePassword,
    responses(
        (status = 204, description = "Changed; every session has ended. `no-store`."),
        AuthUser, ChangeRefused, ApiJson<ChangePassword>, ApiError,
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    ApiJson(body): ApiJson<ChangePassword>,
) -> ApiResult<Response> {
    let user_id = claims.sub;
    let user: Option<(Option<String>, String, String)> = sqlx::query_as(
        "select password_hash, email, display_name from users
          where user_id = $1 and disabled_at is null",
    )
    .bind(user_id)
    .fetch_optional(&state.ctx.pool)
    .await?;
    // No password stored (or no user): the dummy hash takes as long.
    let stored = user.as_ref().and_then(|u| u.0.clone());
    let matches = auth::password::verify(&body.current_password, stored.as_deref())
        .await
        .map_err(|e| hashing_failed(&e))?;
    let Some((_, email, name)) = user.filter(|_| matches) else {
        return Err(wrong_current_password());
    };
    input::policy("new_password", &body.new_password, &email, &name)?;
    let hash = auth::password::hash(&body.new_password)
        .await
        .map_err(|e| hashing_failed(&e))?;
    let mut tx = state.ctx.pool.begin().await?;
    // Only over the hash that was checked: of two changes racing, the
    // second finds its current password no longer current.
    let changed = sqlx::query(
        "update users set password_hash = $2
          where user_id = $1 and disabled_at is null and password_hash = $3",
    )
    .bind(user_id)
    .bind(&hash)
    .bind(stored.as_deref())
    .execute(&mut *tx)
    .await?;
    if changed.rows_affected() == 0 {
        tx.rollback().await?;
        return Err(wrong_current_password());
    }
    use_up_reset_links(&mut tx, user_id).await?;
    tx.commit().await?;
    end_every_session(&state, user_id).await?;
    Ok(signed_out(&state))
}

/// Ask for a password-reset link.
///
/// Always 202 with the same body, whether or not the address has an
/// account, so the answer never tells who is registered. A registered,
/// enabled account gets a mail with a link to
/// `{PUBLIC_URL}/reset-password?token=...`, which works once, for
/// `AUTH_RESET_TTL_SECS`; an unknown address gets nothing. An address that
/// is not one is 400 naming `email`. Under the `password_reset` limit per
/// client address; past the `reset_mail` limit per address asked about
/// (3 an hour), the answer is the same but no mail goes out, so a flood
/// from many addresses cannot fill someone's mailbox.
#[utoipa::path(post, path = "/v1/password-resets", tag = "accounts",
    request_body = RequestPasswordReset,
    responses(
        (status = 202, description = "Accepted; check the mailbox. `no-store`.",
            body = PasswordResetRequested),
        ApiJson<RequestPasswordReset>, ApiError,
    ))]
pub async fn request_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RequestPasswordReset>,
) -> ApiResult<Response> {
    let email = input::normalize_email(&body.email);
    let address = input::email(&email)?;
    // Known or not, every address is counted the same way.
    if super::per_account(&state, "reset_mail", &email)
        .await
        .is_some()
    {
        tracing::info!("a password-reset request over the per-address mail limit: no mail");
    } else {
        // Whether the address is known decides only what this task does,
        // after the answer: the request does the same work either way.
        tokio::spawn(async move {
            if let Err(e) = mail_reset_link(&state, &email, address).await {
                tracing::error!(error = %e, "could not issue a password-reset link");
            }
        });
    }
    let body = PasswordResetRequested {
        status: PasswordResetStatus::CheckYourEmail,
    };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// Issues a reset token for the enabled account of `email` (normalized)
/// and mails its link; nothing for an unknown or disabled address.
async fn mail_reset_link(
    state: &AppState,
    email: &str,
    address: lettre::Address,
) -> Result<(), sqlx::Error> {
    let token = auth::tokens::generate();
    let accounts = &state.accounts;
    let name: Option<String> = sqlx::query_scalar(
        "insert into email_tokens (token_hash, user_id, purpose, expires_at)
         select $2, user_id, 'reset_password', now() + make_interval(secs => $3)
           from users where lower(email) = $1 and disabled_at is null
         returning (select display_name from users where user_id = email_tokens.user_id)",
    )
    .bind(email)
    .bind(&token.hash)
    .bind(accounts.config.reset_ttl.as_secs_f64())
    .fetch_optional(&state.ctx.pool)
    .await?;
    if let Some(name) = name {
        let mail = mails::password_reset(
            &accounts.config.mail.public_url,
            &name,
            &token.secret,
            accounts.config.reset_ttl,
        );
        accounts.mailer.send_later(address, mail);
    }
    Ok(())
}

/// Set a new password with a reset link's token.
///
/// `token` is the one in the link: it works once, until it expires (an
/// unknown, used or expired token, or one whose account is disabled, is a
/// 400 naming `token`). The password must have 12 to 128 characters and
/// not be common or easily guessed (400 naming `password`, with the `rule`
/// that failed; the token stays usable). Then the address counts as
/// verified, every session of the user ends and every other reset link
/// stops working: sign in with the new password. Under the
/// `password_reset` limit.
#[utoipa::path(post, path = "/v1/password-resets/complete", tag = "accounts",
    request_body = CompletePasswordReset,
    responses(
        (status = 204, description = "The new password is set; every session has ended. \
            `no-store`."),
        ApiJson<CompletePasswordReset>, ApiError,
    ))]
pub async fn complete_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CompletePasswordReset>,
) -> ApiResult<Response> {
    let token_hash = auth::tokens::hash(&body.token).ok_or_else(refused_token)?;
    // Read first, without using the token up: the policy counts the user's
    // own details as guessable, and a refused password keeps the link.
    let found: Option<(Uuid, String, String)> = sqlx::query_as(
        "select u.user_id, u.email, u.display_name
           from email_tokens t join users u on u.user_id = t.user_id
          where t.token_hash = $1 and t.purpose = 'reset_password'
            and t.used_at is null and t.expires_at > now() and u.disabled_at is null",
    )
    .bind(&token_hash)
    .fetch_optional(&state.ctx.pool)
    .await?;
    let (user_id, email, name) = found.ok_or_else(refused_token)?;
    input::policy("password", &body.password, &email, &name)?;
    let hash = auth::password::hash(&body.password)
        .await
        .map_err(|e| hashing_failed(&e))?;
    let mut tx = state.ctx.pool.begin().await?;
    // The claim: of two requests racing with one token, the second waits
    // for the first's row lock, then finds it used.
    let claimed: Option<Uuid> = sqlx::query_scalar(
        "update email_tokens set used_at = now()
          where token_hash = $1 and purpose = 'reset_password'
            and used_at is null and expires_at > now()
         returning user_id",
    )
    .bind(&token_hash)
    .fetch_optional(&mut *tx)
    .await?;
    if claimed != Some(user_id) {
        tx.rollback().await?;
        return Err(refused_token());
    }
    let updated = sqlx::query(
        "update users set password_hash = $2,
                email_verified_at = coalesce(email_verified_at, now())
          where user_id = $1 and disabled_at is null",
    )
    .bind(user_id)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        tx.rollback().await?;
        return Err(refused_token());
    }
    use_up_reset_links(&mut tx, user_id).await?;
    tx.commit().await?;
    end_every_session(&state, user_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
