//! Performer writes: `POST /v1/performers` and `PATCH /v1/performers/{id}`.
//! Admin only (see [`crate::admin`]).

use auth::CatalogAdmin;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use problem::{ApiJson, Problem};
use serde_json::Value;
use sqlx::PgConnection;
use utoipa::ToSchema;

use super::input::{NewPerformer, PerformerPatch};
use crate::AppState;
use crate::admin::{created, ok};
use crate::error::{ApiError, ApiResult};
use crate::ids::PerformerId;

// The database builds this body (`to_jsonb`); the type names its members
// for the API description, and a test checks them against the table.
/// A performer as the admin writes answer it: the stored row.
#[derive(Debug, ToSchema)]
pub struct StoredPerformer {
    pub performer_id: i64,
    pub name: String,
    pub genre: String,
    pub description: String,
    #[schema(format = "uri")]
    pub image_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

async fn performer_view(conn: &mut PgConnection, id: i64) -> ApiResult<Option<Value>> {
    Ok(
        sqlx::query_scalar("select to_jsonb(p) from performers p where performer_id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Create a performer.
#[utoipa::path(post, path = "/v1/performers", tag = "performers",
    security(("bearer" = [])),
    request_body = NewPerformer,
    responses(
        (status = 201, description = "Created; `Location` names the performer.",
            body = StoredPerformer,
            headers(("Location" = String, description = "The performer's URL."))),
        CatalogAdmin, ApiJson<NewPerformer>, ApiError,
    ))]
pub async fn create_performer(
    State(state): State<AppState>,
    _admin: CatalogAdmin,
    ApiJson(body): ApiJson<NewPerformer>,
) -> ApiResult<Response> {
    body.validate()?;
    let mut conn = state.ctx.pool.acquire().await?;
    let id: i64 = sqlx::query_scalar(
        "insert into performers (name, genre, description, image_url)
         values ($1, $2, $3, $4) returning performer_id",
    )
    .bind(&body.name)
    .bind(&body.genre)
    .bind(&body.description)
    .bind(&body.image_url)
    .fetch_one(&mut *conn)
    .await?;
    let view = performer_view(&mut conn, id).await?.unwrap_or_default();
    Ok(created(&format!("/v1/performers/{id}"), &view))
}

/// Change a performer.
///
/// The fields present replace the stored ones; `image_url: null` removes
/// the picture.
#[utoipa::path(patch, path = "/v1/performers/{id}", tag = "performers",
    security(("bearer" = [])),
    params(PerformerId),
    request_body = PerformerPatch,
    responses(
        (status = 200, description = "The changed performer.", body = StoredPerformer),
        CatalogAdmin, PerformerId, ApiJson<PerformerPatch>, ApiError,
    ))]
pub async fn update_performer(
    State(state): State<AppState>,
    _admin: CatalogAdmin,
    PerformerId(id): PerformerId,
    ApiJson(patch): ApiJson<PerformerPatch>,
) -> ApiResult<Response> {
    patch.validate()?;
    let mut conn = state.ctx.pool.acquire().await?;
    let view: Option<Value> = sqlx::query_scalar(
        "update performers p set name = coalesce($2, name), genre = coalesce($3, genre),
                description = coalesce($4, description),
                image_url = case when $6 then $5 else image_url end
          where performer_id = $1
         returning to_jsonb(p)",
    )
    .bind(id)
    .bind(&patch.name)
    .bind(&patch.genre)
    .bind(&patch.description)
    .bind(patch.image_url.clone().flatten())
    .bind(patch.image_url.is_some())
    .fetch_optional(&mut *conn)
    .await?;
    let view = view.ok_or_else(|| Problem::not_found(format!("no performer {id}")))?;
    Ok(ok(&view))
}
