//! Request and response bodies, and reading bookings back as views.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::BookingError;
use crate::status::BookingStatus;

/// `POST /v1/bookings`. Exactly one of `seat_ids`, `quantity` (with
/// `ticket_type_id`) or `best_available` is given.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBooking {
    /// The event.
    pub event_id: i64,
    /// Explicit seats.
    #[schema(min_items = 1)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat_ids: Option<Vec<i64>>,
    /// General admission: the ticket type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_type_id: Option<i64>,
    /// General admission: how many.
    #[schema(minimum = 1)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i32>,
    /// Let the service pick adjacent seats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_available: Option<BestAvailable>,
}

/// Best-available request: the best contiguous seats in one row.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BestAvailable {
    /// Restrict to one seated price tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_type_id: Option<i64>,
    /// Restrict to one section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_id: Option<i64>,
    /// How many seats.
    #[schema(minimum = 1)]
    pub quantity: i32,
    /// Seats side by side in one row (the only mode offered).
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub adjacent: bool,
    /// At least one of the seats is a wheelchair space, and the others sit
    /// beside it in the same row (companion seats): the best such run.
    #[serde(default)]
    #[schema(default = false)]
    pub accessible: bool,
}

fn yes() -> bool {
    true
}

/// A validated hold request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldRequest {
    /// These seats.
    Seats(Vec<i64>),
    /// `quantity` of a general-admission type.
    GeneralAdmission {
        /// The type.
        ticket_type_id: i64,
        /// How many.
        quantity: i32,
    },
    /// The best `quantity` adjacent seats of a tier or section.
    BestAvailable {
        /// Tier filter.
        ticket_type_id: Option<i64>,
        /// Section filter.
        section_id: Option<i64>,
        /// A wheelchair space and companion seats beside it.
        accessible: bool,
        /// How many.
        quantity: i32,
    },
}

impl HoldRequest {
    /// Tickets requested.
    pub fn tickets(&self) -> i32 {
        match self {
            Self::Seats(s) => i32::try_from(s.len()).unwrap_or(i32::MAX),
            Self::GeneralAdmission { quantity, .. } | Self::BestAvailable { quantity, .. } => {
                *quantity
            }
        }
    }
}

impl CreateBooking {
    /// Checks the shape of the request; `max_tickets` bounds one booking.
    pub fn validate(&self, max_tickets: i32) -> Result<HoldRequest, BookingError> {
        if self.event_id <= 0 {
            return Err(BookingError::invalid("event_id", "must be a positive id"));
        }
        let quantity_ok = |field: &'static str, q: i32| {
            if q <= 0 {
                Err(BookingError::invalid(field, "must be at least 1"))
            } else if q > max_tickets {
                Err(BookingError::invalid(
                    field,
                    format!("at most {max_tickets} tickets per booking"),
                ))
            } else {
                Ok(q)
            }
        };
        match (&self.seat_ids, self.quantity, &self.best_available) {
            (Some(_), Some(_), _) => Err(BookingError::invalid(
                "quantity",
                "give seat_ids or quantity, not both",
            )),
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => Err(BookingError::invalid(
                "best_available",
                "give best_available alone, without seat_ids or quantity",
            )),
            (Some(seats), None, None) => {
                if self.ticket_type_id.is_some() {
                    return Err(BookingError::invalid(
                        "ticket_type_id",
                        "not used with seat_ids",
                    ));
                }
                if seats.is_empty() {
                    return Err(BookingError::invalid("seat_ids", "must not be empty"));
                }
                quantity_ok("seat_ids", i32::try_from(seats.len()).unwrap_or(i32::MAX))?;
                let mut sorted = seats.clone();
                sorted.sort_unstable();
                sorted.dedup();
                if sorted.len() != seats.len() {
                    return Err(BookingError::invalid("seat_ids", "must not repeat a seat"));
                }
                if sorted.iter().any(|s| *s <= 0) {
                    return Err(BookingError::invalid("seat_ids", "must be positive ids"));
                }
                Ok(HoldRequest::Seats(sorted))
            }
            (None, Some(q), None) => {
                let ticket_type_id = self.ticket_type_id.ok_or_else(|| {
                    BookingError::invalid("ticket_type_id", "required with quantity")
                })?;
                Ok(HoldRequest::GeneralAdmission {
                    ticket_type_id,
                    quantity: quantity_ok("quantity", q)?,
                })
            }
            (None, None, Some(best)) => {
                if self.ticket_type_id.is_some() {
                    return Err(BookingError::invalid(
                        "ticket_type_id",
                        "put it inside best_available",
                    ));
                }
                if !best.adjacent {
                    return Err(BookingError::invalid(
                        "best_available.adjacent",
                        "only adjacent seats are offered",
                    ));
                }
                if best.ticket_type_id.is_none() && best.section_id.is_none() {
                    return Err(BookingError::invalid(
                        "best_available.ticket_type_id",
                        "give a ticket_type_id or a section_id",
                    ));
                }
                Ok(HoldRequest::BestAvailable {
                    ticket_type_id: best.ticket_type_id,
                    section_id: best.section_id,
                    accessible: best.accessible,
                    quantity: quantity_ok("best_available.quantity", best.quantity)?,
                })
            }
            (None, None, None) => Err(BookingError::invalid(
                "seat_ids",
                "give seat_ids, ticket_type_id with quantity, or best_available",
            )),
        }
    }
}

