//! Elasticsearch request bodies, built as JSON. Pure functions: the golden
//! tests pin their output.

use serde_json::{Value, json};

use crate::document::{EventDoc, IndexOp};
use crate::query::{FACET_SIZE, SearchQuery, Sort};
use crate::{suggest, text};

/// Fields text search runs over, with boosts (as the tantivy backend).
pub const TEXT_FIELDS: [&str; 4] = [
    "title^3",
    "performers^2.5",
    "venue_name^1.5",
    "city.text^1.5",
];
/// Fields suggest runs over.
pub const SUGGEST_FIELDS: [&str; 4] = [
    "title.suggest^3",
    "performers.suggest^3",
    "venue_name^2",
    "city.text^2",
];

/// The document as the `events-v1` mapping stores it.
pub fn source(doc: &EventDoc) -> Value {
    json!({
        "event_id": doc.event_id,
        "title": doc.title,
        "description": doc.description,
        "category": doc.category,
        "genre": doc.genre,
        "performer_ids": doc.performers.iter().map(|p| p.id).collect::<Vec<_>>(),
        "performers": doc.performers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        "venue_id": doc.venue_id,
        "venue_name": doc.venue_name,
        "city": doc.city,
        "country": doc.country,
        "location": { "lat": doc.lat, "lon": doc.lon },
        "starts_at": doc.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "min_price_cents": doc.min_price_cents,
        "max_price_cents": doc.max_price_cents,
        "currency": doc.currency,
        "available_tickets": doc.available_tickets,
        "sold_out": doc.sold_out,
        "popularity": doc.popularity,
    })
}

/// `_bulk` lines (action, then source for an index) for `ops` against
/// `index`, each carrying its version with `version_type=external` so an
/// older write can never replace a newer one.
pub fn bulk_lines(index: &str, ops: &[IndexOp]) -> Vec<String> {
    let mut lines = Vec::with_capacity(ops.len() * 2);
    for op in ops {
        match op {
            IndexOp::Upsert { version, doc } => {
                lines.push(
                    json!({ "index": {
                        "_index": index,
                        "_id": doc.event_id.to_string(),
                        "version": version,
                        "version_type": "external",
                    }})
                    .to_string(),
                );
                lines.push(source(doc).to_string());
            }
            IndexOp::Delete { version, event_id } => lines.push(
                json!({ "delete": {
                    "_index": index,
                    "_id": event_id.to_string(),
                    "version": version,
                    "version_type": "external",
                }})
                .to_string(),
            ),
        }
    }
    lines
}

/// The NDJSON body `bulk_lines` sends.
pub fn bulk_ndjson(index: &str, ops: &[IndexOp]) -> String {
    let mut out = String::new();
    for line in bulk_lines(index, ops) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Every term must match one of `fields`: within `fuzziness: AUTO`, or, for
/// the last term, also as a prefix. The same semantics as the tantivy
/// backend's text query.
fn terms_query(terms: &[String], fields: &[&str]) -> Value {
    let musts: Vec<Value> = terms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let fuzzy = json!({ "multi_match": {
                "query": t, "fields": fields, "fuzziness": "AUTO",
            }});
            if i + 1 == terms.len() {
                json!({ "bool": { "should": [
                    fuzzy,
                    { "multi_match": { "query": t, "type": "bool_prefix", "fields": fields } },
                ], "minimum_should_match": 1 }})
            } else {
                fuzzy
            }
        })
        .collect();
    json!({ "bool": { "must": musts } })
}

fn text_query(terms: &[String]) -> Value {
    let mut main = terms_query(terms, &TEXT_FIELDS);
    if terms.len() > 1 {
        // All the words in one title, or one performer field, rank above the
        // same words spread over several fields.
        main["bool"]["should"] = json!([
            terms_query(terms, &["title^3"]),
            terms_query(terms, &["performers^2.5"]),
        ]);
    }
    json!({ "bool": {
        "should": [
            main,
            { "match": { "description": {
                "query": terms.join(" "), "operator": "and", "boost": 0.5,
            }}},
        ],
        "minimum_should_match": 1,
    }})
}

/// The facets whose filters are multi-select, in the order of
/// [`facet_filters`].
const FACETS: [&str; 5] = ["category", "genre", "city", "price", "month"];

