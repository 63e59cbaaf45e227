//! What a row change touches: documents directly (an event id), or through
//! fan-out (a venue or performer whose events must be re-rendered).
//!
//! Documents are re-rendered from the primary, never built from the
//! replicated row, so a TOAST-unchanged column can never overwrite a value:
//! only key columns are read here, and keys are never TOASTed.

use std::collections::BTreeSet;

use crate::wal::RowChange;

/// Documents and fan-out roots one transaction (or batch) touched.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Touched {
    /// Events whose catalog rows changed (title, venue, performers, tiers).
    pub events: BTreeSet<i64>,
    /// Events whose inventory alone changed (seats, GA counters): these are
    /// the hot ones, coalesced to about one update per second.
    pub inventory: BTreeSet<i64>,
    pub venues: BTreeSet<i64>,
    pub performers: BTreeSet<i64>,
    /// A published table was truncated: everything is re-read.
    pub truncated: bool,
}

/// How a change to `table` maps to documents.
enum Route {
    Event,
    Inventory,
    Venue,
    Performer,
    /// Not part of any document.
    Ignored,
}

fn route(table: &str) -> (Route, &'static str) {
    match table {
        "events" => (Route::Event, "event_id"),
        "event_performers" | "ticket_types" | "ticket_type_sections" => (Route::Event, "event_id"),
        "event_seats" | "ga_inventory" => (Route::Inventory, "event_id"),
        // A section's seat count is part of unopened events' availability.
        "venues" | "venue_sections" => (Route::Venue, "venue_id"),
        "performers" => (Route::Performer, "performer_id"),
        _ => (Route::Ignored, ""),
    }
}

impl Touched {
    /// Records one change: both the old and the new key, so a key update
    /// re-renders (and so deletes) the old document too.
    pub fn add(&mut self, change: &RowChange) -> Result<(), MissingKey> {
        let (route, column) = route(&change.table);
        if matches!(route, Route::Ignored) {
            return Ok(());
        }
        let ids: BTreeSet<i64> = [change.old.as_ref(), change.new.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|t| t.int(column))
            .collect();
        if ids.is_empty() {
            return Err(MissingKey {
                table: change.table.to_string(),
                column,
            });
        }
        let set = match route {
            Route::Event => &mut self.events,
            Route::Inventory => &mut self.inventory,
            Route::Venue => &mut self.venues,
            Route::Performer => &mut self.performers,
            Route::Ignored => return Ok(()),
        };
        set.extend(ids);
        Ok(())
    }

    /// Nothing touched.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.inventory.is_empty()
            && self.venues.is_empty()
            && self.performers.is_empty()
            && !self.truncated
    }
}

/// A change whose row image lacks the column that names its document (a
/// table without the replica identity the indexer needs).
#[derive(Debug, thiserror::Error)]
#[error("a change to {table} carries no {column}; it needs `replica identity full`")]
pub struct MissingKey {
    pub table: String,
    pub column: &'static str,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::wal::{Tuple, Value};

    fn tuple(pairs: &[(&str, Value)]) -> Tuple {
        Tuple(
            pairs
                .iter()
                .map(|(k, v)| (Arc::from(*k), v.clone()))
                .collect(),
        )
    }

    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    #[test]
    fn a_key_update_touches_the_old_and_the_new_event() {
        let mut t = Touched::default();
        t.add(&RowChange {
            table: "events".into(),
            old: Some(tuple(&[("event_id", text("7"))])),
            new: Some(tuple(&[
                ("event_id", text("9")),
                ("description", Value::Unchanged),
            ])),
        })
        .expect("keyed");
        assert_eq!(t.events, BTreeSet::from([7, 9]));
    }

    #[test]
    fn inventory_and_fan_out_roots_are_kept_apart() {
        let mut t = Touched::default();
        for (table, column, id) in [
            ("event_seats", "event_id", "3"),
            ("ga_inventory", "event_id", "4"),
            ("venues", "venue_id", "5"),
            ("performers", "performer_id", "6"),
            ("ticket_types", "event_id", "8"),
            ("seats", "seat_id", "1"),
        ] {
            t.add(&RowChange {
                table: table.into(),
                old: None,
                new: Some(tuple(&[(column, text(id))])),
            })
            .expect("keyed");
        }
        assert_eq!(t.inventory, BTreeSet::from([3, 4]));
        assert_eq!(t.venues, BTreeSet::from([5]));
        assert_eq!(t.performers, BTreeSet::from([6]));
        assert_eq!(t.events, BTreeSet::from([8]));
    }

    #[test]
    fn a_delete_without_the_event_column_is_an_error_not_a_silent_skip() {
        let mut t = Touched::default();
        let err = t
            .add(&RowChange {
                table: "ticket_types".into(),
                old: Some(tuple(&[("ticket_type_id", text("2"))])),
                new: None,
            })
            .expect_err("no event_id");
        assert_eq!(err.column, "event_id");
    }
}
