//! Search over HTTP: the routes, their validation, and what happens when the
//! index is missing. Also what the documents say about availability.

use std::time::{Duration, Instant};

use e2e::{Service, TestApp, TestDb, fixtures, search_catalog, spawn_app_with};
use search::catalog;
use search::rebuild::{self, Target};
use serde_json::Value;

async fn rebuild_into(db: &TestDb, dir: &std::path::Path) {
    let mut client = db.tokio_postgres().await;
    rebuild::rebuild(&mut client, &Target::Tantivy(dir.to_owned()))
        .await
        .expect("rebuild");
}

async fn api_over(db: TestDb, dir: &std::path::Path) -> TestApp {
    let dir = dir.to_string_lossy().into_owned();
    spawn_app_with(Service::Api, db, &[("SEARCH_INDEX_DIR", dir.as_str())]).await
}

#[tokio::test]
async fn search_and_suggest_answer_over_http_with_cacheable_json() {
    let db = TestDb::migrated().await;
    search_catalog::load(&db.pool).await;
    let dir = tempfile::tempdir().expect("dir");
    rebuild_into(&db, dir.path()).await;
    let app = api_over(db, dir.path()).await;

    // The original API's parameter names work too.
    let response = app
        .get("/v1/events/search?keyword=metallica&pageSize=5&city=London,Paris")
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=15, stale-while-revalidate=30"
    );
    let body: Value = response.json().await.expect("json");
    assert!(body["total"].as_u64().expect("total") > 0);
    assert_eq!(body["size"], 5);
    assert!(body["took_ms"].is_number());
    let hits = body["hits"].as_array().expect("hits");
    assert!(!hits.is_empty() && hits.len() <= 5);
    for hit in hits {
        assert!(["London", "Paris"].contains(&hit["venue"]["city"].as_str().expect("city")));
        assert!(
            hit["highlights"]["performers"][0]
                .as_str()
                .expect("hl")
                .contains("<em>Metallica</em>")
        );
        for field in [
            "event_id",
            "title",
            "starts_at",
            "min_price_cents",
            "currency",
            "available_tickets",
            "sold_out",
        ] {
            assert!(!hit[field].is_null(), "{field}");
        }
    }
    for facet in ["category", "genre", "city", "price", "month"] {
        assert!(body["facets"][facet].is_array(), "{facet}");
    }

    let body: Value = app
        .get("/v1/events/suggest?q=lond")
        .await
        .json()
        .await
        .expect("json");
    let suggestions = body["suggestions"].as_array().expect("suggestions");
    assert!(suggestions.len() <= 10);
    assert!(
        suggestions
            .iter()
            .any(|s| s["kind"] == "city" && s["text"] == "London" && s["country"] == "GB"),
        "{suggestions:?}"
    );
    let body: Value = app
        .get("/v1/events/suggest?q=metalica&limit=3")
        .await
        .json()
        .await
        .expect("json");
    assert!(body["suggestions"].as_array().expect("array").len() <= 3);
    assert_eq!(body["suggestions"][0]["text"], "Metallica");
}

#[tokio::test]
async fn bad_parameters_are_problem_json_naming_the_parameter() {
    let app = spawn_app_with(Service::Api, TestDb::migrated().await, &[]).await;
    for (query, field) in [
        ("/v1/events/search?start=2027-02-01&end=2027-01-01", "end"),
        ("/v1/events/search?radius_km=10", "radius_km"),
        ("/v1/events/search?lat=51&lon=0&radius_km=-1", "radius_km"),
        (
            "/v1/events/search?lat=51&lon=0&radius_km=100000",
            "radius_km",
        ),
        ("/v1/events/search?size=101", "size"),
        ("/v1/events/search?pageSize=500", "size"),
        ("/v1/events/search?page=0", "page"),
        ("/v1/events/search?page=9999&size=100", "page"),
        ("/v1/events/search?page=two", "page"),
        ("/v1/events/search?min_price=ten", "min_price"),
        ("/v1/events/search?min_price=50&max_price=10", "max_price"),
        ("/v1/events/search?start=next-friday", "start"),
        ("/v1/events/search?lat=abc&lon=1", "lat"),
        ("/v1/events/search?lat=95&lon=1", "lat"),
        ("/v1/events/search?lat=10", "lon"),
        ("/v1/events/search?sort=distance", "sort"),
        ("/v1/events/search?sort=cheapest", "sort"),
        ("/v1/events/search?category=opera", "category"),
        ("/v1/events/search?country=Britain", "country"),
        ("/v1/events/search?venue_id=abc", "venue_id"),
        ("/v1/events/search?available=maybe", "available"),
        ("/v1/events/search?currency=dollars", "currency"),
        ("/v1/events/search?currency=XYZ", "currency"),
        ("/v1/events/search?q=a&q=b", "q"),
        ("/v1/events/suggest", "q"),
        ("/v1/events/suggest?q=ab&limit=50", "limit"),
    ] {
        let response = app.get(query).await;
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{query}"
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["field"], field, "{query}: {body}");
        assert_eq!(body["status"], 400);
    }
    let long = format!("/v1/events/search?q={}", "a".repeat(201));
    assert_eq!(app.get(&long).await.status(), 400);
}

