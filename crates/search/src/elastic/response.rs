//! Parsing Elasticsearch responses.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::document::{EventDoc, PerformerRef};
use crate::query::{
    FACET_SIZE, FacetCount, Facets, Highlights, Hit, PriceBucket, SearchQuery, SearchResults,
    top_counts,
};
use crate::suggest::Candidate;
use crate::{ApplyReport, SearchError, geo};

#[derive(Debug, Deserialize)]
struct Location {
    lat: f64,
    lon: f64,
}

/// A document as stored under the `events-v1` mapping.
#[derive(Debug, Deserialize)]
struct Source {
    event_id: i64,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    genre: String,
    #[serde(default)]
    performer_ids: Vec<i64>,
    #[serde(default)]
    performers: Vec<String>,
    venue_id: i64,
    venue_name: String,
    city: String,
    country: String,
    location: Option<Location>,
    starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    min_price_cents: i64,
    #[serde(default)]
    max_price_cents: i64,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    available_tickets: i64,
    #[serde(default)]
    sold_out: bool,
    #[serde(default)]
    popularity: f64,
}

fn performers(ids: Vec<i64>, names: Vec<String>) -> Vec<PerformerRef> {
    ids.into_iter()
        .zip(names)
        .map(|(id, name)| PerformerRef { id, name })
        .collect()
}

impl Source {
    fn into_doc(self) -> EventDoc {
        let (lat, lon) = self.location.map_or((0.0, 0.0), |l| (l.lat, l.lon));
        EventDoc {
            event_id: self.event_id,
            title: self.title,
            description: self.description,
            category: self.category,
            genre: self.genre,
            performers: performers(self.performer_ids, self.performers),
            venue_id: self.venue_id,
            venue_name: self.venue_name,
            city: self.city,
            country: self.country,
            lat,
            lon,
            starts_at: self.starts_at.unwrap_or_default(),
            min_price_cents: self.min_price_cents,
            max_price_cents: self.max_price_cents,
            currency: self.currency,
            available_tickets: self.available_tickets,
            sold_out: self.sold_out,
            popularity: self.popularity,
        }
    }
}

fn bad(what: &str) -> SearchError {
    SearchError::Backend(format!("unexpected Elasticsearch response: {what}"))
}

fn buckets(aggs: &Value, name: &str) -> Vec<Value> {
    aggs.get(name)
        .and_then(|a| a.get("values"))
        .and_then(|a| a.get("buckets"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn counts(aggs: &Value, name: &str, size: usize) -> Vec<FacetCount> {
    let values = buckets(aggs, name)
        .iter()
        .filter_map(|b| {
            Some(FacetCount {
                value: b.get("key")?.as_str()?.to_owned(),
                count: b.get("doc_count")?.as_u64()?,
            })
        })
        .collect();
    top_counts(values, size)
}

fn facets(query: &SearchQuery, aggs: &Value) -> Facets {
    // Anonymous `filters` buckets come back in the order they were asked.
    let price: Vec<u64> = buckets(aggs, "price")
        .iter()
        .map(|b| b.get("doc_count").and_then(Value::as_u64).unwrap_or(0))
        .collect();
    Facets {
        category: counts(aggs, "category", usize::MAX),
        genre: counts(aggs, "genre", FACET_SIZE),
        city: counts(aggs, "city", FACET_SIZE),
        price: PriceBucket::with_counts(&query.price_buckets(), &price),
        month: buckets(aggs, "month")
            .iter()
            .filter_map(|b| {
                let count = b.get("doc_count")?.as_u64()?;
                (count > 0).then_some(FacetCount {
                    value: b.get("key_as_string")?.as_str()?.to_owned(),
                    count,
                })
            })
            .collect(),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A `_search` response for `query`.
pub fn search_results(query: &SearchQuery, body: &Value) -> Result<SearchResults, SearchError> {
    let hits = body.get("hits").ok_or_else(|| bad("no hits"))?;
    let total = hits
        .get("total")
        .and_then(|t| t.get("value"))
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("no hits.total.value"))?;
    let mut out = Vec::new();
    for h in hits
        .get("hits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let source: Source = serde_json::from_value(h.get("_source").cloned().unwrap_or_default())
            .map_err(|e| bad(&format!("hit source: {e}")))?;
        let doc = source.into_doc();
        let hl = h.get("highlight");
        let highlights = Highlights {
            title: strings(hl.and_then(|h| h.get("title"))).into_iter().next(),
            performers: strings(hl.and_then(|h| h.get("performers"))),
        };
        let distance = query
            .geo
            .map(|g| geo::distance_km(g.lat, g.lon, doc.lat, doc.lon));
        out.push(Hit::from_doc(doc, distance, highlights));
    }
    let facets = match body.get("aggregations") {
        Some(aggs) if query.facets => facets(query, aggs),
        _ => Facets::default(),
    };
    Ok(SearchResults {
        total,
        hits: out,
        facets,
        display_currency: None,
        rates_version: None,
    })
}

/// Candidate events out of a suggest `_search` response.
pub fn suggest_candidates(body: &Value) -> Result<Vec<Candidate>, SearchError> {
    let hits = body
        .get("hits")
        .and_then(|h| h.get("hits"))
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no hits"))?;
    hits.iter()
        .map(|h| {
            let s: Source = serde_json::from_value(h.get("_source").cloned().unwrap_or_default())
                .map_err(|e| bad(&format!("suggest source: {e}")))?;
            Ok(Candidate {
                event_id: s.event_id,
                title: s.title,
                performers: s.performer_ids.into_iter().zip(s.performers).collect(),
                venue_id: s.venue_id,
                venue_name: s.venue_name,
                city: s.city,
                country: s.country,
                starts_at: s.starts_at.unwrap_or_default(),
                popularity: s.popularity,
            })
        })
        .collect()
}

/// A `_bulk` response. A version conflict means the index already holds a
/// newer version: the write is stale, not failed. Any other item error fails
/// the batch (it is retried whole; external versions make that safe).
pub fn bulk_report(body: &Value) -> Result<ApplyReport, SearchError> {
    let items = body
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no items"))?;
    let mut report = ApplyReport::default();
    for item in items {
        let Some((_action, result)) = item.as_object().and_then(|o| o.iter().next()) else {
            return Err(bad("empty bulk item"));
        };
        let status = result.get("status").and_then(Value::as_u64).unwrap_or(0);
        match status {
            200..=299 | 404 => report.applied += 1,
            409 => report.stale += 1,
            _ => {
                let reason = result
                    .get("error")
                    .map(Value::to_string)
                    .unwrap_or_else(|| format!("status {status}"));
                return Err(SearchError::Backend(format!("bulk item failed: {reason}")));
            }
        }
    }
    Ok(report)
}

/// The checkpoint in a `GET <alias>/_mapping` answer: the answer is keyed by
/// the physical index the alias points at.
pub fn checkpoint(body: &Value) -> Option<String> {
    body.as_object()?
        .values()
        .find_map(|index| index["mappings"]["_meta"]["indexer_checkpoint"].as_str())
        .map(str::to_owned)
}
