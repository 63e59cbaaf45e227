//! The query model and the results, shared by both backends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::document::PerformerRef;
use crate::money::PriceConversion;

/// Largest page.
pub const MAX_SIZE: usize = 100;
/// Default page size.
pub const DEFAULT_SIZE: usize = 20;
/// Deepest result reachable by paging (`page * size`), as Elasticsearch's
/// default `max_result_window`.
pub const MAX_WINDOW: usize = 10_000;
/// Largest search radius.
pub const MAX_RADIUS_KM: f64 = 20_000.0;
/// Values returned for the genre and city facets.
pub const FACET_SIZE: usize = 20;

/// Price facet buckets over the lowest ticket price when a search compares
/// prices as they are (no [`PriceConversion`]), in major units:
/// `[from, to)`.
pub const PRICE_BUCKETS: [(i64, Option<i64>); 5] = [
    (0, Some(25)),
    (25, Some(50)),
    (50, Some(100)),
    (100, Some(200)),
    (200, None),
];

/// The price bucket of a comparable price under `prices` (or the fixed
/// buckets without one).
pub fn price_bucket(prices: Option<&PriceConversion>, comparable: i64) -> Option<usize> {
    match prices {
        Some(p) => p.bucket_of(comparable),
        None => PRICE_BUCKETS.iter().position(|&(from, to)| {
            comparable >= from * 100 && to.is_none_or(|to| comparable < to * 100)
        }),
    }
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Text score boosted by popularity; popularity when there is no text.
    #[default]
    Relevance,
    /// Soonest first.
    Date,
    /// Cheapest "from" price first.
    PriceAsc,
    /// Dearest "from" price first.
    PriceDesc,
    /// Nearest first; needs a point.
    Distance,
    /// Most popular first.
    Popularity,
}

impl Sort {
    pub const ALL: [Sort; 6] = [
        Sort::Relevance,
        Sort::Date,
        Sort::PriceAsc,
        Sort::PriceDesc,
        Sort::Distance,
        Sort::Popularity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::Date => "date",
            Sort::PriceAsc => "price_asc",
            Sort::PriceDesc => "price_desc",
            Sort::Distance => "distance",
            Sort::Popularity => "popularity",
        }
    }

    pub fn parse(s: &str) -> Option<Sort> {
        Sort::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A point and a radius.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoFilter {
    pub lat: f64,
    pub lon: f64,
    /// `None`: the point only orders and measures, it does not filter.
    pub radius_km: Option<f64>,
}

/// A validated search. Multi-valued filters (`categories`, `genres`,
/// `cities`) match any of their values; different filters all apply.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SearchQuery {
    pub text: Option<String>,
    /// Starts at or after.
    pub start: Option<DateTime<Utc>>,
    /// Starts at or before.
    pub end: Option<DateTime<Utc>>,
    pub cities: Vec<String>,
    pub countries: Vec<String>,
    pub categories: Vec<String>,
    pub genres: Vec<String>,
    pub venue_ids: Vec<i64>,
    pub performer_ids: Vec<i64>,
    /// Bounds on the lowest ticket price, in minor units of the display
    /// currency (of each event's own currency without `prices`), inclusive.
    pub min_price_cents: Option<i64>,
    pub max_price_cents: Option<i64>,
    /// The display currency prices are filtered, sorted and bucketed in;
    /// `None` compares each event's price as it is.
    pub prices: Option<PriceConversion>,
    /// Only events with tickets left.
    pub available_only: bool,
    pub geo: Option<GeoFilter>,
    pub sort: Sort,
    /// 1-based.
    pub page: usize,
    pub size: usize,
    /// Compute facet counts.
    pub facets: bool,
}

impl SearchQuery {
    /// Everything, first page, facets on.
    pub fn all() -> Self {
        Self {
            page: 1,
            size: DEFAULT_SIZE,
            facets: true,
            ..Self::default()
        }
    }

    pub fn text(q: &str) -> Self {
        Self {
            text: Some(q.to_owned()),
            ..Self::all()
        }
    }

    /// The price buckets, in major units of the display currency.
    pub fn price_buckets(&self) -> Vec<(i64, Option<i64>)> {
        match &self.prices {
            Some(p) => p.buckets.clone(),
            None => PRICE_BUCKETS.to_vec(),
        }
    }

    pub fn offset(&self) -> usize {
        self.page.saturating_sub(1) * self.size
    }

    /// The text, trimmed, when there is any.
    pub fn text_query(&self) -> Option<&str> {
        self.text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }
}

