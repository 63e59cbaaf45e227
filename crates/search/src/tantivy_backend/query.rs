//! Query building: the text query and every filter the index can answer
//! ([`build_query`]), and the filters left to the collector ([`FilterPlan`]).

use std::ops::Bound;

use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, EmptyQuery, FuzzyTermQuery, Occur, Query, RangeQuery,
    TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};

use super::schema::Fields;
use crate::money::PriceConversion;
use crate::query::SearchQuery;
use crate::{geo, text};

fn boosted(query: impl Query + 'static, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(Box::new(query), boost))
}

/// Every query term must match a word of `names` (title, performers, venue,
/// city) exactly or within the typo allowance, or, for the last term, as a
/// prefix. Exact matches in the `weighted` fields add their BM25 score times
/// the field's weight.
pub(super) fn text_query(
    weighted: &[(Field, f32)],
    names: Field,
    terms: &[String],
) -> Box<dyn Query> {
    let mut musts: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(terms.len());
    for (i, t) in terms.iter().enumerate() {
        let last = i + 1 == terms.len();
        let edits = text::allowed_edits(t);
        let mut shoulds: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for &(field, boost) in weighted {
            shoulds.push((
                Occur::Should,
                boosted(
                    TermQuery::new(
                        Term::from_field_text(field, t),
                        IndexRecordOption::WithFreqs,
                    ),
                    boost,
                ),
            ));
        }
        let term = Term::from_field_text(names, t);
        if edits > 0 {
            shoulds.push((
                Occur::Should,
                boosted(FuzzyTermQuery::new(term.clone(), edits, true), 1.5),
            ));
        } else {
            shoulds.push((
                Occur::Should,
                boosted(TermQuery::new(term.clone(), IndexRecordOption::Basic), 1.5),
            ));
        }
        if last {
            shoulds.push((
                Occur::Should,
                boosted(FuzzyTermQuery::new_prefix(term, 0, true), 1.5),
            ));
        }
        musts.push((Occur::Must, Box::new(BooleanQuery::new(shoulds))));
    }
    Box::new(BooleanQuery::new(musts))
}

/// Every term in one field (the last one may be a prefix): a bonus for the
/// words of a query found together in one title or one performer field.
fn same_field_query(field: Field, boost: f32, terms: &[String]) -> Box<dyn Query> {
    let musts: Vec<(Occur, Box<dyn Query>)> = terms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let term = Term::from_field_text(field, t);
            let q: Box<dyn Query> = if i + 1 == terms.len() {
                Box::new(FuzzyTermQuery::new_prefix(term, 0, true))
            } else {
                Box::new(TermQuery::new(term, IndexRecordOption::Basic))
            };
            (Occur::Must, q)
        })
        .collect();
    boosted(BooleanQuery::new(musts), boost)
}

fn i64_range(field: Field, lo: Option<i64>, hi: Option<i64>) -> Box<dyn Query> {
    let bound = |v: Option<i64>| {
        v.map_or(Bound::Unbounded, |v| {
            Bound::Included(Term::from_field_i64(field, v))
        })
    };
    Box::new(RangeQuery::new(bound(lo), bound(hi)))
}

/// The lowest price within `[lo, hi]`: as it is, or in the display
/// currency as the union of each currency's native range.
fn price_range(
    fields: &Fields,
    prices: Option<&PriceConversion>,
    lo: Option<i64>,
    hi: Option<i64>,
) -> Box<dyn Query> {
    let Some(prices) = prices else {
        return i64_range(fields.min_price, lo, hi);
    };
    let shoulds: Vec<(Occur, Box<dyn Query>)> = prices
        .factors
        .keys()
        .filter_map(|currency| {
            let (a, b) = prices.native_range(currency, lo, hi)?;
            let term = Term::from_field_text(fields.currency, currency);
            let both: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
                (
                    Occur::Must,
                    Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
                ),
                (Occur::Must, i64_range(fields.min_price, a, b)),
            ]));
            Some((Occur::Should, both))
        })
        .collect();
    if shoulds.is_empty() {
        Box::new(EmptyQuery)
    } else {
        Box::new(BooleanQuery::new(shoulds))
    }
}

