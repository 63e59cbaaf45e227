//! `searchbench`: measures search as shoppers use it.
//!
//! ```text
//! searchbench queries  --database-url U [--count 400] [--seed 7]   print the query set
//! searchbench http     --api-url A --database-url U [--clients 16] [--seconds 15]
//! searchbench postgres --database-url U [--clients 16] [--seconds 15]
//! ```
//!
//! The query set is fixed by its seed and drawn from the catalog itself: a
//! quarter keyword only (performer names, title words, some misspelled),
//! a quarter keyword plus filters, a quarter filters only, a quarter geo
//! (a city centre and a radius, nearest first); every query asks for all
//! five facets. `http` replays it against `GET /v1/events/search` with
//! `--clients` concurrent keep-alive clients, then replays prefixes of
//! names against `GET /v1/events/suggest`. `postgres` runs the same set as
//! Postgres full-text search (a tsvector with a GIN index, facets by GROUP
//! BY, one round trip per query pipelined on the client's connection) over a
//! reference table it builds from the same catalog.

mod pg_reference;
mod queries;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "searchbench", about = "Search latency benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How hard and with which queries.
#[derive(Debug, clap::Args)]
struct Load {
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Queries in the set.
    #[arg(long, default_value_t = 400)]
    count: usize,
    /// The set's seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the query set as URL query strings.
    Queries {
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[arg(long, default_value_t = 400)]
        count: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Replay the set against the api over HTTP, then suggest prefixes.
    Http {
        #[arg(long)]
        api_url: String,
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[command(flatten)]
        load: Load,
    },
    /// Replay the set as Postgres full-text search.
    Postgres {
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[command(flatten)]
        load: Load,
        /// Rebuild the reference table even if it exists.
        #[arg(long)]
        rebuild_reference: bool,
    },
}

/// Latencies of one phase.
#[derive(Debug)]
pub struct Latencies {
    pub samples: Vec<Duration>,
    pub elapsed: Duration,
    pub errors: usize,
}

impl Latencies {
    fn percentile(&self, p: f64) -> f64 {
        let mut ms: Vec<f64> = self.samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        if ms.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * ms.len() as f64).ceil() as usize;
        ms[rank.clamp(1, ms.len()) - 1]
    }

    fn report(&self, name: &str) {
        println!(
            "{name}: {} requests in {:.1} s ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, errors {}",
            self.samples.len(),
            self.elapsed.as_secs_f64(),
            self.samples.len() as f64 / self.elapsed.as_secs_f64(),
            self.percentile(50.0),
            self.percentile(99.0),
            self.percentile(100.0),
            self.errors
        );
    }
}

/// Runs `work(i)` for item indices handed out round-robin to `clients`
/// concurrent tasks until `seconds` pass.
async fn drive<F, Fut>(clients: usize, seconds: u64, items: usize, work: F) -> Latencies
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for client in 0..clients {
        let work = work.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) % items;
                let t = Instant::now();
                if work(client, i).await {
                    samples.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            (samples, errors)
        }));
    }
    let mut all = Latencies {
        samples: Vec::new(),
        elapsed: Duration::ZERO,
        errors: 0,
    };
    for t in tasks {
        if let Ok((s, e)) = t.await {
            all.samples.extend(s);
            all.errors += e;
        }
    }
    all.elapsed = started.elapsed();
    all
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connecting to the database")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("postgres connection: {e}");
        }
    });
    Ok(client)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Queries {
            database_url,
            count,
            seed,
        } => {
            let client = connect(&database_url).await?;
            for q in queries::query_set(&client, count, seed).await? {
                println!("{}", q.http_query());
            }
        }
        Command::Http {
            api_url,
            database_url,
            load:
                Load {
                    clients,
                    seconds,
                    count,
                    seed,
                },
        } => {
            let client = connect(&database_url).await?;
            let set = Arc::new(queries::query_set(&client, count, seed).await?);
            let prefixes = Arc::new(queries::suggest_prefixes(&client, count, seed).await?);
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(clients)
                .build()?;
            let base = api_url.trim_end_matches('/').to_owned();
            // Warm-up: one pass over each set, unmeasured.
            for q in set.iter() {
                let _ = http
                    .get(format!("{base}/v1/events/search?{}", q.http_query()))
                    .send()
                    .await?;
            }
            let (h, b, s) = (http.clone(), base.clone(), set.clone());
            let search = drive(clients, seconds, set.len(), move |_, i| {
                let url = format!("{b}/v1/events/search?{}", s[i].http_query());
                let h = h.clone();
                async move {
                    match h.get(url).send().await {
                        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                        _ => false,
                    }
                }
            })
            .await;
            search.report("search (http)");
            let (h, b, p) = (http.clone(), base.clone(), prefixes.clone());
            let suggest = drive(clients, seconds, prefixes.len(), move |_, i| {
                let url = format!("{b}/v1/events/suggest?q={}", queries::encode(&p[i]));
                let h = h.clone();
                async move {
                    match h.get(url).send().await {
                        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                        _ => false,
                    }
                }
            })
            .await;
            suggest.report("suggest (http)");
        }
        Command::Postgres {
            database_url,
            load:
                Load {
                    clients,
                    seconds,
                    count,
                    seed,
                },
            rebuild_reference,
        } => {
            let client = connect(&database_url).await?;
            pg_reference::prepare(&client, rebuild_reference).await?;
            let set = Arc::new(queries::query_set(&client, count, seed).await?);
            let mut conns = Vec::new();
            for _ in 0..clients {
                conns.push(Arc::new(pg_reference::Conn::new(
                    connect(&database_url).await?,
                )));
            }
            let conns = Arc::new(conns);
            // Warm-up (statements prepared, pages cached), unmeasured.
            for q in set.iter().take(50) {
                pg_reference::run(&conns[0], q).await?;
            }
            let s = set.clone();
            let result = drive(clients, seconds, set.len(), move |c, i| {
                let conn = conns[c].clone();
                let s = s.clone();
                async move { pg_reference::run(&conn, &s[i]).await.is_ok() }
            })
            .await;
            result.report("search (postgres fts)");
        }
    }
    Ok(())
}
