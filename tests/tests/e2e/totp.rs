//! The TOTP second factor end to end: enrolment, codes at sign-in (each
//! works once), and admin routes that need a sign-in with it
//! (`ADMIN_REQUIRE_TOTP`). Codes come from `auth::totp`, whose output is
//! checked against RFC 6238's test vectors; a code for the next step is
//! used where a fresh one is needed, so nothing waits for the clock.

use e2e::{Service, TestApp, TestDb, spawn_app_with};
use serde_json::{Value, json};
use uuid::Uuid;

const PASSWORD: &str = "violet-anchor-tundra-77";
const STEP: u64 = auth::totp::STEP_SECS;

async fn account(db: &TestDb, role: &str) -> (Uuid, String) {
    let email = format!("totp.{}@example.test", Uuid::new_v4().simple());
    let hash = auth::password::hash(PASSWORD).await.expect("hashes");
    let user_id: Uuid = sqlx::query_scalar(
        "insert into users (email, display_name, role, password_hash, email_verified_at)
         values ($1, 'Two Factor', $2, $3, now()) returning user_id",
    )
    .bind(&email)
    .bind(role)
    .bind(hash)
    .fetch_one(&db.pool)
    .await
    .expect("user");
    (user_id, email)
}

fn now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970")
}

async fn post(app: &TestApp, path: &str, body: &Value, bearer: Option<&str>) -> (u16, Value) {
    let mut request = app.http.post(format!("{}{path}", app.address)).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.expect("request");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

async fn sign_in(app: &TestApp, email: &str, code: Option<&str>) -> (u16, Value) {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(code) = code {
        body["totp_code"] = json!(code);
    }
    post(app, "/v1/sessions", &body, None).await
}

/// Enrols the account of `token`, confirming with the code of the step
/// before this one; returns the secret.
async fn enrol(app: &TestApp, user_id: Uuid, token: &str) -> Vec<u8> {
    let (status, enrolment) = post(app, "/v1/account/totp", &json!({}), Some(token)).await;
    assert_eq!(status, 201, "{enrolment}");
    let secret: Vec<u8> = sqlx::query_scalar("select totp_secret from users where user_id = $1")
        .bind(user_id)
        .fetch_one(&app.db.pool)
        .await
        .expect("secret");
    // What the app is given is the stored secret.
    assert_eq!(enrolment["secret"], auth::totp::base32(&secret).as_str());
    let uri = enrolment["otpauth_uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/Ticketing:"), "{uri}");
    assert!(uri.contains(&format!(
        "secret={}",
        enrolment["secret"].as_str().expect("s")
    )));

    let wrong = post(
        app,
        "/v1/account/totp/confirm",
        &json!({"totp_code": "000000"}),
        Some(token),
    )
    .await;
    // (One in a million it is right; then the rest of the test says so.)
    assert_eq!(wrong.0, 401, "{}", wrong.1);
    assert_eq!(wrong.1["code"], "invalid_totp");
    let code = auth::totp::code_at(&secret, now() - STEP).expect("code");
    let (status, body) = post(
        app,
        "/v1/account/totp/confirm",
        &json!({"totp_code": code}),
        Some(token),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    secret
}

#[tokio::test]
async fn once_enrolled_every_sign_in_needs_a_fresh_code_and_each_code_works_once() {
    let api = spawn_app_with(Service::Api, TestDb::migrated().await, &[]).await;
    let (user_id, email) = account(&api.db, "user").await;
    let (status, tokens) = sign_in(&api, &email, None).await;
    assert_eq!(status, 201, "{tokens}");
    let secret = enrol(
        &api,
        user_id,
        tokens["access_token"].as_str().expect("token"),
    )
    .await;

    let (status, problem) = sign_in(&api, &email, None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("totp_required")),
        "{problem}"
    );
    assert_eq!(problem["field"], "totp_code");
    let (status, problem) = sign_in(&api, &email, Some("12345")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("invalid_totp")),
        "{problem}"
    );
    // A wrong password is still the one answer, code or not.
    let (status, problem) = post(
        &api,
        "/v1/sessions",
        &json!({"email": email, "password": "wrong-wrong-wrong-1", "totp_code": "123456"}),
        None,
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("invalid_credentials"))
    );

    // The code the enrolment used does not work again...
    let used = auth::totp::code_at(&secret, now() - STEP).expect("code");
    let (status, problem) = sign_in(&api, &email, Some(&used)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("invalid_totp")),
        "{problem}"
    );
    // ...a later one does, once.
    let fresh = auth::totp::code_at(&secret, now() + STEP).expect("code");
    let (status, body) = sign_in(&api, &email, Some(&fresh)).await;
    assert_eq!(status, 201, "{body}");
    let (status, problem) = sign_in(&api, &email, Some(&fresh)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("invalid_totp")),
        "{problem}"
    );

    // Enrolling again is refused once confirmed.
    let token = body["access_token"].as_str().expect("token");
    let (status, problem) = post(&api, "/v1/account/totp", &json!({}), Some(token)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("totp_already_enabled"))
    );
}

#[tokio::test]
async fn with_admin_require_totp_admin_routes_need_a_sign_in_with_the_code() {
    let api = spawn_app_with(
        Service::Api,
        TestDb::migrated().await,
        &[("ADMIN_REQUIRE_TOTP", "true")],
    )
    .await;
    let (user_id, email) = account(&api.db, "admin").await;
    let performer = json!({"name": "The Second Factors", "genre": "Rock"});

    let (status, tokens) = sign_in(&api, &email, None).await;
    assert_eq!(status, 201, "{tokens}");
    let password_only = tokens["access_token"].as_str().expect("token").to_owned();
    let (status, problem) = post(&api, "/v1/performers", &performer, Some(&password_only)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("second_factor_required")),
        "{problem}"
    );

    // Enrolling does not upgrade the session it was done from.
    let secret = enrol(&api, user_id, &password_only).await;
    let (status, _) = post(&api, "/v1/performers", &performer, Some(&password_only)).await;
    assert_eq!(status, 403);

    let code = auth::totp::code_at(&secret, now()).expect("code");
    let (status, tokens) = sign_in(&api, &email, Some(&code)).await;
    assert_eq!(status, 201, "{tokens}");
    let with_code = tokens["access_token"].as_str().expect("token");
    let (status, body) = post(&api, "/v1/performers", &performer, Some(with_code)).await;
    assert_eq!(status, 201, "{body}");
    // A refreshed token keeps its session's second factor.
    let (status, refreshed) = post(
        &api,
        "/v1/sessions/refresh",
        &json!({"refresh_token": tokens["refresh_token"]}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let (status, body) = post(
        &api,
        "/v1/performers",
        &json!({"name": "The Refreshed", "genre": "Rock"}),
        refreshed["access_token"].as_str(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}
