//! Admins' webhook endpoints: register, list, change, rotate secrets, read
//! the delivery log, replay.
//!
//! A secret is shown once, in the answer that made it; afterwards only its
//! sealed form exists (see [`super::sealing`]). A rotation adds a secret
//! and lets the old ones keep signing for a grace period, so receivers can
//! switch with no downtime: every delivery meanwhile carries one signature
//! per live secret.
//!
//! Replay sets an endpoint's deliveries of a range of events pending again
//! (and creates those the endpoint never had, for events of its types). It
//! keeps each event's `webhook-id`, as the specification says, so a
//! receiver that deduplicates will drop events it already processed:
//! replay is for receivers that lost them.

use auth::AdminUser;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::guard;
use crate::AppState;
use crate::error::BookingError;
use crate::extract::ApiJson;

/// The event types an endpoint can subscribe to.
pub const EVENT_TYPES: [&str; 5] = [
    "booking.created",
    "booking.confirmed",
    "booking.rejected",
    "booking.cancelled",
    "booking.expired",
];

/// A new endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// Where deliveries are POSTed: an absolute `https://` (or `http://`)
    /// URL, without credentials.
    #[schema(example = "https://hooks.example.com/ticketing", max_length = 2000)]
    pub url: String,
    /// What it is for.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
    /// The event types it receives; empty or absent means all.
    #[serde(default)]
    pub event_types: Vec<String>,
}

/// Changes to an endpoint; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    /// A new URL.
    pub url: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// New event types (empty means all).
    pub event_types: Option<Vec<String>>,
    /// `true` enables it again (after a 410, say: its pending deliveries
    /// resume); `false` pauses it.
    pub enabled: Option<bool>,
}

/// An endpoint, without its secrets.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Endpoint {
    /// Its id.
    pub endpoint_id: Uuid,
    /// Where deliveries go.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// Subscribed types; empty means all.
    pub event_types: Vec<String>,
    /// Whether deliveries are sent.
    pub enabled: bool,
    /// `gone` (it answered 410) or `admin`, when disabled.
    pub disabled_reason: Option<String>,
    /// When it was disabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Signing secrets still live (more than one during a rotation).
    pub live_secrets: i64,
    /// Deliveries waiting to be sent.
    pub pending: i64,
    /// Deliveries given up after retrying.
    pub failed: i64,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// An endpoint and its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointCreated {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// `whsec_...`: verify deliveries with it. It is not shown again.
    pub secret: String,
}

/// A rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// How long the current secrets keep signing (default 86,400 s; 0 ends
    /// them now).
    #[schema(minimum = 0, maximum = 2_592_000)]
    pub keep_old_for_seconds: Option<i64>,
}

/// A new secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretCreated {
    /// `whsec_...`.
    pub secret: String,
    /// When the secrets it replaces stop signing.
    pub old_secrets_expire_at: DateTime<Utc>,
}

/// A range of events to send again: from `since_id` or `since`, up to
/// `until_id` or `until` (inclusive) if given.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// The first event's id (the `webhook-id`).
    pub since_id: Option<i64>,
    /// Or the first event's time.
    pub since: Option<DateTime<Utc>>,
    /// The last event's id.
    pub until_id: Option<i64>,
    /// Or the last event's time.
    pub until: Option<DateTime<Utc>>,
}

/// What a replay queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// Deliveries set pending.
    pub queued: i64,
}

/// One attempt in the delivery log.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AttemptView {
    /// Its id, for paging (`before`).
    pub attempt_id: i64,
    /// The event (`webhook-id`).
    pub event_id: i64,
    /// The event's type.
    pub event_type: String,
    /// When it was made.
    pub attempted_at: DateTime<Utc>,
    /// How long it took.
    pub latency_ms: i32,
    /// The HTTP status, if one came back.
    pub status_code: Option<i16>,
    /// `delivered`, `retry`, `failed` or `gone`.
    pub outcome: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The delivery's state now: `pending`, `delivered` or `failed`.
    pub delivery_status: String,
}

/// The delivery log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptLog {
    /// Attempts.
    pub attempts: Vec<AttemptView>,
}

/// Endpoints, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    /// Endpoints.
    pub endpoints: Vec<Endpoint>,
}

/// Paging of the delivery log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// At most this many (1 to 500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Attempts older than this attempt id.
    pub before: Option<i64>,
}

