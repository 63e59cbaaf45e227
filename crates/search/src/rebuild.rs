//! A full rebuild: every document from one consistent Postgres snapshot
//! into a fresh index, swapped in atomically.
//!
//! The version every rebuilt document carries is the WAL position read just
//! *before* the snapshot. Any transaction that commits after that position
//! has a larger commit LSN, so the change feed (which versions by commit
//! LSN) can replay it over the rebuilt index and win, whether or not the
//! snapshot already saw it; nothing the snapshot missed can be shadowed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_postgres::Client;

use crate::SearchError;
use crate::catalog;
use crate::document::IndexOp;
use crate::elastic::ElasticIndex;
use crate::tantivy_backend::TantivyIndex;

/// Where a rebuild goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A new generation under this tantivy root.
    Tantivy(PathBuf),
    /// A new physical index behind this client's alias.
    Elastic(ElasticIndex),
}

/// What a rebuild did.
#[derive(Debug, Clone)]
pub struct Report {
    pub documents: u64,
    pub version: u64,
    /// The tantivy generation or Elasticsearch index now live.
    pub published: String,
    pub elapsed: Duration,
}

impl Report {
    pub fn docs_per_second(&self) -> f64 {
        self.documents as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Errors of a rebuild.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("reading the catalog: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Search(#[from] SearchError),
}

/// Documents per `_bulk` request.
const BULK_DOCS: usize = 2_000;

/// Rebuilds the index at `target` from the database `client` is connected to.
pub async fn rebuild(client: &mut Client, target: &Target) -> Result<Report, RebuildError> {
    let started = Instant::now();
    let version = catalog::current_lsn(client).await?;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let outcome = fill(&tx, target, version).await;
    tx.commit().await?;
    let (documents, published) = outcome?;
    Ok(Report {
        documents,
        version,
        published,
        elapsed: started.elapsed(),
    })
}

async fn fill(
    tx: &tokio_postgres::Transaction<'_>,
    target: &Target,
    version: u64,
) -> Result<(u64, String), RebuildError> {
    let docs = catalog::all_documents(tx).await?;
    futures_util::pin_mut!(docs);
    Ok(match target {
        Target::Tantivy(root) => {
            let (tx_docs, rx_docs) = std::sync::mpsc::sync_channel(4_096);
            let root = root.clone();
            let writer = tokio::task::spawn_blocking(move || {
                TantivyIndex::rebuild_from(&root, rx_docs.into_iter(), version)
            });
            let mut failed = None;
            while let Some(doc) = docs.next().await {
                match doc {
                    Ok(doc) => {
                        if tx_docs.send(doc).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            drop(tx_docs);
            if let Some(e) = failed {
                // The half-built generation is never published.
                let _ = writer.await;
                return Err(e.into());
            }
            let built = writer
                .await
                .map_err(|e| SearchError::Backend(format!("index writer task: {e}")))??;
            (built.documents, built.generation)
        }
        Target::Elastic(es) => {
            es.apply_template().await?;
            let index = es.new_index_name();
            es.create_index(&index).await?;
            let mut batch = Vec::with_capacity(BULK_DOCS);
            let mut count = 0u64;
            while let Some(doc) = docs.next().await {
                batch.push(IndexOp::Upsert {
                    version,
                    doc: Box::new(doc?),
                });
                if batch.len() == BULK_DOCS {
                    es.apply_to(&index, &batch).await?;
                    count += batch.len() as u64;
                    batch.clear();
                }
            }
            es.apply_to(&index, &batch).await?;
            count += batch.len() as u64;
            es.refresh(&index).await?;
            es.swap_alias(&index).await?;
            (count, index)
        }
    })
}
