//! The embedded backend: a tantivy index in a directory on disk.
//!
//! Layout under the root directory:
//!
//! ```text
//! root/
//!   current -> gen-1763712000000     (symlink, swapped atomically by a rebuild)
//!   gen-1763712000000/               (a tantivy index)
//! ```
//!
//! Readers reload on every commit (tantivy watches `meta.json`) and follow
//! `current` when a rebuild swaps it. Queries run on blocking threads, off the
//! async runtime. A delete leaves a tombstone document behind (no text, never
//! matched) so that an older upsert arriving later is recognised as stale.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tantivy::collector::{Collector, DocSetCollector, SegmentCollector};
use tantivy::columnar::{Column, ColumnIndex, StrColumn};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, RangeQuery, TermQuery,
    TermSetQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::{
    DocAddress, DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentReader,
    TantivyDocument, Term,
};

use crate::document::{EventDoc, IndexOp, collapse, month_label};
use crate::query::{
    FACET_SIZE, FacetCount, Facets, Highlights, Hit, PriceBucket, SearchQuery, SearchResults, Sort,
    Suggestion, price_bucket, top_counts,
};
use crate::suggest::{self, Candidate};
use crate::{ApplyReport, SearchError, SearchIndex, geo, text};

const CURRENT: &str = "current";
/// Writer memory for incremental updates.
const WRITER_HEAP: usize = 64 << 20;
/// Writer memory per thread for a rebuild.
const REBUILD_HEAP: usize = 256 << 20;
/// Document-store blocks a reader keeps decoded, per segment: enough for
/// the whole store of a 100,000-event catalog (tens of MB).
const DOC_STORE_CACHE_BLOCKS: usize = 4_096;
/// How often a reader checks whether a rebuild swapped `current`.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(100);

/// Field handles of the schema.
#[derive(Debug, Clone, Copy)]
struct Fields {
    event_id: Field,
    version: Field,
    tombstone: Field,
    title: Field,
    performers: Field,
    venue_name: Field,
    city_text: Field,
    description: Field,
    /// Title, performers, venue and city together: where typos and prefixes
    /// are matched (one automaton per word instead of one per field).
    names: Field,
    category: Field,
    genre: Field,
    city: Field,
    country: Field,
    performer_ids: Field,
    venue_id: Field,
    geohash: Field,
    starts_at: Field,
    month: Field,
    min_price: Field,
    available: Field,
    popularity: Field,
    /// `log10(2 + popularity)`, the relevance multiplier, precomputed.
    boost: Field,
    lat: Field,
    lon: Field,
    /// [`EventDoc::content_hash`] of the whole document (the description
    /// is not stored, so this is how an export proves it is the same).
    content_hash: Field,
    source: Field,
}

fn schema() -> (Schema, Fields) {
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
        country: b.add_text_field("country", keyword),
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

fn register_tokenizers(index: &Index) {
    index.tokenizers().register(text::FOLDED, text::analyzer());
}

impl Fields {
    fn document(&self, doc: &EventDoc, version: u64) -> Result<TantivyDocument, SearchError> {
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

    fn tombstone(&self, event_id: i64, version: u64) -> TantivyDocument {
        let mut d = TantivyDocument::new();
        d.add_i64(self.event_id, event_id);
        d.add_u64(self.version, version);
        d.add_u64(self.tombstone, 1);
        d
    }
}

/// One generation of the index: a directory and a reader over it.
struct Generation {
    name: String,
    index: Index,
    reader: IndexReader,
    /// The commit (opstamp) the reader last loaded; a read-only handle
    /// reloads when another process commits a newer one.
    loaded_opstamp: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("name", &self.name)
            .finish()
    }
}

struct WriterState {
    generation: String,
    writer: IndexWriter,
    /// Versions written since the last commit, which the reader cannot see.
    pending: HashMap<i64, u64>,
}

/// Results cached per searcher generation: a commit or a swap makes a new
/// generation, so a cached answer is never staler than the index itself.
/// Keyed by the generation's directory and the reader's own generation
/// counter (which starts again for every reader).
type ResultCache = moka::sync::Cache<(String, u64, String), Arc<SearchResults>>;
type SuggestCache = moka::sync::Cache<(String, u64, String, usize), Arc<Vec<Suggestion>>>;

fn new_cache<K, V>(entries: u64) -> moka::sync::Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::sync::Cache::builder()
        .max_capacity(entries)
        .time_to_live(Duration::from_secs(300))
        .build()
}

