//! Rate limits that hold across every instance of a service.
//!
//! Each [`Policy`] is a GCRA (generic cell rate algorithm): `limit` requests
//! per `window`, all of which may come at once, refilling evenly. The shared
//! state is one Redis key per policy and subject, updated atomically by one
//! Lua script ([`GCRA_SCRIPT`]) that reads Redis's own clock, so several api
//! or booking processes count against the same budget. In front of it sits
//! the same GCRA in process with the same quota: a process only sees part
//! of a subject's traffic, so when its local count is over, the shared one
//! is too, and the request is refused without a Redis round trip. For the
//! open policies with larger budgets (writes, personal reads, search), a
//! subject that this instance last saw far from its limit goes ahead at
//! once and is counted in Redis right after, in batches; their local GCRA
//! lives in the same per-subject view ([`write_behind`] says what that
//! gives up). Near the limit every request waits on Redis's answer. The
//! other policies (sign-in, sign-up, resets: few requests, and closed
//! without Redis) keep their local GCRA in `governor`.
//!
//! The subject is the account for writes when the request carries a valid
//! token (so shoppers behind one carrier address do not share a budget),
//! the API key (`key:<key_id>`) when it carries a `tk_` key that this
//! instance has verified within `AUTH_USER_CACHE_MS` (a look in
//! [`auth::ApiKeys`]' cache after one SHA-256: the limiter never asks the
//! database, so a key not verified lately, or any key with that cache off,
//! counts against the address, and an invented key never earns a budget of
//! its own), and otherwise the client address. The address is the peer's, or, only
//! when the peer is a configured proxy (`TRUSTED_PROXIES`, the edge), the
//! last entry of `X-Forwarded-For`, which the edge appends.
//!
//! Answers carry `RateLimit-Policy` and `RateLimit` (IETF
//! draft-ietf-httpapi-ratelimit-headers); a refusal is 429 problem+json with
//! `Retry-After`. When Redis is unreachable a policy either falls back to
//! its local limit ([`RedisDown::Open`]) or answers 503
//! ([`RedisDown::Closed`]); the README lists which policy does which.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use auth::JwtKeys;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use problem::Problem;
use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

use crate::config::{ConfigError, EnvSource};

mod write_behind;

/// The longest a limit check waits on Redis before treating it as down.
const REDIS_TIMEOUT: Duration = Duration::from_millis(100);
/// After Redis fails, how long checks skip it before trying again.
const REDIS_BACKOFF: Duration = Duration::from_secs(1);
/// Every this many checks, forget local state of idle subjects.
const LOCAL_SWEEP_EVERY: u64 = 4096;

/// GCRA over one key. ARGV: emission interval and burst tolerance, in
/// microseconds. Returns `{allowed, remaining, retry_after_us, reset_us}`.
/// (Requests already let through are counted by
/// `write_behind::GCRA_BATCH_SCRIPT`, the same GCRA over many keys.)
pub const GCRA_SCRIPT: &str = r"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local ahead = tat - now
if ahead > tolerance then
  return {0, 0, ahead - tolerance, ahead}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((tolerance + interval - (new_tat - now)) / interval), 0, new_tat - now}
";

/// Whom a policy counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The client address.
    Address,
    /// The account when the request carries a valid token (or the API
    /// key, when it carries one verified lately), else the address.
    Account,
    /// A subject the handler names from the request's body, such as the
    /// account a sign-in is for ([`Limiter::refusal`]); no middleware
    /// checks these.
    Named,
}

/// What a policy does while Redis is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisDown {
    /// Fall back to the per-process limit: the route stays up.
    Open,
    /// Answer 503: the route is one an attacker would love unthrottled.
    Closed,
}

/// One named limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Its name, in keys, headers and `RATE_LIMIT_<NAME>`.
    pub name: &'static str,
    /// Requests per window (also the burst).
    pub limit: NonZeroU32,
    /// The window.
    pub window: Duration,
    /// Whom it counts.
    pub scope: Scope,
    /// Behaviour without Redis.
    pub redis_down: RedisDown,
}

