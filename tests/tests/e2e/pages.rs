//! Public catalog pages: content, the two-level cache, HTTP caching for a
//! CDN, single flight, and degradation when Redis or Postgres is down.

use std::sync::Arc;
use std::time::Duration;

use e2e::{Service, TestApp, TestDb, header_of, search_catalog, spawn_app_with};
use reqwest::header;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

async fn catalog_api(extra: &[(&str, &str)]) -> TestApp {
    let db = TestDb::migrated().await;
    search_catalog::load(&db.pool).await;
    spawn_app_with(Service::Api, db, extra).await
}

#[tokio::test]
async fn an_event_page_has_its_venue_performers_and_tiers_and_cdn_headers() {
    let app = catalog_api(&[]).await;
    let first = app.get("/v1/events/2").await;
    assert_eq!(first.status(), 200);
    assert_eq!(header_of(&first, "x-cache"), "database");
    let cache_control = header_of(&first, "cache-control");
    for part in [
        "public",
        "max-age=",
        "s-maxage=",
        "stale-while-revalidate=",
        "stale-if-error=",
    ] {
        assert!(cache_control.contains(part), "{cache_control}");
    }
    let etag = header_of(&first, "etag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "a strong ETag: {etag}"
    );
    let surrogate = header_of(&first, "surrogate-key");
    let tags = header_of(&first, "cache-tag");
    let body: Value = first.json().await.expect("json");
    let venue = body["venue"]["venue_id"].as_i64().expect("venue");
    let performer = body["performers"][0]["performer_id"]
        .as_i64()
        .expect("performer");
    for key in [
        "event:2".to_owned(),
        format!("venue:{venue}"),
        format!("performer:{performer}"),
    ] {
        assert!(
            surrogate.split(' ').any(|k| k == key),
            "{surrogate} lacks {key}"
        );
        assert!(tags.split(',').any(|k| k == key), "{tags} lacks {key}");
    }
    assert_eq!(body["event_id"], 2);
    assert!(
        body["ticket_types"]
            .as_array()
            .expect("tiers")
            .iter()
            .all(|t| t["available"].is_number())
    );
    assert_eq!(body["availability"]["sold_out"], false);

    // Served from memory next, and a matching If-None-Match is a bodiless 304.
    let again = app.get("/v1/events/2").await;
    assert_eq!(header_of(&again, "x-cache"), "memory");
    let revalidated = app
        .http
        .get(format!("{}/v1/events/2", app.address))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(revalidated.status(), 304);
    assert_eq!(header_of(&revalidated, "etag"), etag);
    assert!(revalidated.bytes().await.expect("body").is_empty());

    // Sold out reads as sold out.
    let sold_out: Value = app.get("/v1/events/11").await.json().await.expect("json");
    assert_eq!(sold_out["availability"]["sold_out"], true);

    for (path, field) in [
        ("/v1/venues/1", "venue_id"),
        ("/v1/performers/2", "performer_id"),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(header_of(&r, "cache-control").contains("s-maxage="));
        let body: Value = r.json().await.expect("json");
        assert!(body[field].is_number(), "{path}: {body}");
    }
}

#[tokio::test]
async fn unknown_ids_are_404_and_malformed_ids_400_as_problem_json() {
    let app = catalog_api(&[]).await;
    for (path, status) in [
        ("/v1/events/999999", 404),
        ("/v1/events/17", 404), // cancelled events stay public; drafts do not
        ("/v1/venues/999", 404),
        ("/v1/performers/999", 404),
        ("/v1/events/abc", 400),
        ("/v1/events/-3", 400),
        ("/v1/venues/1.5", 400),
    ] {
        let r = app.get(path).await;
        let expected = if path == "/v1/events/17" { 200 } else { status };
        assert_eq!(r.status(), expected, "{path}");
        if expected != 200 {
            assert_eq!(
                header_of(&r, "content-type"),
                "application/problem+json",
                "{path}"
            );
        }
        if expected == 400 {
            let body: Value = r.json().await.expect("json");
            assert_eq!(body["field"], "id", "{path}");
        }
    }
}

#[tokio::test]
async fn the_first_read_fills_redis_and_another_instance_reads_it_from_there() {
    let app = catalog_api(&[]).await;
    assert_eq!(
        header_of(&app.get("/v1/events/3").await, "x-cache"),
        "database"
    );
    let second = spawn_app_with(Service::Api, TestDb::attach(&app.db), &[]).await;
    assert_eq!(
        header_of(&second.get("/v1/events/3").await, "x-cache"),
        "redis"
    );
    assert_eq!(
        header_of(&second.get("/v1/events/3").await, "x-cache"),
        "memory"
    );
}

