//! HTTP handlers.

use auth::{AuthUser, Role};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::AppState;
use crate::error::BookingError;
use crate::extract::{ApiJson, IdempotencyKey};
use crate::holds::StoredResponse;
use crate::lifecycle;
use crate::model::{
    self, BookingView, CompleteChallenge, ConfirmBooking, CreateBooking, PaymentRequiresAction,
};

fn respond(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(stored.body)).into_response();
    if status.is_client_error() || status.is_server_error() {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(problem::CONTENT_TYPE),
        );
    }
    response
}

fn booking_id(raw: &str) -> Result<Uuid, BookingError> {
    Uuid::parse_str(raw).map_err(|_| BookingError::invalid("booking_id", "must be a UUID"))
}

/// Hold seats or tickets.
///
/// Pay before `expires_at`, or the hold lapses and the seats are free
/// again. A replay with the same `Idempotency-Key` returns the first
/// answer.
#[utoipa::path(post, path = "/v1/bookings", tag = "bookings",
    security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255,
        description = "A replay returns the first response; the same key with another body is 422.")),
    request_body = CreateBooking,
    responses(
        (status = 201, description = "Held; pay before `expires_at`.", body = BookingView),
        BookingError, AuthUser, ApiJson<CreateBooking>,
    ))]
#[tracing::instrument(skip_all, fields(user = %user.sub, event_id = body.event_id))]
pub async fn create_booking(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<CreateBooking>,
) -> Result<Response, BookingError> {
    let request = body.validate(state.limits.max_per_booking)?;
    // The canonical re-serialization, so formatting differences are not
    // "a different body".
    let hash = hex::encode(Sha256::digest(
        serde_json::to_vec(&body).unwrap_or_default(),
    ));
    // A replayed key is recognised inside the batch (its insert conflicts),
    // so the common case costs no extra query here.

    let stored = state
        .holds
        .submit(body.event_id, user.sub, key, hash, request)
        .await?;
    Ok(respond(stored))
}

/// A booking: the caller's own, or any for an admin.
#[utoipa::path(get, path = "/v1/bookings/{id}", tag = "bookings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The booking id.")),
    responses((status = 200, description = "The booking.", body = BookingView), BookingError, AuthUser))]
pub async fn get_booking(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<BookingView>, BookingError> {
    let id = booking_id(&id)?;
    let owner: Option<Uuid> =
        sqlx::query_scalar("select user_id from bookings where booking_id = $1")
            .bind(id)
            .fetch_optional(&state.ctx.pool)
            .await?;
    if owner.is_none_or(|o| o != user.sub && user.role != Role::Admin) {
        return Err(BookingError::NotFound(format!("booking {id}")));
    }
    model::load_views(&state.ctx.pool, &[id])
        .await?
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| BookingError::NotFound(format!("booking {id}")))
}

fn confirmation(outcome: lifecycle::Confirmation) -> Response {
    match outcome {
        lifecycle::Confirmation::Confirmed(view) => (StatusCode::OK, Json(view)).into_response(),
        lifecycle::Confirmation::RequiresAction(action) => {
            (StatusCode::ACCEPTED, Json(action)).into_response()
        }
    }
}

/// Pay and confirm a held booking.
///
/// The card is charged at most once, however often this is retried. When
/// the cardholder's bank wants its challenge passed first (strong customer
/// authentication, 3-D Secure), the answer is 202 with
/// `status: requires_action` and the challenge: complete it with
/// `POST /v1/bookings/{id}/challenge` before the hold's `expires_at`. A
/// retried confirm meanwhile answers with the same challenge.
#[utoipa::path(post, path = "/v1/bookings/{id}/confirm", tag = "bookings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The booking id.")),
    request_body = ConfirmBooking,
    responses(
        (status = 200, description = "Paid and confirmed.", body = BookingView),
        (status = 202, description = "The bank wants a challenge passed first; nothing is charged yet and the seats stay held until `expires_at`.", body = PaymentRequiresAction),
        BookingError, AuthUser, ApiJson<ConfirmBooking>,
    ))]
#[tracing::instrument(skip_all, fields(user = %user.sub, booking = %id))]
pub async fn confirm_booking(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ConfirmBooking>,
) -> Result<Response, BookingError> {
    let id = booking_id(&id)?;
    if let Err(why) = crate::payment::check_card_number(&body.payment.card_number) {
        return Err(BookingError::invalid("payment.card_number", why));
    }
    lifecycle::confirm(
        &state.ctx.pool,
        &state.provider,
        &state.feed,
        id,
        user.sub,
        &body.payment,
    )
    .await
    .map(confirmation)
}