struct Inner {
    root: PathBuf,
    fields: Fields,
    results: Option<ResultCache>,
    suggestions: Option<SuggestCache>,
    writable: bool,
    current: RwLock<Option<Arc<Generation>>>,
    writer: Mutex<Option<WriterState>>,
    /// A generation that could not be opened: not retried (or logged) again
    /// until `current` points elsewhere.
    unusable: Mutex<Option<String>>,
}

/// The embedded tantivy backend.
#[derive(Clone)]
pub struct TantivyIndex {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TantivyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivyIndex")
            .field("root", &self.inner.root)
            .field("writable", &self.inner.writable)
            .finish()
    }
}

fn err(e: impl std::fmt::Display) -> SearchError {
    SearchError::backend(e)
}

fn read_current(root: &Path) -> Option<String> {
    let target = std::fs::read_link(root.join(CURRENT)).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

fn open_generation(root: &Path, name: &str) -> Result<Generation, SearchError> {
    let index = Index::open_in_dir(root.join(name)).map_err(err)?;
    if index.schema() != schema().0 {
        // Built by another version of this code: unusable, not an error to
        // retry. A rebuild replaces it (`search-rebuild --if-missing` too).
        return Err(SearchError::Unavailable(format!(
            "the search index {} was built with another schema; run `ticketctl search-rebuild`",
            root.join(name).display()
        )));
    }
    register_tokenizers(&index);
    // Writers reload after their own commits; read-only handles when the
    // follow thread sees a new commit (every 100 ms, cheaper and quicker
    // than tantivy's 500 ms file watcher, and a reload only when needed so
    // cached results survive).
    let loaded_opstamp = index.load_metas().map_err(err)?.opstamp;
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .doc_store_cache_num_blocks(DOC_STORE_CACHE_BLOCKS)
        .try_into()
        .map_err(err)?;
    Ok(Generation {
        name: name.to_owned(),
        index,
        reader,
        loaded_opstamp: std::sync::atomic::AtomicU64::new(loaded_opstamp),
    })
}

fn new_generation_name() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("gen-{millis}")
}

fn create_generation(root: &Path) -> Result<(String, Index), SearchError> {
    std::fs::create_dir_all(root).map_err(err)?;
    let mut name = new_generation_name();
    while root.join(&name).exists() {
        std::thread::sleep(Duration::from_millis(2));
        name = new_generation_name();
    }
    let dir = root.join(&name);
    std::fs::create_dir_all(&dir).map_err(err)?;
    let (schema, _) = schema();
    // Stored documents are small and read on every search: keep them
    // uncompressed (readers cache whole blocks; see `DOC_STORE_CACHE_BLOCKS`).
    let settings = tantivy::IndexSettings {
        docstore_compression: tantivy::store::Compressor::None,
        ..tantivy::IndexSettings::default()
    };
    let index = Index::builder()
        .schema(schema)
        .settings(settings)
        .create_in_dir(&dir)
        .map_err(err)?;
    register_tokenizers(&index);
    Ok((name, index))
}

