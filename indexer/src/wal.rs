//! The change feed: Postgres logical replication (pgoutput), behind the
//! indexer's own small trait so the protocol crate can be replaced.
//!
//! [`ChangeFeed`] yields decoded messages in commit order and takes standby
//! status reports. [`PgSlot`] manages the replication slot and opens a
//! [`PgFeed`], implemented with `pg_walstream`'s low-level connection: we
//! decide exactly which LSN is reported as flushed, and nothing is
//! acknowledged behind our back.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pg_walstream::{
    CancellationToken, LogicalReplicationMessage, LogicalReplicationParser,
    PgReplicationConnection, ReplicationSlotOptions, SlotType, TupleData,
};

/// A column value as replication delivers it (text format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Text(String),
    /// A TOASTed value the update did not change: pgoutput sends no value.
    /// Never to be read as a value.
    Unchanged,
}

/// A row image: column name and value, in table order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tuple(pub Vec<(Arc<str>, Value)>);

impl Tuple {
    /// The value of `column` as an `i64`, if present and a number.
    pub fn int(&self, column: &str) -> Option<i64> {
        self.0.iter().find_map(|(name, value)| match value {
            Value::Text(text) if &**name == column => text.parse().ok(),
            _ => None,
        })
    }
}

/// One row change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowChange {
    /// The table's name (schema `public`).
    pub table: Arc<str>,
    /// The old row (a delete; an update that changed the key, or of a
    /// table with `replica identity full`): the key columns at least.
    pub old: Option<Tuple>,
    /// The new row (an insert or update).
    pub new: Option<Tuple>,
}

/// One message of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalMessage {
    /// A transaction begins; `xid` is its (32-bit) transaction id.
    Begin {
        commit_time: DateTime<Utc>,
        xid: u32,
    },
    /// A row changed.
    Change(RowChange),
    /// Tables were truncated.
    Truncate { tables: Vec<Arc<str>> },
    /// The transaction committed; `end_lsn` is its version.
    Commit {
        end_lsn: u64,
        commit_time: DateTime<Utc>,
    },
    /// The server's position, sent while nothing else is: between
    /// transactions, everything up to here has been delivered. When
    /// `reply_requested`, the caller sends a status report soon.
    Keepalive { wal_end: u64, reply_requested: bool },
}

/// Errors of the feed.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("replication: {0}")]
    Replication(#[from] pg_walstream::ReplicationError),
    #[error("replication protocol: {0}")]
    Protocol(String),
}

/// A source of change messages.
#[async_trait]
pub trait ChangeFeed: Send {
    /// The next message. Cancel-safe: a message is never lost by dropping
    /// the future.
    async fn next(&mut self) -> Result<WalMessage, WalError>;

    /// A standby status update: received up to `received`, durable (flushed
    /// and applied) up to `flushed`.
    async fn report(&mut self, received: u64, flushed: u64) -> Result<(), WalError>;
}

/// A replication slot on the database `conninfo` names.
#[derive(Debug, Clone)]
pub struct PgSlot {
    /// A libpq-style URL with `replication=database`.
    pub conninfo: String,
    pub slot: String,
    pub publication: String,
}

/// A slot just created with an exported snapshot. The snapshot lives until
/// [`start`](Self::start): import it (`SET TRANSACTION SNAPSHOT`) first.
pub struct CreatedSlot {
    conn: PgReplicationConnection,
    /// The exported snapshot's name.
    pub snapshot: String,
    /// The slot's consistent point.
    pub consistent_point: u64,
}

impl std::fmt::Debug for CreatedSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedSlot")
            .field("snapshot", &self.snapshot)
            .field("consistent_point", &self.consistent_point)
            .finish_non_exhaustive()
    }
}

/// `postgres://…/db` plus `replication=database`.
pub fn replication_conninfo(database_url: &str) -> String {
    let separator = if database_url.contains('?') { '&' } else { '?' };
    format!("{database_url}{separator}replication=database")
}

