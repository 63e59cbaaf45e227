//! The demo catalog: deterministic, bulk-loaded, realistic in shape.

use std::process::Command;

use chrono::{NaiveDate, TimeZone, Utc};
use demo_catalog::{Spec, generate, load};
use e2e::{TestDb, binary};

fn spec(seed: u64, events: usize) -> Spec {
    Spec {
        seed,
        events,
        users: 10,
        start_date: NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"),
        now: Utc
            .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
            .single()
            .expect("instant"),
    }
}

/// A digest of everything the catalog put in the database.
async fn fingerprint(db: &TestDb) -> String {
    sqlx::query_scalar(
        "select md5(string_agg(t, '|' order by t)) from (
             select format('e%s %s %s %s %s %s', event_id, venue_id, title, starts_at, popularity, status) t from events
             union all select format('v%s %s %s %s', venue_id, name, lat, lon) from venues
             union all select format('s%s %s %s %s', seat_id, row_id, x, y) from seats
             union all select format('t%s %s %s %s', ticket_type_id, name, price_cents, capacity) from ticket_types
             union all select format('i%s %s %s', event_id, seat_id, ticket_type_id) from event_seats
             union all select format('u%s %s', user_id, email) from users
         ) rows",
    )
    .fetch_one(&db.pool)
    .await
    .expect("fingerprint")
}

#[test]
fn the_same_seed_generates_the_same_catalog_and_another_seed_does_not() {
    let a = generate(&spec(7, 400));
    let b = generate(&spec(7, 400));
    let c = generate(&spec(8, 400));

    assert_eq!(a, b);
    assert_ne!(a.events, c.events);
}

#[test]
fn the_catalog_spans_every_category_twelve_months_and_a_stadium() {
    let s = spec(42, 2_000);
    let catalog = generate(&s);

    let categories: std::collections::BTreeSet<_> =
        catalog.events.iter().map(|e| e.category.as_str()).collect();
    let first = catalog
        .events
        .iter()
        .map(|e| e.starts_at)
        .min()
        .expect("events");
    let last = catalog
        .events
        .iter()
        .map(|e| e.starts_at)
        .max()
        .expect("events");
    let biggest = catalog
        .venues
        .iter()
        .map(|v| v.seat_count())
        .max()
        .unwrap_or(0);

    assert_eq!(
        categories.into_iter().collect::<Vec<_>>(),
        ["comedy", "concert", "family", "sports", "theatre"]
    );
    assert!(
        first.date_naive() > s.start_date && (last - first).num_days() > 330,
        "{first} .. {last}"
    );
    assert!(
        biggest >= 50_000,
        "a stadium has about 50,000 seats, biggest is {biggest}"
    );
    assert!(
        catalog
            .events
            .iter()
            .any(|e| e.ticket_types.iter().any(|t| !t.seated))
    );
    assert!(
        catalog
            .events
            .iter()
            .any(|e| e.ticket_types.iter().any(|t| t.seated))
    );
}

#[test]
fn popularity_is_skewed_like_real_demand() {
    let catalog = generate(&spec(42, 2_000));
    let mut popularity: Vec<f64> = catalog.events.iter().map(|e| e.popularity).collect();
    popularity.sort_by(|a, b| b.total_cmp(a));

    let total: f64 = popularity.iter().sum();
    let top_decile: f64 = popularity.iter().take(popularity.len() / 10).sum();

    assert!(
        top_decile / total > 0.3,
        "top 10% of events hold {:.0}% of demand",
        100.0 * top_decile / total
    );
}

