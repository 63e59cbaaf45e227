//! Public HTML pages, server-rendered with maud: home, search, event (with
//! the seat map drawn in the browser from `/v1/events/{id}/seats`),
//! checkout, confirmation, my tickets, and a demo sign-in.
//!
//! Nothing user-specific is ever rendered here: these pages are cached by
//! the edge like the JSON they come from. Who is signed in, holds and
//! tickets are fetched by `/static/app.js` after load, with the token the
//! demo sign-in stored in the browser.
#![allow(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use problem::Problem;
use serde_json::Value;

use crate::AppState;
use crate::page_cache::Lookup;

const SCRIPT: &str = include_str!("../static/app.js");
const STYLE: &str = include_str!("../static/app.css");
/// Bumped with the assets so a cached page never pairs with an old script.
const ASSET_VERSION: &str = "1";

const LIST_CACHE: &str =
    "public, max-age=15, s-maxage=15, stale-while-revalidate=30, stale-if-error=600";
const EVENT_CACHE: &str =
    "public, max-age=1, s-maxage=1, stale-while-revalidate=30, stale-if-error=600";
const SHELL_CACHE: &str = "public, max-age=300, s-maxage=300";

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Ticketing" }
                link rel="stylesheet" href={ "/static/app.css?v=" (ASSET_VERSION) };
                script src={ "/static/app.js?v=" (ASSET_VERSION) } defer {}
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
    let etag = crate::page_cache::strong_etag(body.as_bytes());
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
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

fn money(cents: i64, currency: &str) -> String {
    format!("{}.{:02} {currency}", cents / 100, cents % 100)
}

fn when(raw: &Value) -> String {
    raw.as_str()
        .and_then(|s| s.parse::<DateTime<Utc>>().ok())
        .map(|t| t.format("%a %-d %b %Y, %H:%M UTC").to_string())
        .unwrap_or_default()
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// The event's JSON page (the same cache entry `GET /v1/events/{id}` uses)
/// and its surrogate keys, or the error page to answer instead.
async fn event_json(state: &AppState, id: i64) -> Result<(Value, Vec<String>), Response> {
    let pool = state.ctx.pool.clone();
    let lookup = state
        .pages
        .get(
            &format!("event:{id}"),
            std::time::Duration::from_secs(1),
            || crate::catalog_routes::load_event(pool, id),
        )
        .await;
    match lookup {
        Lookup::Found(page, _) => serde_json::from_slice(&page.body)
            .map(|v| (v, page.keys.clone()))
            .map_err(|_| error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")),
        Lookup::NotFound => Err(error_page(StatusCode::NOT_FOUND, "No such event")),
        Lookup::Unavailable(_) => Err(error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The catalog is temporarily unavailable; try again shortly",
        )),
    }
}

fn event_list(events: &Value) -> Markup {
    html! {
        ul.events {
            @for e in events["events"].as_array().into_iter().flatten() {
                li {
                    a.event-link href={ "/events/" (e["event_id"]) } { (text(&e["title"])) }
                    span.meta { " · " (when(&e["starts_at"])) " · " (text(&e["venue"]["name"])) ", " (text(&e["venue"]["city"])) }
                }
            }
        }
    }
}

async fn list_json(state: &AppState, sort: &str) -> Value {
    let params = vec![
        ("sort".to_owned(), sort.to_owned()),
        ("limit".to_owned(), "12".to_owned()),
    ];
    let Ok(q) = crate::event_list::parse(&params) else {
        return Value::Null;
    };
    let pool = state.ctx.pool.clone();
    let key = q.key();
    match state
        .pages
        .get(&key, std::time::Duration::from_secs(5), || {
            crate::event_list::load(pool, q)
        })
        .await
    {
        Lookup::Found(page, _) => serde_json::from_slice(&page.body).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// `GET /`.
pub async fn home(State(state): State<AppState>) -> Response {
    let popular = list_json(&state, "popular").await;
    let upcoming = list_json(&state, "upcoming").await;
    let markup = layout(
        "Find events",
        html! {
            h1 { "Find your next event" }
            (search_form(""))
            section #popular aria-labelledby="popular-h" {
                h2 #popular-h { "Popular" }
                (event_list(&popular))
            }
            section #upcoming aria-labelledby="upcoming-h" {
                h2 #upcoming-h { "Coming up" }
                (event_list(&upcoming))
            }
        },
    );
    page(markup, LIST_CACHE, &[])
}

/// The URL of the search page with `key` toggled to `value` (or set, for
/// single-valued keys), page reset to 1.
fn search_url(params: &[(String, String)], key: &str, value: &str, toggle: bool) -> String {
    let mut out: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "page")
        .filter(|(k, v)| !(k == key && (!toggle || v == value)))
        .cloned()
        .collect();
    let selected = params.iter().any(|(k, v)| k == key && v == value);
    if !(toggle && selected) {
        out.push((key.to_owned(), value.to_owned()));
    }
    search_href(&out)
}

