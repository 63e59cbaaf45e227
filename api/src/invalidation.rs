//! Listens for cache invalidations on Redis and evicts pages from this
//! instance's L1.
//!
//! Channel `<CACHE_NAMESPACE>:invalidations`; a message is JSON:
//! `{"events": [1, 2], "keys": ["venue:7", "performer:3"]}` (either list may
//! be absent). An event id `n` means the key `event:n`. Whoever publishes
//! (the indexer, once a change is durable in the index) deletes the L2
//! copies first, so every instance that evicts reloads the new version.
//! Every `api` instance subscribes, so one message reaches them all.

use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;

use crate::page_cache::PageCache;

/// The channel for a namespace.
pub fn channel(namespace: &str) -> String {
    format!("{namespace}:invalidations")
}

#[derive(Debug, Default, Deserialize)]
struct Message {
    #[serde(default)]
    events: Vec<i64>,
    #[serde(default)]
    keys: Vec<String>,
}

/// The surrogate keys a message names; `None` if it is not one.
pub fn keys_of(payload: &str) -> Option<Vec<String>> {
    let m: Message = serde_json::from_str(payload).ok()?;
    Some(
        m.events
            .iter()
            .map(|id| format!("event:{id}"))
            .chain(m.keys)
            .collect(),
    )
}

/// Subscribes until the process ends, reconnecting after failures.
pub fn spawn(client: redis::Client, namespace: String, pages: PageCache) {
    tokio::spawn(async move {
        let channel = channel(&namespace);
        loop {
            if let Err(e) = listen(&client, &channel, &pages).await {
                tracing::warn!(error = %e, %channel, "cache invalidation subscription lost; retrying");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn listen(
    client: &redis::Client,
    channel: &str,
    pages: &PageCache,
) -> redis::RedisResult<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    tracing::info!(%channel, "listening for cache invalidations");
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let payload: String = match message.get_payload() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable invalidation message");
                continue;
            }
        };
        match keys_of(&payload) {
            Some(keys) if !keys.is_empty() => pages.evict(&keys),
            Some(_) => {}
            None => tracing::warn!(%payload, "ignoring a malformed invalidation message"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_name_events_and_surrogate_keys() {
        assert_eq!(
            super::keys_of(r#"{"events": [4], "keys": ["venue:2"]}"#),
            Some(vec!["event:4".to_owned(), "venue:2".to_owned()])
        );
        assert_eq!(super::keys_of("{}"), Some(vec![]));
        assert_eq!(super::keys_of("not json"), None);
    }
}
