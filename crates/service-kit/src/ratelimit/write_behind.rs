//! Counting in Redis after the answer, for subjects far from their limit.
//!
//! A shopper's writes are a few a minute against a budget of 60, so waiting
//! on Redis before every hold buys nothing until the shopper gets near the
//! limit. For a [`RedisDown::Open`] policy of at least
//! [`MIN_LIMIT`] requests, each instance keeps a *view* of every subject it
//! has seen: the budget left as Redis last said, how many of this
//! instance's requests Redis has not counted yet, and the subject's local
//! GCRA (the same per-process limit `governor` keeps for the other
//! policies, and what holds while Redis is down). While the view says more
//! than half the budget is left and nothing is in flight, the request goes
//! ahead at once, and one background task counts it in Redis: it lets
//! counts gather for [`LINGER`], then sends them all in one call of
//! [`GCRA_BATCH_SCRIPT`], counted even if the shared budget is spent by
//! then. Redis's answer becomes the new view. Near the limit, or with a
//! count still in flight, the request waits on Redis as before, and that
//! answer is exact.
//!
//! Views are fixed-size entries in a sharded map keyed by a 64-bit SipHash
//! of the subject under a per-process random key, so a request allocates
//! only its count's Redis key. A view is forgotten once it is idle (the
//! local and the shared budget full again, nothing in flight); with
//! [`VIEWS`] live subjects, a new one waits on Redis.
//!
//! What this gives up: a request that a burst through *other* instances has
//! already made over the limit can pass on an instance whose view is older
//! than the burst, at most one per instance and per such view (its answer
//! then says "spent", and the instance waits on Redis from there on).
//! Policies that guard passwords ([`RedisDown::Closed`]) and small limits
//! always wait on Redis.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

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
/// How long the counting task lets counts gather before it sends them.
const LINGER: Duration = Duration::from_millis(5);
/// Subjects remembered per policy; past it a new subject waits on Redis.
const VIEWS: usize = 200_000;
/// Locks the views of one policy are split over.
const SHARDS: usize = 64;
/// Every this many checks of a shard, forget its subjects that are idle.
const SWEEP_EVERY: u64 = 1024;

/// What this instance knows of one subject: its own GCRA (the local limit,
/// which is what holds while Redis is down) and the shared budget as Redis
/// last said. Fixed size, so remembering a subject allocates nothing.
#[derive(Debug, Clone, Copy)]
struct View {
    /// The local GCRA's theoretical arrival time, in nanoseconds since
    /// [`Views::epoch`].
    tat: u64,
    /// Until when Redis's budget may not be full, same clock.
    busy_until: u64,
    /// Requests left, as Redis last answered (the full limit when unseen).
    remaining: u32,
    /// This instance's requests Redis has not counted yet.
    in_flight: u32,
}

/// The subjects' keys are already SipHash values under a random key (so an
/// outsider cannot aim many subjects at one bucket): hash them no further.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard = Mutex<HashMap<u64, View, BuildHasherDefault<Prehashed>>>;

/// One policy's views: the subject's hash picks a shard, then its entry.
/// Two subjects share a view only if their 64-bit keyed hashes collide.
struct Views {
    shards: Box<[Shard]>,
    checks: AtomicU64,
    hasher: RandomState,
    epoch: Instant,
    interval: u64,
    tolerance: u64,
    limit: u32,
}

/// What [`WriteBehind::try_allow`] decided.
#[derive(Debug)]
pub(super) enum Local {
    /// Over the local limit: refuse without asking Redis.
    Denied(Duration),
    /// Far from the limit: allowed, and counted in Redis after the answer.
    Allowed(Decision),
    /// Ask Redis and wait for its answer (the local limit passed).
    Wait,
}

/// One request to count in Redis.
struct Count {
    key: String,
    interval: Duration,
    tolerance: Duration,
    policy: &'static str,
    hash: u64,
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
    views: Arc<HashMap<&'static str, Views>>,
    queue: OnceLock<mpsc::Sender<Count>>,
    redis: redis::Client,
    script: redis::Script,
    outstanding: Arc<Outstanding>,
}

