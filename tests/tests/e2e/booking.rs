//! The booking service over HTTP against real Postgres and Redis.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use auth::Role;
use e2e::fixtures::{self, OnSaleEvent};
use e2e::{Service, TestApp, TestDb, spawn_app_with};
use serde_json::{Value, json};
use uuid::Uuid;

const SUCCESS_CARD: &str = "4242 4242 4242 4242";
const DECLINE_CARD: &str = "4000 0000 0000 0002";

/// A booking service (sweeper off unless asked), an event on sale, a shopper.
struct Setup {
    app: TestApp,
    event: OnSaleEvent,
    token: String,
}

async fn setup(rows: i32, per_row: i32, ga: i32, extra: &[(&str, &str)]) -> Setup {
    let db = TestDb::migrated().await;
    let event = fixtures::on_sale_event(&db.pool, rows, per_row, ga).await;
    let user = fixtures::user(&db.pool, "user").await;
    let mut env = vec![("BOOKING_SWEEP_INTERVAL_MS", "0")];
    env.extend_from_slice(extra);
    let app = spawn_app_with(Service::Booking, db, &env).await;
    Setup {
        app,
        event,
        token: fixtures::token(user, Role::User),
    }
}

async fn new_shopper(app: &TestApp) -> String {
    fixtures::token(fixtures::user(&app.db.pool, "user").await, Role::User)
}

async fn post(
    app: &TestApp,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut request = app
        .http
        .post(format!("{}{path}", app.address))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("request reaches booking");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let response = app
        .http
        .get(format!("{}{path}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .expect("request reaches booking");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn hold(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let key = Uuid::new_v4().to_string();
    post(app, "/v1/bookings", token, Some(&key), &body).await
}

async fn confirm(app: &TestApp, token: &str, booking: &str, card: &str) -> (u16, Value) {
    post(
        app,
        &format!("/v1/bookings/{booking}/confirm"),
        token,
        None,
        &json!({"payment": {"card_number": card}}),
    )
    .await
}

async fn seat_states(app: &TestApp, event_id: i64, seats: &[i64]) -> Vec<String> {
    sqlx::query_scalar(
        "select status from event_seats where event_id = $1 and seat_id = any($2) order by seat_id",
    )
    .bind(event_id)
    .bind(seats)
    .fetch_all(&app.db.pool)
    .await
    .expect("seat states")
}

/// Makes a hold lapse, as if its time had passed.
async fn lapse(app: &TestApp, booking_id: &str) {
    let id = Uuid::parse_str(booking_id).expect("uuid");
    sqlx::query(
        "update bookings set expires_at = now() - interval '1 second' where booking_id = $1",
    )
    .bind(id)
    .execute(&app.db.pool)
    .await
    .expect("lapse booking");
    sqlx::query("update event_seats set held_until = now() - interval '1 second' where booking_id = $1 and status = 'held'")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .expect("lapse seats");
}

/// Holds explicit seats of the setup's event for `token`.
async fn hold_seats(s: &Setup, token: &str, seats: impl serde::Serialize) -> (u16, Value) {
    hold(
        &s.app,
        token,
        json!({"event_id": s.event.event_id, "seat_ids": seats}),
    )
    .await
}

fn id_of(body: &Value) -> String {
    body["booking_id"].as_str().expect("booking_id").to_owned()
}

#[tokio::test]
async fn holding_seats_returns_201_with_items_total_and_expiry() {
    let s = setup(1, 10, 10, &[]).await;
    let seats = &s.event.rows[0][2..4];

    let (status, body) = hold_seats(&s, &s.token, seats).await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "payment_pending");
    assert_eq!(body["total_cents"], 10_000);
    assert_eq!(body["currency"], "EUR");
    // The venue's zone, so a page can show the event's local time.
    assert_eq!(body["venue_timezone"], "UTC");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(body["items"][0]["seat"]["row"], "R1");
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(body["expires_at"].clone()).expect("expires_at");
    let minutes = (expires - chrono::Utc::now()).num_seconds() as f64 / 60.0;
    assert!(
        (9.5..=10.1).contains(&minutes),
        "default hold is 10 minutes, got {minutes}"
    );
    assert_eq!(
        seat_states(&s.app, s.event.event_id, seats).await,
        ["held", "held"]
    );
}

#[tokio::test]
async fn holding_a_held_seat_returns_409_naming_the_seat() {
    let s = setup(1, 10, 10, &[]).await;
    let other = new_shopper(&s.app).await;
    let seats = &s.event.rows[0][0..2];
    hold_seats(&s, &s.token, [seats[0]]).await;

    let (status, body) = hold_seats(&s, &other, seats).await;

    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "seats_unavailable");
    assert_eq!(body["unavailable_seat_ids"], json!([seats[0]]));
    // Named as a shopper reads them, not only by id.
    assert_eq!(
        body["unavailable_seats"],
        json!([{"seat_id": seats[0], "section": "Stalls", "row": "R1", "number": 1}])
    );
    assert_eq!(
        body["detail"],
        "Stalls, row R1, seat 1 is no longer available"
    );
    assert_eq!(
        seat_states(&s.app, s.event.event_id, &seats[1..]).await,
        ["available"]
    );
}

#[tokio::test]
async fn sixty_four_clients_racing_for_100_seats_on_two_instances_never_double_book() {
    let s = setup(4, 25, 10, &[]).await;
    let second = spawn_app_with(
        Service::Booking,
        reuse(&s.app.db),
        &[("BOOKING_SWEEP_INTERVAL_MS", "0")],
    )
    .await;
    let seats = s.event.seat_ids();
    let mut tokens = Vec::new();
    for _ in 0..64 {
        tokens.push(new_shopper(&s.app).await);
    }

    // Each client tries pairs of seats until it has tried 8 pairs; pairs
    // overlap heavily so most attempts collide.
    let mut tasks = Vec::new();
    for (c, token) in tokens.into_iter().enumerate() {
        let app = if c % 2 == 0 {
            s.app.address.clone()
        } else {
            second.address.clone()
        };
        let http = s.app.http.clone();
        let seats = seats.clone();
        let event_id = s.event.event_id;
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for attempt in 0..8 {
                let a = (c * 7 + attempt * 13) % seats.len();
                let b = (a + 1) % seats.len();
                let response = http
                    .post(format!("{app}/v1/bookings"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", Uuid::new_v4().to_string())
                    .json(&json!({"event_id": event_id, "seat_ids": [seats[a], seats[b]]}))
                    .send()
                    .await
                    .expect("request");
                let status = response.status().as_u16();
                assert!(status == 201 || status == 409, "unexpected {status}");
                if status == 201 {
                    won.push((seats[a], seats[b]));
                }
            }
            won
        }));
    }
    let mut won = Vec::new();
    for task in tasks {
        won.extend(task.await.expect("client"));
    }

    let mut sold = HashSet::new();
    for (a, b) in &won {
        assert!(
            sold.insert(*a) && sold.insert(*b),
            "a seat was granted twice"
        );
    }
    let doubled: i64 = sqlx::query_scalar(
        "select count(*) from (select seat_id from booking_items i join bookings b using (booking_id)
                                where b.status = 'payment_pending' group by seat_id having count(*) > 1) d",
    )
    .fetch_one(&s.app.db.pool)
    .await
    .expect("query");
    let held: i64 = sqlx::query_scalar(
        "select count(*) from event_seats where event_id = $1 and status = 'held'",
    )
    .bind(s.event.event_id)
    .fetch_one(&s.app.db.pool)
    .await
    .expect("query");
    assert_eq!(doubled, 0);
    assert_eq!(usize::try_from(held).ok(), Some(sold.len()));
    assert!(sold.len() >= 50, "most seats should sell: {}", sold.len());
}

