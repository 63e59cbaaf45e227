//! The change-data-capture pipeline: slot -> transactions -> documents ->
//! index -> acknowledgement -> cache invalidation.
//!
//! Two tasks. The *reader* owns the replication connection: it forwards
//! decoded messages into a bounded channel and sends a standby status
//! update every second whatever the rest is doing (while the channel is
//! full it stops reading, not reporting). The *applier* buffers each
//! transaction until its commit, collapses what it touched (a set of
//! documents), batches committed transactions for up to `flush_interval`,
//! fans venue and performer changes out to their events, re-renders every
//! touched event from the primary, writes the documents versioned by the
//! commit's end LSN, and commits the index with the checkpoint. Only then
//! does the durable LSN (what the reader acknowledges) move, and only then
//! are invalidations published.
//!
//! Inventory-only changes to an event indexed less than `coalesce` ago are
//! held back until that second has passed, so a hot event costs about one
//! index update per second however many seats change. The checkpoint then
//! stops just before the first transaction still held back.
//!
//! Everything durable lives in the index (the checkpoint) and in Postgres
//! (the slot), so any failure is handled the same way: drop the
//! connections, wait, and start again from the stored checkpoint.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use search::rebuild::{self, Snapshot, Target};
use search::{IndexOp, SearchError, SearchIndex};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::changes::Touched;
use crate::metrics::IndexerMetrics;
use crate::wal::{self, ChangeFeed, PgSlot, WalError, WalMessage};

/// Tunables of the pipeline.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: secrecy::SecretString,
    pub slot: PgSlot,
    /// How long committed transactions are batched before a flush.
    pub flush_interval: Duration,
    /// The least time between two index updates of one event caused by
    /// inventory alone.
    pub coalesce: Duration,
    /// A flush starts early once a batch touches this many events.
    pub max_batch_events: usize,
    /// While the published tables are idle, the checkpoint follows the
    /// server's position this often (so the slot does not hold WAL back).
    pub idle_checkpoint: Duration,
    /// How often a standby status update is sent.
    pub status_interval: Duration,
    /// Prefix of the cache's Redis keys and channel.
    pub cache_namespace: String,
}

/// State the HTTP side reads.
#[derive(Debug, Default)]
pub struct Shared {
    /// The LSN durable in the index: what is acknowledged.
    pub durable: AtomicU64,
    /// The furthest position the server reported.
    pub server_end: AtomicU64,
    /// Whether the pipeline is streaming (false while starting or after an
    /// error, until it streams again).
    pub streaming: AtomicBool,
}

impl Shared {
    /// Bytes of WAL the index is behind the server.
    pub fn lag_bytes(&self) -> u64 {
        self.server_end
            .load(Ordering::Relaxed)
            .saturating_sub(self.durable.load(Ordering::Relaxed))
    }
}

/// What the index's commit payload records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The slot the position belongs to.
    pub slot: String,
    /// Every transaction that committed at or before this LSN is in the index.
    pub lsn: u64,
}

impl Checkpoint {
    fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn decode(raw: &str) -> Option<Self> {
        serde_json::from_str(raw).ok()
    }
}

/// Why one run of the pipeline stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("postgres: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error("rebuild: {0}")]
    Rebuild(#[from] search::rebuild::RebuildError),
    #[error("replication slot {0} is in use by another process")]
    SlotBusy(String),
    #[error("the replication reader stopped: {0}")]
    Reader(String),
}

/// Runs the pipeline until the process ends, restarting after any error
/// with a capped exponential backoff.
pub async fn run_forever(
    settings: Settings,
    pool: sqlx::PgPool,
    redis: redis::Client,
    index: Arc<dyn SearchIndex>,
    target: Target,
    shared: Arc<Shared>,
    metrics: IndexerMetrics,
) {
    let mut backoff = Duration::from_millis(250);
    let mut invalidator = crate::invalidate::Invalidator::new(redis, &settings.cache_namespace);
    loop {
        let started = Instant::now();
        let outcome = run_once(
            &settings,
            &pool,
            &mut invalidator,
            index.as_ref(),
            &target,
            &shared,
            &metrics,
        )
        .await;
        shared.streaming.store(false, Ordering::Relaxed);
        if let Err(e) = outcome {
            metrics.errors.inc();
            tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "indexer pipeline stopped; restarting");
        }
        if started.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_millis(250);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn connect(settings: &Settings) -> Result<tokio_postgres::Client, PipelineError> {
    let (client, connection) =
        tokio_postgres::connect(settings.database_url.expose_secret(), tokio_postgres::NoTls)
            .await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "indexer catalog connection closed");
        }
    });
    // Rendering a batch is a few milliseconds of index scans; JIT would
    // spend tens of milliseconds compiling it (its cost estimate is high).
    client.batch_execute("set jit = off").await?;
    Ok(client)
}

