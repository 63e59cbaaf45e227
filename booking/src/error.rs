//! The booking service's errors and how each maps to problem+json.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use problem::Problem;

/// Everything a booking request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// A request field failed validation (400).
    #[error("{field}: {detail}")]
    Invalid {
        /// The offending field.
        field: Cow<'static, str>,
        /// Why.
        detail: String,
    },
    /// The booking or event does not exist, or is not the caller's (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// The request conflicts with the current state (409).
    #[error("{code}: {detail}")]
    Conflict {
        /// Stable code, such as `seats_unavailable`.
        code: &'static str,
        /// Why.
        detail: String,
        /// The field at fault, if any.
        field: Option<&'static str>,
        /// Extra members (the seats that were not available, say).
        extra: Option<(&'static str, serde_json::Value)>,
    },
    /// The same Idempotency-Key was used with another body (422).
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    /// The caller's token names no user (401).
    #[error("unknown user")]
    UnknownUser,
    /// A dependency is down (503).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything else (500); the cause is logged, never shown.
    #[error(transparent)]
    Internal(#[from] sqlx::Error),
}

impl BookingError {
    /// A 400 naming `field`.
    pub fn invalid(field: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// A 409 with a code and detail.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
            field: None,
            extra: None,
        }
    }

    /// The problem document.
    pub fn to_problem(&self) -> Problem {
        match self {
            Self::Invalid { field, detail } => {
                Problem::invalid_field(field.clone(), detail.clone())
            }
            Self::NotFound(what) => Problem::not_found(what.clone()),
            Self::Conflict {
                code,
                detail,
                field,
                extra,
            } => {
                let mut p = Problem::new(StatusCode::CONFLICT, *code).with_detail(detail.clone());
                if let Some(field) = field {
                    p = p.with_field(*field);
                }
                if let Some((key, value)) = extra {
                    p = p.with_extension(key, value);
                }
                p
            }
            Self::IdempotencyMismatch => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
                    .with_field("idempotency-key")
                    .with_detail("this Idempotency-Key was used with a different request body")
            }
            Self::UnknownUser => {
                Problem::unauthorized("the token's user does not exist").with_field("authorization")
            }
            Self::Unavailable(what) => Problem::unavailable(what.clone()),
            Self::Internal(_) => Problem::internal(),
        }
    }
}

impl IntoResponse for BookingError {
    fn into_response(self) -> Response {
        if let Self::Internal(e) = &self {
            tracing::error!(error = %e, "booking request failed");
        }
        self.to_problem().into_response()
    }
}

/// Every status a [`BookingError`] answers with, for the API description.
impl utoipa::IntoResponses for BookingError {
    fn responses() -> problem::openapi::Responses {
        problem::openapi::responses(&[
            (
                400,
                "A field, the path's id or a header is invalid; `field` names it.",
            ),
            (401, "The token's user does not exist."),
            (404, "No such booking or event, or it is not the caller's."),
            (
                409,
                "The request conflicts with the current state; `code` says how: \
                 `seats_unavailable` (with `unavailable_seat_ids` and `unavailable_seats`: section, row and number), `tickets_unavailable`, \
                 `ticket_limit_reached`, `sale_not_open`, `event_not_on_sale`, \
                 `request_in_progress`, `hold_expired` (nothing charged), `payment_declined` \
                 (seats released), `payment_in_progress`, `booking_not_pending`, \
                 `booking_not_cancellable`, `refund_in_progress` or `event_started`.",
            ),
            (
                422,
                "This `Idempotency-Key` was used with a different request body.",
            ),
            (
                503,
                "A dependency is down, or the write conflicted; try again.",
            ),
            (500, "An internal error; the cause is logged, never shown."),
        ])
    }
}

/// Whether a database error is worth retrying the whole transaction for.
pub fn is_retryable(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "40001" || c == "40P01")
}