#[tokio::test]
async fn a_thousand_concurrent_misses_cost_one_database_load() {
    let app = Arc::new(catalog_api(&[]).await);
    let mut tasks = Vec::new();
    for _ in 0..1_000 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let r = app.get("/v1/events/4").await;
            (r.status().as_u16(), header_of(&r, "x-cache"))
        }));
    }
    let mut from_database = 0;
    for t in tasks {
        let (status, source) = t.await.expect("task");
        assert_eq!(status, 200);
        if source == "database" {
            from_database += 1;
        }
    }
    assert_eq!(
        from_database, 1,
        "one load for a thousand concurrent misses"
    );
}

#[tokio::test]
async fn with_redis_down_pages_come_from_memory_and_postgres() {
    // Nothing listens on port 1.
    let app = catalog_api(&[("REDIS_URL", "redis://127.0.0.1:1/")]).await;
    let r = app.get("/v1/events/5").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header_of(&r, "x-cache"), "database");
    assert_eq!(
        header_of(&app.get("/v1/events/5").await, "x-cache"),
        "memory"
    );
}

/// A TCP proxy to Postgres that a test can cut, closing every connection.
struct Cuttable {
    address: String,
    accept: JoinHandle<()>,
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Cuttable {
    async fn to(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        let pipes: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let held = pipes.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                held.lock().await.push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Self {
            address,
            accept,
            pipes,
        }
    }

    async fn cut(&self) {
        self.accept.abort();
        for p in self.pipes.lock().await.drain(..) {
            p.abort();
        }
    }
}

#[tokio::test]
async fn with_postgres_down_cached_pages_are_served_stale_and_others_are_503() {
    let db = TestDb::migrated().await;
    search_catalog::load(&db.pool).await;
    let url = reqwest::Url::parse(&db.url).expect("url");
    let upstream = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().unwrap_or(5432)
    );
    let proxy = Cuttable::to(upstream).await;
    let proxied = db.url.replacen(
        &format!(
            "{}:{}",
            url.host_str().expect("host"),
            url.port().unwrap_or(5432)
        ),
        &proxy.address,
        1,
    );
    let app = spawn_app_with(Service::Api, db, &[("DATABASE_URL", proxied.as_str())]).await;
    assert_eq!(app.get("/v1/events/6").await.status(), 200);

    proxy.cut().await;
    tokio::time::sleep(Duration::from_millis(1_200)).await; // the page is stale now
    let stale = app.get("/v1/events/6").await;
    assert_eq!(stale.status(), 200);
    assert_eq!(header_of(&stale, "x-cache"), "stale");
    let missing = app.get("/v1/events/7").await;
    assert_eq!(missing.status(), 503);
    assert_eq!(
        header_of(&missing, "content-type"),
        "application/problem+json"
    );
}

