//! The search document: one event, denormalized.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

/// A performer as the document carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformerRef {
    pub id: i64,
    pub name: String,
}

/// One event with everything search and a results page need.
///
/// Only events a shopper can find are documents: a scheduled event. A draft,
/// a cancelled or a completed event is a delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDoc {
    pub event_id: i64,
    pub title: String,
    pub description: String,
    pub category: String,
    pub genre: String,
    /// Headliner first.
    pub performers: Vec<PerformerRef>,
    pub venue_id: i64,
    pub venue_name: String,
    pub city: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub lat: f64,
    pub lon: f64,
    pub starts_at: DateTime<Utc>,
    /// Lowest and highest ticket price, in minor units of `currency`.
    pub min_price_cents: i64,
    pub max_price_cents: i64,
    pub currency: String,
    /// Tickets a shopper could still hold.
    pub available_tickets: i64,
    pub sold_out: bool,
    pub popularity: f64,
}

impl EventDoc {
    /// A stable hash of every field, description included: equal
    /// documents hash equal in every process of one build.
    pub fn content_hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        serde_json::to_string(self)
            .unwrap_or_default()
            .hash(&mut hasher);
        hasher.finish()
    }

    /// `yyyymm` of the start, in UTC: the month facet's key.
    pub fn month_key(&self) -> u32 {
        month_key(self.starts_at)
    }
}

/// `yyyymm` of an instant, in UTC.
pub fn month_key(at: DateTime<Utc>) -> u32 {
    (at.year().max(0) as u32) * 100 + at.month()
}

/// `"2026-12"` for `202612`.
pub fn month_label(key: u32) -> String {
    format!("{:04}-{:02}", key / 100, key % 100)
}

/// One write. `version` orders writes to the same event: the indexer uses
/// the commit LSN, a rebuild the LSN its snapshot was taken after.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexOp {
    Upsert { version: u64, doc: Box<EventDoc> },
    Delete { version: u64, event_id: i64 },
}

impl IndexOp {
    pub fn event_id(&self) -> i64 {
        match self {
            IndexOp::Upsert { doc, .. } => doc.event_id,
            IndexOp::Delete { event_id, .. } => *event_id,
        }
    }

    pub fn version(&self) -> u64 {
        match self {
            IndexOp::Upsert { version, .. } | IndexOp::Delete { version, .. } => *version,
        }
    }
}

/// Keeps, per event, only the operation with the highest version (the last
/// one on ties), in first-seen order of events.
pub fn collapse(ops: Vec<IndexOp>) -> Vec<IndexOp> {
    let mut position: std::collections::HashMap<i64, usize> = Default::default();
    let mut out: Vec<IndexOp> = Vec::with_capacity(ops.len());
    for op in ops {
        match position.get(&op.event_id()) {
            Some(&i) => {
                if op.version() >= out[i].version() {
                    out[i] = op;
                }
            }
            None => {
                position.insert(op.event_id(), out.len());
                out.push(op);
            }
        }
    }
    out
}
