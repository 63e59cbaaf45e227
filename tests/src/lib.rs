//! Test harness shared by every end-to-end test.
//!
//! - [`TestDb`]: a fresh, uniquely named database with migrations applied,
//!   dropped again when the test ends.
//! - [`spawn_app`]: one of the three services, in-process, on port 0, against
//!   its own [`TestDb`] and the project's private Redis.
//! - [`binary`]: the path of a built service binary, for tests that need a
//!   real process (exit codes, signals);
//! - [`smtp::SmtpServer`]: a real SMTP server (aiosmtpd) and its Maildir.
//!
//! Connection settings come from `TEST_DATABASE_URL` (a server-level URL; the
//! harness creates databases through it) and `TEST_REDIS_URL`. `scripts/test`
//! starts the private instances and sets both.

pub mod cdc;
pub mod fixtures;
pub mod search_catalog;
pub mod smtp;

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use service_kit::config::EnvSource;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::oneshot;

/// The HS256 secret every spawned service of this test process uses:
/// random per process, so no secret is written in the source.
pub fn test_jwt_secret() -> &'static str {
    static SECRET: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SECRET.get_or_init(|| {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    })
}

/// The key webhook secrets are sealed with in every spawned booking of
/// this test process: random per process, like [`test_jwt_secret`].
pub fn test_webhook_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        use base64::Engine;
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        base64::engine::general_purpose::STANDARD.encode(key)
    })
}

/// Server-level URL the harness creates databases through.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://ticketing@127.0.0.1:55432/postgres".to_owned())
}

/// The private Redis.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:56379/".to_owned())
}

/// A connection to the private Redis.
pub async fn redis_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis")
}

fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = server_url
        .split_once('?')
        .map_or((server_url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(prefix, _)| prefix);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

async fn server_connection() -> PgConnection {
    let url = server_url();
    PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!("cannot reach the test Postgres at {url} ({e}); run `scripts/services up` or use `scripts/test`")
    })
}

/// A fresh database for one test.
#[derive(Debug)]
pub struct TestDb {
    /// The database's name (`test_<uuid>`).
    pub name: String,
    /// Its URL.
    pub url: String,
    /// A small pool on it, for arranging and asserting.
    pub pool: PgPool,
    /// Whether dropping this handle drops the database.
    owned: bool,
}

impl TestDb {
    /// Creates the database and applies every migration.
    pub async fn migrated() -> Self {
        let db = Self::empty().await;
        db::MIGRATOR
            .run(&db.pool)
            .await
            .expect("migrations apply to a fresh database");
        db
    }

    /// Creates the database without running migrations.
    pub async fn empty() -> Self {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = server_connection().await;
        sqlx::query(&format!("create database {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let url = with_database(&server_url(), &name);
        let pool = PgPoolOptions::new()
            .max_connections(30)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await
            .expect("connect to test database");
        Self {
            name,
            url,
            pool,
            owned: true,
        }
    }

    /// Another handle on the same database, for a second service instance;
    /// the database goes away with the original handle.
    pub fn attach(db: &TestDb) -> Self {
        Self {
            name: db.name.clone(),
            url: db.url.clone(),
            pool: db.pool.clone(),
            owned: false,
        }
    }

    /// A tokio-postgres client on this database (for COPY-heavy paths).
    pub async fn tokio_postgres(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("tokio-postgres connects");
        tokio::spawn(connection);
        client
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        // Drop the database on a side thread with its own runtime: Drop
        // cannot await, and the test's runtime is blocked while we wait. Only
        // fresh connections are used there (the pool's sockets belong to the
        // test's runtime); `with (force)` ends the pool's sessions.
        let name = self.name.clone();
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async move {
                    if let Ok(mut conn) = PgConnection::connect(&server_url()).await {
                        // A logical slot pins its database: end whoever
                        // streams from it, drop it, then the database.
                        for _ in 0..50 {
                            drop(
                                sqlx::query(
                                    "select pg_terminate_backend(active_pid) from pg_replication_slots
                                      where database = $1 and active_pid is not null",
                                )
                                .bind(&name)
                                .execute(&mut conn)
                                .await,
                            );
                            let dropped = sqlx::query(
                                "select pg_drop_replication_slot(slot_name) from pg_replication_slots
                                  where database = $1 and not active",
                            )
                            .bind(&name)
                            .execute(&mut conn)
                            .await;
                            let left: i64 = sqlx::query_scalar(
                                "select count(*) from pg_replication_slots where database = $1",
                            )
                            .bind(&name)
                            .fetch_one(&mut conn)
                            .await
                            .unwrap_or(0);
                            if dropped.is_ok() && left == 0 {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        drop(
                            sqlx::query(&format!("drop database if exists {name} with (force)"))
                                .execute(&mut conn)
                                .await,
                        );
                    }
                });
            }
        });
        drop(done.join());
    }
}

