//! Indexer benchmark, against a database holding the demo catalog.
//!
//! 1. Starts the indexer binary (it bootstraps if it has no index).
//! 2. **Sustained**: `--rate` single-row changes a second for `--seconds`,
//!    half catalog (popularity of random events across the whole catalog),
//!    half inventory (general-admission counters of a hot set of events).
//!    Freshness is measured two ways: the indexer's own
//!    `indexer_commit_to_searchable_seconds` histogram (commit to durable and
//!    searchable), and end-to-end probes: every 200 ms a probe event gets a
//!    new random title, and a separate tantivy reader (as the api holds)
//!    searches for it until it appears.
//! 3. **Catch-up**: stops the indexer, writes `--backlog` changes (same
//!    mix, in transactions of 10), restarts it and times until the slot's
//!    confirmed position passes the end of the backlog. Peak RSS is the
//!    process's `VmHWM`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use search::SearchIndex;
use search::tantivy_backend::TantivyIndex;
use tokio_postgres::{Client, NoTls};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, env = "REDIS_URL")]
    redis_url: String,
    #[arg(long, default_value = "target/release/indexer")]
    indexer: PathBuf,
    #[arg(long)]
    index_dir: PathBuf,
    #[arg(long, default_value = "cdcbench")]
    slot: String,
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    #[arg(long, default_value_t = 100_000)]
    backlog: u64,
    /// Writer connections.
    #[arg(long, default_value_t = 8)]
    writers: usize,
}

struct Indexer {
    child: Child,
    port: u16,
}

impl Indexer {
    fn start(args: &Args) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(&args.indexer)
            .env("DATABASE_URL", &args.database_url)
            .env("REDIS_URL", &args.redis_url)
            .env("INDEXER_PORT", port.to_string())
            .env("INDEXER_SLOT", &args.slot)
            .env("SEARCH_INDEX_DIR", &args.index_dir)
            // The indexer verifies no tokens, but every service needs a
            // secret to start: a random one for this run.
            .env(
                "JWT_SECRET",
                format!(
                    "{}{}",
                    uuid::Uuid::new_v4().simple(),
                    uuid::Uuid::new_v4().simple()
                ),
            )
            .env("RUST_LOG", "warn")
            // Catch-up ends when the slot passes the backlog's last WAL
            // position; let an idle indexer record it promptly.
            .env("INDEXER_IDLE_CHECKPOINT_MS", "200")
            .env("LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the indexer")?;
        Ok(Self { child, port })
    }

    async fn wait_ready(&self, http: &reqwest::Client, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let url = format!("http://127.0.0.1:{}/readyz", self.port);
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the indexer was not ready within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn histogram(
        &self,
        http: &reqwest::Client,
        name: &str,
    ) -> anyhow::Result<Vec<(f64, f64)>> {
        let text = http
            .get(format!("http://127.0.0.1:{}/metrics", self.port))
            .send()
            .await?
            .text()
            .await?;
        Ok(parse_buckets(&text, &format!("{name}_bucket")))
    }

    /// Peak resident set (VmHWM), in MB.
    fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }

    fn stop(mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        Ok(())
    }
}

/// Cumulative `(le, count)` pairs of a histogram.
fn parse_buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            let count = l.rsplit(' ').next()?.parse().ok()?;
            Some((le, count))
        })
        .collect()
}

/// The `q` quantile of the observations between two scrapes, interpolated
/// linearly inside its bucket.
fn quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> (f64, f64) {
    let counts: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, n)| {
            let old = before
                .iter()
                .find(|(l, _)| l == le)
                .map_or(0.0, |(_, c)| *c);
            (*le, n - old)
        })
        .collect();
    let total = counts.last().map_or(0.0, |(_, n)| *n);
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for (le, n) in &counts {
        if *n >= rank {
            if le.is_infinite() {
                return (lower.0, total);
            }
            let span = (n - lower.1).max(1e-9);
            return (lower.0 + (le - lower.0) * (rank - lower.1) / span, total);
        }
        lower = (*le, *n);
    }
    (f64::NAN, total)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// What the workload writes to.
