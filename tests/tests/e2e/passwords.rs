//! Passwords end to end, against real Postgres, Redis, a real SMTP server
//! (aiosmtpd) and real api and booking instances: the password change,
//! the reset by email (what it mails to whom, single use, expiry, the
//! sessions it ends), an admin's disable and enable of a user, and the
//! `password_reset` limit. Every wait polls a condition (the Maildir, an
//! answer) against a deadline.
//!
//! The api instances keep their user cache (`AUTH_USER_CACHE_MS`, 5 s), so
//! a refusal right after a change shows that api forgot what it had cached;
//! booking checks every request (`AUTH_USER_CACHE_MS=0`), standing for any
//! other instance once the cache's time is up.

use std::time::Duration;

use e2e::smtp::{Mail, SmtpServer};
use e2e::{Service, TestApp, TestDb, fixtures, header_of, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// How long a mail may take to arrive.
const MAIL_WAIT: Duration = Duration::from_secs(20);
/// The password every test account starts with.
const PASSWORD: &str = "plum-sofa-harbour-1987";
/// The password they change to.
const NEW_PASSWORD: &str = "velvet-ladder-orbit-2042";
/// The reset mail's subject.
const RESET_SUBJECT: &str = "Reset your password";

/// An api instance sending mail to its own SMTP server, and a booking
/// instance on the same database.
struct Site {
    smtp: SmtpServer,
    api: TestApp,
    booking: TestApp,
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
    let booking = spawn_app_with(
        Service::Booking,
        TestDb::attach(&api.db),
        &[("AUTH_USER_CACHE_MS", "0")],
    )
    .await;
    Site { smtp, api, booking }
}

/// A fresh address, mixed case.
fn address() -> String {
    format!("Ada.{}@Example.TEST", Uuid::new_v4().simple())
}

async fn send(
    app: &TestApp,
    method: Method,
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
    send(app, Method::POST, path, Some(body), None).await
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    let body = json!({"email": email, "password": password});
    json_of(post(app, "/v1/sessions", body).await).await
}

/// Signs in and returns the session's tokens.
async fn session(site: &Site, email: &str, password: &str) -> Value {
    let (status, body) = sign_in(&site.api, email, password).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn refresh(app: &TestApp, tokens: &Value) -> u16 {
    let body = json!({"refresh_token": tokens["refresh_token"]});
    post(app, "/v1/sessions/refresh", body)
        .await
        .status()
        .as_u16()
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("an access token")
}

fn user_id(tokens: &Value) -> Uuid {
    Uuid::parse_str(tokens["user_id"].as_str().expect("user id")).expect("uuid")
}

/// Signs up `email` and follows the link in its verification mail.
async fn verified_account(site: &Site, email: &str) {
    let body = json!({"email": email, "password": PASSWORD, "display_name": "Ada Lovelace"});
    assert_eq!(post(&site.api, "/v1/accounts", body).await.status(), 202);
    let token = site
        .smtp
        .wait_for_subject(email, "Confirm your email address", MAIL_WAIT)
        .await
        .link_token()
        .expect("a link with a token");
    let verified = post(&site.api, "/v1/accounts/verify", json!({"token": token})).await;
    assert_eq!(verified.status(), 200);
}

/// What every service says to `tokens`' access token: booking's personal
/// reads, and an api route any valid token gets past authentication on
/// (an admin write: 403 for a shopper, 401 for a token that is refused).
async fn standing(site: &Site, tokens: &Value) -> [u16; 3] {
    let token = Some(access(tokens));
    let mut answers = [0; 3];
    for (i, (app, method, path)) in [
        (&site.booking, Method::GET, "/v1/me/bookings"),
        (&site.booking, Method::GET, "/v1/me/tickets"),
        (&site.api, Method::POST, "/v1/venues"),
    ]
    .into_iter()
    .enumerate()
    {
        let body = (method == Method::POST).then(|| json!({}));
        answers[i] = send(app, method, path, body, token).await.status().as_u16();
    }
    answers
}

/// A live shopper's session.
const LIVE: [u16; 3] = [200, 200, 403];
/// A session every service refuses.
const REFUSED: [u16; 3] = [401, 401, 401];

/// Asks for a reset of `email` (registered) and returns the token of the
/// reset mail it gets.
async fn reset_token(site: &Site, email: &str) -> String {
    let before = mails_to(site, email).len();
    let answer = post(&site.api, "/v1/password-resets", json!({"email": email})).await;
    assert_eq!(answer.status(), 202);
    let mails = site.smtp.wait_for(email, before + 1, MAIL_WAIT).await;
    let mail = mails.last().expect("the new mail");
    assert_eq!(mail.subject, RESET_SUBJECT);
    mail.link_token().expect("a link with a token")
}

/// Every mail to `email` so far.
fn mails_to(site: &Site, email: &str) -> Vec<Mail> {
    site.smtp
        .messages()
        .into_iter()
        .filter(|m| m.is_for(email))
        .collect()
}

async fn complete(site: &Site, token: &str, password: &str) -> (u16, Value) {
    let body = json!({"token": token, "password": password});
    json_of(post(&site.api, "/v1/password-resets/complete", body).await).await
}

async fn change(site: &Site, tokens: &Value, current: &str, new: &str) -> reqwest::Response {
    send(
        &site.api,
        Method::POST,
        "/v1/account/password",
        Some(json!({"current_password": current, "new_password": new})),
        Some(access(tokens)),
    )
    .await
}

/// An admin's `POST /v1/admin/users/{user}/{action}`: status, body and
/// `Cache-Control`.
async fn admin_post(site: &Site, token: &str, user: &str, action: &str) -> (u16, Value, String) {
    let path = format!("/v1/admin/users/{user}/{action}");
    let answer = send(&site.api, Method::POST, &path, None, Some(token)).await;
    let cache_control = header_of(&answer, "cache-control");
    let (status, body) = json_of(answer).await;
    (status, body, cache_control)
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_ends_every_session_everywhere() {
    let site = site(&[]).await;
    let email = address();
    verified_account(&site, &email).await;
    let phone = session(&site, &email, PASSWORD).await;
    let laptop = session(&site, &email, PASSWORD).await;
    assert_eq!(standing(&site, &laptop).await, LIVE);
    // A reset link mailed before the change stops working with it.
    let earlier_link = reset_token(&site, &email).await;

    let (status, body) =
        json_of(change(&site, &phone, "not-the-password-1", NEW_PASSWORD).await).await;
    assert_eq!(
        (status, &body["code"], &body["field"]),
        (
            401,
            &json!("invalid_credentials"),
            &json!("current_password")
        ),
        "{body}"
    );
    let (status, body) = json_of(change(&site, &phone, PASSWORD, "password1234").await).await;
    assert_eq!(
        (status, &body["field"], &body["rule"]),
        (400, &json!("new_password"), &json!("strength")),
        "{body}"
    );
    let own_address = email.to_lowercase();
    let (status, body) = json_of(change(&site, &phone, PASSWORD, &own_address).await).await;
    assert_eq!(
        (status, &body["field"]),
        (400, &json!("new_password")),
        "the user's own address is guessable: {body}"
    );
    let (status, body) = json_of(
        send(
            &site.api,
            Method::POST,
            "/v1/account/password",
            Some(json!({"current_password": PASSWORD, "new_password": "a\u{0}b-plum-sofa-1988"})),
            Some(access(&phone)),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, &body["field"]),
        (400, &json!("new_password")),
        "{body}"
    );
    assert_eq!(
        standing(&site, &phone).await,
        LIVE,
        "a refused change ends nothing"
    );

    let changed = change(&site, &phone, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(changed.status().as_u16(), 204);
    assert_eq!(header_of(&changed, "cache-control"), "no-store");

    for (name, tokens) in [("phone", &phone), ("laptop", &laptop)] {
        assert_eq!(standing(&site, tokens).await, REFUSED, "{name}");
        assert_eq!(refresh(&site.api, tokens).await, 401, "{name}");
    }
    let (status, body) = sign_in(&site.api, &email, PASSWORD).await;
    assert_eq!(
        (status, &body["code"]),
        (401, &json!("invalid_credentials")),
        "the old password is refused: {body}"
    );
    let (status, body) = complete(&site, &earlier_link, "another-plum-sofa-1988").await;
    assert_eq!((status, &body["field"]), (400, &json!("token")), "{body}");

    let fresh = session(&site, &email, NEW_PASSWORD).await;
    assert_eq!(
        standing(&site, &fresh).await,
        LIVE,
        "the new password works"
    );
    let (status, _) =
        json_of(change(&site, &fresh, PASSWORD, "another-plum-sofa-1988").await).await;
    assert_eq!(
        status, 401,
        "the old password is not the current one any more"
    );
}

#[tokio::test]
async fn a_reset_request_is_the_same_202_for_any_address_and_only_a_registered_one_gets_a_link() {
    let site = site(&[]).await;
    let email = address();
    verified_account(&site, &email).await;
    let stranger = address();

    // The stranger's request goes first: had it mailed anything, that mail
    // would be queued before the registered address's.
    let unknown = post(&site.api, "/v1/password-resets", json!({"email": stranger})).await;
    let known = post(
        &site.api,
        "/v1/password-resets",
        json!({"email": email.to_uppercase()}),
    )
    .await;
    for answer in [&unknown, &known] {
        assert_eq!(header_of(answer, "cache-control"), "no-store");
    }
    let unknown = (unknown.status(), unknown.bytes().await.expect("body"));
    let known = (known.status(), known.bytes().await.expect("body"));
    assert_eq!(known.0.as_u16(), 202);
    assert_eq!(unknown, known, "the same status and the same bytes");
    assert_eq!(
        serde_json::from_slice::<Value>(&known.1).expect("json"),
        json!({"status": "check_your_email"})
    );

    let mail = site
        .smtp
        .wait_for_subject(&email, RESET_SUBJECT, MAIL_WAIT)
        .await;
    assert_eq!(mail.mimetype, "multipart/alternative");
    assert!(mail.is_for(&email.to_lowercase()));
    let text = mail.text.as_deref().expect("a text part");
    let html = mail.html.as_deref().expect("an HTML part");
    let token = mail.link_token().expect("a link with a token");
    let link = format!("https://tickets.example/reset-password?token={token}");
    assert!(text.contains(&link), "{text}");
    assert!(
        text.contains("1 hour"),
        "AUTH_RESET_TTL_SECS's default: {text}"
    );
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");

    let stored: Vec<(Vec<u8>, f64)> = sqlx::query_as(
        "select token_hash, extract(epoch from expires_at - created_at)::float8
           from email_tokens where purpose = 'reset_password'",
    )
    .fetch_all(&site.api.db.pool)
    .await
    .expect("tokens");
    assert_eq!(stored.len(), 1, "one link, for the registered address");
    assert_eq!(
        Some(&stored[0].0),
        auth::tokens::hash(&token).as_ref(),
        "only the hash is stored"
    );
    assert!((stored[0].1 - 3600.0).abs() < 5.0, "{}", stored[0].1);
    assert!(
        mails_to(&site, &stranger).is_empty(),
        "no mail to an unknown address"
    );

    for (body, field) in [
        (json!({"email": "not-an-address"}), Some("email")),
        (json!({"email": "ada\u{0}@example.test"}), Some("email")),
        (json!({"email": email, "admin": true}), None),
    ] {
        let (status, problem) =
            json_of(post(&site.api, "/v1/password-resets", body.clone()).await).await;
        assert_eq!(status, 400, "{body}: {problem}");
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{body}: {problem}");
        }
    }
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_the_sessions_from_before_everywhere() {
    let site = site(&[]).await;
    let email = address();
    verified_account(&site, &email).await;
    let before = session(&site, &email, PASSWORD).await;
    assert_eq!(standing(&site, &before).await, LIVE);
    let first = reset_token(&site, &email).await;
    let second = reset_token(&site, &email).await;
    assert_ne!(first, second);

    let (status, body) = complete(&site, &first, "password1234").await;
    assert_eq!(
        (status, &body["field"], &body["rule"]),
        (400, &json!("password"), &json!("strength")),
        "{body}"
    );
    assert_eq!(
        standing(&site, &before).await,
        LIVE,
        "a refused password changes nothing"
    );

    let answer = post(
        &site.api,
        "/v1/password-resets/complete",
        json!({"token": first, "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(
        answer.status().as_u16(),
        204,
        "the link still works after a refused password"
    );
    assert_eq!(header_of(&answer, "cache-control"), "no-store");

    assert_eq!(standing(&site, &before).await, REFUSED);
    assert_eq!(refresh(&site.api, &before).await, 401);
    let (status, body) = sign_in(&site.api, &email, PASSWORD).await;
    assert_eq!(
        (status, &body["code"]),
        (401, &json!("invalid_credentials"))
    );
    let after = session(&site, &email, NEW_PASSWORD).await;
    assert_eq!(standing(&site, &after).await, LIVE);

    for (name, token) in [("the used link", &first), ("the other link", &second)] {
        let (status, body) = complete(&site, token, "another-plum-sofa-1988").await;
        assert_eq!(
            (status, &body["field"]),
            (400, &json!("token")),
            "{name}: {body}"
        );
    }
    let (status, body) = complete(&site, "not-a-token", NEW_PASSWORD).await;
    assert_eq!((status, &body["field"]), (400, &json!("token")), "{body}");
    assert_eq!(
        standing(&site, &after).await,
        LIVE,
        "refused links end nothing"
    );
    session(&site, &email, NEW_PASSWORD).await;
}

#[tokio::test]
async fn an_expired_link_is_refused_and_a_completed_reset_verifies_the_address() {
    let site = site(&[("AUTH_RESET_TTL_SECS", "120")]).await;
    let email = address();
    let body = json!({"email": email, "password": PASSWORD, "display_name": "Ada Lovelace"});
    assert_eq!(post(&site.api, "/v1/accounts", body).await.status(), 202);
    site.smtp
        .wait_for_subject(&email, "Confirm your email address", MAIL_WAIT)
        .await;
    let (status, body) = sign_in(&site.api, &email, PASSWORD).await;
    assert_eq!((status, &body["code"]), (403, &json!("email_not_verified")));

    let expired = reset_token(&site, &email).await;
    let hash = auth::tokens::hash(&expired).expect("one of ours");
    let lifetime: f64 = sqlx::query_scalar(
        "select extract(epoch from expires_at - created_at)::float8
           from email_tokens where token_hash = $1",
    )
    .bind(&hash)
    .fetch_one(&site.api.db.pool)
    .await
    .expect("the link's row");
    assert!(
        (lifetime - 120.0).abs() < 5.0,
        "AUTH_RESET_TTL_SECS: {lifetime}"
    );
    // Its time is up (set in the database rather than waited for).
    sqlx::query(
        "update email_tokens set expires_at = now() - interval '1 second' where token_hash = $1",
    )
    .bind(&hash)
    .execute(&site.api.db.pool)
    .await
    .expect("expire the link");
    let (status, body) = complete(&site, &expired, NEW_PASSWORD).await;
    assert_eq!((status, &body["field"]), (400, &json!("token")), "{body}");
    let (status, body) = sign_in(&site.api, &email, PASSWORD).await;
    assert_eq!(
        (status, &body["code"]),
        (403, &json!("email_not_verified")),
        "nothing changed: {body}"
    );

    let token = reset_token(&site, &email).await;
    let (status, body) = complete(&site, &token, NEW_PASSWORD).await;
    assert_eq!(status, 204, "{body}");
    let tokens = session(&site, &email, NEW_PASSWORD).await;
    assert_eq!(
        standing(&site, &tokens).await,
        LIVE,
        "the mail proved the address"
    );
}

#[tokio::test]
async fn an_admin_disables_a_user_everywhere_then_enables_them_and_both_are_audited() {
    let site = site(&[]).await;
    let email = address();
    verified_account(&site, &email).await;
    let shopper = session(&site, &email, PASSWORD).await;
    let shopper_id = user_id(&shopper).to_string();
    assert_eq!(standing(&site, &shopper).await, LIVE);
    let link = reset_token(&site, &email).await;
    let admin_id = fixtures::user(&site.api.db.pool, "admin").await;
    let admin = fixtures::token(admin_id, auth::Role::Admin);

    let (status, body, _) =
        admin_post(&site, access(&shopper), &admin_id.to_string(), "disable").await;
    assert_eq!(status, 403, "a shopper may not: {body}");

    for round in ["first", "second"] {
        let (status, body, cache_control) = admin_post(&site, &admin, &shopper_id, "disable").await;
        assert_eq!(
            (status, cache_control.as_str()),
            (204, "no-store"),
            "{round}: {body}"
        );
    }
    assert_eq!(standing(&site, &shopper).await, REFUSED);
    assert_eq!(refresh(&site.api, &shopper).await, 401);
    let disabled = post(
        &site.api,
        "/v1/sessions",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    let unknown = post(
        &site.api,
        "/v1/sessions",
        json!({"email": address(), "password": PASSWORD}),
    )
    .await;
    let disabled = (disabled.status(), disabled.bytes().await.expect("body"));
    let unknown = (unknown.status(), unknown.bytes().await.expect("body"));
    assert_eq!(disabled.0.as_u16(), 401);
    assert_eq!(
        disabled, unknown,
        "the right password of a disabled account"
    );
    let problem: Value = serde_json::from_slice(&disabled.1).expect("json");
    assert_eq!(problem["code"], "invalid_credentials");
    let (status, body) = complete(&site, &link, NEW_PASSWORD).await;
    assert_eq!((status, &body["field"]), (400, &json!("token")), "{body}");

    let (status, body, _) = admin_post(&site, &admin, &admin_id.to_string(), "disable").await;
    assert_eq!(
        (status, &body["code"], &body["field"]),
        (409, &json!("cannot_disable_self"), &json!("user_id")),
        "{body}"
    );
    let nobody = Uuid::new_v4().to_string();
    for action in ["disable", "enable"] {
        let (status, body, _) = admin_post(&site, &admin, &nobody, action).await;
        assert_eq!(status, 404, "{action}: {body}");
    }
    let (status, body, _) = admin_post(&site, &admin, "not-a-user", "disable").await;
    assert_eq!((status, &body["field"]), (400, &json!("user_id")), "{body}");

    let (status, body, cache_control) = admin_post(&site, &admin, &shopper_id, "enable").await;
    assert_eq!(
        (status, cache_control.as_str()),
        (204, "no-store"),
        "{body}"
    );
    assert_eq!(
        standing(&site, &shopper).await,
        REFUSED,
        "the revoked sessions stay revoked"
    );
    let (status, body) = complete(&site, &link, NEW_PASSWORD).await;
    assert_eq!(
        (status, &body["field"]),
        (400, &json!("token")),
        "the link mailed before the disable stays dead: {body}"
    );
    let again = session(&site, &email, PASSWORD).await;
    assert_eq!(
        standing(&site, &again).await,
        LIVE,
        "signing in works again"
    );

    let rows: Vec<(Uuid, String, String, i16)> = sqlx::query_as(
        "select actor, method, path, status from admin_audit
          where path like '/v1/admin/%' order by audit_id",
    )
    .fetch_all(&site.api.db.pool)
    .await
    .expect("audit rows");
    let on = |user: &str, action: &str| format!("/v1/admin/users/{user}/{action}");
    let summary: Vec<_> = rows
        .iter()
        .map(|(actor, method, path, status)| (*actor, method.as_str(), path.clone(), *status))
        .collect();
    assert_eq!(
        summary,
        [
            (admin_id, "POST", on(&shopper_id, "disable"), 204),
            (admin_id, "POST", on(&shopper_id, "disable"), 204),
            (admin_id, "POST", on(&admin_id.to_string(), "disable"), 409),
            (admin_id, "POST", on(&nobody, "disable"), 404),
            (admin_id, "POST", on(&nobody, "enable"), 404),
            (admin_id, "POST", on("not-a-user", "disable"), 400),
            (admin_id, "POST", on(&shopper_id, "enable"), 204),
        ],
        "every admin call, refused ones included; not the shopper's attempt"
    );
}

#[tokio::test]
async fn the_reset_routes_share_the_password_reset_limit_per_address() {
    let site = site(&[("RATE_LIMIT_PASSWORD_RESET", "2/600")]).await;
    for attempt in 1..=2 {
        let answer = post(
            &site.api,
            "/v1/password-resets",
            json!({"email": address()}),
        )
        .await;
        assert_eq!(answer.status().as_u16(), 202, "attempt {attempt}");
        assert!(
            header_of(&answer, "ratelimit-policy").contains("\"password_reset\";q=2;w=600"),
            "{}",
            header_of(&answer, "ratelimit-policy")
        );
    }
    let third = post(
        &site.api,
        "/v1/password-resets",
        json!({"email": address()}),
    )
    .await;
    assert_eq!(third.status().as_u16(), 429);
    let retry_after: u64 = header_of(&third, "retry-after")
        .parse()
        .expect("Retry-After seconds");
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    let token = auth::tokens::generate().secret;
    let (status, body) = complete(&site, &token, NEW_PASSWORD).await;
    assert_eq!(
        status, 429,
        "completing counts against the same budget: {body}"
    );
    let (status, _) = sign_in(&site.api, &address(), PASSWORD).await;
    assert_eq!(status, 401, "other limits are their own");
}

#[tokio::test]
async fn a_flood_of_reset_requests_for_one_address_mails_it_only_up_to_the_reset_mail_limit() {
    let site = site(&[("RATE_LIMIT_RESET_MAIL", "2/3600")]).await;
    let email = address();
    verified_account(&site, &email).await;
    let before = mails_to(&site, &email).len();
    let mut answers = Vec::new();
    for ask_as in [email.clone(), email.to_uppercase(), email.to_lowercase()] {
        let answer = post(&site.api, "/v1/password-resets", json!({"email": ask_as})).await;
        let status = answer.status().as_u16();
        answers.push((status, answer.bytes().await.expect("body")));
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, 202, "the third is answered like the first");

    // The two allowed requests mail; the third was refused before any
    // task started, so once both mails are in, the count is final.
    let mails = site.smtp.wait_for(&email, before + 2, MAIL_WAIT).await;
    assert!(mails[before..].iter().all(|m| m.subject == RESET_SUBJECT));
    let links: i64 =
        sqlx::query_scalar("select count(*) from email_tokens where purpose = 'reset_password'")
            .fetch_one(&site.api.db.pool)
            .await
            .expect("tokens");
    assert_eq!(links, 2, "no third link");
    assert_eq!(mails_to(&site, &email).len(), before + 2);
}