#[tokio::test]
async fn loading_the_same_seed_twice_gives_identical_databases() {
    let (one, two) = (TestDb::migrated().await, TestDb::migrated().await);
    let s = spec(11, 300);

    let report = load(
        &mut one.tokio_postgres().await,
        &generate(&s),
        s.now,
        false,
        None,
    )
    .await
    .expect("loads");
    load(
        &mut two.tokio_postgres().await,
        &generate(&s),
        s.now,
        false,
        None,
    )
    .await
    .expect("loads");

    assert_eq!(fingerprint(&one).await, fingerprint(&two).await);
    let events: i64 = sqlx::query_scalar("select count(*) from events")
        .fetch_one(&one.pool)
        .await
        .expect("count");
    let inventory: i64 = sqlx::query_scalar("select count(*) from event_seats")
        .fetch_one(&one.pool)
        .await
        .expect("count");
    assert_eq!(events, 300);
    assert_eq!(u64::try_from(inventory).ok(), Some(report.event_seats));
    assert!(
        report.events_on_sale > 0 && report.event_seats > 0,
        "{report:?}"
    );
}

#[tokio::test]
async fn inventory_exists_exactly_for_seated_events_whose_sale_is_open() {
    let db = TestDb::migrated().await;
    let s = spec(3, 400);
    load(
        &mut db.tokio_postgres().await,
        &generate(&s),
        s.now,
        false,
        None,
    )
    .await
    .expect("loads");

    let wrong: i64 = sqlx::query_scalar(
        "select count(*) from events e
          where (e.status = 'scheduled' and e.sale_starts_at <= $1 and $1 < e.sale_ends_at
                 and exists (select 1 from ticket_type_sections t where t.event_id = e.event_id))
             <> exists (select 1 from event_seats s where s.event_id = e.event_id)",
    )
    .bind(s.now)
    .fetch_one(&db.pool)
    .await
    .expect("query");
    let ga_rows: i64 = sqlx::query_scalar(
        "select count(*) from ticket_types t left join ga_inventory g using (ticket_type_id)
          where t.kind = 'general_admission' and g.ticket_type_id is null",
    )
    .fetch_one(&db.pool)
    .await
    .expect("query");

    assert_eq!(
        wrong, 0,
        "events whose inventory does not match their sale window"
    );
    assert_eq!(
        ga_rows, 0,
        "every general-admission type has its counter row"
    );
}

#[tokio::test]
async fn loading_twice_without_reset_is_refused_and_reset_replaces_the_catalog() {
    let db = TestDb::migrated().await;
    let s = spec(5, 100);
    let catalog = generate(&s);
    let mut client = db.tokio_postgres().await;
    load(&mut client, &catalog, s.now, false, None)
        .await
        .expect("first load");

    let again = load(&mut client, &catalog, s.now, false, None).await;
    let reset = load(&mut client, &catalog, s.now, true, None).await;

    assert!(
        matches!(again, Err(demo_catalog::LoadError::NotEmpty(100))),
        "{again:?}"
    );
    assert!(reset.is_ok(), "{reset:?}");
    let events: i64 = sqlx::query_scalar("select count(*) from events")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(events, 100);
}

#[tokio::test]
async fn ticketctl_migrates_seeds_and_mints_tokens_that_verify() {
    let db = TestDb::empty().await;
    let run = |args: &[&str]| {
        let output = Command::new(binary("ticketctl"))
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("JWT_SECRET", e2e::test_jwt_secret())
            .output()
            .expect("ticketctl runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{args:?}: {stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };

    run(&["migrate"]);
    let seeded = run(&["seed", "--seed", "9", "--events", "150", "--users", "3"]);
    let skipped = run(&["seed", "--events", "150", "--if-empty"]);
    let tokens = run(&["token", "--demo"]);

    assert!(seeded.contains("150 events"), "{seeded}");
    assert!(skipped.contains("nothing to do"), "{skipped}");
    let keys = auth::JwtKeys::new(&e2e::test_secret());
    let lines: Vec<&str> = tokens.lines().collect();
    assert_eq!(lines.len(), 4, "admin plus three users: {tokens}");
    let admin: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(&admin[..2], ["admin@demo.ticketing.test", "admin"]);
    assert_eq!(
        keys.verify(admin[2]).expect("verifies").role,
        auth::Role::Admin
    );
}
