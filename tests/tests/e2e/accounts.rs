//! Accounts end to end, against real Postgres, Redis and a real SMTP server
//! (aiosmtpd, see `e2e::smtp`): sign-up and its mails, verification,
//! sign-in, refresh-token rotation and reuse detection, sign-out, and the
//! sign-in limit. Every wait polls a condition (the Maildir, an answer)
//! against a deadline.

use std::time::Duration;

use e2e::smtp::{Mail, SmtpServer};
use e2e::{Service, TestApp, TestDb, fixtures, header_of, spawn_app_with};
use serde_json::{Value, json};

/// How long a mail may take to arrive.
const MAIL_WAIT: Duration = Duration::from_secs(20);
/// The password every test account uses.
const PASSWORD: &str = "plum-sofa-harbour-1987";

/// An api instance sending mail to its own SMTP server.
struct Site {
    smtp: SmtpServer,
    api: TestApp,
}

async fn site(extra: &[(&str, &str)]) -> Site {
    let smtp = SmtpServer::start().await;
    let url = smtp.url();
    let mut env = vec![
        ("SMTP_URL", url.as_str()),
        ("PUBLIC_URL", "https://tickets.example"),
        ("MAIL_RETRY_BASE_MS", "50"),
    ];
    env.extend_from_slice(extra);
    let api = spawn_app_with(Service::Api, TestDb::migrated().await, &env).await;
    Site { smtp, api }
}

/// A fresh address, mixed case.
fn address() -> String {
    format!("Ada.{}@Example.TEST", uuid::Uuid::new_v4().simple())
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    bearer: Option<&str>,
) -> reqwest::Response {
    let mut request = app.http.request(method, format!("{}{path}", app.address));
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request reaches the service")
}

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    send(app, reqwest::Method::POST, path, Some(body), None).await
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn sign_up(site: &Site, email: &str, password: &str) -> (u16, Value) {
    let body = json!({"email": email, "password": password, "display_name": "Ada Lovelace"});
    json_of(post(&site.api, "/v1/accounts", body).await).await
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    let body = json!({"email": email, "password": password});
    json_of(post(app, "/v1/sessions", body).await).await
}

async fn refresh(app: &TestApp, token: &Value) -> (u16, Value) {
    json_of(post(app, "/v1/sessions/refresh", json!({"refresh_token": token})).await).await
}

/// The verification mail to `email`.
async fn verification_mail(site: &Site, email: &str) -> Mail {
    site.smtp
        .wait_for_subject(email, "Confirm your email address", MAIL_WAIT)
        .await
}

/// Signs up `email` and follows the link in its mail.
async fn verified_account(site: &Site, email: &str) {
    assert_eq!(sign_up(site, email, PASSWORD).await.0, 202);
    let token = verification_mail(site, email)
        .await
        .link_token()
        .expect("a link with a token");
    let (status, body) =
        json_of(post(&site.api, "/v1/accounts/verify", json!({"token": token})).await).await;
    assert_eq!(status, 200, "{body}");
}

