//! Live seat status for seat maps: after a commit, changes are published on
//! Redis channel `seats:{event_id}`. Best effort: the database stays the
//! truth, and a subscriber that misses a message re-reads the seat map.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

use crate::inventory::Changes;

/// Publishes seat status changes.
#[derive(Debug, Clone)]
pub struct SeatFeed {
    client: redis::Client,
    conn: Arc<Mutex<Option<MultiplexedConnection>>>,
}

/// The channel for one event.
pub fn channel(event_id: i64) -> String {
    format!("seats:{event_id}")
}

impl SeatFeed {
    /// A feed on `client`; connects on first publish.
    pub fn new(client: redis::Client) -> Self {
        Self {
            client,
            conn: Arc::new(Mutex::new(None)),
        }
    }

    /// Publishes `changes` for `event_id`; failures are logged, not returned.
    pub async fn publish(&self, event_id: i64, changes: &Changes) {
        if changes.seats.is_empty() && changes.general_admission.is_empty() {
            return;
        }
        let payload = serde_json::json!({
            "event_id": event_id,
            "seats": changes.seats.iter().map(|(s, st)| serde_json::json!({"seat_id": s, "status": st})).collect::<Vec<_>>(),
            "general_admission": changes.general_admission.iter()
                .map(|(t, d)| serde_json::json!({"ticket_type_id": t, "held_delta": d})).collect::<Vec<_>>(),
        })
        .to_string();
        let result =
            tokio::time::timeout(Duration::from_millis(500), self.send(event_id, payload)).await;
        if !matches!(result, Ok(Ok(()))) {
            *self.conn.lock().await = None;
            tracing::warn!(event_id, "could not publish seat changes");
        }
    }

    async fn send(&self, event_id: i64, payload: String) -> redis::RedisResult<()> {
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            *guard = Some(self.client.get_multiplexed_async_connection().await?);
        }
        let Some(conn) = guard.as_mut() else {
            return Ok(());
        };
        let mut conn = conn.clone();
        drop(guard);
        redis::cmd("PUBLISH")
            .arg(channel(event_id))
            .arg(payload)
            .query_async::<i64>(&mut conn)
            .await
            .map(drop)
    }
}