impl Policy {
    const fn new(
        name: &'static str,
        limit: u32,
        window_secs: u64,
        scope: Scope,
        redis_down: RedisDown,
    ) -> Self {
        Self {
            name,
            limit: match NonZeroU32::new(limit) {
                Some(limit) => limit,
                None => NonZeroU32::MIN,
            },
            window: Duration::from_secs(window_secs),
            scope,
            redis_down,
        }
    }

    /// Time between two requests at the sustained rate.
    fn interval(&self) -> Duration {
        (self.window / self.limit.get()).max(Duration::from_micros(1))
    }
}

/// The standard policies. `RATE_LIMIT_PROFILE=benchmark` multiplies every
/// limit by 1,000 (the limiter still runs, so benchmarks pay its cost),
/// `RATE_LIMIT_PROFILE=off` checks nothing (only to measure that cost), and
/// `RATE_LIMIT_<NAME>=<requests>/<seconds>` overrides one.
pub const STANDARD: [Policy; 8] = [
    // Guessing passwords: per address, and closed without Redis.
    Policy::new("sign_in", 10, 60, Scope::Address, RedisDown::Closed),
    // Guessing one account's password from many addresses: per account
    // named in the sign-in, at most 80 an hour sustained (OWASP ASVS
    // 2.2.1 asks for under 100 failed attempts an hour per account).
    Policy::new("sign_in_account", 20, 900, Scope::Named, RedisDown::Closed),
    Policy::new("sign_up", 10, 600, Scope::Address, RedisDown::Closed),
    Policy::new("password_reset", 5, 600, Scope::Address, RedisDown::Closed),
    // Reset mails to one address, however many clients ask for them (the
    // request is under `password_reset`, closed, before it gets here).
    Policy::new("reset_mail", 3, 3600, Scope::Named, RedisDown::Open),
    // Holds, payments, cancellations and admin writes: per account.
    Policy::new("writes", 60, 60, Scope::Account, RedisDown::Open),
    // Personal reads (my bookings, my tickets, one booking).
    Policy::new("personal_reads", 300, 60, Scope::Account, RedisDown::Open),
    // Search and autocomplete, which reach the engine.
    Policy::new("search", 600, 60, Scope::Address, RedisDown::Open),
];

/// Rate limit settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// The policies by name.
    pub policies: Vec<Policy>,
    /// `TRUSTED_PROXIES`: comma-separated addresses whose
    /// `X-Forwarded-For` is believed (the edge). Default: none.
    pub trusted_proxies: Vec<IpAddr>,
    /// `false` with `RATE_LIMIT_PROFILE=off`: no limit is checked at all
    /// (the baseline of the limiter's cost in BENCHMARKS.md; refused in
    /// production).
    pub enabled: bool,
}

impl LimitsConfig {
    /// Reads `RATE_LIMIT_PROFILE`, `RATE_LIMIT_<NAME>` and `TRUSTED_PROXIES`.
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        let profile = env.string_or("RATE_LIMIT_PROFILE", "standard");
        let factor = match profile.as_str() {
            "standard" | "off" => NonZeroU32::MIN,
            "benchmark" => NonZeroU32::new(1000).unwrap_or(NonZeroU32::MAX),
            other => {
                return Err(ConfigError {
                    var: "RATE_LIMIT_PROFILE",
                    reason: format!("{other:?} is not standard, benchmark or off"),
                });
            }
        };
        let mut policies = Vec::with_capacity(STANDARD.len());
        for standard in STANDARD {
            let mut policy = standard.clone();
            policy.limit = policy.limit.saturating_mul(factor);
            let var = override_var(policy.name);
            if let Some(raw) = env.get(var) {
                let (limit, window) = parse_override(&raw).ok_or_else(|| ConfigError {
                    var,
                    reason: format!("{raw:?} is not <requests>/<seconds>, both at least 1"),
                })?;
                policy.limit = limit;
                policy.window = window;
            }
            policies.push(policy);
        }
        let mut trusted_proxies = Vec::new();
        for raw in env
            .string_or("TRUSTED_PROXIES", "")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            trusted_proxies.push(raw.parse().map_err(|_| ConfigError {
                var: "TRUSTED_PROXIES",
                reason: format!("{raw:?} is not an IP address"),
            })?);
        }
        Ok(Self {
            policies,
            trusted_proxies,
            enabled: profile != "off",
        })
    }
}

