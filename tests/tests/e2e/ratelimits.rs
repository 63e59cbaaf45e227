//! Rate limits against a real Redis: one budget shared by several
//! instances, 429 problem+json with `Retry-After` and the `RateLimit`
//! headers, client addresses from `X-Forwarded-For` only behind the
//! trusted edge, and writes counted per account before per address.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use e2e::{Service, TestApp, TestDb, fixtures, header_of, spawn_app_with};
use serde_json::{Value, json};
use service_kit::config::EnvSource;
use service_kit::ratelimit::{Decision, Limiter, LimitsConfig};

fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<IpAddr>().expect("address"))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// `n` limiters sharing one Redis namespace, as `n` instances would, with
/// the writes limit set to `writes` (`<requests>/<seconds>`).
fn instances(writes: &str, n: usize) -> Vec<Limiter> {
    let config = LimitsConfig::from_env(&EnvSource::from_pairs([("RATE_LIMIT_WRITES", writes)]))
        .expect("config");
    let namespace = format!("rl-{}", uuid::Uuid::new_v4().simple());
    let keys = Arc::new(auth::JwtKeys::new(&e2e::test_secret()));
    let redis = redis::Client::open(e2e::redis_url()).expect("redis url");
    (0..n)
        .map(|_| Limiter::new(&config, redis.clone(), &namespace, keys.clone()))
        .collect()
}