fn text_set(field: Field, values: &[String]) -> Box<dyn Query> {
    Box::new(TermSetQuery::new(
        values.iter().map(|v| Term::from_field_text(field, v)),
    ))
}

/// The query tantivy runs: text plus every filter the index can answer.
/// Facet filters need care: with facets on, a document failing exactly one
/// of them still counts for that facet, so the query keeps documents that
/// pass all but at most one (the collector then decides exactly).
pub(super) fn build_query(fields: &Fields, q: &SearchQuery, terms: &[String]) -> Box<dyn Query> {
    let mut musts: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    if !terms.is_empty() {
        let weighted = [(fields.title, 3.0), (fields.performers, 2.5)];
        let mut query = text_query(&weighted, fields.names, terms);
        if terms.len() > 1 {
            // All the words in one title, or one performer field, rank above
            // the same words spread over several fields.
            query = Box::new(BooleanQuery::new(vec![
                (Occur::Must, query),
                (Occur::Should, same_field_query(fields.title, 3.0, terms)),
                (
                    Occur::Should,
                    same_field_query(fields.performers, 2.5, terms),
                ),
            ]));
        }
        // Description mentions count, but only exactly and for little.
        let description: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|t| {
                let q = boosted(
                    TermQuery::new(
                        Term::from_field_text(fields.description, t),
                        IndexRecordOption::WithFreqs,
                    ),
                    0.5,
                );
                (Occur::Must, q)
            })
            .collect();
        query = Box::new(BooleanQuery::new(vec![
            (Occur::Should, query),
            (Occur::Should, Box::new(BooleanQuery::new(description))),
        ]));
        musts.push((Occur::Must, query));
    }
    if !q.venue_ids.is_empty() {
        let terms = q
            .venue_ids
            .iter()
            .map(|&id| Term::from_field_i64(fields.venue_id, id));
        musts.push((Occur::Must, Box::new(TermSetQuery::new(terms))));
    }
    if !q.performer_ids.is_empty() {
        let terms = q
            .performer_ids
            .iter()
            .map(|&id| Term::from_field_i64(fields.performer_ids, id));
        musts.push((Occur::Must, Box::new(TermSetQuery::new(terms))));
    }
    if !q.countries.is_empty() {
        musts.push((Occur::Must, text_set(fields.country, &q.countries)));
    }
    if q.available_only {
        musts.push((Occur::Must, i64_range(fields.available, Some(1), None)));
    }
    if let Some(g) = q.geo
        && let Some(r) = g.radius_km
        && let Some(cells) = geo::covering_cells(g.lat, g.lon, r)
    {
        musts.push((Occur::Must, text_set(fields.geohash, &cells)));
    }
    let mut facet_filters: Vec<Box<dyn Query>> = Vec::new();
    if !q.categories.is_empty() {
        facet_filters.push(text_set(fields.category, &q.categories));
    }
    if !q.genres.is_empty() {
        facet_filters.push(text_set(fields.genre, &q.genres));
    }
    if !q.cities.is_empty() {
        facet_filters.push(text_set(fields.city, &q.cities));
    }
    if q.min_price_cents.is_some() || q.max_price_cents.is_some() {
        facet_filters.push(price_range(
            fields,
            q.prices.as_ref(),
            q.min_price_cents,
            q.max_price_cents,
        ));
    }
    if q.start.is_some() || q.end.is_some() {
        facet_filters.push(i64_range(
            fields.starts_at,
            q.start.map(|t| t.timestamp()),
            q.end.map(|t| t.timestamp()),
        ));
    }
    let k = facet_filters.len();
    if !q.facets {
        musts.extend(facet_filters.into_iter().map(|f| (Occur::Must, f)));
    } else if k >= 2 {
        let shoulds = facet_filters
            .into_iter()
            .map(|f| (Occur::Should, f))
            .collect();
        musts.push((
            Occur::Must,
            Box::new(BooleanQuery::with_minimum_required_clauses(shoulds, k - 1)),
        ));
    }
    if musts.is_empty() {
        Box::new(AllQuery)
    } else {
        Box::new(BooleanQuery::new(musts))
    }
}

