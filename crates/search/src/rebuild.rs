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
    rebuild_with(client, target, None, None).await
}

/// Which snapshot a rebuild reads and the version its documents carry.
#[derive(Debug, Clone, Copy)]
pub enum Snapshot<'a> {
    /// A snapshot exported by `CREATE_REPLICATION_SLOT ... EXPORT_SNAPSHOT`;
    /// documents carry the slot's consistent point: every transaction that
    /// commits after it is outside the snapshot and streamed by the slot.
    Exported {
        name: &'a str,
        consistent_point: u64,
    },
    /// A fresh snapshot; documents carry `version` (the change feed's
    /// checkpoint, which everything streamed later is newer than).
    Current { version: u64 },
}

/// [`rebuild`], reading `snapshot` if given (and versioning documents as it
/// says) and recording `checkpoint` in the new index.
pub async fn rebuild_with(
    client: &mut Client,
    target: &Target,
    snapshot: Option<Snapshot<'_>>,
    checkpoint: Option<&str>,
) -> Result<Report, RebuildError> {
    let started = Instant::now();
    let version = match snapshot {
        Some(Snapshot::Exported {
            consistent_point, ..
        }) => consistent_point,
        Some(Snapshot::Current { version }) => version,
        None => catalog::current_lsn(client).await?,
    };
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    if let Some(Snapshot::Exported { name, .. }) = snapshot {
        // Must be the transaction's first statement.
        tx.batch_execute(&format!(
            "set transaction snapshot '{}'",
            name.replace('\'', "")
        ))
        .await?;
    }
    let outcome = fill(&tx, target, version, checkpoint).await;
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
    checkpoint: Option<&str>,
) -> Result<(u64, String), RebuildError> {
    let docs = catalog::all_documents(tx).await?;
    futures_util::pin_mut!(docs);
    Ok(match target {
        Target::Tantivy(root) => {
            let (tx_docs, rx_docs) = std::sync::mpsc::sync_channel(4_096);
            let root = root.clone();
            let checkpoint = checkpoint.map(str::to_owned);
            let writer = tokio::task::spawn_blocking(move || {
                TantivyIndex::rebuild_from(
                    &root,
                    rx_docs.into_iter(),
                    version,
                    checkpoint.as_deref(),
                )
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
            match checkpoint {
                Some(checkpoint) => es.record_checkpoint(&index, checkpoint).await?,
                None => es.refresh(&index).await?,
            }
            es.swap_alias(&index).await?;
            (count, index)
        }
    })
}