#[tokio::test]
async fn an_invalidation_message_evicts_the_page_on_every_instance() {
    let one = catalog_api(&[]).await;
    let two = spawn_app_with(Service::Api, TestDb::attach(&one.db), &[]).await;
    for app in [&one, &two] {
        assert_eq!(app.get("/v1/venues/2").await.status(), 200);
        assert_eq!(
            header_of(&app.get("/v1/venues/2").await, "x-cache"),
            "memory"
        );
    }
    sqlx::query("update venues set name = 'The O2' where venue_id = 2")
        .execute(&one.db.pool)
        .await
        .expect("rename");

    // What the indexer does once the change is durable: drop L2, publish.
    let namespace = one.db.name.clone();
    let mut conn = e2e::redis_connection().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for app in [&one, &two] {
        loop {
            let _: () = redis::cmd("DEL")
                .arg(api::cache::redis_key(&namespace, "venue:2"))
                .query_async(&mut conn)
                .await
                .expect("del");
            let _: i64 = redis::cmd("PUBLISH")
                .arg(api::cache::invalidation::channel(&namespace))
                .arg(r#"{"keys": ["venue:2"]}"#)
                .query_async(&mut conn)
                .await
                .expect("publish");
            let body: Value = app.get("/v1/venues/2").await.json().await.expect("json");
            if body["name"] == "The O2" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the page was never evicted"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn the_seat_map_is_compact_and_shows_live_status() {
    let db = TestDb::migrated().await;
    // 20 rows of 500: 10,000 seats.
    let event = e2e::fixtures::on_sale_event(&db.pool, 20, 500, 10).await;
    let user = e2e::fixtures::user(&db.pool, "user").await;
    let booking = e2e::fixtures::pending_booking(&db.pool, user, event.event_id).await;
    let row0 = &event.rows[0];
    for (seats, sql) in [
        (
            &row0[0..2],
            "update event_seats set status = 'sold', booking_id = $1 where seat_id = any($2)",
        ),
        (
            &row0[2..3],
            "update event_seats set status = 'held', booking_id = $1, held_until = now() + interval '5 minutes' where seat_id = any($2)",
        ),
        (
            &row0[3..4],
            "update event_seats set status = 'held', booking_id = $1, held_until = now() - interval '1 minute' where seat_id = any($2)",
        ),
    ] {
        sqlx::query(sql)
            .bind(booking)
            .bind(seats)
            .execute(&db.pool)
            .await
            .expect("seat state");
    }
    let app = spawn_app_with(Service::Api, db, &[]).await;
    let r = app
        .get(&format!("/v1/events/{}/seats", event.event_id))
        .await;
    assert_eq!(r.status(), 200);
    assert!(header_of(&r, "surrogate-key").contains(&format!("event:{}", event.event_id)));
    let bytes = r.bytes().await.expect("body");
    assert!(
        bytes.len() < 10_000 * 2,
        "{} bytes for 10,000 seats",
        bytes.len()
    );
    let map: Value = serde_json::from_slice(&bytes).expect("json");
    let rows = map["sections"][0]["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 20);
    let first = &rows[0];
    assert_eq!(first["label"], "R1");
    assert_eq!(first["first_seat_id"], row0[0]);
    assert_eq!(first["first_number"], 1);
    assert_eq!(
        (first["x0"].as_f64(), first["dx"].as_f64()),
        (Some(10.0), Some(10.0))
    );
    let status = first["status"].as_str().expect("status");
    assert_eq!(status.len(), 500);
    assert_eq!(
        &status[..5],
        "sshaa",
        "sold, sold, held, a lapsed hold, free"
    );
    assert_eq!(map["tiers"][0]["ticket_type_id"], event.seated_type_id);
    assert_eq!(app.get("/v1/events/999999/seats").await.status(), 404);
}

#[tokio::test]
async fn the_overview_outlines_sections_with_seats_left_and_a_section_s_seats_come_alone() {
    let db = TestDb::migrated().await;
    // One section: 3 rows of 4 seats at x = 10, 20, 30, 40 (fixtures).
    let event = e2e::fixtures::on_sale_event(&db.pool, 3, 4, 10).await;
    let user = e2e::fixtures::user(&db.pool, "user").await;
    let booking = e2e::fixtures::pending_booking(&db.pool, user, event.event_id).await;
    sqlx::query("update event_seats set status = 'sold', booking_id = $1 where seat_id = any($2)")
        .bind(booking)
        .bind(&event.rows[0][0..3])
        .execute(&db.pool)
        .await
        .expect("sold");
    sqlx::query("update venues set stage = '[[0,-50],[50,-50],[50,-40]]' where venue_id = (select venue_id from events where event_id = $1)")
        .bind(event.event_id)
        .execute(&db.pool)
        .await
        .expect("stage");
    let app = spawn_app_with(Service::Api, db, &[]).await;

    let r = app
        .get(&format!("/v1/events/{}/sections", event.event_id))
        .await;
    assert_eq!(r.status(), 200);
    assert!(header_of(&r, "surrogate-key").contains(&format!("event:{}", event.event_id)));
    let overview: Value = r.json().await.expect("json");
    let section = &overview["sections"][0];
    assert_eq!(section["section_id"], event.section_id);
    assert_eq!(section["seats"], 12);
    assert_eq!(section["available"], 9, "three of twelve sold");
    assert_eq!(section["ticket_type_id"], event.seated_type_id);
    // A grid's hull is its four corners; the label sits at their centre.
    let outline = section["outline"].as_array().expect("outline");
    assert_eq!(outline.len(), 4, "{outline:?}");
    assert_eq!(section["seat_pitch"], 10.0);
    assert_eq!(overview["stage"][0], serde_json::json!([0.0, -50.0]));
    assert!(
        overview["bounds"]["min_y"].as_f64() <= Some(-50.0),
        "the stage is inside the bounds"
    );
    assert!(
        !overview.to_string().contains("\"rows\""),
        "no seats on the overview"
    );

    let one = app
        .get(&format!(
            "/v1/events/{}/seats?section={}",
            event.event_id, event.section_id
        ))
        .await;
    assert_eq!(one.status(), 200);
    let map: Value = one.json().await.expect("json");
    assert_eq!(map["sections"].as_array().map(Vec::len), Some(1));
    assert_eq!(map["sections"][0]["rows"].as_array().map(Vec::len), Some(3));
    assert_eq!(map["sections"][0]["rows"][0]["status"], "sssa");
    assert_eq!(
        app.get(&format!(
            "/v1/events/{}/seats?section=999999",
            event.event_id
        ))
        .await
        .status(),
        404
    );
    let bad = app
        .get(&format!("/v1/events/{}/seats?section=abc", event.event_id))
        .await;
    assert_eq!(bad.status(), 400);
    let problem: Value = bad.json().await.expect("problem");
    assert_eq!(problem["field"], "section");
}

#[tokio::test]
async fn the_event_lists_page_by_keyset_through_every_scheduled_event() {
    let app = catalog_api(&[]).await;
    for (sort, order, limit, on_sale) in [
        ("popular", "popularity desc, event_id desc", 50, false),
        ("upcoming", "starts_at, event_id", 60, false),
        // What a shopper can buy now: the sale is open, the show ahead.
        ("popular", "popularity desc, event_id desc", 50, true),
    ] {
        let sale = if on_sale {
            " and sale_starts_at <= now() and now() < sale_ends_at and starts_at > now()"
        } else {
            ""
        };
        let expected: Vec<i64> = sqlx::query_scalar(&format!(
            "select event_id from events where status = 'scheduled' and ({sort:?} = 'popular' or starts_at > now()){sale} order by {order}"
        ).replace('"', "'"))
        .fetch_all(&app.db.pool)
        .await
        .expect("expected order");
        assert!(
            !expected.is_empty(),
            "{sort} {on_sale}: the catalog has such events"
        );
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => {
                    format!("/v1/events?sort={sort}&limit={limit}&on_sale={on_sale}&after={a}")
                }
                None => format!("/v1/events?sort={sort}&limit={limit}&on_sale={on_sale}"),
            };
            let r = app.get(&path).await;
            assert_eq!(r.status(), 200, "{path}");
            let body: Value = r.json().await.expect("json");
            seen.extend(
                body["events"]
                    .as_array()
                    .expect("events")
                    .iter()
                    .map(|e| e["event_id"].as_i64().expect("id")),
            );
            match body["next_after"].as_str() {
                Some(a) => after = Some(a.to_owned()),
                None => break,
            }
            assert!(seen.len() <= expected.len(), "{sort}: paging does not end");
        }
        assert_eq!(seen, expected, "{sort} on_sale={on_sale}");
    }
    for bad in [
        "/v1/events?on_sale=yes",
        "/v1/events?after=nonsense",
        "/v1/events?limit=1000",
        "/v1/events?sort=random",
    ] {
        let r = app.get(bad).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn the_api_describes_itself_at_openapi_json() {
    let app = spawn_app_with(Service::Api, TestDb::migrated().await, &[]).await;
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header_of(&r, "content-type"), "application/json");
    let doc: Value = r.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/events/{id}"]["get"].is_object());
}

#[tokio::test]
async fn invalidations_reach_the_cdn_purge_webhook_once_for_all_instances() {
    // A stand-in for a CDN's purge API (a third party we cannot run here).
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let cdn = axum::Router::new().route(
        "/purge",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().await.push(body);
                "ok"
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let purge_url = format!("http://{}/purge", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, cdn).await });

    let extra = [("CDN_PURGE_URL", purge_url.as_str())];
    let one = catalog_api(&extra).await;
    let _two = spawn_app_with(Service::Api, TestDb::attach(&one.db), &extra).await;
    let mut conn = e2e::redis_connection().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while received.lock().await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no purge arrived");
        let _: i64 = redis::cmd("PUBLISH")
            .arg(api::cache::invalidation::channel(&one.db.name))
            .arg(r#"{"events": [9], "keys": ["venue:4"]}"#)
            .query_async(&mut conn)
            .await
            .expect("publish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let purges = received.lock().await.clone();
    assert_eq!(purges.len(), 1, "one purge for both instances: {purges:?}");
    assert_eq!(
        purges[0]["surrogate_keys"],
        serde_json::json!(["event:9", "venue:4"])
    );
}
