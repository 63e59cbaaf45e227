//! `GET /search`: the search page, with facets as links that toggle a
//! filter, range facets (price, month) that set one, sorting and paging.
//! A malformed search is a 400 page naming the parameter at fault.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use search::{FacetCount, PriceBucket};
use sqlx::PgPool;
use std::collections::HashMap;

use super::{
    LIST_CACHE, MalformedAddress, SaleState, UnavailablePage, error_page, format, layout, money,
    page, search_form,
};
use crate::AppState;
use crate::search::params::{self, SearchParams};

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
                            // A link that toggles the filter; the selected
                            // one is marked for assistive technology
                            // (aria-current) and by a tick, not only style.
                            a.facet href=(search_url(params, name, value, true)) data-value=(value)
                                aria-current=[selected.then_some("true")] {
                                @if selected { span.tick aria-hidden="true" { "✓ " } }
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

/// A facet's values as `(value, label, count)`.
fn counts(c: &[FacetCount]) -> Vec<(String, String, u64)> {
    c.iter()
        .map(|f| (f.value.clone(), f.value.clone(), f.count))
        .collect()
}

/// The search page narrowed to a range: `pairs` replace those parameters
/// (an empty value drops it), page reset to 1.
fn range_href(params: &[(String, String)], pairs: &[(&str, String)]) -> String {
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
}

/// Price buckets as links that set `min_price` and `max_price`.
fn price_links(params: &[(String, String)], buckets: &[PriceBucket]) -> Vec<(String, String, u64)> {
    buckets
        .iter()
        .map(|b| {
            let label = match b.to {
                Some(to) => format!("{} to {}", b.from, to),
                None => format!("{} and up", b.from),
            };
            let href = range_href(
                params,
                &[
                    ("min_price", b.from.to_string()),
                    ("max_price", b.to.map(|t| t.to_string()).unwrap_or_default()),
                ],
            );
            (href, label, b.count)
        })
        .collect()
}

/// Months (`yyyy-mm`) as links that set `start` and `end` to the month's
/// first and last day.
fn month_links(params: &[(String, String)], months: &[FacetCount]) -> Vec<(String, String, u64)> {
    months
        .iter()
        .filter_map(|m| {
            let first =
                chrono::NaiveDate::parse_from_str(&format!("{}-01", m.value), "%Y-%m-%d").ok()?;
            let last = first
                .checked_add_months(chrono::Months::new(1))?
                .pred_opt()?;
            let href = range_href(
                params,
                &[("start", first.to_string()), ("end", last.to_string())],
            );
            Some((href, m.value.clone(), m.count))
        })
        .collect()
}

/// What the search document does not carry and a result shows: the
/// venue's zone and the sale window.
#[derive(Debug, sqlx::FromRow)]
struct SaleFacts {
    event_id: i64,
    status: String,
    sale_starts_at: DateTime<Utc>,
    sale_ends_at: DateTime<Utc>,
    timezone: String,
}

/// The sale facts of a page of hits, from Postgres in one query; none when
/// the database is unreachable (the page then shows UTC and no sale
/// state).
async fn sale_facts(pool: &PgPool, ids: &[i64]) -> HashMap<i64, SaleFacts> {
    let rows: Vec<SaleFacts> = sqlx::query_as(
        "select e.event_id, e.status, e.sale_starts_at, e.sale_ends_at, v.timezone
           from events e join venues v using (venue_id)
          where e.event_id = any($1)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    rows.into_iter().map(|r| (r.event_id, r)).collect()
}

/// The search page.
///
/// Takes the parameters `GET /v1/events/search` takes, and shows the
/// results with facets as links that toggle a filter, range facets (price,
/// month) that set one, sorting and paging.
#[utoipa::path(get, path = "/search", tag = "pages",
    params(SearchParams),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        MalformedAddress, UnavailablePage,
    ))]
pub async fn search_page(
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
    let parsed = match params::search_query(&params) {
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
    let ids: Vec<i64> = results.hits.iter().map(|h| h.event_id).collect();
    let sales = sale_facts(&state.ctx.pool, &ids).await;
    let now = Utc::now();
    let prices = price_links(&params, &results.facets.price);
    let months = month_links(&params, &results.facets.month);
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
                            @let facts = sales.get(&hit.event_id);
                            @let zone = facts.map_or("UTC", |f| f.timezone.as_str());
                            @let state = facts.map_or(SaleState::OnSale, |f| SaleState::of(
                                &f.status, Some(hit.starts_at), (Some(f.sale_starts_at), Some(f.sale_ends_at)), hit.sold_out, now));
                            li.result data-event-id=(hit.event_id) {
                                a.event-link href={ "/events/" (hit.event_id) } { (hit.title) }
                                p.meta {
                                    (format::local(hit.starts_at, zone).full()) " · " (hit.venue.name) ", " (hit.venue.city)
                                    " · from " (money(hit.min_price_cents, &hit.currency))
                                }
                                p.card-foot { span.badge data-state=(state.key()) { (state.label(zone)) } }
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
