//! Contract tests for the Elasticsearch backend, which cannot run here
//! without a cluster: the requests we build are pinned as golden JSON, and
//! responses are parsed from fixtures shaped like the Elasticsearch 8
//! documentation's examples. The live conformance suite (tests/, with
//! `ES_URL` set) checks the same code against a real cluster.
//!
//! After an intended change to a request, regenerate the goldens with
//! `UPDATE_GOLDEN=1 cargo test -p search --test elastic_contract` and review
//! the diff.

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use search::elastic::{TEMPLATE, request, response};
use search::{EventDoc, GeoFilter, IndexOp, PerformerRef, SearchQuery, Sort};
use serde_json::Value;

fn path(dir: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(dir)
        .join(name)
}

fn golden_text(name: &str, actual: &str) {
    let file = path("golden", name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&file, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            file.display()
        )
    });
    assert_eq!(actual, expected, "{name} differs from its golden file");
}

fn golden_json(name: &str, actual: &Value) {
    let pretty = serde_json::to_string_pretty(actual).expect("json") + "\n";
    golden_text(name, &pretty);
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(path("fixtures", name)).expect("fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn doc(id: i64) -> EventDoc {
    EventDoc {
        event_id: id,
        title: "Metallica: M72 World Tour".into(),
        description: "Heavy metal at the stadium.".into(),
        category: "concert".into(),
        genre: "metal".into(),
        performers: vec![
            PerformerRef {
                id: 11,
                name: "Metallica".into(),
            },
            PerformerRef {
                id: 12,
                name: "Pantera".into(),
            },
        ],
        venue_id: 3,
        venue_name: "Wembley Stadium".into(),
        city: "London".into(),
        country: "GB".into(),
        lat: 51.556,
        lon: -0.2796,
        starts_at: Utc
            .with_ymd_and_hms(2027, 6, 20, 18, 30, 0)
            .single()
            .expect("date"),
        min_price_cents: 8_950,
        max_price_cents: 32_500,
        currency: "GBP".into(),
        available_tickets: 1_204,
        sold_out: false,
        popularity: 97.5,
    }
}

#[test]
fn a_text_search_with_every_filter_and_facets() {
    let q = SearchQuery {
        text: Some("metalica wemb".into()),
        start: Some(
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
                .single()
                .expect("date"),
        ),
        end: Some(
            Utc.with_ymd_and_hms(2027, 12, 31, 23, 59, 59)
                .single()
                .expect("date"),
        ),
        cities: vec!["London".into()],
        countries: vec!["GB".into()],
        categories: vec!["concert".into(), "sports".into()],
        genres: vec!["metal".into()],
        venue_ids: vec![3],
        performer_ids: vec![11],
        min_price_cents: Some(5_000),
        max_price_cents: Some(20_000),
        prices: None,
        available_only: true,
        geo: Some(GeoFilter {
            lat: 51.5,
            lon: -0.12,
            radius_km: Some(50.0),
        }),
        sort: Sort::Relevance,
        page: 2,
        size: 10,
        facets: true,
    };
    golden_json("search_text_filters_facets.json", &request::search_body(&q));
}

#[test]
fn a_filter_only_search_without_facets_sorted_by_date() {
    let q = SearchQuery {
        categories: vec!["comedy".into()],
        sort: Sort::Date,
        facets: false,
        ..SearchQuery::all()
    };
    golden_json("search_filters_no_facets.json", &request::search_body(&q));
}

/// Prices in a display currency: the filter is each currency's native
/// range, the buckets are filters in the same terms, and the sort is a
/// script over the same factors.
fn rates() -> search::Rates {
    search::Rates {
        version: 3,
        per_usd: [("USD", 1.0), ("GBP", 0.79), ("JPY", 150.0), ("CZK", 23.2)]
            .into_iter()
            .map(|(c, r)| (c.to_owned(), r))
            .collect(),
    }
}

#[test]
fn a_search_in_a_display_currency() {
    let q = SearchQuery {
        min_price_cents: Some(5_000),
        max_price_cents: Some(10_000),
        prices: rates().conversion("USD"),
        sort: Sort::PriceDesc,
        ..SearchQuery::all()
    };
    golden_json("search_display_currency.json", &request::search_body(&q));
}

#[test]
fn a_distance_sorted_search() {
    let q = SearchQuery {
        geo: Some(GeoFilter {
            lat: 40.75,
            lon: -73.99,
            radius_km: Some(10.0),
        }),
        sort: Sort::Distance,
        ..SearchQuery::all()
    };
    golden_json("search_distance.json", &request::search_body(&q));
}

#[test]
fn every_sort_has_a_deterministic_tie_breaker() {
    for sort in Sort::ALL {
        let q = SearchQuery {
            text: Some("x".into()),
            geo: Some(GeoFilter {
                lat: 1.0,
                lon: 2.0,
                radius_km: None,
            }),
            sort,
            ..SearchQuery::all()
        };
        let body = request::search_body(&q);
        let sorts = body["sort"].as_array().expect("sort array");
        assert_eq!(
            sorts.last(),
            Some(&serde_json::json!({ "event_id": "asc" })),
            "{sort:?}"
        );
    }
}

#[test]
fn a_suggest_request() {
    golden_json("suggest.json", &request::suggest_body("metallica lon"));
}

#[test]
fn bulk_writes_carry_external_versions() {
    let ops = vec![
        IndexOp::Upsert {
            version: 0x16B3748,
            doc: Box::new(doc(42)),
        },
        IndexOp::Delete {
            version: 0x16B3749,
            event_id: 43,
        },
    ];
    let body = request::bulk_ndjson("events", &ops);
    assert!(body.ends_with('\n'), "NDJSON ends with a newline");
    golden_text("bulk.ndjson", &body);
}

#[test]
fn every_source_field_is_in_the_strict_mapping() {
    let template: Value = serde_json::from_str(TEMPLATE).expect("template JSON");
    let mapping = &template["template"]["mappings"];
    assert_eq!(mapping["dynamic"], "strict");
    let properties = mapping["properties"].as_object().expect("properties");
    let source = request::source(&doc(1));
    for key in source.as_object().expect("object").keys() {
        assert!(properties.contains_key(key), "{key} is not mapped");
    }
    // And every field a query names exists.
    let q = request::search_body(&SearchQuery {
        text: Some("a b".into()),
        ..SearchQuery::all()
    });
    let text = q.to_string();
    for field in [
        "title",
        "performers",
        "venue_name",
        "description",
        "city",
        "min_price_cents",
        "starts_at",
        "popularity",
    ] {
        assert!(properties.contains_key(field), "{field}");
        assert!(text.contains(field) || field == "city", "{field} unused");
    }
    assert!(properties["city"]["fields"]["text"].is_object());
    assert!(properties["title"]["fields"]["suggest"]["type"] == "search_as_you_type");
}

#[test]
fn a_search_response_becomes_hits_total_and_facets() {
    let q = SearchQuery {
        text: Some("metallica".into()),
        geo: Some(GeoFilter {
            lat: 51.5074,
            lon: -0.1278,
            radius_km: None,
        }),
        ..SearchQuery::all()
    };
    let r = response::search_results(&q, &fixture("search_response.json")).expect("parses");
    assert_eq!(r.total, 2);
    assert_eq!(r.hits.len(), 2);
    let hit = &r.hits[0];
    assert_eq!(hit.event_id, 42);
    assert_eq!(
        hit.performers[1],
        PerformerRef {
            id: 12,
            name: "Pantera".into()
        }
    );
    assert_eq!(
        hit.highlights.title.as_deref(),
        Some("<em>Metallica</em>: M72 World Tour")
    );
    assert_eq!(hit.highlights.performers, ["<em>Metallica</em>"]);
    assert_eq!(hit.venue.name, "Wembley Stadium");
    let d = hit.distance_km.expect("distance");
    assert!((d - 12.0).abs() < 1.0, "{d}");
    assert_eq!(r.hits[1].highlights.title, None);

    let f = &r.facets;
    assert_eq!(
        f.category
            .iter()
            .map(|c| (c.value.as_str(), c.count))
            .collect::<Vec<_>>(),
        [("concert", 2), ("sports", 1)]
    );
    assert_eq!(f.city[0].value, "London");
    assert_eq!(
        f.price.iter().map(|b| b.count).collect::<Vec<_>>(),
        [0, 0, 1, 1, 0]
    );
    assert_eq!(
        f.month.iter().map(|m| m.value.as_str()).collect::<Vec<_>>(),
        ["2027-06", "2027-07"]
    );
}

#[test]
fn a_suggest_response_becomes_candidates() {
    let c = response::suggest_candidates(&fixture("suggest_response.json")).expect("parses");
    assert_eq!(c.len(), 2);
    assert_eq!(
        c[0].performers,
        [(11, "Metallica".to_owned()), (12, "Pantera".to_owned())]
    );
    assert_eq!(c[0].starts_at.to_rfc3339(), "2027-06-20T18:30:00+00:00");
    let ranked = search::suggest::rank("metallica", &c, 10);
    assert_eq!(ranked[0].text, "Metallica");
    let event = ranked
        .iter()
        .find(|s| s.kind == search::SuggestionKind::Event)
        .expect("an event suggestion");
    assert_eq!(event.city.as_deref(), Some(c[0].city.as_str()));
    assert!(event.starts_at.is_some());
}

#[test]
fn a_bulk_response_counts_version_conflicts_as_stale() {
    let r = response::bulk_report(&fixture("bulk_response.json")).expect("parses");
    assert_eq!((r.applied, r.stale), (2, 1));
}

#[test]
fn any_other_bulk_item_error_fails_the_batch() {
    let e = response::bulk_report(&fixture("bulk_error_response.json")).expect_err("fails");
    assert!(e.to_string().contains("mapper_parsing_exception"), "{e}");
}

#[test]
fn a_response_without_hits_is_an_error_not_a_panic() {
    let q = SearchQuery::all();
    assert!(response::search_results(&q, &serde_json::json!({ "error": "x" })).is_err());
    assert!(response::suggest_candidates(&serde_json::json!({})).is_err());
    assert!(response::bulk_report(&serde_json::json!({ "took": 1 })).is_err());
}

#[test]
fn the_checkpoint_is_recorded_in_the_mapping_meta() {
    golden_json(
        "put_mapping_checkpoint.json",
        &request::checkpoint_body(r#"{"slot":"ticketing_indexer","lsn":23803720}"#),
    );
}

#[test]
fn a_get_mapping_response_yields_the_checkpoint_of_the_aliased_index() {
    // GET <alias>/_mapping answers with the physical index as the key.
    let body = fixture("get_mapping_response.json");
    assert_eq!(
        response::checkpoint(&body).as_deref(),
        Some(r#"{"slot":"ticketing_indexer","lsn":23803720}"#)
    );
    let fresh = serde_json::json!({"events-v1-events-1": {"mappings": {"dynamic": "strict"}}});
    assert_eq!(response::checkpoint(&fresh), None, "a new index has none");
}
