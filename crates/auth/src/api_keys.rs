//! API keys: long-lived credentials an admin creates for an integration,
//! presented as `Authorization: Bearer tk_...`.
//!
//! Invariants:
//!
//! - **Hashed only.** A key is `tk_` followed by a secret of
//!   [`crate::tokens::generate`] (32 random bytes, unpadded base64url: 46
//!   characters in all). `api_keys.key_hash` holds only the SHA-256 of the
//!   secret's bytes, so a copy of the database holds nothing a client could
//!   present.
//! - **Shown once.** The key exists in the clear only in the answer that
//!   created it ([`generate`] is the one place it is made); no route reads
//!   it back, and it is never logged.
//! - **Scopes.** A key carries one or more [`Scope`]s from a closed set,
//!   which the schema's CHECK enforces too: `catalog:write` opens the admin
//!   catalog writes ([`CatalogAdmin`]); `catalog:read` is an authenticated
//!   read identity for integrations (catalog reads are public; the rate
//!   limiter counts a recently verified key as `key:<key_id>`, not by
//!   address). No key opens anything else: [`crate::AuthUser`] and
//!   [`crate::AdminUser`] (user admin, key management, bookings) refuse a
//!   `tk_` token with 401 before any lookup.
//! - **Revocable, briefly cached.** [`ApiKeys`] answers "which live key is
//!   this" from the table and caches the answer (negative ones too) for at
//!   most `AUTH_USER_CACHE_MS`, like [`crate::Users`]: that is how long a
//!   revocation takes to reach other instances (this one forgets at once).
//!   A key works only while it is not revoked and its creator is an
//!   enabled admin.
//! - **`last_used_at`** is written at most once a minute per key (per
//!   instance, and the update itself skips a row written in the last
//!   minute), never on every request.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use problem::Problem;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{AdminUser, AuthError, Claims, JwtKeys, Users};

/// What every key starts with; a JWT never does (its header encodes to
/// `eyJ`).
pub const PREFIX: &str = "tk_";

/// How long `last_used_at` stays as written before a use rewrites it.
pub const LAST_USED_EVERY: Duration = Duration::from_secs(60);

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// An authenticated read identity for integrations.
    #[serde(rename = "catalog:read")]
    CatalogRead,
    /// The admin catalog writes (venues, seat maps, performers, events,
    /// ticket types, cancellations).
    #[serde(rename = "catalog:write")]
    CatalogWrite,
}

impl Scope {
    /// Every scope, in the order the API lists them.
    pub const ALL: [Scope; 2] = [Scope::CatalogRead, Scope::CatalogWrite];

    /// The scope's name, as stored in `api_keys.scopes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CatalogRead => "catalog:read",
            Scope::CatalogWrite => "catalog:write",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                format!("unknown scope {s:?}; expected one of catalog:read, catalog:write")
            })
    }
}

/// A new key: what the client gets once, and what is stored.
#[derive(Clone)]
pub struct NewKey {
    /// `tk_` and the secret: put it in the create answer only.
    pub key: String,
    /// SHA-256 of the secret's bytes: store this.
    pub hash: Vec<u8>,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey").finish_non_exhaustive()
    }
}

/// A fresh random key.
///
/// # Panics
///
/// When the operating system's random source fails
/// ([`crate::tokens::generate`]).
pub fn generate() -> NewKey {
    let token = crate::tokens::generate();
    NewKey {
        key: format!("{PREFIX}{}", token.secret),
        hash: token.hash,
    }
}

/// Whether a bearer token is shaped like a key (its prefix only).
pub fn is_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// The stored form of a presented key; `None` when it cannot be one of
/// ours (no prefix, or not 32 bytes of base64url after it). Parsing and
/// one SHA-256, nothing else.
pub fn hash(presented: &str) -> Option<[u8; 32]> {
    let secret = presented.trim().strip_prefix(PREFIX)?;
    crate::tokens::hash(secret)?.try_into().ok()
}

/// The key in `Authorization: Bearer tk_...`, if the request sends one.
/// Keys are read from that header only, never from the session cookie.
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    is_key(token).then_some(token)
}

/// A live key, as the table says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// `api_keys.key_id`.
    pub key_id: Uuid,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// The admin who created it (the audit log's `actor` for its writes).
    pub created_by: Uuid,
}