impl PgSlot {
    /// Creates the slot (pgoutput) and exports its snapshot.
    pub async fn create(&self) -> Result<CreatedSlot, WalError> {
        let this = self.clone();
        blocking(move || {
            let mut conn = PgReplicationConnection::connect(&this.conninfo)?;
            let options = ReplicationSlotOptions {
                snapshot: Some("export".into()),
                ..ReplicationSlotOptions::default()
            };
            let result = conn.create_replication_slot_with_options(
                &this.slot,
                SlotType::Logical,
                Some("pgoutput"),
                &options,
            )?;
            let consistent_point = result
                .get_value(0, 1)
                .as_deref()
                .and_then(search::catalog::parse_lsn)
                .ok_or_else(|| WalError::Protocol("slot creation returned no LSN".into()))?;
            let snapshot = result
                .get_value(0, 2)
                .ok_or_else(|| WalError::Protocol("slot creation exported no snapshot".into()))?;
            Ok(CreatedSlot {
                conn,
                snapshot,
                consistent_point,
            })
        })
        .await
    }

    /// Streams from an existing slot, starting after `from`.
    pub async fn open(&self, from: u64) -> Result<PgFeed, WalError> {
        let this = self.clone();
        let conn = blocking(move || Ok(PgReplicationConnection::connect(&this.conninfo)?)).await?;
        self.start(conn, from).await
    }

    /// Streams a slot just created, from its consistent point (this ends
    /// the exported snapshot).
    pub async fn start_created(&self, created: CreatedSlot) -> Result<PgFeed, WalError> {
        self.start(created.conn, created.consistent_point).await
    }

    async fn start(
        &self,
        mut conn: PgReplicationConnection,
        from: u64,
    ) -> Result<PgFeed, WalError> {
        let slot = self.slot.clone();
        let publication = format!("\"{}\"", self.publication.replace('"', ""));
        let conn = blocking(move || {
            conn.start_replication(
                &slot,
                from,
                &[
                    ("proto_version", "1"),
                    ("publication_names", publication.as_str()),
                ],
            )?;
            Ok(conn)
        })
        .await?;
        Ok(PgFeed {
            conn,
            parser: LogicalReplicationParser::with_protocol_version(1),
            relations: HashMap::new(),
            token: CancellationToken::new(),
            received: from,
            flushed: from,
        })
    }
}

/// The connection's setup calls are synchronous; keep them off the async
/// workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WalError> + Send + 'static,
) -> Result<T, WalError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| WalError::Protocol(format!("replication setup task: {e}")))?
}

/// A table's name and column names, from pgoutput's Relation messages.
struct Relation {
    table: Arc<str>,
    columns: Vec<Arc<str>>,
}

/// The pgoutput stream of one slot.
pub struct PgFeed {
    conn: PgReplicationConnection,
    parser: LogicalReplicationParser,
    relations: HashMap<u32, Relation>,
    token: CancellationToken,
    received: u64,
    flushed: u64,
}

impl std::fmt::Debug for PgFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgFeed")
            .field("received", &self.received)
            .field("flushed", &self.flushed)
            .finish_non_exhaustive()
    }
}

fn timestamp(micros_since_2000: i64) -> DateTime<Utc> {
    pg_walstream::postgres_timestamp_to_chrono(micros_since_2000)
}

impl PgFeed {
    fn tuple(&self, relation: &Relation, data: &TupleData) -> Tuple {
        let mut out = Vec::with_capacity(data.column_count());
        for (i, name) in relation.columns.iter().enumerate() {
            let Some(column) = data.get_column(i) else {
                break;
            };
            let value = if column.is_null() {
                Value::Null
            } else if column.is_unchanged() {
                Value::Unchanged
            } else {
                match column.as_str() {
                    Some(text) => Value::Text(text.into_owned()),
                    None => Value::Null,
                }
            };
            out.push((name.clone(), value));
        }
        Tuple(out)
    }

    fn change(
        &self,
        relation_id: u32,
        old: Option<&TupleData>,
        new: Option<&TupleData>,
    ) -> Result<WalMessage, WalError> {
        let relation = self.relations.get(&relation_id).ok_or_else(|| {
            WalError::Protocol(format!("a change for unknown relation {relation_id}"))
        })?;
        Ok(WalMessage::Change(RowChange {
            table: relation.table.clone(),
            old: old.map(|t| self.tuple(relation, t)),
            new: new.map(|t| self.tuple(relation, t)),
        }))
    }