/// `POST /v1/bookings/{id}/confirm`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBooking {
    /// The card to charge.
    pub payment: crate::payment::Card,
}

/// `POST /v1/bookings/{id}/challenge`: the shopper's answer to the bank's
/// challenge (3-D Secure).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteChallenge {
    /// The challenge being answered, as the confirm's 202 gave it.
    #[schema(example = "sb_3ds_5f0c6e1d2b3a49876c5d4e3f")]
    pub challenge_id: String,
    /// What the bank's challenge returned to the client. The sandbox's
    /// test answers: `approve` passes, `deny` (or anything else) fails, and
    /// a failed challenge is a decline.
    #[schema(example = "approve", min_length = 1, max_length = 4096)]
    pub response: String,
}

impl CompleteChallenge {
    /// Checks the shape: both fields present and of sane size.
    pub fn validate(&self) -> Result<(), BookingError> {
        if self.challenge_id.trim().is_empty() || self.challenge_id.len() > 255 {
            return Err(BookingError::invalid(
                "challenge_id",
                "must be the challenge's id (1 to 255 characters)",
            ));
        }
        if self.response.is_empty() || self.response.len() > 4096 {
            return Err(BookingError::invalid(
                "response",
                "must be the challenge's answer (1 to 4096 characters)",
            ));
        }
        Ok(())
    }
}

/// A challenge from the cardholder's bank that awaits the shopper
/// (strong customer authentication, 3-D Secure style).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ChallengeView {
    /// Answer it with `POST /v1/bookings/{id}/challenge`.
    #[schema(example = "sb_3ds_5f0c6e1d2b3a49876c5d4e3f")]
    pub challenge_id: String,
    /// Where a real gateway's challenge is completed (the bank's page);
    /// `null` when the client shows it itself, as with the sandbox.
    pub redirect_url: Option<String>,
    /// The challenge lapses with the hold: unanswered by then, the booking
    /// expires, its seats are released and the charge counts as declined.
    pub expires_at: DateTime<Utc>,
}

/// The confirm's answer when the bank wants a challenge passed first (202).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PaymentRequiresAction {
    /// Always `requires_action`.
    #[schema(example = "requires_action")]
    pub status: String,
    /// The challenge to complete.
    pub challenge: ChallengeView,
    /// The booking, still held (`payment_pending`).
    pub booking: BookingView,
}

/// A seat as shown to the buyer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SeatView {
    /// Seat id.
    pub seat_id: i64,
    /// Section name.
    pub section: String,
    /// Row label.
    pub row: String,
    /// Seat number in the row.
    pub number: i32,
}

/// One line of a booking.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ItemView {
    /// The ticket type.
    pub ticket_type_id: i64,
    /// Its name.
    pub ticket_type: String,
    /// The seat, for seated items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seat: Option<SeatView>,
    /// Tickets on this line.
    pub quantity: i32,
    /// Price of one ticket, in minor units.
    pub unit_price_cents: i64,
}

/// A booking as returned by every endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct BookingView {
    /// Booking id.
    pub booking_id: Uuid,
    /// Where the booking is in its life.
    pub status: BookingStatus,
    /// The event.
    pub event_id: i64,
    /// Event title.
    pub event_title: String,
    /// Event start.
    pub event_starts_at: DateTime<Utc>,
    /// Venue name.
    pub venue: String,
    /// Venue city.
    pub city: String,
    /// The venue's IANA time zone, for showing the event's local time.
    #[schema(example = "Europe/London")]
    pub venue_timezone: String,
    /// When the hold lapses.
    pub expires_at: DateTime<Utc>,
    /// The lines.
    pub items: Vec<ItemView>,
    /// Sum of the lines, in minor units.
    pub total_cents: i64,
    /// ISO 4217.
    #[schema(example = "EUR")]
    pub currency: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// A challenge from the bank that awaits the shopper, while there is
    /// one (see `POST /v1/bookings/{id}/challenge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_challenge: Option<ChallengeView>,
}