fn override_var(name: &str) -> &'static str {
    match name {
        "sign_in" => "RATE_LIMIT_SIGN_IN",
        "sign_in_account" => "RATE_LIMIT_SIGN_IN_ACCOUNT",
        "sign_up" => "RATE_LIMIT_SIGN_UP",
        "password_reset" => "RATE_LIMIT_PASSWORD_RESET",
        "reset_mail" => "RATE_LIMIT_RESET_MAIL",
        "writes" => "RATE_LIMIT_WRITES",
        "personal_reads" => "RATE_LIMIT_PERSONAL_READS",
        _ => "RATE_LIMIT_SEARCH",
    }
}

fn parse_override(raw: &str) -> Option<(NonZeroU32, Duration)> {
    let (limit, seconds) = raw.split_once('/')?;
    let limit = NonZeroU32::new(limit.trim().parse().ok()?)?;
    let seconds: u64 = seconds.trim().parse().ok()?;
    (seconds > 0).then(|| (limit, Duration::from_secs(seconds)))
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead; `remaining` more fit now, the budget is full after `reset`.
    Allowed {
        /// Requests left in the burst.
        remaining: u32,
        /// Until the budget is full again.
        reset: Duration,
    },
    /// Over the limit.
    Denied {
        /// The earliest a retry can pass.
        retry_after: Duration,
    },
    /// Redis did not answer; the local limit passed.
    Unavailable,
}

/// The limiter: shared state in Redis, a local pre-filter per policy.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

struct Inner {
    namespace: String,
    policies: HashMap<&'static str, Policy>,
    local: HashMap<&'static str, DefaultKeyedRateLimiter<String>>,
    trusted_proxies: Vec<IpAddr>,
    enabled: bool,
    jwt: Arc<JwtKeys>,
    /// Recently verified API keys, when the service has them.
    api_keys: std::sync::OnceLock<auth::ApiKeys>,
    redis: redis::Client,
    conn: Mutex<Connection>,
    script: redis::Script,
    checks: AtomicU64,
    /// Counting after the answer for subjects far from their limit.
    behind: write_behind::WriteBehind,
}

#[derive(Default)]
struct Connection {
    live: Option<MultiplexedConnection>,
    failed_at: Option<Instant>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("namespace", &self.inner.namespace)
            .field("policies", &self.inner.policies.len())
            .finish_non_exhaustive()
    }
}

