//! The booking pages: checkout, confirmation and my tickets. They are
//! shells the browser fills in with the user's own data from the booking
//! service, so they cache like any other page.

use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use problem::Problem;

use super::{MalformedAddress, error_page, shell};
use crate::ids::BookingId;

/// The checkout page.
///
/// A shell: the browser fills in the hold and pays for it through the
/// booking service, with the signed-in user's token.
#[utoipa::path(get, path = "/checkout/{id}", tag = "pages",
    params(BookingId),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        MalformedAddress,
    ))]
pub async fn checkout_page(id: Result<BookingId, Problem>) -> Response {
    let Ok(BookingId(raw)) = id else {
        return error_page(StatusCode::BAD_REQUEST, "That is not a booking address");
    };
    shell(
        "Checkout",
        html! {
            h1 { "Checkout" }
            section #checkout data-booking-id=(raw) {
                div #booking-summary aria-live="polite" { "Loading your hold…" }
                p { "Your seats are held for " strong #countdown aria-live="off" { "–:––" } "." }
                form #pay-form {
                    label for="card-number" { "Card number" }
                    input #card-number name="card_number" inputmode="numeric" autocomplete="cc-number" required;
                    button #pay type="submit" { "Pay" }
                }
                p #pay-error role="alert" {}
                details #test-cards open {
                    summary { "Sandbox test cards" }
                    ul {
                        li { code { "4242 4242 4242 4242" } ": payment succeeds" }
                        li { code { "4000 0000 0000 0002" } ": payment is declined (your seats are released)" }
                        li { code { "4000 0000 0000 0077" } ": payment is slow" }
                    }
                }
            }
        },
    )
}

/// The confirmation page.
///
/// A shell: the browser fills in the booking from the booking service.
#[utoipa::path(get, path = "/confirmation/{id}", tag = "pages",
    params(BookingId),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        MalformedAddress,
    ))]
pub async fn confirmation_page(id: Result<BookingId, Problem>) -> Response {
    let Ok(BookingId(raw)) = id else {
        return error_page(StatusCode::BAD_REQUEST, "That is not a booking address");
    };
    shell(
        "Confirmation",
        html! {
            h1 { "Thank you" }
            section #confirmation data-booking-id=(raw) aria-live="polite" { "Loading your booking…" }
            p { a #my-tickets-link href="/me/tickets" { "See all my tickets" } }
        },
    )
}

/// The signed-in user's tickets.
///
/// A shell: the browser fills in the tickets from the booking service.
#[utoipa::path(get, path = "/me/tickets", tag = "pages",
    responses((status = 200, description = "The page.", content_type = "text/html", body = String)))]
pub async fn my_tickets_page() -> Response {
    shell(
        "My tickets",
        html! {
            h1 { "My tickets" }
            ul #tickets aria-live="polite" {}
            p #no-tickets hidden { "No tickets yet." }
        },
    )
}
