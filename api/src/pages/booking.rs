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
            h1 #checkout-title { "Checkout" }
            section #checkout data-booking-id=(raw) {
                div #booking-summary aria-live="polite" { p { "Loading your hold…" } }
                p #hold-state role="status" {}
                p #hold-timer hidden { "Your seats are held for " strong #countdown aria-live="off" { "–:––" } "." }
                p #expiry-warning .warning role="alert" hidden {}
                form #pay-form .account-form hidden novalidate {
                    label for="card-number" { "Card number" }
                    input #card-number name="card_number" inputmode="numeric" autocomplete="cc-number"
                        aria-describedby="card-number-error" required;
                    p #card-number-error .field-error {}
                    button #pay type="submit" { "Pay" }
                    p #pay-error .form-error role="alert" {}
                }
                p #checkout-actions {
                    button #cancel-hold .secondary type="button" hidden { "Cancel and release my seats" }
                    " "
                    a #other-seats href="/" hidden { "Choose other seats" }
                }
                details #test-cards {
                    summary { "Sandbox test cards" }
                    ul {
                        li { code { "4242 4242 4242 4242" } ": payment succeeds" }
                        li { code { "4000 0000 0000 0002" } ": payment is declined (try another card; your seats stay held)" }
                        li { code { "4000 0000 0000 0077" } ": payment is slow" }
                        li { code { "4000 0027 6000 3184" } ": your bank asks you to confirm the payment (3-D Secure): Approve pays, Deny declines" }
                    }
                }
                // Strong customer authentication: the bank's challenge, as a
                // gateway's own modal would show it (the sandbox's bank
                // asks to approve or deny; app.js fills in and opens it).
                dialog #challenge aria-labelledby="challenge-title" aria-describedby="challenge-text" {
                    h2 #challenge-title { "Your bank wants to confirm this payment" }
                    p #challenge-text {}
                    p .challenge-note {
                        "Sandbox bank: this stands in for your bank's check (3-D Secure), which a real bank does in its app or by a code it sends you."
                    }
                    p .challenge-actions {
                        button #challenge-approve type="button" { "Approve" }
                        " "
                        button #challenge-deny .secondary type="button" { "Deny" }
                    }
                    p #challenge-error .form-error role="alert" {}
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
            h1 #confirmation-title { "Your booking" }
            section #confirmation data-booking-id=(raw) aria-live="polite" { p { "Loading your booking…" } }
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
            div #tickets aria-live="polite" {}
            p #no-tickets hidden { "No tickets yet. " a href="/" { "Find an event" } }
        },
    )
}