impl Limiter {
    /// A limiter over `redis`, its keys under `namespace`.
    pub fn new(
        config: &LimitsConfig,
        redis: redis::Client,
        namespace: &str,
        jwt: Arc<JwtKeys>,
    ) -> Self {
        let policies: HashMap<_, _> = config
            .policies
            .iter()
            .map(|p| (p.name, p.clone()))
            .collect();
        let local = config
            .policies
            .iter()
            .filter(|p| !write_behind::eligible(p))
            .map(|p| {
                let quota = Quota::with_period(p.interval())
                    .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
                    .allow_burst(p.limit);
                (p.name, RateLimiter::keyed(quota))
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                namespace: namespace.to_owned(),
                policies,
                local,
                trusted_proxies: config.trusted_proxies.clone(),
                enabled: config.enabled,
                jwt,
                api_keys: std::sync::OnceLock::new(),
                behind: write_behind::WriteBehind::new(&config.policies, redis.clone()),
                redis,
                conn: Mutex::new(Connection::default()),
                script: redis::Script::new(GCRA_SCRIPT),
                checks: AtomicU64::new(0),
            }),
        }
    }

    /// This limiter, counting a request with a recently verified API key
    /// against the key (see the module doc).
    #[must_use]
    pub fn with_api_keys(self, keys: auth::ApiKeys) -> Self {
        // Set once, at startup; a second call changes nothing.
        let _ = self.inner.api_keys.set(keys);
        self
    }

    /// The policy named `name`.
    ///
    /// # Panics
    /// If there is none: policy names are constants in the code.
    pub fn policy(&self, name: &str) -> &Policy {
        self.inner
            .policies
            .get(name)
            .unwrap_or_else(|| panic!("no rate limit policy {name:?}"))
    }

    /// Counts one request of `subject` against `policy`.
    pub async fn check(&self, policy: &Policy, subject: &str) -> Decision {
        let key = || {
            format!(
                "{}:ratelimit:{}:{subject}",
                self.inner.namespace, policy.name
            )
        };
        match self.inner.behind.try_allow(policy, subject, key) {
            Some(write_behind::Local::Allowed(decision)) => return decision,
            Some(write_behind::Local::Denied(retry_after)) => {
                return Decision::Denied { retry_after };
            }
            Some(write_behind::Local::Wait) => {}
            None => {
                if let Some(retry_after) = self.local_check(policy, subject) {
                    return Decision::Denied { retry_after };
                }
            }
        }
        let interval = policy.interval();
        let tolerance = interval * (policy.limit.get() - 1);
        let Some(mut conn) = self.connection().await else {
            return Decision::Unavailable;
        };
        let key = key();
        let mut invocation = self.inner.script.key(&key);
        invocation.arg(micros(interval)).arg(micros(tolerance));
        let invocation = invocation.invoke_async::<(i64, i64, i64, i64)>(&mut conn);
        let decision = match tokio::time::timeout(REDIS_TIMEOUT, invocation).await {
            Ok(Ok((1, remaining, _, reset))) => Decision::Allowed {
                remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
                reset: from_micros(reset),
            },
            Ok(Ok((_, _, retry_after, _))) => Decision::Denied {
                retry_after: from_micros(retry_after),
            },
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "rate limit check failed");
                self.forget_connection().await;
                Decision::Unavailable
            }
            Err(_) => {
                tracing::warn!("rate limit check timed out");
                self.forget_connection().await;
                Decision::Unavailable
            }
        };
        match decision {
            Decision::Allowed { remaining, reset } => {
                self.inner.behind.learn(policy, subject, remaining, reset);
            }
            Decision::Denied { retry_after } => {
                self.inner.behind.learn(policy, subject, 0, retry_after);
            }
            Decision::Unavailable => {}
        }
        decision
    }

    /// The per-process pre-filter of a policy not counted behind the
    /// answer (whose views keep their own local GCRA): how long to wait
    /// when this instance alone has seen too many requests of `subject`.
    fn local_check(&self, policy: &Policy, subject: &str) -> Option<Duration> {
        let local = self.inner.local.get(policy.name)?;
        if self
            .inner
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(LOCAL_SWEEP_EVERY)
        {
            local.retain_recent();
        }
        local
            .check_key(&subject.to_owned())
            .err()
            .map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Counts one request of `subject` against the policy named `policy`,
    /// for a limit the handler checks itself because the subject is in the
    /// body (a [`Scope::Named`] policy): `None` to go ahead, else the
    /// answer to give, 429 with `Retry-After`, or 503 when Redis is down
    /// and the policy is closed. Nothing is counted with
    /// `RATE_LIMIT_PROFILE=off`.
    pub async fn refusal(&self, policy: &str, subject: &str) -> Option<Response> {
        if !self.inner.enabled {
            return None;
        }
        let policy = self.policy(policy);
        refused(policy, self.check(policy, subject).await)
    }

    /// Whether `policy` lets requests of subjects far from the limit go
    /// ahead before Redis has counted them (see [`write_behind`]).
    pub fn counts_behind(&self, policy: &Policy) -> bool {
        self.inner.behind.covers(policy)
    }

    /// Returns once Redis has answered every count this instance queued
    /// (for tests, which wait on it instead of sleeping).
    pub async fn settled(&self) {
        self.inner.behind.settled().await;
    }

    async fn connection(&self) -> Option<MultiplexedConnection> {
        let mut guard = self.inner.conn.lock().await;
        if let Some(live) = &guard.live {
            return Some(live.clone());
        }
        if guard
            .failed_at
            .is_some_and(|at| at.elapsed() < REDIS_BACKOFF)
        {
            return None;
        }
        let opened = tokio::time::timeout(
            REDIS_TIMEOUT,
            self.inner.redis.get_multiplexed_async_connection(),
        )
        .await;
        match opened {
            Ok(Ok(conn)) => {
                guard.live = Some(conn.clone());
                guard.failed_at = None;
                Some(conn)
            }
            _ => {
                guard.failed_at = Some(Instant::now());
                None
            }
        }
    }

    async fn forget_connection(&self) {
        let mut guard = self.inner.conn.lock().await;
        guard.live = None;
        guard.failed_at = Some(Instant::now());
    }

    /// Whom `policy` counts for this request: `u:<user id>`,
    /// `key:<key id>` or `a:<address>`. A token verified here is left in
    /// the request ([`auth::Verified`]) for the handler's extractor. What
    /// it needs of the request is read at once (a request is not `Sync`);
    /// the future only looks in the API key cache.
    pub fn subject(
        &self,
        request: &mut Request,
        policy: &Policy,
    ) -> impl Future<Output = String> + Send + 'static {
        let account = policy.scope == Scope::Account;
        let jwt = &self.inner.jwt;
        let user = account
            .then(|| {
                let (token, _) = jwt.credential(request.headers()).ok()?;
                jwt.verified(token).ok()
            })
            .flatten()
            .map(|verified| {
                let user = verified.claims().sub;
                request.extensions_mut().insert(verified);
                user
            });
        let key = account
            .then(|| auth::api_keys::presented(request.headers()).map(str::to_owned))
            .flatten()
            .zip(self.inner.api_keys.get().cloned());
        let address = if user.is_some() {
            None
        } else {
            self.client_ip(request)
        };
        async move {
            if let Some(user) = user {
                return format!("u:{user}");
            }
            if let Some((presented, keys)) = key
                && let Some(key) = keys.cached(&presented).await
            {
                return format!("key:{}", key.key_id);
            }
            match address {
                Some(ip) => format!("a:{ip}"),
                None => "a:unknown".to_owned(),
            }
        }
    }

    /// The client's address: the peer's, or the edge's `X-Forwarded-For`
    /// when the peer is a trusted proxy.
    pub fn client_address(&self, request: &Request) -> String {
        self.client_ip(request)
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }

    fn client_ip(&self, request: &Request) -> Option<IpAddr> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())?;
        if !self.inner.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        Some(
            request
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|last| last.trim().parse::<IpAddr>().ok())
                .unwrap_or(peer),
        )
    }

    /// Middleware enforcing `policy` (use with
    /// `axum::middleware::from_fn_with_state(limiter.gate("writes"), enforce)`).
    pub fn gate(&self, policy: &'static str) -> Gate {
        let _ = self.policy(policy);
        Gate {
            limiter: self.clone(),
            policy,
        }
    }
}