/// A second handle on the same database (the owner drops it).
fn reuse(db: &TestDb) -> TestDb {
    TestDb::attach(db)
}

#[tokio::test]
async fn general_admission_is_never_oversold_across_two_instances() {
    let s = setup(1, 1, 25, &[]).await;
    let second = spawn_app_with(
        Service::Booking,
        reuse(&s.app.db),
        &[("BOOKING_SWEEP_INTERVAL_MS", "0")],
    )
    .await;
    let mut tasks = Vec::new();
    for c in 0..40 {
        let token = new_shopper(&s.app).await;
        let address = if c % 2 == 0 {
            s.app.address.clone()
        } else {
            second.address.clone()
        };
        let http = s.app.http.clone();
        let body = json!({"event_id": s.event.event_id, "ticket_type_id": s.event.ga_type_id, "quantity": 2});
        tasks.push(tokio::spawn(async move {
            http.post(format!("{address}/v1/bookings"))
                .bearer_auth(token)
                .header("Idempotency-Key", Uuid::new_v4().to_string())
                .json(&body)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }));
    }
    let mut granted = 0;
    for task in tasks {
        match task.await.expect("client") {
            201 => granted += 1,
            409 => {}
            other => panic!("unexpected status {other}"),
        }
    }

    let (held, capacity): (i32, i32) =
        sqlx::query_as("select held, capacity from ga_inventory where ticket_type_id = $1")
            .bind(s.event.ga_type_id)
            .fetch_one(&s.app.db.pool)
            .await
            .expect("counters");
    assert_eq!(granted, 12, "25 tickets in pairs: 12 bookings");
    assert_eq!((held, capacity), (24, 25));
}

#[tokio::test]
async fn a_replayed_idempotency_key_returns_the_first_response_and_another_body_gets_422() {
    let s = setup(1, 10, 10, &[]).await;
    let body = json!({"event_id": s.event.event_id, "seat_ids": [s.event.rows[0][0]]});

    let first = post(&s.app, "/v1/bookings", &s.token, Some("key-1"), &body).await;
    let replay = post(&s.app, "/v1/bookings", &s.token, Some("key-1"), &body).await;
    let other = post(
        &s.app,
        "/v1/bookings",
        &s.token,
        Some("key-1"),
        &json!({"event_id": s.event.event_id, "seat_ids": [s.event.rows[0][1]]}),
    )
    .await;

    assert_eq!(first.0, 201);
    assert_eq!(replay, first);
    assert_eq!(other.0, 422, "{}", other.1);
    assert_eq!(other.1["field"], "idempotency-key");
    let bookings: i64 = sqlx::query_scalar("select count(*) from bookings")
        .fetch_one(&s.app.db.pool)
        .await
        .expect("count");
    assert_eq!(bookings, 1);
}

#[tokio::test]
async fn an_expired_hold_is_free_for_others_before_any_sweeper_runs() {
    let s = setup(1, 4, 10, &[]).await;
    let other = new_shopper(&s.app).await;
    let seat = s.event.rows[0][0];
    let (_, first) = hold_seats(&s, &s.token, [seat]).await;
    lapse(&s.app, &id_of(&first)).await;

    let (status, body) = hold_seats(&s, &other, [seat]).await;

    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn confirming_an_expired_hold_is_409_and_charges_nothing() {
    let s = setup(1, 4, 10, &[]).await;
    let (_, held) = hold_seats(&s, &s.token, [s.event.rows[0][0]]).await;
    lapse(&s.app, &id_of(&held)).await;

    let (status, body) = confirm(&s.app, &s.token, &id_of(&held), SUCCESS_CARD).await;

    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "hold_expired");
    let payments: i64 = sqlx::query_scalar("select count(*) from payments")
        .fetch_one(&s.app.db.pool)
        .await
        .expect("count");
    assert_eq!(payments, 0);
    let (_, booking) = get(&s.app, &format!("/v1/bookings/{}", id_of(&held)), &s.token).await;
    assert_eq!(booking["status"], "expired");
}

#[tokio::test]
async fn the_sweeper_expires_lapsed_holds_and_releases_their_seats() {
    let s = setup(1, 4, 10, &[("BOOKING_SWEEP_INTERVAL_MS", "100")]).await;
    let seats = &s.event.rows[0][0..2];
    let (_, held) = hold_seats(&s, &s.token, seats).await;
    let (_, ga) = hold(
        &s.app,
        &s.token,
        json!({"event_id": s.event.event_id, "ticket_type_id": s.event.ga_type_id, "quantity": 3}),
    )
    .await;
    lapse(&s.app, &id_of(&held)).await;
    lapse(&s.app, &id_of(&ga)).await;

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = Value::Null;
    while Instant::now() < deadline {
        status = get(&s.app, &format!("/v1/bookings/{}", id_of(&ga)), &s.token)
            .await
            .1["status"]
            .clone();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(status, "expired");
    assert_eq!(
        get(&s.app, &format!("/v1/bookings/{}", id_of(&held)), &s.token)
            .await
            .1["status"],
        "expired"
    );
    assert_eq!(
        seat_states(&s.app, s.event.event_id, seats).await,
        ["available", "available"]
    );
    let held_ga: i32 =
        sqlx::query_scalar("select held from ga_inventory where ticket_type_id = $1")
            .bind(s.event.ga_type_id)
            .fetch_one(&s.app.db.pool)
            .await
            .expect("counter");
    assert_eq!(held_ga, 0);
    let expired_events: i64 =
        sqlx::query_scalar("select count(*) from outbox where event_type = 'booking.expired'")
            .fetch_one(&s.app.db.pool)
            .await
            .expect("outbox");
    assert_eq!(expired_events, 2);
}

#[tokio::test]
async fn paying_confirms_sells_the_seats_and_shows_tickets() {
    let s = setup(1, 4, 10, &[]).await;
    let seats = &s.event.rows[0][1..3];
    let (_, held) = hold_seats(&s, &s.token, seats).await;

    let (status, body) = confirm(&s.app, &s.token, &id_of(&held), SUCCESS_CARD).await;
    let again = confirm(&s.app, &s.token, &id_of(&held), SUCCESS_CARD).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "confirmed");
    assert_eq!(again.0, 200, "confirming twice is harmless");
    assert_eq!(
        seat_states(&s.app, s.event.event_id, seats).await,
        ["sold", "sold"]
    );
    let charges: i64 = sqlx::query_scalar(
        "select count(*) from payments where kind = 'charge' and status = 'succeeded'",
    )
    .fetch_one(&s.app.db.pool)
    .await
    .expect("count");
    assert_eq!(charges, 1);
    let (_, tickets) = get(&s.app, "/v1/me/tickets", &s.token).await;
    assert_eq!(tickets.as_array().map(Vec::len), Some(2), "{tickets}");
    assert_eq!(tickets[0]["event_title"], "Show");
    assert_eq!(tickets[0]["seat"]["row"], "R1");
    let (_, mine) = get(&s.app, "/v1/me/bookings", &s.token).await;
    assert_eq!(mine[0]["booking_id"], held["booking_id"]);
}

