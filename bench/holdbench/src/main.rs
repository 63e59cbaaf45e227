//! `holdbench`: a hot on-sale against the booking service.
//!
//! `holdbench setup` creates an event on sale with `--seats` seats (rows of
//! 25, sections of 40 rows) and `--users` buyers, and prints the event id,
//! ticket type id and one user id. `holdbench run` drives `--clients`
//! concurrent connections over HTTP; each request is a different buyer (as
//! in an on-sale, where each buyer holds once) holding 2 seats (explicit
//! adjacent seats picked as from a live seat map, or at random, or best
//! available), until the seats run out or `--seconds` pass, then checks for
//! oversell in the database.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use rand::{Rng, SeedableRng};
use secrecy::SecretString;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Parser)]
struct Cli {
    /// The bench database (the booking service must use the same one).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a hot event and its buyers.
    Setup {
        #[arg(long, default_value_t = 50_000)]
        seats: i32,
        #[arg(long, default_value_t = 30_000)]
        users: i32,
    },
    /// Run buyers against the booking service.
    Run {
        #[arg(long)]
        booking_url: String,
        #[arg(long, env = "JWT_SECRET")]
        jwt_secret: String,
        #[arg(long)]
        event_id: i64,
        #[arg(long)]
        ticket_type_id: i64,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long, value_enum, default_value_t = Mode::Explicit)]
        mode: Mode,
        /// Give every buyer a signed-in session first and send its token
        /// (with `sid`), so each hold also pays the session check, as a
        /// shopper's does.
        #[arg(long)]
        sessions: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// Two adjacent seats, as shoppers pick them from a live seat map: pairs
    /// are handed out from one shuffled list of all adjacent pairs, and one
    /// request in ten deliberately targets a pair already handed out (a
    /// shopper acting on a stale map), so conflicts still happen.
    Explicit,
    /// Two adjacent seats picked uniformly at random over the whole map,
    /// held or not: the worst case, where most requests collide once the
    /// map fills.
    ExplicitRandom,
    /// `best_available` with quantity 2.
    Best,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&cli.database_url)
        .await
        .context("connecting to DATABASE_URL")?;
    match cli.command {
        Command::Setup { seats, users } => setup(&pool, seats, users).await,
        Command::Run {
            booking_url,
            jwt_secret,
            event_id,
            ticket_type_id,
            clients,
            seconds,
            mode,
            sessions,
        } => {
            run(
                &pool,
                &booking_url,
                &jwt_secret,
                event_id,
                ticket_type_id,
                clients,
                Duration::from_secs(seconds),
                mode,
                sessions,
            )
            .await
        }
    }
}

async fn setup(pool: &PgPool, seats: i32, users: i32) -> anyhow::Result<()> {
    let per_row = 25;
    let rows_per_section = 40;
    let rows = (seats + per_row - 1) / per_row;
    let sections = (rows + rows_per_section - 1) / rows_per_section;
    let mut tx = pool.begin().await?;
    let venue_id: i64 = sqlx::query_scalar(
        "insert into venues (name, address, city, country, lat, lon)
         values ('Bench Stadium', '1 Bench Way', 'London', 'GB', 51.5, -0.12) returning venue_id",
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "insert into venue_sections (venue_id, name, rank) select $1, 'S' || s, s / 10 from generate_series(1, $2) s",
    )
    .bind(venue_id)
    .bind(sections)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into venue_rows (section_id, label, position)
         select vs.section_id, r::text, r - 1
           from venue_sections vs, generate_series(1, $2) r where vs.venue_id = $1",
    )
    .bind(venue_id)
    .bind(rows_per_section)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into seats (row_id, number, x, y)
         select r.row_id, n, n, r.position
           from (select vr.row_id, vr.position from venue_rows vr join venue_sections vs using (section_id)
                  where vs.venue_id = $1 order by vr.row_id limit $2) r,
                generate_series(1, $3) n",
    )
    .bind(venue_id)
    .bind(i64::from(rows))
    .bind(per_row)
    .execute(&mut *tx)
    .await?;
    let event_id: i64 = sqlx::query_scalar(
        "insert into events (venue_id, title, category, genre, starts_at, ends_at, sale_starts_at, sale_ends_at)
         values ($1, 'Hot On-Sale', 'concert', 'pop', now() + interval '60 days', now() + interval '60 days 3 hours',
                 now() - interval '1 minute', now() + interval '60 days') returning event_id",
    )
    .bind(venue_id)
    .fetch_one(&mut *tx)
    .await?;
    let ticket_type_id: i64 = sqlx::query_scalar(
        "insert into ticket_types (event_id, name, kind, price_cents, currency) values ($1, 'Seated', 'seated', 9900, 'GBP')
         returning ticket_type_id",
    )
    .bind(event_id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "insert into ticket_type_sections (ticket_type_id, event_id, section_id)
         select $1, $2, section_id from venue_sections where venue_id = $3",
    )
    .bind(ticket_type_id)
    .bind(event_id)
    .bind(venue_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into event_seats (event_id, seat_id, ticket_type_id)
         select $1, s.seat_id, $2 from seats s join venue_rows vr using (row_id) join venue_sections vs using (section_id)
          where vs.venue_id = $3",
    )
    .bind(event_id)
    .bind(ticket_type_id)
    .bind(venue_id)
    .execute(&mut *tx)
    .await?;
    let user: Uuid = sqlx::query_scalar(
        "insert into users (email, display_name)
         select 'bench-' || $1 || '-' || n || '@bench.test', 'Bench ' || n from generate_series(1, $2) n
         returning user_id",
    )
    .bind(event_id)
    .bind(users)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .next()
    .context("no users")?;
    tx.commit().await?;
    let count: i64 = sqlx::query_scalar("select count(*) from event_seats where event_id = $1")
        .bind(event_id)
        .fetch_one(pool)
        .await?;
    println!("event_id={event_id} ticket_type_id={ticket_type_id} user_id={user} seats={count}");
    Ok(())
}

