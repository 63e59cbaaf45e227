//! API keys for integrations over HTTP: an admin creates one and sees it
//! once; a `catalog:write` key makes catalog writes (audited as the key), a
//! `catalog:read` key is refused them (403 naming the scope), a revoked key
//! is refused (401); keys never open the human-only routes (key management,
//! user admin); the table holds only the key's hash; the rate limiter
//! counts a key on its own. Also the schema's room for the scanner role.

use e2e::{Service, TestApp, TestDb, fixtures, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// The answer: status, `Cache-Control`, body (JSON, or the text as a
/// string).
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, String, Value) {
    let mut request = app.http.request(method, format!("{}{path}", app.address));
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request reaches the api");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let cache_control = header("cache-control");
    if status >= 400 {
        assert_eq!(
            header("content-type"),
            "application/problem+json",
            "{path} {status}"
        );
    }
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, cache_control, body)
}

struct Site {
    app: TestApp,
    admin_id: Uuid,
    admin: String,
}

impl Site {
    /// The api with `env`, and an admin.
    async fn start(env: &[(&str, &str)]) -> Self {
        let app = spawn_app_with(Service::Api, TestDb::migrated().await, env).await;
        let admin_id = fixtures::user(&app.db.pool, "admin").await;
        let admin = fixtures::token(admin_id, auth::Role::Admin);
        Self {
            app,
            admin_id,
            admin,
        }
    }

    /// No cache of users or keys: a revocation shows at once.
    async fn uncached() -> Self {
        Self::start(&[("AUTH_USER_CACHE_MS", "0")]).await
    }

