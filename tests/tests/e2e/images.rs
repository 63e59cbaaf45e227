//! Event and performer images over HTTP: the generated poster (SVG, its
//! headers, ETag and 304), the admin's `image_url` (https only, a 400
//! naming the field otherwise, null removes it) and the redirect to it.

use chrono::{Duration as TimeDelta, Utc};
use e2e::{Service, TestApp, fixtures, header_of, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

struct Admin {
    app: TestApp,
    token: String,
    /// Follows no redirect, so a 302 can be read.
    client: reqwest::Client,
}

impl Admin {
    async fn start() -> Self {
        let app = spawn_app(Service::Api).await;
        let id = fixtures::user(&app.db.pool, "admin").await;
        let token = fixtures::token(id, auth::Role::Admin);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self { app, token, client }
    }

    async fn send(&self, method: Method, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.app.address))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("request reaches the api");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, if_none_match: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.app.address));
        if let Some(tag) = if_none_match {
            request = request.header("if-none-match", tag);
        }
        request.send().await.expect("request reaches the api")
    }
}

fn event_body(venue_id: i64, title: &str, image_url: Option<&str>) -> Value {
    let now = Utc::now();
    let mut body = json!({
        "venue_id": venue_id,
        "title": title,
        "category": "sports",
        "genre": "basketball",
        "starts_at": now + TimeDelta::days(30),
        "ends_at": now + TimeDelta::days(30) + TimeDelta::hours(3),
        "sale_starts_at": now - TimeDelta::hours(1),
        "sale_ends_at": now + TimeDelta::days(30),
    });
    if let Some(url) = image_url {
        body["image_url"] = json!(url);
    }
    body
}

#[tokio::test]
async fn an_event_without_an_image_gets_a_poster_of_its_title_escaped() {
    let admin = Admin::start().await;
    let venue = fixtures::on_sale_event(&admin.app.db.pool, 1, 2, 10).await;
    let venue_id: i64 = sqlx::query_scalar("select venue_id from events where event_id = $1")
        .bind(venue.event_id)
        .fetch_one(&admin.app.db.pool)
        .await
        .expect("venue");
    let (status, event) = admin
        .send(
            Method::POST,
            "/v1/events",
            &event_body(venue_id, "Lisbon Falcons vs <Porto> & \"Co\"", None),
        )
        .await;
    assert_eq!(status, 201, "{event}");
    assert_eq!(event["image_url"], Value::Null);
    let id = event["event_id"].as_i64().expect("id");

    let response = admin.get(&format!("/v1/events/{id}/image"), None).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header_of(&response, "content-type"), "image/svg+xml");
    assert_eq!(header_of(&response, "x-content-type-options"), "nosniff");
    assert_eq!(
        header_of(&response, "content-security-policy"),
        "default-src 'none'; sandbox"
    );
    assert!(header_of(&response, "cache-control").contains("max-age=86400"));
    assert!(header_of(&response, "surrogate-key").contains(&format!("event:{id}")));
    let etag = header_of(&response, "etag");
    let svg = response.text().await.expect("body");
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(
        svg.contains("&lt;Porto&gt; &amp; &quot;Co&quot;"),
        "the title is escaped: {svg}"
    );
    assert!(svg.contains("SPORTS · BASKETBALL"), "{svg}");

    // The same bytes again, and a 304 for the ETag.
    let again = admin.get(&format!("/v1/events/{id}/image"), None).await;
    assert_eq!(again.text().await.expect("body"), svg);
    let revalidated = admin
        .get(&format!("/v1/events/{id}/image"), Some(&etag))
        .await;
    assert_eq!(revalidated.status().as_u16(), 304);

    // Unknown and malformed ids are problems naming `id`.
    let missing = admin.get("/v1/events/999999/image", None).await;
    assert_eq!(missing.status().as_u16(), 404);
    let malformed = admin.get("/v1/events/abc/image", None).await;
    assert_eq!(malformed.status().as_u16(), 400);
    let problem: Value = malformed.json().await.expect("problem");
    assert_eq!(problem["field"], "id");
}