/// Signs in and returns the session's tokens.
async fn session(site: &Site, email: &str) -> Value {
    let (status, body) = sign_in(&site.api, email, PASSWORD).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn status_of(app: &TestApp, method: reqwest::Method, path: &str, token: &Value) -> u16 {
    send(app, method, path, None, token.as_str())
        .await
        .status()
        .as_u16()
}

async fn my_bookings(booking: &TestApp, tokens: &Value) -> u16 {
    status_of(
        booking,
        reqwest::Method::GET,
        "/v1/me/bookings",
        &tokens["access_token"],
    )
    .await
}

#[tokio::test]
async fn sign_up_mails_a_link_that_verifies_once_and_then_sign_in_opens_the_users_routes() {
    let site = site(&[]).await;
    let email = address();

    let answer = post(
        &site.api,
        "/v1/accounts",
        json!({"email": email, "password": PASSWORD, "display_name": "Ada Lovelace"}),
    )
    .await;
    assert_eq!(answer.status().as_u16(), 202);
    assert_eq!(header_of(&answer, "cache-control"), "no-store");
    assert_eq!(
        answer.json::<Value>().await.expect("json"),
        json!({"status": "check_your_email"})
    );

    let mail = verification_mail(&site, &email).await;
    assert_eq!(mail.mimetype, "multipart/alternative");
    assert_eq!(mail.from, "Ticketing <no-reply@ticketing.invalid>");
    let text = mail.text.as_deref().expect("a text part");
    let html = mail.html.as_deref().expect("an HTML part");
    let token = mail.link_token().expect("a link with a token");
    let link = format!("https://tickets.example/verify-email?token={token}");
    assert!(text.contains(&link), "{text}");
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
    assert!(mail.is_for(&email.to_lowercase()));

    let (status, body) = sign_in(&site.api, &email, PASSWORD).await;
    assert_eq!((status, &body["code"]), (403, &json!("email_not_verified")));

    let verify = |token: String| post(&site.api, "/v1/accounts/verify", json!({"token": token}));
    let (status, body) = json_of(verify(token.clone()).await).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("email_verified")),
        "{body}"
    );
    let (status, body) = json_of(verify(token).await).await;
    assert_eq!((status, &body["field"]), (400, &json!("token")), "{body}");

    let answer = post(
        &site.api,
        "/v1/sessions",
        json!({"email": email.to_uppercase(), "password": PASSWORD}),
    )
    .await;
    assert_eq!(answer.status().as_u16(), 201);
    assert_eq!(header_of(&answer, "cache-control"), "no-store");
    let tokens: Value = answer.json().await.expect("json");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["role"], "user");
    let claims = auth::JwtKeys::new(&e2e::test_secret())
        .verify(tokens["access_token"].as_str().expect("access token"))
        .expect("verifies");
    assert!(claims.sid.is_some(), "the access token names its session");
    assert_eq!(
        claims.sub.to_string(),
        tokens["user_id"].as_str().expect("id")
    );

    let stored: (String, i64) = sqlx::query_as(
        "select u.password_hash, (select count(*) from refresh_tokens) from users u where u.email = $1",
    )
    .bind(email.to_lowercase())
    .fetch_one(&site.api.db.pool)
    .await
    .expect("the user is stored lowercased");
    assert!(
        stored.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        stored.0
    );
    assert_eq!(stored.1, 1);

    let booking = spawn_app_with(Service::Booking, TestDb::attach(&site.api.db), &[]).await;
    assert_eq!(my_bookings(&booking, &tokens).await, 200);
    let admin_only = send(
        &site.api,
        reqwest::Method::POST,
        "/v1/venues",
        Some(json!({})),
        tokens["access_token"].as_str(),
    )
    .await;
    assert_eq!(admin_only.status().as_u16(), 403);
}

