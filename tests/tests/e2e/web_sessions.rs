//! The web's session cookie end to end: what `POST /v1/web/sessions`
//! sets, that api and booking both take it, that a write it authenticates
//! is refused unless it comes from the site's own pages (CSRF), and that
//! signing out ends it on both services.

use e2e::{Service, TestApp, TestDb, header_of, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const PASSWORD: &str = "quartz-lantern-meadow-42";

/// A verified account with [`PASSWORD`], made directly in the database.
async fn account(db: &TestDb) -> String {
    let email = format!("web.{}@example.test", Uuid::new_v4().simple());
    let hash = auth::password::hash(PASSWORD).await.expect("hashes");
    sqlx::query(
        "insert into users (email, display_name, role, password_hash, email_verified_at)
         values ($1, 'Web Shopper', 'user', $2, now())",
    )
    .bind(&email)
    .bind(hash)
    .execute(&db.pool)
    .await
    .expect("user");
    email
}

/// Signs in on the web; returns the `Set-Cookie` line.
async fn web_sign_in(api: &TestApp, email: &str) -> (String, Value) {
    let answer = api
        .http
        .post(format!("{}/v1/web/sessions", api.address))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("sign-in");
    assert_eq!(answer.status().as_u16(), 201);
    assert_eq!(header_of(&answer, "cache-control"), "no-store");
    let set_cookie = header_of(&answer, "set-cookie");
    (set_cookie, answer.json().await.expect("json"))
}

/// The `name=value` part of a `Set-Cookie` line.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.address))
        .header("cookie", cookie);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let answer = request.send().await.expect("request");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_web_sign_in_sets_an_http_only_strict_cookie_that_api_and_booking_take() {
    let api = spawn_app_with(Service::Api, TestDb::migrated().await, &[]).await;
    let booking = spawn_app_with(Service::Booking, TestDb::attach(&api.db), &[]).await;
    let email = account(&api.db).await;

    let (set_cookie, body) = web_sign_in(&api, &email).await;
    assert_eq!(body["email"], email.as_str());
    assert_eq!(body["role"], "user");
    assert!(body.get("access_token").is_none(), "{body}");
    let attributes: Vec<&str> = set_cookie.split("; ").collect();
    assert!(attributes[0].starts_with("session="), "{set_cookie}");
    for wanted in ["Path=/", "HttpOnly", "SameSite=Strict", "Max-Age=2592000"] {
        assert!(attributes.contains(&wanted), "{wanted} in {set_cookie}");
    }
    assert!(
        !attributes.contains(&"Secure"),
        "plain HTTP in development: {set_cookie}"
    );

    let cookie = cookie_pair(&set_cookie);
    let (status, me) = call(&api, Method::GET, "/v1/account", &cookie, &[]).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["display_name"], "Web Shopper");
    let (status, tickets) = call(&booking, Method::GET, "/v1/me/tickets", &cookie, &[]).await;
    assert_eq!(status, 200, "{tickets}");

    // A cookie of another name, or a forged value, is no credential.
    let (status, _) = call(&api, Method::GET, "/v1/account", "sessionx=abc", &[]).await;
    assert_eq!(status, 401);
    let (status, _) = call(&api, Method::GET, "/v1/account", "session=forged", &[]).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn over_tls_the_cookie_is_secure_and_host_prefixed() {
    let env = [("SESSION_COOKIE_SECURE", "true")];
    let api = spawn_app_with(Service::Api, TestDb::migrated().await, &env).await;
    let booking = spawn_app_with(Service::Booking, TestDb::attach(&api.db), &env).await;
    let email = account(&api.db).await;
    let (set_cookie, _) = web_sign_in(&api, &email).await;
    assert!(set_cookie.starts_with("__Host-session="), "{set_cookie}");
    assert!(set_cookie.ends_with("; Secure"), "{set_cookie}");
    let cookie = cookie_pair(&set_cookie);
    assert_eq!(
        call(&booking, Method::GET, "/v1/me/bookings", &cookie, &[])
            .await
            .0,
        200
    );
    // The plain name is not read when the secure one is configured.
    let plain = cookie.replacen("__Host-session", "session", 1);
    assert_eq!(
        call(&booking, Method::GET, "/v1/me/bookings", &plain, &[])
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn a_cross_site_write_with_the_cookie_is_refused_on_both_services() {
    let api = spawn_app_with(Service::Api, TestDb::migrated().await, &[]).await;
    let booking = spawn_app_with(Service::Booking, TestDb::attach(&api.db), &[]).await;
    let email = account(&api.db).await;
    let (set_cookie, _) = web_sign_in(&api, &email).await;
    let cookie = cookie_pair(&set_cookie);
    let cancel = format!("/v1/bookings/{}/cancel", Uuid::new_v4());
    let host = api.address.trim_start_matches("http://").to_owned();
    let booking_host = booking.address.trim_start_matches("http://").to_owned();

    let forgeries: [&[(&str, &str)]; 4] = [
        &[("sec-fetch-site", "cross-site")],
        &[("sec-fetch-site", "same-site")],
        &[("origin", "https://evil.example")],
        // Neither header: every browser sends one on a cross-origin write.
        &[],
    ];
    for headers in forgeries {
        let (status, problem) = call(&booking, Method::POST, &cancel, &cookie, headers).await;
        assert_eq!(status, 403, "booking {headers:?}: {problem}");
        assert_eq!(problem["code"], "cross_site_request", "{problem}");
        assert_eq!(problem["field"], "origin", "{problem}");
        let (status, problem) = call(
            &api,
            Method::DELETE,
            "/v1/sessions/current",
            &cookie,
            headers,
        )
        .await;
        assert_eq!(status, 403, "api {headers:?}: {problem}");
        assert_eq!(problem["code"], "cross_site_request");
    }
    // The forged sign-out did nothing: the session still works.
    assert_eq!(
        call(&api, Method::GET, "/v1/account", &cookie, &[]).await.0,
        200
    );

    // From our own pages: the write goes through to the handler (no such
    // booking here), by Sec-Fetch-Site or, without it, by Origin.
    let same = [("sec-fetch-site", "same-origin")];
    let (status, problem) = call(&booking, Method::POST, &cancel, &cookie, &same).await;
    assert_eq!(status, 404, "{problem}");
    let origin = format!("http://{booking_host}");
    let by_origin = [("origin", origin.as_str())];
    let (status, problem) = call(&booking, Method::POST, &cancel, &cookie, &by_origin).await;
    assert_eq!(status, 404, "{problem}");

    // A bearer token is never sent by a browser on its own: no such check.
    let token = cookie.trim_start_matches("session=").to_owned();
    let answer = booking
        .http
        .post(format!("{}{cancel}", booking.address))
        .bearer_auth(&token)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status().as_u16(), 404);

    // Sign out from the site itself: 204, the cookie is removed, and the
    // session is over on both services.
    let origin = format!("http://{host}");
    let answer = api
        .http
        .delete(format!("{}/v1/sessions/current", api.address))
        .header("cookie", &cookie)
        .header("origin", &origin)
        .send()
        .await
        .expect("sign out");
    assert_eq!(answer.status().as_u16(), 204);
    let cleared = header_of(&answer, "set-cookie");
    assert!(cleared.starts_with("session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let no_cache = [("AUTH_USER_CACHE_MS", "0")];
    let fresh_booking = spawn_app_with(Service::Booking, TestDb::attach(&api.db), &no_cache).await;
    assert_eq!(
        call(&api, Method::GET, "/v1/account", &cookie, &[]).await.0,
        401
    );
    assert_eq!(
        call(&fresh_booking, Method::GET, "/v1/me/tickets", &cookie, &[])
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn the_demo_sign_in_starts_a_real_session_in_the_cookie() {
    let api = spawn_app_with(Service::Api, TestDb::migrated().await, &[]).await;
    sqlx::query(
        "insert into users (email, display_name, role) values
           ('user77@demo.ticketing.test', 'Demo 77', 'user'),
           ('admin@demo.ticketing.test', 'Demo admin', 'admin')",
    )
    .execute(&api.db.pool)
    .await
    .expect("demo users");
    let answer = api
        .http
        .post(format!("{}/v1/demo/login", api.address))
        .json(&json!({"email": "user77@demo.ticketing.test"}))
        .send()
        .await
        .expect("demo login");
    assert_eq!(answer.status().as_u16(), 200);
    let cookie = cookie_pair(&header_of(&answer, "set-cookie"));
    let (status, me) = call(&api, Method::GET, "/v1/account", &cookie, &[]).await;
    assert_eq!(
        (status, me["email"].as_str()),
        (200, Some("user77@demo.ticketing.test"))
    );
    let sessions: i64 = sqlx::query_scalar(
        "select count(*) from sessions s join users u using (user_id)
          where u.email = 'user77@demo.ticketing.test' and s.revoked_at is null",
    )
    .fetch_one(&api.db.pool)
    .await
    .expect("count");
    assert_eq!(sessions, 1);

    // Never an admin.
    let answer = api
        .http
        .post(format!("{}/v1/demo/login", api.address))
        .json(&json!({"email": "admin@demo.ticketing.test"}))
        .send()
        .await
        .expect("demo login");
    assert_eq!(answer.status().as_u16(), 400);
    assert!(header_of(&answer, "set-cookie").is_empty());
}

#[tokio::test]
async fn the_sweep_deletes_ended_sessions_and_links_and_keeps_live_ones() {
    let db = TestDb::migrated().await;
    let email = account(&db).await;
    let user: Uuid = sqlx::query_scalar("select user_id from users where email = $1")
        .bind(&email)
        .fetch_one(&db.pool)
        .await
        .expect("user");
    let day = std::time::Duration::from_secs(86_400);
    let (live, _) = auth::sessions::create(&db.pool, user, day, false)
        .await
        .expect("live");
    let (ended, _) = auth::sessions::create(&db.pool, user, day, false)
        .await
        .expect("ended");
    let (recent, _) = auth::sessions::create(&db.pool, user, day, false)
        .await
        .expect("recent");
    sqlx::query(
        "update sessions set revoked_at = now() - interval '8 days',
                created_at = now() - interval '9 days' where session_id = $1",
    )
    .bind(ended)
    .execute(&db.pool)
    .await
    .expect("end long ago");
    assert!(
        auth::sessions::revoke(&db.pool, recent)
            .await
            .expect("revoke")
    );
    sqlx::query(
        "insert into email_tokens (token_hash, user_id, purpose, created_at, expires_at) values
           (sha256('old'), $1, 'verify_email', now() - interval '9 days', now() - interval '8 days'),
           (sha256('new'), $1, 'verify_email', now(), now() + interval '1 day')",
    )
    .bind(user)
    .execute(&db.pool)
    .await
    .expect("links");

    let week = std::time::Duration::from_secs(7 * 86_400);
    assert_eq!(
        auth::sessions::sweep(&db.pool, week).await.expect("sweep"),
        (1, 1)
    );
    let left: Vec<Uuid> = sqlx::query_scalar("select session_id from sessions order by created_at")
        .fetch_all(&db.pool)
        .await
        .expect("sessions");
    assert!(left.contains(&live) && left.contains(&recent) && !left.contains(&ended));
    let refresh_tokens: i64 =
        sqlx::query_scalar("select count(*) from refresh_tokens where session_id = $1")
            .bind(ended)
            .fetch_one(&db.pool)
            .await
            .expect("count");
    assert_eq!(refresh_tokens, 0, "its refresh tokens went with it");
    // Nothing more to do the second time.
    assert_eq!(
        auth::sessions::sweep(&db.pool, week).await.expect("sweep"),
        (0, 0)
    );
}