#[tokio::test]
async fn without_an_index_search_is_503_and_the_service_stays_up_until_one_is_built() {
    let db = TestDb::migrated().await;
    search_catalog::load(&db.pool).await;
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("index");
    let db2 = TestDb::attach(&db);
    let app = api_over(db, &root).await;

    let response = app.get("/v1/events/search?q=adele").await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(app.get("/v1/events/suggest?q=ad").await.status(), 503);
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);

    // The running service picks up an index as soon as a rebuild publishes it.
    rebuild_into(&db2, &root).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = app.get("/v1/events/search?q=adele").await.status();
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Answers are cached per index generation: a new generation is never
    // answered from the old one's cache.
    let total = |body: Value| body["total"].as_u64().expect("total");
    let zanzibar = "/v1/events/search?q=zanzibar";
    assert_eq!(
        total(app.get(zanzibar).await.json().await.expect("json")),
        0
    );
    assert_eq!(
        total(app.get(zanzibar).await.json().await.expect("json")),
        0
    );
    sqlx::query("update events set title = 'Zanzibar Nights' where event_id = 1")
        .execute(&db2.pool)
        .await
        .expect("update");
    rebuild_into(&db2, &root).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while total(app.get(zanzibar).await.json().await.expect("json")) != 1 {
        assert!(
            Instant::now() < deadline,
            "the cached answer outlived the rebuild"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn documents_count_live_seats_and_general_admission_left() {
    let db = TestDb::migrated().await;
    let event = fixtures::on_sale_event(&db.pool, 3, 10, 50).await;
    let client = db.tokio_postgres().await;
    let docs = catalog::documents_for(&client, &[event.event_id])
        .await
        .expect("docs");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].available_tickets, 30 + 50);
    assert_eq!(
        (docs[0].min_price_cents, docs[0].max_price_cents),
        (3000, 5000)
    );

    let user = fixtures::user(&db.pool, "user").await;
    let booking = fixtures::pending_booking(&db.pool, user, event.event_id).await;
    let seats = event.seat_ids();
    sqlx::query("update event_seats set status = 'sold', booking_id = $1 where seat_id = any($2)")
        .bind(booking)
        .bind(&seats[..5])
        .execute(&db.pool)
        .await
        .expect("sell");
    // A hold past its expiry is as good as free.
    sqlx::query(
        "update event_seats set status = 'held', booking_id = $1, held_until = now() - interval '1 minute'
         where seat_id = any($2)",
    )
    .bind(booking)
    .bind(&seats[5..7])
    .execute(&db.pool)
    .await
    .expect("expired hold");
    sqlx::query("update ga_inventory set held = 10, sold = 40 where ticket_type_id = $1")
        .bind(event.ga_type_id)
        .execute(&db.pool)
        .await
        .expect("ga");
    let docs = catalog::documents_for(&client, &[event.event_id])
        .await
        .expect("docs");
    assert_eq!(docs[0].available_tickets, 25);
    assert!(!docs[0].sold_out);

    sqlx::query("update events set status = 'cancelled' where event_id = $1")
        .bind(event.event_id)
        .execute(&db.pool)
        .await
        .expect("cancel");
    assert!(
        catalog::documents_for(&client, &[event.event_id])
            .await
            .expect("docs")
            .is_empty()
    );
}