impl Views {
    fn new(policy: &Policy) -> Self {
        let interval = nanos(policy.interval());
        Self {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            checks: AtomicU64::new(0),
            hasher: RandomState::new(),
            epoch: Instant::now(),
            interval,
            tolerance: interval.saturating_mul(u64::from(policy.limit.get() - 1)),
            limit: policy.limit.get(),
        }
    }

    fn now(&self) -> u64 {
        nanos(self.epoch.elapsed())
    }

    fn shard(
        &self,
        hash: u64,
    ) -> std::sync::MutexGuard<'_, HashMap<u64, View, BuildHasherDefault<Prehashed>>> {
        // The low bits pick the bucket inside the map; the high ones the shard.
        let i = usize::try_from(hash >> 58).unwrap_or(0) % SHARDS;
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the view of `hash`, made when absent (`None` when the
    /// shard is full of live subjects).
    fn with<T>(&self, hash: u64, now: u64, f: impl FnOnce(&mut View) -> T) -> Option<T> {
        let mut shard = self.shard(hash);
        let sweep = self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY);
        if sweep || (shard.len() >= VIEWS / SHARDS && !shard.contains_key(&hash)) {
            // Idle: the local budget is full again, Redis's is too, and
            // nothing is in flight.
            shard.retain(|_, v| v.in_flight > 0 || v.tat > now || v.busy_until > now);
        }
        if shard.len() >= VIEWS / SHARDS && !shard.contains_key(&hash) {
            return None;
        }
        let view = shard.entry(hash).or_insert(View {
            tat: now,
            busy_until: now,
            remaining: self.limit,
            in_flight: 0,
        });
        Some(f(view))
    }
}

impl WriteBehind {
    pub(super) fn new(policies: &[Policy], redis: redis::Client) -> Self {
        let views = policies
            .iter()
            .filter(|p| eligible(p))
            .map(|p| (p.name, Views::new(p)))
            .collect();
        Self {
            views: Arc::new(views),
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

    /// The local limit first, then: allowed now with its count queued when
    /// the view of `subject` is far enough from the shared limit, else wait
    /// on Redis. `None` for a policy not counted behind the answer.
    pub(super) fn try_allow(
        &self,
        policy: &Policy,
        subject: &str,
        key: impl FnOnce() -> String,
    ) -> Option<Local> {
        let views = self.views.get(policy.name)?;
        let hash = views.hasher.hash_one(subject);
        let now = views.now();
        let limit = views.limit;
        let go_ahead = views.with(hash, now, |v| {
            // The local GCRA, as `governor` would count it.
            let tat = v.tat.max(now);
            if tat - now > views.tolerance {
                return Err(Duration::from_nanos(tat - now - views.tolerance));
            }
            v.tat = tat + views.interval;
            if v.in_flight >= MAX_IN_FLIGHT || v.remaining <= v.in_flight + limit / 2 {
                return Ok(None);
            }
            v.in_flight += 1;
            Ok(Some(v.remaining - v.in_flight))
        });
        let remaining = match go_ahead {
            None | Some(Ok(None)) => return Some(Local::Wait),
            Some(Err(retry_after)) => return Some(Local::Denied(retry_after)),
            Some(Ok(Some(remaining))) => remaining,
        };
        let interval = policy.interval();
        let count = Count {
            key: key(),
            interval,
            tolerance: interval * (limit - 1),
            policy: policy.name,
            hash,
        };
        self.outstanding.count.fetch_add(1, Ordering::AcqRel);
        if self.sender().try_send(count).is_err() {
            // The queue is full (Redis is slow) or its task is gone.
            self.outstanding.done(1);
            views.with(hash, now, |v| v.in_flight -= 1);
            return Some(Local::Wait);
        }
        Some(Local::Allowed(Decision::Allowed {
            remaining,
            reset: interval * (limit - remaining),
        }))
    }

    /// Takes in an answer Redis gave while the request waited.
    pub(super) fn learn(&self, policy: &Policy, subject: &str, remaining: u32, reset: Duration) {
        if let Some(views) = self.views.get(policy.name) {
            let hash = views.hasher.hash_one(subject);
            let now = views.now();
            views.with(hash, now, |v| {
                v.remaining = remaining;
                v.busy_until = now.saturating_add(nanos(reset));
            });
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
                self.views.clone(),
                self.outstanding.clone(),
            ));
            tx
        })
    }
}

