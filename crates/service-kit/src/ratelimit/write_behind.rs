//! Counting in Redis after the answer, for subjects far from their limit.
//!
//! A shopper's writes are a few a minute against a budget of 60, so waiting
//! on Redis before every hold buys nothing until the shopper gets near the
//! limit. For a [`RedisDown::Open`] policy of at least
//! [`MIN_LIMIT`] requests, each instance keeps a *view* of every subject it
//! has seen: the budget left as Redis last said, and how many of this
//! instance's requests Redis has not counted yet. While the view says more
//! than half the budget is left and nothing is in flight, the request goes
//! ahead at once, and one background task counts it in Redis (many counts
//! to one call of [`GCRA_BATCH_SCRIPT`], counted even if the shared budget
//! is spent by then). Redis's
//! answer becomes the new view. Near the limit, or with a count still in
//! flight, the request waits on Redis as before, and that answer is exact.
//!
//! What this gives up: a request that a burst through *other* instances has
//! already made over the limit can pass on an instance whose view is older
//! than the burst, at most one per instance and per such view (its answer
//! then says "spent", and the instance waits on Redis from there on). A
//! view lives for the policy's window. Policies that guard passwords
//! ([`RedisDown::Closed`]) and small limits always wait on Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::{Notify, mpsc};

use super::{Decision, Policy, REDIS_TIMEOUT, RedisDown, micros};

/// The smallest limit counted behind the answer: below it one extra
/// request per instance would be a large share of the budget.
pub const MIN_LIMIT: u32 = 20;
/// Counts a subject may have in flight on one instance and still go ahead
/// without waiting.
const MAX_IN_FLIGHT: u32 = 1;
/// Counts queued before requests wait on Redis instead.
const QUEUE: usize = 8192;
/// Counts sent to Redis in one script call at most.
const BATCH: usize = 256;
/// Subjects remembered per policy.
const VIEWS: u64 = 200_000;

/// What this instance knows of one subject's shared budget.
#[derive(Debug)]
struct View {
    /// Requests left, as Redis last answered (the full limit when unseen).
    remaining: u32,
    /// This instance's requests Redis has not counted yet.
    in_flight: u32,
}

/// One request to count in Redis.
struct Count {
    key: String,
    interval: Duration,
    tolerance: Duration,
    view: Arc<Mutex<View>>,
}

/// Counts sent and not yet answered, and a wake-up when there are none.
#[derive(Default)]
struct Outstanding {
    count: AtomicUsize,
    idle: Notify,
}

impl Outstanding {
    fn done(&self, n: usize) {
        if self.count.fetch_sub(n, Ordering::AcqRel) == n {
            self.idle.notify_waiters();
        }
    }
}

/// The views and the queue to the counting task.
pub(super) struct WriteBehind {
    views: HashMap<&'static str, moka::sync::Cache<String, Arc<Mutex<View>>>>,
    queue: OnceLock<mpsc::Sender<Count>>,
    redis: redis::Client,
    script: redis::Script,
    outstanding: Arc<Outstanding>,
}

impl WriteBehind {
    pub(super) fn new(policies: &[Policy], redis: redis::Client) -> Self {
        let views = policies
            .iter()
            .filter(|p| eligible(p))
            .map(|p| {
                let cache = moka::sync::Cache::builder()
                    .max_capacity(VIEWS)
                    .time_to_live(p.window)
                    .build();
                (p.name, cache)
            })
            .collect();
        Self {
            views,
            queue: OnceLock::new(),
            redis,
            script: redis::Script::new(GCRA_BATCH_SCRIPT),
            outstanding: Arc::default(),
        }
    }

    /// Whether `policy` is counted behind the answer.
    pub(super) fn covers(&self, policy: &Policy) -> bool {
        self.views.contains_key(policy.name)
    }

