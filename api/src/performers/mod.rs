//! Performers: the public performer page and the admin performer writes.

pub mod admin;
pub mod get;
pub mod input;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// `/v1/performers` and below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin::create_performer))
        .routes(routes!(get::get_performer, admin::update_performer))
}
