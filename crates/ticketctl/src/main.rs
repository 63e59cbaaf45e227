//! `ticketctl`: the operator's command line.
//!
//! ```text
//! ticketctl migrate                       apply the schema migrations
//! ticketctl seed [--seed N] [--events N]  load the demo catalog (COPY)
//! ticketctl open-sales                    materialize seat inventory of events whose sale opened
//! ticketctl token --email E               mint a JWT for a user in the database
//! ticketctl token --demo                  mint JWTs for the admin and every demo user
//! ticketctl search-rebuild [--if-missing] rebuild the search index from one snapshot
//! ticketctl es-apply-template             install es-mappings/ in Elasticsearch
//! ```
//! Connection settings come from `DATABASE_URL` and `JWT_SECRET`, the search
//! backend from `SEARCH_BACKEND`, `SEARCH_INDEX_DIR`, `ES_URL` and `ES_INDEX`,
//! with the same defaults as the services.

use std::time::Instant;

use anyhow::{Context, bail};
use auth::{JwtKeys, Role};
use chrono::{NaiveDate, Utc};
use clap::{Parser, Subcommand};
use search::config::SearchConfig;
use secrecy::ExposeSecret;
use service_kit::config::{CommonConfig, EnvSource};
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "ticketctl",
    about = "Operate the ticketing platform: migrations, demo catalog, tokens, search index"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply every pending schema migration.
    Migrate,
    /// Generate the demo catalog and bulk-load it.
    Seed {
        /// RNG seed; the same seed and start date give the same catalog.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Number of events.
        #[arg(long, default_value_t = 5_000)]
        events: usize,
        /// Number of demo shoppers (an admin is always added).
        #[arg(long, default_value_t = 50)]
        users: usize,
        /// First day of the twelve months of events (default: today, UTC).
        #[arg(long)]
        start_date: Option<NaiveDate>,
        /// Replace an existing catalog (and its bookings).
        #[arg(long)]
        reset: bool,
        /// Do nothing if a catalog is already loaded.
        #[arg(long, conflicts_with = "reset")]
        if_empty: bool,
        /// Materialize seat inventory for at most this many on-sale events
        /// (the most popular); `ticketctl open-sales` does the rest.
        #[arg(long, default_value_t = 1_000)]
        inventory_events: i64,
    },
    /// Materialize seat inventory for every event whose sale has opened.
    OpenSales,
    /// Mint bearer tokens.
    Token {
        /// The user's email (must exist in the database).
        #[arg(long, conflicts_with = "demo")]
        email: Option<String>,
        /// Mint for the admin and every demo user, one line each.
        #[arg(long)]
        demo: bool,
        /// Lifetime in hours.
        #[arg(long, default_value_t = 24)]
        ttl_hours: i64,
    },
    /// Build a fresh search index from one consistent snapshot of the
    /// catalog and swap it in atomically.
    SearchRebuild {
        /// Do nothing if the backend already has an index.
        #[arg(long)]
        if_missing: bool,
    },
    /// Install (or update) the Elasticsearch index template from es-mappings/.
    EsApplyTemplate,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config =
        CommonConfig::from_env(&EnvSource::process()).map_err(|e| anyhow::anyhow!("{e}"))?;
    match cli.command {
        Command::Migrate => migrate(&config).await,
        Command::Seed {
            seed,
            events,
            users,
            start_date,
            reset,
            if_empty,
            inventory_events,
        } => {
            let spec = demo_catalog::Spec {
                seed,
                events,
                users,
                start_date: start_date.unwrap_or_else(|| Utc::now().date_naive()),
                now: Utc::now(),
            };
            seed_catalog(&config, &spec, reset, if_empty, inventory_events).await
        }
        Command::OpenSales => {
            let client = connect(&config).await?;
            let (events, seats) =
                demo_catalog::materialize_open_inventory(&client, Utc::now(), None).await?;
            println!("materialized {seats} seats for {events} events");
            Ok(())
        }
        Command::Token {
            email,
            demo,
            ttl_hours,
        } => token(&config, email, demo, ttl_hours).await,
        Command::SearchRebuild { if_missing } => search_rebuild(&config, if_missing).await,
        Command::EsApplyTemplate => {
            let search = SearchConfig::from_env(&EnvSource::process())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let SearchConfig::Elasticsearch { url, alias } = search else {
                bail!("SEARCH_BACKEND is not elasticsearch; nothing to apply");
            };
            search::elastic::ElasticIndex::new(&url, &alias)?
                .apply_template()
                .await?;
            println!(
                "index template {} applied at {url}",
                search::elastic::TEMPLATE_NAME
            );
            Ok(())
        }
    }
}