/// One value of a facet and how many events have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// One price bucket; `to` is exclusive, in major units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceBucket {
    pub key: String,
    pub from: i64,
    pub to: Option<i64>,
    pub count: u64,
}

impl PriceBucket {
    pub fn key_for(from: i64, to: Option<i64>) -> String {
        match to {
            Some(to) => format!("{from}-{to}"),
            None => format!("{from}+"),
        }
    }

    /// Buckets (`[from, to)` in major units) with their counts.
    pub fn with_counts(buckets: &[(i64, Option<i64>)], counts: &[u64]) -> Vec<PriceBucket> {
        buckets
            .iter()
            .zip(counts.iter().copied().chain(std::iter::repeat(0)))
            .map(|(&(from, to), count)| PriceBucket {
                key: PriceBucket::key_for(from, to),
                from,
                to,
                count,
            })
            .collect()
    }
}

/// Facet counts. A facet's counts apply every filter but its own, so a
/// client can offer the other values of a facet the user already narrowed
/// (multi-select).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Facets {
    /// Every category with events, by count.
    pub category: Vec<FacetCount>,
    /// The top genres, by count.
    pub genre: Vec<FacetCount>,
    /// The top cities, by count.
    pub city: Vec<FacetCount>,
    /// Lowest ticket price, in buckets of the display currency.
    pub price: Vec<PriceBucket>,
    /// `yyyy-mm` (UTC) of the start, chronological.
    pub month: Vec<FacetCount>,
}

/// Orders facet values by count (descending), then value, and keeps `size`.
pub fn top_counts(mut values: Vec<FacetCount>, size: usize) -> Vec<FacetCount> {
    values.retain(|v| v.count > 0);
    values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    values.truncate(size);
    values
}

/// Venue fields of a hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitVenue {
    pub id: i64,
    pub name: String,
    pub city: String,
    pub country: String,
}

/// Highlighted fragments, HTML-escaped with matches in `<em>`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Highlights {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub performers: Vec<String>,
}

/// One result, with what a results page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub event_id: i64,
    pub title: String,
    pub category: String,
    pub genre: String,
    pub starts_at: DateTime<Utc>,
    pub venue: HitVenue,
    pub performers: Vec<PerformerRef>,
    pub min_price_cents: i64,
    pub max_price_cents: i64,
    pub currency: String,
    /// `min_price_cents` in minor units of the display currency, when the
    /// search has one and this currency has a rate.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub display_min_price_cents: Option<i64>,
    pub available_tickets: i64,
    pub sold_out: bool,
    pub popularity: f64,
    /// From the query's point, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    pub highlights: Highlights,
}

impl Hit {
    pub fn from_doc(
        doc: crate::EventDoc,
        distance_km: Option<f64>,
        highlights: Highlights,
    ) -> Self {
        Hit {
            event_id: doc.event_id,
            title: doc.title,
            category: doc.category,
            genre: doc.genre,
            starts_at: doc.starts_at,
            venue: HitVenue {
                id: doc.venue_id,
                name: doc.venue_name,
                city: doc.city,
                country: doc.country,
            },
            performers: doc.performers,
            min_price_cents: doc.min_price_cents,
            max_price_cents: doc.max_price_cents,
            currency: doc.currency,
            display_min_price_cents: None,
            available_tickets: doc.available_tickets,
            sold_out: doc.sold_out,
            popularity: doc.popularity,
            distance_km,
            highlights,
        }
    }
}

/// A page of results.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SearchResults {
    /// Events matching every filter.
    pub total: u64,
    pub hits: Vec<Hit>,
    /// Empty when the query asked for no facets.
    pub facets: Facets,
    /// The currency prices were compared in, and the rates' version.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub display_currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rates_version: Option<i64>,
}

impl SearchResults {
    /// Fills in what the query's conversion says about the hits.
    pub fn converted(mut self, q: &SearchQuery) -> Self {
        if let Some(p) = &q.prices {
            for hit in &mut self.hits {
                hit.display_min_price_cents = p.convert(hit.min_price_cents, &hit.currency);
            }
            self.display_currency = Some(p.display.clone());
            self.rates_version = Some(p.rates_version);
        }
        self
    }
}

/// What a suggestion names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    Event,
    Performer,
    Venue,
    City,
}

/// One autocomplete entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub kind: SuggestionKind,
    pub text: String,
    /// The event, performer or venue id; none for a city.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// The country, for a city.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// When an event starts, so look-alike titles can be told apart.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// An event's city.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub city: Option<String>,
    /// An event's venue's IANA time zone, to show `starts_at` in (the api
    /// fills it in from the catalog).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timezone: Option<String>,
}