async fn run_once(
    settings: &Settings,
    pool: &sqlx::PgPool,
    invalidator: &mut crate::invalidate::Invalidator,
    index: &dyn SearchIndex,
    target: &Target,
    shared: &Arc<Shared>,
    metrics: &IndexerMetrics,
) -> Result<(), PipelineError> {
    let mut client = connect(settings).await?;
    let (feed, durable) =
        open_or_bootstrap(settings, pool, &mut client, index, target, metrics).await?;
    // A bootstrap onto a new slot may start behind an old slot's position:
    // what is acknowledged is this slot's checkpoint, nothing more.
    shared.durable.store(durable, Ordering::Relaxed);
    shared.server_end.store(durable, Ordering::Relaxed);
    shared.streaming.store(true, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel(4_096);
    let reader = tokio::spawn(read_loop(
        Box::new(feed),
        tx,
        shared.clone(),
        settings.status_interval,
        metrics.clone(),
    ));
    let mut applier = Applier {
        settings,
        client,
        index,
        target,
        shared,
        metrics,
        invalidator,
        durable,
        last_end: durable,
        open: None,
        batch: Batch::default(),
        deferred: HashMap::new(),
        last_indexed: HashMap::new(),
        idle_at: None,
        last_idle_commit: Instant::now(),
    };
    let outcome = applier.run(rx).await;
    reader.abort();
    outcome
}

/// Resumes from the index's checkpoint when the slot still matches it;
/// otherwise (no checkpoint, another slot's, no slot, or a slot that is
/// ahead of the checkpoint because it was recreated) bootstraps: a new slot
/// with an exported snapshot, a new index from that snapshot, swapped in,
/// then streaming from the slot's consistent point.
async fn open_or_bootstrap(
    settings: &Settings,
    pool: &sqlx::PgPool,
    client: &mut tokio_postgres::Client,
    index: &dyn SearchIndex,
    target: &Target,
    metrics: &IndexerMetrics,
) -> Result<(wal::PgFeed, u64), PipelineError> {
    let slot_name = &settings.slot.slot;
    // Start from a clean writer on the live index: drops anything a failed
    // run left uncommitted, and follows a rebuild published meanwhile
    // (which has no checkpoint of ours, so it is bootstrapped again).
    match index.reopen().await {
        Ok(()) | Err(SearchError::Unavailable(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let checkpoint = match index.checkpoint().await {
        Ok(raw) => raw.as_deref().and_then(Checkpoint::decode),
        // No index at all yet: bootstrap builds one.
        Err(SearchError::Unavailable(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let state = wal::slot_state(pool, slot_name).await?;
    if let (Some(cp), Some(state)) = (&checkpoint, state)
        && cp.slot == *slot_name
        && state.confirmed_flush <= cp.lsn
    {
        if state.active {
            return Err(PipelineError::SlotBusy(slot_name.clone()));
        }
        tracing::info!(slot = %slot_name, lsn = cp.lsn, "resuming from the index checkpoint");
        return Ok((settings.slot.open(cp.lsn).await?, cp.lsn));
    }
    let reason = match (&checkpoint, state) {
        (None, _) => "the index has no checkpoint",
        (Some(cp), _) if cp.slot != *slot_name => "the index was built from another slot",
        (_, None) => "the replication slot is missing",
        _ => "the replication slot was recreated (it is ahead of the index)",
    };
    if state.is_some_and(|s| s.active) {
        return Err(PipelineError::SlotBusy(slot_name.clone()));
    }
    tracing::info!(slot = %slot_name, reason, "bootstrapping the search index");
    wal::drop_slot(pool, slot_name).await?;
    let created = settings.slot.create().await?;
    let point = created.consistent_point;
    let checkpoint = Checkpoint {
        slot: slot_name.clone(),
        lsn: point,
    };
    let report = rebuild::rebuild_with(
        client,
        target,
        Some(Snapshot::Exported {
            name: &created.snapshot,
            consistent_point: point,
        }),
        Some(&checkpoint.encode()),
    )
    .await?;
    index.reopen().await?;
    metrics.bootstraps.inc();
    tracing::info!(
        documents = report.documents,
        published = %report.published,
        consistent_point = point,
        elapsed_ms = report.elapsed.as_millis() as u64,
        "bootstrap published; streaming from the consistent point"
    );
    Ok((settings.slot.start_created(created).await?, point))
}

/// Forwards messages and reports status on a timer, even while the
/// applier is slow (then the channel is full and reading pauses).
async fn read_loop(
    mut feed: Box<dyn ChangeFeed>,
    tx: mpsc::Sender<Result<WalMessage, String>>,
    shared: Arc<Shared>,
    every: Duration,
    metrics: IndexerMetrics,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let positions = || {
        let received = shared.server_end.load(Ordering::Relaxed);
        let durable = shared.durable.load(Ordering::Relaxed);
        metrics.lag_bytes.set(shared.lag_bytes() as i64);
        (received.max(durable), durable)
    };
    let outcome: Result<(), WalError> = async {
        loop {
            let permit = loop {
                tokio::select! {
                    permit = tx.reserve() => match permit {
                        Ok(p) => break p,
                        Err(_) => return Ok(()),
                    },
                    _ = tick.tick() => {
                        let (received, durable) = positions();
                        feed.report(received, durable).await?;
                    }
                }
            };
            let message = loop {
                tokio::select! {
                    message = feed.next() => break message?,
                    _ = tick.tick() => {
                        let (received, durable) = positions();
                        feed.report(received, durable).await?;
                    }
                }
            };
            match &message {
                WalMessage::Keepalive {
                    wal_end,
                    reply_requested,
                } => {
                    shared.server_end.fetch_max(*wal_end, Ordering::Relaxed);
                    if *reply_requested {
                        let (received, durable) = positions();
                        feed.report(received, durable).await?;
                    }
                }
                WalMessage::Commit { end_lsn, .. } => {
                    shared.server_end.fetch_max(*end_lsn, Ordering::Relaxed);
                }
                _ => {}
            }
            permit.send(Ok(message));
        }
    }
    .await;
    if let Err(e) = outcome {
        let _ = tx.send(Err(e.to_string())).await;
    }
}

/// Changes waiting for a flush, per event.
#[derive(Debug, Clone)]
struct Pending {
    /// The newest commit that touched the event.
    version: u64,
    /// Whether a catalog row (not only inventory) changed.
    catalog: bool,
    /// The end LSN of the transaction before the first one that touched
    /// it: the checkpoint may not pass this while the event is held back.
    safe: u64,
    /// Commit times of the changes waiting, for the latency histogram.
    committed: Vec<DateTime<Utc>>,
}

impl Pending {
    fn merge(mut self, other: Pending) -> Pending {
        self.version = self.version.max(other.version);
        self.catalog |= other.catalog;
        self.safe = self.safe.min(other.safe);
        self.committed.extend(other.committed);
        self
    }
}

fn merge_into(map: &mut HashMap<i64, Pending>, id: i64, pending: Pending) {
    match map.remove(&id) {
        Some(held) => map.insert(id, held.merge(pending)),
        None => map.insert(id, pending),
    };
}

#[derive(Debug, Default)]
struct Batch {
    events: HashMap<i64, Pending>,
    venues: HashMap<i64, u64>,
    performers: HashMap<i64, u64>,
    /// Commit times of transactions measured when the batch lands (fan-out
    /// roots, and transactions that touched no document).
    committed: Vec<DateTime<Utc>>,
    /// The newest commit in the batch.
    end: u64,
    truncated: bool,
    started: Option<Instant>,
    /// Transactions in the batch, to wait until they are visible.
    xids: Vec<u32>,
}

struct OpenTxn {
    touched: Touched,
    xid: u32,
}

struct Applier<'a> {
    settings: &'a Settings,
    client: tokio_postgres::Client,
    index: &'a dyn SearchIndex,
    target: &'a Target,
    shared: &'a Arc<Shared>,
    metrics: &'a IndexerMetrics,
    invalidator: &'a mut crate::invalidate::Invalidator,
    durable: u64,
    /// End LSN of the last transaction received.
    last_end: u64,
    open: Option<OpenTxn>,
    batch: Batch,
    deferred: HashMap<i64, Pending>,
    last_indexed: HashMap<i64, Instant>,
    idle_at: Option<u64>,
    last_idle_commit: Instant,
}

impl Applier<'_> {
    async fn run(
        &mut self,
        mut rx: mpsc::Receiver<Result<WalMessage, String>>,
    ) -> Result<(), PipelineError> {
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                message = rx.recv() => match message {
                    Some(Ok(message)) => self.receive(message),
                    Some(Err(e)) => return Err(PipelineError::Reader(e)),
                    None => return Err(PipelineError::Reader("channel closed".into())),
                },
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
            let now = Instant::now();
            if self.batch.truncated {
                self.resync().await?;
            } else if self.flush_due(now) {
                self.flush(now).await?;
            } else if self.idle_due(now) {
                self.advance_idle().await?;
            }
        }
    }

    fn next_deadline(&self) -> Instant {
        let now = Instant::now();
        let mut at = now + self.settings.idle_checkpoint;
        if let Some(started) = self.batch.started {
            at = at.min(started + self.settings.flush_interval);
        }
        for id in self.deferred.keys() {
            if let Some(t) = self.last_indexed.get(id) {
                at = at.min(*t + self.settings.coalesce);
            }
        }
        at.max(now)
    }

    fn receive(&mut self, message: WalMessage) {
        match message {
            WalMessage::Begin { xid, .. } => {
                self.open = Some(OpenTxn {
                    touched: Touched::default(),
                    xid,
                });
                self.idle_at = None;
            }
            WalMessage::Change(change) => {
                if let Some(open) = &mut self.open
                    && let Err(e) = open.touched.add(&change)
                {
                    // Cannot tell which document: re-read everything.
                    tracing::warn!(error = %e, "change without a document key; resyncing");
                    self.metrics.errors.inc();
                    open.touched.truncated = true;
                }
            }
            WalMessage::Truncate { tables } => {
                tracing::info!(?tables, "published tables truncated");
                if let Some(open) = &mut self.open {
                    open.touched.truncated = true;
                }
            }
            WalMessage::Commit {
                end_lsn,
                commit_time,
            } => {
                let Some(open) = self.open.take() else {
                    return;
                };
                if end_lsn <= self.durable {
                    // Already in the index (a replay after a restart).
                    return;
                }
                self.batch.xids.push(open.xid);
                self.add_commit(open.touched, end_lsn, commit_time);
            }
            WalMessage::Keepalive { wal_end, .. } => {
                if self.open.is_none() {
                    self.idle_at = Some(wal_end);
                }
            }
        }
    }

    fn add_commit(&mut self, touched: Touched, end_lsn: u64, commit_time: DateTime<Utc>) {
        let safe = self.last_end;
        let batch = &mut self.batch;
        for (ids, catalog) in [(&touched.events, true), (&touched.inventory, false)] {
            for id in ids {
                let pending = Pending {
                    version: end_lsn,
                    catalog,
                    safe,
                    committed: vec![commit_time],
                };
                merge_into(&mut batch.events, *id, pending);
            }
        }
        if touched.events.is_empty() && touched.inventory.is_empty() {
            batch.committed.push(commit_time);
        }
        for id in &touched.venues {
            batch.venues.insert(*id, end_lsn);
        }
        for id in &touched.performers {
            batch.performers.insert(*id, end_lsn);
        }
        batch.truncated |= touched.truncated;
        batch.end = batch.end.max(end_lsn);
        batch.started.get_or_insert_with(Instant::now);
        self.last_end = end_lsn;
    }

    fn flush_due(&self, now: Instant) -> bool {
        let batch_due = self.batch.started.is_some_and(|started| {
            now >= started + self.settings.flush_interval
                || self.batch.events.len() + self.batch.venues.len() + self.batch.performers.len()
                    >= self.settings.max_batch_events
        });
        batch_due
            || self
                .deferred
                .keys()
                .any(|id| self.coalesced_until(*id) <= now)
    }

    fn coalesced_until(&self, id: i64) -> Instant {
        self.last_indexed
            .get(&id)
            .map_or_else(Instant::now, |t| *t + self.settings.coalesce)
    }

    fn idle_due(&self, now: Instant) -> bool {
        self.open.is_none()
            && self.batch.started.is_none()
            && self.deferred.is_empty()
            && self.idle_at.is_some_and(|at| at > self.durable)
            && now >= self.last_idle_commit + self.settings.idle_checkpoint
    }

    /// Nothing is in flight: record the server's position as the checkpoint
    /// so the slot can let go of WAL nobody needs.
    async fn advance_idle(&mut self) -> Result<(), PipelineError> {
        let Some(at) = self.idle_at else {
            return Ok(());
        };
        self.commit_checkpoint(at).await?;
        self.last_idle_commit = Instant::now();
        Ok(())
    }

    async fn commit_checkpoint(&mut self, lsn: u64) -> Result<(), PipelineError> {
        let lsn = lsn.max(self.durable);
        let checkpoint = Checkpoint {
            slot: self.settings.slot.slot.clone(),
            lsn,
        };
        let encoded = checkpoint.encode();
        retry(self.metrics, || self.index.commit_checkpoint(&encoded)).await?;
        self.durable = lsn;
        self.shared.durable.fetch_max(lsn, Ordering::Relaxed);
        self.metrics.lag_bytes.set(self.shared.lag_bytes() as i64);
        Ok(())
    }

    /// A commit reaches the WAL (and us) a moment before other sessions can
    /// see it. Rendering before then would write the old content under the
    /// new version, so wait until no transaction of the batch is still in
    /// progress in a fresh snapshot.
    async fn wait_visible(&self, xids: &[u32]) -> Result<(), PipelineError> {
        if xids.is_empty() {
            return Ok(());
        }
        let xids: Vec<i64> = xids.iter().map(|x| i64::from(*x)).collect();
        loop {
            let running: i64 = self
                .client
                .query_one(
                    "select count(*) from pg_snapshot_xip(pg_current_snapshot()) x
                      where (x::text::bigint & 4294967295) = any($1)",
                    &[&xids],
                )
                .await?
                .get(0);
            if running == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn flush(&mut self, now: Instant) -> Result<(), PipelineError> {
        let started = Instant::now();
        let batch = std::mem::take(&mut self.batch);
        self.wait_visible(&batch.xids).await?;
        let mut render: HashMap<i64, Pending> = HashMap::new();
        // Fan-out: every event at a changed venue or with a changed performer.
        if !batch.venues.is_empty() {
            let ids: Vec<i64> = batch.venues.keys().copied().collect();
            for row in self
                .client
                .query(
                    "select event_id, venue_id from events where venue_id = any($1)",
                    &[&ids],
                )
                .await?
            {
                let version = batch.venues[&row.get::<_, i64>(1)];
                add(&mut render, row.get(0), version);
            }
        }
        if !batch.performers.is_empty() {
            let ids: Vec<i64> = batch.performers.keys().copied().collect();
            for row in self
                .client
                .query(
                    "select event_id, performer_id from event_performers where performer_id = any($1)",
                    &[&ids],
                )
                .await?
            {
                let version = batch.performers[&row.get::<_, i64>(1)];
                add(&mut render, row.get(0), version);
            }
        }
        // Hold back inventory-only changes to events indexed too recently.
        for (id, pending) in batch.events {
            let pending = match self.deferred.remove(&id) {
                Some(held) => held.merge(pending),
                None => pending,
            };
            let recent = self
                .last_indexed
                .get(&id)
                .is_some_and(|t| now < *t + self.settings.coalesce);
            if !pending.catalog && recent && !render.contains_key(&id) {
                self.deferred.insert(id, pending);
            } else {
                merge_into(&mut render, id, pending);
            }
        }
        let due: Vec<i64> = self
            .deferred
            .keys()
            .copied()
            .filter(|id| self.coalesced_until(*id) <= now)
            .collect();
        for id in due {
            if let Some(p) = self.deferred.remove(&id) {
                merge_into(&mut render, id, p);
            }
        }

        let mut documents = 0u64;
        let ids: Vec<i64> = render.keys().copied().collect();
        for chunk in ids.chunks(500) {
            let docs = search::catalog::documents_for(&self.client, chunk).await?;
            let mut ops: Vec<IndexOp> = Vec::with_capacity(chunk.len());
            let mut found = BTreeSet::new();
            for doc in docs {
                found.insert(doc.event_id);
                ops.push(IndexOp::Upsert {
                    version: render[&doc.event_id].version,
                    doc: Box::new(doc),
                });
            }
            for id in chunk.iter().filter(|id| !found.contains(id)) {
                ops.push(IndexOp::Delete {
                    version: render[id].version,
                    event_id: *id,
                });
            }
            documents += ops.len() as u64;
            self.write(ops).await?;
        }
        // Everything received is durable now, except what is held back.
        let checkpoint = self
            .deferred
            .values()
            .map(|p| p.safe)
            .min()
            .unwrap_or(self.last_end);
        self.commit_checkpoint(checkpoint).await?;
        // Searchable now: every change rendered in this batch.
        let searchable = Utc::now();
        for committed in render
            .values()
            .flat_map(|p| &p.committed)
            .chain(&batch.committed)
        {
            let seconds = (searchable - *committed).num_microseconds().unwrap_or(0) as f64 / 1e6;
            self.metrics.commit_to_searchable.observe(seconds.max(0.0));
        }
        self.metrics
            .flush_seconds
            .observe(started.elapsed().as_secs_f64());
        let indexed_at = Instant::now();
        for id in &ids {
            self.last_indexed.insert(*id, indexed_at);
        }
        self.last_indexed
            .retain(|_, t| indexed_at.duration_since(*t) < self.settings.coalesce * 2);
        self.metrics.batches.inc();
        self.metrics.documents.inc_by(documents);
        self.invalidator
            .publish(
                &ids,
                &batch.venues.keys().copied().collect::<Vec<_>>(),
                &batch.performers.keys().copied().collect::<Vec<_>>(),
                self.metrics,
            )
            .await;
        Ok(())
    }

    /// Applies operations; transient errors are retried (the checkpoint does
    /// not move meanwhile), a batch the engine refuses is split so the one
    /// document it refuses is parked (logged and counted) and the rest land.
    async fn write(&mut self, ops: Vec<IndexOp>) -> Result<(), PipelineError> {
        match retry(self.metrics, || self.index.apply(ops.clone())).await {
            Ok(_) => Ok(()),
            Err(SearchError::Backend(_)) if ops.len() > 1 => {
                for op in ops {
                    Box::pin(self.write(vec![op])).await?;
                }
                Ok(())
            }
            Err(SearchError::Backend(reason)) => {
                let id = ops.first().map(IndexOp::event_id).unwrap_or_default();
                tracing::error!(event_id = id, %reason, "search engine refused the document; parked");
                self.metrics.parked.inc();
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A published table was truncated (or a change could not be keyed):
    /// rebuild the whole index from a fresh snapshot and swap it in. The
    /// snapshot is newer than every transaction received, so the checkpoint
    /// is the last one's end.
    async fn resync(&mut self) -> Result<(), PipelineError> {
        let end = self.last_end;
        let checkpoint = Checkpoint {
            slot: self.settings.slot.slot.clone(),
            lsn: end,
        };
        let report = rebuild::rebuild_with(
            &mut self.client,
            self.target,
            None,
            Some(&checkpoint.encode()),
        )
        .await?;
        self.index.reopen().await?;
        tracing::info!(
            documents = report.documents,
            "index rebuilt after a truncate"
        );
        self.batch = Batch::default();
        self.deferred.clear();
        self.durable = self.durable.max(end);
        self.shared.durable.fetch_max(end, Ordering::Relaxed);
        Ok(())
    }
}

fn add(render: &mut HashMap<i64, Pending>, id: i64, version: u64) {
    let pending = Pending {
        version,
        catalog: true,
        safe: 0,
        committed: Vec::new(),
    };
    merge_into(render, id, pending);
}

/// Retries `op` while the engine is unavailable: 100 ms, doubling, up to
/// 5 s between attempts, for about a minute; then gives up (the pipeline
/// restarts from its checkpoint).
async fn retry<T, F, Fut>(metrics: &IndexerMetrics, mut op: F) -> Result<T, SearchError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SearchError>>,
{
    let mut wait = Duration::from_millis(100);
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        match op().await {
            Err(SearchError::Unavailable(reason)) if Instant::now() < give_up => {
                metrics.errors.inc();
                tracing::warn!(%reason, "search engine unavailable; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip() {
        let cp = Checkpoint {
            slot: "s".into(),
            lsn: 0x16B3748,
        };
        assert_eq!(Checkpoint::decode(&cp.encode()), Some(cp));
        assert_eq!(Checkpoint::decode("not json"), None);
    }

    #[test]
    fn merging_keeps_the_newest_version_and_the_oldest_safe_point() {
        let t = Utc::now();
        let a = Pending {
            version: 10,
            catalog: false,
            safe: 5,
            committed: vec![t],
        };
        let b = Pending {
            version: 20,
            catalog: true,
            safe: 15,
            committed: vec![t],
        };
        let m = a.merge(b);
        assert_eq!((m.version, m.catalog, m.safe), (20, true, 5));
        assert_eq!(m.committed.len(), 2);
    }
}