async fn search_rebuild(config: &CommonConfig, if_missing: bool) -> anyhow::Result<()> {
    let search =
        SearchConfig::from_env(&EnvSource::process()).map_err(|e| anyhow::anyhow!("{e}"))?;
    if if_missing && search.open_reader()?.health().await.is_ok() {
        println!("search index already built; nothing to do");
        return Ok(());
    }
    let target = search.rebuild_target()?;
    let mut client = connect(config).await?;
    let report = search::rebuild::rebuild(&mut client, &target).await?;
    println!(
        "search index rebuilt: {} documents in {:.2} s ({:.0} docs/s), version {}, now serving {}",
        report.documents,
        report.elapsed.as_secs_f64(),
        report.docs_per_second(),
        report.version,
        report.published
    );
    Ok(())
}

async fn migrate(config: &CommonConfig) -> anyhow::Result<()> {
    let pool = db::connect_lazy(&config.database_url, &db::PoolSettings::default())
        .context("DATABASE_URL")?;
    db::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations")?;
    println!("schema at migration {}", db::latest_migration());
    Ok(())
}

async fn connect(config: &CommonConfig) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) =
        tokio_postgres::connect(config.database_url.expose_secret(), tokio_postgres::NoTls)
            .await
            .context("connecting to DATABASE_URL")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("postgres connection: {e}");
        }
    });
    Ok(client)
}

async fn seed_catalog(
    config: &CommonConfig,
    spec: &demo_catalog::Spec,
    reset: bool,
    if_empty: bool,
    inventory_events: i64,
) -> anyhow::Result<()> {
    let mut client = connect(config).await?;
    if if_empty {
        let existing: i64 = client
            .query_one("select count(*) from events", &[])
            .await?
            .get(0);
        if existing > 0 {
            println!("catalog already loaded ({existing} events); nothing to do");
            return Ok(());
        }
    }
    let started = Instant::now();
    let catalog = demo_catalog::generate(spec);
    let generated = started.elapsed();
    let report = demo_catalog::load(
        &mut client,
        &catalog,
        spec.now,
        reset,
        Some(inventory_events),
    )
    .await?;
    println!(
        "demo catalog (seed {}, start {}): {} events, {} venues, {} venue seats, {} performers, {} ticket types, \
         {} users; seat inventory for {} on-sale events ({} seats); generated in {:.2}s, loaded in {:.2}s, total {:.2}s",
        spec.seed,
        spec.start_date,
        report.events,
        report.venues,
        report.seats,
        report.performers,
        report.ticket_types,
        report.users,
        report.events_on_sale,
        report.event_seats,
        generated.as_secs_f64(),
        report.elapsed.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

async fn token(
    config: &CommonConfig,
    email: Option<String>,
    demo: bool,
    ttl_hours: i64,
) -> anyhow::Result<()> {
    if config.app_env == service_kit::config::AppEnv::Production {
        bail!(
            "`ticketctl token` mints tokens without a sign-in; it is for development, tests \
             and benchmarks and is refused when APP_ENV=production"
        );
    }
    if email.is_none() && !demo {
        bail!("pass --email EMAIL or --demo");
    }
    let client = connect(config).await?;
    let rows = match &email {
        Some(email) => client.query("select user_id, email, role from users where email = $1", &[email]).await?,
        None => {
            client
                .query("select user_id, email, role from users where email like '%@demo.ticketing.test' order by role, email", &[])
                .await?
        }
    };
    if rows.is_empty() {
        bail!("no such user; load the demo catalog with `ticketctl seed` first");
    }
    let keys = JwtKeys::new(&config.jwt_secret);
    for row in rows {
        let user_id: Uuid = row.get(0);
        let email: String = row.get(1);
        let role: Role = row
            .get::<_, String>(2)
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?;
        let token = keys.mint(
            user_id,
            role,
            Utc::now(),
            chrono::Duration::hours(ttl_hours),
        )?;
        println!("{email}\t{}\t{token}", role.as_str());
    }
    Ok(())
}
