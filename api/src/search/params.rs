//! `GET /v1/events/search` and `/v1/events/suggest` parameters: parsed,
//! validated, and turned into a [`SearchQuery`]. Every rejection names the
//! parameter at fault.
//!
//! Multi-valued filters take a comma-separated list, the parameter repeated,
//! or both. The original API's names are accepted too: `keyword` for `q`
//! and `pageSize` for `size` (`start`, `end` and `page` are the same).
#![expect(
    clippy::result_large_err,
    reason = "a Problem is built at most once per request, on the way out"
)]

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use problem::Problem;
use search::money::{QUOTE_CURRENCY, currency_of_country, minor_digits};
use search::query::{DEFAULT_SIZE, MAX_RADIUS_KM, MAX_SIZE, MAX_WINDOW};
use search::{GeoFilter, PriceConversion, Rates, SearchQuery, Sort};

use super::schema::SearchSort;
use crate::schema::Category;

/// Longest accepted text query.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most values one multi-valued filter may list.
pub const MAX_VALUES: usize = 50;
/// Event categories the schema allows.
pub const CATEGORIES: [&str; 5] = ["concert", "sports", "theatre", "comedy", "family"];

type Params = [(String, String)];

/// `GET /v1/events/search`'s query string, for the API description;
/// [`search_query`] reads it. A multi-valued filter takes a
/// comma-separated list, the parameter repeated, or both, and matches any
/// of its values (at most 50). Unknown parameters are ignored.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Full text over title, performers, venue, city and description.
    /// Tolerates typos; the last word is a prefix. Alias `keyword`.
    #[param(max_length = 200, example = "metallica")]
    pub q: Option<String>,
    /// The original API's name for `q`.
    #[param(max_length = 200)]
    pub keyword: Option<String>,
    /// Starts at or after: a date (its first second, UTC) or an RFC 3339
    /// instant.
    #[param(example = "2026-12-01")]
    pub start: Option<String>,
    /// Starts at or before: a date (its last second, UTC) or an RFC 3339
    /// instant; not before `start`.
    #[param(example = "2026-12-31T20:00:00Z")]
    pub end: Option<String>,
    /// City names.
    #[param(max_items = 50)]
    pub city: Option<Vec<String>>,
    /// ISO 3166-1 alpha-2 codes, in any case.
    #[param(max_items = 50)]
    pub country: Option<Vec<String>>,
    /// Categories.
    #[param(value_type = Option<Vec<Category>>, max_items = 50)]
    pub category: Option<Vec<String>>,
    /// Genres.
    #[param(max_items = 50)]
    pub genre: Option<Vec<String>>,
    /// Venue ids (positive integers).
    #[param(max_items = 50)]
    pub venue_id: Option<Vec<i64>>,
    /// Performer ids (positive integers).
    #[param(max_items = 50)]
    pub performer_id: Option<Vec<i64>>,
    /// The currency prices are compared, sorted and bucketed in (ISO 4217,
    /// one of `GET /v1/currency-rates`). Default: the currency of `country`
    /// when exactly one is given and it has a rate, else USD. Each hit keeps
    /// its own price and adds `display_min_price_cents` in this currency.
    #[param(example = "EUR", pattern = "^[A-Za-z]{3}$")]
    pub currency: Option<String>,
    /// The lowest ticket price is at least this, in major units of the
    /// display currency (`currency`).
    #[param(minimum = 0.0, maximum = 1_000_000_000.0)]
    pub min_price: Option<f64>,
    /// The lowest ticket price is at most this; not below `min_price`.
    #[param(minimum = 0.0, maximum = 1_000_000_000.0)]
    pub max_price: Option<f64>,
    /// Only events with tickets left (`true` or `1`, `false` or `0`).
    #[param(default = false)]
    pub available: Option<bool>,
    /// Latitude of a point (needs `lon`): orders by and reports distance.
    #[param(minimum = -90.0, maximum = 90.0)]
    pub lat: Option<f64>,
    /// Longitude of the point (needs `lat`).
    #[param(minimum = -180.0, maximum = 180.0)]
    pub lon: Option<f64>,
    /// Only events within this distance of the point (needs `lat` and
    /// `lon`).
    #[param(exclusive_minimum = 0.0, maximum = 20_000.0)]
    pub radius_km: Option<f64>,
    /// The order: by relevance (text score boosted by popularity, or
    /// popularity without `q`), date, lowest price up or down, distance
    /// (needs a point) or popularity.
    #[param(value_type = Option<SearchSort>, default = "relevance")]
    pub sort: Option<String>,
    /// 1-based; `page` times `size` is at most 10000.
    #[param(minimum = 1, default = 1)]
    pub page: Option<u32>,
    /// Hits per page. Alias `pageSize`.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub size: Option<u32>,
    /// The original API's name for `size`.
    #[param(rename = "pageSize", minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    /// Whether to count facets.
    #[param(default = true)]
    pub facets: Option<bool>,
}

