//! The public HTML pages (server side): content, cache headers, no user
//! data, and the demo sign-in. The browser flow is in tests/browser.

use e2e::{Service, TestApp, TestDb, fixtures, header_of, search_catalog, spawn_app_with};

async fn site(extra: &[(&str, &str)]) -> TestApp {
    let db = TestDb::migrated().await;
    search_catalog::load(&db.pool).await;
    spawn_app_with(Service::Api, db, extra).await
}

#[tokio::test]
async fn pages_render_with_cdn_headers_and_no_user_data() {
    let app = site(&[]).await;
    let home = app.get("/").await;
    assert_eq!(home.status(), 200);
    assert!(header_of(&home, "content-type").starts_with("text/html"));
    assert!(header_of(&home, "cache-control").contains("public"));
    let html = home.text().await.expect("html");
    assert!(
        html.contains("id=\"popular\"") && html.contains("class=\"event-link\""),
        "{html}"
    );

    let user = fixtures::user(&app.db.pool, "user").await;
    let token = fixtures::token(user, auth::Role::User);
    let event = app
        .http
        .get(format!("{}/events/2", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .expect("event page");
    assert_eq!(event.status(), 200);
    let cache_control = header_of(&event, "cache-control");
    for part in [
        "public",
        "s-maxage=",
        "stale-while-revalidate=",
        "stale-if-error=",
    ] {
        assert!(cache_control.contains(part), "{cache_control}");
    }
    assert!(header_of(&event, "etag").starts_with('"'));
    assert!(header_of(&event, "surrogate-key").contains("event:2"));
    let html = event.text().await.expect("html");
    // The event page says where its sale stands; the seat map only shows
    // while it can be used (the shop tests read both in a browser).
    assert!(html.contains("id=\"sale-state\"") && html.contains("id=\"event-title\""));
    assert!(
        !html.contains(&token) && !html.contains(&user.to_string()),
        "no user data in cacheable HTML"
    );

    for path in [
        "/me/tickets",
        "/login",
        "/checkout/00000000-0000-0000-0000-000000000000",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(header_of(&r, "cache-control").contains("public"), "{path}");
    }
    assert_eq!(app.get("/events/999999").await.status(), 404);
    // An address that is no page: a browser gets the branded page with a
    // search box, an API client problem+json.
    let missing = app
        .http
        .get(format!("{}/no/such/page", app.address))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("404 page");
    assert_eq!(missing.status(), 404);
    assert!(header_of(&missing, "content-type").starts_with("text/html"));
    let body = missing.text().await.expect("html");
    assert!(
        body.contains("We could not find that page") && body.contains("id=\"search-form\""),
        "{body}"
    );
    let api_missing = app.get("/v1/no-such-route").await;
    assert_eq!(api_missing.status(), 404);
    assert!(header_of(&api_missing, "content-type").starts_with("application/problem+json"));
    assert_eq!(app.get("/events/abc").await.status(), 400);
    assert_eq!(app.get("/checkout/not-a-booking").await.status(), 400);
    let script = app.get("/static/app.js").await;
    assert_eq!(script.status(), 200);
    assert!(header_of(&script, "content-type").starts_with("text/javascript"));
}

#[tokio::test]
async fn the_demo_sign_in_mints_a_token_only_in_development() {
    let app = site(&[]).await;
    sqlx::query(
        "insert into users (email, display_name) values ('user01@demo.ticketing.test', 'Demo')",
    )
    .execute(&app.db.pool)
    .await
    .expect("demo user");
    let login = |email: &str| {
        app.http
            .post(format!("{}/v1/demo/login", app.address))
            .json(&serde_json::json!({ "email": email }))
            .send()
    };
    let ok = login("user01@demo.ticketing.test").await.expect("login");
    assert_eq!(ok.status(), 200);
    assert_eq!(header_of(&ok, "cache-control"), "no-store");
    let body: serde_json::Value = ok.json().await.expect("json");
    let token = body["token"].as_str().expect("token");
    let keys = auth::JwtKeys::new(&e2e::test_secret());
    assert_eq!(keys.verify(token).expect("verifies").role, auth::Role::User);
    let refused = login("someone@example.com").await.expect("login");
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["field"], "email");

    // The demo sign-in is for shoppers: the demo admin cannot be had
    // without its password, and is not listed.
    sqlx::query(
        "insert into users (email, display_name, role) values ('admin@demo.ticketing.test', 'Demo admin', 'admin')",
    )
    .execute(&app.db.pool)
    .await
    .expect("demo admin");
    let refused = login("admin@demo.ticketing.test").await.expect("login");
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.expect("json");
    assert!(body.get("token").is_none(), "{body}");
    assert_eq!(body["field"], "email");
    let page = app.get("/login").await.text().await.expect("html");
    assert!(page.contains("user01@demo.ticketing.test"), "{page}");
    assert!(!page.contains("admin@demo.ticketing.test"), "{page}");

    // Production refuses a database with demo accounts outright, so the
    // production instance gets a clean one, and settings that are not
    // demo-like.
    let production = spawn_app_with(
        Service::Api,
        TestDb::migrated().await,
        &[
            ("APP_ENV", "production"),
            ("RATE_LIMIT_PROFILE", "standard"),
            ("PUBLIC_URL", "https://tickets.example.com"),
            ("SMTP_URL", "smtp://mail.example.com:25"),
        ],
    )
    .await;
    let response = production
        .http
        .post(format!("{}/v1/demo/login", production.address))
        .json(&serde_json::json!({ "email": "user01@demo.ticketing.test" }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn the_search_page_keeps_the_query_in_links_and_shows_facets() {
    let dir = tempfile::tempdir().expect("dir");
    let db = TestDb::migrated().await;
    search_catalog::load(&db.pool).await;
    let mut client = db.tokio_postgres().await;
    search::rebuild::rebuild(
        &mut client,
        &search::rebuild::Target::Tantivy(dir.path().to_owned()),
    )
    .await
    .expect("index");
    let dir_s = dir.path().to_string_lossy().into_owned();
    let app = spawn_app_with(Service::Api, db, &[("SEARCH_INDEX_DIR", &dir_s)]).await;
    let page = app.get("/search?q=metallica&category=concert").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("id=\"results\""), "{html}");
    assert!(
        html.contains("class=\"result\""),
        "metallica concerts are found"
    );
    assert!(html.contains("data-facet=\"category\""));
    assert!(
        html.contains("aria-current=\"true\""),
        "the selected category is marked"
    );
    assert!(html.contains("q=metallica"), "facet links keep the query");
    let bad = app.get("/search?sort=sideways").await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn performer_and_venue_pages_list_their_upcoming_events() {
    let app = site(&[]).await;
    // The ground truth: the soonest scheduled upcoming event of each, and
    // one cancelled event (never listed).
    let soonest = |filter: &'static str, id: i64| {
        let pool = app.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(&format!(
                "select e.title from events e
                  where {filter} and e.status = 'scheduled' and e.starts_at > now()
                  order by e.starts_at, e.event_id limit 1"
            ))
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("an upcoming event")
        }
    };
    let performer_event = soonest(
        "exists (select 1 from event_performers ep
                  where ep.event_id = e.event_id and ep.performer_id = $1)",
        1,
    )
    .await;
    let venue_event = soonest("e.venue_id = $1", 5).await;
    let cancelled: String = sqlx::query_scalar(
        "select title from events where status = 'cancelled' and venue_id = 5 limit 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("a cancelled event");

    for (path, name, key, event) in [
        (
            "/performers/1",
            "Metallica",
            "performer:1",
            &performer_event,
        ),
        (
            "/venues/5",
            "Madison Square Garden",
            "venue:5",
            &venue_event,
        ),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            header_of(&r, "content-type").starts_with("text/html"),
            "{path}"
        );
        assert!(header_of(&r, "cache-control").contains("public"), "{path}");
        let keys = header_of(&r, "surrogate-key");
        assert!(
            keys.split(' ').any(|k| k == key) && keys.split(' ').any(|k| k == "events"),
            "{path}: {keys}"
        );
        let html = r.text().await.expect("html");
        assert!(
            html.contains(&format!(
                "<h1 id=\"{}-name\">{name}</h1>",
                &key[..key.find(':').unwrap_or(0)]
            )),
            "{path}: {html}"
        );
        assert!(
            html.contains(&format!(">{event}</a>")),
            "{path} lists {event}: {html}"
        );
        assert!(html.contains("class=\"badge\""), "{path}: sale states");
        assert!(
            !html.contains(&format!(">{cancelled}</a>")),
            "{path} lists no cancelled event"
        );
    }
    let venue = app.get("/venues/5").await.text().await.expect("html");
    assert!(venue.contains("4 Pennsylvania Plaza") && venue.contains("id=\"map-link\""));

    // The event page links to both.
    let event = app.get("/events/2").await.text().await.expect("html");
    let performer: i64 = sqlx::query_scalar(
        "select performer_id from event_performers where event_id = 2 order by billing limit 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("the headliner of event 2");
    assert!(
        event.contains(&format!("href=\"/performers/{performer}\"")),
        "{event}"
    );
    assert!(event.contains("href=\"/venues/3\""), "{event}");

    for (path, status) in [
        ("/performers/999999", 404),
        ("/venues/999999", 404),
        ("/performers/abc", 400),
        ("/venues/abc", 400),
        ("/venues/0", 400),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert!(
            header_of(&r, "content-type").starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header_of(&r, "cache-control"), "no-store", "{path}");
    }
}