/// A limiter and the policy one group of routes is under.
#[derive(Debug, Clone)]
pub struct Gate {
    limiter: Limiter,
    policy: &'static str,
}

/// Checks the gate's policy before the handler runs.
pub async fn enforce(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    run(&gate.limiter, gate.policy, request, next).await
}

/// Picks the policy of a request from its method and path; `None` for
/// routes without one (cached public pages do no limiter work).
pub type Classifier = fn(&axum::http::Method, &str) -> Option<&'static str>;

/// A limiter and the table that says which routes are under which policy.
#[derive(Debug, Clone)]
pub struct Classified {
    /// The limiter.
    pub limiter: Limiter,
    /// Route → policy.
    pub classify: Classifier,
}

/// Checks the policy `classify` names for this request, if any.
pub async fn enforce_classified(
    State(classified): State<Classified>,
    request: Request,
    next: Next,
) -> Response {
    match (classified.classify)(request.method(), request.uri().path()) {
        Some(policy) => run(&classified.limiter, policy, request, next).await,
        None => next.run(request).await,
    }
}

async fn run(limiter: &Limiter, policy: &str, request: Request, next: Next) -> Response {
    if !limiter.inner.enabled {
        return next.run(request).await;
    }
    let policy = limiter.policy(policy).clone();
    let mut request = request;
    let subject = limiter.subject(&mut request, &policy).await;
    match limiter.check(&policy, &subject).await {
        Decision::Allowed { remaining, reset } => {
            let mut response = next.run(request).await;
            add_headers(&mut response, &policy, remaining, reset);
            response
        }
        refusal => match refused(&policy, refusal) {
            Some(response) => response,
            None => next.run(request).await,
        },
    }
}