/// Points `current` at `name` atomically (a new symlink renamed over the old).
fn publish(root: &Path, name: &str) -> Result<(), SearchError> {
    let tmp = root.join(format!("{CURRENT}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(name, &tmp).map_err(err)?;
    std::fs::rename(&tmp, root.join(CURRENT)).map_err(err)?;
    Ok(())
}

/// Removes generations other than `keep` (the live one and the one before).
fn prune(root: &Path, keep: &[&str]) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut gens: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gen-") && !keep.contains(&n.as_str()))
        .collect();
    gens.sort();
    for g in gens {
        if let Err(e) = std::fs::remove_dir_all(root.join(&g)) {
            tracing::warn!(generation = %g, error = %e, "could not remove an old index generation");
        }
    }
}

impl TantivyIndex {
    /// Opens the index under `root` for searching. A missing index is not an
    /// error: searches answer [`SearchError::Unavailable`] until a rebuild
    /// publishes one, which is then picked up within a fraction of a second.
    pub fn open_reader(root: impl Into<PathBuf>) -> Self {
        Self::open(root.into(), false, 0)
    }

    /// [`open_reader`](Self::open_reader), keeping up to `entries` search
    /// results (and as many suggestion lists) per searcher generation; 0
    /// turns the cache off.
    pub fn open_reader_cached(root: impl Into<PathBuf>, entries: u64) -> Self {
        Self::open(root.into(), false, entries)
    }

    /// Opens (creating if needed) the index under `root` for searching and
    /// writing. Tantivy allows one writer per generation across processes.
    pub fn open_writer(root: impl Into<PathBuf>) -> Result<Self, SearchError> {
        let root = root.into();
        if read_current(&root).is_none() {
            let (name, index) = create_generation(&root)?;
            drop(index);
            publish(&root, &name)?;
        }
        let this = Self::open(root, true, 0);
        this.follow()?;
        Ok(this)
    }

    fn open(root: PathBuf, writable: bool, cache_entries: u64) -> Self {
        let (_, fields) = schema();
        let inner = Arc::new(Inner {
            root,
            fields,
            results: (cache_entries > 0).then(|| new_cache(cache_entries)),
            suggestions: (cache_entries > 0).then(|| new_cache(cache_entries)),
            writable,
            current: RwLock::new(None),
            writer: Mutex::new(None),
            unusable: Mutex::new(None),
        });
        let this = TantivyIndex { inner };
        if let Err(e) = this.follow() {
            tracing::warn!(error = %e, "search index not opened yet");
        }
        let weak = Arc::downgrade(&this.inner);
        std::thread::Builder::new()
            .name("tantivy-follow".into())
            .spawn(move || follow_loop(weak))
            .ok();
        this
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The live generation's directory name, if any.
    pub fn generation(&self) -> Option<String> {
        self.current().map(|g| g.name.clone())
    }

    fn current(&self) -> Option<Arc<Generation>> {
        self.inner
            .current
            .read()
            .ok()
            .and_then(|g| g.as_ref().cloned())
    }

    /// Switches to the generation `current` points at, if it changed.
    fn follow(&self) -> Result<(), SearchError> {
        self.inner.follow()
    }

    fn searcher(&self) -> Result<(Arc<Generation>, tantivy::Searcher), SearchError> {
        let generation = self.current().ok_or_else(|| {
            SearchError::Unavailable(format!(
                "no search index under {} yet; run `ticketctl search-rebuild`",
                self.inner.root.display()
            ))
        })?;
        let searcher = generation.reader.searcher();
        Ok((generation, searcher))
    }

    /// Writes a fresh generation from `docs` and publishes it: the rebuild.
    pub fn rebuild_from(
        root: &Path,
        docs: impl Iterator<Item = EventDoc>,
        version: u64,
        checkpoint: Option<&str>,
    ) -> Result<RebuiltGeneration, SearchError> {
        let (name, index) = create_generation(root)?;
        let (_, fields) = schema();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let mut writer: IndexWriter = index
            .writer_with_num_threads(threads, REBUILD_HEAP * threads)
            .map_err(err)?;
        let mut count = 0u64;
        for doc in docs {
            writer
                .add_document(fields.document(&doc, version)?)
                .map_err(err)?;
            count += 1;
        }
        let mut commit = writer.prepare_commit().map_err(err)?;
        if let Some(checkpoint) = checkpoint {
            commit.set_payload(checkpoint);
        }
        commit.commit().map_err(err)?;
        writer.wait_merging_threads().map_err(err)?;
        let previous = read_current(root);
        publish(root, &name)?;
        let mut keep = vec![name.as_str()];
        if let Some(p) = previous.as_deref() {
            keep.push(p);
        }
        prune(root, &keep);
        Ok(RebuiltGeneration {
            generation: name,
            documents: count,
        })
    }
}

/// One live document as the index holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedDoc {
    /// The stored copy (without the description, which is not stored).
    pub doc: EventDoc,
    pub version: u64,
    /// [`EventDoc::content_hash`] of the document as written.
    pub content_hash: u64,
}

impl TantivyIndex {
    /// Every live (non-deleted) document of the current generation, by
    /// event id: for checking the index against Postgres.
    pub fn export(&self) -> Result<Vec<ExportedDoc>, SearchError> {
        let (_, searcher) = self.searcher()?;
        let fields = self.inner.fields;
        let mut out = Vec::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let ff = segment.fast_fields();
            let tombstone = ff.u64("tombstone").map_err(err)?;
            let version = ff.u64("version").map_err(err)?;
            let hash = ff.u64("content_hash").map_err(err)?;
            for doc_id in segment.doc_ids_alive() {
                if tombstone.first(doc_id) == Some(1) {
                    continue;
                }
                let addr = DocAddress::new(u32::try_from(ord).map_err(err)?, doc_id);
                out.push(ExportedDoc {
                    doc: load_source(&searcher, &fields, addr)?,
                    version: version.first(doc_id).unwrap_or(0),
                    content_hash: hash.first(doc_id).unwrap_or(0),
                });
            }
        }
        out.sort_by_key(|d| d.doc.event_id);
        Ok(out)
    }
}

/// What a rebuild published.
#[derive(Debug, Clone)]
pub struct RebuiltGeneration {
    pub generation: String,
    pub documents: u64,
}

