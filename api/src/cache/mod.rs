//! The page cache: rendered public pages in two levels, moka in process
//! (L1) in front of Redis (L2) in front of Postgres.
//!
//! - Entries are the serialized response bytes with their strong ETag and
//!   surrogate keys; L1 is bounded by bytes.
//! - A miss is loaded once per key per instance: requests for the same key
//!   wait on one load (a per-key async lock) and then find it in L1. When
//!   the entry is only stale, the other requests get the stale copy at once
//!   while one request reloads it.
//! - An entry is fresh for its own lifetime (about a second for pages with
//!   availability, longer for static details). A stale entry stays in L1 for
//!   an hour: if Postgres cannot be reached it is served instead of an error.
//! - Redis is optional: when it is down, L1 and Postgres answer.
//!
//! [`invalidation`] evicts pages when the catalog changes; [`response`]
//! answers a cached page with the HTTP caching headers a CDN understands.

pub mod invalidation;
pub mod response;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

/// How long a stale entry is kept for serving when Postgres is down.
const KEEP_STALE: Duration = Duration::from_secs(3_600);
/// Redis gets this long per call before the page is loaded without it.
const REDIS_TIMEOUT: Duration = Duration::from_millis(100);
/// Default L1 budget.
pub const DEFAULT_L1_BYTES: u64 = 64 << 20;

/// One cached response.
#[derive(Debug)]
pub struct Page {
    pub body: bytes::Bytes,
    /// Strong ETag, quoted.
    pub etag: String,
    /// Surrogate keys (`event:1`, `venue:2`, `performer:3`).
    pub keys: Vec<String>,
    fresh_until: Instant,
}

impl Page {
    fn new(body: Vec<u8>, keys: Vec<String>, fresh_for: Duration) -> Self {
        Self {
            etag: strong_etag(&body),
            body: body.into(),
            keys,
            fresh_until: Instant::now() + fresh_for,
        }
    }

    fn is_fresh(&self) -> bool {
        Instant::now() < self.fresh_until
    }
}

/// A strong ETag for a body: the first 128 bits of its SHA-256, quoted.
pub fn strong_etag(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..16]))
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Memory,
    Redis,
    Database,
    /// Postgres failed; this is an older copy.
    Stale,
}

/// A page or why there is none.
#[derive(Debug)]
pub enum Lookup {
    Found(Arc<Page>, Source),
    NotFound,
    /// Postgres failed and nothing is cached.
    Unavailable(String),
}

/// What a loader returns: the body and its surrogate keys, or nothing.
pub type Loaded = Option<(Vec<u8>, Vec<String>)>;

#[derive(Debug)]
struct RedisL2 {
    namespace: String,
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
}

impl RedisL2 {
    async fn connection(&self) -> Option<MultiplexedConnection> {
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            let conn = tokio::time::timeout(
                REDIS_TIMEOUT,
                self.client.get_multiplexed_async_connection(),
            )
            .await;
            *guard = conn.ok().and_then(Result::ok);
        }
        guard.clone()
    }

    async fn forget_connection(&self) {
        *self.conn.lock().await = None;
    }

    async fn get(&self, key: &str) -> Option<(Vec<u8>, Vec<String>)> {
        let mut conn = self.connection().await?;
        let got: Result<Result<Option<Vec<u8>>, _>, _> =
            tokio::time::timeout(REDIS_TIMEOUT, conn.get(redis_key(&self.namespace, key))).await;
        match got {
            Ok(Ok(Some(raw))) => decode(&raw),
            Ok(Ok(None)) => None,
            _ => {
                self.forget_connection().await;
                None
            }
        }
    }

    async fn set(&self, key: &str, body: &[u8], keys: &[String], ttl: Duration) {
        let Some(mut conn) = self.connection().await else {
            return;
        };
        let value = encode(body, keys);
        let seconds = ttl.as_secs().max(1);
        let set: Result<Result<(), _>, _> = tokio::time::timeout(
            REDIS_TIMEOUT,
            conn.set_ex(redis_key(&self.namespace, key), value, seconds),
        )
        .await;
        if !matches!(set, Ok(Ok(()))) {
            self.forget_connection().await;
        }
    }
}

/// Redis key of a cached page: `<namespace>:page:<key>`.
pub fn redis_key(namespace: &str, key: &str) -> String {
    format!("{namespace}:page:{key}")
}

