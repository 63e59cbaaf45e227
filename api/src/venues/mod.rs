//! Venues: the public venue page and the admin venue writes, seat maps
//! included.
//!
//! Every venue route, reads included, takes bodies up to
//! [`SEAT_MAP_BODY_LIMIT`], because a seat map comes whole.

pub mod admin;
pub mod get;
pub mod input;

use axum::extract::DefaultBodyLimit;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// The body limit of venue writes: a 200,000-seat map is about 10 MB of JSON.
pub const SEAT_MAP_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// `/v1/venues` and below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin::create_venue))
        .routes(routes!(get::get_venue, admin::update_venue))
        .routes(routes!(admin::replace_seat_map))
        .layer(DefaultBodyLimit::max(SEAT_MAP_BODY_LIMIT))
}
