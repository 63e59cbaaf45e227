//! The sign-in page (`GET /login`: email and password, and in development
//! the demo shoppers), and `POST /v1/demo/login`, which signs in as one of
//! them (JSON; off in production).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use problem::{ApiJson, Problem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::shell;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::schema::Role;

/// The sign-in page.
///
/// Email and password, signing in on this browser through
/// `POST /v1/web/sessions` (the session goes into an `HttpOnly` cookie,
/// never into script-readable storage). In development it also lists up
/// to six of the demo catalog's shoppers (never an admin): one click signs
/// in as one through `POST /v1/demo/login`.
#[utoipa::path(get, path = "/login", tag = "pages",
    responses((status = 200, description = "The page.", content_type = "text/html", body = String)))]
pub async fn login_page(State(state): State<AppState>) -> Response {
    let users: Vec<String> = if state.production {
        Vec::new()
    } else {
        sqlx::query_scalar(
            "select email from users
              where email like '%@demo.ticketing.test' and role = 'user' and disabled_at is null
              order by email limit 6",
        )
        .fetch_all(&state.ctx.pool)
        .await
        .unwrap_or_default()
    };
    shell(
        "Sign in",
        html! {
            h1 { "Sign in" }
            form #signin-form.account-form novalidate {
                label for="email" { "Email address" }
                input #email type="email" name="email" autocomplete="username" required
                    aria-describedby="email-error";
                p #email-error.field-error {}
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password"
                    required aria-describedby="password-error";
                p #password-error.field-error {}
                div #totp-field hidden {
                    label for="totp_code" { "Authentication code" }
                    p.hint #totp_code-hint { "The 6-digit code your authenticator app shows for Ticketing." }
                    input #totp_code type="text" name="totp_code" inputmode="numeric"
                        autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6"
                        aria-describedby="totp_code-hint totp_code-error";
                    p #totp_code-error.field-error {}
                }
                button #signin-submit type="submit" { "Sign in" }
                p #form-error.form-error role="alert" {}
            }
            p { a href="/forgot-password" { "Forgot your password?" } }
            p { "New here? " a href="/signup" { "Create an account" } }
            @if !state.production {
                section #demo aria-labelledby="demo-title" {
                    h2 #demo-title { "Try as a demo shopper" }
                    p { "Development only: one click signs in as a shopper of the demo catalog." }
                    ul #demo-users {
                        @for email in &users {
                            li { button.demo-user type="button" data-email=(email) { (email) } }
                        }
                    }
                    @if users.is_empty() { p { "No demo shoppers: run " code { "ticketctl seed" } "." } }
                }
            }
        },
    )
}

/// `POST /v1/demo/login`'s body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DemoLogin {
    /// A demo user's address (`@demo.ticketing.test`).
    #[schema(example = "user01@demo.ticketing.test")]
    email: String,
}

/// A demo user's session.
#[derive(Debug, Serialize, ToSchema)]
pub struct DemoToken {
    /// A bearer token of the new session (`AUTH_SESSION_TTL_SECS`); the
    /// same session is in the `Set-Cookie` session cookie.
    token: String,
    email: String,
    #[schema(value_type = Role)]
    role: &'static str,
    user_id: Uuid,
}

/// Demo sign-in (development only).
///
/// Starts a session for one of the demo catalog's shoppers
/// (`@demo.ticketing.test`; never an admin), for trying the pages by
/// hand: the session cookie, and its token for JSON clients. 404 when
/// `APP_ENV=production`.
#[utoipa::path(post, path = "/v1/demo/login", tag = "pages",
    request_body = DemoLogin,
    responses(
        (status = 200, description = "The token.", body = DemoToken),
        ApiJson<DemoLogin>, ApiError,
    ))]
pub async fn demo_login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DemoLogin>,
) -> ApiResult<Response> {
    if state.production {
        return Err(Problem::not_found("no such route").into());
    }
    if !body.email.ends_with("@demo.ticketing.test") {
        return Err(Problem::invalid_field("email", "not a demo user").into());
    }
    // Any failure of the user store is a 503 here, whatever its kind.
    let user: Option<(Uuid, String)> =
        // Shoppers only: the demo sign-in never gives an admin token.
        sqlx::query_as(
            "select user_id, role from users
              where email = $1 and role = 'user' and disabled_at is null",
        )
            .bind(&body.email)
            .fetch_optional(&state.ctx.pool)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "demo login: the user store is unavailable");
                Problem::unavailable("the user store is unavailable")
            })?;
    let Some((user_id, role)) = user else {
        return Err(Problem::invalid_field("email", "no such demo shopper").into());
    };
    let role: auth::Role = role.parse().map_err(|e: String| {
        tracing::error!(error = %e, "demo login: a stored role does not parse");
        Problem::internal()
    })?;
    let (token, cookie) = crate::accounts::web::start(&state, user_id, role, false).await?;
    let mut response = axum::Json(DemoToken {
        token,
        email: body.email,
        role: role.as_str(),
        user_id,
    })
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::SET_COOKIE, cookie);
    Ok(response)
}