    /// Allows the request now and queues its count, when the view of `key`
    /// is far enough from the limit; `None`: wait on Redis.
    pub(super) fn try_allow(
        &self,
        policy: &Policy,
        key: &str,
        interval: Duration,
        tolerance: Duration,
    ) -> Option<Decision> {
        let views = self.views.get(policy.name)?;
        let limit = policy.limit.get();
        let view = views.get_with_by_ref(key, || {
            Arc::new(Mutex::new(View {
                remaining: limit,
                in_flight: 0,
            }))
        });
        let remaining = {
            let mut v = view.lock().unwrap_or_else(PoisonError::into_inner);
            if v.in_flight >= MAX_IN_FLIGHT || v.remaining <= v.in_flight + limit / 2 {
                return None;
            }
            v.in_flight += 1;
            v.remaining - v.in_flight
        };
        let count = Count {
            key: key.to_owned(),
            interval,
            tolerance,
            view: view.clone(),
        };
        self.outstanding.count.fetch_add(1, Ordering::AcqRel);
        if self.sender().try_send(count).is_err() {
            // The queue is full (Redis is slow) or its task is gone.
            self.outstanding.done(1);
            let mut v = view.lock().unwrap_or_else(PoisonError::into_inner);
            v.in_flight -= 1;
            return None;
        }
        Some(Decision::Allowed {
            remaining,
            reset: interval * (limit - remaining),
        })
    }

    /// Takes in an answer Redis gave while the request waited.
    pub(super) fn learn(&self, policy: &Policy, key: &str, remaining: u32) {
        if let Some(view) = self.views.get(policy.name).and_then(|v| v.get(key)) {
            view.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remaining = remaining;
        }
    }

    /// Returns once every count queued so far has been answered (tests
    /// wait on this instead of sleeping).
    pub(super) async fn settled(&self) {
        loop {
            let idle = self.outstanding.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.outstanding.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    fn sender(&self) -> &mpsc::Sender<Count> {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(count_all(
                rx,
                self.redis.clone(),
                self.script.clone(),
                self.outstanding.clone(),
            ));
            tx
        })
    }
}

fn eligible(policy: &Policy) -> bool {
    policy.redis_down == RedisDown::Open && policy.limit.get() >= MIN_LIMIT
}

/// The counting task: drains the queue a batch at a time, one script call
/// per batch, until every sender is gone.
async fn count_all(
    mut queue: mpsc::Receiver<Count>,
    redis: redis::Client,
    script: redis::Script,
    outstanding: Arc<Outstanding>,
) {
    let mut conn: Option<MultiplexedConnection> = None;
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let answers = send(&redis, &mut conn, &script, &batch).await;
        let n = batch.len();
        for (i, count) in batch.drain(..).enumerate() {
            let mut v = count.view.lock().unwrap_or_else(PoisonError::into_inner);
            v.in_flight = v.in_flight.saturating_sub(1);
            if let Some(left) = &answers {
                v.remaining = u32::try_from(left[i].max(0)).unwrap_or(u32::MAX);
            }
        }
        outstanding.done(n);
    }
}

/// GCRA over many keys, counting every request even when it is over (it
/// was already let through). KEYS: the subjects' keys; ARGV: each key's
/// emission interval and burst tolerance in microseconds, in pairs. Returns
/// the requests left for each key, negative when over. One script call for
/// a whole batch: the call itself is most of a single count's cost in Redis
/// (about 22 us per call against 4 us for its `GET` and `SET`, measured with
/// `INFO commandstats` during `scripts/bench-front-door`). Every key is on
/// one Redis: this is not for Redis Cluster.
pub const GCRA_BATCH_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local left = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local new_tat = tat + interval
  redis.call('SET', key, new_tat, 'PX', math.ceil((new_tat - now) / 1000))
  left[i] = math.floor((tolerance + interval - (new_tat - now)) / interval)
end
return left
";

/// One script call counting the whole batch; `None` when Redis did not
/// answer (the local limit already passed these requests; the views stay).
async fn send(
    redis: &redis::Client,
    conn: &mut Option<MultiplexedConnection>,
    script: &redis::Script,
    batch: &[Count],
) -> Option<Vec<i64>> {
    if conn.is_none() {
        let opened =
            tokio::time::timeout(REDIS_TIMEOUT, redis.get_multiplexed_async_connection()).await;
        *conn = opened.ok()?.ok();
    }
    let live = conn.as_mut()?;
    let mut invocation = script.prepare_invoke();
    for count in batch {
        invocation
            .key(&count.key)
            .arg(micros(count.interval))
            .arg(micros(count.tolerance));
    }
    // `invoke_async` loads the script when Redis does not know it (after a
    // restart or a flush).
    let answer =
        tokio::time::timeout(REDIS_TIMEOUT, invocation.invoke_async::<Vec<i64>>(live)).await;
    match answer {
        Ok(Ok(left)) if left.len() == batch.len() => Some(left),
        Ok(Ok(_)) => None,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "counting rate-limited requests failed");
            *conn = None;
            None
        }
        Err(_) => {
            tracing::warn!("counting rate-limited requests timed out");
            *conn = None;
            None
        }
    }
}