impl Inner {
    fn follow(&self) -> Result<(), SearchError> {
        let Some(name) = read_current(&self.root) else {
            return Ok(());
        };
        let same = self
            .current
            .read()
            .map_err(err)?
            .as_ref()
            .is_some_and(|g| g.name == name);
        if same {
            return Ok(());
        }
        let mut unusable = self.unusable.lock().map_err(err)?;
        if unusable.as_deref() == Some(name.as_str()) {
            return Ok(());
        }
        let generation = match open_generation(&self.root, &name) {
            Ok(g) => Arc::new(g),
            Err(e) => {
                *unusable = Some(name);
                return Err(e);
            }
        };
        drop(unusable);
        if self.writable {
            let mut w = self.writer.lock().map_err(err)?;
            let writer = generation.index.writer(WRITER_HEAP).map_err(err)?;
            *w = Some(WriterState {
                generation: name.clone(),
                writer,
                pending: HashMap::new(),
            });
        }
        tracing::info!(generation = %name, root = %self.root.display(), "search index generation opened");
        *self.current.write().map_err(err)? = Some(generation);
        Ok(())
    }
}

impl Inner {
    /// Reloads the reader if the generation has a newer commit.
    fn reload_if_committed(&self) -> Result<(), SearchError> {
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

fn follow_loop(weak: Weak<Inner>) {
    loop {
        std::thread::sleep(FOLLOW_INTERVAL);
        let Some(inner) = weak.upgrade() else { return };
        // Only readers follow on their own. A writer switches generations
        // when its owner says so (`reopen`): its checkpoint belongs to the
        // generation it wrote, and a commit into a generation someone else
        // published would claim changes that generation never saw.
        if inner.writable {
            continue;
        }
        if let Err(e) = inner.follow() {
            tracing::warn!(error = %e, "could not open the new search index generation");
        }
        if let Err(e) = inner.reload_if_committed() {
            tracing::warn!(error = %e, "could not reload the search index");
        }
    }
}

/// The version the index holds for an event (a document or a tombstone).
fn stored_version(searcher: &tantivy::Searcher, fields: &Fields, event_id: i64) -> Option<u64> {
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
    fn apply_blocking(&self, ops: Vec<IndexOp>) -> Result<ApplyReport, SearchError> {
        if !self.inner.writable {
            return Err(SearchError::Backend(
                "this index was opened read-only".into(),
            ));
        }
        let (generation, searcher) = self.searcher()?;
        let fields = self.inner.fields;
        let mut guard = self.inner.writer.lock().map_err(err)?;
        let state = guard
            .as_mut()
            .filter(|s| s.generation == generation.name)
            .ok_or_else(|| {
                SearchError::Unavailable("index writer is switching generations".into())
            })?;
        let mut report = ApplyReport::default();
        for op in collapse(ops) {
            let id = op.event_id();
            let held = state
                .pending
                .get(&id)
                .copied()
                .or_else(|| stored_version(&searcher, &fields, id));
            if held.is_some_and(|v| v >= op.version()) {
                report.stale += 1;
                continue;
            }
            state
                .writer
                .delete_term(Term::from_field_i64(fields.event_id, id));
            let doc = match &op {
                IndexOp::Upsert { version, doc } => fields.document(doc, *version)?,
                IndexOp::Delete { version, event_id } => fields.tombstone(*event_id, *version),
            };
            state.writer.add_document(doc).map_err(err)?;
            state.pending.insert(id, op.version());
            report.applied += 1;
        }
        Ok(report)
    }

    /// Opens the generation `current` points at, if it changed, and gives
    /// a writer a clean state: uncommitted operations are rolled back (they
    /// were never acknowledged) and the writer is recreated if it died.
    pub fn reopen_blocking(&self) -> Result<(), SearchError> {
        self.follow()?;
        if !self.inner.writable {
            return Ok(());
        }
        let Some(generation) = self.current() else {
            return Ok(());
        };
        let mut guard = self.inner.writer.lock().map_err(err)?;
        let healthy = match guard.as_mut() {
            Some(state) if state.generation == generation.name => {
                state.pending.clear();
                state.writer.rollback().is_ok()
            }
            _ => false,
        };
        if !healthy {
            // Release the old writer's lock before taking a new one.
            *guard = None;
            let writer = generation.index.writer(WRITER_HEAP).map_err(err)?;
            *guard = Some(WriterState {
                generation: generation.name.clone(),
                writer,
                pending: HashMap::new(),
            });
        }
        generation.reader.reload().map_err(err)?;
        Ok(())
    }

    fn checkpoint_blocking(&self) -> Result<Option<String>, SearchError> {
        let (generation, _) = self.searcher()?;
        Ok(generation.index.load_metas().map_err(err)?.payload)
    }

    fn commit_blocking(&self, checkpoint: Option<&str>) -> Result<(), SearchError> {
        if !self.inner.writable {
            return Err(SearchError::Backend(
                "this index was opened read-only".into(),
            ));
        }
        let (generation, _) = self.searcher()?;
        let mut guard = self.inner.writer.lock().map_err(err)?;
        let Some(state) = guard.as_mut() else {
            return Err(SearchError::Unavailable("no index writer".into()));
        };
        if read_current(&self.inner.root).as_deref() != Some(state.generation.as_str()) {
            // Someone published another generation (an offline rebuild):
            // this writer's work is not in it. The owner must reopen.
            return Err(SearchError::Backend(format!(
                "the index generation {} was replaced while being written",
                state.generation
            )));
        }
        let committed = state.writer.prepare_commit().and_then(|mut commit| {
            if let Some(checkpoint) = checkpoint {
                commit.set_payload(checkpoint);
            }
            commit.commit()
        });
        if let Err(e) = committed {
            // Whatever was pending is lost with the failed commit: forget
            // the versions it claimed so a replay is not taken as stale.
            state.pending.clear();
            let _ = state.writer.rollback();
            return Err(err(e));
        }
        generation.reader.reload().map_err(err)?;
        state.pending.clear();
        Ok(())
    }

    fn search_cached(&self, query: &SearchQuery) -> Result<Arc<SearchResults>, SearchError> {
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

    fn suggest_cached(
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
            fruit.facets.into_facets()
        } else {
            Facets::default()
        };
        Ok(SearchResults {
            total: fruit.total,
            hits,
            facets,
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
                popularity: d.popularity,
            });
        }
        Ok(suggest::rank(typed, &candidates, limit))
    }
}

fn load_source(
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

fn boosted(query: impl Query + 'static, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(Box::new(query), boost))
}

/// Every query term must match a word of `names` (title, performers, venue,
/// city) exactly or within the typo allowance, or, for the last term, as a
/// prefix. Exact matches in the `weighted` fields add their BM25 score times
/// the field's weight.
fn text_query(weighted: &[(Field, f32)], names: Field, terms: &[String]) -> Box<dyn Query> {
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

fn text_set(field: Field, values: &[String]) -> Box<dyn Query> {
    Box::new(TermSetQuery::new(
        values.iter().map(|v| Term::from_field_text(field, v)),
    ))
}

/// The query tantivy runs: text plus every filter the index can answer.
/// Facet filters need care: with facets on, a document failing exactly one
/// of them still counts for that facet, so the query keeps documents that
/// pass all but at most one (the collector then decides exactly).
fn build_query(fields: &Fields, q: &SearchQuery, terms: &[String]) -> Box<dyn Query> {
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
        facet_filters.push(i64_range(
            fields.min_price,
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
struct FilterPlan {
    categories: Vec<String>,
    genres: Vec<String>,
    cities: Vec<String>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    start: Option<i64>,
    end: Option<i64>,
    available_only: bool,
    point: Option<(f64, f64)>,
    radius_km: Option<f64>,
}

impl FilterPlan {
    fn new(q: &SearchQuery) -> Self {
        FilterPlan {
            categories: q.categories.clone(),
            genres: q.genres.clone(),
            cities: q.cities.clone(),
            min_price: q.min_price_cents,
            max_price: q.max_price_cents,
            start: q.start.map(|t| t.timestamp()),
            end: q.end.map(|t| t.timestamp()),
            available_only: q.available_only,
            point: q.geo.map(|g| (g.lat, g.lon)),
            radius_km: q.geo.and_then(|g| g.radius_km),
        }
    }
}

/// A candidate in the top-k. Greater is better.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: f64,
    event_id: i64,
    doc: DocAddress,
    distance_km: Option<f64>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .total_cmp(&other.key)
            .then_with(|| other.event_id.cmp(&self.event_id))
    }
}

/// Facet counts by value.
#[derive(Debug, Default)]
struct FacetTally {
    category: HashMap<String, u64>,
    genre: HashMap<String, u64>,
    city: HashMap<String, u64>,
    price: [u64; 5],
    month: HashMap<u64, u64>,
}

impl FacetTally {
    fn merge(&mut self, other: FacetTally) {
        for (mine, theirs) in [
            (&mut self.category, other.category),
            (&mut self.genre, other.genre),
            (&mut self.city, other.city),
        ] {
            for (k, v) in theirs {
                *mine.entry(k).or_default() += v;
            }
        }
        for (i, v) in other.price.into_iter().enumerate() {
            self.price[i] += v;
        }
        for (k, v) in other.month {
            *self.month.entry(k).or_default() += v;
        }
    }

    fn into_facets(self) -> Facets {
        let list = |m: HashMap<String, u64>| {
            m.into_iter()
                .map(|(value, count)| FacetCount { value, count })
                .collect::<Vec<_>>()
        };
        let mut month: Vec<(u64, u64)> = self.month.into_iter().filter(|&(_, c)| c > 0).collect();
        month.sort();
        Facets {
            category: top_counts(list(self.category), usize::MAX),
            genre: top_counts(list(self.genre), FACET_SIZE),
            city: top_counts(list(self.city), FACET_SIZE),
            price: PriceBucket::with_counts(self.price),
            month: month
                .into_iter()
                .map(|(k, count)| FacetCount {
                    value: month_label(k as u32),
                    count,
                })
                .collect(),
        }
    }
}

struct Fruit {
    total: u64,
    top: Vec<Entry>,
    facets: FacetTally,
}

/// One pass over the matching documents: the filters the query left to it,
/// the total, the top-k in the requested order, and multi-select facet counts
/// (a document that fails exactly one facet's filter still counts for that
/// facet).
struct EventCollector {
    plan: FilterPlan,
    scored: bool,
    sort: Sort,
    keep: usize,
    facets: bool,
}

struct Columns {
    event_id: Column<i64>,
    tombstone: Column<u64>,
    category: StrColumn,
    genre: StrColumn,
    city: StrColumn,
    starts_at: Column<i64>,
    month: Column<u64>,
    min_price: Column<i64>,
    available: Column<i64>,
    popularity: Column<f64>,
    boost: Column<f64>,
    lat: Column<f64>,
    lon: Column<f64>,
}

fn str_column(seg: &SegmentReader, name: &str) -> tantivy::Result<StrColumn> {
    seg.fast_fields().str(name)?.ok_or_else(|| {
        tantivy::TantivyError::SchemaError(format!("{name} is not a fast text field"))
    })
}

/// Ordinals of `values` in this segment's dictionary; `None` means no filter.
fn ordinals(col: &StrColumn, values: &[String]) -> tantivy::Result<Option<Vec<u64>>> {
    if values.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        if let Some(ord) = col.dictionary().term_ord(v)? {
            out.push(ord);
        }
    }
    Ok(Some(out))
}

/// The value of a single-valued fast field; a direct read when every
/// document has one (the common case: only tombstones lack fields).
#[inline]
fn val<T>(col: &Column<T>, doc: DocId) -> Option<T>
where
    T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static,
{
    if matches!(col.index, ColumnIndex::Full) {
        Some(col.values.get_val(doc))
    } else {
        col.first(doc)
    }
}

/// Month facet counts: few distinct months, so a short list searched from
/// the last hit.
#[derive(Debug, Default)]
struct MonthCounts {
    counts: Vec<(u64, u64)>,
    last: usize,
}

impl MonthCounts {
    #[inline]
    fn add(&mut self, month: u64) {
        if let Some(&(m, _)) = self.counts.get(self.last)
            && m == month
        {
            self.counts[self.last].1 += 1;
            return;
        }
        match self.counts.iter().position(|&(m, _)| m == month) {
            Some(i) => {
                self.counts[i].1 += 1;
                self.last = i;
            }
            None => {
                self.last = self.counts.len();
                self.counts.push((month, 1));
            }
        }
    }
}

struct SegmentEventCollector {
    segment_ord: u32,
    cols: Columns,
    plan: FilterPlan,
    category_ords: Option<Vec<u64>>,
    genre_ords: Option<Vec<u64>>,
    city_ords: Option<Vec<u64>>,
    has_tombstones: bool,
    needs_price: bool,
    needs_start: bool,
    scored: bool,
    sort: Sort,
    keep: usize,
    facets: bool,
    total: u64,
    heap: BinaryHeap<Reverse<Entry>>,
    category_counts: Vec<u64>,
    genre_counts: Vec<u64>,
    city_counts: Vec<u64>,
    price: [u64; 5],
    month: MonthCounts,
}

impl Collector for EventCollector {
    type Fruit = Fruit;
    type Child = SegmentEventCollector;

    fn for_segment(
        &self,
        segment_ord: u32,
        seg: &SegmentReader,
    ) -> tantivy::Result<SegmentEventCollector> {
        let ff = seg.fast_fields();
        let cols = Columns {
            event_id: ff.i64("event_id")?,
            tombstone: ff.u64("tombstone")?,
            category: str_column(seg, "category")?,
            genre: str_column(seg, "genre")?,
            city: str_column(seg, "city")?,
            starts_at: ff.i64("starts_at")?,
            month: ff.u64("month")?,
            min_price: ff.i64("min_price")?,
            available: ff.i64("available")?,
            popularity: ff.f64("popularity")?,
            boost: ff.f64("boost")?,
            lat: ff.f64("lat")?,
            lon: ff.f64("lon")?,
        };
        let p = &self.plan;
        Ok(SegmentEventCollector {
            segment_ord,
            category_ords: ordinals(&cols.category, &p.categories)?,
            genre_ords: ordinals(&cols.genre, &p.genres)?,
            city_ords: ordinals(&cols.city, &p.cities)?,
            has_tombstones: cols.tombstone.max_value() > 0,
            needs_price: self.facets
                || p.min_price.is_some()
                || p.max_price.is_some()
                || matches!(self.sort, Sort::PriceAsc | Sort::PriceDesc),
            needs_start: p.start.is_some() || p.end.is_some() || self.sort == Sort::Date,
            category_counts: vec![
                0;
                if self.facets {
                    cols.category.num_terms()
                } else {
                    0
                }
            ],
            genre_counts: vec![
                0;
                if self.facets {
                    cols.genre.num_terms()
                } else {
                    0
                }
            ],
            city_counts: vec![
                0;
                if self.facets {
                    cols.city.num_terms()
                } else {
                    0
                }
            ],
            month: MonthCounts::default(),
            cols,
            plan: self.plan.clone(),
            scored: self.scored,
            sort: self.sort,
            keep: self.keep,
            facets: self.facets,
            total: 0,
            heap: BinaryHeap::with_capacity(self.keep.min(1_024) + 1),
            price: [0; 5],
        })
    }

    fn requires_scoring(&self) -> bool {
        self.scored
    }

    fn merge_fruits(&self, fruits: Vec<SegmentFruit>) -> tantivy::Result<Fruit> {
        let mut total = 0;
        let mut facets = FacetTally::default();
        let mut top: Vec<Entry> = Vec::new();
        for f in fruits {
            total += f.total;
            facets.merge(f.facets);
            top.extend(f.top);
        }
        top.sort_by(|a, b| b.cmp(a));
        top.truncate(self.keep);
        Ok(Fruit { total, top, facets })
    }
}

struct SegmentFruit {
    total: u64,
    top: Vec<Entry>,
    facets: FacetTally,
}

fn in_set(ords: &Option<Vec<u64>>, ord: Option<u64>) -> bool {
    match ords {
        None => true,
        Some(set) => ord.is_some_and(|o| set.contains(&o)),
    }
}

impl SegmentCollector for SegmentEventCollector {
    type Fruit = SegmentFruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        let c = &self.cols;
        if self.has_tombstones && val(&c.tombstone, doc) == Some(1) {
            return;
        }
        let p = &self.plan;
        if p.available_only && val(&c.available, doc).unwrap_or(0) <= 0 {
            return;
        }
        let distance = p.point.map(|(lat, lon)| {
            geo::distance_km(
                lat,
                lon,
                val(&c.lat, doc).unwrap_or(0.0),
                val(&c.lon, doc).unwrap_or(0.0),
            )
        });
        if let (Some(d), Some(r)) = (distance, p.radius_km)
            && d > r
        {
            return;
        }
        let category = if self.facets || self.category_ords.is_some() {
            val(c.category.ords(), doc)
        } else {
            None
        };
        let genre = if self.facets || self.genre_ords.is_some() {
            val(c.genre.ords(), doc)
        } else {
            None
        };
        let city = if self.facets || self.city_ords.is_some() {
            val(c.city.ords(), doc)
        } else {
            None
        };
        let price = if self.needs_price {
            val(&c.min_price, doc).unwrap_or(0)
        } else {
            0
        };
        let starts = if self.needs_start {
            val(&c.starts_at, doc).unwrap_or(0)
        } else {
            0
        };
        let checks = [
            in_set(&self.category_ords, category),
            in_set(&self.genre_ords, genre),
            in_set(&self.city_ords, city),
            p.min_price.is_none_or(|m| price >= m) && p.max_price.is_none_or(|m| price <= m),
            p.start.is_none_or(|s| starts >= s) && p.end.is_none_or(|e| starts <= e),
        ];
        let failed = checks.iter().filter(|ok| !**ok).count();
        if failed > 1 || (failed == 1 && !self.facets) {
            return;
        }
        if self.facets {
            let counts = |facet: usize| failed == 0 || !checks[facet];
            if counts(0)
                && let Some(o) = category
            {
                self.category_counts[o as usize] += 1;
            }
            if counts(1)
                && let Some(o) = genre
            {
                self.genre_counts[o as usize] += 1;
            }
            if counts(2)
                && let Some(o) = city
            {
                self.city_counts[o as usize] += 1;
            }
            if counts(3) {
                self.price[price_bucket(price)] += 1;
            }
            if counts(4) {
                self.month.add(val(&c.month, doc).unwrap_or(0));
            }
        }
        if failed > 0 {
            return;
        }
        self.total += 1;
        let key = match self.sort {
            Sort::Relevance if self.scored => f64::from(score) * val(&c.boost, doc).unwrap_or(0.3),
            Sort::Relevance | Sort::Popularity => val(&c.popularity, doc).unwrap_or(0.0),
            Sort::Date => -(starts as f64),
            Sort::PriceAsc => -(price as f64),
            Sort::PriceDesc => price as f64,
            Sort::Distance => -distance.unwrap_or(f64::MAX),
        };
        if self.heap.len() >= self.keep
            && let Some(Reverse(worst)) = self.heap.peek()
            && key < worst.key
        {
            return;
        }
        let entry = Entry {
            key,
            event_id: val(&c.event_id, doc).unwrap_or(i64::MAX),
            doc: DocAddress::new(self.segment_ord, doc),
            distance_km: distance,
        };
        if self.heap.len() < self.keep {
            self.heap.push(Reverse(entry));
        } else if let Some(mut worst) = self.heap.peek_mut()
            && entry > worst.0
        {
            // One sift instead of a pop and a push.
            *worst = Reverse(entry);
        }
    }

    fn harvest(self) -> SegmentFruit {
        let mut facets = FacetTally {
            price: self.price,
            ..FacetTally::default()
        };
        if self.facets {
            for (month, n) in self.month.counts {
                *facets.month.entry(month).or_default() += n;
            }
            for (col, counts, out) in [
                (
                    &self.cols.category,
                    &self.category_counts,
                    &mut facets.category,
                ),
                (&self.cols.genre, &self.genre_counts, &mut facets.genre),
                (&self.cols.city, &self.city_counts, &mut facets.city),
            ] {
                for (ord, &n) in counts.iter().enumerate() {
                    if n == 0 {
                        continue;
                    }
                    let mut value = String::new();
                    if col.ord_to_str(ord as u64, &mut value).unwrap_or(false) {
                        *out.entry(value).or_default() += n;
                    }
                }
            }
        }
        SegmentFruit {
            total: self.total,
            top: self.heap.into_iter().map(|Reverse(e)| e).collect(),
            facets,
        }
    }
}

/// Queries in flight at once: one per core. More would only time-slice the
/// same cores and stretch every query; the rest wait their turn in order.
fn query_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores * 2)
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SearchError> + Send + 'static,
) -> Result<T, SearchError> {
    let _slot = query_slots()
        .acquire()
        .await
        .map_err(|e| SearchError::Backend(format!("query slots closed: {e}")))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SearchError::Backend(format!("search task failed: {e}")))?
}

