//! The database itself enforces the invariants, whatever the application does.

use chrono::{Duration, Utc};
use e2e::{TestDb, fixtures};
use sqlx::PgPool;
use uuid::Uuid;

/// An event on sale with one row of `seats` seats and a general-admission
/// type of `ga_capacity`, plus a user to book with.
#[derive(Clone)]
struct Fixture {
    event_id: i64,
    seat_ids: Vec<i64>,
    ga_type_id: i64,
    user_id: Uuid,
}

async fn fixture(pool: &PgPool, seats: i32, ga_capacity: i32) -> Fixture {
    let event = fixtures::on_sale_event(pool, 1, seats, ga_capacity).await;
    Fixture {
        event_id: event.event_id,
        seat_ids: event.seat_ids(),
        ga_type_id: event.ga_type_id,
        user_id: fixtures::user(pool, "user").await,
    }
}

async fn booking(pool: &PgPool, f: &Fixture) -> Uuid {
    sqlx::query_scalar(
        "insert into bookings (user_id, event_id, currency, expires_at)
         values ($1, $2, 'EUR', now() + interval '10 minutes') returning booking_id",
    )
    .bind(f.user_id)
    .bind(f.event_id)
    .fetch_one(pool)
    .await
    .expect("booking")
}

/// A hold written without any status predicate: only the schema stands
/// between it and a double booking.
async fn hold_blindly(
    pool: &PgPool,
    f: &Fixture,
    seat_id: i64,
    booking_id: Uuid,
    until: chrono::DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "update event_seats set status = 'held', booking_id = $3, held_until = $4
          where event_id = $1 and seat_id = $2",
    )
    .bind(f.event_id)
    .bind(seat_id)
    .bind(booking_id)
    .bind(until)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
}

fn constraint_of(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|e| e.constraint())
        .map(str::to_owned)
}

#[tokio::test]
async fn a_second_live_hold_on_the_same_seat_is_rejected_by_the_database() {
    let db = TestDb::migrated().await;
    let f = fixture(&db.pool, 4, 10).await;
    let (first, second) = (booking(&db.pool, &f).await, booking(&db.pool, &f).await);
    let seat = f.seat_ids[0];

    hold_blindly(
        &db.pool,
        &f,
        seat,
        first,
        Utc::now() + Duration::minutes(10),
    )
    .await
    .expect("first hold");
    let err = hold_blindly(
        &db.pool,
        &f,
        seat,
        second,
        Utc::now() + Duration::minutes(10),
    )
    .await
    .expect_err("a second live hold must fail");

    assert_eq!(
        constraint_of(&err).as_deref(),
        Some("event_seats_one_live_booking"),
        "{err}"
    );
    let holder: Option<Uuid> = sqlx::query_scalar(
        "select booking_id from event_seats where event_id = $1 and seat_id = $2",
    )
    .bind(f.event_id)
    .bind(seat)
    .fetch_one(&db.pool)
    .await
    .expect("read back");
    assert_eq!(holder, Some(first));
}

#[tokio::test]
async fn a_sold_seat_cannot_be_given_to_another_booking() {
    let db = TestDb::migrated().await;
    let f = fixture(&db.pool, 2, 10).await;
    let (buyer, latecomer) = (booking(&db.pool, &f).await, booking(&db.pool, &f).await);
    let seat = f.seat_ids[1];
    sqlx::query("update event_seats set status = 'sold', booking_id = $3 where event_id = $1 and seat_id = $2")
        .bind(f.event_id)
        .bind(seat)
        .bind(buyer)
        .execute(&db.pool)
        .await
        .expect("sale");

    let err = hold_blindly(
        &db.pool,
        &f,
        seat,
        latecomer,
        Utc::now() + Duration::minutes(10),
    )
    .await
    .expect_err("a sold seat must not be re-held");

    assert_eq!(
        constraint_of(&err).as_deref(),
        Some("event_seats_one_live_booking")
    );
}