impl ApiKey {
    /// Whether the key carries `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Which live key a presented one is, read from `api_keys` and cached
/// briefly (see the module doc).
#[derive(Clone)]
pub struct ApiKeys {
    pool: sqlx::PgPool,
    /// Key hash → the live key, or `None` (unknown, revoked, or its creator
    /// is no longer an enabled admin).
    cache: Option<moka::future::Cache<[u8; 32], Option<ApiKey>>>,
    /// Keys whose `last_used_at` this instance wrote in the last minute.
    touched: moka::future::Cache<Uuid, ()>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("cached", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl ApiKeys {
    /// Looks keys up in `pool`, caching each answer for `ttl` (zero: no
    /// cache; `AUTH_USER_CACHE_MS`, as for [`Users`]).
    pub fn new(pool: sqlx::PgPool, ttl: Duration) -> Self {
        let cache = (!ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build()
        });
        let touched = moka::future::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(LAST_USED_EVERY)
            .build();
        Self {
            pool,
            cache,
            touched,
        }
    }

    /// The live key `presented` is, if any.
    pub async fn find(&self, presented: &str) -> Result<Option<ApiKey>, AuthError> {
        let Some(hash) = hash(presented) else {
            return Ok(None);
        };
        match &self.cache {
            Some(cache) => cache
                .try_get_with(hash, self.lookup(hash))
                .await
                .map_err(|e| AuthError::Unavailable(sqlx::Error::Protocol(e.to_string()))),
            None => self.lookup(hash).await,
        }
    }

    /// The live key `presented` is, if this instance has verified it
    /// within the cache's TTL; never asks the database (the rate limiter's
    /// question). `None` also when the cache is off.
    pub async fn cached(&self, presented: &str) -> Option<ApiKey> {
        let cache = self.cache.as_ref()?;
        cache.get(&hash(presented)?).await.flatten()
    }

    /// Forgets what this instance cached about key `key_id` (after a
    /// revocation: refused here at once, elsewhere within the TTL).
    pub fn forget(&self, key_id: Uuid) {
        if let Some(cache) = &self.cache {
            // Only fails without `support_invalidation_closures`, set above;
            // the TTL still bounds the answer's life.
            drop(cache.invalidate_entries_if(move |_, key| {
                key.as_ref().is_some_and(|k| k.key_id == key_id)
            }));
        }
    }

    /// A live key with `needed`: 401 for a key that is malformed, unknown
    /// or revoked, 403 naming the scope for one without it. Notes the use
    /// (`last_used_at`, at most once a minute).
    pub async fn admit(&self, presented: &str, needed: Scope) -> Result<ApiKey, AuthError> {
        let key = self
            .find(presented)
            .await?
            .ok_or(AuthError::UnknownApiKey)?;
        self.touch(&key).await;
        if !key.has(needed) {
            return Err(AuthError::MissingScope(needed));
        }
        Ok(key)
    }

    /// Sets `last_used_at`, unless this instance did within the last
    /// minute (or any instance did: the update skips a fresh row). A
    /// failure is logged and does not refuse the request.
    pub async fn touch(&self, key: &ApiKey) {
        if !self
            .touched
            .entry(key.key_id)
            .or_insert(())
            .await
            .is_fresh()
        {
            return;
        }
        let written = sqlx::query(
            "update api_keys set last_used_at = now()
              where key_id = $1
                and (last_used_at is null or last_used_at < now() - interval '1 minute')",
        )
        .bind(key.key_id)
        .execute(&self.pool)
        .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, key_id = %key.key_id, "could not note the API key's use");
            self.touched.invalidate(&key.key_id).await;
        }
    }

    async fn lookup(&self, hash: [u8; 32]) -> Result<Option<ApiKey>, AuthError> {
        let row: Option<(Uuid, Vec<String>, Uuid)> = sqlx::query_as(
            "select k.key_id, k.scopes, k.created_by
               from api_keys k join users u on u.user_id = k.created_by
              where k.key_hash = $1 and k.revoked_at is null
                and u.disabled_at is null and u.role = 'admin'",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(key_id, scopes, created_by)| ApiKey {
            key_id,
            // The schema admits known scopes only.
            scopes: scopes.iter().filter_map(|s| s.parse().ok()).collect(),
            created_by,
        }))
    }
}