    /// A new key with `scopes`, through the API: (key id, key).
    async fn key(&self, scopes: &[&str]) -> (Uuid, String) {
        let (status, _, body) = send(
            &self.app,
            Method::POST,
            "/v1/admin/api-keys",
            Some(&self.admin),
            Some(&json!({"name": "integration", "scopes": scopes})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let id = body["key_id"]
            .as_str()
            .expect("key_id")
            .parse()
            .expect("uuid");
        (id, body["key"].as_str().expect("key").to_owned())
    }

    async fn create_performer(&self, token: &str, name: &str) -> (u16, Value) {
        let (status, _, body) = send(
            &self.app,
            Method::POST,
            "/v1/performers",
            Some(token),
            Some(&json!({"name": name, "genre": "folk"})),
        )
        .await;
        (status, body)
    }

    /// (actor, api_key_id, method, path, status), oldest first.
    async fn audit(&self) -> Vec<(Uuid, Option<Uuid>, String, String, i16)> {
        sqlx::query_as(
            "select actor, api_key_id, method, path, status from admin_audit order by audit_id",
        )
        .fetch_all(&self.app.db.pool)
        .await
        .expect("audit rows")
    }
}

#[tokio::test]
async fn an_admin_creates_a_key_sees_it_once_and_only_its_hash_is_stored() {
    let site = Site::uncached().await;

    let (status, cache_control, created) = send(
        &site.app,
        Method::POST,
        "/v1/admin/api-keys",
        Some(&site.admin),
        Some(&json!({"name": "box office sync", "scopes": ["catalog:write", "catalog:read"]})),
    )
    .await;

    assert_eq!(status, 201, "{created}");
    assert_eq!(cache_control, "no-store");
    let key = created["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("tk_") && key.len() == 46, "{key}");
    assert_eq!(created["name"], "box office sync");
    assert_eq!(created["scopes"], json!(["catalog:read", "catalog:write"]));
    assert!(created["created_at"].is_string(), "{created}");
    let key_id: Uuid = created["key_id"]
        .as_str()
        .expect("key_id")
        .parse()
        .expect("uuid");

    // The list never shows it.
    let (status, cache_control, list) = send(
        &site.app,
        Method::GET,
        "/v1/admin/api-keys",
        Some(&site.admin),
        None,
    )
    .await;
    assert_eq!(
        (status, cache_control.as_str()),
        (200, "no-store"),
        "{list}"
    );
    let keys = list["api_keys"].as_array().expect("api_keys");
    assert_eq!(keys.len(), 1, "{list}");
    assert_eq!(keys[0]["key_id"], key_id.to_string());
    assert_eq!(keys[0]["created_by"], site.admin_id.to_string());
    assert_eq!(keys[0]["revoked_at"], Value::Null);
    assert!(keys[0].get("key").is_none(), "{list}");
    assert!(!list.to_string().contains(&key[3..]), "{list}");

    // The row holds the 32-byte SHA-256 of the secret and nothing of the
    // secret itself.
    let (hash, row): (Vec<u8>, String) =
        sqlx::query_as("select key_hash, to_jsonb(k)::text from api_keys k where key_id = $1")
            .bind(key_id)
            .fetch_one(&site.app.db.pool)
            .await
            .expect("row");
    assert_eq!(hash.len(), 32);
    assert_eq!(Some(hash), auth::tokens::hash(&key[3..]));
    assert!(!row.contains(&key[3..]), "{row}");

    // The create is audited, as the admin's.
    assert_eq!(
        site.audit().await,
        [(
            site.admin_id,
            None,
            "POST".to_owned(),
            "/v1/admin/api-keys".to_owned(),
            201
        )]
    );
}

#[tokio::test]
async fn a_write_key_writes_the_catalog_and_the_audit_log_names_the_key() {
    let site = Site::uncached().await;
    let (key_id, key) = site.key(&["catalog:write"]).await;

    let (status, performer) = site.create_performer(&key, "Key Band").await;
    assert_eq!(status, 201, "{performer}");
    let (status, _, venue) = send(
        &site.app,
        Method::POST,
        "/v1/venues",
        Some(&key),
        Some(&json!({
            "name": "Harbour Arena", "address": "1 Quay St", "city": "Bristol", "country": "GB",
            "lat": 51.45, "lon": -2.59, "timezone": "Europe/London",
        })),
    )
    .await;
    assert_eq!(status, 201, "{venue}");
    let id = performer["performer_id"].as_i64().expect("id");
    let (status, _, patched) = send(
        &site.app,
        Method::PATCH,
        &format!("/v1/performers/{id}"),
        Some(&key),
        Some(&json!({"genre": ""})),
    )
    .await;
    assert_eq!(status, 400, "{patched}");

    let rows = site.audit().await;
    let by_key: Vec<_> = rows
        .iter()
        .filter(|r| r.1.is_some())
        .map(|(actor, key, method, path, status)| {
            (
                *actor,
                key.expect("key"),
                method.as_str(),
                path.clone(),
                *status,
            )
        })
        .collect();
    assert_eq!(
        by_key,
        [
            (
                site.admin_id,
                key_id,
                "POST",
                "/v1/performers".to_owned(),
                201
            ),
            (site.admin_id, key_id, "POST", "/v1/venues".to_owned(), 201),
            (
                site.admin_id,
                key_id,
                "PATCH",
                format!("/v1/performers/{id}"),
                400
            ),
        ],
        "every write by the key, refused ones included, names it (actor: its creator)"
    );

    let used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select last_used_at from api_keys where key_id = $1")
            .bind(key_id)
            .fetch_one(&site.app.db.pool)
            .await
            .expect("row");
    assert!(used.is_some(), "the use is noted");
}

#[tokio::test]
async fn a_read_key_is_refused_catalog_writes_with_403_naming_the_scope() {
    let site = Site::uncached().await;
    let (_, key) = site.key(&["catalog:read"]).await;

    let (status, body) = site.create_performer(&key, "Nope").await;

    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "missing_scope");
    assert_eq!(body["scope"], "catalog:write");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("catalog:write"),
        "{body}"
    );
    let performers: i64 = sqlx::query_scalar("select count(*) from performers")
        .fetch_one(&site.app.db.pool)
        .await
        .expect("count");
    assert_eq!(performers, 0);
    assert!(
        site.audit().await.iter().all(|r| r.1.is_none()),
        "a read key's refused write is not an admin write"
    );
}

#[tokio::test]
async fn a_revoked_key_is_refused_and_a_revoke_is_idempotent() {
    let site = Site::uncached().await;
    let (key_id, key) = site.key(&["catalog:write"]).await;
    assert_eq!(site.create_performer(&key, "Before").await.0, 201);

    for _ in 0..2 {
        let (status, cache_control, body) = send(
            &site.app,
            Method::DELETE,
            &format!("/v1/admin/api-keys/{key_id}"),
            Some(&site.admin),
            None,
        )
        .await;
        assert_eq!(
            (status, cache_control.as_str()),
            (204, "no-store"),
            "{body}"
        );
    }
    let revoked_at: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select revoked_at from api_keys where key_id = $1")
            .bind(key_id)
            .fetch_one(&site.app.db.pool)
            .await
            .expect("row");
    assert!(revoked_at.is_some());

    let (status, body) = site.create_performer(&key, "After").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["field"], "authorization");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked"),
        "{body}"
    );

    // Unknown and malformed ids; an invented key.
    let (status, _, body) = send(
        &site.app,
        Method::DELETE,
        &format!("/v1/admin/api-keys/{}", Uuid::new_v4()),
        Some(&site.admin),
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, _, body) = send(
        &site.app,
        Method::DELETE,
        "/v1/admin/api-keys/42",
        Some(&site.admin),
        None,
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("key_id")));
    let invented = auth::api_keys::generate().key;
    assert_eq!(site.create_performer(&invented, "Invented").await.0, 401);
    assert_eq!(site.create_performer("tk_short", "Malformed").await.0, 401);

    // A key stops working when its creator is no longer an enabled admin.
    let (_, other) = site.key(&["catalog:write"]).await;
    assert_eq!(site.create_performer(&other, "Still").await.0, 201);
    sqlx::query("update users set role = 'user' where user_id = $1")
        .bind(site.admin_id)
        .execute(&site.app.db.pool)
        .await
        .expect("demote");
    assert_eq!(site.create_performer(&other, "Demoted").await.0, 401);
}