#[tokio::test]
async fn a_declined_card_keeps_the_hold_for_another_card_until_the_last_attempt() {
    let s = setup(1, 4, 10, &[]).await;
    let seats = &s.event.rows[0][0..2];
    let (_, held) = hold_seats(&s, &s.token, seats).await;
    let id = id_of(&held);
    let expires_at = held["expires_at"].clone();

    // A decline with attempts left: nothing charged, the seats stay held
    // (until the booking's own expiry, not the payment grace), and another
    // card pays.
    let (status, body) = confirm(&s.app, &s.token, &id, DECLINE_CARD).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "payment_declined");
    assert_eq!(body["field"], "payment.card_number");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("still held"),
        "{body}"
    );
    assert_eq!(
        seat_states(&s.app, s.event.event_id, seats).await,
        ["held", "held"]
    );
    let (_, view) = get(&s.app, &format!("/v1/bookings/{id}"), &s.token).await;
    assert_eq!(view["status"], "payment_pending");
    let held_until: Vec<bool> = sqlx::query_scalar(
        "select es.held_until = b.expires_at from event_seats es join bookings b on b.booking_id = es.booking_id
          where b.booking_id = $1::uuid",
    )
    .bind(&id)
    .fetch_all(&s.app.db.pool)
    .await
    .expect("held until");
    assert_eq!(held_until, [true, true], "the payment grace is taken back");
    assert_eq!(view["expires_at"], expires_at);

    let (status, paid) = confirm(&s.app, &s.token, &id, SUCCESS_CARD).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "confirmed");
    let charges: Vec<(String, String)> = sqlx::query_as(
        "select idempotency_key, status from payments where booking_id = $1::uuid order by created_at",
    )
    .bind(&id)
    .fetch_all(&s.app.db.pool)
    .await
    .expect("charges");
    assert_eq!(
        charges,
        [
            (format!("charge-{id}"), "declined".to_owned()),
            (format!("charge-{id}-2"), "succeeded".to_owned())
        ]
    );

    // Three declines in all: the last rejects the booking and releases.
    let (_, other) = hold_seats(&s, &s.token, &s.event.rows[0][2..4]).await;
    let other_id = id_of(&other);
    for attempt in 1..=3 {
        let (status, body) = confirm(&s.app, &s.token, &other_id, DECLINE_CARD).await;
        assert_eq!(status, 409, "attempt {attempt}: {body}");
        assert_eq!(body["code"], "payment_declined");
    }
    assert_eq!(
        seat_states(&s.app, s.event.event_id, &s.event.rows[0][2..4]).await,
        ["available", "available"]
    );
    assert_eq!(
        get(&s.app, &format!("/v1/bookings/{other_id}"), &s.token)
            .await
            .1["status"],
        "rejected"
    );
}

#[tokio::test]
async fn a_mistyped_card_number_is_refused_by_its_check_digit_before_any_charge() {
    let s = setup(1, 4, 10, &[]).await;
    let (_, held) = hold_seats(&s, &s.token, &s.event.rows[0][0..1]).await;
    let id = id_of(&held);

    // 4242 4242 4242 4241: one digit off the success card.
    let (status, body) = confirm(&s.app, &s.token, &id, "4242 4242 4242 4241").await;

    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "payment.card_number");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("mistyped"),
        "{body}"
    );
    let charges: i64 =
        sqlx::query_scalar("select count(*) from payments where booking_id = $1::uuid")
            .bind(&id)
            .fetch_one(&s.app.db.pool)
            .await
            .expect("count");
    assert_eq!(charges, 0, "nothing reached the provider");
    let (status, paid) = confirm(&s.app, &s.token, &id, SUCCESS_CARD).await;
    assert_eq!((status, paid["status"].clone()), (200, json!("confirmed")));
}

#[tokio::test]
async fn cancelling_a_pending_booking_releases_and_a_confirmed_one_refunds() {
    let s = setup(1, 4, 10, &[]).await;
    let (_, pending) = hold_seats(&s, &s.token, [s.event.rows[0][0]]).await;
    let (_, paid) = hold(
        &s.app,
        &s.token,
        json!({"event_id": s.event.event_id, "ticket_type_id": s.event.ga_type_id, "quantity": 2}),
    )
    .await;
    confirm(&s.app, &s.token, &id_of(&paid), SUCCESS_CARD).await;

    let (a, cancelled_pending) = post(
        &s.app,
        &format!("/v1/bookings/{}/cancel", id_of(&pending)),
        &s.token,
        None,
        &json!({}),
    )
    .await;
    let (b, cancelled_paid) = post(
        &s.app,
        &format!("/v1/bookings/{}/cancel", id_of(&paid)),
        &s.token,
        None,
        &json!({}),
    )
    .await;

    assert_eq!((a, b), (200, 200), "{cancelled_pending} {cancelled_paid}");
    assert_eq!(cancelled_pending["status"], "cancelled");
    assert_eq!(cancelled_paid["status"], "cancelled");
    assert_eq!(
        seat_states(&s.app, s.event.event_id, &[s.event.rows[0][0]]).await,
        ["available"]
    );
    let (held, sold): (i32, i32) =
        sqlx::query_as("select held, sold from ga_inventory where ticket_type_id = $1")
            .bind(s.event.ga_type_id)
            .fetch_one(&s.app.db.pool)
            .await
            .expect("counter");
    assert_eq!((held, sold), (0, 0));
    let refunds: i64 = sqlx::query_scalar(
        "select count(*) from payments where kind = 'refund' and status = 'succeeded'",
    )
    .fetch_one(&s.app.db.pool)
    .await
    .expect("count");
    assert_eq!(refunds, 1);
}

#[tokio::test]
async fn another_users_booking_is_404() {
    let s = setup(1, 4, 10, &[]).await;
    let stranger = new_shopper(&s.app).await;
    let (_, held) = hold_seats(&s, &s.token, [s.event.rows[0][0]]).await;

    let (get_status, _) = get(&s.app, &format!("/v1/bookings/{}", id_of(&held)), &stranger).await;
    let (confirm_status, _) = confirm(&s.app, &stranger, &id_of(&held), SUCCESS_CARD).await;
    let admin = fixtures::token(fixtures::user(&s.app.db.pool, "admin").await, Role::Admin);
    let (admin_status, _) = get(&s.app, &format!("/v1/bookings/{}", id_of(&held)), &admin).await;

    assert_eq!((get_status, confirm_status, admin_status), (404, 404, 200));
}

#[tokio::test]
async fn best_available_picks_adjacent_seats_in_the_best_row_that_fits_and_fails_cleanly() {
    // Row 1 (nearest) has seats 4 and 7 taken: no run of 4 left in it.
    let s = setup(3, 10, 10, &[]).await;
    let other = new_shopper(&s.app).await;
    hold_seats(&s, &other, [s.event.rows[0][3], s.event.rows[0][6]]).await;

    let (status, body) = hold(
        &s.app,
        &s.token,
        json!({"event_id": s.event.event_id, "best_available": {"ticket_type_id": s.event.seated_type_id, "quantity": 4, "adjacent": true}}),
    )
    .await;
    let (too_many, refused) = hold(
        &s.app,
        &s.token,
        json!({"event_id": s.event.event_id, "best_available": {"section_id": s.event.section_id, "quantity": 11}}),
    )
    .await;

    assert_eq!(status, 201, "{body}");
    let picked: Vec<i64> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["seat"]["seat_id"].as_i64().expect("seat"))
        .collect();
    // Row 2, the 4 seats around its centre (numbers 4-7 of 1-10: centred on 5.5).
    assert_eq!(picked, s.event.rows[1][3..7].to_vec());
    assert!(
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["seat"]["row"] == "R2")
    );
    assert_eq!(too_many, 400, "over the per-booking limit: {refused}");
    let (none_status, none) = hold(
        &s.app,
        &new_shopper(&s.app).await,
        json!({"event_id": s.event.event_id, "best_available": {"section_id": s.event.section_id, "quantity": 8}}),
    )
    .await;
    // Rows 2 and 3 still have 6 and 10 free; 8 adjacent fit only in row 3.
    assert_eq!(none_status, 201, "{none}");
    let (no_fit, problem) = hold(
        &s.app,
        &new_shopper(&s.app).await,
        json!({"event_id": s.event.event_id, "best_available": {"section_id": s.event.section_id, "quantity": 7}}),
    )
    .await;
    assert_eq!(no_fit, 409, "{problem}");
    assert_eq!(problem["code"], "seats_unavailable");
}