/// `/search?` with these parameters, encoded.
fn search_href(params: &[(String, String)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("/search?{}", query.join("&"))
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn facet_group(
    params: &[(String, String)],
    name: &str,
    label: &str,
    counts: &[(String, String, u64)],
) -> Markup {
    html! {
        @if !counts.is_empty() {
            fieldset data-facet=(name) {
                legend { (label) }
                ul {
                    @for (value, shown, count) in counts {
                        @let selected = params.iter().any(|(k, v)| k == name && v == value);
                        li {
                            a.facet href=(search_url(params, name, value, true)) data-value=(value)
                                aria-pressed=(if selected { "true" } else { "false" }) {
                                (shown) " (" (count) ")"
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Facets that set a range filter: `(href, label, count)`.
fn range_group(name: &str, label: &str, links: &[(String, String, u64)]) -> Markup {
    html! {
        @if !links.is_empty() {
            fieldset data-facet=(name) {
                legend { (label) }
                ul {
                    @for (href, shown, count) in links {
                        li { a.facet href=(href) data-value=(shown) { (shown) " (" (count) ")" } }
                    }
                }
            }
        }
    }
}

/// `GET /search`.
pub async fn search(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let params = match query {
        Ok(Query(p)) => p,
        Err(_) => return error_page(StatusCode::BAD_REQUEST, "That search address is malformed"),
    };
    let q_text = params
        .iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let parsed = match crate::search_params::search_query(&params) {
        Ok(q) => q,
        Err(p) => {
            let message = format!(
                "Invalid search: {} ({})",
                p.detail.unwrap_or_default(),
                p.field.unwrap_or_default()
            );
            return error_page(StatusCode::BAD_REQUEST, &message);
        }
    };
    let results = match state.search.search(&parsed).await {
        Ok(r) => r,
        Err(_) => {
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Search is temporarily unavailable; event pages still work",
            );
        }
    };
    let sort = params
        .iter()
        .find(|(k, _)| k == "sort")
        .map_or("relevance", |(_, v)| v.as_str())
        .to_owned();
    let counts = |c: &[search::FacetCount]| -> Vec<(String, String, u64)> {
        c.iter()
            .map(|f| (f.value.clone(), f.value.clone(), f.count))
            .collect()
    };
    // Price buckets and months narrow the range filters.
    let ranges = |pairs: &[(&str, String)]| -> String {
        let mut p: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "page" && !pairs.iter().any(|(n, _)| n == k))
            .cloned()
            .collect();
        p.extend(
            pairs
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| ((*k).to_owned(), v.clone())),
        );
        search_href(&p)
    };
    let prices: Vec<(String, String, u64)> = results
        .facets
        .price
        .iter()
        .map(|b| {
            let label = match b.to {
                Some(to) => format!("{} to {}", b.from, to),
                None => format!("{} and up", b.from),
            };
            let href = ranges(&[
                ("min_price", b.from.to_string()),
                ("max_price", b.to.map(|t| t.to_string()).unwrap_or_default()),
            ]);
            (href, label, b.count)
        })
        .collect();
    let months: Vec<(String, String, u64)> = results
        .facets
        .month
        .iter()
        .filter_map(|m| {
            let first =
                chrono::NaiveDate::parse_from_str(&format!("{}-01", m.value), "%Y-%m-%d").ok()?;
            let last = first
                .checked_add_months(chrono::Months::new(1))?
                .pred_opt()?;
            let href = ranges(&[("start", first.to_string()), ("end", last.to_string())]);
            Some((href, m.value.clone(), m.count))
        })
        .collect();
    let page_no = parsed.page;
    let last = (results.total as usize).div_ceil(parsed.size.max(1));
    let markup = layout(
        "Search",
        html! {
            h1 { "Search" }
            (search_form(&q_text))
            div.search {
                aside #facets aria-label="Filters" {
                    (facet_group(&params, "category", "Category", &counts(&results.facets.category)))
                    (facet_group(&params, "genre", "Genre", &counts(&results.facets.genre)))
                    (facet_group(&params, "city", "City", &counts(&results.facets.city)))
                    (range_group("month", "Month", &months))
                    (range_group("price", "Lowest price", &prices))
                }
                section aria-label="Results" {
                    form.sort method="get" action="/search" {
                        @for (k, v) in params.iter().filter(|(k, _)| k != "sort" && k != "page") {
                            input type="hidden" name=(k) value=(v);
                        }
                        label for="sort" { "Sort by" }
                        select #sort name="sort" {
                            @for (value, label) in [("relevance", "Best match"), ("date", "Date"), ("price_asc", "Price: low to high"), ("price_desc", "Price: high to low"), ("popularity", "Popularity")] {
                                option value=(value) selected[sort == value] { (label) }
                            }
                        }
                        noscript { button type="submit" { "Sort" } }
                    }
                    p #total { (results.total) " events" }
                    ol #results {
                        @for hit in &results.hits {
                            li.result {
                                a.event-link href={ "/events/" (hit.event_id) } { (hit.title) }
                                p.meta {
                                    (hit.starts_at.format("%a %-d %b %Y")) " · " (hit.venue.name) ", " (hit.venue.city)
                                    " · from " (money(hit.min_price_cents, &hit.currency))
                                    @if hit.sold_out { " · " strong { "Sold out" } }
                                }
                            }
                        }
                    }
                    nav.pager aria-label="Pages" {
                        @if page_no > 1 {
                            a #prev href=(search_url(&params, "page", &(page_no - 1).to_string(), false)) { "Previous" }
                        }
                        span { "Page " (page_no) " of " (last.max(1)) }
                        @if page_no < last {
                            a #next href=(search_url(&params, "page", &(page_no + 1).to_string(), false)) { "Next" }
                        }
                    }
                }
            }
        },
    );
    page(markup, LIST_CACHE, &[])
}

/// `GET /events/{id}`.
pub async fn event(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    let Some(id) = raw.parse::<i64>().ok().filter(|id| *id > 0) else {
        return error_page(StatusCode::BAD_REQUEST, "That is not an event address");
    };
    let (e, keys) = match event_json(&state, id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let venue = &e["venue"];
    let map_link = format!(
        "https://www.openstreetmap.org/?mlat={}&mlon={}#map=16/{}/{}",
        venue["lat"], venue["lon"], venue["lat"], venue["lon"]
    );
    let tiers = e["ticket_types"].as_array().cloned().unwrap_or_default();
    let on_sale = text(&e["status"]) == "scheduled";
    let markup = layout(
        text(&e["title"]),
        html! {
            article #event data-event-id=(id) {
                h1 #event-title { (text(&e["title"])) }
                @if !on_sale { p.status { "This event is " (text(&e["status"])) "." } }
                p #event-when { (when(&e["starts_at"])) }
                p #event-venue {
                    (text(&venue["name"])) ", " (text(&venue["address"])) ", " (text(&venue["city"]))
                    " · " a #map-link href=(map_link) rel="noopener" { "Map" }
                }
                @if let Some(performers) = e["performers"].as_array() {
                    h2 { "Performers" }
                    ul #performers {
                        @for p in performers { li { (text(&p["name"])) } }
                    }
                }
                p.description { (text(&e["description"])) }
                h2 { "Tickets" }
                ul #ticket-types {
                    @for t in &tiers {
                        li data-ticket-type-id=(t["ticket_type_id"]) data-kind=(text(&t["kind"])) {
                            span.tier-swatch data-tier=(t["ticket_type_id"]) {}
                            (text(&t["name"])) " · " (money(t["price_cents"].as_i64().unwrap_or(0), text(&t["currency"])))
                            " · " (t["available"]) " left"
                        }
                    }
                }
                @if on_sale {
                    section #booking aria-label="Choose seats" {
                        h2 { "Choose your seats" }
                        p.hint { "Click seats on the map, or use Tab and press Enter or Space to select. Or let us pick the best available." }
                        div #seat-map data-event-id=(id) role="group" aria-label="Seat map" { p.loading { "Loading the seat map…" } }
                        p #selection aria-live="polite" { "0 seats selected" }
                        button #hold-selected type="button" disabled { "Hold selected seats" }
                        div.best {
                            label for="best-tier" { "Ticket type" }
                            select #best-tier {
                                @for t in &tiers {
                                    option value=(t["ticket_type_id"]) data-kind=(text(&t["kind"])) { (text(&t["name"])) }
                                }
                            }
                            label for="best-quantity" { "Quantity" }
                            input #best-quantity type="number" min="1" max="8" value="2";
                            button #hold-best type="button" { "Hold best available" }
                        }
                        p #hold-error role="alert" {}
                    }
                }
            }
        },
    );
    page(markup, EVENT_CACHE, &keys)
}

