//! Performers: the public performer page and the admin performer writes.

pub mod admin;
pub mod get;
pub mod input;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

/// `/v1/performers` and below.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/performers", post(admin::create_performer))
        .route(
            "/v1/performers/{id}",
            get(get::get_performer).patch(admin::update_performer),
        )
}