/// Each facet's own filter, `None` when the query does not filter on it.
fn facet_filters(q: &SearchQuery) -> [Option<Value>; 5] {
    let terms = |field: &str, values: &[String]| {
        (!values.is_empty()).then(|| json!({ "terms": { field: values } }))
    };
    let price = (q.min_price_cents.is_some() || q.max_price_cents.is_some())
        .then(|| price_filter(q, q.min_price_cents, q.max_price_cents));
    let dates = (q.start.is_some() || q.end.is_some()).then(|| {
        let mut range = serde_json::Map::new();
        if let Some(v) = q.start {
            range.insert(
                "gte".into(),
                json!(v.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            );
        }
        if let Some(v) = q.end {
            range.insert(
                "lte".into(),
                json!(v.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            );
        }
        json!({ "range": { "starts_at": range } })
    });
    [
        terms("category", &q.categories),
        terms("genre", &q.genres),
        terms("city", &q.cities),
        price,
        dates,
    ]
}

fn min_price_range(lo: Option<i64>, hi: Option<i64>) -> Value {
    let mut range = serde_json::Map::new();
    if let Some(v) = lo {
        range.insert("gte".into(), json!(v));
    }
    if let Some(v) = hi {
        range.insert("lte".into(), json!(v));
    }
    json!({ "range": { "min_price_cents": range } })
}

/// The lowest price within `[lo, hi]` (inclusive): as it is, or in the
/// display currency as the union of each currency's native range.
fn price_filter(q: &SearchQuery, lo: Option<i64>, hi: Option<i64>) -> Value {
    let Some(prices) = &q.prices else {
        return min_price_range(lo, hi);
    };
    let shoulds: Vec<Value> = prices
        .factors
        .keys()
        .filter_map(|currency| {
            let (a, b) = prices.native_range(currency, lo, hi)?;
            Some(bool_filter(vec![
                json!({ "term": { "currency": currency } }),
                min_price_range(a, b),
            ]))
        })
        .collect();
    if shoulds.is_empty() {
        return json!({ "bool": { "must_not": [{ "match_all": {} }] } });
    }
    json!({ "bool": { "should": shoulds, "minimum_should_match": 1 } })
}

/// Price bucket `i` as a filter.
fn price_bucket_filter(q: &SearchQuery, i: usize) -> Value {
    match &q.prices {
        Some(p) => {
            let (lo, hi) = p.bucket_range(i);
            price_filter(q, lo, hi)
        }
        None => {
            let (from, to) = q.price_buckets()[i];
            min_price_range(Some(from * 100), to.map(|to| to * 100 - 1))
        }
    }
}

/// Painless: the lowest price in display minor units, unrounded (the same
/// `f64` product the embedded backend sorts on); `params.missing` without a
/// rate, so such events sort last.
const PRICE_SORT_SCRIPT: &str = "def f = params.factors.get(doc['currency'].value); \
    if (f == null) { return params.missing; } \
    return doc['min_price_cents'].value * f;";

fn price_sort(q: &SearchQuery, order: &str) -> Value {
    let Some(prices) = &q.prices else {
        return json!({ "min_price_cents": order });
    };
    let missing = if order == "asc" { f64::MAX } else { f64::MIN };
    json!({ "_script": {
        "type": "number",
        "order": order,
        "script": {
            "lang": "painless",
            "source": PRICE_SORT_SCRIPT,
            "params": { "factors": prices.factors, "missing": missing },
        },
    }})
}

/// Filters that are not facets: they narrow the hits and every facet.
fn plain_filters(q: &SearchQuery) -> Vec<Value> {
    let mut out = Vec::new();
    if !q.countries.is_empty() {
        out.push(json!({ "terms": { "country": q.countries } }));
    }
    if !q.venue_ids.is_empty() {
        out.push(json!({ "terms": { "venue_id": q.venue_ids } }));
    }
    if !q.performer_ids.is_empty() {
        out.push(json!({ "terms": { "performer_ids": q.performer_ids } }));
    }
    if q.available_only {
        out.push(json!({ "range": { "available_tickets": { "gt": 0 } } }));
    }
    if let Some(g) = q.geo
        && let Some(r) = g.radius_km
    {
        out.push(json!({ "geo_distance": {
            "distance": format!("{r}km"),
            "distance_type": "arc",
            "location": { "lat": g.lat, "lon": g.lon },
        }}));
    }
    out
}

fn sort(q: &SearchQuery, has_text: bool) -> Value {
    let tie = json!({ "event_id": "asc" });
    match q.sort {
        Sort::Relevance if has_text => json!(["_score", tie]),
        Sort::Relevance | Sort::Popularity => json!([{ "popularity": "desc" }, tie]),
        Sort::Date => json!([{ "starts_at": "asc" }, tie]),
        Sort::PriceAsc => json!([price_sort(q, "asc"), tie]),
        Sort::PriceDesc => json!([price_sort(q, "desc"), tie]),
        Sort::Distance => {
            let (lat, lon) = q.geo.map_or((0.0, 0.0), |g| (g.lat, g.lon));
            json!([{ "_geo_distance": {
                "location": { "lat": lat, "lon": lon },
                "order": "asc", "unit": "km", "distance_type": "arc",
            }}, tie])
        }
    }
}

fn bool_filter(filters: Vec<Value>) -> Value {
    json!({ "bool": { "filter": filters } })
}

/// The body of one `_search`: the query, every facet's aggregation, and the
/// facet filters as a `post_filter` so that each facet counts with every
/// filter but its own.
pub fn search_body(q: &SearchQuery) -> Value {
    let terms = q.text_query().map(text::terms).unwrap_or_default();
    let has_text = !terms.is_empty();
    let facet = facet_filters(q);
    let mut filter = plain_filters(q);
    if !q.facets {
        filter.extend(facet.iter().flatten().cloned());
    }
    let mut query = json!({ "bool": { "filter": filter } });
    if has_text {
        query["bool"]["must"] = json!([text_query(&terms)]);
    }
    if has_text && q.sort == Sort::Relevance {
        query = json!({ "function_score": {
            "query": query,
            "field_value_factor": { "field": "popularity", "modifier": "log2p", "missing": 0 },
            "boost_mode": "multiply",
        }});
    }
    let mut body = json!({
        "from": q.offset(),
        "size": q.size,
        "track_total_hits": true,
        "query": query,
        "sort": sort(q, has_text),
    });
    if has_text {
        body["highlight"] = json!({
            "pre_tags": ["<em>"], "post_tags": ["</em>"], "encoder": "html",
            "fields": {
                "title": { "number_of_fragments": 0 },
                "performers": { "number_of_fragments": 0 },
            },
        });
    }
    if q.facets {
        let active: Vec<Value> = facet.iter().flatten().cloned().collect();
        if !active.is_empty() {
            body["post_filter"] = bool_filter(active);
        }
        let others = |own: usize| -> Value {
            bool_filter(
                facet
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != own)
                    .filter_map(|(_, f)| f.clone())
                    .collect(),
            )
        };
        let price_buckets: Vec<Value> = (0..q.price_buckets().len())
            .map(|i| price_bucket_filter(q, i))
            .collect();
        let inner = [
            json!({ "terms": { "field": "category", "size": 10 } }),
            json!({ "terms": { "field": "genre", "size": FACET_SIZE } }),
            json!({ "terms": { "field": "city", "size": FACET_SIZE } }),
            json!({ "filters": { "filters": price_buckets } }),
            json!({ "date_histogram": {
                "field": "starts_at", "calendar_interval": "month",
                "format": "yyyy-MM", "time_zone": "UTC", "min_doc_count": 1,
            }}),
        ];
        let mut aggs = serde_json::Map::new();
        for (i, (name, agg)) in FACETS.iter().zip(inner).enumerate() {
            aggs.insert(
                (*name).to_owned(),
                json!({ "filter": others(i), "aggs": { "values": agg } }),
            );
        }
        body["aggs"] = Value::Object(aggs);
    }
    body
}

/// Fields a suggest reads back.
pub const SUGGEST_SOURCE: [&str; 10] = [
    "event_id",
    "starts_at",
    "title",
    "performer_ids",
    "performers",
    "venue_id",
    "venue_name",
    "city",
    "country",
    "popularity",
];

/// The body of a suggest `_search`: candidate events for what was typed.
pub fn suggest_body(typed: &str) -> Value {
    let terms = text::terms(typed);
    json!({
        "size": suggest::CANDIDATES,
        "_source": SUGGEST_SOURCE,
        "query": { "function_score": {
            "query": terms_query(&terms, &SUGGEST_FIELDS),
            "field_value_factor": { "field": "popularity", "modifier": "log2p", "missing": 0 },
            "boost_mode": "multiply",
        }},
    })
}

/// The `_mapping` body recording the change feed's checkpoint in `_meta`.
pub fn checkpoint_body(checkpoint: &str) -> Value {
    json!({ "_meta": { "indexer_checkpoint": checkpoint } })
}