#[tokio::test]
async fn signing_up_again_answers_the_same_and_wrong_passwords_look_like_unknown_addresses() {
    let site = site(&[]).await;
    let email = address();
    let first = post(
        &site.api,
        "/v1/accounts",
        json!({"email": email, "password": PASSWORD, "display_name": "Ada"}),
    )
    .await;
    let first = (first.status(), first.bytes().await.expect("body"));
    verification_mail(&site, &email).await;

    let again = post(
        &site.api,
        "/v1/accounts",
        json!({"email": email.to_uppercase(), "password": "another-plum-sofa-1988", "display_name": "Eve"}),
    )
    .await;
    let again = (again.status(), again.bytes().await.expect("body"));
    assert_eq!(first, again, "the same status and the same bytes");
    let tried = site
        .smtp
        .wait_for_subject(&email, "Someone tried to sign up", MAIL_WAIT)
        .await;
    assert!(tried.text.is_some() && tried.html.is_some());
    assert!(
        tried.link_token().is_none(),
        "no link that could act on the account"
    );
    let users: i64 =
        sqlx::query_scalar("select count(*) from users where lower(email) = lower($1)")
            .bind(&email)
            .fetch_one(&site.api.db.pool)
            .await
            .expect("count");
    assert_eq!(users, 1);

    let token = verification_mail(&site, &email)
        .await
        .link_token()
        .expect("token");
    let verified = post(&site.api, "/v1/accounts/verify", json!({"token": token})).await;
    assert_eq!(verified.status().as_u16(), 200);
    let (status, _) = sign_in(&site.api, &email, "another-plum-sofa-1988").await;
    assert_eq!(status, 401, "the second sign-up changed nothing");

    let wrong = post(
        &site.api,
        "/v1/sessions",
        json!({"email": email, "password": "not-the-password-1"}),
    )
    .await;
    let unknown = post(
        &site.api,
        "/v1/sessions",
        json!({"email": address(), "password": "not-the-password-1"}),
    )
    .await;
    let wrong = (wrong.status(), wrong.bytes().await.expect("body"));
    let unknown = (unknown.status(), unknown.bytes().await.expect("body"));
    assert_eq!(wrong.0.as_u16(), 401);
    assert_eq!(wrong, unknown, "byte-identical answers");
    let problem: Value = serde_json::from_slice(&wrong.1).expect("json");
    assert_eq!(problem["code"], "invalid_credentials");
    assert!(problem.get("field").is_none(), "{problem}");
}

