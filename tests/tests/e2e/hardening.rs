//! The front door's hardening, over real sockets: NUL characters refused at
//! the extractor, problem+json for every error, case-insensitive media
//! types, private booking answers, security headers on pages, tokens of
//! deleted users refused, and timeouts against slow clients.

use std::time::Duration;

use e2e::{Service, TestApp, TestDb, fixtures, header_of, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.address))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request reaches the service");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

fn content_type(headers: &reqwest::header::HeaderMap) -> &str {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_nul_in_any_body_string_or_query_parameter_is_400_naming_the_field() {
    let app = spawn_app(Service::Api).await;
    let admin = fixtures::token(
        fixtures::user(&app.db.pool, "admin").await,
        auth::Role::Admin,
    );
    let venue = json!({"name": "Hall\u{0}", "city": "Oslo", "country": "NO", "timezone": "Europe/Oslo",
                       "lat": 59.9, "lon": 10.7});
    let cases = [
        (Method::POST, "/v1/venues", venue, "name"),
        (
            Method::POST,
            "/v1/performers",
            json!({"name": "Solo", "genre": "fo\u{0}lk"}),
            "genre",
        ),
        (
            Method::PATCH,
            "/v1/performers/1",
            json!({"name": "\u{0}"}),
            "name",
        ),
        (
            Method::POST,
            "/v1/events",
            json!({"title": "x", "venue_id": 1, "performers": [1], "tags": ["a", "b\u{0}"]}),
            "tags[1]",
        ),
        (
            Method::POST,
            "/v1/events/1/ticket-types",
            json!({"name": "A\u{0}", "kind": "seated"}),
            "name",
        ),
        (
            Method::PUT,
            "/v1/admin/currency-rates",
            json!({"rates": {"EU\u{0}": 0.9}}),
            "rates",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, headers, problem) =
            send(&app, method.clone(), path, Some(&admin), &body).await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (400, Some(field)),
            "{method} {path}: {problem}"
        );
        assert_eq!(content_type(&headers), "application/problem+json");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("NUL"),
            "{problem}"
        );
    }
    for (path, field) in [
        ("/v1/events/search?q=ro%00ck", "q"),
        ("/v1/events?sort=%00", "sort"),
        ("/search?q=%00", "q"),
        ("/v1/events/suggest?prefix=a&q=%00", "q"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(
            header_of(&response, "content-type"),
            "application/problem+json",
            "{path}"
        );
        let problem: Value = response.json().await.expect("json");
        assert_eq!(problem["field"], field, "{path}");
    }
    let venues: i64 = sqlx::query_scalar("select count(*) from venues")
        .fetch_one(&app.db.pool)
        .await
        .expect("count");
    assert_eq!(venues, 0, "nothing was written");
}

#[tokio::test]
async fn method_not_allowed_and_undecodable_paths_are_problem_json_on_both_services() {
    let api = spawn_app(Service::Api).await;
    let booking = spawn_app_with(Service::Booking, TestDb::attach(&api.db), &[]).await;
    for (app, method, path, status) in [
        (&api, Method::DELETE, "/v1/events", 405),
        (&api, Method::PUT, "/v1/events/search", 405),
        (&booking, Method::GET, "/v1/bookings", 405),
        (&booking, Method::DELETE, "/v1/me/tickets", 405),
        (&api, Method::GET, "/v1/events/%FF", 400),
        (&api, Method::GET, "/v1/events/99999999999999999999999", 400),
    ] {
        let response = app
            .http
            .request(method.clone(), format!("{}{path}", app.address))
            .send()
            .await
            .expect("reaches");
        assert_eq!(response.status(), status, "{method} {path}");
        assert_eq!(
            header_of(&response, "content-type"),
            "application/problem+json",
            "{method} {path}"
        );
        if status == 405 {
            assert!(
                !header_of(&response, "allow").is_empty(),
                "{method} {path}: Allow"
            );
        }
        let problem: Value = response.json().await.expect("json");
        assert_eq!(problem["status"], status, "{method} {path}");
    }
}