#[tokio::test]
async fn an_admin_image_url_is_https_only_and_the_image_redirects_to_it() {
    let admin = Admin::start().await;
    let fixture = fixtures::on_sale_event(&admin.app.db.pool, 1, 2, 10).await;
    let venue_id: i64 = sqlx::query_scalar("select venue_id from events where event_id = $1")
        .bind(fixture.event_id)
        .fetch_one(&admin.app.db.pool)
        .await
        .expect("venue");

    for bad in [
        "http://img.example.test/a.jpg",
        "javascript:alert(1)",
        "https://user:pw@img.example.test/a.jpg",
    ] {
        let (status, problem) = admin
            .send(
                Method::POST,
                "/v1/events",
                &event_body(venue_id, "Refused", Some(bad)),
            )
            .await;
        assert_eq!(
            (status, problem["field"].clone()),
            (400, json!("image_url")),
            "{bad}: {problem}"
        );
    }
    let long = format!("https://img.example.test/{}", "a".repeat(2000));
    let (status, problem) = admin
        .send(
            Method::POST,
            "/v1/events",
            &event_body(venue_id, "Too long", Some(&long)),
        )
        .await;
    assert_eq!(
        (status, problem["field"].clone()),
        (400, json!("image_url"))
    );

    let url = "https://img.example.test/falcons.jpg";
    let (status, event) = admin
        .send(
            Method::POST,
            "/v1/events",
            &event_body(venue_id, "Lisbon Falcons", Some(url)),
        )
        .await;
    assert_eq!(status, 201, "{event}");
    assert_eq!(event["image_url"], url);
    let id = event["event_id"].as_i64().expect("id");
    let response = admin.get(&format!("/v1/events/{id}/image"), None).await;
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(header_of(&response, "location"), url);

    // A patch checks the URL too, and null removes it (back to the poster,
    // once the cached facts are gone: a fresh event shows the same).
    let (status, problem) = admin
        .send(
            Method::PATCH,
            &format!("/v1/events/{id}"),
            &json!({"image_url": "ftp://img.example.test/x"}),
        )
        .await;
    assert_eq!(
        (status, problem["field"].clone()),
        (400, json!("image_url"))
    );
    let (status, event) = admin
        .send(
            Method::PATCH,
            &format!("/v1/events/{id}"),
            &json!({"image_url": null}),
        )
        .await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["image_url"], Value::Null);

    // Performers: the same rule, the same routes.
    let (status, problem) = admin
        .send(
            Method::POST,
            "/v1/performers",
            &json!({"name": "Solo", "genre": "folk", "image_url": "http://img.example.test/s.jpg"}),
        )
        .await;
    assert_eq!(
        (status, problem["field"].clone()),
        (400, json!("image_url"))
    );
    let (status, performer) = admin
        .send(
            Method::POST,
            "/v1/performers",
            &json!({"name": "Solo <One>", "genre": "folk"}),
        )
        .await;
    assert_eq!(status, 201, "{performer}");
    let pid = performer["performer_id"].as_i64().expect("id");
    let poster = admin
        .get(&format!("/v1/performers/{pid}/image"), None)
        .await;
    assert_eq!(poster.status().as_u16(), 200);
    assert_eq!(header_of(&poster, "content-type"), "image/svg+xml");
    assert!(
        poster
            .text()
            .await
            .expect("body")
            .contains("Solo &lt;One&gt;")
    );
    let url = "https://img.example.test/solo.jpg";
    let (status, updated) = admin
        .send(
            Method::PATCH,
            &format!("/v1/performers/{pid}"),
            &json!({"image_url": url}),
        )
        .await;
    assert_eq!((status, updated["image_url"].clone()), (200, json!(url)));
    let (status, cleared) = admin
        .send(
            Method::PATCH,
            &format!("/v1/performers/{pid}"),
            &json!({"genre": "indie"}),
        )
        .await;
    assert_eq!(
        (status, cleared["image_url"].clone()),
        (200, json!(url)),
        "an absent field leaves the URL"
    );
    let (_, cleared) = admin
        .send(
            Method::PATCH,
            &format!("/v1/performers/{pid}"),
            &json!({"image_url": null}),
        )
        .await;
    assert_eq!(cleared["image_url"], Value::Null);
}