/// Prices across currencies over HTTP: the public rates table, an admin's
/// replacement (validated field by field, admin only), and a search whose
/// price sort, filter and hits follow the display currency and the new
/// rates at once on the instance that took the write.
#[tokio::test]
async fn a_display_currency_orders_mixed_currencies_with_the_admins_rates() {
    let db = TestDb::migrated().await;
    search_catalog::load(&db.pool).await;
    let dir = tempfile::tempdir().expect("dir");
    rebuild_into(&db, dir.path()).await;
    let app = api_over(db, dir.path()).await;

    let rates: Value = app
        .get("/v1/currency-rates")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(rates["quote"], "USD");
    assert_eq!(rates["rates"]["USD"], 1.0);
    let version = rates["version"].as_i64().expect("version");

    // Price high to low in GBP: every hit's converted price is in order,
    // and a hit in GBP shows its own price as the converted one.
    let body: Value = app
        .get("/v1/events/search?sort=price_desc&currency=gbp&size=50&facets=true")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["display_currency"], "GBP");
    assert_eq!(body["rates_version"], version);
    let converted: Vec<i64> = body["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["display_min_price_cents"].as_i64().expect("converted"))
        .collect();
    assert!(converted.windows(2).all(|w| w[0] >= w[1]), "{converted:?}");
    let currencies: std::collections::BTreeSet<&str> = body["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["currency"].as_str().expect("currency"))
        .collect();
    assert!(
        currencies.len() > 1,
        "the first page mixes currencies: {currencies:?}"
    );
    for hit in body["hits"].as_array().expect("hits") {
        if hit["currency"] == "GBP" {
            assert_eq!(hit["display_min_price_cents"], hit["min_price_cents"]);
        }
    }
    // A price range in GBP holds only hits whose GBP price is inside it.
    let body: Value = app
        .get("/v1/events/search?currency=GBP&min_price=50&max_price=100&size=100")
        .await
        .json()
        .await
        .expect("json");
    assert!(body["total"].as_u64().expect("total") > 0);
    for hit in body["hits"].as_array().expect("hits") {
        let p = hit["display_min_price_cents"].as_i64().expect("converted");
        assert!((5_000..=10_000).contains(&p), "{hit}");
    }

    // Only a catalog admin replaces the table; bad rates name their field.
    let admin = fixtures::token(
        fixtures::user(&app.db.pool, "admin").await,
        auth::Role::Admin,
    );
    let shopper = fixtures::token(fixtures::user(&app.db.pool, "user").await, auth::Role::User);
    let put = |token: String, body: Value| {
        let request = app
            .http
            .put(format!("{}/v1/admin/currency-rates", app.address))
            .bearer_auth(token)
            .json(&body);
        async move { request.send().await.expect("reaches the api") }
    };
    assert_eq!(
        put(shopper, serde_json::json!({"rates": {"EUR": 1.0}}))
            .await
            .status(),
        403
    );
    for (body, field) in [
        (serde_json::json!({"rates": {"EUR": -1}}), "rates.EUR"),
        (serde_json::json!({"rates": {"XYZ": 1}}), "rates.XYZ"),
        (serde_json::json!({"rates": {"USD": 2}}), "rates.USD"),
    ] {
        let response = put(admin.clone(), body).await;
        assert_eq!(response.status(), 400);
        let problem: Value = response.json().await.expect("problem");
        assert_eq!(problem["field"], field);
    }
    // GBP worth ten dollars a pound: the dearest events in USD are now
    // GBP ones, at ten times their price.
    let response = put(
        admin,
        serde_json::json!({"rates": {"EUR": 0.92, "GBP": 0.1}}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let table: Value = response.json().await.expect("json");
    assert_eq!(table["version"], version + 1);
    assert!(
        table["rates"]["JPY"].is_null(),
        "a replacement drops what it leaves out"
    );
    let body: Value = app
        .get("/v1/events/search?sort=price_desc&currency=USD&size=100")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["rates_version"], version + 1);
    let hits = body["hits"].as_array().expect("hits");
    assert_eq!(hits[0]["currency"], "GBP");
    let converted: Vec<i64> = hits
        .iter()
        .map(|h| h["display_min_price_cents"].as_i64().expect("converted"))
        .collect();
    assert!(converted.windows(2).all(|w| w[0] >= w[1]), "{converted:?}");
    for hit in hits.iter().filter(|h| h["currency"] == "GBP") {
        let native = hit["min_price_cents"].as_i64().expect("price");
        assert_eq!(hit["display_min_price_cents"], native * 10, "{hit}");
    }
    // A currency without a rate is a 400 naming `currency`.
    let response = app.get("/v1/events/search?currency=JPY").await;
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.expect("problem");
    assert_eq!(problem["field"], "currency");
}
