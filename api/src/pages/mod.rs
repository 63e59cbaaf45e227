//! Public HTML pages, server-rendered with maud: home, search, event (with
//! the seat map drawn in the browser from `/v1/events/{id}/seats`),
//! checkout, confirmation, my tickets, sign-in (with the development demo
//! shoppers) and the account pages (sign up, confirm the address,
//! forgotten password).
//!
//! Nothing user-specific is ever rendered here: these pages are the same
//! bytes for every visitor, cached by the edge like the JSON they come
//! from. Who is signed in, holds and tickets are fetched by
//! `/static/app.js` after load, with the session cookie (`HttpOnly`: no
//! script, ours included, can read it). A malformed id or search is
//! answered with an HTML error page, not problem+json; only
//! `POST /v1/demo/login` speaks JSON.

pub mod account;
pub mod assets;
pub mod booking;
pub mod event;
pub mod home;
pub mod login;
pub mod performer;
pub mod picture;
pub mod search;
pub mod venue;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;
use utoipa::openapi::{ContentBuilder, ObjectBuilder, RefOr, ResponseBuilder, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

const LIST_CACHE: &str =
    "public, max-age=15, s-maxage=15, stale-while-revalidate=30, stale-if-error=600";
const EVENT_CACHE: &str =
    "public, max-age=1, s-maxage=1, stale-while-revalidate=30, stale-if-error=600";
const SHELL_CACHE: &str = "public, max-age=300, s-maxage=300";

/// The pages, their assets and the demo sign-in.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login::demo_login))
        .routes(routes!(home::home_page))
        .routes(routes!(search::search_page))
        .routes(routes!(event::event_page))
        .routes(routes!(performer::performer_page))
        .routes(routes!(venue::venue_page))
        .routes(routes!(booking::checkout_page))
        .routes(routes!(booking::confirmation_page))
        .routes(routes!(booking::my_tickets_page))
        .routes(routes!(login::login_page))
        .routes(routes!(account::signup_page))
        .routes(routes!(account::verify_email_page))
        .routes(routes!(account::forgot_password_page))
        .routes(routes!(account::reset_password_page))
        .routes(routes!(assets::get_asset))
}

/// The content type of every page.
const HTML: &str = "text/html; charset=utf-8";
/// Their media type, for the API description.
const HTML_MEDIA_TYPE: &str = "text/html";

/// HTML error pages ([`error_page`]), one per `(status, description)`, for
/// the API description.
fn html_responses(entries: &[(u16, &str)]) -> problem::openapi::Responses {
    entries
        .iter()
        .map(|&(status, description)| {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    HTML_MEDIA_TYPE,
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                )
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// A page's answer to a malformed address: an id that is not one, or an
/// invalid search (400, HTML).
#[derive(Debug)]
pub struct MalformedAddress;

impl utoipa::IntoResponses for MalformedAddress {
    fn responses() -> problem::openapi::Responses {
        html_responses(&[(
            400,
            "The address is malformed (an id that is not one, or an invalid search \
             parameter, named on the page); an HTML error page.",
        )])
    }
}

/// A page's answer when what it shows does not exist (404, HTML).
#[derive(Debug)]
pub struct MissingPage;

impl utoipa::IntoResponses for MissingPage {
    fn responses() -> problem::openapi::Responses {
        html_responses(&[(404, "No such event or file; an HTML error page.")])
    }
}

/// A page's answer when the catalog database or search is down (503,
/// HTML).
#[derive(Debug)]
pub struct UnavailablePage;

impl utoipa::IntoResponses for UnavailablePage {
    fn responses() -> problem::openapi::Responses {
        html_responses(&[(
            503,
            "The catalog database or the search backend is unavailable; an HTML error page.",
        )])
    }
}

/// A page's answer when its data does not read (500, HTML).
#[derive(Debug)]
pub struct BrokenPage;

impl utoipa::IntoResponses for BrokenPage {
    fn responses() -> problem::openapi::Responses {
        html_responses(&[(500, "An internal error; an HTML error page.")])
    }
}

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Ticketing" }
                link rel="stylesheet" href={ "/static/app.css?v=" (assets::version()) };
                script src={ "/static/seatmap.js?v=" (assets::version()) } defer {}
                script src={ "/static/app.js?v=" (assets::version()) } defer {}
            }
            body {
                header {
                    nav aria-label="Main" {
                        a #nav-home href="/" { "Ticketing" }
                        a #nav-tickets href="/me/tickets" { "My tickets" }
                        span #signin aria-live="polite" {}
                    }
                }
                main { (body) }
            }
        }
    }
}