#[allow(
    clippy::too_many_arguments,
    reason = "a CLI entry point mirroring its flags"
)]
async fn run(
    pool: &PgPool,
    booking_url: &str,
    secret: &str,
    event_id: i64,
    ticket_type_id: i64,
    clients: usize,
    duration: Duration,
    mode: Mode,
    with_sessions: bool,
) -> anyhow::Result<()> {
    let seats: Vec<(i64, i64, i32)> = sqlx::query_as(
        "select es.seat_id, s.row_id, s.number from event_seats es join seats s using (seat_id)
          where es.event_id = $1 order by s.row_id, s.number",
    )
    .bind(event_id)
    .fetch_all(pool)
    .await?;
    if seats.is_empty() {
        bail!("event {event_id} has no seats");
    }
    let users: Vec<Uuid> =
        sqlx::query_scalar("select user_id from users where email like $1 order by email")
            .bind(format!("bench-{event_id}-%"))
            .fetch_all(pool)
            .await?;
    // One live session per buyer, made before the clock starts.
    let sessions: std::collections::HashMap<Uuid, Uuid> = if with_sessions {
        sqlx::query_as::<_, (Uuid, Uuid)>(
            "insert into sessions (user_id, expires_at)
             select unnest($1::uuid[]), now() + interval '1 day'
             returning user_id, session_id",
        )
        .bind(&users)
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect()
    } else {
        std::collections::HashMap::new()
    };
    let sessions = std::sync::Arc::new(sessions);
    let keys = auth::JwtKeys::new(&SecretString::from(secret.to_owned()));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let started = Instant::now();
    let deadline = started + duration;
    // Non-overlapping adjacent pairs (1-2, 3-4, ...) of every row, shuffled.
    let mut pairs: Vec<[i64; 2]> = seats
        .chunk_by(|a, b| a.1 == b.1)
        .flat_map(|row| row.chunks_exact(2).map(|p| [p[0].0, p[1].0]))
        .collect();
    {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(event_id.unsigned_abs());
        for i in (1..pairs.len()).rev() {
            pairs.swap(i, rng.random_range(0..=i));
        }
    }
    let pairs = std::sync::Arc::new(pairs);
    let next_pair = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seats = std::sync::Arc::new(seats);
    let mut tasks = Vec::new();
    let users = std::sync::Arc::new(users);
    for c in 0..clients {
        let users = users.clone();
        let keys = keys.clone();
        let sessions = sessions.clone();
        let http = http.clone();
        let url = format!("{booking_url}/v1/bookings");
        let seats = seats.clone();
        let pairs = pairs.clone();
        let next_pair = next_pair.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(c as u64);
            let mut latencies = Vec::new();
            let (mut held, mut conflicts, mut errors) = (0u64, 0u64, 0u64);
            let mut sold_out_streak = 0;
            let mut n = 0usize;
            while Instant::now() < deadline && sold_out_streak < 20 {
                // Client c takes buyers c, c + clients, c + 2 * clients, ...
                let user = users[(c + n * clients) % users.len()];
                n += 1;
                let (now, ttl) = (chrono::Utc::now(), chrono::Duration::hours(1));
                let minted = match sessions.get(&user) {
                    Some(&sid) => keys.mint_session(user, auth::Role::User, sid, now, ttl),
                    None => keys.mint(user, auth::Role::User, now, ttl),
                };
                let Ok(token) = minted else {
                    break;
                };
                let body = match mode {
                    Mode::Explicit => {
                        let handed = next_pair.load(std::sync::atomic::Ordering::Relaxed);
                        let i = if handed > 0 && rng.random_bool(0.1) {
                            rng.random_range(0..handed.min(pairs.len()))
                        } else {
                            next_pair.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        };
                        let Some(pair) = pairs.get(i) else { break };
                        serde_json::json!({"event_id": event_id, "seat_ids": pair})
                    }
                    Mode::ExplicitRandom => {
                        let i = rng.random_range(0..seats.len() - 1);
                        let (a, b) = (seats[i], seats[i + 1]);
                        let pair = if a.1 == b.1 { [a.0, b.0] } else { [seats[i - 1].0, a.0] };
                        serde_json::json!({"event_id": event_id, "seat_ids": pair})
                    }
                    Mode::Best => serde_json::json!({"event_id": event_id,
                        "best_available": {"ticket_type_id": ticket_type_id, "quantity": 2, "adjacent": true}}),
                };
                let t = Instant::now();
                let response = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header("Idempotency-Key", Uuid::new_v4().to_string())
                    .json(&body)
                    .send()
                    .await;
                let elapsed = t.elapsed();
                let at = t.duration_since(started);
                match response.map(|r| r.status().as_u16()) {
                    Ok(201) => {
                        held += 1;
                        sold_out_streak = 0;
                        latencies.push((at, elapsed));
                    }
                    Ok(409) => {
                        conflicts += 1;
                        sold_out_streak += 1;
                        latencies.push((at, elapsed));
                    }
                    _ => errors += 1,
                }
            }
            (held, conflicts, errors, latencies)
        }));
    }
    let (mut held, mut conflicts, mut errors, mut latencies) = (0, 0, 0, Vec::new());
    for task in tasks {
        let (h, c, e, l) = task.await?;
        held += h;
        conflicts += c;
        errors += e;
        latencies.extend(l);
    }
    let totals = Totals {
        held,
        conflicts,
        errors,
        wall: started.elapsed().as_secs_f64(),
    };
    report(pool, event_id, mode, clients, &totals, latencies).await
}

