//! `GET /search`: the search page, with facets as links that toggle a
//! filter, range facets (price, month) that set one, a date range, a row
//! of removable chips (one per active filter), sorting and paging. When
//! nothing matches it says so and offers popular events on sale now. On a
//! phone the filters sit in a drawer (`details`) so the results come
//! first. A malformed search is a 400 page naming the parameter at fault.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Months, NaiveDate, Utc};
use maud::{Markup, html};
use search::{FacetCount, PriceBucket};
use serde_json::Value;
use sqlx::PgPool;
use std::collections::HashMap;

use super::{
    LIST_CACHE, MalformedAddress, SaleState, UnavailablePage, error_page, home, layout, money,
    page, picture, search_form,
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

/// `/search?` with these parameters, encoded (`/search` with none).
fn search_href(params: &[(String, String)]) -> String {
    if params.is_empty() {
        return "/search".to_owned();
    }
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
    let chosen = values_of(params, name);
    // A selected value the other filters leave no event for is not in the
    // counts; it is still listed (with 0) so that it can be unselected.
    let mut counts = counts.to_vec();
    for value in &chosen {
        if !counts.iter().any(|(v, _, _)| v == value) {
            counts.push((value.clone(), value.clone(), 0));
        }
    }
    html! {
        @if !counts.is_empty() {
            fieldset data-facet=(name) {
                legend { (label) }
                ul {
                    @for (value, shown, count) in &counts {
                        @let selected = chosen.contains(value);
                        li {
                            @if *count == 0 && !selected {
                                // Nothing to narrow to: not a link.
                                span.facet aria-disabled="true" data-value=(value) { (shown) " (0)" }
                            } @else {
                                // A link that toggles the filter; the selected
                                // one is marked for assistive technology
                                // (aria-current) and by a tick, not only style.
                                a.facet href=(facet_href(params, name, value, selected)) data-value=(value)
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
}

/// A link for a range facet: `href`, label, count, and whether it is the
/// range set now (its link then removes it).
type RangeLink = (String, String, u64, bool);

/// Facets that set a range filter; none when no value has an event and
/// none is selected.
fn range_group(name: &str, label: &str, links: &[RangeLink]) -> Markup {
    html! {
        @if links.iter().any(|(_, _, count, selected)| *count > 0 || *selected) {
            fieldset data-facet=(name) {
                legend { (label) }
                ul {
                    @for (href, shown, count, selected) in links {
                        li {
                            @if *count == 0 && !selected {
                                span.facet aria-disabled="true" data-value=(shown) { (shown) " (0)" }
                            } @else {
                                a.facet href=(href) data-value=(shown)
                                    aria-current=[selected.then_some("true")] {
                                    @if *selected { span.tick aria-hidden="true" { "✓ " } }
                                    (shown) " (" (count) ")"
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The values a multi-valued filter has now: the parameter repeated
/// and/or comma-separated, as `search_query` reads it.
fn values_of(params: &[(String, String)], key: &str) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The single value of a parameter, if given and not blank.
fn value_of<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The search page without `value` of the multi-valued filter `key` (taken
/// out of a comma-separated list too), page reset to 1.
fn without_value(params: &[(String, String)], key: &str, value: &str) -> String {
    let p: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "page")
        .filter_map(|(k, v)| {
            if k != key {
                return Some((k.clone(), v.clone()));
            }
            let rest: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty() && *x != value)
                .collect();
            (!rest.is_empty()).then(|| (k.clone(), rest.join(",")))
        })
        .collect();
    search_href(&p)
}

/// A term facet's link: removes the value if selected, adds it otherwise.
fn facet_href(params: &[(String, String)], key: &str, value: &str, selected: bool) -> String {
    if selected {
        without_value(params, key, value)
    } else {
        search_url(params, key, value, true)
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

/// Whether the price parameter `key` is `major` (in major units).
fn price_is(params: &[(String, String)], key: &str, major: Option<i64>) -> bool {
    let given = value_of(params, key).and_then(|v| v.parse::<f64>().ok());
    match (given, major) {
        (None, None) => true,
        (Some(g), Some(m)) => (g - m as f64).abs() < 0.005,
        _ => false,
    }
}

/// Price buckets as links that set `min_price` and `max_price` (or, for
/// the range set now, remove them).
fn price_links(
    params: &[(String, String)],
    buckets: &[PriceBucket],
    currency: &str,
) -> Vec<RangeLink> {
    buckets
        .iter()
        .map(|b| {
            let from = l10n::money_whole(b.from, currency);
            let label = match b.to {
                Some(to) => format!("{from} to {}", l10n::money_whole(to, currency)),
                None => format!("{from} and up"),
            };
            let selected =
                price_is(params, "min_price", Some(b.from)) && price_is(params, "max_price", b.to);
            let pairs = if selected {
                [("min_price", String::new()), ("max_price", String::new())]
            } else {
                [
                    ("min_price", b.from.to_string()),
                    ("max_price", b.to.map(|t| t.to_string()).unwrap_or_default()),
                ]
            };
            (range_href(params, &pairs), label, b.count, selected)
        })
        .collect()
}

/// "Prices in": the display currency, one of the rates table's. Changing
/// it keeps every filter but the price range, whose numbers were in the old
/// currency. app.js remembers the choice and submits on change; on a search
/// without `currency` or a price range it switches once to the remembered
/// currency, or else the one of the browser's region.
fn currency_form(params: &[(String, String)], display: &str, rates: &search::Rates) -> Markup {
    let keep = |k: &str| !matches!(k, "currency" | "page" | "min_price" | "max_price");
    html! {
        form.currency method="get" action="/search" {
            @for (k, v) in params.iter().filter(|(k, _)| keep(k)) {
                input type="hidden" name=(k) value=(v);
            }
            label for="currency" { "Prices in" }
            select #currency name="currency" {
                @for code in rates.per_usd.keys() {
                    // The countries using it: app.js picks the shopper's
                    // own currency from the browser's region.
                    option value=(code) selected[code == display]
                        data-regions=(search::money::countries_using(code).join(" ")) { (code) }
                }
            }
            noscript { button type="submit" { "Show" } }
        }
    }
}

/// A month (`yyyy-mm`)'s first and last day.
fn month_days(month: &str) -> Option<(NaiveDate, NaiveDate)> {
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    let last = first.checked_add_months(Months::new(1))?.pred_opt()?;
    Some((first, last))
}

/// The month `start` and `end` span exactly (first to last day), if they do.
fn selected_month(params: &[(String, String)]) -> Option<String> {
    let start = value_of(params, "start")?;
    let month = start.strip_suffix("-01")?;
    let (first, last) = month_days(month)?;
    (start == first.to_string() && value_of(params, "end")? == last.to_string())
        .then(|| month.to_owned())
}

/// Months (`yyyy-mm`) as links that set `start` and `end` to the month's
/// first and last day (or, for the month set now, remove them).
fn month_links(params: &[(String, String)], months: &[FacetCount]) -> Vec<RangeLink> {
    let current = selected_month(params);
    months
        .iter()
        .filter_map(|m| {
            let (first, last) = month_days(&m.value)?;
            let selected = current.as_deref() == Some(m.value.as_str());
            let pairs = if selected {
                [("start", String::new()), ("end", String::new())]
            } else {
                [("start", first.to_string()), ("end", last.to_string())]
            };
            Some((
                range_href(params, &pairs),
                m.value.clone(),
                m.count,
                selected,
            ))
        })
        .collect()
}

/// A `start`/`end` value as a date for `<input type="date">`.
fn date_input(v: &str) -> Option<String> {
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Some(d.to_string());
    }
    // The day as written (an instant with the shopper's offset, from the
    // home page's "This weekend", names the shopper's own day).
    DateTime::parse_from_rfc3339(v)
        .ok()
        .map(|t| t.date_naive().to_string())
}

/// A `start`/`end` value for people: "1 Dec 2026", or as given.
fn date_label(v: &str) -> String {
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_or_else(|_| v.to_owned(), |d| d.format("%-d %b %Y").to_string())
}

/// One active filter: what it is, its value, and the page without it.
#[derive(Debug, PartialEq)]
struct Chip {
    kind: &'static str,
    value: String,
    href: String,
}

/// The filters a search has, one chip each, in the order of the facets.
/// Parameters that are not filters (the query, sort, paging, anything
/// unknown) give none.
fn active_filters(params: &[(String, String)], currency: &str) -> Vec<Chip> {
    let mut out = Vec::new();
    for (key, kind) in [
        ("category", "Category"),
        ("genre", "Genre"),
        ("city", "City"),
        ("country", "Country"),
        ("venue_id", "Venue"),
        ("performer_id", "Performer"),
    ] {
        for value in values_of(params, key) {
            let href = without_value(params, key, &value);
            out.push(Chip { kind, value, href });
        }
    }
    if value_of(params, "when") == Some("weekend") && value_of(params, "start").is_some() {
        // The home page's "This weekend" (its range computed in the
        // shopper's zone by app.js): one chip for the two dates.
        let href = range_href(
            params,
            &[
                ("start", String::new()),
                ("end", String::new()),
                ("when", String::new()),
            ],
        );
        out.push(Chip {
            kind: "When",
            value: "This weekend".to_owned(),
            href,
        });
    } else if let Some(month) = selected_month(params) {
        let href = range_href(params, &[("start", String::new()), ("end", String::new())]);
        out.push(Chip {
            kind: "Month",
            value: month,
            href,
        });
    } else {
        for (key, kind) in [("start", "From"), ("end", "To")] {
            if let Some(v) = value_of(params, key) {
                let href = range_href(params, &[(key, String::new())]);
                out.push(Chip {
                    kind,
                    value: date_label(v),
                    href,
                });
            }
        }
    }
    let amount = |v: &str| match v.parse::<f64>() {
        Ok(major) if major.fract() == 0.0 && major.abs() < 1e12 => {
            l10n::money_whole(major as i64, currency)
        }
        _ => format!("{v} {currency}"),
    };
    let price = match (value_of(params, "min_price"), value_of(params, "max_price")) {
        (Some(lo), Some(hi)) => Some(format!("{} to {}", amount(lo), amount(hi))),
        (Some(lo), None) => Some(format!("{} and up", amount(lo))),
        (None, Some(hi)) => Some(format!("up to {}", amount(hi))),
        (None, None) => None,
    };
    if let Some(value) = price {
        let href = range_href(
            params,
            &[("min_price", String::new()), ("max_price", String::new())],
        );
        out.push(Chip {
            kind: "Price",
            value,
            href,
        });
    }
    if matches!(value_of(params, "available"), Some("true" | "1")) {
        out.push(Chip {
            kind: "Only",
            value: "with tickets left".to_owned(),
            href: range_href(params, &[("available", String::new())]),
        });
    }
    if let (Some(lat), Some(lon)) = (value_of(params, "lat"), value_of(params, "lon")) {
        let value = match value_of(params, "radius_km") {
            Some(r) => format!("{lat}, {lon} (within {r} km)"),
            None => format!("{lat}, {lon}"),
        };
        let href = range_href(
            params,
            &[
                ("lat", String::new()),
                ("lon", String::new()),
                ("radius_km", String::new()),
            ],
        );
        out.push(Chip {
            kind: "Near",
            value,
            href,
        });
    }
    out
}

/// The search page with every filter gone: only the query and the order.
fn clear_href(params: &[(String, String)]) -> String {
    let kept: Vec<(String, String)> = params
        .iter()
        .filter(|(k, v)| matches!(k.as_str(), "q" | "keyword" | "sort") && !v.trim().is_empty())
        .cloned()
        .collect();
    search_href(&kept)
}

/// The chips above the results, each a link that removes its filter, and
/// a link that clears them all.
fn chips(params: &[(String, String)], active: &[Chip]) -> Markup {
    html! {
        @if !active.is_empty() {
            div #active-filters {
                ul.chips aria-label="Active filters" {
                    @for chip in active {
                        li {
                            a.chip href=(chip.href) data-filter=(chip.kind) {
                                span.sr-only { "Remove filter: " }
                                span.chip-kind { (chip.kind) } " "
                                span.chip-value { (chip.value) }
                                span.chip-x aria-hidden="true" { "×" }
                            }
                        }
                    }
                }
                a #clear-filters href=(clear_href(params)) { "Clear all filters" }
            }
        }
    }
}

/// The date range: two date fields that set `start` and `end`, keeping
/// every other parameter (page reset to 1).
fn date_range(params: &[(String, String)]) -> Markup {
    let from = value_of(params, "start").and_then(date_input);
    let to = value_of(params, "end").and_then(date_input);
    html! {
        form #date-range method="get" action="/search" {
            @for (k, v) in params.iter().filter(|(k, _)| !matches!(k.as_str(), "start" | "end" | "when" | "page")) {
                input type="hidden" name=(k) value=(v);
            }
            fieldset.dates {
                legend { "Dates" }
                label for="date-from" { "From" }
                input #date-from type="date" name="start" value=[from.as_deref()];
                label for="date-to" { "To" }
                input #date-to type="date" name="end" value=[to.as_deref()] min=[from.as_deref()];
                button.secondary type="submit" { "Apply dates" }
            }
        }
    }
}

/// What to say when nothing matches: in words, with a way out.
fn no_results(q: &str, active: &[Chip], clear: &str, popular: &Value) -> Markup {
    let events = popular["events"].as_array().map_or(0, Vec::len);
    html! {
        div #no-results {
            h2 #no-results-h {
                @if q.trim().is_empty() {
                    "No events match " @if active.is_empty() { "this search" } @else { "these filters" }
                } @else {
                    "No events match “" (q.trim()) "”"
                    @if !active.is_empty() { " with these filters" }
                }
            }
            @if active.is_empty() {
                p { "Check the spelling, or try fewer or other words: an artist, a venue or a city." }
            } @else {
                p {
                    "Fewer filters may find some: remove one above, or "
                    a #no-results-clear href=(clear) { "clear the filters and search again" } "."
                }
            }
        }
        @if events > 0 {
            section #popular aria-labelledby="popular-h" {
                h2 #popular-h { "Popular, on sale now" }
                (home::event_list(popular))
            }
        }
    }
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
    let Ok(rates) = state.rates.current().await else {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Search is temporarily unavailable; event pages still work",
        );
    };
    let parsed = match params::search_query(&params, &rates.rates) {
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
        Ok(r) => r.converted(&parsed),
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
    // USD without a rates table: the buckets are then the fixed ones.
    let display = parsed
        .prices
        .as_ref()
        .map_or(search::money::QUOTE_CURRENCY, |p| p.display.as_str())
        .to_owned();
    let prices = price_links(&params, &results.facets.price, &display);
    let months = month_links(&params, &results.facets.month);
    let page_no = parsed.page;
    let last = (results.total as usize).div_ceil(parsed.size.max(1));
    let active = active_filters(&params, &display);
    let clear = clear_href(&params);
    // Nothing matches: popular events on sale now, as on the home page
    // (the same cache entry), six of them.
    let popular = if results.total == 0 {
        let mut popular = home::list_json(&state, "popular", true).await;
        if let Some(events) = popular.get_mut("events").and_then(Value::as_array_mut) {
            events.truncate(6);
        }
        popular
    } else {
        Value::Null
    };
    let markup = layout(
        "Search",
        html! {
            h1 { "Search" }
            (search_form(&q_text))
            div.search {
                // Open as rendered (a sidebar on a wide screen, and what
                // works without JavaScript); app.js closes it on a phone so
                // the results come first.
                details #filters-drawer open {
                    summary { "Filters (" (active.len()) " active)" }
                    aside #facets aria-label="Filters" {
                        (facet_group(&params, "category", "Category", &counts(&results.facets.category)))
                        (facet_group(&params, "genre", "Genre", &counts(&results.facets.genre)))
                        (facet_group(&params, "city", "City", &counts(&results.facets.city)))
                        (range_group("month", "Month", &months))
                        (date_range(&params))
                        (range_group("price", "Lowest price", &prices))
                    }
                }
                section #results-section aria-label="Results" {
                    (chips(&params, &active))
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
                    (currency_form(&params, &display, &rates.rates))
                    p #total { (results.total) " events" }
                    @if results.total == 0 {
                        (no_results(&q_text, &active, &clear, &popular))
                    }
                    ol #results {
                        @for hit in &results.hits {
                            @let facts = sales.get(&hit.event_id);
                            @let zone = facts.map_or("UTC", |f| f.timezone.as_str());
                            @let state = facts.map_or(SaleState::OnSale, |f| SaleState::of(
                                &f.status, Some(hit.starts_at), (Some(f.sale_starts_at), Some(f.sale_ends_at)), hit.sold_out, now));
                            li.result data-event-id=(hit.event_id) {
                                (picture::event_picture(hit.event_id))
                                a.event-link href={ "/events/" (hit.event_id) } { (hit.title) }
                                p.meta {
                                    @let starts = l10n::local(hit.starts_at, zone);
                                    time.when datetime=(starts.machine) { (starts.full()) } " · " span.where { (hit.venue.name) ", " (hit.venue.city) }
                                    " · from " span.price { (money(hit.min_price_cents, &hit.currency)) }
                                    @if hit.currency != display && let Some(converted) = hit.display_min_price_cents {
                                        " " span.converted { "(about " (money(converted, &display)) ")" }
                                    }
                                }
                                p.card-foot {
                                    (picture::badge(state, zone, Some(hit.available_tickets)))
                                    @if let Some(km) = hit.distance_km { span.distance { (format!("{km:.1} km away")) } }
                                }
                            }
                        }
                    }
                    @if results.total > 0 {
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
            }
        },
    );
    page(markup, LIST_CACHE, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_chip_per_filter_each_removing_only_its_own() {
        let p = params(&[
            ("q", "rock"),
            ("city", "Berlin,Paris"),
            ("genre", "Metal"),
            ("start", "2026-12-01"),
            ("end", "2026-12-31"),
            ("min_price", "50"),
            ("sort", "date"),
            ("page", "3"),
            ("edge-probe", "1"),
        ]);
        let chips = active_filters(&p, "USD");
        let shown: Vec<String> = chips
            .iter()
            .map(|c| format!("{} {}", c.kind, c.value))
            .collect();
        assert_eq!(
            shown,
            [
                "Genre Metal",
                "City Berlin",
                "City Paris",
                "Month 2026-12",
                "Price $50 and up"
            ]
        );
        assert_eq!(
            chips[1].href,
            "/search?q=rock&city=Paris&genre=Metal&start=2026-12-01&end=2026-12-31&min_price=50&sort=date&edge-probe=1"
        );
        assert_eq!(
            chips[3].href,
            "/search?q=rock&city=Berlin%2CParis&genre=Metal&min_price=50&sort=date&edge-probe=1"
        );
        assert_eq!(clear_href(&p), "/search?q=rock&sort=date");
        assert_eq!(clear_href(&params(&[("city", "Berlin")])), "/search");
    }

    #[test]
    fn a_date_range_that_is_not_a_month_gives_from_and_to() {
        let p = params(&[("start", "2026-12-05"), ("end", ""), ("q", "")]);
        let chips = active_filters(&p, "USD");
        assert_eq!(chips.len(), 1);
        assert_eq!(
            (chips[0].kind, chips[0].value.as_str()),
            ("From", "5 Dec 2026")
        );
        assert_eq!(chips[0].href, "/search?end=&q=");
        assert_eq!(
            date_input("2026-12-05T20:00:00Z").as_deref(),
            Some("2026-12-05")
        );
        assert!(active_filters(&params(&[("q", "x"), ("sort", "date")]), "USD").is_empty());
        let weekend = params(&[
            ("start", "2026-12-11T00:00:00+09:00"),
            ("end", "2026-12-13T23:59:59+09:00"),
            ("when", "weekend"),
            ("category", "sports"),
        ]);
        let chips = active_filters(&weekend, "USD");
        let shown: Vec<String> = chips
            .iter()
            .map(|c| format!("{} {}", c.kind, c.value))
            .collect();
        assert_eq!(shown, ["Category sports", "When This weekend"]);
        assert_eq!(chips[1].href, "/search?category=sports");
        assert_eq!(
            date_input("2026-12-11T00:00:00+09:00").as_deref(),
            Some("2026-12-11")
        );
    }

    #[test]
    fn zero_counts_are_not_links_unless_selected() {
        let p = params(&[("city", "Oslo")]);
        let html = facet_group(
            &p,
            "city",
            "City",
            &[
                ("Berlin".into(), "Berlin".into(), 0),
                ("Paris".into(), "Paris".into(), 2),
            ],
        )
        .into_string();
        assert!(
            html.contains(
                r#"<span class="facet" aria-disabled="true" data-value="Berlin">Berlin (0)</span>"#
            ),
            "{html}"
        );
        assert!(
            html.contains(r#"href="/search?city=Oslo&amp;city=Paris""#),
            "{html}"
        );
        // Oslo has no count but is selected: listed, a link that removes it.
        assert!(
            html.contains(
                r#"<a class="facet" href="/search" data-value="Oslo" aria-current="true">"#
            ),
            "{html}"
        );
    }

    #[test]
    fn the_selected_month_and_price_are_marked_and_remove_themselves() {
        let p = params(&[
            ("start", "2026-12-01"),
            ("end", "2026-12-31"),
            ("min_price", "25"),
            ("max_price", "50"),
        ]);
        let months = month_links(
            &p,
            &[
                FacetCount {
                    value: "2026-12".into(),
                    count: 4,
                },
                FacetCount {
                    value: "2027-01".into(),
                    count: 0,
                },
            ],
        );
        assert_eq!(
            months[0],
            (
                "/search?min_price=25&max_price=50".to_owned(),
                "2026-12".to_owned(),
                4,
                true
            )
        );
        assert!(!months[1].3);
        let prices = price_links(
            &p,
            &PriceBucket::with_counts(&search::query::PRICE_BUCKETS, &[1, 0, 3, 0, 0]),
            "USD",
        );
        let selected: Vec<&str> = prices
            .iter()
            .filter(|l| l.3)
            .map(|l| l.1.as_str())
            .collect();
        assert_eq!(selected, ["$25 to $50"]);
    }
}