/// Pages whose content is filled in by the browser (the user's own data).
fn shell(title: &str, body: Markup) -> Response {
    page(layout(title, body), SHELL_CACHE, &[])
}

/// `GET /checkout/{booking_id}`.
pub async fn checkout(Path(raw): Path<String>) -> Response {
    if uuid_like(&raw).is_none() {
        return error_page(StatusCode::BAD_REQUEST, "That is not a booking address");
    }
    shell(
        "Checkout",
        html! {
            h1 { "Checkout" }
            section #checkout data-booking-id=(raw) {
                div #booking-summary aria-live="polite" { "Loading your hold…" }
                p { "Your seats are held for " strong #countdown aria-live="off" { "–:––" } "." }
                form #pay-form {
                    label for="card-number" { "Card number" }
                    input #card-number name="card_number" inputmode="numeric" autocomplete="cc-number" required;
                    button #pay type="submit" { "Pay" }
                }
                p #pay-error role="alert" {}
                details #test-cards open {
                    summary { "Sandbox test cards" }
                    ul {
                        li { code { "4242 4242 4242 4242" } ": payment succeeds" }
                        li { code { "4000 0000 0000 0002" } ": payment is declined (your seats are released)" }
                        li { code { "4000 0000 0000 0077" } ": payment is slow" }
                    }
                }
            }
        },
    )
}