/// `GET /v1/events/suggest`'s query string, for the API description;
/// [`suggest_query`] reads it.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    /// What was typed so far.
    #[param(min_length = 1, max_length = 100, example = "metal")]
    pub q: String,
    /// Most suggestions to answer.
    #[param(minimum = 1, maximum = 10, default = 10)]
    pub limit: Option<u32>,
}

/// Values of `names` (a parameter and its aliases), in order.
fn values<'a>(params: &'a Params, names: &[&str]) -> Vec<&'a str> {
    params
        .iter()
        .filter(|(k, _)| names.contains(&k.as_str()))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The single value of a parameter; given twice is an error.
fn single<'a>(params: &'a Params, names: &[&str]) -> Result<Option<&'a str>, Problem> {
    match values(params, names).as_slice() {
        [] => Ok(None),
        [v] => Ok(Some(v.trim()).filter(|v| !v.is_empty())),
        _ => Err(Problem::invalid_field(
            names[0],
            format!("{} may be given once", names.join(" or ")),
        )),
    }
}

fn list(params: &Params, name: &'static str) -> Result<Vec<String>, Problem> {
    let out: Vec<String> = values(params, &[name])
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    if out.len() > MAX_VALUES {
        return Err(Problem::invalid_field(
            name,
            format!("at most {MAX_VALUES} values"),
        ));
    }
    if let Some(v) = out.iter().find(|v| v.chars().count() > 200) {
        return Err(Problem::invalid_field(
            name,
            format!("value too long: {:.40}...", v),
        ));
    }
    Ok(out)
}

fn ids(params: &Params, name: &'static str) -> Result<Vec<i64>, Problem> {
    list(params, name)?
        .iter()
        .map(|v| {
            v.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                Problem::invalid_field(name, format!("{v:?} is not a positive integer id"))
            })
        })
        .collect()
}

fn number<T: std::str::FromStr>(
    params: &Params,
    names: &[&'static str],
    what: &str,
) -> Result<Option<T>, Problem> {
    single(params, names)?
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| Problem::invalid_field(names[0], format!("{v:?} is not {what}")))
        })
        .transpose()
}

fn float(params: &Params, name: &'static str) -> Result<Option<f64>, Problem> {
    let v: Option<f64> = number(params, &[name], "a number")?;
    match v {
        Some(v) if !v.is_finite() => Err(Problem::invalid_field(name, "must be a finite number")),
        v => Ok(v),
    }
}

/// An RFC 3339 instant, or a date (the start of the day for `start`, its
/// last second for `end`), in UTC.
fn instant(
    params: &Params,
    name: &'static str,
    end_of_day: bool,
) -> Result<Option<DateTime<Utc>>, Problem> {
    let Some(v) = single(params, &[name])? else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let time = if end_of_day {
            NaiveTime::from_hms_opt(23, 59, 59)
        } else {
            NaiveTime::from_hms_opt(0, 0, 0)
        };
        return Ok(time.map(|t| d.and_time(t).and_utc()));
    }
    Err(Problem::invalid_field(
        name,
        format!("{v:?} is not a date (2026-12-31) or an RFC 3339 instant (2026-12-31T20:00:00Z)"),
    ))
}

fn boolean(params: &Params, name: &'static str) -> Result<Option<bool>, Problem> {
    match single(params, &[name])? {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(v) => Err(Problem::invalid_field(
            name,
            format!("{v:?} is not true or false"),
        )),
    }
}

/// A price bound in minor units of a currency with `digits` of them.
fn price_minor(params: &Params, name: &'static str, digits: u32) -> Result<Option<i64>, Problem> {
    match float(params, name)? {
        None => Ok(None),
        Some(v) if !(0.0..=1e9).contains(&v) => Err(Problem::invalid_field(
            name,
            "must be between 0 and 1000000000",
        )),
        Some(v) => Ok(Some((v * 10f64.powi(digits as i32)).round() as i64)),
    }
}

/// The display currency: `currency`, else the one country's, else USD;
/// `None` only when the rates table has none of them.
fn display_currency(
    params: &Params,
    countries: &[String],
    rates: &Rates,
) -> Result<Option<PriceConversion>, Problem> {
    if let Some(code) = single(params, &["currency"])? {
        let code = code.to_ascii_uppercase();
        if code.len() != 3 || minor_digits(&code).is_none() {
            return Err(Problem::invalid_field(
                "currency",
                format!("{code:?} is not an ISO 4217 currency code"),
            ));
        }
        return rates.conversion(&code).map(Some).ok_or_else(|| {
            Problem::invalid_field(
                "currency",
                format!("{code} has no exchange rate; GET /v1/currency-rates lists those that do"),
            )
        });
    }
    let country = match countries {
        [one] => currency_of_country(one).and_then(|c| rates.conversion(c)),
        _ => None,
    };
    Ok(country.or_else(|| rates.conversion(QUOTE_CURRENCY)))
}

