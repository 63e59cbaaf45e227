//! Catalog rows for tests: an event on sale with a seat map, a seated tier
//! and a general-admission type; users and their tokens.

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

/// An event on sale at a one-section venue.
#[derive(Debug, Clone)]
pub struct OnSaleEvent {
    /// The event.
    pub event_id: i64,
    /// The venue's only section.
    pub section_id: i64,
    /// Seat ids row by row (row 0 nearest the stage), numbered 1.. left to right.
    pub rows: Vec<Vec<i64>>,
    /// The seated tier covering every seat.
    pub seated_type_id: i64,
    /// A general-admission type.
    pub ga_type_id: i64,
}

impl OnSaleEvent {
    /// Every seat id.
    pub fn seat_ids(&self) -> Vec<i64> {
        self.rows.iter().flatten().copied().collect()
    }
}

/// Creates a venue with `rows` x `per_row` seats and an event on sale there,
/// with its seat inventory materialized. Seated tier: 50.00 EUR; general
/// admission: 30.00 EUR, `ga_capacity` tickets.
pub async fn on_sale_event(
    pool: &PgPool,
    rows: i32,
    per_row: i32,
    ga_capacity: i32,
) -> OnSaleEvent {
    let venue_id: i64 = sqlx::query_scalar(
        "insert into venues (name, address, city, country, lat, lon)
         values ('Hall', '1 Main St', 'Dublin', 'IE', 53.35, -6.26) returning venue_id",
    )
    .fetch_one(pool)
    .await
    .expect("venue");
    let section_id: i64 = sqlx::query_scalar(
        "insert into venue_sections (venue_id, name) values ($1, 'Stalls') returning section_id",
    )
    .bind(venue_id)
    .fetch_one(pool)
    .await
    .expect("section");
    let mut seat_rows = Vec::new();
    for r in 0..rows {
        let row_id: i64 = sqlx::query_scalar(
            "insert into venue_rows (section_id, label, position) values ($1, $2, $3) returning row_id",
        )
        .bind(section_id)
        .bind(format!("R{}", r + 1))
        .bind(r)
        .fetch_one(pool)
        .await
        .expect("row");
        let seats: Vec<i64> = sqlx::query_scalar(
            "insert into seats (row_id, number, x, y)
             select $1, n, n * 10, $2 * 10 from generate_series(1, $3) n order by n returning seat_id",
        )
        .bind(row_id)
        .bind(r)
        .bind(per_row)
        .fetch_all(pool)
        .await
        .expect("seats");
        seat_rows.push(seats);
    }
    let event_id: i64 = sqlx::query_scalar(
        "insert into events (venue_id, title, category, genre, starts_at, ends_at, sale_starts_at, sale_ends_at)
         values ($1, 'Show', 'concert', 'rock', now() + interval '30 days', now() + interval '30 days 3 hours',
                 now() - interval '1 day', now() + interval '30 days')
         returning event_id",
    )
    .bind(venue_id)
    .fetch_one(pool)
    .await
    .expect("event");
    let seated_type_id: i64 = sqlx::query_scalar(
        "insert into ticket_types (event_id, name, kind, price_cents, currency)
         values ($1, 'Stalls', 'seated', 5000, 'EUR') returning ticket_type_id",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await
    .expect("seated type");
    sqlx::query("insert into ticket_type_sections (ticket_type_id, event_id, section_id) values ($1, $2, $3)")
        .bind(seated_type_id)
        .bind(event_id)
        .bind(section_id)
        .execute(pool)
        .await
        .expect("tier section");
    let all: Vec<i64> = seat_rows.iter().flatten().copied().collect();
    sqlx::query("insert into event_seats (event_id, seat_id, ticket_type_id) select $1, unnest($2::bigint[]), $3")
        .bind(event_id)
        .bind(&all)
        .bind(seated_type_id)
        .execute(pool)
        .await
        .expect("inventory");
    let ga_type_id: i64 = sqlx::query_scalar(
        "insert into ticket_types (event_id, name, kind, price_cents, currency, capacity)
         values ($1, 'Standing', 'general_admission', 3000, 'EUR', $2) returning ticket_type_id",
    )
    .bind(event_id)
    .bind(ga_capacity)
    .fetch_one(pool)
    .await
    .expect("ga type");
    OnSaleEvent {
        event_id,
        section_id,
        rows: seat_rows,
        seated_type_id,
        ga_type_id,
    }
}

/// A user with `role` ("user" or "admin").
pub async fn user(pool: &PgPool, role: &str) -> Uuid {
    sqlx::query_scalar("insert into users (email, display_name, role) values ($1, 'Test User', $2) returning user_id")
        .bind(format!("{}@example.test", Uuid::new_v4().simple()))
        .bind(role)
        .fetch_one(pool)
        .await
        .expect("user")
}

/// A bearer token for `user_id` signed with the test secret.
pub fn token(user_id: Uuid, role: auth::Role) -> String {
    auth::JwtKeys::new(&crate::test_secret())
        .mint(user_id, role, Utc::now(), chrono::Duration::hours(1))
        .expect("mints")
}

/// A booking row (EUR, payment pending for 10 minutes) for tests that put
/// seats in states directly.
pub async fn pending_booking(pool: &PgPool, user_id: Uuid, event_id: i64) -> Uuid {
    sqlx::query_scalar(
        "insert into bookings (user_id, event_id, currency, expires_at)
         values ($1, $2, 'EUR', now() + interval '10 minutes') returning booking_id",
    )
    .bind(user_id)
    .bind(event_id)
    .fetch_one(pool)
    .await
    .expect("booking")
}