#[tokio::test]
async fn a_lapsed_hold_is_free_for_the_next_buyer_before_any_sweeper_runs() {
    let db = TestDb::migrated().await;
    let f = fixture(&db.pool, 1, 10).await;
    let (first, second) = (booking(&db.pool, &f).await, booking(&db.pool, &f).await);
    let seat = f.seat_ids[0];
    hold_blindly(&db.pool, &f, seat, first, Utc::now() - Duration::seconds(1))
        .await
        .expect("lapsed hold");

    let taken = hold_blindly(
        &db.pool,
        &f,
        seat,
        second,
        Utc::now() + Duration::minutes(10),
    )
    .await;

    assert_eq!(taken.expect("a lapsed hold may be taken over"), 1);
}

#[tokio::test]
async fn an_inconsistent_seat_state_is_rejected() {
    let db = TestDb::migrated().await;
    let f = fixture(&db.pool, 1, 10).await;

    let err = sqlx::query("update event_seats set status = 'held' where event_id = $1")
        .bind(f.event_id)
        .execute(&db.pool)
        .await
        .expect_err("held without a booking must fail");

    assert_eq!(
        constraint_of(&err).as_deref(),
        Some("event_seats_state_consistent")
    );
}

#[tokio::test]
async fn concurrent_holds_on_one_seat_yield_exactly_one_winner() {
    let db = TestDb::migrated().await;
    let f = fixture(&db.pool, 1, 10).await;
    let mut bookings = Vec::new();
    for _ in 0..24 {
        bookings.push(booking(&db.pool, &f).await);
    }
    let seat = f.seat_ids[0];

    let attempts = bookings.into_iter().map(|b| {
        let pool = db.pool.clone();
        let f = Fixture {
            seat_ids: vec![],
            user_id: f.user_id,
            ..f
        };
        tokio::spawn(async move {
            hold_blindly(&pool, &f, seat, b, Utc::now() + Duration::minutes(5)).await
        })
    });
    let results = futures_join(attempts).await;

    let winners = results.iter().filter(|r| matches!(r, Ok(1))).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(e) if constraint_of(e).as_deref() == Some("event_seats_one_live_booking")))
        .count();
    assert_eq!((winners, refused), (1, 23), "{results:?}");
}

#[tokio::test]
async fn general_admission_overselling_is_rejected_by_the_database() {
    let db = TestDb::migrated().await;
    let f = fixture(&db.pool, 1, 5).await;

    sqlx::query("update ga_inventory set held = 3, sold = 2 where ticket_type_id = $1")
        .bind(f.ga_type_id)
        .execute(&db.pool)
        .await
        .expect("exactly at capacity is fine");
    let err = sqlx::query("update ga_inventory set held = held + 1 where ticket_type_id = $1")
        .bind(f.ga_type_id)
        .execute(&db.pool)
        .await
        .expect_err("one over capacity must fail");

    assert_eq!(
        constraint_of(&err).as_deref(),
        Some("ga_inventory_within_capacity")
    );
}

#[tokio::test]
async fn concurrent_general_admission_holds_never_exceed_capacity() {
    let db = TestDb::migrated().await;
    let f = fixture(&db.pool, 1, 10).await;

    let attempts = (0..30).map(|_| {
        let pool = db.pool.clone();
        let ga = f.ga_type_id;
        tokio::spawn(async move {
            sqlx::query("update ga_inventory set held = held + 1 where ticket_type_id = $1")
                .bind(ga)
                .execute(&pool)
                .await
        })
    });
    let results = futures_join(attempts).await;

    let granted = results.iter().filter(|r| r.is_ok()).count();
    let (held, capacity): (i32, i32) =
        sqlx::query_as("select held, capacity from ga_inventory where ticket_type_id = $1")
            .bind(f.ga_type_id)
            .fetch_one(&db.pool)
            .await
            .expect("counters");
    assert_eq!((granted, held, capacity), (10, 10, 10));
}

#[tokio::test]
async fn lowering_capacity_below_what_is_held_and_sold_is_rejected() {
    let db = TestDb::migrated().await;
    let f = fixture(&db.pool, 1, 10).await;
    sqlx::query("update ga_inventory set held = 4, sold = 4 where ticket_type_id = $1")
        .bind(f.ga_type_id)
        .execute(&db.pool)
        .await
        .expect("arrange");

    let err = sqlx::query("update ticket_types set capacity = 7 where ticket_type_id = $1")
        .bind(f.ga_type_id)
        .execute(&db.pool)
        .await
        .expect_err("capacity below held + sold must fail");

    assert_eq!(
        constraint_of(&err).as_deref(),
        Some("ga_inventory_within_capacity")
    );
}