/// The log's paging parameters, each refusal naming its parameter.
fn log_query(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<LogQuery, BookingError> {
    let Query(pairs) = query.map_err(|_| BookingError::invalid("query", "not a query string"))?;
    let mut parsed = LogQuery {
        limit: None,
        before: None,
    };
    for (name, value) in pairs {
        let number = |field: &'static str| {
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| BookingError::invalid(field, "must be a whole number"))
        };
        match name.as_str() {
            "limit" => parsed.limit = Some(number("limit")?),
            "before" => parsed.before = Some(number("before")?),
            other => {
                return Err(BookingError::invalid(
                    other.to_owned(),
                    "unknown parameter; use limit and before",
                ));
            }
        }
    }
    Ok(parsed)
}

fn endpoint_id(raw: &str) -> Result<Uuid, BookingError> {
    Uuid::parse_str(raw).map_err(|_| BookingError::invalid("id", "must be a UUID"))
}

fn check_url(state: &AppState, url: &str, field: &'static str) -> Result<String, BookingError> {
    let url = url.trim();
    let parsed = url::Url::parse(url)
        .map_err(|e| BookingError::invalid(field, format!("not an absolute URL: {e}")))?;
    // The stored (normalised, percent-encoded) form is what must fit.
    if parsed.as_str().len() > 2000 {
        return Err(BookingError::invalid(field, "at most 2000 characters"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(BookingError::invalid(
            field,
            "must not carry credentials: deliveries are signed",
        ));
    }
    if parsed.fragment().is_some() {
        return Err(BookingError::invalid(field, "must not have a #fragment"));
    }
    guard::check_url(&state.notify.policy, &parsed)
        .map_err(|refused| BookingError::invalid(field, format!("refused: {refused}")))?;
    Ok(parsed.to_string())
}

fn check_types(types: Vec<String>, field: &'static str) -> Result<Vec<String>, BookingError> {
    for (i, t) in types.iter().enumerate() {
        if !EVENT_TYPES.contains(&t.as_str()) {
            return Err(BookingError::invalid(
                format!("{field}[{i}]"),
                format!(
                    "unknown event type {t:?}; one of {}",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
    }
    let mut types = types;
    types.sort();
    types.dedup();
    Ok(types)
}

fn check_description(text: &str, field: &'static str) -> Result<(), BookingError> {
    if text.chars().count() > 500 {
        return Err(BookingError::invalid(field, "at most 500 characters"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(BookingError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A replay bound: an instant Postgres can store, and not before 1970.
fn check_instant(at: Option<DateTime<Utc>>, field: &'static str) -> Result<(), BookingError> {
    use chrono::Datelike;
    match at {
        Some(at) if !(1970..=9999).contains(&at.year()) => Err(BookingError::invalid(
            field,
            "must be a time between 1970 and 9999",
        )),
        _ => Ok(()),
    }
}

/// Events one replay may queue.
const REPLAY_MAX: i64 = 100_000;

const ENDPOINT_VIEW: &str = "select e.endpoint_id, e.url, e.description, e.event_types, e.enabled,
        e.disabled_reason, e.disabled_at, e.created_at,
        (select count(*) from webhook_secrets s where s.endpoint_id = e.endpoint_id
            and (s.expires_at is null or s.expires_at > now())) as live_secrets,
        (select count(*) from webhook_deliveries d where d.endpoint_id = e.endpoint_id
            and d.status = 'pending') as pending,
        (select count(*) from webhook_deliveries d where d.endpoint_id = e.endpoint_id
            and d.status = 'failed') as failed
   from webhook_endpoints e";

async fn load(state: &AppState, id: Uuid) -> Result<Endpoint, BookingError> {
    sqlx::query_as(&format!("{ENDPOINT_VIEW} where e.endpoint_id = $1"))
        .bind(id)
        .fetch_optional(&state.ctx.pool)
        .await?
        .ok_or_else(|| BookingError::NotFound(format!("webhook endpoint {id}")))
}

fn secrets_key(state: &AppState) -> Result<&super::sealing::SecretsKey, BookingError> {
    state.notify.secrets_key.as_deref().ok_or_else(|| {
        BookingError::Unavailable(
            "webhooks are off: WEBHOOK_SECRETS_KEY is not set on this service".into(),
        )
    })
}

fn sealing(e: super::sealing::SealError) -> BookingError {
    tracing::error!(error = %e, "sealing a webhook secret failed");
    BookingError::Unavailable("could not seal a new secret".into())
}

/// Register a webhook endpoint.
///
/// The answer carries its signing secret (`whsec_...`) this once.
/// Deliveries follow Standard Webhooks v1: headers `webhook-id` (the
/// event's id: deduplicate on it), `webhook-timestamp` and
/// `webhook-signature`; the body is `{"type", "timestamp", "data"}`.
#[utoipa::path(post, path = "/v1/admin/webhook-endpoints", tag = "webhooks",
    security(("bearer" = [])),
    request_body = NewEndpoint,
    responses((status = 201, description = "Registered; the secret is shown this once.", body = EndpointCreated),
        BookingError, AdminUser, ApiJson<NewEndpoint>))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(body): ApiJson<NewEndpoint>,
) -> Result<(StatusCode, Json<EndpointCreated>), BookingError> {
    let key = secrets_key(&state)?;
    let url = check_url(&state, &body.url, "url")?;
    check_description(&body.description, "description")?;
    let types = check_types(body.event_types, "event_types")?;
    let id = Uuid::new_v4();
    let (secret, sealed) = key.generate(id).map_err(sealing)?;
    let mut tx = state.ctx.pool.begin().await?;
    sqlx::query(
        "insert into webhook_endpoints (endpoint_id, url, description, event_types, created_by)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(&url)
    .bind(body.description.trim())
    .bind(&types)
    .bind(admin.sub)
    .execute(&mut *tx)
    .await?;
    sqlx::query("insert into webhook_secrets (endpoint_id, sealed) values ($1, $2)")
        .bind(id)
        .bind(&sealed)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(endpoint = %id, admin = %admin.sub, "webhook endpoint registered");
    Ok((
        StatusCode::CREATED,
        Json(EndpointCreated {
            endpoint: load(&state, id).await?,
            secret: secret.to_text(),
        }),
    ))
}

/// The webhook endpoints.
#[utoipa::path(get, path = "/v1/admin/webhook-endpoints", tag = "webhooks",
    security(("bearer" = [])),
    responses((status = 200, description = "Every endpoint, newest first.", body = EndpointList),
        BookingError, AdminUser))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
) -> Result<Json<EndpointList>, BookingError> {
    let endpoints = sqlx::query_as(&format!("{ENDPOINT_VIEW} order by e.created_at desc"))
        .fetch_all(&state.ctx.pool)
        .await?;
    Ok(Json(EndpointList { endpoints }))
}

/// One webhook endpoint.
#[utoipa::path(get, path = "/v1/admin/webhook-endpoints/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint id.")),
    responses((status = 200, description = "The endpoint.", body = Endpoint), BookingError, AdminUser))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Endpoint>, BookingError> {
    Ok(Json(load(&state, endpoint_id(&id)?).await?))
}

/// Change a webhook endpoint, or enable it again.
#[utoipa::path(patch, path = "/v1/admin/webhook-endpoints/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint id.")),
    request_body = EndpointChange,
    responses((status = 200, description = "The endpoint as changed.", body = Endpoint),
        BookingError, AdminUser, ApiJson<EndpointChange>))]
pub async fn update_endpoint(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EndpointChange>,
) -> Result<Json<Endpoint>, BookingError> {
    let id = endpoint_id(&id)?;
    let url = body.url.map(|u| check_url(&state, &u, "url")).transpose()?;
    if let Some(d) = &body.description {
        check_description(d, "description")?;
    }
    let types = body
        .event_types
        .map(|t| check_types(t, "event_types"))
        .transpose()?;
    let mut tx = state.ctx.pool.begin().await?;
    let changed: Option<(bool, bool)> = sqlx::query_as(
        "with old as (select enabled from webhook_endpoints where endpoint_id = $1),
              new as (
                  update webhook_endpoints set
                      url = coalesce($2, url),
                      description = coalesce($3, description),
                      event_types = coalesce($4, event_types),
                      enabled = coalesce($5, enabled),
                      disabled_reason = case when coalesce($5, enabled) then null
                                             when $5 = false then 'admin' else disabled_reason end,
                      disabled_at = case when coalesce($5, enabled) then null
                                         when $5 = false and enabled then now() else disabled_at end
                   where endpoint_id = $1
                  returning enabled)
         select old.enabled, new.enabled from old, new",
    )
    .bind(id)
    .bind(url)
    .bind(body.description.as_deref().map(str::trim))
    .bind(types)
    .bind(body.enabled)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((was, now)) = changed else {
        return Err(BookingError::NotFound(format!("webhook endpoint {id}")));
    };
    if was != now {
        // Enabled: its pending events are due now, with a fresh retry
        // window. Paused: out of the claim's range until then.
        sqlx::query(
            "update webhook_deliveries
                set next_attempt_at = case when $2 then now() else 'infinity' end,
                    retry_from = case when $2 then now() else retry_from end
              where endpoint_id = $1 and status = 'pending'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Json(load(&state, id).await?))
}

/// Remove a webhook endpoint, its secrets and its delivery log.
#[utoipa::path(delete, path = "/v1/admin/webhook-endpoints/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint id.")),
    responses((status = 204, description = "Removed."), BookingError, AdminUser))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
) -> Result<StatusCode, BookingError> {
    let id = endpoint_id(&id)?;
    let removed = sqlx::query("delete from webhook_endpoints where endpoint_id = $1")
        .bind(id)
        .execute(&state.ctx.pool)
        .await?;
    if removed.rows_affected() == 0 {
        return Err(BookingError::NotFound(format!("webhook endpoint {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate an endpoint's signing secret.
///
/// The new secret signs from now on; the current ones keep signing too
/// until `old_secrets_expire_at`, so a receiver can switch at its pace.
#[utoipa::path(post, path = "/v1/admin/webhook-endpoints/{id}/secrets", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint id.")),
    request_body = Rotation,
    responses((status = 201, description = "The new secret, shown this once.", body = SecretCreated),
        BookingError, AdminUser, ApiJson<Rotation>))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Rotation>,
) -> Result<(StatusCode, Json<SecretCreated>), BookingError> {
    let key = secrets_key(&state)?;
    let id = endpoint_id(&id)?;
    let keep = body.keep_old_for_seconds.unwrap_or(86_400);
    if !(0..=2_592_000).contains(&keep) {
        return Err(BookingError::invalid(
            "keep_old_for_seconds",
            "must be 0 to 2,592,000 (30 days)",
        ));
    }
    let (secret, sealed) = key.generate(id).map_err(sealing)?;
    let mut tx = state.ctx.pool.begin().await?;
    let expires: Option<DateTime<Utc>> = sqlx::query_scalar(
        "with endpoint as (select endpoint_id from webhook_endpoints where endpoint_id = $1 for update),
              ended as (
                  update webhook_secrets s set expires_at = least(coalesce(s.expires_at, 'infinity'),
                                                                  now() + make_interval(secs => $2))
                    from endpoint where s.endpoint_id = endpoint.endpoint_id
                     and (s.expires_at is null or s.expires_at > now()))
         select now() + make_interval(secs => $2) from endpoint",
    )
    .bind(id)
    .bind(keep as f64)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(old_secrets_expire_at) = expires else {
        return Err(BookingError::NotFound(format!("webhook endpoint {id}")));
    };
    sqlx::query("insert into webhook_secrets (endpoint_id, sealed) values ($1, $2)")
        .bind(id)
        .bind(&sealed)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(SecretCreated {
            secret: secret.to_text(),
            old_secrets_expire_at,
        }),
    ))
}

/// The delivery log: each attempt's outcome, status code and latency.
#[utoipa::path(get, path = "/v1/admin/webhook-endpoints/{id}/attempts", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint id."), LogQuery),
    responses((status = 200, description = "Attempts, newest first.", body = AttemptLog),
        BookingError, AdminUser))]
pub async fn list_attempts(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<AttemptLog>, BookingError> {
    let id = endpoint_id(&id)?;
    let query = log_query(query)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(BookingError::invalid("limit", "must be 1 to 500"));
    }
    load(&state, id).await?;
    let attempts = sqlx::query_as(
        "select a.attempt_id, a.outbox_id as event_id, o.event_type, a.attempted_at, a.latency_ms,
                a.status_code, a.outcome, a.error, d.status as delivery_status
           from webhook_attempts a
           join webhook_deliveries d on d.delivery_id = a.delivery_id
           join outbox o on o.outbox_id = a.outbox_id
          where a.endpoint_id = $1 and ($2::bigint is null or a.attempt_id < $2)
          order by a.attempt_id desc limit $3",
    )
    .bind(id)
    .bind(query.before)
    .bind(limit)
    .fetch_all(&state.ctx.pool)
    .await?;
    Ok(Json(AttemptLog { attempts }))
}

/// Send a range of events to an endpoint again.
///
/// Each keeps its `webhook-id`, so a receiver that deduplicates drops the
/// ones it has; events of the endpoint's types it never had are sent too.
#[utoipa::path(post, path = "/v1/admin/webhook-endpoints/{id}/replay", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint id.")),
    request_body = Replay,
    responses((status = 202, description = "Queued.", body = Replayed),
        BookingError, AdminUser, ApiJson<Replay>))]
pub async fn replay(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Replay>,
) -> Result<(StatusCode, Json<Replayed>), BookingError> {
    let id = endpoint_id(&id)?;
    if body.since_id.is_none() && body.since.is_none() {
        return Err(BookingError::invalid("since_id", "give since_id or since"));
    }
    if body.since_id.is_some() && body.since.is_some() {
        return Err(BookingError::invalid(
            "since",
            "give since_id or since, not both",
        ));
    }
    if body.until_id.is_some() && body.until.is_some() {
        return Err(BookingError::invalid(
            "until",
            "give until_id or until, not both",
        ));
    }
    check_instant(body.since, "since")?;
    check_instant(body.until, "until")?;
    load(&state, id).await?;
    let mut tx = state.ctx.pool.begin().await?;
    // Exclusive against the dispatcher and finishing lanes while readiness
    // is decided again (see `notify::dispatch`).
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(super::dispatch::ORDER_LOCK)
        .execute(&mut *tx)
        .await?;
    let range: i64 = sqlx::query_scalar(
        "select count(*) from outbox o, webhook_endpoints e
          where e.endpoint_id = $1
            and (cardinality(e.event_types) = 0 or o.event_type = any(e.event_types))
            and o.dispatched_at is not null
            and ($2::bigint is null or o.outbox_id >= $2)
            and ($3::timestamptz is null or o.created_at >= $3)
            and ($4::bigint is null or o.outbox_id <= $4)
            and ($5::timestamptz is null or o.created_at <= $5)",
    )
    .bind(id)
    .bind(body.since_id)
    .bind(body.since)
    .bind(body.until_id)
    .bind(body.until)
    .fetch_one(&mut *tx)
    .await?;
    if range > REPLAY_MAX {
        return Err(BookingError::invalid(
            if body.until_id.is_some() {
                "until_id"
            } else {
                "until"
            },
            format!("the range holds {range} events; replay at most {REPLAY_MAX} at a time"),
        ));
    }
    let bookings: Vec<String> = sqlx::query_scalar(
        "with wanted as (
             select o.outbox_id, o.aggregate_id
               from outbox o, webhook_endpoints e
              where e.endpoint_id = $1
                and (cardinality(e.event_types) = 0 or o.event_type = any(e.event_types))
                and o.dispatched_at is not null
                and ($2::bigint is null or o.outbox_id >= $2)
                and ($3::timestamptz is null or o.created_at >= $3)
                and ($4::bigint is null or o.outbox_id <= $4)
                and ($5::timestamptz is null or o.created_at <= $5)
         )
         insert into webhook_deliveries (endpoint_id, outbox_id, aggregate_id, next_attempt_at)
         select $1, outbox_id, aggregate_id,
                case when (select enabled from webhook_endpoints where endpoint_id = $1)
                     then now() else 'infinity'::timestamptz end
           from wanted order by outbox_id
         on conflict (endpoint_id, outbox_id) do update
            set status = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at,
                leased_until = null, retry_from = now(), delivered_at = null
         returning aggregate_id",
    )
    .bind(id)
    .bind(body.since_id)
    .bind(body.since)
    .bind(body.until_id)
    .bind(body.until)
    .fetch_all(&mut *tx)
    .await?;
    // In each booking touched, the earliest pending event is the ready one.
    sqlx::query(
        "with decided as (
             select d.delivery_id,
                    not exists (select 1 from webhook_deliveries p
                                 where p.endpoint_id = d.endpoint_id and p.aggregate_id = d.aggregate_id
                                   and p.status = 'pending' and p.outbox_id < d.outbox_id) as ready
               from webhook_deliveries d
              where d.endpoint_id = $1 and d.status = 'pending' and d.aggregate_id = any($2))
         update webhook_deliveries d
            set ready = decided.ready,
                -- One in flight that is no longer first: its answer is
                -- dropped (fenced on the lease) and it goes again in order.
                leased_until = case when decided.ready then d.leased_until end
           from decided where d.delivery_id = decided.delivery_id",
    )
    .bind(id)
    .bind(&bookings)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let queued = i64::try_from(bookings.len()).unwrap_or(i64::MAX);
    Ok((StatusCode::ACCEPTED, Json(Replayed { queued })))
}