#[tokio::test]
async fn two_instances_share_one_budget_in_redis() {
    let pair = instances("5/60", 2);
    let (one, two) = (&pair[0], &pair[1]);
    let policy = one.policy("writes").clone();

    let mut decisions = Vec::new();
    for i in 0..8 {
        let limiter = if i % 2 == 0 { one } else { two };
        decisions.push(limiter.check(&policy, "u:shopper").await);
    }
    let allowed = decisions
        .iter()
        .filter(|d| matches!(d, Decision::Allowed { .. }))
        .count();
    assert_eq!(allowed, 5, "{decisions:?}");
    assert!(
        matches!(decisions[0], Decision::Allowed { remaining: 4, .. }),
        "{decisions:?}"
    );
    assert!(
        matches!(decisions[4], Decision::Allowed { remaining: 0, .. }),
        "{decisions:?}"
    );
    for denied in &decisions[5..] {
        match denied {
            Decision::Denied { retry_after } => {
                assert!(
                    *retry_after > Duration::ZERO && *retry_after <= Duration::from_secs(12),
                    "{retry_after:?}"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    // Another subject has its own budget.
    assert!(matches!(
        two.check(&policy, "u:someone-else").await,
        Decision::Allowed { remaining: 4, .. }
    ));
}

#[tokio::test]
async fn subjects_far_from_the_limit_are_counted_after_the_answer_and_the_budget_still_holds() {
    let instances = instances("40/60", 3);
    let policy = instances[0].policy("writes").clone();
    assert!(instances[0].counts_behind(&policy));

    // A burst alternating between two instances, without waiting for the
    // counts behind the answers.
    let mut allowed = 0;
    for i in 0..70 {
        let decision = instances[i % 2].check(&policy, "u:shopper").await;
        allowed += usize::from(matches!(decision, Decision::Allowed { .. }));
    }
    instances[0].settled().await;
    instances[1].settled().await;
    // A third instance has never seen the shopper: its view may let one
    // more through, and Redis's answer to that count ends it.
    let third = &instances[2];
    allowed += usize::from(matches!(
        third.check(&policy, "u:shopper").await,
        Decision::Allowed { .. }
    ));
    third.settled().await;
    for limiter in &instances {
        assert!(
            matches!(
                limiter.check(&policy, "u:shopper").await,
                Decision::Denied { .. }
            ),
            "every instance refuses once the shared budget is spent"
        );
    }
    assert!(
        (40..=43).contains(&allowed),
        "the limit of 40, plus at most one per instance: {allowed}"
    );
}

#[tokio::test]
async fn without_redis_a_far_subject_goes_ahead_at_once_and_guarded_routes_do_not() {
    let keys = Arc::new(auth::JwtKeys::new(&e2e::test_secret()));
    // Nothing listens on port 1: every Redis call fails.
    let down = redis::Client::open("redis://127.0.0.1:1/").expect("redis url");
    let standard =
        LimitsConfig::from_env(&EnvSource::from_pairs::<_, &str, &str>([])).expect("config");
    let limiter = Limiter::new(&standard, down.clone(), "rl-down", keys.clone());
    let writes = limiter.policy("writes").clone();
    assert_eq!(
        limiter.check(&writes, "u:far").await,
        Decision::Allowed {
            remaining: writes.limit.get() - 1,
            reset: writes.window / writes.limit.get(),
        },
        "decided without waiting on Redis"
    );
    limiter.settled().await;
    let sign_in = limiter.policy("sign_in").clone();
    assert!(!limiter.counts_behind(&sign_in));
    assert_eq!(
        limiter.check(&sign_in, "a:127.0.0.1").await,
        Decision::Unavailable
    );
    let small = LimitsConfig::from_env(&EnvSource::from_pairs([("RATE_LIMIT_WRITES", "5/60")]))
        .expect("config");
    let limiter = Limiter::new(&small, down, "rl-down", keys);
    let writes = limiter.policy("writes").clone();
    assert!(!limiter.counts_behind(&writes));
    assert_eq!(limiter.check(&writes, "u:far").await, Decision::Unavailable);
}

async fn demo_login(
    client: &reqwest::Client,
    app: &TestApp,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = client
        .post(format!("{}/v1/demo/login", app.address))
        .json(&json!({"email": "nobody@demo.ticketing.test"}));
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    request.send().await.expect("reaches the api")
}

/// Checks that `refused` is a 429 problem+json whose `Retry-After` is 1 to
/// `max_retry` seconds, and returns the problem.
async fn too_many(refused: reqwest::Response, max_retry: u64) -> Value {
    assert_eq!(refused.status().as_u16(), 429);
    assert_eq!(
        header_of(&refused, "content-type"),
        "application/problem+json"
    );
    let retry_after: u64 = header_of(&refused, "retry-after")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=max_retry).contains(&retry_after), "{retry_after}");
    refused.json().await.expect("json")
}

#[tokio::test]
async fn sign_in_brute_force_is_stopped_with_429_and_the_headers_across_two_api_instances() {
    let limits = [("RATE_LIMIT_SIGN_IN", "4/60")];
    let first = spawn_app_with(Service::Api, TestDb::migrated().await, &limits).await;
    let second = spawn_app_with(Service::Api, TestDb::attach(&first.db), &limits).await;
    let client = client_from("127.0.0.2");

    let mut statuses = Vec::new();
    let mut last = None;
    for i in 0..6 {
        let app = if i % 2 == 0 { &first } else { &second };
        let response = demo_login(&client, app, None).await;
        statuses.push(response.status().as_u16());
        if i == 0 {
            assert_eq!(
                header_of(&response, "ratelimit-policy"),
                "\"sign_in\";q=4;w=60"
            );
            assert!(
                header_of(&response, "ratelimit").starts_with("\"sign_in\";r=3;t="),
                "{}",
                header_of(&response, "ratelimit")
            );
        }
        last = Some(response);
    }
    // Four guesses are answered (no such demo user: 400), then 429.
    assert_eq!(statuses, [400, 400, 400, 400, 429, 429]);
    let refused = last.expect("a response");
    assert!(header_of(&refused, "ratelimit").starts_with("\"sign_in\";r=0;t="));
    let problem = too_many(refused, 15).await;
    assert_eq!(problem["code"], "too_many_requests");
    assert_eq!(problem["status"], 429);
}

/// A verified account with `password`, its address in lower case.
async fn verified_account(app: &TestApp, password: &str) -> String {
    let email = format!("ada.{}@example.test", uuid::Uuid::new_v4().simple());
    let hash = auth::password::hash(password).await.expect("hashes");
    sqlx::query(
        "insert into users (email, display_name, password_hash, email_verified_at)
         values ($1, 'Ada', $2, now())",
    )
    .bind(&email)
    .bind(&hash)
    .execute(&app.db.pool)
    .await
    .expect("user");
    email
}

async fn sign_in_from(
    client: &reqwest::Client,
    app: &TestApp,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{}/v1/sessions", app.address))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("reaches the api")
}

#[tokio::test]
async fn guesses_at_one_account_from_many_addresses_are_stopped_per_account() {
    const PASSWORD: &str = "plum-sofa-harbour-1987";
    // Every address is far under its own limit; the account is not.
    let limits = [
        ("RATE_LIMIT_SIGN_IN", "100/60"),
        ("RATE_LIMIT_SIGN_IN_ACCOUNT", "3/600"),
    ];
    let first = spawn_app_with(Service::Api, TestDb::migrated().await, &limits).await;
    let second = spawn_app_with(Service::Api, TestDb::attach(&first.db), &limits).await;
    let target = verified_account(&first, PASSWORD).await;
    let other = verified_account(&first, PASSWORD).await;
    let from = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"].map(client_from);

    // Three wrong guesses from three addresses over two instances, one
    // with the address in another case: all count against the account.
    let guesses = [
        (&from[0], &first, target.clone()),
        (&from[1], &second, target.to_uppercase()),
        (&from[2], &first, format!("  {target} ")),
    ];
    for (client, app, email) in guesses {
        let response = sign_in_from(client, app, &email, "wrong-password-guess").await;
        assert_eq!(response.status().as_u16(), 401, "{email}");
    }
    // The fourth, from a fresh address, and even with the right password.
    let refused = sign_in_from(&from[3], &second, &target, PASSWORD).await;
    let problem = too_many(refused, 200).await;
    assert_eq!(
        (&problem["code"], &problem["policy"]),
        (&json!("too_many_requests"), &json!("sign_in_account")),
        "{problem}"
    );
    let web = from[3]
        .post(format!("{}/v1/web/sessions", first.address))
        .json(&json!({"email": target, "password": PASSWORD}))
        .send()
        .await
        .expect("reaches the api");
    assert_eq!(web.status().as_u16(), 429, "the cookie sign-in too");

    // Another account, from an address that guessed: signs in.
    let response = sign_in_from(&from[0], &first, &other, PASSWORD).await;
    assert_eq!(response.status().as_u16(), 201);
    // Redis keys show no address in the clear: the key is a digest.
    let mut redis = e2e::redis_connection().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:ratelimit:sign_in_account:*", first.db.name))
        .query_async(&mut redis)
        .await
        .expect("keys");
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|k| !k.contains('@')), "{keys:?}");
}

