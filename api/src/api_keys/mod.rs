//! API keys for integrations, managed by admins:
//! `POST /v1/admin/api-keys` (create), `GET /v1/admin/api-keys` (list) and
//! `DELETE /v1/admin/api-keys/{key_id}` (revoke).
//!
//! Invariants (see [`auth::api_keys`], which checks presented keys):
//!
//! - **Hashed only.** A key is `tk_` and 32 random bytes in base64url;
//!   only their SHA-256 is stored (`api_keys.key_hash`).
//! - **Shown once.** The key is in the create answer (`no-store`) and
//!   nowhere else: the list, the audit log and the logs never carry it.
//! - **Scopes.** `catalog:write` opens the admin catalog writes
//!   ([`auth::CatalogAdmin`]); `catalog:read` is an authenticated read
//!   identity (the rate limiter counts the key, not the address). A key
//!   opens nothing else: these routes take an [`auth::AdminUser`], which
//!   refuses every key, so keys are made and revoked by people only.
//! - **Revoked, never deleted.** A revoke is idempotent (204 each time);
//!   this instance forgets the key at once, others within
//!   `AUTH_USER_CACHE_MS`. A key also stops working when its creator is
//!   disabled or no longer an admin.
//!
//! Being writes under `/v1/admin`, the create and the revoke are in the
//! admin audit log ([`crate::audit`]).

pub mod input;

use auth::AdminUser;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use problem::{ApiJson, Problem};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use self::input::NewApiKey;
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// The path parameter's name, and the field its 400 names.
const FIELD: &str = "key_id";

/// The `{key_id}` of an API key route: a UUID, checked before any
/// database work (400 naming `key_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::IntoParams)]
#[into_params(names("key_id"), parameter_in = Path)]
pub struct KeyId(
    /// The key's id.
    #[param(format = Uuid)]
    pub Uuid,
);

impl<S: Send + Sync> FromRequestParts<S> for KeyId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(raw)) => raw,
            Err(rejection) if rejection.status().is_client_error() => {
                return Err(Problem::invalid_field(
                    FIELD,
                    "the key id is not valid UTF-8 once percent-decoded",
                ));
            }
            Err(rejection) => {
                tracing::error!(
                    error = %rejection.body_text(),
                    "KeyId on a route without exactly one path parameter"
                );
                return Err(Problem::internal());
            }
        };
        Uuid::parse_str(&raw).map(Self).map_err(|_| {
            Problem::invalid_field(FIELD, format!("{raw:?} is not an API key id (a UUID)"))
        })
    }
}

/// A key as the list shows it: everything but the secret, which is not
/// stored.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct StoredApiKey {
    pub key_id: Uuid,
    pub name: String,
    #[schema(value_type = Vec<crate::schema::ApiKeyScope>)]
    pub scopes: Vec<String>,
    /// The admin who created it.
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked key is refused everywhere.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it last authenticated a request, to the minute (it is written
    /// at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// `GET /v1/admin/api-keys`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Every key, live and revoked, newest first.
    pub api_keys: Vec<StoredApiKey>,
}

/// `POST /v1/admin/api-keys`'s answer: the only time `key` is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub key_id: Uuid,
    pub name: String,
    #[schema(value_type = Vec<crate::schema::ApiKeyScope>)]
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// The key: `tk_` and 43 base64url characters. Send it as
    /// `Authorization: Bearer tk_...`. It is not stored and cannot be shown
    /// again; lose it and make another.
    #[schema(example = "tk_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    pub key: String,
}

/// The API key routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Create an API key.
///
/// For an integration: the answer holds the key (`tk_...`), which is shown
/// this once and never stored (only its SHA-256 is). `catalog:write` lets it
/// make the admin catalog writes; `catalog:read` makes it a read identity
/// that the rate limiter counts on its own. Only an admin's sign-in may
/// create one, never another key.
#[utoipa::path(post, path = "/v1/admin/api-keys", tag = "api_keys",
    security(("bearer" = [])),
    request_body = NewApiKey,
    responses(
        (status = 201, description = "Created; `key` is shown this once. `no-store`.",
            body = CreatedApiKey),
        AdminUser, ApiJson<NewApiKey>, ApiError,
    ))]
pub async fn create_api_key(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(body): ApiJson<NewApiKey>,
) -> ApiResult<Response> {
    let scopes: Vec<&str> = body.validate()?.into_iter().map(|s| s.as_str()).collect();
    let new = auth::api_keys::generate();
    let (key_id, created_at): (Uuid, DateTime<Utc>) = sqlx::query_as(
        "insert into api_keys (name, scopes, key_hash, created_by)
         values ($1, $2, $3, $4) returning key_id, created_at",
    )
    .bind(&body.name)
    .bind(&scopes)
    .bind(&new.hash)
    .bind(admin.sub)
    .fetch_one(&state.ctx.pool)
    .await?;
    let answer = CreatedApiKey {
        key_id,
        name: body.name,
        scopes: scopes.into_iter().map(str::to_owned).collect(),
        created_at,
        key: new.key,
    };
    Ok(no_store(
        (StatusCode::CREATED, axum::Json(answer)).into_response(),
    ))
}

/// List the API keys.
///
/// Every key, live and revoked, newest first, without secrets: they are not
/// stored.
#[utoipa::path(get, path = "/v1/admin/api-keys", tag = "api_keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The keys. `no-store`.", body = ApiKeyList),
        AdminUser, ApiError,
    ))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<Response> {
    let api_keys: Vec<StoredApiKey> = sqlx::query_as(
        "select key_id, name, scopes, created_by, created_at, revoked_at, last_used_at
           from api_keys order by created_at desc, key_id",
    )
    .fetch_all(&state.ctx.pool)
    .await?;
    Ok(no_store(
        (StatusCode::OK, axum::Json(ApiKeyList { api_keys })).into_response(),
    ))
}

/// Revoke an API key.
///
/// From then on the key is refused (401) on every route: at once on this
/// instance, within `AUTH_USER_CACHE_MS` elsewhere. Idempotent: revoking a
/// revoked key answers 204 again and keeps the first revocation's time. 404
/// for an unknown key.
#[utoipa::path(delete, path = "/v1/admin/api-keys/{key_id}", tag = "api_keys",
    security(("bearer" = [])),
    params(KeyId),
    responses(
        (status = 204, description = "Revoked. `no-store`."),
        AdminUser, ApiError,
    ))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    _admin: AdminUser,
    KeyId(key_id): KeyId,
) -> ApiResult<Response> {
    let found: Option<Uuid> = sqlx::query_scalar(
        "with revoked as (
             update api_keys set revoked_at = now()
              where key_id = $1 and revoked_at is null returning key_id)
         select key_id from api_keys where key_id = $1",
    )
    .bind(key_id)
    .fetch_optional(&state.ctx.pool)
    .await?;
    found.ok_or_else(|| Problem::not_found(format!("no API key {key_id}")).with_field(FIELD))?;
    state.ctx.api_keys.forget(key_id);
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}
