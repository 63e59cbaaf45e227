//! `GET /static/app.js`, `/static/seatmap.js` and `/static/app.css`,
//! compiled into the binary.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{MissingPage, error_page};

const SCRIPT: &str = include_str!("../../static/app.js");
const SEAT_MAP: &str = include_str!("../../static/seatmap.js");
const STYLE: &str = include_str!("../../static/app.css");

/// The assets' version in the pages' links (`?v=`): a digest of their
/// content, so a page never pairs with a script or style sheet of another
/// build, whatever a cache in between still holds.
pub fn version() -> &'static str {
    static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(SCRIPT)
            .chain_update(SEAT_MAP)
            .chain_update(STYLE)
            .finalize();
        hex::encode(&digest[..6])
    });
    &VERSION
}

/// The pages' script and style sheet.
///
/// Compiled into the binary; pages link them with a version, so they are
/// cached for an hour.
#[utoipa::path(get, path = "/static/{name}", tag = "pages",
    params(("name" = String, Path, description = "`app.js`, `seatmap.js` or `app.css`.")),
    responses(
        (status = 200, description = "The file.",
            content((String = "text/javascript"), (String = "text/css"))),
        MissingPage,
    ))]
pub async fn get_asset(Path(name): Path<String>) -> Response {
    let (content_type, body) = match name.as_str() {
        "app.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "seatmap.js" => ("text/javascript; charset=utf-8", SEAT_MAP),
        "app.css" => ("text/css; charset=utf-8", STYLE),
        _ => return error_page(StatusCode::NOT_FOUND, "Not found"),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