/// What the clients of a run counted.
struct Totals {
    held: u64,
    conflicts: u64,
    errors: u64,
    wall: f64,
}

/// Prints a run's figures and checks nothing was oversold.
async fn report(
    pool: &PgPool,
    event_id: i64,
    mode: Mode,
    clients: usize,
    totals: &Totals,
    latencies: Vec<(Duration, Duration)>,
) -> anyhow::Result<()> {
    let Totals {
        held,
        conflicts,
        errors,
        wall,
    } = *totals;
    // Where the tail comes from: p99 of each second of the run.
    let mut by_second: std::collections::BTreeMap<u64, Vec<Duration>> = Default::default();
    for (at, l) in &latencies {
        by_second.entry(at.as_secs()).or_default().push(*l);
    }
    let timeline: Vec<String> = by_second
        .into_iter()
        .map(|(sec, mut ls)| {
            ls.sort_unstable();
            let p99 = ls[((ls.len() as f64 * 0.99) as usize).min(ls.len() - 1)];
            format!("{sec}s:{}@{:.0}", ls.len(), p99.as_secs_f64() * 1000.0)
        })
        .collect();
    let mut latencies: Vec<Duration> = latencies.into_iter().map(|(_, l)| l).collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let oversold: i64 = sqlx::query_scalar(
        "select count(*) from (select i.seat_id from booking_items i join bookings b using (booking_id)
                                where b.event_id = $1 and b.status in ('payment_pending', 'confirmed')
                                group by i.seat_id having count(*) > 1) d",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await?;
    let held_seats: i64 = sqlx::query_scalar(
        "select count(*) from event_seats where event_id = $1 and status = 'held'",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await?;
    println!(
        "mode={mode:?} clients={clients} wall_s={wall:.2} holds={held} holds_per_s={:.0} conflicts={conflicts} errors={errors} \
         p50_ms={:.1} p99_ms={:.1} held_seats={held_seats} expected_held_seats={} oversold_seats={oversold}",
        held as f64 / wall,
        pct(0.50),
        pct(0.99),
        held * 2
    );
    if std::env::var_os("HOLDBENCH_TIMELINE").is_some() {
        println!("timeline (second:requests@p99_ms) {}", timeline.join(" "));
    }
    if oversold != 0 || u64::try_from(held_seats).ok() != Some(held * 2) {
        bail!("oversell check failed");
    }
    Ok(())
}