    /// Decodes one XLogData payload; `None` for messages we only note.
    fn decode(&mut self, payload: bytes::Bytes) -> Result<Option<WalMessage>, WalError> {
        let message = self.parser.parse_wal_message_bytes(payload)?.message;
        Ok(match message {
            LogicalReplicationMessage::Begin {
                timestamp: t, xid, ..
            } => Some(WalMessage::Begin {
                commit_time: timestamp(t),
                xid,
            }),
            LogicalReplicationMessage::Commit {
                end_lsn,
                timestamp: t,
                ..
            } => {
                self.received = self.received.max(end_lsn);
                Some(WalMessage::Commit {
                    end_lsn,
                    commit_time: timestamp(t),
                })
            }
            LogicalReplicationMessage::Relation {
                relation_id,
                relation_name,
                columns,
                ..
            } => {
                self.relations.insert(
                    relation_id,
                    Relation {
                        table: relation_name,
                        columns: columns.into_iter().map(|c| c.name).collect(),
                    },
                );
                None
            }
            LogicalReplicationMessage::Insert { relation_id, tuple } => {
                Some(self.change(relation_id, None, Some(&tuple))?)
            }
            LogicalReplicationMessage::Update {
                relation_id,
                old_tuple,
                new_tuple,
                ..
            } => Some(self.change(relation_id, old_tuple.as_ref(), Some(&new_tuple))?),
            LogicalReplicationMessage::Delete {
                relation_id,
                old_tuple,
                ..
            } => Some(self.change(relation_id, Some(&old_tuple), None)?),
            LogicalReplicationMessage::Truncate { relation_ids, .. } => {
                let tables = relation_ids
                    .iter()
                    .filter_map(|id| self.relations.get(id).map(|r| r.table.clone()))
                    .collect();
                Some(WalMessage::Truncate { tables })
            }
            _ => None,
        })
    }
}

#[async_trait]
impl ChangeFeed for PgFeed {
    async fn next(&mut self) -> Result<WalMessage, WalError> {
        loop {
            let data = self.conn.get_copy_data_async(&self.token).await?;
            match data.first() {
                Some(b'w') if data.len() >= 25 => {
                    if let Some(message) = self.decode(data.slice(25..))? {
                        return Ok(message);
                    }
                }
                Some(b'k') => {
                    // The reply (if asked for) is the caller's: a write here
                    // could be torn if this future is dropped.
                    let keepalive = pg_walstream::parse_keepalive_message(&data)?;
                    return Ok(WalMessage::Keepalive {
                        wal_end: keepalive.wal_end,
                        reply_requested: keepalive.reply_requested,
                    });
                }
                _ => {
                    return Err(WalError::Protocol(format!(
                        "unexpected replication message of {} bytes",
                        data.len()
                    )));
                }
            }
        }
    }

    async fn report(&mut self, received: u64, flushed: u64) -> Result<(), WalError> {
        // Never report less than before: acknowledgements only move forward.
        self.received = self.received.max(received).max(flushed);
        self.flushed = self.flushed.max(flushed);
        self.conn
            .send_standby_status_update(self.received, self.flushed, self.flushed, false)
            .await?;
        Ok(())
    }
}

/// The slot as `pg_replication_slots` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotState {
    pub confirmed_flush: u64,
    pub active: bool,
}

/// Reads the slot's state; `None` if it does not exist.
pub async fn slot_state(pool: &sqlx::PgPool, slot: &str) -> Result<Option<SlotState>, sqlx::Error> {
    let row: Option<(Option<String>, bool)> = sqlx::query_as(
        "select confirmed_flush_lsn::text, active from pg_replication_slots
          where slot_name = $1 and database = current_database()",
    )
    .bind(slot)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(lsn, active)| SlotState {
        confirmed_flush: lsn
            .as_deref()
            .and_then(search::catalog::parse_lsn)
            .unwrap_or(0),
        active,
    }))
}

/// Drops the slot if it exists and nobody streams from it.
pub async fn drop_slot(pool: &sqlx::PgPool, slot: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "select pg_drop_replication_slot(slot_name) from pg_replication_slots
          where slot_name = $1 and not active",
    )
    .bind(slot)
    .execute(pool)
    .await?;
    Ok(())
}
