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
//! Invariants:
//!
//! - `current` only ever changes by renaming a new symlink over it, so a
//!   reader sees the old generation or the new one, never neither. A rebuild
//!   keeps the live generation and the one before and removes the rest.
//! - A generation built with another schema is unusable, not an error to
//!   retry: searches answer [`SearchError::Unavailable`] until a rebuild
//!   replaces it.
//! - Readers reload on every commit: a writer after its own commits, a
//!   read-only handle when its follow thread sees a newer commit, and both
//!   follow `current` when a rebuild swaps it (checked every 100 ms). A
//!   writer never switches generations on its own, only when its owner calls
//!   [`reopen`](SearchIndex::reopen): its checkpoint belongs to the generation
//!   it wrote.
//! - Writes carry versions; an operation not newer than what the index holds
//!   (committed, or pending since the last commit) is stale and dropped. A
//!   delete leaves a tombstone document behind (no text, never matched) so
//!   that an older upsert arriving later is recognised as stale.
//! - Cached results are keyed by the generation and the reader's own
//!   generation counter, so a cached answer is never staler than the index.
//! - Queries run on blocking threads, off the async runtime, at most two per
//!   core at once.
//!
//! The pieces: `schema` (fields and documents), `generations` (the
//! directories, `current` and the follow loop), `reader` (searching, caches
//! and reloads), `query` (query building) and `collector` (one pass for
//! filters, total, top-k and facets).

mod collector;
mod generations;
mod query;
mod reader;
mod schema;
#[cfg(test)]
mod test_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use tantivy::{DocAddress, IndexWriter, Term};

use self::generations::{Generation, create_generation, follow_loop, prune, publish, read_current};
use self::reader::{ResultCache, SuggestCache, new_cache, stored_version};
use self::schema::{Fields, load_source, schema};
use crate::document::{EventDoc, IndexOp, collapse};
use crate::query::{SearchQuery, SearchResults, Suggestion};
use crate::{ApplyReport, SearchError, SearchIndex};

/// Writer memory for incremental updates.
const WRITER_HEAP: usize = 64 << 20;
/// Writer memory per thread for a rebuild.
const REBUILD_HEAP: usize = 256 << 20;

struct WriterState {
    generation: String,
    writer: IndexWriter,
    /// Versions written since the last commit, which the reader cannot see.
    pending: HashMap<i64, u64>,
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
