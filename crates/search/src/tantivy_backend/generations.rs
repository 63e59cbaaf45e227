//! Generations on disk: one tantivy index per `gen-<millis>` directory, the
//! `current` symlink naming the live one, and the follow loop that moves
//! readers to a newly published generation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tantivy::{Index, IndexReader, ReloadPolicy};

use super::schema::{register_tokenizers, schema};
use super::{Inner, WRITER_HEAP, WriterState, err};
use crate::SearchError;

const CURRENT: &str = "current";
/// Document-store blocks a reader keeps decoded, per segment: enough for
/// the whole store of a 100,000-event catalog (tens of MB).
const DOC_STORE_CACHE_BLOCKS: usize = 4_096;
/// How often a reader checks whether a rebuild swapped `current`.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(100);

/// One generation of the index: a directory and a reader over it.
pub(super) struct Generation {
    pub(super) name: String,
    pub(super) index: Index,
    pub(super) reader: IndexReader,
    /// The commit (opstamp) the reader last loaded; a read-only handle
    /// reloads when another process commits a newer one.
    pub(super) loaded_opstamp: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("name", &self.name)
            .finish()
    }
}

pub(super) fn read_current(root: &Path) -> Option<String> {
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

pub(super) fn create_generation(root: &Path) -> Result<(String, Index), SearchError> {
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
pub(super) fn publish(root: &Path, name: &str) -> Result<(), SearchError> {
    let tmp = root.join(format!("{CURRENT}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(name, &tmp).map_err(err)?;
    std::fs::rename(&tmp, root.join(CURRENT)).map_err(err)?;
    Ok(())
}

/// Removes generations other than `keep` (the live one and the one before).
pub(super) fn prune(root: &Path, keep: &[&str]) {
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

impl Inner {
    pub(super) fn follow(&self) -> Result<(), SearchError> {
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

pub(super) fn follow_loop(weak: Weak<Inner>) {
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
