//! Listens for cache invalidations on Redis and evicts pages from this
//! instance's L1.
//!
//! Channel `<CACHE_NAMESPACE>:invalidations`; a message is JSON:
//! `{"events": [1, 2], "keys": ["venue:7", "performer:3"]}` (either list may
//! be absent). An event id `n` means the key `event:n`. Whoever publishes
//! (the indexer, once a change is durable in the index) deletes the L2
//! copies first, so every instance that evicts reloads the new version.
//! Every `api` instance subscribes, so one message reaches them all.
//!
//! With `CDN_PURGE_URL` set, the surrogate keys of each message are also
//! POSTed there as `{"surrogate_keys": [...]}` for a real CDN to purge, once
//! per message however many instances receive it (the first to claim it in
//! Redis sends it).

use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;

use super::PageCache;

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

/// Where purges go, if anywhere.
#[derive(Debug, Clone)]
pub struct Purger {
    url: String,
    http: reqwest::Client,
}

impl Purger {
    pub fn new(url: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        Self { url, http }
    }

    /// Sends `keys` unless another instance already claimed `payload`.
    async fn purge(&self, client: &redis::Client, namespace: &str, payload: &str, keys: &[String]) {
        use sha2::{Digest, Sha256};
        let claim = format!(
            "{namespace}:purged:{}",
            hex::encode(&Sha256::digest(payload.as_bytes())[..16])
        );
        let claimed: redis::RedisResult<Option<String>> = async {
            let mut conn = client.get_multiplexed_async_connection().await?;
            redis::cmd("SET")
                .arg(&claim)
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(10)
                .query_async(&mut conn)
                .await
        }
        .await;
        // Without Redis there is no way to agree: purge anyway (idempotent).
        if matches!(claimed, Ok(None)) {
            return;
        }
        let sent = self
            .http
            .post(&self.url)
            .json(&serde_json::json!({ "surrogate_keys": keys }))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        if let Err(e) = sent {
            tracing::warn!(error = %e, url = %self.url, "CDN purge failed");
        }
    }
}

/// Subscribes until the process ends, reconnecting after failures.
pub fn spawn(client: redis::Client, namespace: String, pages: PageCache, purger: Option<Purger>) {
    tokio::spawn(async move {
        let channel = channel(&namespace);
        loop {
            if let Err(e) = listen(&client, &namespace, &channel, &pages, purger.as_ref()).await {
                tracing::warn!(error = %e, %channel, "cache invalidation subscription lost; retrying");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn listen(
    client: &redis::Client,
    namespace: &str,
    channel: &str,
    pages: &PageCache,
    purger: Option<&Purger>,
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
            Some(keys) if !keys.is_empty() => {
                pages.evict(&keys);
                if let Some(purger) = purger {
                    purger.purge(client, namespace, &payload, &keys).await;
                }
            }
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
