//! The indexer against real Postgres (logical replication) and Redis:
//! bootstrap, fan-out, versioning, TOAST, truncate, restart, idle slots,
//! invalidations, and convergence under SIGKILL.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::cdc::{Workload, assert_converges, indexed};
use e2e::{Service, TestApp, TestDb, fixtures, search_catalog, spawn_app_with};
use futures_util::StreamExt;
use search::tantivy_backend::TantivyIndex;

const CONVERGE: Duration = Duration::from_secs(30);

async fn catalog_db() -> TestDb {
    let db = TestDb::migrated().await;
    search_catalog::load(&db.pool).await;
    db
}

fn settings(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("SEARCH_INDEX_DIR", dir.to_string_lossy().into_owned()),
        ("INDEXER_FLUSH_MS", "50".to_owned()),
        ("INDEXER_IDLE_CHECKPOINT_MS", "300".to_owned()),
    ]
}

async fn indexer(db: TestDb, dir: &Path) -> TestApp {
    let extra = settings(dir);
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app_with(Service::Indexer, db, &extra).await
}

fn doc(dir: &Path, event_id: i64) -> Option<search::EventDoc> {
    TantivyIndex::open_reader(dir)
        .export()
        .ok()?
        .into_iter()
        .find(|d| d.doc.event_id == event_id)
        .map(|d| d.doc)
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + CONVERGE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.expect("metrics");
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

async fn confirmed_flush(db: &TestDb) -> Option<String> {
    sqlx::query_scalar(
        "select confirmed_flush_lsn::text from pg_replication_slots where slot_name = $1",
    )
    .bind(&db.name)
    .fetch_optional(&db.pool)
    .await
    .expect("slot")
    .flatten()
}

#[tokio::test]
async fn bootstrap_then_fan_out_keeps_every_event_current_and_invalidates_caches() {
    let db = catalog_db().await;
    let seated = fixtures::on_sale_event(&db.pool, 2, 5, 10).await;
    let pool = db.pool.clone();
    let name = db.name.clone();
    let dir = tempfile::tempdir().expect("dir");
    let app = indexer(db, dir.path()).await;
    assert_converges(&app.db, dir.path(), CONVERGE).await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200, "{:?}", ready.text().await);
    assert_eq!(metric(&app, "indexer_bootstraps_total").await, 1.0);

    // Listen for invalidations; plant an L2 copy the indexer must delete.
    let redis = redis::Client::open(e2e::redis_url()).expect("redis");
    let mut pubsub = redis.get_async_pubsub().await.expect("pubsub");
    pubsub
        .subscribe(format!("{name}:invalidations"))
        .await
        .expect("subscribe");
    let mut conn = redis
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let planted = format!("{name}:page:venue:2");
    redis::cmd("SET")
        .arg(&planted)
        .arg("old page")
        .query_async::<()>(&mut conn)
        .await
        .expect("set");

    // A venue rename reaches every event at that venue.
    sqlx::query("update venues set name = 'The Dome' where venue_id = 2")
        .execute(&pool)
        .await
        .expect("rename");
    let at_venue: Vec<i64> = sqlx::query_scalar(
        "select event_id from events where venue_id = 2 and status = 'scheduled'",
    )
    .fetch_all(&pool)
    .await
    .expect("events");
    assert!(at_venue.len() > 10);
    let path = dir.path().to_owned();
    wait_for("every event at venue 2 to show its new name", || {
        let docs = TantivyIndex::open_reader(&path)
            .export()
            .unwrap_or_default();
        at_venue.iter().all(|id| {
            docs.iter()
                .any(|d| d.doc.event_id == *id && d.doc.venue_name == "The Dome")
        })
    })
    .await;
    let mut messages = pubsub.on_message();
    let message: String = tokio::time::timeout(CONVERGE, messages.next())
        .await
        .expect("an invalidation arrives")
        .expect("message")
        .get_payload()
        .expect("payload");
    let message: serde_json::Value = serde_json::from_str(&message).expect("json");
    assert!(
        message["keys"]
            .as_array()
            .is_some_and(|k| k.contains(&serde_json::json!("venue:2"))),
        "{message}"
    );
    drop(messages);
    let left: Option<String> = redis::cmd("GET")
        .arg(&planted)
        .query_async(&mut conn)
        .await
        .expect("get");
    assert_eq!(left, None, "the L2 copy was deleted before publishing");

    // Moving an event: it leaves one venue and joins another.
    let moved = at_venue[0];
    sqlx::query("update events set venue_id = 5 where event_id = $1")
        .bind(moved)
        .execute(&pool)
        .await
        .expect("move");
    wait_for("the moved event to show its new venue", || {
        doc(&path, moved).is_some_and(|d| d.venue_id == 5 && d.city == "New York")
    })
    .await;

    // Holding and selling seats move availability, then sell out.
    let before = doc(&path, seated.event_id).expect("indexed");
    assert_eq!((before.available_tickets, before.sold_out), (20, false));
    let user = fixtures::user(&pool, "user").await;
    let booking = fixtures::pending_booking(&pool, user, seated.event_id).await;
    sqlx::query(
        "update event_seats set status = 'held', booking_id = $2, held_until = now() + interval '10 minutes'
          where event_id = $1 and seat_id = any($3)",
    )
    .bind(seated.event_id)
    .bind(booking)
    .bind(&seated.rows[0])
    .execute(&pool)
    .await
    .expect("hold");
    wait_for("held seats to leave availability", || {
        doc(&path, seated.event_id).is_some_and(|d| d.available_tickets == 15)
    })
    .await;
    sqlx::query(
        "update event_seats set status = 'sold', booking_id = $2, held_until = null where event_id = $1",
    )
    .bind(seated.event_id)
    .bind(booking)
    .execute(&pool)
    .await
    .expect("sell");
    sqlx::query("update ga_inventory set sold = capacity where event_id = $1")
        .bind(seated.event_id)
        .execute(&pool)
        .await
        .expect("sell GA");
    wait_for("the event to sell out", || {
        doc(&path, seated.event_id).is_some_and(|d| d.sold_out && d.available_tickets == 0)
    })
    .await;
    assert_converges(&app.db, dir.path(), CONVERGE).await;
    assert!(metric(&app, "indexer_commit_to_searchable_seconds_count").await >= 4.0);
}

