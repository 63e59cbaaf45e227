//! The demo sign-in: `GET /login` lists demo shoppers, and
//! `POST /v1/demo/login` mints a token for one (JSON; off in production).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::html;
use problem::{ApiJson, Problem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::shell;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::schema::Role;

/// The demo sign-in page.
///
/// Lists up to 20 of the demo catalog's shoppers (never the admin);
/// choosing one signs in on this browser through `POST /v1/demo/login`.
#[utoipa::path(get, path = "/login", tag = "pages",
    responses((status = 200, description = "The page.", content_type = "text/html", body = String)))]
pub async fn login_page(State(state): State<AppState>) -> Response {
    let users: Vec<(String, String)> = sqlx::query_as(
        "select email, role from users
          where email like '%@demo.ticketing.test' and role = 'user' and disabled_at is null
          order by email limit 20",
    )
    .fetch_all(&state.ctx.pool)
    .await
    .unwrap_or_default();
    shell(
        "Sign in",
        html! {
            h1 { "Demo sign-in" }
            p { "Pick a demo shopper. This signs you in on this browser only; the token is kept in local storage." }
            ul #demo-users {
                @for (email, role) in &users {
                    li { button.demo-user type="button" data-email=(email) { (email) " (" (role) ")" } }
                }
            }
            @if users.is_empty() { p { "No demo users: run " code { "ticketctl seed" } "." } }
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

/// A demo user's token.
#[derive(Debug, Serialize, ToSchema)]
pub struct DemoToken {
    /// A bearer token, valid for 12 hours.
    token: String,
    email: String,
    #[schema(value_type = Role)]
    role: &'static str,
    user_id: Uuid,
}

/// Demo sign-in (development only).
///
/// A token for one of the demo catalog's users (`@demo.ticketing.test`),
/// for trying the pages by hand. 404 when `APP_ENV=production`.
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
    let token = state
        .ctx
        .jwt
        .mint(user_id, role, Utc::now(), chrono::Duration::hours(12))
        .map_err(|e| {
            tracing::error!(error = %e, "demo login: could not mint a token");
            Problem::internal()
        })?;
    let mut response = axum::Json(DemoToken {
        token,
        email: body.email,
        role: role.as_str(),
        user_id,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