#[derive(sqlx::FromRow)]
struct ViewRow {
    booking_id: Uuid,
    status: BookingStatus,
    event_id: i64,
    event_title: String,
    event_starts_at: DateTime<Utc>,
    venue: String,
    city: String,
    venue_timezone: String,
    expires_at: DateTime<Utc>,
    total_cents: i64,
    currency: String,
    created_at: DateTime<Utc>,
    items: sqlx::types::Json<Vec<ItemView>>,
    challenge_id: Option<String>,
    challenge_url: Option<String>,
}

/// Reads bookings as views, in the order of `ids`; missing ids are skipped.
pub async fn load_views<'e>(
    executor: impl PgExecutor<'e>,
    ids: &[Uuid],
) -> Result<Vec<BookingView>, sqlx::Error> {
    let rows: Vec<ViewRow> = sqlx::query_as(
        "select b.booking_id, b.status, b.event_id, e.title as event_title, e.starts_at as event_starts_at,
                v.name as venue, v.city, v.timezone as venue_timezone, b.expires_at, b.total_cents, b.currency, b.created_at,
                coalesce((
                    select jsonb_agg(jsonb_build_object(
                               'ticket_type_id', i.ticket_type_id,
                               'ticket_type', t.name,
                               'seat', case when i.seat_id is null then null else jsonb_build_object(
                                   'seat_id', i.seat_id, 'section', vs.name, 'row', vr.label, 'number', s.number) end,
                               'quantity', i.quantity,
                               'unit_price_cents', i.price_cents)
                           order by i.booking_item_id)
                      from booking_items i
                      join ticket_types t on t.ticket_type_id = i.ticket_type_id
                      left join seats s on s.seat_id = i.seat_id
                      left join venue_rows vr on vr.row_id = s.row_id
                      left join venue_sections vs on vs.section_id = vr.section_id
                     where i.booking_id = b.booking_id), '[]'::jsonb) as items,
                p.challenge_id, p.challenge_url
           from unnest($1::uuid[]) with ordinality as ids(id, ord)
           join bookings b on b.booking_id = ids.id
           join events e on e.event_id = b.event_id
           join venues v on v.venue_id = e.venue_id
           left join payments p on p.booking_id = b.booking_id and p.kind = 'charge'
                               and p.status = 'requires_action' and b.status = 'payment_pending'
          order by ids.ord",
    )
    .bind(ids)
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| BookingView {
            booking_id: r.booking_id,
            status: r.status,
            event_id: r.event_id,
            event_title: r.event_title,
            event_starts_at: r.event_starts_at,
            venue: r.venue,
            city: r.city,
            venue_timezone: r.venue_timezone,
            expires_at: r.expires_at,
            items: r.items.0,
            total_cents: r.total_cents,
            currency: r.currency,
            created_at: r.created_at,
            payment_challenge: r.challenge_id.map(|challenge_id| ChallengeView {
                challenge_id,
                redirect_url: r.challenge_url,
                expires_at: r.expires_at,
            }),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> CreateBooking {
        serde_json::from_value(json).expect("parses")
    }

    #[test]
    fn seat_ids_and_quantity_together_name_quantity() {
        let err = body(
            serde_json::json!({"event_id": 1, "seat_ids": [1], "quantity": 2, "ticket_type_id": 3}),
        )
        .validate(8)
        .expect_err("refused");
        assert_eq!(err.to_problem().field.as_deref(), Some("quantity"));
    }

    #[test]
    fn a_quantity_of_zero_or_over_the_limit_is_refused() {
        for q in [0, -1, 9] {
            let err = body(serde_json::json!({"event_id": 1, "quantity": q, "ticket_type_id": 3}))
                .validate(8)
                .expect_err("refused");
            assert_eq!(err.to_problem().field.as_deref(), Some("quantity"), "{q}");
        }
    }

    #[test]
    fn repeated_seats_are_refused_and_seats_come_back_sorted() {
        let err = body(serde_json::json!({"event_id": 1, "seat_ids": [5, 5]}))
            .validate(8)
            .expect_err("refused");
        let ok = body(serde_json::json!({"event_id": 1, "seat_ids": [9, 2]}))
            .validate(8)
            .expect("valid");
        assert_eq!(err.to_problem().field.as_deref(), Some("seat_ids"));
        assert_eq!(ok, HoldRequest::Seats(vec![2, 9]));
    }
}