#[tokio::test]
async fn the_client_address_comes_from_x_forwarded_for_only_when_the_peer_is_the_edge() {
    let app = spawn_app_with(
        Service::Api,
        TestDb::migrated().await,
        &[
            ("RATE_LIMIT_SIGN_IN", "2/60"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let shopper = client_from("127.0.0.2");
    let neighbour = client_from("127.0.0.3");
    let edge = client_from("127.0.0.1");
    let status = |r: reqwest::Response| r.status().as_u16();

    assert_eq!(status(demo_login(&shopper, &app, None).await), 400);
    assert_eq!(status(demo_login(&shopper, &app, None).await), 400);
    assert_eq!(
        status(demo_login(&shopper, &app, None).await),
        429,
        "127.0.0.2 is over"
    );
    // An untrusted peer cannot pick another address by header.
    assert_eq!(
        status(demo_login(&shopper, &app, Some("198.51.100.9")).await),
        429
    );
    // Another address has its own budget.
    assert_eq!(
        status(demo_login(&neighbour, &app, None).await),
        400,
        "127.0.0.3 is not"
    );

    // Behind the edge, the last X-Forwarded-For entry is the client.
    for _ in 0..2 {
        assert_eq!(
            status(demo_login(&edge, &app, Some("203.0.113.7")).await),
            400
        );
    }
    assert_eq!(
        status(demo_login(&edge, &app, Some("10.0.0.1, 203.0.113.7")).await),
        429
    );
    assert_eq!(
        status(demo_login(&edge, &app, Some("203.0.113.8")).await),
        400
    );
}

#[tokio::test]
async fn writes_are_counted_per_account_so_one_address_does_not_lock_out_its_neighbours() {
    let booking = spawn_app_with(
        Service::Booking,
        TestDb::migrated().await,
        &[("RATE_LIMIT_WRITES", "2/60")],
    )
    .await;
    let carrier = client_from("127.0.0.2");
    let alice = fixtures::token(
        fixtures::user(&booking.db.pool, "user").await,
        auth::Role::User,
    );
    let bob = fixtures::token(
        fixtures::user(&booking.db.pool, "user").await,
        auth::Role::User,
    );
    let hold = |token: &str, key: &str| {
        carrier
            .post(format!("{}/v1/bookings", booking.address))
            .bearer_auth(token.to_owned())
            .header("idempotency-key", key.to_owned())
            .json(&json!({"event_id": 999, "seat_ids": [1]}))
            .send()
    };
    for key in ["a1", "a2"] {
        let r = hold(&alice, key).await.expect("reaches");
        assert_ne!(r.status(), 429, "alice's first two");
    }
    let refused = hold(&alice, "a3").await.expect("reaches");
    assert_eq!(refused.status(), 429);
    assert!(!header_of(&refused, "retry-after").is_empty());
    let r = hold(&bob, "b1").await.expect("reaches");
    assert_ne!(
        r.status(),
        429,
        "bob shares alice's address, not her budget"
    );
}
