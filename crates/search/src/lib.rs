//! The event search index.
//!
//! One document model ([`EventDoc`]), one query model ([`SearchQuery`]) and one
//! abstraction over the engine ([`SearchIndex`]), with two backends:
//!
//! - [`tantivy_backend::TantivyIndex`]: embedded, the default. The index is a
//!   directory on disk; a rebuild writes a new generation beside it and swaps
//!   a symlink.
//! - [`elastic::ElasticIndex`]: Elasticsearch 8, for deployments that outgrow
//!   one machine. Writes go through `_bulk` with external versions; a rebuild
//!   builds a new physical index and moves the alias.
//!
//! [`catalog`] reads documents out of Postgres (the whole catalog from one
//! snapshot, or a set of events) and [`rebuild`] drives a full rebuild.

pub mod catalog;
pub mod config;
pub mod document;
pub mod elastic;
pub mod geo;
pub mod money;
pub mod query;
pub mod rebuild;
pub mod suggest;
pub mod tantivy_backend;
pub mod text;

use async_trait::async_trait;

pub use document::{EventDoc, IndexOp, PerformerRef};
pub use money::{PriceConversion, Rates};
pub use query::{
    FacetCount, Facets, GeoFilter, Hit, PriceBucket, SearchQuery, SearchResults, Sort, Suggestion,
    SuggestionKind,
};

/// What can go wrong talking to a search backend.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The backend cannot be reached or has no index yet; callers answer 503.
    #[error("search backend unavailable: {0}")]
    Unavailable(String),
    /// The backend answered something we did not expect.
    #[error("search backend error: {0}")]
    Backend(String),
}

impl SearchError {
    pub(crate) fn backend(e: impl std::fmt::Display) -> Self {
        Self::Backend(e.to_string())
    }
}

/// What a batch of writes did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyReport {
    /// Upserts and deletes that took effect.
    pub applied: usize,
    /// Operations dropped because the index already held a newer (or equal)
    /// version of the document.
    pub stale: usize,
}

/// One search engine holding the event documents.
///
/// Writes carry versions: an operation whose version is not newer than the
/// one the index holds for that event (a live document or a delete) is
/// dropped, so replays and out-of-order deliveries converge.
#[async_trait]
pub trait SearchIndex: Send + Sync + std::fmt::Debug {
    /// Upserts and deletes, in order. Several operations on one event within
    /// a batch collapse to the newest version.
    async fn apply(&self, ops: Vec<IndexOp>) -> Result<ApplyReport, SearchError>;

    /// Makes every applied operation durable and visible to searches.
    async fn commit(&self) -> Result<(), SearchError>;

    /// [`commit`](Self::commit), recording `checkpoint` (an opaque string:
    /// the change feed's position) with the commit. For tantivy the two are
    /// one atomic commit; Elasticsearch records it after the writes are
    /// durable, so it never claims more than is stored.
    async fn commit_checkpoint(&self, checkpoint: &str) -> Result<(), SearchError>;

    /// The checkpoint recorded by the live index's last commit, if any. A
    /// rebuilt index starts with the checkpoint its rebuild recorded.
    async fn checkpoint(&self) -> Result<Option<String>, SearchError>;

    /// Runs a query: hits, total, facets.
    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError>;

    /// At most `limit` typed suggestions for what a user has typed so far.
    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError>;

    /// Picks up an index a rebuild just published and drops uncommitted
    /// writes (tantivy switches its writer to the new generation and rolls
    /// back or recreates it; Elasticsearch needs nothing, the alias already
    /// moved and every write is durable on its own).
    async fn reopen(&self) -> Result<(), SearchError> {
        Ok(())
    }

    /// `Ok` when the backend can answer searches.
    async fn health(&self) -> Result<(), SearchError>;

    /// A short name for logs and metrics (`tantivy`, `elasticsearch`).
    fn backend_name(&self) -> &'static str;
}