/// The answer to a request `decision` does not let through, if any.
fn refused(policy: &Policy, decision: Decision) -> Option<Response> {
    match decision {
        Decision::Allowed { .. } => None,
        Decision::Denied { retry_after } => Some(too_many(policy, retry_after)),
        Decision::Unavailable => match policy.redis_down {
            RedisDown::Open => None,
            RedisDown::Closed => {
                let mut response = Problem::unavailable(
                    "the rate limiter is unavailable, and this route is not served without it",
                )
                .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                Some(response)
            }
        },
    }
}

fn too_many(policy: &Policy, retry_after: Duration) -> Response {
    let seconds = ceil_secs(retry_after).max(1);
    let mut response = Problem::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
        .with_detail(format!(
            "over the {} limit of {} requests per {} s; retry in {seconds} s",
            policy.name,
            policy.limit,
            policy.window.as_secs()
        ))
        .with_extension("policy", policy.name)
        .into_response();
    add_headers(&mut response, policy, 0, retry_after);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn add_headers(response: &mut Response, policy: &Policy, remaining: u32, reset: Duration) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::try_from(format!(
        "\"{}\";q={};w={}",
        policy.name,
        policy.limit,
        policy.window.as_secs()
    )) {
        headers.insert("ratelimit-policy", value);
    }
    if let Ok(value) = HeaderValue::try_from(format!(
        "\"{}\";r={remaining};t={}",
        policy.name,
        ceil_secs(reset)
    )) {
        headers.insert("ratelimit", value);
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn from_micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

/// The 429 (and the 503 of closed policies) for the API description.
#[derive(Debug, Clone, Copy)]
pub struct Limited;

impl utoipa::IntoResponses for Limited {
    fn responses() -> problem::openapi::Responses {
        problem::openapi::responses(&[(
            429,
            "Over a rate limit; `Retry-After` says when to retry, `RateLimit` and \
             `RateLimit-Policy` describe the budget.",
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_benchmark_profile_raises_every_limit_and_overrides_win() {
        let env = EnvSource::from_pairs([
            ("RATE_LIMIT_PROFILE", "benchmark"),
            ("RATE_LIMIT_SIGN_IN", "3/10"),
            ("TRUSTED_PROXIES", "127.0.0.1, ::1"),
        ]);
        let config = LimitsConfig::from_env(&env).expect("valid");
        let by_name = |n: &str| {
            config
                .policies
                .iter()
                .find(|p| p.name == n)
                .expect("policy")
        };
        assert_eq!(by_name("writes").limit.get(), 60_000);
        assert_eq!(by_name("sign_in").limit.get(), 3);
        assert_eq!(by_name("sign_in").window, Duration::from_secs(10));
        assert_eq!(config.trusted_proxies.len(), 2);
        assert!(config.enabled);
        let off = LimitsConfig::from_env(&EnvSource::from_pairs([("RATE_LIMIT_PROFILE", "off")]))
            .expect("valid");
        assert!(!off.enabled);
        assert!(
            LimitsConfig::from_env(&EnvSource::from_pairs::<_, &str, &str>([]))
                .expect("valid")
                .enabled
        );
    }

    #[test]
    fn malformed_settings_name_their_variable() {
        for (var, value) in [
            ("RATE_LIMIT_WRITES", "lots"),
            ("RATE_LIMIT_WRITES", "0/60"),
            ("RATE_LIMIT_SEARCH", "5/0"),
            ("RATE_LIMIT_PROFILE", "none"),
            ("TRUSTED_PROXIES", "edge.local"),
        ] {
            let err = LimitsConfig::from_env(&EnvSource::from_pairs([(var, value)]))
                .expect_err("refused");
            assert_eq!(err.var, var, "{value}");
        }
    }

    #[test]
    fn every_standard_policy_has_its_own_override_variable() {
        let vars: std::collections::HashSet<_> =
            STANDARD.iter().map(|p| override_var(p.name)).collect();
        assert_eq!(vars.len(), STANDARD.len());
        for p in &STANDARD {
            assert_eq!(
                override_var(p.name),
                format!("RATE_LIMIT_{}", p.name.to_uppercase())
            );
        }
    }
}

/// The limiter's own CPU per check, against real Redis, for
/// BENCHMARKS.md: every check is a new subject (the worst case), 64 tasks
/// at once, the same loop without checks as the baseline.
/// `PACE_MS=32` paces each task (about 2,000 checks a second, as in the
/// hold benchmark), so counts go to Redis in small batches.
#[cfg(test)]
mod cost {
    use super::*;

    /// This process's CPU time so far (user and system, 10 ms ticks).
    fn cpu() -> Duration {
        let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
        let fields: Vec<&str> = stat.rsplit_once(") ").expect("comm").1.split(' ').collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        Duration::from_millis(ticks * 10)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement: REDIS_URL=... cargo test -p service-kit --release --lib -- --ignored --nocapture check_cost"]
    async fn check_cost() {
        let redis =
            redis::Client::open(std::env::var("REDIS_URL").expect("REDIS_URL")).expect("redis url");
        let env = EnvSource::from_pairs([("RATE_LIMIT_PROFILE", "benchmark")]);
        let config = LimitsConfig::from_env(&env).expect("config");
        let jwt = Arc::new(JwtKeys::new(&secrecy::SecretString::from("x".repeat(40))));
        let pace = std::env::var("PACE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis);
        let n: u32 = if pace.is_some() { 12_800 } else { 64_000 };
        for round in 0..6 {
            let on = round % 2 == 0;
            let namespace = format!("cost-{round}-{}", std::process::id());
            let limiter = Limiter::new(&config, redis.clone(), &namespace, jwt.clone());
            let (cpu0, wall0) = (cpu(), Instant::now());
            let tasks: Vec<_> = (0..64u32)
                .map(|task| {
                    let limiter = limiter.clone();
                    tokio::spawn(async move {
                        let policy = limiter.policy("writes").clone();
                        for i in 0..n / 64 {
                            let subject = format!("u:{}", task * 100_000 + i);
                            if on {
                                let decision = limiter.check(&policy, &subject).await;
                                assert!(!matches!(decision, Decision::Denied { .. }));
                            } else {
                                std::hint::black_box(subject);
                            }
                            if let Some(pace) = pace {
                                tokio::time::sleep(pace).await;
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("task");
            }
            limiter.settled().await;
            let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(n);
            println!(
                "round {round} checks={on}: {:.1} us CPU and {:.1} us wall per iteration",
                per(cpu() - cpu0),
                per(wall0.elapsed())
            );
        }
    }
}