/// L2 value: the surrogate keys on the first line, then the body.
fn encode(body: &[u8], keys: &[String]) -> Vec<u8> {
    let mut out = keys.join(" ").into_bytes();
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

fn decode(raw: &[u8]) -> Option<(Vec<u8>, Vec<String>)> {
    let nl = raw.iter().position(|&b| b == b'\n')?;
    let keys = std::str::from_utf8(&raw[..nl])
        .ok()?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    Some((raw[nl + 1..].to_vec(), keys))
}

/// The cache. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PageCache {
    l1: moka::future::Cache<String, Arc<Page>>,
    loading: moka::sync::Cache<String, Arc<Mutex<()>>>,
    l2: Arc<RedisL2>,
    loads: Arc<AtomicU64>,
}

impl PageCache {
    /// A cache over `redis`, its keys under `namespace`, L1 bounded to
    /// `l1_bytes`.
    pub fn new(redis: redis::Client, namespace: &str, l1_bytes: u64) -> Self {
        Self {
            l1: moka::future::Cache::builder()
                .max_capacity(l1_bytes)
                .weigher(|k: &String, p: &Arc<Page>| {
                    u32::try_from(k.len() + p.body.len() + 128).unwrap_or(u32::MAX)
                })
                .time_to_live(KEEP_STALE)
                .support_invalidation_closures()
                .build(),
            loading: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(60))
                .build(),
            l2: Arc::new(RedisL2 {
                namespace: namespace.to_owned(),
                client: redis,
                conn: Mutex::new(None),
            }),
            loads: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Database loads so far (tests and metrics).
    pub fn database_loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// The page under `key`: from L1 if fresh, else from Redis, else from
    /// `load` (once per key however many callers wait), else a stale copy.
    pub async fn get<F, Fut>(&self, key: &str, fresh_for: Duration, load: F) -> Lookup
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Loaded, sqlx::Error>>,
    {
        if let Some(page) = self.l1.get(key).await
            && page.is_fresh()
        {
            return Lookup::Found(page, Source::Memory);
        }
        let lock = self
            .loading
            .get_with(key.to_owned(), || Arc::new(Mutex::new(())));
        // A stale copy is answered while another request reloads it; with
        // no copy at all, requests wait for the one load.
        let stale = self.l1.get(key).await;
        let _one_at_a_time = match (&stale, lock.try_lock()) {
            (_, Ok(guard)) => guard,
            (Some(page), Err(_)) => return Lookup::Found(page.clone(), Source::Memory),
            (None, Err(_)) => lock.lock().await,
        };
        let cached = self.l1.get(key).await;
        if let Some(page) = &cached
            && page.is_fresh()
        {
            return Lookup::Found(page.clone(), Source::Memory);
        }
        if let Some((body, keys)) = self.l2.get(key).await {
            let page = Arc::new(Page::new(body, keys, fresh_for));
            self.l1.insert(key.to_owned(), page.clone()).await;
            return Lookup::Found(page, Source::Redis);
        }
        self.loads.fetch_add(1, Ordering::Relaxed);
        match load().await {
            Ok(Some((body, keys))) => {
                self.l2.set(key, &body, &keys, fresh_for).await;
                let page = Arc::new(Page::new(body, keys, fresh_for));
                self.l1.insert(key.to_owned(), page.clone()).await;
                Lookup::Found(page, Source::Database)
            }
            Ok(None) => {
                self.l1.invalidate(key).await;
                Lookup::NotFound
            }
            Err(e) => match cached {
                Some(page) => {
                    tracing::warn!(key, error = %e, "serving a stale page: the database failed");
                    Lookup::Found(page, Source::Stale)
                }
                None => Lookup::Unavailable(e.to_string()),
            },
        }
    }

    /// Drops from L1 every page carrying any of `keys` (this instance only;
    /// the indexer clears L2).
    pub fn evict(&self, keys: &[String]) {
        let keys: Vec<String> = keys.to_vec();
        if let Err(e) = self
            .l1
            .invalidate_entries_if(move |_, page| page.keys.iter().any(|k| keys.contains(k)))
        {
            tracing::warn!(error = %e, "could not evict pages");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redis_values_round_trip() {
        let keys = vec!["event:1".to_owned(), "venue:2".to_owned()];
        let raw = super::encode(b"{\"a\":\n1}", &keys);
        assert_eq!(super::decode(&raw), Some((b"{\"a\":\n1}".to_vec(), keys)));
        assert_eq!(super::decode(b"no newline"), None);
    }
}