#[derive(Debug, Clone)]
struct Targets {
    events: Vec<i64>,
    /// General-admission ticket types of the hot events.
    hot_ga: Vec<i64>,
}

async fn targets(client: &Client) -> anyhow::Result<Targets> {
    let events: Vec<i64> = client
        .query(
            "select event_id from events where status = 'scheduled'",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let hot_ga: Vec<i64> = client
        .query(
            "select g.ticket_type_id from ga_inventory g join events e using (event_id)
              where e.status = 'scheduled' order by e.popularity desc limit 200",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if events.is_empty() || hot_ga.is_empty() {
        bail!("the database has no catalog; run `ticketctl seed` first");
    }
    Ok(Targets { events, hot_ga })
}

/// One change: even `i` a catalog change, odd an inventory change.
async fn change(
    client: &impl tokio_postgres::GenericClient,
    t: &Targets,
    rng: &mut ChaCha8Rng,
    i: u64,
) -> anyhow::Result<()> {
    if i.is_multiple_of(2) {
        let event = t.events[rng.random_range(0..t.events.len())];
        client
            .execute(
                "update events set popularity = $2 where event_id = $1",
                &[&event, &f64::from(rng.random_range(0u32..100_000) / 100)],
            )
            .await?;
    } else {
        let tier = t.hot_ga[rng.random_range(0..t.hot_ga.len())];
        client
            .execute(
                "update ga_inventory set held = case when held + sold < capacity then held + 1 else 0 end
                  where ticket_type_id = $1",
                &[&tier],
            )
            .await?;
    }
    Ok(())
}

async fn sustained(args: &Args, t: &Targets) -> anyhow::Result<u64> {
    let done = Arc::new(AtomicU64::new(0));
    let per_writer = f64::from(args.rate) / args.writers as f64;
    let end = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for w in 0..args.writers {
        let client = connect(&args.database_url).await?;
        let (t, done) = (t.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(w as u64);
            let start = Instant::now();
            let mut i = 0u64;
            while Instant::now() < end {
                change(&client, &t, &mut rng, i).await?;
                i += 1;
                done.fetch_add(1, Ordering::Relaxed);
                // Open loop: the i-th change is due at i / rate.
                let due = start + Duration::from_secs_f64(i as f64 / per_writer);
                tokio::time::sleep_until(due.into()).await;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(done.load(Ordering::Relaxed))
}

/// End-to-end probes: retitle a probe event, search for the new title
/// with a reader of our own, record how long it took to appear.
async fn probes(
    database_url: String,
    index_dir: PathBuf,
    t: Targets,
    until: Instant,
) -> anyhow::Result<Vec<f64>> {
    let client = connect(&database_url).await?;
    let reader = TantivyIndex::open_reader(&index_dir);
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut out = Vec::new();
    while Instant::now() < until {
        let event = t.events[rng.random_range(0..t.events.len().min(50))];
        let word: String = (0..12)
            .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
            .collect();
        client
            .execute(
                "update events set title = 'Probe ' || $2 where event_id = $1",
                &[&event, &word],
            )
            .await?;
        let committed = Instant::now();
        loop {
            let found = reader
                .search(&search::SearchQuery::text(&word))
                .await
                .is_ok_and(|r| {
                    r.hits
                        .iter()
                        .any(|h| h.event_id == event && h.title.ends_with(&word))
                });
            if found {
                out.push(committed.elapsed().as_secs_f64());
                break;
            }
            if committed.elapsed() > Duration::from_secs(30) {
                bail!("probe {word} never became searchable");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(out)
}

async fn write_backlog(args: &Args, t: &Targets) -> anyhow::Result<()> {
    let per_writer = args.backlog / args.writers as u64;
    let mut tasks = Vec::new();
    for w in 0..args.writers {
        let mut client = connect(&args.database_url).await?;
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(1000 + w as u64);
            let mut i = 0u64;
            while i < per_writer {
                // Ten changes a transaction; one that deadlocks with another
                // writer on a hot row is rolled back and written again.
                let outcome: anyhow::Result<()> = async {
                    let tx = client.transaction().await?;
                    for n in 0..10 {
                        change(&tx, &t, &mut rng, i + n).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }
                .await;
                match outcome {
                    Ok(()) => i += 10,
                    Err(e)
                        if e.downcast_ref::<tokio_postgres::Error>()
                            .and_then(|e| e.code())
                            .is_some_and(|c| c.code() == "40P01") => {}
                    Err(e) => return Err(e),
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

async fn lsn(client: &Client, sql: &str, slot: &str) -> anyhow::Result<u64> {
    let rows = client.query(sql, &[&slot]).await?;
    let text: Option<String> = rows.first().and_then(|r| r.get(0));
    Ok(text
        .as_deref()
        .and_then(search::catalog::parse_lsn)
        .unwrap_or(0))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::new();
    let admin = connect(&args.database_url).await?;
    let targets = targets(&admin).await?;

    let started = Instant::now();
    let indexer = Indexer::start(&args)?;
    indexer.wait_ready(&http, Duration::from_secs(300)).await?;
    println!("ready in {:.1} s", started.elapsed().as_secs_f64());

    // Sustained freshness.
    const LATENCY: &str = "indexer_commit_to_searchable_seconds";
    const FLUSH: &str = "indexer_flush_seconds";
    let before = indexer.histogram(&http, LATENCY).await?;
    let flush_before = indexer.histogram(&http, FLUSH).await?;
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let probe_task = tokio::spawn(probes(
        args.database_url.clone(),
        args.index_dir.clone(),
        targets.clone(),
        until,
    ));
    let t0 = Instant::now();
    let written = sustained(&args, &targets).await?;
    let rate = written as f64 / t0.elapsed().as_secs_f64();
    let mut probe_latencies = probe_task.await??;
    // Let the last changes land before reading the histogram.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = indexer.histogram(&http, LATENCY).await?;
    let flush_after = indexer.histogram(&http, FLUSH).await?;
    let (p50, n) = quantile(&before, &after, 0.50);
    let (p99, _) = quantile(&before, &after, 0.99);
    let (flush50, flushes) = quantile(&flush_before, &flush_after, 0.50);
    let (flush99, _) = quantile(&flush_before, &flush_after, 0.99);
    probe_latencies.sort_by(f64::total_cmp);
    println!(
        "sustained: {written} changes at {rate:.0}/s; commit-to-searchable (indexer histogram, {n:.0} document changes) p50 {:.0} ms p99 {:.0} ms; flushes {flushes:.0}, p50 {:.0} ms p99 {:.0} ms; end-to-end probes ({} probes, own reader) p50 {:.0} ms p99 {:.0} ms; rss peak {:.0} MB",
        p50 * 1000.0,
        p99 * 1000.0,
        flush50 * 1000.0,
        flush99 * 1000.0,
        probe_latencies.len(),
        percentile(&probe_latencies, 0.50) * 1000.0,
        percentile(&probe_latencies, 0.99) * 1000.0,
        indexer.peak_rss_mb(),
    );

    // Catch-up.
    indexer.stop()?;
    let wrote = Instant::now();
    write_backlog(&args, &targets).await?;
    let target = lsn(
        &admin,
        "select pg_current_wal_lsn()::text where $1::text is not null",
        &args.slot,
    )
    .await?;
    println!(
        "backlog: {} changes written in {:.1} s",
        args.backlog,
        wrote.elapsed().as_secs_f64()
    );
    let restarted = Instant::now();
    let indexer = Indexer::start(&args)?;
    loop {
        let confirmed = lsn(
            &admin,
            "select confirmed_flush_lsn::text from pg_replication_slots where slot_name = $1",
            &args.slot,
        )
        .await?;
        if confirmed >= target {
            break;
        }
        if restarted.elapsed() > Duration::from_secs(600) {
            bail!("catch-up did not finish within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = restarted.elapsed().as_secs_f64();
    println!(
        "catch-up: {} changes in {seconds:.2} s = {:.0} changes/s (from process start); rss peak {:.0} MB",
        args.backlog,
        args.backlog as f64 / seconds,
        indexer.peak_rss_mb()
    );
    indexer.stop()?;
    Ok(())
}