#[tokio::test]
async fn an_event_without_a_venue_is_rejected() {
    let db = TestDb::migrated().await;

    let no_venue = sqlx::query(
        "insert into events (title, category, genre, starts_at, ends_at, sale_starts_at, sale_ends_at)
         values ('Orphan', 'concert', 'rock', now(), now() + interval '1 hour', now() - interval '1 day', now())",
    )
    .execute(&db.pool)
    .await
    .expect_err("venue_id is required");
    let unknown_venue = sqlx::query(
        "insert into events (venue_id, title, category, genre, starts_at, ends_at, sale_starts_at, sale_ends_at)
         values (999999, 'Orphan', 'concert', 'rock', now(), now() + interval '1 hour', now() - interval '1 day', now())",
    )
    .execute(&db.pool)
    .await
    .expect_err("venue must exist");

    let code = |e: &sqlx::Error| {
        e.as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned())
    };
    assert_eq!(
        code(&no_venue).as_deref(),
        Some("23502"),
        "not_null_violation: {no_venue}"
    );
    assert_eq!(
        constraint_of(&unknown_venue).as_deref(),
        Some("events_venue_id_fkey")
    );
}

#[tokio::test]
async fn a_booking_is_charged_at_most_once() {
    let db = TestDb::migrated().await;
    let f = fixture(&db.pool, 1, 10).await;
    let b = booking(&db.pool, &f).await;
    let charge = |key: &'static str| {
        sqlx::query(
            "insert into payments (booking_id, kind, provider, idempotency_key, amount_cents, currency, status)
             values ($1, 'charge', 'sandbox', $2, 5000, 'EUR', 'succeeded')",
        )
        .bind(b)
        .bind(key)
        .execute(&db.pool)
    };

    charge("first").await.expect("first charge");
    let err = charge("second")
        .await
        .expect_err("second live charge must fail");

    assert_eq!(
        constraint_of(&err).as_deref(),
        Some("payments_one_live_charge")
    );
}

#[tokio::test]
async fn updated_at_is_maintained_by_a_trigger() {
    let db = TestDb::migrated().await;
    let f = fixture(&db.pool, 1, 10).await;
    sqlx::query("update events set updated_at = now() - interval '1 day' where event_id = $1")
        .bind(f.event_id)
        .execute(&db.pool)
        .await
        .expect("backdate (the trigger overrides even this)");
    let (created, updated): (chrono::DateTime<Utc>, chrono::DateTime<Utc>) =
        sqlx::query_as("select created_at, updated_at from events where event_id = $1")
            .bind(f.event_id)
            .fetch_one(&db.pool)
            .await
            .expect("read");
    assert!(
        updated >= created,
        "trigger sets updated_at to now(): {created} {updated}"
    );
}

#[tokio::test]
async fn every_table_has_a_primary_key_and_an_updated_at_trigger() {
    let db = TestDb::migrated().await;

    let without_pk: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind = 'r' and c.relname <> '_sqlx_migrations'
            and not exists (select 1 from pg_constraint p where p.conrelid = c.oid and p.contype = 'p')",
    )
    .fetch_all(&db.pool)
    .await
    .expect("catalog query");
    let without_trigger: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind = 'r' and c.relname <> '_sqlx_migrations'
            and not exists (select 1 from pg_trigger t join pg_proc p on p.oid = t.tgfoid
                             where t.tgrelid = c.oid and p.proname = 'set_updated_at')",
    )
    .fetch_all(&db.pool)
    .await
    .expect("catalog query");

    assert!(
        without_pk.is_empty(),
        "tables without a primary key: {without_pk:?}"
    );
    assert!(
        without_trigger.is_empty(),
        "tables without the updated_at trigger: {without_trigger:?}"
    );
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.expect("task completes"));
    }
    out
}