/// Whoever may write the catalog: an admin, as [`AdminUser`] admits them
/// (token or session cookie, with every check of that extractor), or
/// `Authorization: Bearer tk_...` with the `catalog:write` scope.
///
/// A `tk_` bearer token goes the key path only; anything else goes the
/// admin path. A key that is unknown or revoked is 401, one without the
/// scope 403 (`missing_scope`, naming it). Bearer keys need no cross-site
/// check: a browser never sends one on its own.
#[derive(Debug, Clone)]
pub enum CatalogAdmin {
    /// An admin's token or session.
    Admin(Claims),
    /// A key with `catalog:write`.
    Key(ApiKey),
}

impl CatalogAdmin {
    /// Whose authority the write carries: the admin, or the key's creator.
    pub fn actor(&self) -> Uuid {
        match self {
            CatalogAdmin::Admin(claims) => claims.sub,
            CatalogAdmin::Key(key) => key.created_by,
        }
    }

    /// The key the write was authenticated by, if it was.
    pub fn api_key_id(&self) -> Option<Uuid> {
        match self {
            CatalogAdmin::Admin(_) => None,
            CatalogAdmin::Key(key) => Some(key.key_id),
        }
    }
}

impl<S> FromRequestParts<S> for CatalogAdmin
where
    Arc<JwtKeys>: FromRef<S>,
    Users: FromRef<S>,
    ApiKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(key) = presented(&parts.headers) {
            let key = ApiKeys::from_ref(state)
                .admit(key, Scope::CatalogWrite)
                .await?;
            return Ok(CatalogAdmin::Key(key));
        }
        let AdminUser(claims) = AdminUser::from_request_parts(parts, state).await?;
        Ok(CatalogAdmin::Admin(claims))
    }
}

