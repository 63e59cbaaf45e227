//! What search answers, named for the API description.
//!
//! The bodies are the search crate's types ([`search::Hit`],
//! [`search::Facets`], [`search::Suggestion`]); that crate knows nothing of
//! the API description, so their shape is restated here, and a test checks
//! each against a serialized value of the real type.

use chrono::{DateTime, Utc};
use utoipa::ToSchema;

use crate::schema::Category;

// Restates `search::Hit`.
/// One search result, with what a results page shows.
#[derive(Debug, ToSchema)]
pub struct SearchHit {
    pub event_id: i64,
    pub title: String,
    #[schema(value_type = Category)]
    pub category: String,
    pub genre: String,
    pub starts_at: DateTime<Utc>,
    pub venue: HitVenue,
    /// Headliner first.
    pub performers: Vec<HitPerformer>,
    /// The lowest ticket price, in minor units of `currency`.
    pub min_price_cents: i64,
    pub max_price_cents: i64,
    #[schema(example = "EUR")]
    pub currency: String,
    /// `min_price_cents` converted to the search's display currency, in its
    /// minor units (rounded half away from zero); absent when `currency`
    /// has no exchange rate.
    pub display_min_price_cents: Option<i64>,
    pub available_tickets: i64,
    pub sold_out: bool,
    pub popularity: f64,
    /// From the query's point; present when the query has one.
    pub distance_km: Option<f64>,
    pub highlights: Highlights,
}

/// The venue of a search result.
#[derive(Debug, ToSchema)]
pub struct HitVenue {
    pub id: i64,
    pub name: String,
    pub city: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "GB")]
    pub country: String,
}

/// A performer of a search result.
#[derive(Debug, ToSchema)]
pub struct HitPerformer {
    pub id: i64,
    pub name: String,
}

/// Fragments that matched `q`, HTML-escaped with the matched words in
/// `<em>`; empty when there is no `q`.
#[derive(Debug, ToSchema)]
pub struct Highlights {
    /// Present when the title matched.
    #[schema(example = "<em>Metallica</em>: M72 World Tour")]
    pub title: Option<String>,
    /// Present when a performer matched.
    #[schema(required = false)]
    pub performers: Vec<String>,
}

// Restates `search::Facets`.
/// Facet counts. Multi-select: each facet counts with
/// every filter except its own (category ignores `category`, genre `genre`,
/// city `city`, price `min_price` and `max_price`, month `start` and
/// `end`), so a client can offer the other values of a facet the user
/// already narrowed. Empty with `facets=false`.
#[derive(Debug, ToSchema)]
pub struct Facets {
    /// Every category with events, by count.
    pub category: Vec<FacetCount>,
    /// The top 20 genres, by count.
    pub genre: Vec<FacetCount>,
    /// The top 20 cities, by count.
    pub city: Vec<FacetCount>,
    /// Buckets of the lowest ticket price in the display currency: round
    /// numbers near $25, $50, $100 and $200 there.
    pub price: Vec<PriceBucket>,
    /// `yyyy-mm` of the start (UTC), chronological.
    pub month: Vec<FacetCount>,
}

/// One value of a facet and how many events have it.
#[derive(Debug, ToSchema)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// A price bucket, in major units of the display currency; `to` is
/// exclusive.
#[derive(Debug, ToSchema)]
pub struct PriceBucket {
    #[schema(example = "50-100")]
    pub key: String,
    pub from: i64,
    /// Null for the last, open-ended bucket.
    pub to: Option<i64>,
    pub count: u64,
}

// Restates `search::Suggestion`.
/// One autocomplete entry.
#[derive(Debug, ToSchema)]
pub struct Suggestion {
    pub kind: SuggestionKind,
    pub text: String,
    /// The event, performer or venue id; absent for a city.
    pub id: Option<i64>,
    /// The country, for a city.
    pub country: Option<String>,
    /// When an event starts.
    pub starts_at: Option<DateTime<Utc>>,
    /// An event's city.
    pub city: Option<String>,
    /// An event's venue's IANA time zone, for showing `starts_at`.
    #[schema(example = "Europe/London")]
    pub timezone: Option<String>,
}

/// What a suggestion names.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum SuggestionKind {
    Event,
    Performer,
    Venue,
    City,
}

// Restates `search::Sort`.
/// The sort orders of a search.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum SearchSort {
    /// Text score boosted by popularity; popularity without `q`.
    Relevance,
    /// Soonest first.
    Date,
    /// Cheapest lowest price first.
    PriceAsc,
    /// Dearest lowest price first.
    PriceDesc,
    /// Nearest first; needs `lat` and `lon`.
    Distance,
    /// Most popular first.
    Popularity,
}
