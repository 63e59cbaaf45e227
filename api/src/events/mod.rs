//! Events: the public reads (the event page, its seat map, the event lists),
//! the admin event and ticket-type writes, and the sale opener that
//! materializes seat inventory when a sale opens.
//!
//! - Reads come from the page cache ([`crate::cache`]) with CDN headers;
//!   drafts are never public.
//! - Writes need an admin token, touch only Postgres, and validate bodies
//!   before any SQL runs ([`input`]); see [`crate::admin`].
//! - Seat inventory appears when a sale is open, inside the write that
//!   opens it or from [`sale_opener`]'s once-a-second look.

pub mod admin;
pub mod get;
pub mod input;
pub mod list;
pub mod sale_opener;
pub mod seat_map;
pub mod ticket_types;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

/// `/v1/events` and below, except search and suggest ([`crate::search`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/events",
            get(list::list_events).post(admin::create_event),
        )
        .route(
            "/v1/events/{id}",
            get(get::get_event).patch(admin::update_event),
        )
        .route("/v1/events/{id}/seats", get(seat_map::get_seat_map))
        .route("/v1/events/{id}/cancel", post(admin::cancel_event))
        .route(
            "/v1/events/{id}/ticket-types",
            post(ticket_types::create_ticket_type),
        )
}
