//! A tiny in-RAM index with the real schema, for the unit tests of the query
//! builder and the collector.

use chrono::{DateTime, Utc};
use tantivy::collector::DocSetCollector;
use tantivy::query::Query;
use tantivy::{Index, IndexReader, IndexWriter, Searcher, TantivyDocument};

use super::collector::{EventCollector, Fruit};
use super::query::{FilterPlan, build_query};
use super::schema::{Fields, register_tokenizers, schema};
use crate::document::EventDoc;
use crate::query::SearchQuery;
use crate::text;

/// Writer memory: the least tantivy accepts for one thread.
const HEAP: usize = 15_000_000;

/// An instant, in seconds since the epoch.
pub(super) fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("a representable instant")
}

/// An event with plain defaults: rock music at a Berlin venue, from 30.00
/// EUR, tickets left, popularity 1.
pub(super) fn event(event_id: i64, title: &str) -> EventDoc {
    EventDoc {
        event_id,
        title: title.to_owned(),
        description: String::new(),
        category: "music".to_owned(),
        genre: "rock".to_owned(),
        performers: Vec::new(),
        venue_id: 1,
        venue_name: "Columbiahalle".to_owned(),
        city: "Berlin".to_owned(),
        country: "DE".to_owned(),
        lat: 52.52,
        lon: 13.405,
        starts_at: at(1_780_000_000),
        min_price_cents: 3_000,
        max_price_cents: 9_000,
        currency: "EUR".to_owned(),
        available_tickets: 100,
        sold_out: false,
        popularity: 1.0,
    }
}

/// An in-RAM index over the real schema and tokenizer.
pub(super) struct TinyIndex {
    pub(super) fields: Fields,
    reader: IndexReader,
}

impl TinyIndex {
    /// One segment holding `docs`, all at version 1.
    pub(super) fn new(docs: &[EventDoc]) -> Self {
        Self::with_segments(&[docs])
    }

    /// One segment per slice (a commit each), all at version 1.
    pub(super) fn with_segments(segments: &[&[EventDoc]]) -> Self {
        Self::build(|fields| {
            segments
                .iter()
                .map(|docs| {
                    docs.iter()
                        .map(|d| fields.document(d, 1).expect("a document"))
                        .collect()
                })
                .collect()
        })
    }

    /// One segment per list of tantivy documents (a commit each).
    pub(super) fn build(segments: impl FnOnce(&Fields) -> Vec<Vec<TantivyDocument>>) -> Self {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        register_tokenizers(&index);
        let mut writer: IndexWriter = index
            .writer_with_num_threads(1, HEAP)
            .expect("an index writer");
        for segment in segments(&fields) {
            for doc in segment {
                writer.add_document(doc).expect("a document added");
            }
            writer.commit().expect("a commit");
        }
        writer.wait_merging_threads().expect("merges finished");
        let reader = index.reader().expect("an index reader");
        Self { fields, reader }
    }

    pub(super) fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// Event ids of every document `query` matches, ascending: what the
    /// query alone lets through, before the collector decides.
    pub(super) fn matching_ids(&self, query: &dyn Query) -> Vec<i64> {
        let searcher = self.searcher();
        let docs = searcher.search(query, &DocSetCollector).expect("a search");
        let mut ids: Vec<i64> = docs
            .into_iter()
            .map(|addr| {
                let column = searcher
                    .segment_reader(addr.segment_ord)
                    .fast_fields()
                    .i64("event_id")
                    .expect("the event_id column");
                column.first(addr.doc_id).expect("an event id")
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Runs `q` with the query and the collector a search builds for it.
    pub(super) fn search(&self, q: &SearchQuery) -> Fruit {
        let terms = q.text_query().map(text::terms).unwrap_or_default();
        let query = build_query(&self.fields, q, &terms);
        let collector = EventCollector {
            plan: FilterPlan::new(q),
            scored: !terms.is_empty(),
            sort: q.sort,
            keep: (q.offset() + q.size).max(1),
            facets: q.facets,
        };
        self.searcher()
            .search(query.as_ref(), &collector)
            .expect("a search")
    }
}
