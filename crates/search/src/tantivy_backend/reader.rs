//! The read path: searches and suggestions through the per-generation
//! caches, reloading a reader after another process commits, and the version
//! the index holds for an event.

use std::sync::Arc;
use std::time::Duration;

use tantivy::Term;
use tantivy::collector::DocSetCollector;
use tantivy::query::TermQuery;
use tantivy::schema::IndexRecordOption;

use super::collector::EventCollector;
use super::query::{FilterPlan, build_query, text_query};
use super::schema::{Fields, load_source};
use super::{Inner, TantivyIndex, err};
use crate::query::{Facets, Highlights, Hit, SearchQuery, SearchResults, Sort, Suggestion};
use crate::suggest::{self, Candidate};
use crate::{SearchError, text};

/// Results cached per searcher generation: a commit or a swap makes a new
/// generation, so a cached answer is never staler than the index itself.
/// Keyed by the generation's directory and the reader's own generation
/// counter (which starts again for every reader).
pub(super) type ResultCache = moka::sync::Cache<(String, u64, String), Arc<SearchResults>>;
pub(super) type SuggestCache =
    moka::sync::Cache<(String, u64, String, usize), Arc<Vec<Suggestion>>>;

pub(super) fn new_cache<K, V>(entries: u64) -> moka::sync::Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::sync::Cache::builder()
        .max_capacity(entries)
        .time_to_live(Duration::from_secs(300))
        .build()
}

impl Inner {
    /// Reloads the reader if the generation has a newer commit.
    pub(super) fn reload_if_committed(&self) -> Result<(), SearchError> {
        let Some(generation) = self.current.read().map_err(err)?.as_ref().cloned() else {
            return Ok(());
        };
        let opstamp = generation.index.load_metas().map_err(err)?.opstamp;
        let seen = generation
            .loaded_opstamp
            .swap(opstamp, std::sync::atomic::Ordering::Relaxed);
        if seen != opstamp {
            generation.reader.reload().map_err(err)?;
        }
        Ok(())
    }
}

/// The version the index holds for an event (a document or a tombstone).
pub(super) fn stored_version(
    searcher: &tantivy::Searcher,
    fields: &Fields,
    event_id: i64,
) -> Option<u64> {
    let query = TermQuery::new(
        Term::from_field_i64(fields.event_id, event_id),
        IndexRecordOption::Basic,
    );
    let docs = searcher.search(&query, &DocSetCollector).ok()?;
    docs.into_iter()
        .filter_map(|addr| {
            let seg = searcher.segment_reader(addr.segment_ord);
            let col = seg.fast_fields().u64("version").ok()?;
            col.first(addr.doc_id)
        })
        .max()
}

impl TantivyIndex {
    pub(super) fn search_cached(
        &self,
        query: &SearchQuery,
    ) -> Result<Arc<SearchResults>, SearchError> {
        let Some(cache) = &self.inner.results else {
            return self.search_blocking(query).map(Arc::new);
        };
        let (generation, searcher) = self.searcher()?;
        let key = (
            generation.name.clone(),
            searcher.generation().generation_id(),
            serde_json::to_string(query).map_err(err)?,
        );
        if let Some(hit) = cache.get(&key) {
            return Ok(hit);
        }
        let results = Arc::new(self.search_with(&searcher, query)?);
        cache.insert(key, results.clone());
        Ok(results)
    }

    pub(super) fn suggest_cached(
        &self,
        typed: &str,
        limit: usize,
    ) -> Result<Arc<Vec<Suggestion>>, SearchError> {
        let Some(cache) = &self.inner.suggestions else {
            return self.suggest_blocking(typed, limit).map(Arc::new);
        };
        let (generation, searcher) = self.searcher()?;
        let key = (
            generation.name.clone(),
            searcher.generation().generation_id(),
            typed.to_owned(),
            limit,
        );
        if let Some(hit) = cache.get(&key) {
            return Ok(hit);
        }
        let found = Arc::new(self.suggest_with(&searcher, typed, limit)?);
        cache.insert(key, found.clone());
        Ok(found)
    }

    fn search_blocking(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let (_generation, searcher) = self.searcher()?;
        self.search_with(&searcher, query)
    }

    fn search_with(
        &self,
        searcher: &tantivy::Searcher,
        query: &SearchQuery,
    ) -> Result<SearchResults, SearchError> {
        let fields = self.inner.fields;
        let terms = query.text_query().map(text::terms).unwrap_or_default();
        let tantivy_query = build_query(&fields, query, &terms);
        let collector = EventCollector {
            plan: FilterPlan::new(query),
            scored: !terms.is_empty(),
            sort: query.sort,
            keep: (query.offset() + query.size).max(1),
            facets: query.facets,
        };
        let fruit = searcher
            .search(tantivy_query.as_ref(), &collector)
            .map_err(err)?;
        let mut hits = Vec::with_capacity(query.size);
        for entry in fruit.top.into_iter().skip(query.offset()).take(query.size) {
            let doc = load_source(searcher, &fields, entry.doc)?;
            let highlights = if terms.is_empty() {
                Highlights::default()
            } else {
                Highlights {
                    title: text::highlight(&terms, &doc.title),
                    performers: doc
                        .performers
                        .iter()
                        .filter_map(|p| text::highlight(&terms, &p.name))
                        .collect(),
                }
            };
            hits.push(Hit::from_doc(doc, entry.distance_km, highlights));
        }
        let facets = if query.facets {
            fruit.facets.into_facets(&query.price_buckets())
        } else {
            Facets::default()
        };
        Ok(SearchResults {
            total: fruit.total,
            hits,
            facets,
            display_currency: None,
            rates_version: None,
        })
    }

    fn suggest_blocking(&self, typed: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let (_generation, searcher) = self.searcher()?;
        self.suggest_with(&searcher, typed, limit)
    }

    fn suggest_with(
        &self,
        searcher: &tantivy::Searcher,
        typed: &str,
        limit: usize,
    ) -> Result<Vec<Suggestion>, SearchError> {
        let fields = self.inner.fields;
        let terms = text::terms(typed);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let weighted = [
            (fields.title, 3.0),
            (fields.performers, 3.0),
            (fields.venue_name, 2.0),
            (fields.city_text, 2.0),
        ];
        let query = text_query(&weighted, fields.names, &terms);
        let collector = EventCollector {
            plan: FilterPlan::default(),
            scored: true,
            sort: Sort::Relevance,
            keep: suggest::CANDIDATES,
            facets: false,
        };
        let fruit = searcher.search(query.as_ref(), &collector).map_err(err)?;
        let mut candidates = Vec::with_capacity(fruit.top.len());
        for entry in fruit.top {
            let d = load_source(searcher, &fields, entry.doc)?;
            candidates.push(Candidate {
                event_id: d.event_id,
                title: d.title,
                performers: d.performers.into_iter().map(|p| (p.id, p.name)).collect(),
                venue_id: d.venue_id,
                venue_name: d.venue_name,
                city: d.city,
                country: d.country,
                starts_at: d.starts_at,
                popularity: d.popularity,
            });
        }
        Ok(suggest::rank(typed, &candidates, limit))
    }
}
