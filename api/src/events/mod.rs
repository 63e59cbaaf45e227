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
pub mod sections;
pub mod ticket_types;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// A schema only a query parameter names, which `routes!` does not collect.
#[derive(OpenApi)]
#[openapi(components(schemas(list::ListOrder)))]
struct ParameterSchemas;

/// `/v1/events` and below, except search and suggest ([`crate::search`]).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ParameterSchemas::openapi())
        .routes(routes!(list::list_events, admin::create_event))
        .routes(routes!(get::get_event, admin::update_event))
        .routes(routes!(seat_map::get_seat_map))
        .routes(routes!(sections::get_sections))
        .routes(routes!(admin::cancel_event))
        .routes(routes!(ticket_types::create_ticket_type))
}