/// Answer the bank's payment challenge (3-D Secure) and settle the payment.
///
/// Passed: 200, paid and confirmed. Failed: 409 `payment_declined`, with
/// the hold kept for another card as after any decline (the last attempt
/// releases the seats). A retried or concurrent answer gets the first
/// one's result; the card is charged at most once. After the hold's
/// `expires_at` the challenge is gone (409 `hold_expired`, nothing charged).
#[utoipa::path(post, path = "/v1/bookings/{id}/challenge", tag = "bookings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The booking id.")),
    request_body = CompleteChallenge,
    responses(
        (status = 200, description = "Challenge passed: paid and confirmed.", body = BookingView),
        (status = 202, description = "The bank wants another challenge step.", body = PaymentRequiresAction),
        BookingError, AuthUser, ApiJson<CompleteChallenge>,
    ))]
#[tracing::instrument(skip_all, fields(user = %user.sub, booking = %id))]
pub async fn complete_payment_challenge(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CompleteChallenge>,
) -> Result<Response, BookingError> {
    let id = booking_id(&id)?;
    body.validate()?;
    lifecycle::complete_challenge(
        &state.ctx.pool,
        &state.provider,
        &state.feed,
        id,
        user.sub,
        &body,
    )
    .await
    .map(confirmation)
}

/// Cancel a held booking, or refund a confirmed one before its event starts.
#[utoipa::path(post, path = "/v1/bookings/{id}/cancel", tag = "bookings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The booking id.")),
    responses((status = 200, description = "Cancelled (and refunded, if it was paid).", body = BookingView),
        BookingError, AuthUser))]
pub async fn cancel_booking(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<BookingView>, BookingError> {
    let id = booking_id(&id)?;
    lifecycle::cancel(
        &state.ctx.pool,
        &state.provider,
        &state.feed,
        id,
        user.sub,
        user.role == Role::Admin,
    )
    .await
    .map(Json)
}

/// The caller's latest 100 bookings, newest first.
#[utoipa::path(get, path = "/v1/me/bookings", tag = "bookings",
    security(("bearer" = [])),
    responses((status = 200, description = "The bookings.", body = Vec<BookingView>),
        BookingError, AuthUser))]
pub async fn list_my_bookings(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Vec<BookingView>>, BookingError> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "select booking_id from bookings where user_id = $1 order by created_at desc, booking_id limit 100",
    )
    .bind(user.sub)
    .fetch_all(&state.ctx.pool)
    .await?;
    Ok(Json(model::load_views(&state.ctx.pool, &ids).await?))
}

/// One ticket line the caller owns, with its event, venue, seat and price.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    booking_id: Uuid,
    event_id: i64,
    event_title: String,
    event_starts_at: chrono::DateTime<chrono::Utc>,
    venue: String,
    city: String,
    venue_timezone: String,
    #[serde(flatten)]
    item: model::ItemView,
    currency: String,
}

/// The tickets of the caller's confirmed bookings, by event date.
#[utoipa::path(get, path = "/v1/me/tickets", tag = "bookings",
    security(("bearer" = [])),
    responses((status = 200, description = "One entry per ticket line.", body = Vec<Ticket>),
        BookingError, AuthUser))]
pub async fn list_my_tickets(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Vec<Ticket>>, BookingError> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "select b.booking_id from bookings b join events e on e.event_id = b.event_id
          where b.user_id = $1 and b.status = 'confirmed'
          order by e.starts_at, b.booking_id limit 200",
    )
    .bind(user.sub)
    .fetch_all(&state.ctx.pool)
    .await?;
    let tickets = model::load_views(&state.ctx.pool, &ids)
        .await?
        .into_iter()
        .flat_map(|b| {
            b.items.into_iter().map(move |item| Ticket {
                booking_id: b.booking_id,
                event_id: b.event_id,
                event_title: b.event_title.clone(),
                event_starts_at: b.event_starts_at,
                venue: b.venue.clone(),
                city: b.city.clone(),
                venue_timezone: b.venue_timezone.clone(),
                item,
                currency: b.currency.clone(),
            })
        })
        .collect();
    Ok(Json(tickets))
}