/// Which service to spawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The read API.
    Api,
    /// The booking service.
    Booking,
    /// The indexer.
    Indexer,
}

/// A running service plus its database.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The service's database.
    pub db: TestDb,
    /// An HTTP client.
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    /// `GET address + path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request reaches the service")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Environment for a spawned service: its database, the private Redis,
/// port 0, the test secret; `extra` overrides or adds variables.
pub fn service_env(db_url: &str, extra: &[(&str, &str)]) -> EnvSource {
    let database = db_url.rsplit('/').next().unwrap_or("test").to_owned();
    let mut pairs: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), db_url.into()),
        // Tests share one Redis: keep each database's cache keys apart.
        ("CACHE_NAMESPACE".into(), database.clone()),
        // Replication slots are per cluster: one per test database.
        ("INDEXER_SLOT".into(), database),
        ("REDIS_URL".into(), redis_url()),
        ("JWT_SECRET".into(), test_jwt_secret().into()),
        ("WEBHOOK_SECRETS_KEY".into(), test_webhook_key().into()),
        // Notifications (webhooks, mails) are off unless a test turns them
        // on: each instance would poll the outbox on its own connections.
        ("NOTIFY_INTERVAL_MS".into(), "0".into()),
        ("API_PORT".into(), "0".into()),
        ("BOOKING_PORT".into(), "0".into()),
        ("INDEXER_PORT".into(), "0".into()),
        ("DATABASE_MAX_CONNECTIONS".into(), "5".into()),
        // Tests drive far more traffic per account than a shopper; the
        // rate limit tests set their own limits (RATE_LIMIT_<NAME>).
        ("RATE_LIMIT_PROFILE".into(), "benchmark".into()),
        // No index unless a test builds one: search answers 503.
        (
            "SEARCH_INDEX_DIR".into(),
            std::env::temp_dir()
                .join(format!("no-search-index-{}", uuid::Uuid::new_v4().simple()))
                .to_string_lossy()
                .into_owned(),
        ),
    ];
    for (k, v) in extra {
        pairs.retain(|(key, _)| key != k);
        pairs.push(((*k).into(), (*v).into()));
    }
    EnvSource::from_pairs(pairs)
}

/// Starts `service` on port 0 against a fresh migrated database.
pub async fn spawn_app(service: Service) -> TestApp {
    spawn_app_with(service, TestDb::migrated().await, &[]).await
}

/// Starts `service` against `db` with extra environment variables.
pub async fn spawn_app_with(service: Service, db: TestDb, extra: &[(&str, &str)]) -> TestApp {
    let env = service_env(&db.url, extra);
    let (tx, rx) = oneshot::channel::<()>();
    let stop = async move {
        drop(rx.await);
    };
    let port = match service {
        Service::Api => {
            let app = api::Application::build(api::Config::from_env(&env).expect("valid config"))
                .await
                .expect("api builds");
            let port = app.port();
            tokio::spawn(app.run_until(stop));
            port
        }
        Service::Booking => {
            let app =
                booking::Application::build(booking::Config::from_env(&env).expect("valid config"))
                    .await
                    .expect("booking builds");
            let port = app.port();
            tokio::spawn(app.run_until(stop));
            port
        }
        Service::Indexer => {
            let app =
                indexer::Application::build(indexer::Config::from_env(&env).expect("valid config"))
                    .await
                    .expect("indexer builds");
            let port = app.port();
            tokio::spawn(app.run_until(stop));
            port
        }
    };
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        db,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client"),
        shutdown: Some(tx),
    }
}

/// A response header as a string (empty when absent).
pub fn header_of(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Path of a workspace binary built next to the test executable
/// (`target/<profile>/<name>`). `scripts/test` builds them first.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` (scripts/test does)",
        path.display()
    );
    path
}

/// The JWT secret as a [`SecretString`].
pub fn test_secret() -> SecretString {
    SecretString::from(test_jwt_secret().to_owned())
}
