//! `ticketctl`: the operator's command line.
//!
//! ```text
//! ticketctl migrate                       apply the schema migrations
//! ticketctl seed [--seed N] [--events N]  load the demo catalog (COPY)
//! ticketctl open-sales                    materialize seat inventory of events whose sale opened
//! ticketctl token --email E               mint a JWT for a user in the database
//! ticketctl token --demo                  mint JWTs for the admin and every demo user
//! ticketctl create-admin --email E [--password-file F | --password-stdin]
//!                                         create or promote an admin with a password
//! ticketctl search-rebuild [--if-missing] rebuild the search index from one snapshot
//! ticketctl es-apply-template             install es-mappings/ in Elasticsearch
//! ```
//! Connection settings come from `DATABASE_URL` and `JWT_SECRET`, the search
//! backend from `SEARCH_BACKEND`, `SEARCH_INDEX_DIR`, `ES_URL` and `ES_INDEX`,
//! with the same defaults as the services. With `APP_ENV=production`, `seed`
//! and `token` refuse (they are for development, tests and benchmarks), and
//! so does `create-admin` for a demo address.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use auth::{JwtKeys, Role};
use chrono::{NaiveDate, Utc};
use clap::{Parser, Subcommand};
use search::config::SearchConfig;
use secrecy::ExposeSecret;
use service_kit::config::{AppEnv, CommonConfig, DEMO_EMAIL_DOMAIN, EnvSource};
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
    /// Create an admin (role admin, address verified, Argon2id password), or
    /// make the existing user with that address one and set its password.
    /// Idempotent: run again with the same password, nothing changes; with
    /// another, the password is replaced and the user's sessions end.
    /// Without --password-file or --password-stdin a password is generated
    /// and printed once.
    CreateAdmin {
        /// The admin's address (stored lowercased).
        #[arg(long)]
        email: String,
        /// Read the password from the first line of this file.
        #[arg(long, conflicts_with = "password_stdin")]
        password_file: Option<PathBuf>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Display name (default for a new account: the address's local
        /// part; an existing account keeps its own unless this is given).
        #[arg(long)]
        display_name: Option<String>,
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
            refuse_in_production(
                &config,
                "`ticketctl seed` loads the demo catalog (its demo accounts make every service \
                 refuse to start in production)",
            )?;
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
        Command::CreateAdmin {
            email,
            password_file,
            password_stdin,
            display_name,
        } => {
            let source = match (password_file, password_stdin) {
                (Some(path), _) => PasswordSource::File(path),
                (None, true) => PasswordSource::Stdin,
                (None, false) => PasswordSource::Generate,
            };
            create_admin(&config, &email, source, display_name.as_deref()).await
        }
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
    refuse_in_production(
        config,
        "`ticketctl token` mints tokens without a sign-in; it is for development, tests \
         and benchmarks",
    )?;
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

/// Fails with `what` when `APP_ENV=production`.
fn refuse_in_production(config: &CommonConfig, what: &str) -> anyhow::Result<()> {
    if config.app_env == AppEnv::Production {
        bail!("{what}; refused when APP_ENV=production");
    }
    Ok(())
}

/// Where `create-admin` gets the password.
#[derive(Debug)]
enum PasswordSource {
    /// The first line of a file.
    File(PathBuf),
    /// The first line of standard input.
    Stdin,
    /// A new random one, printed once.
    Generate,
}

impl PasswordSource {
    /// The password, and whether it was generated here.
    fn read(&self, email: &str, name: &str) -> anyhow::Result<(String, bool)> {
        let first_line = |text: &str| text.lines().next().unwrap_or_default().to_owned();
        let password = match self {
            Self::File(path) => first_line(
                &std::fs::read_to_string(path)
                    .with_context(|| format!("reading the password from {}", path.display()))?,
            ),
            Self::Stdin => {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                first_line(&line)
            }
            Self::Generate => return Ok((generate_password(email, name)?, true)),
        };
        auth::password::check_policy(&password, &[email, name]).map_err(|violation| {
            anyhow::anyhow!(
                "the password {violation} (rule {}; see auth::password)",
                violation.rule()
            )
        })?;
        Ok((password, false))
    }
}

/// 43 characters of base64url from 32 bytes of the operating system's
/// randomness, checked against the password policy like any other.
fn generate_password(email: &str, name: &str) -> anyhow::Result<String> {
    for _ in 0..10 {
        let candidate = auth::tokens::generate().secret;
        if auth::password::check_policy(&candidate, &[email, name]).is_ok() {
            return Ok(candidate);
        }
    }
    bail!("could not generate a password that passes the policy")
}

/// A lowercased, trimmed address the `users` table accepts: `local@domain`
/// with a dotted domain, no spaces, at most 254 characters.
fn admin_address(raw: &str) -> anyhow::Result<String> {
    let email = raw.trim().to_lowercase();
    let valid = email.chars().count() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if !valid {
        bail!("--email {raw:?} is not an email address");
    }
    Ok(email)
}

/// A user row as `create-admin` finds it.
type ExistingUser = (Uuid, Option<String>, String, Option<chrono::DateTime<Utc>>);

async fn create_admin(
    config: &CommonConfig,
    raw_email: &str,
    source: PasswordSource,
    display_name: Option<&str>,
) -> anyhow::Result<()> {
    let email = admin_address(raw_email)?;
    if config.app_env == AppEnv::Production && email.ends_with(&format!("@{DEMO_EMAIL_DOMAIN}")) {
        bail!(
            "{email} is a demo address (@{DEMO_EMAIL_DOMAIN}): every service refuses to start on \
             a database with one when APP_ENV=production"
        );
    }
    let name = display_name
        .map(str::trim)
        .map(str::to_owned)
        .unwrap_or_else(|| email.split('@').next().unwrap_or("admin").to_owned());
    if !(1..=200).contains(&name.chars().count()) {
        bail!("--display-name must be 1 to 200 characters");
    }
    let (password, generated) = source.read(&email, &name)?;

    let pool = db::connect_lazy(&config.database_url, &db::PoolSettings::default())
        .context("DATABASE_URL")?;
    let mut tx = pool.begin().await.context("connecting to DATABASE_URL")?;
    let existing: Option<ExistingUser> = sqlx::query_as(
        "select user_id, password_hash, role, disabled_at from users
          where lower(email) = $1 for update",
    )
    .bind(&email)
    .fetch_optional(&mut *tx)
    .await?;
    let report = match existing {
        None => {
            let phc = auth::password::hash(&password).await?;
            let user_id: Uuid = sqlx::query_scalar(
                "insert into users (email, display_name, role, password_hash, email_verified_at)
                 values ($1, $2, 'admin', $3, now()) returning user_id",
            )
            .bind(&email)
            .bind(&name)
            .bind(&phc)
            .fetch_one(&mut *tx)
            .await?;
            format!("created admin {email} ({user_id})")
        }
        Some((user_id, stored, role, disabled_at)) => {
            // The same password again (every scripts/run) changes nothing,
            // so the admin's sessions survive; a new one replaces it.
            let unchanged = match stored.as_deref() {
                Some(phc) => auth::password::verify(&password, Some(phc))
                    .await
                    .unwrap_or(false),
                None => false,
            };
            let phc = if unchanged {
                None
            } else {
                Some(auth::password::hash(&password).await?)
            };
            sqlx::query(
                "update users set role = 'admin',
                        email_verified_at = coalesce(email_verified_at, now()),
                        password_hash = coalesce($2, password_hash),
                        display_name = coalesce($3, display_name)
                  where user_id = $1",
            )
            .bind(user_id)
            .bind(&phc)
            .bind(display_name.map(|_| &name))
            .execute(&mut *tx)
            .await?;
            let signed_out = if unchanged {
                0
            } else {
                sqlx::query(
                    "update sessions set revoked_at = now()
                      where user_id = $1 and revoked_at is null and expires_at > now()",
                )
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
            };
            let mut report = format!(
                "admin {email} ({user_id}): {}, password {}",
                if role == "admin" {
                    "already an admin".to_owned()
                } else {
                    format!("promoted from {role}")
                },
                if unchanged {
                    "unchanged".to_owned()
                } else {
                    format!("set ({signed_out} sessions signed out)")
                },
            );
            if let Some(at) = disabled_at {
                report.push_str(&format!(
                    "; note: the account is disabled (since {at}) and cannot sign in"
                ));
            }
            report
        }
    };
    tx.commit().await?;
    println!("{report}");
    if generated {
        println!("password: {password}");
        println!("(shown once: it is stored only as an Argon2id hash)");
    }
    Ok(())
}