#[async_trait]
impl SearchIndex for TantivyIndex {
    async fn apply(&self, ops: Vec<IndexOp>) -> Result<ApplyReport, SearchError> {
        let this = self.clone();
        blocking(move || this.apply_blocking(ops)).await
    }

    async fn commit(&self) -> Result<(), SearchError> {
        let this = self.clone();
        blocking(move || this.commit_blocking(None)).await
    }

    async fn commit_checkpoint(&self, checkpoint: &str) -> Result<(), SearchError> {
        let this = self.clone();
        let checkpoint = checkpoint.to_owned();
        blocking(move || this.commit_blocking(Some(&checkpoint))).await
    }

    async fn checkpoint(&self) -> Result<Option<String>, SearchError> {
        let this = self.clone();
        blocking(move || this.checkpoint_blocking()).await
    }

    async fn reopen(&self) -> Result<(), SearchError> {
        let this = self.clone();
        blocking(move || this.reopen_blocking()).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let this = self.clone();
        let query = query.clone();
        blocking(move || this.search_cached(&query).map(Arc::unwrap_or_clone)).await
    }

    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let this = self.clone();
        let prefix = prefix.to_owned();
        blocking(move || {
            this.suggest_cached(&prefix, limit)
                .map(Arc::unwrap_or_clone)
        })
        .await
    }

    async fn health(&self) -> Result<(), SearchError> {
        self.searcher().map(|_| ())
    }

    fn backend_name(&self) -> &'static str {
        "tantivy"
    }
}