/// Marks seats as wheelchair spaces.
async fn make_accessible(s: &Setup, seats: &[i64]) {
    sqlx::query("update seats set accessible = true where seat_id = any($1)")
        .bind(seats)
        .execute(&s.app.db.pool)
        .await
        .expect("accessible seats");
}

fn held_seat_ids(body: &Value) -> Vec<i64> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["seat"]["seat_id"].as_i64().expect("seat"))
        .collect()
}

#[tokio::test]
async fn best_available_can_ask_for_a_wheelchair_space_with_companion_seats() {
    let s = setup(3, 10, 10, &[]).await;
    let accessible = |quantity: i32| json!({"event_id": s.event.event_id, "best_available": {"ticket_type_id": s.event.seated_type_id, "quantity": quantity, "accessible": true}});
    // Spaces at the start of row 2 and the end of row 3; row 2's seat 2 is
    // taken, so the space there has no companion seat beside it.
    make_accessible(&s, &[s.event.rows[1][0], s.event.rows[2][9]]).await;
    hold_seats(&s, &new_shopper(&s.app).await, [s.event.rows[1][1]]).await;
    let (status, body) = hold(&s.app, &s.token, accessible(2)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(held_seat_ids(&body), s.event.rows[2][8..10].to_vec());
    // One seat: row 2's space, the better row.
    let (status, body) = hold(&s.app, &new_shopper(&s.app).await, accessible(1)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(held_seat_ids(&body), [s.event.rows[1][0]]);
    // None left: 409 that says so and names the option.
    let (status, problem) = hold(&s.app, &new_shopper(&s.app).await, accessible(2)).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "seats_unavailable");
    assert_eq!(problem["field"], "best_available.accessible");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("wheelchair"),
        "{problem}"
    );
    // A section without wheelchair spaces: 400 naming the option.
    add_section(&s, "Circle", 1, "C", 2, 6).await;
    let circle: i64 =
        sqlx::query_scalar("select section_id from venue_sections where name = 'Circle'")
            .fetch_one(&s.app.db.pool)
            .await
            .expect("circle");
    let (status, problem) = hold(
        &s.app,
        &new_shopper(&s.app).await,
        json!({"event_id": s.event.event_id, "best_available": {"section_id": circle, "quantity": 2, "accessible": true}}),
    )
    .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["field"], "best_available.accessible");
    // A plain request is unaffected: the best row with room, row 1.
    let (status, body) = hold(
        &s.app,
        &new_shopper(&s.app).await,
        json!({"event_id": s.event.event_id, "best_available": {"ticket_type_id": s.event.seated_type_id, "quantity": 2}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        held_seat_ids(&body)
            .iter()
            .all(|id| s.event.rows[0].contains(id))
    );
}

#[tokio::test]
async fn racing_wheelchair_requests_never_share_a_seat() {
    // Six rows, a wheelchair space at the start of each: six pairs at most.
    let s = setup(6, 8, 10, &[]).await;
    let spaces: Vec<i64> = s.event.rows.iter().map(|r| r[0]).collect();
    make_accessible(&s, &spaces).await;
    let mut tokens = Vec::new();
    for _ in 0..16 {
        tokens.push(new_shopper(&s.app).await);
    }
    let body = json!({"event_id": s.event.event_id, "best_available": {"ticket_type_id": s.event.seated_type_id, "quantity": 2, "accessible": true}});
    // All at once, so they land in the same and overlapping batches.
    let answers = futures_util::future::join_all(
        tokens.iter().map(|token| hold(&s.app, token, body.clone())),
    )
    .await;
    let mut held: Vec<i64> = Vec::new();
    let mut wins = 0;
    for (status, body) in answers {
        match status {
            201 => {
                let seats = held_seat_ids(&body);
                assert_eq!(seats.len(), 2);
                assert!(seats.iter().any(|id| spaces.contains(id)), "{body}");
                held.extend(seats);
                wins += 1;
            }
            409 => assert_eq!(body["code"], "seats_unavailable", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let distinct: std::collections::BTreeSet<i64> = held.iter().copied().collect();
    assert_eq!(distinct.len(), held.len(), "no seat held twice: {held:?}");
    assert_eq!(
        wins, 6,
        "every space was sold once, with its companion seat"
    );
    let in_db: i64 = sqlx::query_scalar(
        "select count(*) from event_seats where event_id = $1 and status = 'held'",
    )
    .bind(s.event.event_id)
    .fetch_one(&s.app.db.pool)
    .await
    .expect("count");
    assert_eq!(in_db, 12);
}

/// Adds a section of `rows` rows of `per_row` seats to the event's venue,
/// priced by the event's seated tier and on sale; row labels are
/// `{prefix}1`, `{prefix}2`, ...
async fn add_section(s: &Setup, name: &str, rank: i32, prefix: &str, rows: i32, per_row: i32) {
    let pool = &s.app.db.pool;
    let section_id: i64 = sqlx::query_scalar(
        "insert into venue_sections (venue_id, name, rank)
         select venue_id, $2, $3 from events where event_id = $1 returning section_id",
    )
    .bind(s.event.event_id)
    .bind(name)
    .bind(rank)
    .fetch_one(pool)
    .await
    .expect("section");
    sqlx::query(
        "with r as (
             insert into venue_rows (section_id, label, position)
             select $1, $2 || p, p - 1 from generate_series(1, $3) p returning row_id, position)
         insert into seats (row_id, number, x, y)
         select row_id, n, n * 10, position * 10 from r, generate_series(1, $4) n",
    )
    .bind(section_id)
    .bind(prefix)
    .bind(rows)
    .bind(per_row)
    .execute(pool)
    .await
    .expect("rows and seats");
    sqlx::query("insert into ticket_type_sections (ticket_type_id, event_id, section_id) values ($1, $2, $3)")
        .bind(s.event.seated_type_id)
        .bind(s.event.event_id)
        .bind(section_id)
        .execute(pool)
        .await
        .expect("tier section");
    sqlx::query(
        "insert into event_seats (event_id, seat_id, ticket_type_id)
         select $1, s.seat_id, $2 from seats s join venue_rows r using (row_id) where r.section_id = $3",
    )
    .bind(s.event.event_id)
    .bind(s.event.seated_type_id)
    .bind(section_id)
    .execute(pool)
    .await
    .expect("inventory");
}

#[tokio::test]
async fn best_available_ranks_by_section_rank_then_row_position_across_sections() {
    // Stalls (rank 0, from the fixture) and Circle (rank 0) have two rows of
    // 4; Gallery (rank 1) one. The front rows of both rank-0 sections come
    // before either's second row; Gallery comes last. Seat ids of one scan
    // chunk are therefore not consecutive.
    let s = setup(2, 4, 10, &[]).await;
    add_section(&s, "Circle", 0, "C", 2, 4).await;
    add_section(&s, "Gallery", 1, "G", 1, 4).await;
    let best = json!({"event_id": s.event.event_id, "best_available": {"ticket_type_id": s.event.seated_type_id, "quantity": 4, "adjacent": true}});

    let mut picked = Vec::new();
    for _ in 0..5 {
        let (status, body) = hold(&s.app, &new_shopper(&s.app).await, best.clone()).await;
        assert_eq!(status, 201, "{body}");
        let rows: HashSet<(String, String)> = body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| {
                let seat = &i["seat"];
                (seat["section"].to_string(), seat["row"].to_string())
            })
            .collect();
        assert_eq!(rows.len(), 1, "four seats in one row: {body}");
        picked.extend(rows);
    }
    let (sold_out, problem) = hold(&s.app, &new_shopper(&s.app).await, best).await;

    let expected = [
        ("Stalls", "R1"),
        ("Circle", "C1"),
        ("Stalls", "R2"),
        ("Circle", "C2"),
        ("Gallery", "G1"),
    ]
    .map(|(section, row)| (format!("{section:?}"), format!("{row:?}")));
    assert_eq!(picked, expected.to_vec());
    assert_eq!(sold_out, 409, "{problem}");
    assert_eq!(problem["code"], "seats_unavailable");
}

#[tokio::test]
async fn best_available_finds_seats_released_in_better_rows_again() {
    // 60 rows of 20: scan chunks of 13 rows; the first fifty rows are sold.
    let s = setup(60, 20, 10, &[]).await;
    let pool = &s.app.db.pool;
    let buyer = fixtures::user(pool, "user").await;
    let booking: Uuid = sqlx::query_scalar(
        "insert into bookings (user_id, event_id, status, currency, expires_at)
         values ($1, $2, 'confirmed', 'EUR', now()) returning booking_id",
    )
    .bind(buyer)
    .bind(s.event.event_id)
    .fetch_one(pool)
    .await
    .expect("booking");
    let first_chunk: Vec<i64> = s.event.rows[..50].iter().flatten().copied().collect();
    sqlx::query("update event_seats set status = 'sold', booking_id = $1 where event_id = $2 and seat_id = any($3)")
        .bind(booking)
        .bind(s.event.event_id)
        .bind(&first_chunk)
        .execute(pool)
        .await
        .expect("sell the first fifty rows");
    let best = json!({"event_id": s.event.event_id, "best_available": {"ticket_type_id": s.event.seated_type_id, "quantity": 2}});
    let row_of = |body: &Value| {
        body["items"][0]["seat"]["row"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    let (status, body) = hold(&s.app, &new_shopper(&s.app).await, best.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(row_of(&body), "R51");

    // Row 1 comes free again (a refund, say).
    sqlx::query("update event_seats set status = 'available', booking_id = null where event_id = $1 and seat_id = any($2)")
        .bind(s.event.event_id)
        .bind(&s.event.rows[0])
        .execute(pool)
        .await
        .expect("release row 1");
    // Once the scan hint is stale a background rescan finds row 1; holds
    // meanwhile still succeed from the hint.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = hold(&s.app, &new_shopper(&s.app).await, best.clone()).await;
        assert_eq!(status, 201, "{body}");
        if row_of(&body) == "R1" {
            break;
        }
        assert!(Instant::now() < deadline, "row 1 was never offered again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn bad_input_gets_problem_json_naming_the_field() {
    let s = setup(1, 4, 10, &[]).await;
    let other = {
        let db = &s.app.db.pool;
        fixtures::on_sale_event(db, 1, 2, 5).await
    };
    let e = s.event.event_id;
    let cases: Vec<(Option<&str>, Value, u16, &str)> = vec![
        (
            None,
            json!({"event_id": e, "seat_ids": [s.event.rows[0][0]]}),
            400,
            "idempotency-key",
        ),
        (
            Some("k"),
            json!({"event_id": e, "seat_ids": [s.event.rows[0][0]], "quantity": 1}),
            400,
            "quantity",
        ),
        (
            Some("k"),
            json!({"event_id": e, "ticket_type_id": s.event.ga_type_id, "quantity": 0}),
            400,
            "quantity",
        ),
        (
            Some("k"),
            json!({"event_id": e, "ticket_type_id": s.event.ga_type_id, "quantity": 99}),
            400,
            "quantity",
        ),
        (
            Some("k"),
            json!({"event_id": e, "seat_ids": [other.rows[0][0]]}),
            400,
            "seat_ids",
        ),
        (
            Some("k"),
            json!({"event_id": 999_999, "seat_ids": [1]}),
            400,
            "event_id",
        ),
        (
            Some("k"),
            json!({"event_id": "seven", "seat_ids": [1]}),
            400,
            "event_id",
        ),
        (
            Some("k"),
            json!({"event_id": e, "ticket_type_id": s.event.seated_type_id, "quantity": 1}),
            400,
            "ticket_type_id",
        ),
    ];
    for (key, body, status, field) in cases {
        let (got, problem) = post(&s.app, "/v1/bookings", &s.token, key, &body).await;
        assert_eq!(
            (got, problem["field"].as_str()),
            (status, Some(field)),
            "{body} -> {problem}"
        );
    }

    let malformed = s
        .app
        .http
        .post(format!("{}/v1/bookings", s.app.address))
        .bearer_auth(&s.token)
        .header("Idempotency-Key", "m")
        .header("content-type", "application/json")
        .body("{\"event_id\": 1,")
        .send()
        .await
        .expect("request");
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.headers()["content-type"],
        "application/problem+json"
    );
    let unauthenticated = post(&s.app, "/v1/bookings", "not-a-token", Some("k"), &json!({})).await;
    assert_eq!(unauthenticated.0, 401);
}

const SLOW_CARD: &str = "4000 0000 0000 0077";

#[tokio::test]
async fn concurrent_confirms_charge_once_and_count_the_sale_once() {
    let s = setup(1, 4, 10, &[("SANDBOX_SLOW_CARD_MS", "400")]).await;
    let (_, held) = hold(
        &s.app,
        &s.token,
        json!({"event_id": s.event.event_id, "ticket_type_id": s.event.ga_type_id, "quantity": 3}),
    )
    .await;
    let id = id_of(&held);

    let (a, b) = tokio::join!(
        confirm(&s.app, &s.token, &id, SLOW_CARD),
        confirm(&s.app, &s.token, &id, SLOW_CARD)
    );

    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
    let (held_ga, sold): (i32, i32) =
        sqlx::query_as("select held, sold from ga_inventory where ticket_type_id = $1")
            .bind(s.event.ga_type_id)
            .fetch_one(&s.app.db.pool)
            .await
            .expect("counter");
    assert_eq!((held_ga, sold), (0, 3));
    let charges: i64 = sqlx::query_scalar("select count(*) from payments where kind = 'charge'")
        .fetch_one(&s.app.db.pool)
        .await
        .expect("count");
    let confirmed: i64 =
        sqlx::query_scalar("select count(*) from outbox where event_type = 'booking.confirmed'")
            .fetch_one(&s.app.db.pool)
            .await
            .expect("count");
    assert_eq!((charges, confirmed), (1, 1));
}

#[tokio::test]
async fn a_charge_that_outlives_its_seats_is_refunded_not_confirmed() {
    let s = setup(1, 4, 10, &[("SANDBOX_SLOW_CARD_MS", "1500")]).await;
    let other = new_shopper(&s.app).await;
    let seat = s.event.rows[0][0];
    let (_, held) = hold_seats(&s, &s.token, [seat]).await;
    let id = id_of(&held);

    // While the slow charge runs, the seat's hold (and its grace) lapses and
    // another buyer takes it.
    let paying = {
        let (http, address, token, id) = (
            s.app.http.clone(),
            s.app.address.clone(),
            s.token.clone(),
            id.clone(),
        );
        tokio::spawn(async move {
            let response = http
                .post(format!("{address}/v1/bookings/{id}/confirm"))
                .bearer_auth(token)
                .json(&json!({"payment": {"card_number": SLOW_CARD}}))
                .send()
                .await
                .expect("confirm");
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let pending: i64 =
            sqlx::query_scalar("select count(*) from payments where status = 'pending'")
                .fetch_one(&s.app.db.pool)
                .await
                .expect("count");
        if pending == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lapse(&s.app, &id).await;
    let (taken, _) = hold_seats(&s, &other, [seat]).await;
    let (status, body) = paying.await.expect("confirm task");

    assert_eq!(taken, 201);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "hold_expired");
    let kinds: Vec<(String, String)> =
        sqlx::query_as("select kind, status from payments order by created_at")
            .fetch_all(&s.app.db.pool)
            .await
            .expect("payments");
    assert_eq!(
        kinds,
        [
            ("charge".to_owned(), "succeeded".to_owned()),
            ("refund".to_owned(), "succeeded".to_owned())
        ]
    );
    assert_eq!(
        get(&s.app, &format!("/v1/bookings/{id}"), &s.token).await.1["status"],
        "rejected"
    );
    assert_eq!(
        seat_states(&s.app, s.event.event_id, &[seat]).await,
        ["held"],
        "the other buyer keeps the seat"
    );
}

#[tokio::test]
async fn an_abandoned_charge_is_resolved_and_its_hold_then_expires() {
    let s = setup(1, 4, 10, &[("BOOKING_SWEEP_INTERVAL_MS", "100")]).await;
    let seat = s.event.rows[0][0];
    let (_, held) = hold_seats(&s, &s.token, [seat]).await;
    let id = Uuid::parse_str(&id_of(&held)).expect("uuid");
    // A confirm that recorded its charge ten minutes ago and then died
    // before the provider ever saw it.
    sqlx::query(
        "insert into payments (booking_id, kind, provider, idempotency_key, amount_cents, currency, created_at, updated_at)
         values ($1, 'charge', 'sandbox', 'charge-' || $1::text, 5000, 'EUR', now() - interval '10 minutes', now() - interval '10 minutes')",
    )
    .bind(id)
    .execute(&s.app.db.pool)
    .await
    .expect("pending charge");
    lapse(&s.app, &id.to_string()).await;

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = Value::Null;
    while Instant::now() < deadline {
        status = get(&s.app, &format!("/v1/bookings/{id}"), &s.token).await.1["status"].clone();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(status, "expired");
    let payment: (String, Option<String>) =
        sqlx::query_as("select status, failure_code from payments where booking_id = $1")
            .bind(id)
            .fetch_one(&s.app.db.pool)
            .await
            .expect("payment");
    assert_eq!(payment, ("failed".to_owned(), Some("abandoned".to_owned())));
    assert_eq!(
        seat_states(&s.app, s.event.event_id, &[seat]).await,
        ["available"]
    );
}

/// The test's booking-events stream (the harness sets `CACHE_NAMESPACE` to
/// the database's name).
async fn stream_of(app: &TestApp) -> String {
    let database: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&app.db.pool)
        .await
        .expect("database name");
    booking::outbox::stream(&database)
}

/// Entries of `stream` for `bookings`, in stream order: (outbox id, type,
/// booking id, payload).
async fn stream_entries(
    stream: &str,
    bookings: &HashSet<String>,
) -> Vec<(i64, String, String, Value)> {
    let mut conn = e2e::redis_connection().await;
    let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("xrange");
    entries
        .into_iter()
        .filter_map(|(_, fields)| {
            let field = |name: &str| {
                fields
                    .chunks(2)
                    .find(|kv| kv[0] == name)
                    .map(|kv| kv[1].clone())
                    .unwrap_or_default()
            };
            let booking = field("booking_id");
            bookings.contains(&booking).then(|| {
                (
                    field("outbox_id").parse().expect("outbox id"),
                    field("type"),
                    booking,
                    serde_json::from_str(&field("payload")).expect("payload json"),
                )
            })
        })
        .collect()
}

/// Waits until every outbox row of the test database is published.
async fn wait_published(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 =
            sqlx::query_scalar("select count(*) from outbox where published_at is null")
                .fetch_one(&app.db.pool)
                .await
                .expect("count");
        if left == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{left} outbox rows never published"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn booking_events_reach_the_redis_stream_in_order_once_each_from_two_relays() {
    let relay = [("BOOKING_OUTBOX_INTERVAL_MS", "20")];
    let s = setup(2, 10, 10, &relay).await;
    let second = spawn_app_with(
        Service::Booking,
        reuse(&s.app.db),
        &[relay[0], ("BOOKING_SWEEP_INTERVAL_MS", "0")],
    )
    .await;
    let (_, paid) = hold_seats(&s, &s.token, [s.event.rows[0][0]]).await;
    confirm(&s.app, &s.token, &id_of(&paid), SUCCESS_CARD).await;
    let (_, dropped) = hold_seats(&s, &s.token, [s.event.rows[0][1]]).await;
    post(
        &second,
        &format!("/v1/bookings/{}/cancel", id_of(&dropped)),
        &s.token,
        None,
        &json!({}),
    )
    .await;
    // More holds, on both instances, while both relays run.
    let mut ids: HashSet<String> = [id_of(&paid), id_of(&dropped)].into();
    for seat in &s.event.rows[1] {
        let token = new_shopper(&s.app).await;
        let app = if seat % 2 == 0 { &s.app } else { &second };
        let (status, body) = hold(
            app,
            &token,
            json!({"event_id": s.event.event_id, "seat_ids": [seat]}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        ids.insert(id_of(&body));
    }

    wait_published(&s.app).await;
    let entries = stream_entries(&stream_of(&s.app).await, &ids).await;

    let rows: Vec<i64> = sqlx::query_scalar("select outbox_id from outbox order by outbox_id")
        .fetch_all(&s.app.db.pool)
        .await
        .expect("outbox");
    let mut sent: Vec<i64> = entries.iter().map(|e| e.0).collect();
    sent.sort_unstable();
    // Delivery is at least once; with no failure in the run, each row is
    // sent once although two relays race for it.
    assert_eq!(sent, rows, "every outbox row exactly once");
    let of = |booking: &str| -> Vec<(String, Value)> {
        entries
            .iter()
            .filter(|e| e.2 == booking)
            .map(|e| (e.1.clone(), e.3["status"].clone()))
            .collect()
    };
    assert_eq!(
        of(&id_of(&paid)),
        [
            ("booking.created".to_owned(), json!("payment_pending")),
            ("booking.confirmed".to_owned(), json!("confirmed")),
        ]
    );
    assert_eq!(
        of(&id_of(&dropped)),
        [
            ("booking.created".to_owned(), json!("payment_pending")),
            ("booking.cancelled".to_owned(), json!("cancelled")),
        ]
    );
    let created = entries
        .iter()
        .find(|e| e.2 == id_of(&paid))
        .map(|e| e.3.clone())
        .unwrap_or_default();
    assert_eq!(created["booking_id"], paid["booking_id"]);
    assert_eq!(created["event_id"], s.event.event_id);
    assert_eq!(created["total_cents"], 5000);
}

#[tokio::test]
async fn an_outbox_relay_skips_its_round_while_another_holds_the_relay_lock() {
    let s = setup(1, 4, 10, &[("BOOKING_OUTBOX_INTERVAL_MS", "0")]).await;
    let (status, held) = hold_seats(&s, &s.token, [s.event.rows[0][0]]).await;
    assert_eq!(status, 201, "{held}");
    let pool = &s.app.db.pool;
    let stream = stream_of(&s.app).await;
    let mut redis = e2e::redis_connection().await;

    let mut other = pool.begin().await.expect("begin");
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(booking::outbox::RELAY_LOCK)
        .execute(&mut *other)
        .await
        .expect("take the relay lock");
    let while_held = booking::outbox::relay_once(pool, &mut redis, &stream)
        .await
        .expect("round");
    other.rollback().await.expect("release");
    let after = booking::outbox::relay_once(pool, &mut redis, &stream)
        .await
        .expect("round");
    let again = booking::outbox::relay_once(pool, &mut redis, &stream)
        .await
        .expect("round");

    assert_eq!(while_held, None, "another relay holds the lock");
    assert_eq!(after, Some(1), "the booking.created row");
    assert_eq!(again, Some(0), "nothing left");
    let entries = stream_entries(&stream, &[id_of(&held)].into()).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].1, "booking.created");
}

// Strong customer authentication: the sandbox's challenge card.

const CHALLENGE_CARD: &str = "4000 0027 6000 3184";

async fn answer_challenge(
    app: &TestApp,
    token: &str,
    booking: &str,
    challenge: &str,
    response: &str,
) -> (u16, Value) {
    post(
        app,
        &format!("/v1/bookings/{booking}/challenge"),
        token,
        None,
        &json!({"challenge_id": challenge, "response": response}),
    )
    .await
}

async fn charges_of(app: &TestApp, booking: &str) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as(
        "select idempotency_key, status, failure_code from payments
          where booking_id = $1::uuid and kind = 'charge' order by created_at",
    )
    .bind(booking)
    .fetch_all(&app.db.pool)
    .await
    .expect("charges")
}

/// Confirms with the challenge card and returns the challenge's id.
async fn challenged(app: &TestApp, token: &str, booking: &str) -> String {
    let (status, body) = confirm(app, token, booking, CHALLENGE_CARD).await;
    assert_eq!(status, 202, "{body}");
    body["challenge"]["challenge_id"]
        .as_str()
        .expect("challenge_id")
        .to_owned()
}

#[tokio::test]
async fn the_challenge_card_asks_the_bank_first_and_an_approved_challenge_confirms_once() {
    let s = setup(1, 4, 10, &[]).await;
    let seats = &s.event.rows[0][0..2];
    let (_, held) = hold_seats(&s, &s.token, seats).await;
    let id = id_of(&held);

    let (status, asked) = confirm(&s.app, &s.token, &id, CHALLENGE_CARD).await;
    let (again_status, again) = confirm(&s.app, &s.token, &id, CHALLENGE_CARD).await;
    let (_, view) = get(&s.app, &format!("/v1/bookings/{id}"), &s.token).await;

    // 202: nothing charged yet, the seats held until the hold's own expiry.
    assert_eq!(status, 202, "{asked}");
    assert_eq!(asked["status"], "requires_action");
    assert_eq!(asked["booking"]["status"], "payment_pending");
    assert_eq!(asked["challenge"]["expires_at"], held["expires_at"]);
    assert_eq!(asked["challenge"]["redirect_url"], Value::Null);
    let challenge = asked["challenge"]["challenge_id"].as_str().expect("id");
    assert!(challenge.starts_with("sb_3ds_"), "{asked}");
    assert_eq!(
        (again_status, &again["challenge"]),
        (202, &asked["challenge"])
    );
    assert_eq!(view["payment_challenge"], asked["challenge"]);
    assert_eq!(
        charges_of(&s.app, &id).await,
        [(format!("charge-{id}"), "requires_action".to_owned(), None)]
    );
    let grace_taken_back: Vec<bool> = sqlx::query_scalar(
        "select es.held_until = b.expires_at from event_seats es join bookings b on b.booking_id = es.booking_id
          where b.booking_id = $1::uuid",
    )
    .bind(&id)
    .fetch_all(&s.app.db.pool)
    .await
    .expect("held until");
    assert_eq!(grace_taken_back, [true, true]);

    let (status, paid) = answer_challenge(&s.app, &s.token, &id, challenge, "approve").await;
    let (retry_status, retried) = answer_challenge(&s.app, &s.token, &id, challenge, "deny").await;

    assert_eq!(
        (status, &paid["status"]),
        (200, &json!("confirmed")),
        "{paid}"
    );
    assert_eq!(paid["payment_challenge"], Value::Null);
    assert_eq!(
        (retry_status, &retried["status"]),
        (200, &json!("confirmed"))
    );
    assert_eq!(
        seat_states(&s.app, s.event.event_id, seats).await,
        ["sold", "sold"]
    );
    assert_eq!(
        charges_of(&s.app, &id).await,
        [(format!("charge-{id}"), "succeeded".to_owned(), None)]
    );
}

#[tokio::test]
async fn a_denied_challenge_is_a_decline_that_keeps_the_hold_for_another_card() {
    let s = setup(1, 4, 10, &[]).await;
    let seats = &s.event.rows[0][0..2];
    let (_, held) = hold_seats(&s, &s.token, seats).await;
    let id = id_of(&held);
    let challenge = challenged(&s.app, &s.token, &id).await;

    let (status, denied) = answer_challenge(&s.app, &s.token, &id, &challenge, "deny").await;
    let (again_status, again) =
        answer_challenge(&s.app, &s.token, &id, &challenge, "approve").await;

    assert_eq!(status, 409, "{denied}");
    assert_eq!(denied["code"], "payment_declined");
    let detail = denied["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("bank did not confirm") && detail.contains("still held"),
        "{denied}"
    );
    assert_eq!((again_status, &again["detail"]), (409, &denied["detail"]));
    assert_eq!(
        seat_states(&s.app, s.event.event_id, seats).await,
        ["held", "held"]
    );
    let (_, view) = get(&s.app, &format!("/v1/bookings/{id}"), &s.token).await;
    assert_eq!(view["status"], "payment_pending");
    assert_eq!(view["expires_at"], held["expires_at"]);
    assert_eq!(view["payment_challenge"], Value::Null);

    // Another card pays; two declined challenges in all reject the booking.
    let (status, paid) = confirm(&s.app, &s.token, &id, SUCCESS_CARD).await;
    assert_eq!((status, &paid["status"]), (200, &json!("confirmed")));
    assert_eq!(
        charges_of(&s.app, &id).await,
        [
            (
                format!("charge-{id}"),
                "declined".to_owned(),
                Some("authentication_failed".to_owned())
            ),
            (format!("charge-{id}-2"), "succeeded".to_owned(), None)
        ]
    );
    let (_, other) = hold_seats(&s, &s.token, &s.event.rows[0][2..4]).await;
    let other_id = id_of(&other);
    for attempt in 1..=3 {
        let challenge = challenged(&s.app, &s.token, &other_id).await;
        let (status, body) =
            answer_challenge(&s.app, &s.token, &other_id, &challenge, "deny").await;
        assert_eq!(
            (status, &body["code"]),
            (409, &json!("payment_declined")),
            "{attempt}"
        );
    }
    assert_eq!(
        seat_states(&s.app, s.event.event_id, &s.event.rows[0][2..4]).await,
        ["available", "available"]
    );
}

#[tokio::test]
async fn a_challenge_answered_after_the_hold_lapsed_charges_nothing_and_releases() {
    let s = setup(1, 4, 10, &[]).await;
    let seats = &s.event.rows[0][0..1];
    let (_, held) = hold_seats(&s, &s.token, seats).await;
    let id = id_of(&held);
    let challenge = challenged(&s.app, &s.token, &id).await;
    lapse(&s.app, &id).await;

    let (status, body) = answer_challenge(&s.app, &s.token, &id, &challenge, "approve").await;

    assert_eq!(
        (status, &body["code"]),
        (409, &json!("hold_expired")),
        "{body}"
    );
    assert_eq!(
        get(&s.app, &format!("/v1/bookings/{id}"), &s.token).await.1["status"],
        "expired"
    );
    assert_eq!(
        seat_states(&s.app, s.event.event_id, seats).await,
        ["available"]
    );
    assert_eq!(
        charges_of(&s.app, &id).await,
        [(
            format!("charge-{id}"),
            "declined".to_owned(),
            Some("challenge_abandoned".to_owned())
        )]
    );
}

#[tokio::test]
async fn an_unanswered_challenge_does_not_keep_the_hold_past_its_expiry() {
    let s = setup(1, 4, 10, &[("BOOKING_SWEEP_INTERVAL_MS", "100")]).await;
    let other = new_shopper(&s.app).await;
    let seats = &s.event.rows[0][0..2];
    let (_, held) = hold_seats(&s, &s.token, seats).await;
    let id = id_of(&held);
    let challenge = challenged(&s.app, &s.token, &id).await;
    lapse(&s.app, &id).await;

    // Free to others at once, before any sweeper has run...
    let (taken, _) = hold_seats(&s, &other, &seats[0..1]).await;
    // ...and the sweeper expires the booking and abandons the challenge.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = Value::Null;
    while Instant::now() < deadline {
        status = get(&s.app, &format!("/v1/bookings/{id}"), &s.token).await.1["status"].clone();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (late, body) = answer_challenge(&s.app, &s.token, &id, &challenge, "approve").await;

    assert_eq!(taken, 201);
    assert_eq!(status, "expired");
    assert_eq!(
        seat_states(&s.app, s.event.event_id, seats).await,
        ["held", "available"],
        "the other buyer keeps theirs; the rest is free"
    );
    assert_eq!(
        charges_of(&s.app, &id).await,
        [(
            format!("charge-{id}"),
            "declined".to_owned(),
            Some("challenge_abandoned".to_owned())
        )]
    );
    assert_eq!(
        (late, &body["code"]),
        (409, &json!("booking_not_pending")),
        "{body}"
    );
}

#[tokio::test]
async fn two_answers_to_one_challenge_on_two_instances_settle_the_charge_once() {
    let s = setup(1, 4, 10, &[]).await;
    let second = spawn_app_with(
        Service::Booking,
        reuse(&s.app.db),
        &[("BOOKING_SWEEP_INTERVAL_MS", "0")],
    )
    .await;
    let (_, held) = hold(
        &s.app,
        &s.token,
        json!({"event_id": s.event.event_id, "ticket_type_id": s.event.ga_type_id, "quantity": 3}),
    )
    .await;
    let id = id_of(&held);
    let challenge = challenged(&s.app, &s.token, &id).await;

    let (a, b) = tokio::join!(
        answer_challenge(&s.app, &s.token, &id, &challenge, "approve"),
        answer_challenge(&second, &s.token, &id, &challenge, "approve")
    );

    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
    assert_eq!(
        (&a.1["status"], &b.1["status"]),
        (&json!("confirmed"), &json!("confirmed"))
    );
    let (held_ga, sold): (i32, i32) =
        sqlx::query_as("select held, sold from ga_inventory where ticket_type_id = $1")
            .bind(s.event.ga_type_id)
            .fetch_one(&s.app.db.pool)
            .await
            .expect("counter");
    assert_eq!((held_ga, sold), (0, 3));
    let confirmed: i64 =
        sqlx::query_scalar("select count(*) from outbox where event_type = 'booking.confirmed'")
            .fetch_one(&s.app.db.pool)
            .await
            .expect("count");
    assert_eq!(confirmed, 1);
    assert_eq!(
        charges_of(&s.app, &id).await,
        [(format!("charge-{id}"), "succeeded".to_owned(), None)]
    );
}

#[tokio::test]
async fn a_challenge_survives_a_restart_and_an_answer_cut_off_mid_flight() {
    let db = TestDb::migrated().await;
    let event = fixtures::on_sale_event(&db.pool, 1, 4, 10).await;
    let token = fixtures::token(fixtures::user(&db.pool, "user").await, Role::User);
    let env = [("BOOKING_SWEEP_INTERVAL_MS", "0")];
    let first = spawn_app_with(Service::Booking, reuse(&db), &env).await;
    let seats = &event.rows[0][0..2];
    let key = Uuid::new_v4().to_string();
    let (_, held) = post(
        &first,
        "/v1/bookings",
        &token,
        Some(&key),
        &json!({"event_id": event.event_id, "seat_ids": seats}),
    )
    .await;
    let id = id_of(&held);
    let challenge = challenged(&first, &token, &id).await;

    // The instance that asked is gone (its sandbox's memory with it), and
    // an answer's first step committed before its process died.
    drop(first);
    sqlx::query("update payments set status = 'pending' where booking_id = $1::uuid")
        .bind(&id)
        .execute(&db.pool)
        .await
        .expect("answer in flight");
    let restarted = spawn_app_with(Service::Booking, reuse(&db), &env).await;
    let (busy, in_flight) = confirm(&restarted, &token, &id, SUCCESS_CARD).await;
    let (status, paid) = answer_challenge(&restarted, &token, &id, &challenge, "approve").await;

    assert_eq!(
        (busy, &in_flight["code"]),
        (409, &json!("payment_in_progress"))
    );
    assert_eq!(
        (status, &paid["status"]),
        (200, &json!("confirmed")),
        "{paid}"
    );
    assert_eq!(
        charges_of(&restarted, &id).await,
        [(format!("charge-{id}"), "succeeded".to_owned(), None)]
    );
    assert_eq!(
        seat_states(&restarted, event.event_id, seats).await,
        ["sold", "sold"]
    );
}

#[tokio::test]
async fn bad_challenge_answers_get_problem_json_naming_the_field() {
    let s = setup(1, 4, 10, &[]).await;
    let stranger = new_shopper(&s.app).await;
    let (_, held) = hold_seats(&s, &s.token, &s.event.rows[0][0..1]).await;
    let id = id_of(&held);
    let challenge = challenged(&s.app, &s.token, &id).await;
    let path = format!("/v1/bookings/{id}/challenge");

    let empty_id = post(
        &s.app,
        &path,
        &s.token,
        None,
        &json!({"challenge_id": " ", "response": "approve"}),
    )
    .await;
    let no_response = post(
        &s.app,
        &path,
        &s.token,
        None,
        &json!({"challenge_id": challenge}),
    )
    .await;
    let empty_response = answer_challenge(&s.app, &s.token, &id, &challenge, "").await;
    let unknown = answer_challenge(
        &s.app,
        &s.token,
        &id,
        "sb_3ds_000000000000000000000000",
        "approve",
    )
    .await;
    let not_theirs = answer_challenge(&s.app, &stranger, &id, &challenge, "approve").await;
    let bad_id = answer_challenge(&s.app, &s.token, "not-a-uuid", &challenge, "approve").await;

    assert_eq!(
        (empty_id.0, &empty_id.1["field"]),
        (400, &json!("challenge_id")),
        "{}",
        empty_id.1
    );
    assert_eq!(no_response.0, 400, "{}", no_response.1);
    assert!(
        no_response.1["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("response"),
        "{}",
        no_response.1
    );
    assert_eq!(
        (empty_response.0, &empty_response.1["field"]),
        (400, &json!("response"))
    );
    assert_eq!(
        (unknown.0, &unknown.1["code"], &unknown.1["field"]),
        (409, &json!("challenge_unknown"), &json!("challenge_id")),
        "{}",
        unknown.1
    );
    assert_eq!(not_theirs.0, 404);
    assert_eq!((bad_id.0, &bad_id.1["field"]), (400, &json!("booking_id")));
    assert_eq!(
        charges_of(&s.app, &id).await,
        [(format!("charge-{id}"), "requires_action".to_owned(), None)],
        "nothing reached the provider"
    );
}
