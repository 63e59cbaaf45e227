//! Webhook delivery benchmark (`scripts/bench-webhooks`).
//!
//! Runs a receiver on loopback behind `--endpoints` endpoints registered
//! through booking's admin API, then:
//!
//! 1. **reference**: the same receiver driven directly by one HTTP client
//!    with as many requests in flight as booking's lanes, signed bodies, no
//!    database: the ceiling of this machine's loopback HTTP for this size;
//! 2. **backlog**: `--events` booking events (half `booking.created`, half
//!    `booking.confirmed` of the same bookings) committed to the outbox at
//!    once; deliveries per second until every endpoint has every event;
//! 3. **steady**: events committed at `--rate` per second for `--seconds`
//!    (a few rows per transaction, as bookings commit), reporting the delay
//!    from commit (the outbox row's `created_at`) to arrival, p50 and p99.
//!
//! The receiver verifies every signature (the `webhooks` crate), counts
//! duplicates (at least once allows them) and checks each booking's events
//! arrive in order at each endpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use clap::Parser;
use futures_util::StreamExt;
use secrecy::SecretString;
use sqlx::PgPool;
use uuid::Uuid;
use webhooks::Secret;

#[derive(Parser, Debug)]
struct Args {
    /// The benchmark database (migrated).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Booking's base URL.
    #[arg(long)]
    booking_url: String,
    /// The JWT secret booking verifies tokens with.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    jwt_secret: String,
    /// Booking events in the backlog phase.
    #[arg(long, default_value_t = 100_000)]
    events: i64,
    /// Endpoints.
    #[arg(long, default_value_t = 10)]
    endpoints: usize,
    /// Events per second in the steady phase.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Length of the steady phase.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Requests in flight in the reference phase.
    #[arg(long, default_value_t = 800)]
    reference_concurrency: usize,
}

#[derive(Default)]
struct Tally {
    received: u64,
    invalid: u64,
    duplicates: u64,
    out_of_order: u64,
    seen: std::collections::HashSet<(usize, i64)>,
    last_per_booking: HashMap<(usize, String), i64>,
    delays: Vec<f64>,
    last_at: Option<Instant>,
}