/// The answers a [`CatalogAdmin`] route gives without an admin's
/// credentials or a `catalog:write` key.
impl utoipa::IntoResponses for CatalogAdmin {
    fn responses() -> problem::openapi::Responses {
        problem::openapi::responses(&[
            (
                401,
                "No bearer token, one that does not verify or has expired, one whose user \
                 does not exist or is disabled, or an API key (`tk_...`) that is unknown or \
                 revoked.",
            ),
            (
                403,
                "Valid credentials without the `admin` role, an API key without the \
                 `catalog:write` scope (`missing_scope`; `scope` names it), or \
                 (`cross_site_request`) a write signed in by the session cookie that did not \
                 come from this site's pages.",
            ),
            (503, "The user or key check is unavailable."),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::post;
    use secrecy::SecretString;
    use tower::ServiceExt;

    #[test]
    fn a_key_is_the_prefix_and_a_token_and_hashes_to_what_is_stored() {
        let key = generate();
        assert!(key.key.starts_with("tk_"), "{}", key.key);
        assert_eq!(key.key.len(), 3 + 43);
        assert_eq!(hash(&key.key).map(|h| h.to_vec()), Some(key.hash.clone()));
        assert_ne!(generate().key, key.key);
        // The secret alone, or anything else, matches nothing.
        assert_eq!(hash(&key.key[3..]), None);
        for other in ["", "tk_", "tk_not base64!", "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
            assert_eq!(hash(other), None, "{other}");
        }
    }

    #[test]
    fn scopes_parse_from_their_names_only() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
            assert_eq!(
                serde_json::to_value(scope).expect("serializes"),
                scope.as_str()
            );
        }
        assert!("catalog:admin".parse::<Scope>().is_err());
        assert!("CATALOG:WRITE".parse::<Scope>().is_err());
    }

    #[test]
    fn only_a_bearer_tk_token_is_a_presented_key() {
        let headers = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, value.parse().expect("header"));
            h
        };
        assert_eq!(presented(&headers("Bearer tk_abc")), Some("tk_abc"));
        assert_eq!(presented(&headers("bearer  tk_abc ")), Some("tk_abc"));
        assert_eq!(presented(&headers("Bearer eyJ.a.b")), None);
        assert_eq!(presented(&headers("Basic tk_abc")), None);
        assert_eq!(presented(&HeaderMap::new()), None);
    }

    #[derive(Clone)]
    struct State {
        jwt: Arc<JwtKeys>,
        users: Users,
        keys: ApiKeys,
    }

    impl FromRef<State> for Arc<JwtKeys> {
        fn from_ref(state: &State) -> Self {
            state.jwt.clone()
        }
    }

    impl FromRef<State> for Users {
        fn from_ref(state: &State) -> Self {
            state.users.clone()
        }
    }

    impl FromRef<State> for ApiKeys {
        fn from_ref(state: &State) -> Self {
            state.keys.clone()
        }
    }

    fn unreachable_pool() -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(200))
            .connect_lazy("postgres://nobody@127.0.0.1:1/nothing")
            .expect("lazy pool")
    }

    /// Keys nobody can look up, with `known` already cached (and their
    /// use already noted).
    async fn keys(known: &[(&str, Option<ApiKey>)]) -> ApiKeys {
        let keys = ApiKeys::new(unreachable_pool(), Duration::from_secs(60));
        for (presented, key) in known {
            let cache = keys.cache.as_ref().expect("cached");
            cache
                .insert(hash(presented).expect("a key"), key.clone())
                .await;
            if let Some(key) = key {
                keys.touched.insert(key.key_id, ()).await;
            }
        }
        keys
    }

    async fn call(state: State, path: &str, token: &str) -> (StatusCode, serde_json::Value) {
        let app = Router::new()
            .route(
                "/catalog",
                post(|who: CatalogAdmin| async move { who.actor().to_string() }),
            )
            .route(
                "/admin",
                post(|AdminUser(c): AdminUser| async move { c.sub.to_string() }),
            )
            .with_state(state);
        let response = app
            .oneshot(
                Request::post(path)
                    .header(AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, body)
    }

    #[tokio::test]
    async fn a_write_key_opens_catalog_writes_a_read_key_is_403_an_unknown_one_401() {
        let (writer, reader, revoked) = (generate().key, generate().key, generate().key);
        let creator = Uuid::new_v4();
        let key = |scopes: Vec<Scope>| ApiKey {
            key_id: Uuid::new_v4(),
            scopes,
            created_by: creator,
        };
        let state = State {
            jwt: Arc::new(JwtKeys::new(&SecretString::from(
                "s3cret-s3cret-s3cret-s3cret-s3cr".to_owned(),
            ))),
            users: Users::new(unreachable_pool(), Duration::from_secs(60)),
            keys: keys(&[
                (
                    &writer,
                    Some(key(vec![Scope::CatalogRead, Scope::CatalogWrite])),
                ),
                (&reader, Some(key(vec![Scope::CatalogRead]))),
                (&revoked, None),
            ])
            .await,
        };

        let ok = call(state.clone(), "/catalog", &writer).await;
        assert_eq!(ok, (StatusCode::OK, serde_json::json!(creator.to_string())));

        let (status, body) = call(state.clone(), "/catalog", &reader).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["code"], "missing_scope");
        assert_eq!(body["scope"], "catalog:write");

        for token in [revoked.as_str(), "tk_malformed"] {
            let (status, body) = call(state.clone(), "/catalog", token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}: {body}");
            assert_eq!(body["field"], "authorization");
        }

        // The human-only extractor refuses even a good key, before a lookup.
        let (status, body) = call(state.clone(), "/admin", &writer).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("API key"),
            "{body}"
        );

        state.keys.forget(Uuid::nil());
        let still = call(state.clone(), "/catalog", &writer).await;
        assert_eq!(still.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_forgotten_key_is_asked_about_again_and_cached_answers_need_no_database() {
        let presented = generate().key;
        let key = ApiKey {
            key_id: Uuid::new_v4(),
            scopes: vec![Scope::CatalogWrite],
            created_by: Uuid::new_v4(),
        };
        let keys = keys(&[(&presented, Some(key.clone()))]).await;
        assert_eq!(keys.cached(&presented).await, Some(key.clone()));
        assert_eq!(keys.cached(&generate().key).await, None);

        keys.forget(key.key_id);
        keys.cache
            .as_ref()
            .expect("cached")
            .run_pending_tasks()
            .await;
        assert_eq!(keys.cached(&presented).await, None);
        // Forgotten: the next check asks the (unreachable) table.
        assert!(matches!(
            keys.find(&presented).await,
            Err(AuthError::Unavailable(_))
        ));
    }
}