#[tokio::test]
async fn versions_toast_key_updates_and_truncate_converge() {
    let db = catalog_db().await;
    let pool = db.pool.clone();
    let dir = tempfile::tempdir().expect("dir");
    let app = indexer(db, dir.path()).await;
    assert_converges(&app.db, dir.path(), CONVERGE).await;
    let path = dir.path().to_owned();

    // Several updates to one row in one transaction: the last one wins.
    let mut tx = pool.begin().await.expect("tx");
    for title in ["first", "second", "final title"] {
        sqlx::query("update events set title = $1 where event_id = 1")
            .bind(title)
            .execute(&mut *tx)
            .await
            .expect("update");
    }
    tx.commit().await.expect("commit");
    wait_for("the last title", || {
        doc(&path, 1).is_some_and(|d| d.title == "final title")
    })
    .await;

    // A large description is stored out of line (TOAST); an update of
    // another column sends it as "unchanged", and it must survive.
    let description: String =
        sqlx::query_scalar("select string_agg(md5(i::text), ' ') from generate_series(1, 4000) i")
            .fetch_one(&pool)
            .await
            .expect("text");
    sqlx::query("update events set description = $1 where event_id = 2")
        .bind(&description)
        .execute(&pool)
        .await
        .expect("long description");
    let toasted: bool = sqlx::query_scalar(
        "select pg_relation_size(reltoastrelid) > 0 from pg_class where relname = 'events'",
    )
    .fetch_one(&pool)
    .await
    .expect("size");
    assert!(toasted, "the description (132 kB) is stored out of line");
    sqlx::query("update events set popularity = 99.5 where event_id = 2")
        .execute(&pool)
        .await
        .expect("small update");
    wait_for("the popularity update", || {
        doc(&path, 2).is_some_and(|d| d.popularity == 99.5)
    })
    .await;
    // The content hash covers the description: convergence proves it.
    assert_converges(&app.db, dir.path(), CONVERGE).await;

    // A primary-key update deletes the old document.
    let bare: i64 = sqlx::query_scalar(
        "insert into events (venue_id, title, category, genre, starts_at, ends_at, sale_starts_at, sale_ends_at)
         values (1, 'Renumbered', 'concert', 'rock', '2027-05-01 19:00Z', '2027-05-01 22:00Z',
                 '2026-10-01 00:00Z', '2027-05-01 18:00Z') returning event_id",
    )
    .fetch_one(&pool)
    .await
    .expect("event");
    wait_for("the new event", || doc(&path, bare).is_some()).await;
    sqlx::query("update events set event_id = 90000 where event_id = $1")
        .bind(bare)
        .execute(&pool)
        .await
        .expect("renumber");
    wait_for("the renumbered event under its new id only", || {
        doc(&path, 90000).is_some() && doc(&path, bare).is_none()
    })
    .await;

    // TRUNCATE: the index is rebuilt from the table as it now is.
    sqlx::query("truncate event_performers")
        .execute(&pool)
        .await
        .expect("truncate");
    wait_for("performers to disappear from documents", || {
        doc(&path, 1).is_some_and(|d| d.performers.is_empty())
    })
    .await;
    assert_converges(&app.db, dir.path(), CONVERGE).await;
}