#[tokio::test]
async fn media_types_are_case_insensitive() {
    let app = spawn_app(Service::Api).await;
    let admin = fixtures::token(
        fixtures::user(&app.db.pool, "admin").await,
        auth::Role::Admin,
    );
    for (i, content_type) in ["APPLICATION/JSON", "Application/Json; Charset=UTF-8"]
        .into_iter()
        .enumerate()
    {
        let response = app
            .http
            .post(format!("{}/v1/performers", app.address))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(json!({"name": format!("Solo {i}"), "genre": "folk"}).to_string())
            .send()
            .await
            .expect("reaches");
        assert_eq!(
            response.status(),
            201,
            "{content_type}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    let response = app
        .http
        .post(format!("{}/v1/performers", app.address))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("reaches");
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["field"], "content-type");
}

#[tokio::test]
async fn booking_answers_are_private_and_pages_carry_the_security_headers() {
    let api = spawn_app(Service::Api).await;
    let booking = spawn_app_with(Service::Booking, TestDb::attach(&api.db), &[]).await;
    let user = fixtures::token(fixtures::user(&api.db.pool, "user").await, auth::Role::User);
    for path in [
        "/v1/me/bookings",
        "/v1/me/tickets",
        "/v1/bookings/00000000-0000-0000-0000-000000000000",
    ] {
        let response = booking
            .http
            .get(format!("{}{path}", booking.address))
            .bearer_auth(&user)
            .send()
            .await
            .expect("reaches");
        assert_eq!(
            header_of(&response, "cache-control"),
            "private, no-store",
            "{path}"
        );
        assert_eq!(
            header_of(&response, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
    }
    // (`/search` needs a search index, which this test has none of.)
    for path in ["/", "/login", "/me/tickets"] {
        let response = api.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let csp = header_of(&response, "content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(header_of(&response, "x-frame-options"), "DENY", "{path}");
        assert_eq!(
            header_of(&response, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(
            header_of(&response, "referrer-policy"),
            "strict-origin-when-cross-origin",
            "{path}"
        );
        let html = response.text().await.expect("html");
        assert!(
            !html.contains("<script>") && !html.contains(" onclick="),
            "{path}: inline script"
        );
    }
}

#[tokio::test]
async fn a_token_for_a_deleted_or_disabled_user_is_refused_on_every_route() {
    let db = TestDb::migrated().await;
    let no_cache = [("AUTH_USER_CACHE_MS", "0")];
    let api = spawn_app_with(Service::Api, db, &no_cache).await;
    let booking = spawn_app_with(Service::Booking, TestDb::attach(&api.db), &no_cache).await;
    let admin_id = fixtures::user(&api.db.pool, "admin").await;
    let user_id = fixtures::user(&api.db.pool, "user").await;
    let admin = fixtures::token(admin_id, auth::Role::Admin);
    let user = fixtures::token(user_id, auth::Role::User);
    let (status, _, _) = send(
        &api,
        Method::POST,
        "/v1/performers",
        Some(&admin),
        &json!({"name": "A", "genre": "folk"}),
    )
    .await;
    assert_eq!(status, 201, "the admin works while it exists");
    let (status, _, _) = send(
        &booking,
        Method::GET,
        "/v1/me/bookings",
        Some(&user),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "the user works while it exists");

    sqlx::query("delete from users where user_id = $1")
        .bind(admin_id)
        .execute(&api.db.pool)
        .await
        .expect("delete");
    sqlx::query("update users set disabled_at = now() where user_id = $1")
        .bind(user_id)
        .execute(&api.db.pool)
        .await
        .expect("disable");

    let admin_routes = [
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
    for (method, path) in admin_routes {
        let (status, headers, problem) =
            send(&api, method.clone(), path, Some(&admin), &json!({})).await;
        assert_eq!(status, 401, "deleted admin: {method} {path}: {problem}");
        assert_eq!(content_type(&headers), "application/problem+json");
    }
    let booking_routes = [
        (Method::POST, "/v1/bookings"),
        (
            Method::GET,
            "/v1/bookings/00000000-0000-0000-0000-000000000000",
        ),
        (
            Method::POST,
            "/v1/bookings/00000000-0000-0000-0000-000000000000/confirm",
        ),
        (
            Method::POST,
            "/v1/bookings/00000000-0000-0000-0000-000000000000/cancel",
        ),
        (Method::GET, "/v1/me/bookings"),
        (Method::GET, "/v1/me/tickets"),
    ];
    for (method, path) in booking_routes {
        for (who, token) in [("deleted admin", &admin), ("disabled user", &user)] {
            let response = booking
                .http
                .request(method.clone(), format!("{}{path}", booking.address))
                .bearer_auth(token)
                .header("idempotency-key", "k")
                .json(&json!({"event_id": 1, "seat_ids": [1], "payment": {"card_number": "4242424242424242"}}))
                .send()
                .await
                .expect("reaches");
            assert_eq!(response.status(), 401, "{who}: {method} {path}");
            let problem: Value = response.json().await.expect("json");
            assert_eq!(problem["field"], "authorization", "{who}: {method} {path}");
        }
    }
}

/// Reads until the server closes the connection; what it sent first.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn slow_clients_are_cut_off_by_the_port_timeouts_and_normal_requests_are_not() {
    let app = spawn_app_with(
        Service::Api,
        TestDb::migrated().await,
        &[
            ("HTTP_HEADER_TIMEOUT_MS", "300"),
            ("HTTP_BODY_TIMEOUT_MS", "300"),
        ],
    )
    .await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let admin = fixtures::token(
        fixtures::user(&app.db.pool, "admin").await,
        auth::Role::Admin,
    );
    // The bound on each wait is a generous ceiling, not the thing measured.
    let ceiling = Duration::from_secs(10);

    // Idle: a connection that sends nothing is closed.
    let mut idle = TcpStream::connect(&addr).await.expect("connects");
    let started = std::time::Instant::now();
    tokio::time::timeout(ceiling, read_until_closed(&mut idle))
        .await
        .expect("idle connection closed");
    let idle_for = started.elapsed();

    // Half-sent headers: closed within the header timeout.
    let mut half = TcpStream::connect(&addr).await.expect("connects");
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("writes");
    let started = std::time::Instant::now();
    tokio::time::timeout(ceiling, read_until_closed(&mut half))
        .await
        .expect("half-sent headers closed");
    let half_for = started.elapsed();

    // A body shorter than its Content-Length: 408 problem+json, then closed.
    let mut short = TcpStream::connect(&addr).await.expect("connects");
    let request = format!(
        "POST /v1/performers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {admin}\r\nContent-Length: 100\r\n\r\n{{\"name\":"
    );
    short.write_all(request.as_bytes()).await.expect("writes");
    let answer = tokio::time::timeout(ceiling, read_until_closed(&mut short))
        .await
        .expect("short body answered");

    for (what, waited) in [("idle", idle_for), ("half-sent headers", half_for)] {
        assert!(
            waited < Duration::from_secs(3),
            "{what} connection lingered {waited:?}"
        );
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("application/problem+json") && answer.contains("request_timeout"),
        "{answer}"
    );

    // Meanwhile a normal request is unaffected.
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_cancelled_draft_stays_private_and_a_cancelled_published_event_stays_public() {
    let app = spawn_app(Service::Api).await;
    let admin = fixtures::token(
        fixtures::user(&app.db.pool, "admin").await,
        auth::Role::Admin,
    );
    let venue = json!({"name": "Harbour Arena", "address": "1 Quay St", "city": "Bristol", "country": "GB",
                       "lat": 51.45, "lon": -2.59, "timezone": "Europe/London"});
    let (status, _, venue) = send(&app, Method::POST, "/v1/venues", Some(&admin), &venue).await;
    assert_eq!(status, 201, "{venue}");
    let (status, _, performer) = send(
        &app,
        Method::POST,
        "/v1/performers",
        Some(&admin),
        &json!({"name": "Solo", "genre": "folk"}),
    )
    .await;
    assert_eq!(status, 201, "{performer}");
    let now = chrono::Utc::now();
    let event = |status: &str| {
        json!({
            "venue_id": venue["venue_id"], "title": "Night of Strings", "category": "concert",
            "genre": "classical", "status": status,
            "starts_at": now + chrono::Duration::days(30),
            "ends_at": now + chrono::Duration::days(30) + chrono::Duration::hours(3),
            "sale_starts_at": now + chrono::Duration::days(1),
            "sale_ends_at": now + chrono::Duration::days(30),
            "performers": [performer["performer_id"]],
        })
    };
    for (initial, public_after_cancel) in [("draft", false), ("scheduled", true)] {
        let (status, _, created) = send(
            &app,
            Method::POST,
            "/v1/events",
            Some(&admin),
            &event(initial),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let id = created["event_id"].as_i64().expect("id");
        let before = app.get(&format!("/v1/events/{id}")).await.status();
        assert_eq!(
            before,
            if initial == "draft" { 404 } else { 200 },
            "{initial} before cancel"
        );
        let (status, _, cancelled) = send(
            &app,
            Method::POST,
            &format!("/v1/events/{id}/cancel"),
            Some(&admin),
            &json!({}),
        )
        .await;
        assert_eq!(
            (status, cancelled["status"].as_str()),
            (200, Some("cancelled")),
            "{cancelled}"
        );
        let page = app.get(&format!("/v1/events/{id}")).await;
        assert_eq!(
            page.status(),
            if public_after_cancel { 200 } else { 404 },
            "{initial} after cancel"
        );
        let seats = app.get(&format!("/v1/events/{id}/seats")).await;
        assert_eq!(
            seats.status(),
            if public_after_cancel { 200 } else { 404 },
            "{initial} seats after cancel"
        );
        let html = app.get(&format!("/events/{id}")).await;
        assert_eq!(
            html.status(),
            if public_after_cancel { 200 } else { 404 },
            "{initial} page after cancel"
        );
    }
}

#[tokio::test]
async fn every_admin_write_is_in_the_audit_log_with_who_what_and_how_it_ended() {
    let app = spawn_app(Service::Api).await;
    let admin_id = fixtures::user(&app.db.pool, "admin").await;
    let admin = fixtures::token(admin_id, auth::Role::Admin);
    let shopper = fixtures::token(fixtures::user(&app.db.pool, "user").await, auth::Role::User);
    let (created, _, performer) = send(
        &app,
        Method::POST,
        "/v1/performers",
        Some(&admin),
        &json!({"name": "Solo", "genre": "folk"}),
    )
    .await;
    assert_eq!(created, 201);
    let id = performer["performer_id"].as_i64().expect("id");
    let (refused, _, _) = send(
        &app,
        Method::PATCH,
        &format!("/v1/performers/{id}"),
        Some(&admin),
        &json!({"genre": ""}),
    )
    .await;
    assert_eq!(refused, 400);
    let (forbidden, _, _) = send(
        &app,
        Method::POST,
        "/v1/performers",
        Some(&shopper),
        &json!({"name": "X", "genre": "y"}),
    )
    .await;
    assert_eq!(forbidden, 403);
    let (read, _, _) = send(
        &app,
        Method::GET,
        &format!("/v1/performers/{id}"),
        Some(&admin),
        &json!({}),
    )
    .await;
    assert_eq!(read, 200);

    let rows: Vec<(uuid::Uuid, String, String, i16, String, Option<String>)> = sqlx::query_as(
        "select actor, method, path, status, client_address, request_id from admin_audit order by audit_id",
    )
    .fetch_all(&app.db.pool)
    .await
    .expect("audit rows");
    let summary: Vec<_> = rows
        .iter()
        .map(|(_, m, p, s, _, _)| (m.as_str(), p.clone(), *s))
        .collect();
    assert_eq!(
        summary,
        [
            ("POST", "/v1/performers".to_owned(), 201),
            ("PATCH", format!("/v1/performers/{id}"), 400)
        ],
        "admin writes only, refused ones included; not the shopper's attempt, not reads"
    );
    for (actor, _, _, _, address, request_id) in &rows {
        assert_eq!(*actor, admin_id);
        assert_eq!(address, "127.0.0.1");
        assert!(
            request_id.as_deref().is_some_and(|r| !r.is_empty()),
            "request id recorded"
        );
    }
}
