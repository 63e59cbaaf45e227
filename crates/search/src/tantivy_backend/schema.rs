//! The schema: field handles, the tokenizer, and an [`EventDoc`] to and from
//! a tantivy document.

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::{DocAddress, Index, TantivyDocument};

use super::err;
use crate::document::EventDoc;
use crate::{SearchError, geo, text};

/// Field handles of the schema.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fields {
    pub(super) event_id: Field,
    pub(super) version: Field,
    pub(super) tombstone: Field,
    pub(super) title: Field,
    pub(super) performers: Field,
    pub(super) venue_name: Field,
    pub(super) city_text: Field,
    pub(super) description: Field,
    /// Title, performers, venue and city together: where typos and prefixes
    /// are matched (one automaton per word instead of one per field).
    pub(super) names: Field,
    pub(super) category: Field,
    pub(super) genre: Field,
    pub(super) city: Field,
    pub(super) country: Field,
    pub(super) performer_ids: Field,
    pub(super) venue_id: Field,
    pub(super) geohash: Field,
    pub(super) starts_at: Field,
    pub(super) month: Field,
    pub(super) min_price: Field,
    /// ISO 4217 code of `min_price`.
    pub(super) currency: Field,
    pub(super) available: Field,
    pub(super) popularity: Field,
    /// `log10(2 + popularity)`, the relevance multiplier, precomputed.
    pub(super) boost: Field,
    pub(super) lat: Field,
    pub(super) lon: Field,
    /// [`EventDoc::content_hash`] of the whole document (the description
    /// is not stored, so this is how an export proves it is the same).
    pub(super) content_hash: Field,
    pub(super) source: Field,
}

pub(super) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(text::FOLDED)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let keyword = STRING | FAST;
    let fields = Fields {
        event_id: b.add_i64_field("event_id", INDEXED | FAST),
        version: b.add_u64_field("version", FAST),
        tombstone: b.add_u64_field("tombstone", FAST),
        title: b.add_text_field("title", text.clone()),
        performers: b.add_text_field("performers", text.clone()),
        venue_name: b.add_text_field("venue_name", text.clone()),
        city_text: b.add_text_field("city_text", text.clone()),
        description: b.add_text_field("description", text.clone()),
        names: b.add_text_field("names", text),
        category: b.add_text_field("category", keyword.clone()),
        genre: b.add_text_field("genre", keyword.clone()),
        city: b.add_text_field("city", keyword.clone()),
        country: b.add_text_field("country", keyword.clone()),
        currency: b.add_text_field("currency", keyword),
        performer_ids: b.add_i64_field("performer_ids", INDEXED),
        venue_id: b.add_i64_field("venue_id", INDEXED),
        geohash: b.add_text_field("geohash", STRING),
        starts_at: b.add_i64_field("starts_at", FAST),
        month: b.add_u64_field("month", FAST),
        min_price: b.add_i64_field("min_price", FAST),
        available: b.add_i64_field("available", FAST),
        popularity: b.add_f64_field("popularity", FAST),
        boost: b.add_f64_field("boost", FAST),
        lat: b.add_f64_field("lat", FAST),
        lon: b.add_f64_field("lon", FAST),
        content_hash: b.add_u64_field("content_hash", FAST),
        source: b.add_text_field("source", STORED),
    };
    (b.build(), fields)
}

pub(super) fn register_tokenizers(index: &Index) {
    index.tokenizers().register(text::FOLDED, text::analyzer());
}

impl Fields {
    pub(super) fn document(
        &self,
        doc: &EventDoc,
        version: u64,
    ) -> Result<TantivyDocument, SearchError> {
        let mut d = TantivyDocument::new();
        d.add_i64(self.event_id, doc.event_id);
        d.add_u64(self.version, version);
        d.add_u64(self.tombstone, 0);
        d.add_text(self.title, &doc.title);
        for p in &doc.performers {
            d.add_text(self.performers, &p.name);
            d.add_i64(self.performer_ids, p.id);
        }
        d.add_text(self.venue_name, &doc.venue_name);
        d.add_text(self.city_text, &doc.city);
        d.add_text(self.description, &doc.description);
        d.add_text(self.names, &doc.title);
        for p in &doc.performers {
            d.add_text(self.names, &p.name);
        }
        d.add_text(self.names, &doc.venue_name);
        d.add_text(self.names, &doc.city);
        d.add_text(self.category, &doc.category);
        d.add_text(self.genre, &doc.genre);
        d.add_text(self.city, &doc.city);
        d.add_text(self.country, &doc.country);
        d.add_i64(self.venue_id, doc.venue_id);
        for cell in geo::cells(doc.lat, doc.lon) {
            d.add_text(self.geohash, cell);
        }
        d.add_i64(self.starts_at, doc.starts_at.timestamp());
        d.add_u64(self.month, u64::from(doc.month_key()));
        d.add_i64(self.min_price, doc.min_price_cents);
        d.add_text(self.currency, &doc.currency);
        d.add_i64(self.available, doc.available_tickets);
        d.add_f64(self.popularity, doc.popularity);
        d.add_f64(self.boost, (2.0 + doc.popularity.max(0.0)).log10());
        d.add_f64(self.lat, doc.lat);
        d.add_f64(self.lon, doc.lon);
        d.add_u64(self.content_hash, doc.content_hash());
        // Hits never show the description; leave it out of the stored copy.
        let stored = EventDoc {
            description: String::new(),
            ..doc.clone()
        };
        let source = serde_json::to_string(&stored).map_err(SearchError::backend)?;
        d.add_text(self.source, source);
        Ok(d)
    }

    pub(super) fn tombstone(&self, event_id: i64, version: u64) -> TantivyDocument {
        let mut d = TantivyDocument::new();
        d.add_i64(self.event_id, event_id);
        d.add_u64(self.version, version);
        d.add_u64(self.tombstone, 1);
        d
    }
}

pub(super) fn load_source(
    searcher: &tantivy::Searcher,
    fields: &Fields,
    addr: DocAddress,
) -> Result<EventDoc, SearchError> {
    let stored: TantivyDocument = searcher.doc(addr).map_err(err)?;
    let json = stored
        .get_first(fields.source)
        .and_then(|v| v.as_str())
        .ok_or_else(|| SearchError::Backend("document without source".into()))?;
    serde_json::from_str(json).map_err(err)
}