#[derive(Clone, Default)]
struct Receiver {
    secrets: Arc<Mutex<Vec<Option<Secret>>>>,
    tally: Arc<Mutex<Tally>>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn receive(
    State(r): State<Receiver>,
    Path(endpoint): Path<usize>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let arrived = Utc::now();
    let secret = r
        .secrets
        .lock()
        .ok()
        .and_then(|s| s.get(endpoint).cloned().flatten());
    let id = header(&headers, "webhook-id");
    let valid = secret.is_some_and(|secret| {
        webhooks::verify(
            &secret,
            id,
            header(&headers, "webhook-timestamp"),
            header(&headers, "webhook-signature"),
            &body,
            arrived.timestamp(),
        )
        .is_ok()
    });
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let Ok(mut guard) = r.tally.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR;
    };
    let t = &mut *guard;
    t.received += 1;
    t.last_at = Some(Instant::now());
    if !valid {
        t.invalid += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let id: i64 = id.parse().unwrap_or(-1);
    if !t.seen.insert((endpoint, id)) {
        t.duplicates += 1;
        return StatusCode::NO_CONTENT;
    }
    let booking = parsed["data"]["booking_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let last = t
        .last_per_booking
        .entry((endpoint, booking))
        .or_insert(i64::MIN);
    if id < *last {
        t.out_of_order += 1;
    }
    *last = (*last).max(id);
    if let Some(at) = parsed["timestamp"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        let delay = (arrived - at.with_timezone(&Utc))
            .num_microseconds()
            .unwrap_or(0);
        t.delays.push(delay as f64 / 1e6);
    }
    StatusCode::NO_CONTENT
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Waits until the receiver has `unique` distinct deliveries; returns the
/// time of the last one.
async fn wait_for(r: &Receiver, unique: usize, limit: Duration) -> anyhow::Result<Instant> {
    let start = Instant::now();
    loop {
        {
            let t = r.tally.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            if t.seen.len() >= unique {
                return t.last_at.context("nothing arrived");
            }
            if start.elapsed() > limit {
                bail!(
                    "only {} of {unique} deliveries within {limit:?}",
                    t.seen.len()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Commits `count` bookings' created events, then their confirmed events.
async fn insert_events(pool: &PgPool, first: i64, count: i64) -> anyhow::Result<()> {
    for event_type in ["booking.created", "booking.confirmed"] {
        sqlx::query(
            "insert into outbox (aggregate_type, aggregate_id, event_type, payload)
             select 'booking', b::text, $3,
                    jsonb_build_object('booking_id', b, 'event_id', 1 + n % 500, 'user_id', gen_random_uuid(),
                                       'status', case when $3 = 'booking.created' then 'payment_pending' else 'confirmed' end,
                                       'total_cents', 5000 + n % 20000, 'currency', 'EUR')
               from generate_series($1::bigint, $1::bigint + $2::bigint - 1) n,
                    lateral (select ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid as b) q
              order by n",
        )
        .bind(first)
        .bind(count)
        .bind(event_type)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// The reference: 100,000 signed POSTs straight to the receiver, with
/// `concurrency` in flight; returns (accepted, per second).
async fn reference_rate(
    http: &reqwest::Client,
    port: u16,
    probe: usize,
    secret: &Secret,
    concurrency: usize,
) -> (usize, f64) {
    let body = br#"{"type":"booking.confirmed","timestamp":"2026-12-07T00:00:00Z","data":{"booking_id":"00000000-0000-4000-8000-000000000000","status":"confirmed"}}"#;
    let started = Instant::now();
    let sent: usize = futures_util::stream::iter(0..100_000_i64)
        .map(|n| async move {
            let id = (1_000_000_000 + n).to_string();
            let ts = Utc::now().timestamp();
            http.post(format!("http://127.0.0.1:{port}/e/{probe}"))
                .header("webhook-id", &id)
                .header("webhook-timestamp", ts.to_string())
                .header(
                    "webhook-signature",
                    webhooks::sign(std::slice::from_ref(secret), &id, ts, body),
                )
                .body(&body[..])
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .buffer_unordered(concurrency)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let reference = sent as f64 / started.elapsed().as_secs_f64();
    (sent, reference)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&args.database_url)
        .await?;
    let receiver = Receiver::default();
    *receiver
        .secrets
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))? = vec![None; args.endpoints];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = Router::new()
        .route("/e/{endpoint}", axum::routing::post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // An admin, and the endpoints through booking's API.
    let admin: Uuid = sqlx::query_scalar(
        "insert into users (email, display_name, role) values ($1, 'Bench admin', 'admin') returning user_id",
    )
    .bind(format!("bench-{}@example.test", Uuid::new_v4().simple()))
    .fetch_one(&pool)
    .await?;
    let token = auth::JwtKeys::new(&SecretString::from(args.jwt_secret.clone())).mint(
        admin,
        auth::Role::Admin,
        Utc::now(),
        chrono::Duration::hours(2),
    )?;
    let http = reqwest::Client::new();
    for i in 0..args.endpoints {
        let created: serde_json::Value = http
            .post(format!("{}/v1/admin/webhook-endpoints", args.booking_url))
            .bearer_auth(&token)
            .json(&serde_json::json!({"url": format!("http://127.0.0.1:{port}/e/{i}")}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let secret = Secret::parse(created["secret"].as_str().context("no secret")?)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        receiver
            .secrets
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?[i] = Some(secret);
    }

    // 1. The reference: this receiver driven directly.
    let secret = Secret::parse(&Secret::generate([7; 32]).to_text())
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    receiver
        .secrets
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .push(Some(secret.clone()));
    let probe = args.endpoints;
    let (sent, reference) =
        reference_rate(&http, port, probe, &secret, args.reference_concurrency).await;
    println!("phase=reference posts={sent} posts_per_s={reference:.0}");
    {
        let mut t = receiver
            .tally
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        *t = Tally::default();
    }

    // 2. The backlog.
    let bookings = args.events / 2;
    let started = Instant::now();
    for chunk in 0..(bookings / 5_000).max(1) {
        insert_events(&pool, chunk * 5_000, 5_000.min(bookings)).await?;
    }
    let committed = started.elapsed();
    let expected = usize::try_from(bookings * 2)? * args.endpoints;
    let last = wait_for(&receiver, expected, Duration::from_secs(3_600)).await?;
    let elapsed = last.duration_since(started).as_secs_f64();
    let (dups, invalid, disorder) = {
        let t = receiver
            .tally
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        (t.duplicates, t.invalid, t.out_of_order)
    };
    println!(
        "phase=backlog events={} deliveries={expected} committed_in_s={:.1} drained_in_s={elapsed:.1} \
         deliveries_per_s={:.0} duplicates={dups} invalid={invalid} out_of_order={disorder} \
         ratio_to_reference={:.2}",
        bookings * 2,
        committed.as_secs_f64(),
        expected as f64 / elapsed,
        expected as f64 / elapsed / reference
    );

    // 3. Steady: `rate` events a second, a few per transaction.
    let before = receiver
        .tally
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .seen
        .len();
    receiver
        .tally
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .delays
        .clear();
    let per_tick = 2_i64;
    let ticks_per_s = (f64::from(args.rate) / 2.0).max(1.0);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / ticks_per_s));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total_ticks = (ticks_per_s * args.seconds as f64) as i64;
    let started = Instant::now();
    for next in (bookings + 1_000_000..).take(usize::try_from(total_ticks)?) {
        tick.tick().await;
        // A booking's created, then its confirmed, each its own commit.
        insert_events(&pool, next, per_tick / 2).await?;
    }
    let offered = started.elapsed().as_secs_f64();
    let expected_steady = usize::try_from(total_ticks * per_tick)? * args.endpoints;
    wait_for(
        &receiver,
        before + expected_steady,
        Duration::from_secs(600),
    )
    .await?;
    let t = receiver
        .tally
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    let mut delays = t.delays.clone();
    delays.sort_by(f64::total_cmp);
    println!(
        "phase=steady events_per_s={:.0} deliveries_per_s={:.0} deliveries={} delay_p50_ms={:.1} \
         delay_p99_ms={:.1} delay_max_ms={:.1} duplicates={} invalid={} out_of_order={}",
        (total_ticks * per_tick) as f64 / offered,
        expected_steady as f64 / offered,
        delays.len(),
        quantile(&delays, 0.5) * 1e3,
        quantile(&delays, 0.99) * 1e3,
        delays.last().copied().unwrap_or(f64::NAN) * 1e3,
        t.duplicates,
        t.invalid,
        t.out_of_order
    );
    Ok(())
}
