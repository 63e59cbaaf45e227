//! `GET /static/app.js` and `/static/app.css`, compiled into the binary.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{MissingPage, error_page};

const SCRIPT: &str = include_str!("../../static/app.js");
const STYLE: &str = include_str!("../../static/app.css");

/// The pages' script and style sheet.
///
/// Compiled into the binary; pages link them with a version, so they are
/// cached for an hour.
#[utoipa::path(get, path = "/static/{name}", tag = "pages",
    params(("name" = String, Path, description = "`app.js` or `app.css`.")),
    responses(
        (status = 200, description = "The file.",
            content((String = "text/javascript"), (String = "text/css"))),
        MissingPage,
    ))]
pub async fn get_asset(Path(name): Path<String>) -> Response {
    let (content_type, body) = match name.as_str() {
        "app.js" => ("text/javascript; charset=utf-8", SCRIPT),
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