fn uuid_like(raw: &str) -> Option<&str> {
    (raw.len() == 36 && raw.chars().all(|c| c.is_ascii_hexdigit() || c == '-')).then_some(raw)
}

/// `GET /confirmation/{booking_id}`.
pub async fn confirmation(Path(raw): Path<String>) -> Response {
    if uuid_like(&raw).is_none() {
        return error_page(StatusCode::BAD_REQUEST, "That is not a booking address");
    }
    shell(
        "Confirmation",
        html! {
            h1 { "Thank you" }
            section #confirmation data-booking-id=(raw) aria-live="polite" { "Loading your booking…" }
            p { a #my-tickets-link href="/me/tickets" { "See all my tickets" } }
        },
    )
}

/// `GET /me/tickets`.
pub async fn my_tickets() -> Response {
    shell(
        "My tickets",
        html! {
            h1 { "My tickets" }
            ul #tickets aria-live="polite" {}
            p #no-tickets hidden { "No tickets yet." }
        },
    )
}

/// `GET /login`.
pub async fn login(State(state): State<AppState>) -> Response {
    let users: Vec<(String, String)> = sqlx::query_as(
        "select email, role from users where email like '%@demo.ticketing.test'
          order by role desc, email limit 20",
    )
    .fetch_all(&state.ctx.pool)
    .await
    .unwrap_or_default();
    shell(
        "Sign in",
        html! {
            h1 { "Demo sign-in" }
            p { "Pick a demo shopper. This signs you in on this browser only; the token is kept in local storage." }
            ul #demo-users {
                @for (email, role) in &users {
                    li { button.demo-user type="button" data-email=(email) { (email) " (" (role) ")" } }
                }
            }
            @if users.is_empty() { p { "No demo users: run " code { "ticketctl seed" } "." } }
        },
    )
}

/// `GET /static/app.js` and `/static/app.css`.
pub async fn asset(Path(name): Path<String>) -> Response {
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

#[derive(Debug, serde::Deserialize)]
pub struct DemoLogin {
    email: String,
}

/// `POST /v1/demo/login`: a token for a demo user (development only).
pub async fn demo_login(
    State(state): State<AppState>,
    problem::ApiJson(body): problem::ApiJson<DemoLogin>,
) -> Result<Response, Problem> {
    if state.production {
        return Err(Problem::not_found("no such route"));
    }
    if !body.email.ends_with("@demo.ticketing.test") {
        return Err(Problem::invalid_field("email", "not a demo user"));
    }
    let user: Option<(uuid::Uuid, String)> =
        sqlx::query_as("select user_id, role from users where email = $1")
            .bind(&body.email)
            .fetch_optional(&state.ctx.pool)
            .await
            .map_err(|_| Problem::unavailable("the user store is unavailable"))?;
    let Some((user_id, role)) = user else {
        return Err(Problem::invalid_field("email", "no such demo user"));
    };
    let role: auth::Role = role.parse().map_err(|_| Problem::internal())?;
    let token = state
        .ctx
        .jwt
        .mint(user_id, role, Utc::now(), chrono::Duration::hours(12))
        .map_err(|_| Problem::internal())?;
    let mut response = axum::Json(serde_json::json!({
        "token": token, "email": body.email, "role": role.as_str(), "user_id": user_id,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
