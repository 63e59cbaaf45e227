//! The demo sign-in: `GET /login` lists demo shoppers, and
//! `POST /v1/demo/login` mints a token for one (JSON; off in production).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::html;
use problem::{ApiJson, Problem};

use super::shell;
use crate::AppState;
use crate::error::ApiResult;

/// `GET /login`.
pub async fn login_page(State(state): State<AppState>) -> Response {
    let users: Vec<(String, String)> = sqlx::query_as(
        "select email, role from users where email like '%@demo.ticketing.test'
          order by role desc, email limit 20",
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
#[derive(Debug, serde::Deserialize)]
pub struct DemoLogin {
    email: String,
}

/// `POST /v1/demo/login`: a token for a demo user (development only).
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
    let user: Option<(uuid::Uuid, String)> =
        sqlx::query_as("select user_id, role from users where email = $1")
            .bind(&body.email)
            .fetch_optional(&state.ctx.pool)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "demo login: the user store is unavailable");
                Problem::unavailable("the user store is unavailable")
            })?;
    let Some((user_id, role)) = user else {
        return Err(Problem::invalid_field("email", "no such demo user").into());
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
    let mut response = axum::Json(serde_json::json!({
        "token": token, "email": body.email, "role": role.as_str(), "user_id": user_id,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