#[tokio::test]
async fn a_restart_resumes_from_the_checkpoint_and_an_idle_slot_advances() {
    let db = catalog_db().await;
    let pool = db.pool.clone();
    let dir = tempfile::tempdir().expect("dir");
    let first = indexer(TestDb::attach(&db), dir.path()).await;
    assert_converges(&first.db, dir.path(), CONVERGE).await;
    drop(first);

    // Written while no indexer runs.
    sqlx::query("update events set title = 'Written while down' where event_id = 3")
        .execute(&pool)
        .await
        .expect("update");
    let second = indexer(db, dir.path()).await;
    let path = dir.path().to_owned();
    wait_for("the change made while down", || {
        doc(&path, 3).is_some_and(|d| d.title == "Written while down")
    })
    .await;
    assert_eq!(
        metric(&second, "indexer_bootstraps_total").await,
        0.0,
        "resumed from the stored checkpoint, no bootstrap"
    );
    assert_converges(&second.db, dir.path(), CONVERGE).await;

    // WAL written outside the publication (users) must not be held back.
    for i in 0..200 {
        sqlx::query("insert into users (email, display_name) values ($1, 'Idle')")
            .bind(format!("idle{i}@example.test"))
            .execute(&pool)
            .await
            .expect("user");
    }
    let written: String = sqlx::query_scalar("select pg_current_wal_lsn()::text")
        .fetch_one(&pool)
        .await
        .expect("lsn");
    let written = search::catalog::parse_lsn(&written).expect("lsn");
    let deadline = Instant::now() + CONVERGE;
    loop {
        let confirmed = confirmed_flush(&second.db)
            .await
            .and_then(|l| search::catalog::parse_lsn(&l))
            .unwrap_or(0);
        if confirmed >= written {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the idle slot stayed at {confirmed:X}, behind {written:X}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_missing_slot_is_detected_and_bootstrapped_again() {
    let db = catalog_db().await;
    let pool = db.pool.clone();
    let dir = tempfile::tempdir().expect("dir");
    let first = indexer(TestDb::attach(&db), dir.path()).await;
    assert_converges(&first.db, dir.path(), CONVERGE).await;
    let name = first.db.name.clone();
    drop(first);
    // Someone drops the slot while the indexer is down (once it lets go).
    let deadline = Instant::now() + CONVERGE;
    loop {
        let dropped = sqlx::query("select pg_drop_replication_slot($1)")
            .bind(&name)
            .execute(&pool)
            .await;
        if dropped.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "{dropped:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sqlx::query("update events set title = 'Lost to the slot' where event_id = 4")
        .execute(&pool)
        .await
        .expect("update");
    let second = indexer(db, dir.path()).await;
    assert_converges(&second.db, dir.path(), CONVERGE).await;
    assert_eq!(metric(&second, "indexer_bootstraps_total").await, 1.0);
}

#[tokio::test]
async fn a_bootstrap_under_writes_loses_nothing_and_revives_nothing() {
    let db = catalog_db().await;
    let workload = Workload::start(db.pool.clone(), 7, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().expect("dir");
    let app = indexer(db, dir.path()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writes = workload.stop().await;
    assert!(writes > 100, "the workload ran ({writes} writes)");
    assert_converges(&app.db, dir.path(), CONVERGE).await;
}

fn spawn_indexer(db: &TestDb, dir: &Path) -> Child {
    let mut cmd = Command::new(e2e::binary("indexer"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("REDIS_URL", e2e::redis_url())
        .env("INDEXER_PORT", "0")
        .env("INDEXER_SLOT", &db.name)
        .env("CACHE_NAMESPACE", &db.name)
        .env("JWT_SECRET", e2e::test_jwt_secret())
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in settings(dir) {
        cmd.env(k, v);
    }
    cmd.spawn().expect("indexer starts")
}

#[tokio::test]
async fn the_index_converges_after_repeated_sigkills() {
    let db = catalog_db().await;
    let dir = tempfile::tempdir().expect("dir");
    let workload = Workload::start(db.pool.clone(), 42, 300);
    let mut kills = 0;
    for (i, lifetime_ms) in [700u64, 1900, 300, 1200, 2500, 900].into_iter().enumerate() {
        let mut child = spawn_indexer(&db, dir.path());
        tokio::time::sleep(Duration::from_millis(lifetime_ms)).await;
        // Every life sees writes: at least 90 more per life, however slow
        // the machine is today.
        workload
            .wait_for(90 * (i as u64 + 1), Duration::from_secs(60))
            .await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        kills += 1;
        eprintln!(
            "kill {} after {lifetime_ms} ms: {} documents in the index",
            i + 1,
            indexed(dir.path()).len()
        );
    }
    let writes = workload.stop().await;
    assert!(kills >= 5 && writes > 500, "{kills} kills, {writes} writes");
    let mut last = spawn_indexer(&db, dir.path());
    assert_converges(&db, dir.path(), Duration::from_secs(60)).await;
    last.kill().expect("stop");
    last.wait().expect("reaped");
}

#[tokio::test]
async fn an_offline_rebuild_under_a_running_indexer_is_bootstrapped_over() {
    let db = catalog_db().await;
    let pool = db.pool.clone();
    let dir = tempfile::tempdir().expect("dir");
    let app = indexer(db, dir.path()).await;
    assert_converges(&app.db, dir.path(), CONVERGE).await;
    // `ticketctl search-rebuild` while the indexer streams: a generation
    // without the indexer's checkpoint replaces the one it writes.
    let mut client = app.db.tokio_postgres().await;
    search::rebuild::rebuild(
        &mut client,
        &search::rebuild::Target::Tantivy(dir.path().to_owned()),
    )
    .await
    .expect("rebuild");
    sqlx::query("update events set title = 'After the rebuild' where event_id = 5")
        .execute(&pool)
        .await
        .expect("update");
    let path = dir.path().to_owned();
    wait_for("the change after the rebuild", || {
        doc(&path, 5).is_some_and(|d| d.title == "After the rebuild")
    })
    .await;
    assert_converges(&app.db, dir.path(), CONVERGE).await;
    assert_eq!(metric(&app, "indexer_bootstraps_total").await, 2.0);
}

#[tokio::test]
async fn an_admin_write_reaches_search_and_evicts_cached_pages_through_the_indexer() {
    // api and indexer on one database, one index directory, one cache
    // namespace: the admin write touches only Postgres.
    let db = catalog_db().await;
    let attached = TestDb::attach(&db);
    let dir = tempfile::tempdir().expect("dir");
    let indexer_app = indexer(db, dir.path()).await;
    let dir_s = dir.path().to_string_lossy().into_owned();
    let api = spawn_app_with(Service::Api, attached, &[("SEARCH_INDEX_DIR", &dir_s)]).await;
    assert_converges(&indexer_app.db, dir.path(), CONVERGE).await;

    // The venue page is cached for minutes; read it so both levels hold it.
    let first: serde_json::Value = api.get("/v1/venues/3").await.json().await.expect("json");
    assert_eq!(first["name"], "Accor Arena");
    let again = api.get("/v1/venues/3").await;
    assert_eq!(
        again.headers().get("x-cache").and_then(|v| v.to_str().ok()),
        Some("memory")
    );

    let admin = fixtures::user(&api.db.pool, "admin").await;
    let token = fixtures::token(admin, auth::Role::Admin);
    let renamed = api
        .http
        .patch(format!("{}/v1/venues/3", api.address))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Bercy Arena"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(renamed.status(), 200);

    // Well before the page's five minutes are up, the indexer's invalidation
    // has evicted it and search shows the new name.
    let deadline = Instant::now() + CONVERGE;
    loop {
        let page: serde_json::Value = api.get("/v1/venues/3").await.json().await.expect("json");
        let hits: serde_json::Value = api
            .get("/v1/events/search?q=bercy")
            .await
            .json()
            .await
            .expect("json");
        if page["name"] == "Bercy Arena" && hits["total"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rename never reached the cached page or search: {page} / {}",
            hits["total"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
