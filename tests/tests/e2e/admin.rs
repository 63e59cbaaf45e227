//! Admin catalog writes over HTTP: auth, venues with seat maps, performers,
//! events, ticket types, inventory materialized when a sale opens, and
//! validation errors that name their field.

use std::time::Duration;

use chrono::{Duration as TimeDelta, Utc};
use e2e::{Service, TestApp, fixtures, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

struct Admin {
    app: TestApp,
    token: String,
}

impl Admin {
    async fn start() -> Self {
        let app = spawn_app(Service::Api).await;
        let id = fixtures::user(&app.db.pool, "admin").await;
        let token = fixtures::token(id, auth::Role::Admin);
        Self { app, token }
    }

    async fn send(&self, method: Method, path: &str, body: &Value) -> (u16, Value) {
        send(&self.app, method, path, Some(&self.token), body).await
    }
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.address))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request reaches the api");
    let status = response.status().as_u16();
    if status >= 400 {
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(content_type, "application/problem+json", "{path} {status}");
    }
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// A seat map of `sections` sections × `rows` rows × `seats` seats.
fn seat_map(sections: usize, rows: usize, seats: usize) -> Value {
    let sections: Vec<Value> = (0..sections)
        .map(|s| {
            json!({
                "name": format!("S{s}"),
                "rank": s,
                "rows": (0..rows).map(|r| json!({
                    "label": format!("R{r}"),
                    "seats": (1..=seats).map(|n| json!({
                        "number": n,
                        "x": (s * 100 + n) as f32,
                        "y": (r * 10) as f32,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "sections": sections })
}

fn venue_body(map: Option<Value>) -> Value {
    let mut body = json!({
        "name": "Harbour Arena", "address": "1 Quay St", "city": "Bristol", "country": "GB",
        "lat": 51.45, "lon": -2.59, "timezone": "Europe/London",
    });
    if let Some(map) = map {
        body["seat_map"] = map;
    }
    body
}

fn event_body(venue_id: i64, performers: &[i64], sale_starts_in: TimeDelta) -> Value {
    let now = Utc::now();
    json!({
        "venue_id": venue_id,
        "title": "Night of Strings",
        "description": "An evening of violins.",
        "category": "concert",
        "genre": "classical",
        "starts_at": now + TimeDelta::days(30),
        "ends_at": now + TimeDelta::days(30) + TimeDelta::hours(3),
        "sale_starts_at": now + sale_starts_in,
        "sale_ends_at": now + TimeDelta::days(30),
        "performers": performers,
    })
}

async fn sections_of(app: &TestApp, venue_id: i64) -> Vec<i64> {
    sqlx::query_scalar("select section_id from venue_sections where venue_id = $1 order by rank")
        .bind(venue_id)
        .fetch_all(&app.db.pool)
        .await
        .expect("sections")
}

#[tokio::test]
async fn writes_need_an_admin_token() {
    let admin = Admin::start().await;
    let user = fixtures::user(&admin.app.db.pool, "user").await;
    let user_token = fixtures::token(user, auth::Role::User);
    let routes = [
        (Method::POST, "/v1/venues"),
        (Method::PATCH, "/v1/venues/1"),
        (Method::PUT, "/v1/venues/1/seat-map"),
        (Method::POST, "/v1/performers"),
        (Method::PATCH, "/v1/performers/1"),
        (Method::POST, "/v1/events"),
        (Method::PATCH, "/v1/events/1"),
        (Method::POST, "/v1/events/1/cancel"),
        (Method::POST, "/v1/events/1/ticket-types"),
    ];
    for (method, path) in routes {
        let (status, body) = send(&admin.app, method.clone(), path, None, &json!({})).await;
        assert_eq!(status, 401, "{method} {path} without a token: {body}");
        assert_eq!(body["field"], "authorization");
        let (status, body) = send(
            &admin.app,
            method.clone(),
            path,
            Some("not-a-jwt"),
            &json!({}),
        )
        .await;
        assert_eq!(status, 401, "{method} {path} with a bad token: {body}");
        let (status, body) = send(
            &admin.app,
            method.clone(),
            path,
            Some(&user_token),
            &json!({}),
        )
        .await;
        assert_eq!(status, 403, "{method} {path} with a user token: {body}");
    }
    // Nothing was written by any refused request.
    let venues: i64 = sqlx::query_scalar("select count(*) from venues")
        .fetch_one(&admin.app.db.pool)
        .await
        .expect("count");
    assert_eq!(venues, 0);
    let (status, _) = admin
        .send(
            Method::POST,
            "/v1/performers",
            &json!({"name": "Solo", "genre": "folk"}),
        )
        .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_venue_with_its_seat_map_becomes_an_event_with_inventory_when_the_sale_is_open() {
    let admin = Admin::start().await;
    let (status, venue) = admin
        .send(
            Method::POST,
            "/v1/venues",
            &venue_body(Some(seat_map(2, 3, 10))),
        )
        .await;
    assert_eq!(status, 201, "{venue}");
    let venue_id = venue["venue_id"].as_i64().expect("venue id");
    assert_eq!(
        venue["seat_map"],
        json!({"sections": 2, "rows": 6, "seats": 60})
    );
    assert_eq!(venue["timezone"], "Europe/London");

    let (status, headliner) = admin
        .send(
            Method::POST,
            "/v1/performers",
            &json!({"name": "The Quartet", "genre": "classical"}),
        )
        .await;
    assert_eq!(status, 201, "{headliner}");
    let (_, support) = admin
        .send(
            Method::POST,
            "/v1/performers",
            &json!({"name": "Opening Act", "genre": "folk"}),
        )
        .await;
    let performers = [
        headliner["performer_id"].as_i64().expect("id"),
        support["performer_id"].as_i64().expect("id"),
    ];

    let (status, event) = admin
        .send(
            Method::POST,
            "/v1/events",
            &event_body(venue_id, &performers, -TimeDelta::hours(1)),
        )
        .await;
    assert_eq!(status, 201, "{event}");
    let event_id = event["event_id"].as_i64().expect("event id");
    assert_eq!(event["performers"], json!(performers));
    assert_eq!(event["status"], "scheduled");

    let sections = sections_of(&admin.app, venue_id).await;
    let (status, tier) = admin
        .send(
            Method::POST,
            &format!("/v1/events/{event_id}/ticket-types"),
            &json!({"name": "Stalls", "kind": "seated", "price_cents": 4500, "currency": "GBP",
                    "sections": [sections[0]]}),
        )
        .await;
    assert_eq!(status, 201, "{tier}");
    assert_eq!(
        tier["seats_materialized"], 30,
        "the sale is open: seats now"
    );
    let (status, ga) = admin
        .send(
            Method::POST,
            &format!("/v1/events/{event_id}/ticket-types"),
            &json!({"name": "Standing", "kind": "general_admission", "price_cents": 2000,
                    "currency": "GBP", "capacity": 500}),
        )
        .await;
    assert_eq!(status, 201, "{ga}");

    // The public pages show what was written, read from Postgres.
    let page: Value = admin
        .app
        .get(&format!("/v1/events/{event_id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["title"], "Night of Strings");
    assert_eq!(page["venue"]["name"], "Harbour Arena");
    assert_eq!(page["performers"][0]["name"], "The Quartet");
    assert_eq!(page["availability"]["available_tickets"], 530, "{page}");
    let seats = admin.app.get(&format!("/v1/events/{event_id}/seats")).await;
    assert_eq!(seats.status(), 200);
    let map: Value = seats.json().await.expect("json");
    let available: usize = map["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .flat_map(|s| s["rows"].as_array().cloned().unwrap_or_default())
        .map(|r| r["status"].as_str().map_or(0, |s| s.matches('a').count()))
        .sum();
    assert_eq!(available, 30, "{map}");
}

#[tokio::test]
async fn inventory_appears_when_a_future_sale_opens() {
    let admin = Admin::start().await;
    let (_, venue) = admin
        .send(
            Method::POST,
            "/v1/venues",
            &venue_body(Some(seat_map(1, 2, 5))),
        )
        .await;
    let venue_id = venue["venue_id"].as_i64().expect("venue id");
    let (status, event) = admin
        .send(
            Method::POST,
            "/v1/events",
            &event_body(venue_id, &[], TimeDelta::seconds(2)),
        )
        .await;
    assert_eq!(status, 201, "{event}");
    let event_id = event["event_id"].as_i64().expect("id");
    let sections = sections_of(&admin.app, venue_id).await;
    let (status, tier) = admin
        .send(
            Method::POST,
            &format!("/v1/events/{event_id}/ticket-types"),
            &json!({"name": "All seats", "kind": "seated", "price_cents": 1000, "currency": "EUR",
                    "sections": sections}),
        )
        .await;
    assert_eq!(status, 201, "{tier}");
    assert_eq!(tier["seats_materialized"], 0, "the sale has not opened yet");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let count: i64 = sqlx::query_scalar("select count(*) from event_seats where event_id = $1")
            .bind(event_id)
            .fetch_one(&admin.app.db.pool)
            .await
            .expect("count");
        if count == 10 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sale opened but only {count} of 10 seats were materialized"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn seat_map_faults_are_400s_naming_the_seat() {
    let admin = Admin::start().await;
    let mut duplicate = seat_map(1, 2, 3);
    duplicate["sections"][0]["rows"][1]["seats"][2]["number"] = json!(1);
    let mut no_x = seat_map(2, 1, 3);
    no_x["sections"][1]["rows"][0]["seats"][0]
        .as_object_mut()
        .expect("seat")
        .remove("x");
    let mut wrong_type = seat_map(1, 1, 2);
    wrong_type["sections"][0]["rows"][0]["seats"][1]["y"] = json!("high");
    let mut unknown = seat_map(1, 1, 1);
    unknown["sections"][0]["rows"][0]["seats"][0]["colour"] = json!("red");
    let cases = [
        (duplicate, "seat_map.sections[0].rows[1].seats[2].number"),
        (no_x, "seat_map.sections[1].rows[0].seats[0].x"),
        (wrong_type, "seat_map.sections[0].rows[0].seats[1].y"),
        (unknown, "seat_map.sections[0].rows[0].seats[0].colour"),
    ];
    for (map, field) in cases {
        let (status, body) = admin
            .send(Method::POST, "/v1/venues", &venue_body(Some(map)))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["field"], field, "{body}");
    }
    let mut bad_venue = venue_body(None);
    bad_venue["country"] = json!("Britain");
    let (status, body) = admin.send(Method::POST, "/v1/venues", &bad_venue).await;
    assert_eq!((status, body["field"].clone()), (400, json!("country")));
    bad_venue["country"] = json!("GB");
    bad_venue["timezone"] = json!("Mars/Olympus");
    let (status, body) = admin.send(Method::POST, "/v1/venues", &bad_venue).await;
    assert_eq!((status, body["field"].clone()), (400, json!("timezone")));
    bad_venue["timezone"] = json!("UTC");
    bad_venue["lat"] = json!(123.0);
    let (status, body) = admin.send(Method::POST, "/v1/venues", &bad_venue).await;
    assert_eq!((status, body["field"].clone()), (400, json!("lat")));

    // Nothing half-written: no venue, no sections.
    let rows: i64 = sqlx::query_scalar(
        "select (select count(*) from venues) + (select count(*) from venue_sections)",
    )
    .fetch_one(&admin.app.db.pool)
    .await
    .expect("count");
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn a_fifty_thousand_seat_map_uploads_and_is_replaced_only_while_unused() {
    let admin = Admin::start().await;
    let (status, venue) = admin
        .send(Method::POST, "/v1/venues", &venue_body(None))
        .await;
    assert_eq!(status, 201, "{venue}");
    let venue_id = venue["venue_id"].as_i64().expect("venue id");
    let path = format!("/v1/venues/{venue_id}/seat-map");
    // 20 sections x 50 rows x 50 seats = 50,000 seats, about 2 MB of JSON.
    let (status, body) = admin.send(Method::PUT, &path, &seat_map(20, 50, 50)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["seat_map"]["seats"], 50_000);
    // Replacing an unused map is allowed.
    let (status, body) = admin.send(Method::PUT, &path, &seat_map(2, 2, 2)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["seat_map"]["seats"], 8);

    let (_, event) = admin
        .send(
            Method::POST,
            "/v1/events",
            &event_body(venue_id, &[], -TimeDelta::hours(1)),
        )
        .await;
    let event_id = event["event_id"].as_i64().expect("event id");
    let sections = sections_of(&admin.app, venue_id).await;
    let (status, _) = admin
        .send(
            Method::POST,
            &format!("/v1/events/{event_id}/ticket-types"),
            &json!({"name": "A", "kind": "seated", "price_cents": 1, "currency": "EUR", "sections": [sections[0]]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = admin.send(Method::PUT, &path, &seat_map(1, 1, 1)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "seat_map_in_use");
    let seats: i64 = sqlx::query_scalar(
        "select count(*) from seats join venue_rows using (row_id) join venue_sections s using (section_id)
          where s.venue_id = $1",
    )
    .bind(venue_id)
    .fetch_one(&admin.app.db.pool)
    .await
    .expect("count");
    assert_eq!(seats, 8, "the refused replacement changed nothing");
}

#[tokio::test]
async fn events_validate_their_fields_and_references() {
    let admin = Admin::start().await;
    let (_, venue) = admin
        .send(
            Method::POST,
            "/v1/venues",
            &venue_body(Some(seat_map(1, 1, 2))),
        )
        .await;
    let venue_id = venue["venue_id"].as_i64().expect("venue id");
    let (_, performer) = admin
        .send(
            Method::POST,
            "/v1/performers",
            &json!({"name": "Solo", "genre": "folk"}),
        )
        .await;
    let performer_id = performer["performer_id"].as_i64().expect("id");
    let good = event_body(venue_id, &[performer_id], -TimeDelta::hours(1));

    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut bad = good.clone();
    bad["category"] = json!("opera");
    cases.push((bad, "category"));
    let mut bad = good.clone();
    bad["ends_at"] = bad["starts_at"].clone();
    cases.push((bad, "ends_at"));
    let mut bad = good.clone();
    bad["sale_ends_at"] = json!(Utc::now() + TimeDelta::days(60));
    cases.push((bad, "sale_ends_at"));
    let mut bad = good.clone();
    bad["venue_id"] = json!(999_999);
    cases.push((bad, "venue_id"));
    let mut bad = good.clone();
    bad["performers"] = json!([performer_id, 999_999]);
    cases.push((bad, "performers[1]"));
    let mut bad = good.clone();
    bad["performers"] = json!([performer_id, performer_id]);
    cases.push((bad, "performers[1]"));
    let mut bad = good.clone();
    bad["starts_at"] = json!("next tuesday");
    cases.push((bad, "starts_at"));
    let mut bad = good.clone();
    bad["title"] = json!("   ");
    cases.push((bad, "title"));
    let mut bad = good.clone();
    bad["status"] = json!("cancelled");
    cases.push((bad, "status"));
    for (body, field) in cases {
        let (status, problem) = admin.send(Method::POST, "/v1/events", &body).await;
        assert_eq!(status, 400, "{field}: {problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let events: i64 = sqlx::query_scalar("select count(*) from events")
        .fetch_one(&admin.app.db.pool)
        .await
        .expect("count");
    assert_eq!(events, 0, "no refused event was stored");

    let (status, event) = admin.send(Method::POST, "/v1/events", &good).await;
    assert_eq!(status, 201, "{event}");
    let id = event["event_id"].as_i64().expect("id");
    let path = format!("/v1/events/{id}");
    // A patch is checked against the stored row.
    let (status, problem) = admin
        .send(Method::PATCH, &path, &json!({"ends_at": Utc::now()}))
        .await;
    assert_eq!((status, problem["field"].clone()), (400, json!("ends_at")));
    let (status, renamed) = admin
        .send(
            Method::PATCH,
            &path,
            &json!({"title": "Night of Strings II", "performers": []}),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["title"], "Night of Strings II");
    assert_eq!(renamed["performers"], json!([]));
    assert_eq!(
        renamed["description"], "An evening of violins.",
        "untouched fields stay"
    );

    // Ticket types: a section of another venue, a second tier on a priced
    // section, a duplicate name.
    let (_, other) = admin
        .send(
            Method::POST,
            "/v1/venues",
            &venue_body(Some(seat_map(1, 1, 1))),
        )
        .await;
    let other_section = sections_of(&admin.app, other["venue_id"].as_i64().expect("id")).await[0];
    let own_section = sections_of(&admin.app, venue_id).await[0];
    let tiers = format!("{path}/ticket-types");
    let tier = |name: &str, section: i64| json!({"name": name, "kind": "seated", "price_cents": 100, "currency": "EUR", "sections": [section]});
    let (status, problem) = admin
        .send(Method::POST, &tiers, &tier("A", other_section))
        .await;
    assert_eq!(
        (status, problem["field"].clone()),
        (400, json!("sections[0]"))
    );
    let (status, _) = admin
        .send(Method::POST, &tiers, &tier("A", own_section))
        .await;
    assert_eq!(status, 201);
    let (status, problem) = admin
        .send(Method::POST, &tiers, &tier("B", own_section))
        .await;
    assert_eq!(
        (status, problem["code"].clone()),
        (409, json!("section_already_priced"))
    );
    let ga = json!({"name": "A", "kind": "general_admission", "price_cents": 1, "currency": "EUR", "capacity": 5});
    let (status, problem) = admin.send(Method::POST, &tiers, &ga).await;
    assert_eq!((status, problem["field"].clone()), (409, json!("name")));
    // The venue cannot move away from priced sections.
    let (status, problem) = admin
        .send(
            Method::PATCH,
            &path,
            &json!({"venue_id": other["venue_id"]}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].clone()),
        (409, json!("venue_in_use"))
    );

    // Cancel is idempotent and final.
    let cancel = format!("{path}/cancel");
    let (status, cancelled) = admin.send(Method::POST, &cancel, &json!({})).await;
    assert_eq!(
        (status, cancelled["status"].clone()),
        (200, json!("cancelled"))
    );
    let (status, _) = admin.send(Method::POST, &cancel, &json!({})).await;
    assert_eq!(status, 200);
    let (status, problem) = admin
        .send(Method::PATCH, &path, &json!({"title": "Back again"}))
        .await;
    assert_eq!(
        (status, problem["code"].clone()),
        (409, json!("event_cancelled"))
    );
    let (status, _) = admin.send(Method::PATCH, "/v1/events/0", &json!({})).await;
    assert_eq!(status, 400);
    let (status, _) = admin
        .send(Method::PATCH, "/v1/events/424242", &json!({}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn venues_and_performers_update_in_place() {
    let admin = Admin::start().await;
    let (_, venue) = admin
        .send(Method::POST, "/v1/venues", &venue_body(None))
        .await;
    let id = venue["venue_id"].as_i64().expect("id");
    let (status, updated) = admin
        .send(
            Method::PATCH,
            &format!("/v1/venues/{id}"),
            &json!({"name": "Harbour Arena (new)", "lat": 51.46}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Harbour Arena (new)");
    assert_eq!(updated["city"], "Bristol");
    let (status, problem) = admin
        .send(
            Method::PATCH,
            &format!("/v1/venues/{id}"),
            &json!({"lon": 200}),
        )
        .await;
    assert_eq!((status, problem["field"].clone()), (400, json!("lon")));

    let (_, performer) = admin
        .send(
            Method::POST,
            "/v1/performers",
            &json!({"name": "Solo", "genre": "folk"}),
        )
        .await;
    let pid = performer["performer_id"].as_i64().expect("id");
    let (status, updated) = admin
        .send(
            Method::PATCH,
            &format!("/v1/performers/{pid}"),
            &json!({"genre": "indie", "image_url": "https://img.example.test/solo.jpg"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (updated["name"].clone(), updated["genre"].clone()),
        (json!("Solo"), json!("indie"))
    );
    let (status, problem) = admin
        .send(
            Method::PATCH,
            &format!("/v1/performers/{pid}"),
            &json!({"image_url": "ftp://x"}),
        )
        .await;
    assert_eq!(
        (status, problem["field"].clone()),
        (400, json!("image_url"))
    );
    let (status, problem) = admin
        .send(
            Method::PATCH,
            "/v1/performers/9999",
            &json!({"genre": "jazz"}),
        )
        .await;
    assert_eq!((status, problem["code"].clone()), (404, json!("not_found")));
    // Not JSON at all.
    let response = admin
        .app
        .http
        .post(format!("{}/v1/performers", admin.app.address))
        .bearer_auth(&admin.token)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn doors_time_zones_and_stage_outlines_are_checked_and_kept() {
    let admin = Admin::start().await;
    // A time zone the tz database does not know is refused by name.
    let mut bad_zone = venue_body(None);
    bad_zone["timezone"] = json!("Mars/Olympus_Mons");
    let (status, problem) = admin.send(Method::POST, "/v1/venues", &bad_zone).await;
    assert_eq!(
        (status, problem["field"].clone()),
        (400, json!("timezone")),
        "{problem}"
    );

    // A stage outline needs three points or more, each finite.
    let mut map = seat_map(1, 2, 3);
    map["stage"] = json!([[0, 0], [10, 0]]);
    let (status, problem) = admin
        .send(Method::POST, "/v1/venues", &venue_body(Some(map.clone())))
        .await;
    assert_eq!(
        (status, problem["field"].clone()),
        (400, json!("seat_map.stage")),
        "{problem}"
    );
    map["stage"] = json!([[0, -20], [10, -20], [10, -10]]);
    let (status, venue) = admin
        .send(Method::POST, "/v1/venues", &venue_body(Some(map)))
        .await;
    assert_eq!(status, 201, "{venue}");
    assert_eq!(
        venue["stage"],
        json!([[0.0, -20.0], [10.0, -20.0], [10.0, -10.0]])
    );
    let venue_id = venue["venue_id"].as_i64().expect("id");

    // Doors open at or before the start, and at most a day before.
    let mut event = event_body(venue_id, &[], TimeDelta::days(-1));
    let starts: chrono::DateTime<Utc> =
        serde_json::from_value(event["starts_at"].clone()).expect("starts");
    event["doors_at"] = json!(starts + TimeDelta::minutes(5));
    let (status, problem) = admin.send(Method::POST, "/v1/events", &event).await;
    assert_eq!(
        (status, problem["field"].clone()),
        (400, json!("doors_at")),
        "{problem}"
    );
    event["doors_at"] = json!(starts - TimeDelta::minutes(45));
    let (status, created) = admin.send(Method::POST, "/v1/events", &event).await;
    assert_eq!(status, 201, "{created}");
    let page: Value = admin
        .app
        .get(&format!("/v1/events/{}", created["event_id"]))
        .await
        .json()
        .await
        .expect("json");
    let doors: chrono::DateTime<Utc> =
        serde_json::from_value(page["doors_at"].clone()).expect("doors");
    // Postgres keeps microseconds.
    let expected = starts - TimeDelta::minutes(45);
    assert!(
        (doors - expected).abs() < TimeDelta::milliseconds(1),
        "{doors} {expected}"
    );
}