/// Filters decided per document.
#[derive(Debug, Clone, Default)]
pub(super) struct FilterPlan {
    pub(super) categories: Vec<String>,
    pub(super) genres: Vec<String>,
    pub(super) cities: Vec<String>,
    pub(super) min_price: Option<i64>,
    pub(super) max_price: Option<i64>,
    /// The display currency, when prices are compared in one.
    pub(super) prices: Option<PriceConversion>,
    /// The price buckets' count.
    pub(super) price_buckets: usize,
    pub(super) start: Option<i64>,
    pub(super) end: Option<i64>,
    pub(super) available_only: bool,
    pub(super) point: Option<(f64, f64)>,
    pub(super) radius_km: Option<f64>,
}

impl FilterPlan {
    pub(super) fn new(q: &SearchQuery) -> Self {
        FilterPlan {
            categories: q.categories.clone(),
            genres: q.genres.clone(),
            cities: q.cities.clone(),
            min_price: q.min_price_cents,
            max_price: q.max_price_cents,
            prices: q.prices.clone(),
            price_buckets: q.price_buckets().len(),
            start: q.start.map(|t| t.timestamp()),
            end: q.end.map(|t| t.timestamp()),
            available_only: q.available_only,
            point: q.geo.map(|g| (g.lat, g.lon)),
            radius_km: q.geo.and_then(|g| g.radius_km),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{TinyIndex, at, event};
    use super::*;
    use crate::document::EventDoc;
    use crate::query::GeoFilter;

    fn event_in(event_id: i64, category: &str, city: &str) -> EventDoc {
        EventDoc {
            category: category.to_owned(),
            city: city.to_owned(),
            ..event(event_id, "Show")
        }
    }

    /// Music and sports, in Berlin and in Hamburg: one event of each pair.
    fn four_events() -> TinyIndex {
        TinyIndex::new(&[
            event_in(1, "music", "Berlin"),
            event_in(2, "music", "Hamburg"),
            event_in(3, "sports", "Berlin"),
            event_in(4, "sports", "Hamburg"),
        ])
    }

    fn music_in_berlin(facets: bool) -> SearchQuery {
        SearchQuery {
            categories: vec!["music".to_owned()],
            cities: vec!["Berlin".to_owned()],
            facets,
            ..SearchQuery::all()
        }
    }

    fn terms(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn a_query_without_text_or_filters_matches_every_document() {
        let index = four_events();

        let query = build_query(&index.fields, &SearchQuery::all(), &[]);

        assert_eq!(index.matching_ids(query.as_ref()), vec![1, 2, 3, 4]);
    }

    #[test]
    fn with_facets_off_the_query_requires_every_facet_filter() {
        let index = four_events();

        let query = build_query(&index.fields, &music_in_berlin(false), &[]);

        assert_eq!(index.matching_ids(query.as_ref()), vec![1]);
    }

    #[test]
    fn with_facets_on_the_query_keeps_documents_failing_at_most_one_facet_filter() {
        let index = four_events();

        let query = build_query(&index.fields, &music_in_berlin(true), &[]);

        // Sports in Hamburg fails both filters; the others count for a facet.
        assert_eq!(index.matching_ids(query.as_ref()), vec![1, 2, 3]);
    }

    #[test]
    fn with_facets_on_a_single_facet_filter_is_left_to_the_collector() {
        let index = four_events();
        let q = SearchQuery {
            categories: vec!["music".to_owned()],
            ..SearchQuery::all()
        };

        let query = build_query(&index.fields, &q, &[]);
        let plan = FilterPlan::new(&q);

        assert_eq!(index.matching_ids(query.as_ref()), vec![1, 2, 3, 4]);
        assert_eq!(plan.categories, vec!["music".to_owned()]);
    }

    #[test]
    fn filters_that_are_not_facets_apply_in_the_query_even_with_facets_on() {
        let index = TinyIndex::new(&[
            event(1, "Show"),
            EventDoc {
                country: "AT".to_owned(),
                ..event(2, "Show")
            },
            EventDoc {
                available_tickets: 0,
                ..event(3, "Show")
            },
            EventDoc {
                venue_id: 2,
                ..event(4, "Show")
            },
        ]);
        let q = SearchQuery {
            countries: vec!["DE".to_owned()],
            venue_ids: vec![1],
            available_only: true,
            ..SearchQuery::all()
        };

        let query = build_query(&index.fields, &q, &[]);

        assert_eq!(index.matching_ids(query.as_ref()), vec![1]);
    }

    #[test]
    fn price_bounds_are_inclusive_at_both_ends() {
        let priced = |id, cents| EventDoc {
            min_price_cents: cents,
            ..event(id, "Show")
        };
        let index = TinyIndex::new(&[
            priced(1, 2_999),
            priced(2, 3_000),
            priced(3, 5_000),
            priced(4, 5_001),
        ]);
        let q = SearchQuery {
            min_price_cents: Some(3_000),
            max_price_cents: Some(5_000),
            facets: false,
            ..SearchQuery::all()
        };

        let query = build_query(&index.fields, &q, &[]);

        assert_eq!(index.matching_ids(query.as_ref()), vec![2, 3]);
    }

    #[test]
    fn a_typo_or_a_prefix_of_the_last_word_matches_a_title() {
        let index = TinyIndex::new(&[event(1, "Beethoven Night"), event(2, "Jazz Brunch")]);
        let q = SearchQuery::all();

        let typo = build_query(&index.fields, &q, &terms(&["beethovn"]));
        let prefix = build_query(&index.fields, &q, &terms(&["night", "beeth"]));

        assert_eq!(index.matching_ids(typo.as_ref()), vec![1]);
        assert_eq!(index.matching_ids(prefix.as_ref()), vec![1]);
    }

    #[test]
    fn only_the_last_word_may_be_a_prefix() {
        let index = TinyIndex::new(&[event(1, "Beethoven Night")]);

        let query = build_query(
            &index.fields,
            &SearchQuery::all(),
            &terms(&["beeth", "night"]),
        );

        assert!(index.matching_ids(query.as_ref()).is_empty());
    }

    #[test]
    fn description_words_match_only_exactly() {
        let index = TinyIndex::new(&[EventDoc {
            description: "A tribute to Beethoven".to_owned(),
            ..event(1, "Classical Evening")
        }]);
        let q = SearchQuery::all();

        let exact = build_query(&index.fields, &q, &terms(&["beethoven"]));
        let typo = build_query(&index.fields, &q, &terms(&["beethovn"]));

        assert_eq!(index.matching_ids(exact.as_ref()), vec![1]);
        assert!(index.matching_ids(typo.as_ref()).is_empty());
    }

    #[test]
    fn the_filter_plan_takes_the_per_document_filters_from_the_query() {
        let q = SearchQuery {
            categories: vec!["music".to_owned()],
            genres: vec!["rock".to_owned(), "jazz".to_owned()],
            cities: vec!["Berlin".to_owned()],
            countries: vec!["DE".to_owned()],
            min_price_cents: Some(1_000),
            max_price_cents: Some(9_000),
            start: Some(at(1_780_000_000)),
            end: Some(at(1_790_000_000)),
            available_only: true,
            geo: Some(GeoFilter {
                lat: 52.5,
                lon: 13.4,
                radius_km: Some(25.0),
            }),
            ..SearchQuery::all()
        };

        let plan = FilterPlan::new(&q);

        assert_eq!(plan.categories, q.categories);
        assert_eq!(plan.genres, q.genres);
        assert_eq!(plan.cities, q.cities);
        assert_eq!((plan.min_price, plan.max_price), (Some(1_000), Some(9_000)));
        assert_eq!(
            (plan.start, plan.end),
            (Some(1_780_000_000), Some(1_790_000_000))
        );
        assert!(plan.available_only);
        assert_eq!(plan.point, Some((52.5, 13.4)));
        assert_eq!(plan.radius_km, Some(25.0));
    }
}
