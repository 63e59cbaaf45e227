//! Cache invalidation, published once a batch is durable in the index.
//!
//! For each batch: delete the L2 (Redis) copies of the pages that show what
//! changed, then publish `{"events": [...], "keys": [...]}` on
//! `<namespace>:invalidations`, which every `api` instance turns into L1
//! evictions (and, if configured, one CDN purge). The surrogate keys are
//! `event:ID`, `venue:ID` and `performer:ID`. A Redis failure is logged and
//! counted but never stops indexing: cached pages also expire on their own.

use crate::metrics::IndexerMetrics;

/// Publishes invalidations for one cache namespace.
#[derive(Debug)]
pub struct Invalidator {
    client: redis::Client,
    connection: Option<redis::aio::MultiplexedConnection>,
    namespace: String,
}

/// The Redis key of a cached page (the api's `<namespace>:page:<key>`).
fn page_key(namespace: &str, key: &str) -> String {
    format!("{namespace}:page:{key}")
}

/// The message body.
pub fn message(events: &[i64], venues: &[i64], performers: &[i64]) -> String {
    let keys: Vec<String> = venues
        .iter()
        .map(|v| format!("venue:{v}"))
        .chain(performers.iter().map(|p| format!("performer:{p}")))
        .collect();
    serde_json::json!({ "events": events, "keys": keys }).to_string()
}

impl Invalidator {
    pub fn new(client: redis::Client, namespace: &str) -> Self {
        Self {
            client,
            connection: None,
            namespace: namespace.to_owned(),
        }
    }

    /// Deletes the L2 copies and publishes the message; never fails.
    pub async fn publish(
        &mut self,
        events: &[i64],
        venues: &[i64],
        performers: &[i64],
        metrics: &IndexerMetrics,
    ) {
        if events.is_empty() && venues.is_empty() && performers.is_empty() {
            return;
        }
        let ns = &self.namespace;
        let mut l2: Vec<String> = Vec::with_capacity(events.len() * 2 + venues.len());
        for id in events {
            l2.push(page_key(ns, &format!("event:{id}")));
            l2.push(page_key(ns, &format!("seats:{id}")));
        }
        l2.extend(venues.iter().map(|id| page_key(ns, &format!("venue:{id}"))));
        l2.extend(
            performers
                .iter()
                .map(|id| page_key(ns, &format!("performer:{id}"))),
        );
        let mut pipe = redis::pipe();
        for chunk in l2.chunks(1_000) {
            pipe.del(chunk).ignore();
        }
        pipe.publish(
            format!("{ns}:invalidations"),
            message(events, venues, performers),
        )
        .ignore();
        let connection = match &mut self.connection {
            Some(c) => c,
            None => match self.client.get_multiplexed_async_connection().await {
                Ok(c) => self.connection.insert(c),
                Err(e) => {
                    metrics.invalidation_failures.inc();
                    tracing::warn!(error = %e, "cannot reach Redis to invalidate caches");
                    return;
                }
            },
        };
        if let Err(e) = pipe.query_async::<()>(connection).await {
            metrics.invalidation_failures.inc();
            tracing::warn!(error = %e, "cache invalidation not published");
            self.connection = None;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_message_names_events_and_surrogate_keys() {
        let m: serde_json::Value =
            serde_json::from_str(&super::message(&[1, 2], &[7], &[3])).expect("json");
        assert_eq!(m["events"], serde_json::json!([1, 2]));
        assert_eq!(m["keys"], serde_json::json!(["venue:7", "performer:3"]));
    }
}