pub(super) fn eligible(policy: &Policy) -> bool {
    policy.redis_down == RedisDown::Open && policy.limit.get() >= MIN_LIMIT
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The counting task: drains the queue a batch at a time, one script call
/// per batch, until every sender is gone.
async fn count_all(
    mut queue: mpsc::Receiver<Count>,
    redis: redis::Client,
    script: redis::Script,
    views: Arc<HashMap<&'static str, Views>>,
    outstanding: Arc<Outstanding>,
) {
    let mut conn: Option<MultiplexedConnection> = None;
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        if batch.len() < BATCH {
            // Let a batch gather: one script call (and one wake-up of this
            // task) then covers every count of the next few milliseconds.
            tokio::time::sleep(LINGER).await;
            while batch.len() < BATCH
                && let Ok(count) = queue.try_recv()
            {
                batch.push(count);
            }
        }
        let answers = send(&redis, &mut conn, &script, &batch).await;
        let n = batch.len();
        for (i, count) in batch.drain(..).enumerate() {
            let Some(views) = views.get(count.policy) else {
                continue;
            };
            let now = views.now();
            views.with(count.hash, now, |v| {
                v.in_flight = v.in_flight.saturating_sub(1);
                if let Some(left) = &answers {
                    v.remaining = u32::try_from(left[i].max(0)).unwrap_or(u32::MAX);
                    let spent = u64::from(views.limit.saturating_sub(v.remaining));
                    v.busy_until = now.saturating_add(views.interval.saturating_mul(spent));
                }
            });
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

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::super::Scope;
    use super::*;

    fn writes(limit: u32) -> Policy {
        Policy {
            name: "writes",
            limit: NonZeroU32::new(limit).expect("limit"),
            window: Duration::from_secs(60),
            scope: Scope::Account,
            redis_down: RedisDown::Open,
        }
    }

    #[tokio::test]
    async fn without_redis_the_views_hold_the_local_limit() {
        // Nothing listens on port 1: no count ever reaches Redis.
        let down = redis::Client::open("redis://127.0.0.1:1/").expect("url");
        let policy = writes(40);
        let behind = WriteBehind::new(std::slice::from_ref(&policy), down);
        let mut outcomes = Vec::new();
        for _ in 0..45 {
            let local = behind
                .try_allow(&policy, "u:one", || "k".to_owned())
                .expect("covered");
            if let Local::Allowed(_) = local {
                behind.settled().await;
            }
            outcomes.push(local);
        }
        let denied = outcomes
            .iter()
            .filter(|l| matches!(l, Local::Denied(_)))
            .count();
        assert_eq!(denied, 5, "{outcomes:?}");
        assert!(
            outcomes[..40]
                .iter()
                .all(|l| !matches!(l, Local::Denied(_)))
        );
        match outcomes[40] {
            Local::Denied(retry_after) => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(2));
            }
            ref other => panic!("expected a local refusal, got {other:?}"),
        }
        // Another subject has its own local budget.
        assert!(matches!(
            behind.try_allow(&policy, "u:two", || "k".to_owned()),
            Some(Local::Allowed(_))
        ));
    }

    #[tokio::test]
    async fn a_subject_waits_on_redis_while_its_count_is_in_flight_or_near_the_limit() {
        let down = redis::Client::open("redis://127.0.0.1:1/").expect("url");
        let policy = writes(40);
        let behind = WriteBehind::new(std::slice::from_ref(&policy), down);
        let first = behind.try_allow(&policy, "u:one", || "k".to_owned());
        assert!(
            matches!(
                first,
                Some(Local::Allowed(Decision::Allowed { remaining: 39, .. }))
            ),
            "{first:?}"
        );
        // The first count has not been answered yet (nothing here ran the
        // counting task), so the second request waits on Redis.
        assert!(matches!(
            behind.try_allow(&policy, "u:one", || "k".to_owned()),
            Some(Local::Wait)
        ));
        behind.settled().await;
        // Redis said 15 left: under half the budget, so every request waits.
        behind.learn(&policy, "u:one", 15, Duration::from_secs(37));
        assert!(matches!(
            behind.try_allow(&policy, "u:one", || "k".to_owned()),
            Some(Local::Wait)
        ));
    }
}