#[tokio::test]
async fn keys_never_open_the_human_only_routes() {
    let site = Site::uncached().await;
    let (key_id, key) = site.key(&["catalog:write", "catalog:read"]).await;
    let shopper = fixtures::user(&site.app.db.pool, "user").await;
    let new_key = json!({"name": "minted by a key", "scopes": ["catalog:write"]});

    for (method, path, body) in [
        (
            Method::POST,
            "/v1/admin/api-keys".to_owned(),
            Some(&new_key),
        ),
        (Method::GET, "/v1/admin/api-keys".to_owned(), None),
        (Method::DELETE, format!("/v1/admin/api-keys/{key_id}"), None),
        (
            Method::POST,
            format!("/v1/admin/users/{shopper}/disable"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/admin/users/{shopper}/enable"),
            None,
        ),
        (Method::POST, "/v1/sessions/revoke-all".to_owned(), None),
    ] {
        let (status, _, answer) = send(&site.app, method.clone(), &path, Some(&key), body).await;
        assert_eq!(status, 401, "{method} {path}: {answer}");
        assert!(
            answer["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("API key is not accepted"),
            "{method} {path}: {answer}"
        );
    }
    let (keys, disabled): (i64, bool) = sqlx::query_as(
        "select (select count(*) from api_keys where revoked_at is null),
                (select disabled_at is not null from users where user_id = $1)",
    )
    .bind(shopper)
    .fetch_one(&site.app.db.pool)
    .await
    .expect("state");
    assert_eq!((keys, disabled), (1, false), "nothing changed");
}

#[tokio::test]
async fn a_shopper_cannot_manage_keys() {
    let site = Site::uncached().await;
    let (key_id, _) = site.key(&["catalog:read"]).await;
    let shopper = fixtures::token(
        fixtures::user(&site.app.db.pool, "user").await,
        auth::Role::User,
    );
    let scanner = fixtures::token(
        fixtures::user(&site.app.db.pool, "scanner").await,
        auth::Role::Scanner,
    );
    let body = json!({"name": "mine", "scopes": ["catalog:write"]});

    for token in [&shopper, &scanner] {
        for (method, path, body) in [
            (Method::POST, "/v1/admin/api-keys".to_owned(), Some(&body)),
            (Method::GET, "/v1/admin/api-keys".to_owned(), None),
            (Method::DELETE, format!("/v1/admin/api-keys/{key_id}"), None),
        ] {
            let (status, _, answer) =
                send(&site.app, method.clone(), &path, Some(token), body).await;
            assert_eq!(status, 403, "{method} {path}: {answer}");
        }
        // Nor write the catalog.
        assert_eq!(site.create_performer(token, "Nope").await.0, 403);
    }
    let (status, _, _) = send(&site.app, Method::GET, "/v1/admin/api-keys", None, None).await;
    assert_eq!(status, 401);
    let live: i64 = sqlx::query_scalar("select count(*) from api_keys where revoked_at is null")
        .fetch_one(&site.app.db.pool)
        .await
        .expect("count");
    assert_eq!(live, 1);
}

#[tokio::test]
async fn a_bad_create_is_400_naming_the_field() {
    let site = Site::uncached().await;
    for (body, field) in [
        (json!({"name": "", "scopes": ["catalog:read"]}), "name"),
        (
            json!({"name": "x".repeat(101), "scopes": ["catalog:read"]}),
            "name",
        ),
        (json!({"name": "sync", "scopes": []}), "scopes"),
        (
            json!({"name": "sync", "scopes": ["catalog:admin"]}),
            "scopes",
        ),
        (json!({"name": "sync"}), "scopes"),
        (json!({"name": "sync", "scopes": "catalog:read"}), "scopes"),
    ] {
        let (status, _, answer) = send(
            &site.app,
            Method::POST,
            "/v1/admin/api-keys",
            Some(&site.admin),
            Some(&body),
        )
        .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
    let keys: i64 = sqlx::query_scalar("select count(*) from api_keys")
        .fetch_one(&site.app.db.pool)
        .await
        .expect("count");
    assert_eq!(keys, 0);
}

#[tokio::test]
async fn the_rate_limiter_counts_a_verified_key_on_its_own_not_by_address() {
    // The limiter only looks in the key cache, so it is on here; two
    // writes a minute.
    let site = Site::start(&[
        ("AUTH_USER_CACHE_MS", "60000"),
        ("RATE_LIMIT_WRITES", "2/60"),
    ])
    .await;
    let mut keys = Vec::new();
    for _ in 0..2 {
        let new = auth::api_keys::generate();
        sqlx::query(
            "insert into api_keys (name, scopes, key_hash, created_by)
             values ('bulk', '{catalog:write}', $1, $2)",
        )
        .bind(&new.hash)
        .bind(site.admin_id)
        .execute(&site.app.db.pool)
        .await
        .expect("key");
        keys.push(new.key);
    }
    let (a, b) = (&keys[0], &keys[1]);

    // A's first write is not verified yet when the limiter sees it: it
    // counts against the address. Then A has two of its own.
    let mut statuses = Vec::new();
    for n in 0..4 {
        statuses.push(site.create_performer(a, &format!("A{n}")).await.0);
    }
    assert_eq!(statuses, [201, 201, 201, 429], "A: address, key, key, over");
    // B is not held back by A, nor (after its first) by the address.
    let mut statuses = Vec::new();
    for n in 0..2 {
        statuses.push(site.create_performer(b, &format!("B{n}")).await.0);
    }
    assert_eq!(statuses, [201, 201], "B: address (second of two), key");
    // The address has used both of its writes: an invented key, which no
    // cache knows, is counted there and gets no budget of its own.
    let invented = auth::api_keys::generate().key;
    assert_eq!(site.create_performer(&invented, "X").await.0, 429);
}

#[tokio::test]
async fn the_schema_takes_scanners_and_checkin_grants_and_refuses_bad_keys() {
    let db = TestDb::migrated().await;
    let scanner = fixtures::user(&db.pool, "scanner").await;
    let refused = sqlx::query(
        "insert into users (email, display_name, role) values ('x@example.test', 'X', 'superuser')",
    )
    .execute(&db.pool)
    .await
    .expect_err("unknown role");
    assert_eq!(constraint(&refused).as_deref(), Some("users_role_check"));

    sqlx::query("insert into user_grants (user_id, grant_name) values ($1, 'checkin:12')")
        .bind(scanner)
        .execute(&db.pool)
        .await
        .expect("an event-scoped check-in grant");
    for bad in ["checkin:abc", "checkin:", "checkin:12:13", "admin"] {
        let err = sqlx::query("insert into user_grants (user_id, grant_name) values ($1, $2)")
            .bind(scanner)
            .bind(bad)
            .execute(&db.pool)
            .await
            .expect_err(bad);
        assert_eq!(
            constraint(&err).as_deref(),
            Some("user_grants_grant_name_check"),
            "{bad}"
        );
    }
    // Grants go with their user.
    sqlx::query("delete from users where user_id = $1")
        .bind(scanner)
        .execute(&db.pool)
        .await
        .expect("delete");
    let grants: i64 = sqlx::query_scalar("select count(*) from user_grants")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(grants, 0);

    let admin = fixtures::user(&db.pool, "admin").await;
    let insert = |scopes: &'static str, hash: Vec<u8>| {
        let pool = db.pool.clone();
        async move {
            sqlx::query(
                "insert into api_keys (name, scopes, key_hash, created_by)
                 values ('k', $1::text[], $2, $3)",
            )
            .bind(scopes)
            .bind(hash)
            .bind(admin)
            .execute(&pool)
            .await
        }
    };
    insert("{catalog:read,catalog:write}", vec![1; 32])
        .await
        .expect("a good key");
    for scopes in [
        "{}",
        "{catalog:admin}",
        "{catalog:read,NULL}",
        "{{catalog:read}}",
    ] {
        let err = insert(scopes, vec![2; 32]).await.expect_err(scopes);
        assert_eq!(
            constraint(&err).as_deref(),
            Some("api_keys_scopes_check"),
            "{scopes}"
        );
    }
    let err = insert("{catalog:read}", vec![3; 31])
        .await
        .expect_err("a short hash");
    assert_eq!(constraint(&err).as_deref(), Some("api_keys_key_hash_check"));
    let err = insert("{catalog:read}", vec![1; 32])
        .await
        .expect_err("a repeated hash");
    assert_eq!(constraint(&err).as_deref(), Some("api_keys_key_hash_key"));
}

fn constraint(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|e| e.constraint())
        .map(str::to_owned)
}
