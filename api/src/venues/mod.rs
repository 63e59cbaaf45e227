//! Venues: the public venue page and the admin venue writes, seat maps
//! included.
//!
//! Every venue route, reads included, takes bodies up to
//! [`SEAT_MAP_BODY_LIMIT`], because a seat map comes whole.

pub mod admin;
pub mod get;
pub mod input;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};

use crate::AppState;

/// The body limit of venue writes: a 200,000-seat map is about 10 MB of JSON.
pub const SEAT_MAP_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// `/v1/venues` and below.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/venues", post(admin::create_venue))
        .route(
            "/v1/venues/{id}",
            get(get::get_venue).patch(admin::update_venue),
        )
        .route("/v1/venues/{id}/seat-map", put(admin::replace_seat_map))
        .layer(DefaultBodyLimit::max(SEAT_MAP_BODY_LIMIT))
}