/// A validated search, comparing prices with `rates`.
pub fn search_query(params: &Params, rates: &Rates) -> Result<SearchQuery, Problem> {
    let text = single(params, &["q", "keyword"])?.map(str::to_owned);
    if let Some(t) = &text
        && t.chars().count() > MAX_QUERY_CHARS
    {
        return Err(Problem::invalid_field(
            "q",
            format!("at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let start = instant(params, "start", false)?;
    let end = instant(params, "end", true)?;
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        return Err(Problem::invalid_field("end", "end is before start"));
    }

    let categories = list(params, "category")?;
    if let Some(bad) = categories
        .iter()
        .find(|c| !CATEGORIES.contains(&c.as_str()))
    {
        return Err(Problem::invalid_field(
            "category",
            format!("{bad:?} is not one of {}", CATEGORIES.join(", ")),
        ));
    }
    let countries: Vec<String> = list(params, "country")?
        .into_iter()
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if let Some(bad) = countries
        .iter()
        .find(|c| c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()))
    {
        return Err(Problem::invalid_field(
            "country",
            format!("{bad:?} is not an ISO 3166-1 alpha-2 code"),
        ));
    }

    let prices = display_currency(params, &countries, rates)?;
    let digits = prices.as_ref().map_or(2, |p| p.display_digits);
    let min_price_cents = price_minor(params, "min_price", digits)?;
    let max_price_cents = price_minor(params, "max_price", digits)?;
    if let (Some(lo), Some(hi)) = (min_price_cents, max_price_cents)
        && hi < lo
    {
        return Err(Problem::invalid_field(
            "max_price",
            "max_price is below min_price",
        ));
    }

    let lat = float(params, "lat")?;
    let lon = float(params, "lon")?;
    let radius_km = float(params, "radius_km")?;
    if let Some(v) = lat
        && !(-90.0..=90.0).contains(&v)
    {
        return Err(Problem::invalid_field("lat", "must be between -90 and 90"));
    }
    if let Some(v) = lon
        && !(-180.0..=180.0).contains(&v)
    {
        return Err(Problem::invalid_field(
            "lon",
            "must be between -180 and 180",
        ));
    }
    let geo = match (lat, lon) {
        (Some(lat), Some(lon)) => Some(GeoFilter {
            lat,
            lon,
            radius_km,
        }),
        (Some(_), None) => return Err(Problem::invalid_field("lon", "lat needs lon")),
        (None, Some(_)) => return Err(Problem::invalid_field("lat", "lon needs lat")),
        (None, None) => None,
    };
    if let Some(r) = radius_km {
        if geo.is_none() {
            return Err(Problem::invalid_field(
                "radius_km",
                "radius_km needs lat and lon",
            ));
        }
        if !(r > 0.0 && r <= MAX_RADIUS_KM) {
            return Err(Problem::invalid_field(
                "radius_km",
                format!("must be above 0 and at most {MAX_RADIUS_KM}"),
            ));
        }
    }

    let sort = match single(params, &["sort"])? {
        None => Sort::Relevance,
        Some(s) => Sort::parse(s).ok_or_else(|| {
            let all: Vec<&str> = Sort::ALL.iter().map(|s| s.as_str()).collect();
            Problem::invalid_field("sort", format!("{s:?} is not one of {}", all.join(", ")))
        })?,
    };
    if sort == Sort::Distance && geo.is_none() {
        return Err(Problem::invalid_field(
            "sort",
            "sort=distance needs lat and lon",
        ));
    }

    let page: usize = number(params, &["page"], "a page number")?.unwrap_or(1);
    if page == 0 {
        return Err(Problem::invalid_field("page", "pages start at 1"));
    }
    let size: usize = number(params, &["size", "pageSize"], "a page size")?.unwrap_or(DEFAULT_SIZE);
    if size == 0 || size > MAX_SIZE {
        return Err(Problem::invalid_field(
            "size",
            format!("must be between 1 and {MAX_SIZE}"),
        ));
    }
    if page.saturating_mul(size) > MAX_WINDOW {
        return Err(Problem::invalid_field(
            "page",
            format!("page x size may not exceed {MAX_WINDOW}; narrow the search instead"),
        ));
    }

    Ok(SearchQuery {
        text,
        start,
        end,
        cities: list(params, "city")?,
        countries,
        categories,
        genres: list(params, "genre")?,
        venue_ids: ids(params, "venue_id")?,
        performer_ids: ids(params, "performer_id")?,
        min_price_cents,
        max_price_cents,
        prices,
        available_only: boolean(params, "available")?.unwrap_or(false),
        geo,
        sort,
        page,
        size,
        facets: boolean(params, "facets")?.unwrap_or(true),
    })
}

/// Longest accepted suggest prefix.
pub const MAX_SUGGEST_CHARS: usize = 100;

/// `q` and `limit` of a suggest call.
pub fn suggest_query(params: &Params) -> Result<(String, usize), Problem> {
    let q = single(params, &["q"])?
        .ok_or_else(|| Problem::invalid_field("q", "q is required"))?
        .to_owned();
    if q.chars().count() > MAX_SUGGEST_CHARS {
        return Err(Problem::invalid_field(
            "q",
            format!("at most {MAX_SUGGEST_CHARS} characters"),
        ));
    }
    let limit: usize =
        number(params, &["limit"], "a number")?.unwrap_or(search::suggest::MAX_SUGGESTIONS);
    if limit == 0 || limit > search::suggest::MAX_SUGGESTIONS {
        return Err(Problem::invalid_field(
            "limit",
            format!("must be between 1 and {}", search::suggest::MAX_SUGGESTIONS),
        ));
    }
    Ok((q, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// USD, EUR, GBP and JPY.
    pub(crate) fn rates() -> Rates {
        Rates {
            version: 1,
            per_usd: [("USD", 1.0), ("EUR", 0.92), ("GBP", 0.79), ("JPY", 150.0)]
                .into_iter()
                .map(|(c, r)| (c.to_owned(), r))
                .collect(),
        }
    }

    fn search_query(params: &Params) -> Result<SearchQuery, Problem> {
        super::search_query(params, &rates())
    }

    fn field(pairs: &[(&str, &str)]) -> Option<String> {
        search_query(&p(pairs)).err().and_then(|e| e.field)
    }

    #[test]
    fn original_names_are_accepted() {
        let q = search_query(&p(&[("keyword", "jazz"), ("pageSize", "5"), ("page", "2")]))
            .expect("valid");
        assert_eq!(q.text.as_deref(), Some("jazz"));
        assert_eq!((q.size, q.page), (5, 2));
    }

    #[test]
    fn lists_split_on_commas_and_repeat() {
        let q = search_query(&p(&[
            ("city", "London,Paris"),
            ("city", "Berlin"),
            ("category", "comedy"),
        ]))
        .expect("valid");
        assert_eq!(q.cities, ["London", "Paris", "Berlin"]);
        assert_eq!(q.categories, ["comedy"]);
    }

    #[test]
    fn every_rejection_names_its_parameter() {
        assert_eq!(
            field(&[("start", "2026-12-02"), ("end", "2026-12-01")]).as_deref(),
            Some("end")
        );
        assert_eq!(field(&[("radius_km", "10")]).as_deref(), Some("radius_km"));
        assert_eq!(
            field(&[("lat", "1"), ("lon", "2"), ("radius_km", "0")]).as_deref(),
            Some("radius_km")
        );
        assert_eq!(
            field(&[("lat", "1"), ("lon", "2"), ("radius_km", "99999")]).as_deref(),
            Some("radius_km")
        );
        assert_eq!(field(&[("size", "101")]).as_deref(), Some("size"));
        assert_eq!(field(&[("pageSize", "1000")]).as_deref(), Some("size"));
        assert_eq!(field(&[("page", "abc")]).as_deref(), Some("page"));
        assert_eq!(
            field(&[("page", "200"), ("size", "100")]).as_deref(),
            Some("page")
        );
        assert_eq!(
            field(&[("min_price", "cheap")]).as_deref(),
            Some("min_price")
        );
        assert_eq!(field(&[("start", "tomorrow")]).as_deref(), Some("start"));
        assert_eq!(field(&[("sort", "distance")]).as_deref(), Some("sort"));
        assert_eq!(field(&[("sort", "random")]).as_deref(), Some("sort"));
        assert_eq!(
            field(&[("lat", "91"), ("lon", "0")]).as_deref(),
            Some("lat")
        );
        assert_eq!(field(&[("lat", "10")]).as_deref(), Some("lon"));
        assert_eq!(field(&[("venue_id", "x")]).as_deref(), Some("venue_id"));
        assert_eq!(field(&[("category", "opera")]).as_deref(), Some("category"));
        assert_eq!(
            field(&[("available", "maybe")]).as_deref(),
            Some("available")
        );
        assert_eq!(
            field(&[("lat", "NaN"), ("lon", "0")]).as_deref(),
            Some("lat")
        );
    }

    #[test]
    fn a_date_end_covers_its_whole_day() {
        let q = search_query(&p(&[("start", "2026-12-01"), ("end", "2026-12-01")])).expect("valid");
        assert_eq!(
            q.end.map(|e| e.to_rfc3339()).as_deref(),
            Some("2026-12-01T23:59:59+00:00")
        );
    }
}