#[tokio::test]
async fn a_weak_or_short_password_or_a_bad_address_is_400_naming_the_field() {
    let site = site(&[]).await;
    let email = address();
    for (password, rule) in [
        ("short-1", "min_length"),
        ("password1234", "strength"),
        ("qwertyuiop123", "strength"),
        (email.as_str(), "strength"),
    ] {
        let (status, body) = sign_up(&site, &email, password).await;
        assert_eq!(status, 400, "{password}: {body}");
        assert_eq!(body["field"], "password", "{password}: {body}");
        assert_eq!(body["rule"], rule, "{password}: {body}");
    }
    let long = "plum-sofa-".repeat(13);
    let (status, body) = sign_up(&site, &email, &long).await;
    assert_eq!((status, &body["rule"]), (400, &json!("max_length")));

    for (field, body) in [
        (
            "email",
            json!({"email": "not-an-address", "password": PASSWORD, "display_name": "Ada"}),
        ),
        (
            "display_name",
            json!({"email": email, "password": PASSWORD, "display_name": "  "}),
        ),
    ] {
        let (status, problem) = json_of(post(&site.api, "/v1/accounts", body).await).await;
        assert_eq!(
            (status, &problem["field"]),
            (400, &json!(field)),
            "{problem}"
        );
    }
    let users: i64 = sqlx::query_scalar("select count(*) from users")
        .fetch_one(&site.api.db.pool)
        .await
        .expect("count");
    assert_eq!(users, 0, "nothing was created");
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_session_on_every_service() {
    let no_cache = [("AUTH_USER_CACHE_MS", "0")];
    let site = site(&no_cache).await;
    let booking = spawn_app_with(Service::Booking, TestDb::attach(&site.api.db), &no_cache).await;
    let email = address();
    verified_account(&site, &email).await;
    let first = session(&site, &email).await;

    let (status, second) = refresh(&site.api, &first["refresh_token"]).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    // (The access token may be byte-identical within the same second: same
    // claims, same session.)
    assert_eq!(second["user_id"], first["user_id"]);
    assert_eq!(my_bookings(&booking, &second).await, 200);

    let (status, body) = refresh(&site.api, &first["refresh_token"]).await;
    assert_eq!(
        (status, &body["code"]),
        (401, &json!("refresh_token_reused")),
        "{body}"
    );

    assert_eq!(
        my_bookings(&booking, &second).await,
        401,
        "booking refuses it"
    );
    assert_eq!(my_bookings(&booking, &first).await, 401);
    let api_routes = [
        (reqwest::Method::POST, "/v1/venues"),
        (reqwest::Method::DELETE, "/v1/sessions/current"),
        (reqwest::Method::POST, "/v1/sessions/revoke-all"),
    ];
    for (method, path) in api_routes {
        assert_eq!(
            status_of(&site.api, method, path, &second["access_token"]).await,
            401,
            "{path}"
        );
    }
    let (status, body) = refresh(&site.api, &second["refresh_token"]).await;
    assert_eq!(status, 401, "the latest refresh token is dead too: {body}");

    let again = session(&site, &email).await;
    assert_eq!(
        my_bookings(&booking, &again).await,
        200,
        "a new sign-in works"
    );
}

#[tokio::test]
async fn sign_out_ends_that_session_only_and_revoke_all_ends_every_one() {
    let no_cache = [("AUTH_USER_CACHE_MS", "0")];
    let site = site(&no_cache).await;
    let booking = spawn_app_with(Service::Booking, TestDb::attach(&site.api.db), &no_cache).await;
    let email = address();
    verified_account(&site, &email).await;
    let phone = session(&site, &email).await;
    let laptop = session(&site, &email).await;

    let out = send(
        &site.api,
        reqwest::Method::DELETE,
        "/v1/sessions/current",
        None,
        phone["access_token"].as_str(),
    )
    .await;
    assert_eq!(out.status().as_u16(), 204);
    assert_eq!(header_of(&out, "cache-control"), "no-store");
    assert_eq!(my_bookings(&booking, &phone).await, 401);
    assert_eq!(refresh(&site.api, &phone["refresh_token"]).await.0, 401);
    assert_eq!(
        my_bookings(&booking, &laptop).await,
        200,
        "the other session goes on"
    );

    let tablet = session(&site, &email).await;
    let everywhere = status_of(
        &site.api,
        reqwest::Method::POST,
        "/v1/sessions/revoke-all",
        &laptop["access_token"],
    )
    .await;
    assert_eq!(everywhere, 204);
    for (name, tokens) in [("laptop", &laptop), ("tablet", &tablet)] {
        assert_eq!(my_bookings(&booking, tokens).await, 401, "{name}");
        assert_eq!(
            refresh(&site.api, &tokens["refresh_token"]).await.0,
            401,
            "{name}"
        );
    }

    // A token from `ticketctl token` has no session to end.
    let user = uuid::Uuid::parse_str(laptop["user_id"].as_str().expect("id")).expect("uuid");
    let dev_token = json!(fixtures::token(user, auth::Role::User));
    let (status, body) = json_of(
        send(
            &site.api,
            reqwest::Method::DELETE,
            "/v1/sessions/current",
            None,
            dev_token.as_str(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, &body["field"]),
        (400, &json!("authorization")),
        "{body}"
    );
}

#[tokio::test]
async fn the_fourth_wrong_password_within_the_window_is_429_with_retry_after() {
    let site = site(&[("RATE_LIMIT_SIGN_IN", "3/60")]).await;
    let email = address().to_lowercase();
    let hash = auth::password::hash(PASSWORD).await.expect("hashes");
    sqlx::query(
        "insert into users (email, display_name, password_hash, email_verified_at)
         values ($1, 'Ada', $2, now())",
    )
    .bind(&email)
    .bind(&hash)
    .execute(&site.api.db.pool)
    .await
    .expect("user");

    for attempt in 1..=3 {
        let (status, body) = sign_in(&site.api, &email, "wrong-password-guess").await;
        assert_eq!(status, 401, "attempt {attempt}: {body}");
    }
    let fourth = post(
        &site.api,
        "/v1/sessions",
        json!({"email": email, "password": "wrong-password-guess"}),
    )
    .await;
    assert_eq!(fourth.status().as_u16(), 429);
    let retry_after: u64 = header_of(&fourth, "retry-after")
        .parse()
        .expect("Retry-After seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(header_of(&fourth, "ratelimit-policy").contains("\"sign_in\";q=3;w=60"));
    let (status, _) = sign_in(&site.api, &email, PASSWORD).await;
    assert_eq!(status, 429, "the right password waits too");
}