fn search_form(q: &str) -> Markup {
    html! {
        form #search-form action="/search" method="get" role="search" {
            label for="q" { "Search events" }
            div.autocomplete {
                input #q type="search" name="q" value=(q) autocomplete="off"
                    placeholder="Artist, event, venue or city"
                    aria-autocomplete="list" aria-controls="suggestions";
                ul #suggestions role="listbox" aria-label="Suggestions" {}
            }
            button type="submit" { "Search" }
        }
    }
}

fn page(markup: Markup, cache_control: &'static str, keys: &[String]) -> Response {
    let body = markup.into_string();
    let etag = crate::cache::strong_etag(body.as_bytes());
    let mut response = (
        [
            (header::CONTENT_TYPE, HTML),
            (header::CACHE_CONTROL, cache_control),
        ],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    if !keys.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&keys.join(" ")) {
            headers.insert("surrogate-key", v);
        }
        if let Ok(v) = HeaderValue::from_str(&keys.join(",")) {
            headers.insert("cache-tag", v);
        }
    }
    response
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let markup = layout(
        message,
        html! {
            h1 { (message) }
            p { a href="/" { "Back to the home page" } }
        },
    );
    let mut response = page(markup, "no-store", &[]);
    *response.status_mut() = status;
    response
}

/// The branded 404 for an address that is no page: a search box and the
/// way home.
pub fn not_found_page() -> Response {
    let markup = layout(
        "Page not found",
        html! {
            h1 { "We could not find that page" }
            p { "The address may be mistyped, or the page may have moved. Search for an event instead:" }
            (search_form(""))
            p { a href="/" { "Back to the home page" } }
        },
    );
    let mut response = page(markup, "no-store", &[]);
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

fn money(minor: i64, currency: &str) -> String {
    l10n::money(minor, currency)
}

/// A JSON timestamp in the venue's zone: "Sat 12 Dec 2026, 19:15 EST".
fn when(raw: &Value, zone: &str) -> String {
    instant(raw)
        .map(|t| l10n::local(t, zone).full())
        .unwrap_or_default()
}

fn instant(raw: &Value) -> Option<DateTime<Utc>> {
    raw.as_str().and_then(|s| s.parse::<DateTime<Utc>>().ok())
}

/// Where an event stands for a shopper, in the order the checks apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleState {
    /// Tickets can be bought now.
    OnSale,
    /// The sale opens at this moment.
    NotYet(DateTime<Utc>),
    /// The sale window has closed.
    Ended,
    /// Nothing is left.
    SoldOut,
    /// The promoter cancelled it.
    Cancelled,
    /// It has started or is over.
    Past,
}

impl SaleState {
    /// From the event's status, times and availability, at `now`.
    pub fn of(
        status: &str,
        starts_at: Option<DateTime<Utc>>,
        sale: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
        sold_out: bool,
        now: DateTime<Utc>,
    ) -> Self {
        match (status, starts_at, sale) {
            ("cancelled", _, _) => Self::Cancelled,
            ("completed", _, _) => Self::Past,
            (_, Some(start), _) if start <= now => Self::Past,
            (_, _, (Some(opens), _)) if now < opens => Self::NotYet(opens),
            (_, _, (_, Some(closes))) if now >= closes => Self::Ended,
            _ if sold_out => Self::SoldOut,
            _ => Self::OnSale,
        }
    }

    /// From an event page's JSON (`GET /v1/events/{id}`).
    pub fn of_event(e: &Value, now: DateTime<Utc>) -> Self {
        Self::of(
            text(&e["status"]),
            instant(&e["starts_at"]),
            (instant(&e["sale_starts_at"]), instant(&e["sale_ends_at"])),
            e["availability"]["sold_out"].as_bool().unwrap_or(false),
            now,
        )
    }

    /// What a badge says, with the sale's opening in the venue's time.
    pub fn label(self, zone: &str) -> String {
        match self {
            Self::OnSale => "On sale now".to_owned(),
            Self::NotYet(opens) => format!("On sale {}", l10n::local(opens, zone).full()),
            Self::Ended => "Sales have ended".to_owned(),
            Self::SoldOut => "Sold out".to_owned(),
            Self::Cancelled => "Cancelled".to_owned(),
            Self::Past => "This event has taken place".to_owned(),
        }
    }

    /// A stable name for styles and tests.
    pub fn key(self) -> &'static str {
        match self {
            Self::OnSale => "on-sale",
            Self::NotYet(_) => "not-yet",
            Self::Ended => "ended",
            Self::SoldOut => "sold-out",
            Self::Cancelled => "cancelled",
            Self::Past => "past",
        }
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// Pages whose content is filled in by the browser (the user's own data).
fn shell(title: &str, body: Markup) -> Response {
    page(layout(title, body), SHELL_CACHE, &[])
}
