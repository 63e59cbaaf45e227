//! The api's one error type, [`ApiError`], and [`ResultExt::on_constraint`].
//!
//! Handlers return [`ApiResult`] and use `?`: a [`Problem`] (a validation
//! failure, a 404, a 409) is answered as it stands; a database or search
//! failure converts by `From` and is mapped here, at one point:
//!
//! - what the database refused that is the client's doing (a constraint the
//!   validation did not catch: races, mostly) becomes 409 or 400. Naming the
//!   field is the call site's job, with [`ResultExt::on_constraint`];
//! - an unreachable database, a serialization conflict or a search backend
//!   failure is 503;
//! - anything else is 500.
//!
//! Internal causes are logged here, with their cause chain, and reach the
//! client only as the generic `service_unavailable` or `internal_error`
//! problem.

use std::error::Error as StdError;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use problem::Problem;
use search::SearchError;
use sqlx::error::DatabaseError;

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An answer for the client as it stands (boxed: a problem is large and
    /// built at most once per request).
    #[error("{} ({})", .0.code, .0.status)]
    Problem(Box<Problem>),
    /// A Postgres failure.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A search backend failure.
    #[error("search error")]
    Search(#[from] SearchError),
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self::Problem(Box::new(problem))
    }
}

impl ApiError {
    /// The problem the client sees. Internal causes are logged here and
    /// never sent.
    pub fn into_problem(self) -> Problem {
        match self {
            Self::Problem(problem) => *problem,
            Self::Database(e) => database_problem(&e),
            Self::Search(e) => search_problem(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_problem().into_response()
    }
}

/// Every status an [`ApiError`] answers with, for the API description.
/// Routes list it last, so its 400 (which covers the body, the query and
/// the path's id) is the one described.
impl utoipa::IntoResponses for ApiError {
    fn responses() -> problem::openapi::Responses {
        problem::openapi::responses(&[
            (
                400,
                "A body field, a query parameter or the path's `id` is invalid, or the catalog \
                 refused a value (`invalid_field`); `field` names it.",
            ),
            (404, "No such resource (`not_found`)."),
            (
                409,
                "The write conflicts with the catalog; `code` says how: `already_exists` (a \
                 unique name is taken), `referenced_row_missing` (a row it refers to is gone), \
                 or the route's own conflicts (see its description).",
            ),
            (
                503,
                "A dependency is unavailable (the catalog database, the search backend or, on \
                 admin routes, the check of the token's user), or the write conflicted with \
                 another (`service_unavailable`); try again.",
            ),
            (500, "An internal error; the cause is logged, never shown."),
        ])
    }
}

/// 409 `already_exists`: a unique constraint refused the row.
pub fn already_exists(db: &dyn DatabaseError) -> Problem {
    Problem::new(StatusCode::CONFLICT, "already_exists").with_detail(format!(
        "conflicts with an existing row ({})",
        db.constraint().unwrap_or_default()
    ))
}

/// 409 `referenced_row_missing`: a foreign key refused the row.
pub fn referenced_row_missing(db: &dyn DatabaseError) -> Problem {
    Problem::new(StatusCode::CONFLICT, "referenced_row_missing").with_detail(format!(
        "a row it refers to is gone ({})",
        db.constraint().unwrap_or_default()
    ))
}

/// What the database refused, by SQLSTATE, as the client's problem; `None`
/// when the error is not the client's doing.
fn refusal(db: &dyn DatabaseError) -> Option<Problem> {
    let constraint = db.constraint().unwrap_or_default();
    match db.code().unwrap_or_default().as_ref() {
        "23505" => Some(already_exists(db)),
        "23503" => Some(referenced_row_missing(db)),
        "23514" | "22P02" | "22007" | "22008" => Some(Problem::invalid_field(
            "body",
            format!("the catalog refused the value ({constraint})"),
        )),
        "40001" | "40P01" => {
            tracing::warn!(error = %chain(db), "database write conflicted with another");
            Some(Problem::unavailable(
                "the write conflicted with another; try again",
            ))
        }
        _ => None,
    }
}

fn database_problem(e: &sqlx::Error) -> Problem {
    if let Some(problem) = e.as_database_error().and_then(refusal) {
        return problem;
    }
    if matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
    ) {
        tracing::warn!(error = %chain(e), "database unavailable");
        return Problem::unavailable("the catalog database is unavailable; try again shortly");
    }
    tracing::error!(error = %chain(e), "database error");
    Problem::internal()
}

fn search_problem(e: SearchError) -> Problem {
    match e {
        SearchError::Unavailable(detail) => {
            tracing::warn!(%detail, "search backend unavailable");
            Problem::unavailable("search is temporarily unavailable; event pages still work")
                .with_extension("backend_detail", detail)
        }
        SearchError::Backend(detail) => {
            tracing::error!(%detail, "search backend error");
            Problem::unavailable("search failed; try again shortly")
        }
    }
}

/// An error and its sources, `: `-separated.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Turns a named constraint's violation into a client error at the call
/// site, in the spirit of realworld-axum-sqlx's `on_constraint`.
pub trait ResultExt<T> {
    /// If the error is a violation of the constraint `name`, answers with
    /// `map`'s problem (typically one naming the field) instead of the
    /// generic one. Other errors pass through unchanged.
    fn on_constraint<P>(
        self,
        name: &str,
        map: impl FnOnce(&dyn DatabaseError) -> P,
    ) -> ApiResult<T>
    where
        P: Into<ApiError>;
}

impl<T, E> ResultExt<T> for Result<T, E>
where
    E: Into<ApiError>,
{
    fn on_constraint<P>(self, name: &str, map: impl FnOnce(&dyn DatabaseError) -> P) -> ApiResult<T>
    where
        P: Into<ApiError>,
    {
        self.map_err(|e| match e.into() {
            ApiError::Database(sqlx::Error::Database(db)) if db.constraint() == Some(name) => {
                map(&*db).into()
            }
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use sqlx::error::ErrorKind;

    use super::*;

    /// A database error with a SQLSTATE and a constraint, as Postgres sends.
    #[derive(Debug)]
    struct Refused {
        code: &'static str,
        constraint: &'static str,
    }

    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "refused by {}", self.constraint)
        }
    }

    impl StdError for Refused {}

    impl DatabaseError for Refused {
        fn message(&self) -> &str {
            "refused"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.code))
        }
        fn constraint(&self) -> Option<&str> {
            Some(self.constraint)
        }
        fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    fn refused(code: &'static str, constraint: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Refused { code, constraint }))
    }

    fn problem_of(e: impl Into<ApiError>) -> Problem {
        e.into().into_problem()
    }

    #[test]
    fn database_errors_map_to_the_same_status_and_code_as_before() {
        let cases = [
            (refused("23505", "x_key"), 409, "already_exists"),
            (refused("23503", "x_fkey"), 409, "referenced_row_missing"),
            (refused("23514", "x_check"), 400, "invalid_field"),
            (refused("22P02", ""), 400, "invalid_field"),
            (refused("40001", ""), 503, "service_unavailable"),
            (refused("40P01", ""), 503, "service_unavailable"),
            (refused("XX000", ""), 500, "internal_error"),
            (sqlx::Error::PoolTimedOut, 503, "service_unavailable"),
            (sqlx::Error::PoolClosed, 503, "service_unavailable"),
            (sqlx::Error::RowNotFound, 500, "internal_error"),
        ];
        for (error, status, code) in cases {
            let problem = problem_of(error);
            assert_eq!((problem.status, problem.code.as_str()), (status, code));
        }
        let check = problem_of(refused("23514", "events_check"));
        assert_eq!(check.field.as_deref(), Some("body"));
        assert_eq!(
            check.detail.as_deref(),
            Some("the catalog refused the value (events_check)")
        );
        assert_eq!(
            problem_of(sqlx::Error::RowNotFound).detail.as_deref(),
            Some("internal error")
        );
    }

    #[test]
    fn on_constraint_names_the_field_of_that_constraint_only() {
        let named: ApiResult<()> = Err(refused("23505", "ticket_types_event_id_name_key"))
            .on_constraint("ticket_types_event_id_name_key", |db| {
                already_exists(db).with_field("name")
            });
        let problem = problem_of(named.expect_err("refused"));
        assert_eq!(problem.status, 409);
        assert_eq!(problem.code, "already_exists");
        assert_eq!(problem.field.as_deref(), Some("name"));
        assert_eq!(
            problem.detail.as_deref(),
            Some("conflicts with an existing row (ticket_types_event_id_name_key)")
        );

        let other: ApiResult<()> = Err(refused("23505", "another_key"))
            .on_constraint("ticket_types_event_id_name_key", |db| {
                already_exists(db).with_field("name")
            });
        let problem = problem_of(other.expect_err("refused"));
        assert_eq!(problem.code, "already_exists");
        assert_eq!(problem.field, None);
    }

    #[test]
    fn an_unavailable_search_backend_is_503_with_its_detail() {
        let problem = problem_of(SearchError::Unavailable("no index".into()));
        assert_eq!(
            (problem.status, problem.code.as_str()),
            (503, "service_unavailable")
        );
        assert_eq!(problem.extensions["backend_detail"], "no index");
        let problem = problem_of(SearchError::Backend("bad json".into()));
        assert_eq!(problem.status, 503);
        assert!(problem.extensions.is_empty());
    }
}
