//! JWT bearer authentication shared by the services.
//!
//! Tokens are HS256, signed with a secret from the environment, and carry
//! `sub` (the user id), `role` (`user`, `admin` or `scanner`) and `exp`.
//! [`AuthUser`] and [`AdminUser`] are axum extractors that turn a missing or
//! bad token into a 401 and a missing role into a 403, both problem+json.
//!
//! A signature is not enough: the extractors also ask [`Users`] whether the
//! token's user still exists and is not disabled, and take the role from
//! the users table, not from the token. That answer is cached per user for
//! at most `AUTH_USER_CACHE_MS` (default 5 s), which is therefore how long
//! a deletion, a disable or a demotion takes to reach every route.
//!
//! A token minted by a sign-in also carries `sid`, its session
//! ([`sessions`]); such a token is refused once its session is revoked or
//! has expired, checked and cached the same way. Tokens without `sid`
//! (minted by `ticketctl token` for development, tests and benchmarks)
//! get the user check only. [`password`] holds the password policy and
//! Argon2id hashing, [`tokens`] the opaque secrets of refresh tokens and
//! email links.
//!
//! Integrations authenticate with API keys instead ([`api_keys`]:
//! `Bearer tk_...`, stored hashed, with scopes); only [`CatalogAdmin`] (the
//! catalog writes) takes one, and every other extractor refuses it.
//!
//! A browser holds its session in a cookie instead ([`web`]): the
//! extractors read it when no `Authorization` header is sent, and refuse a
//! write it authenticates unless the request comes from our own pages
//! (403 `cross_site_request`).

pub mod api_keys;
pub mod password;
pub mod sessions;
pub mod tokens;
pub mod totp;
pub mod web;

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use problem::Problem;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use api_keys::{ApiKeys, CatalogAdmin};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A shopper.
    User,
    /// A promoter or operator: may write the catalog and read any booking.
    Admin,
    /// Door staff who check tickets in. Not an admin: on today's routes a
    /// scanner gets no more than a user; the check-in routes will read the
    /// event-scoped grants (`user_grants`, `checkin:{event_id}`).
    Scanner,
}

impl Role {
    /// The role's name as stored in `users.role` and in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Scanner => "scanner",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            "scanner" => Ok(Role::Scanner),
            other => Err(format!(
                "unknown role {other:?}; expected user, admin or scanner"
            )),
        }
    }
}

/// The claims a token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id (`users.user_id`).
    pub sub: Uuid,
    /// The user's role.
    pub role: Role,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    #[serde(default)]
    pub iat: i64,
    /// The session a sign-in started (`sessions.session_id`); absent from
    /// tokens that `ticketctl token` mints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    /// Whether the sign-in that started `sid` passed the second factor
    /// (TOTP). Never read from the token: [`Users`] sets it from the
    /// session's row.
    #[serde(skip)]
    pub second_factor: bool,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// The token did not verify: bad signature, malformed, or expired.
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    /// The token verified but lacks the role the route needs.
    #[error("this action needs the {0} role")]
    Forbidden(&'static str),
    /// The token verified, but its user does not exist or is disabled.
    #[error("the token's user does not exist or is disabled")]
    UnknownUser,
    /// The token verified, but its session was signed out, revoked or has
    /// expired.
    #[error("the token's session has ended")]
    SessionEnded,
    /// An admin route, with `ADMIN_REQUIRE_TOTP`, for a session whose
    /// sign-in did not pass the second factor.
    #[error("this action needs a sign-in with the second factor")]
    SecondFactorRequired,
    /// A write authenticated by the session cookie did not come from our
    /// own pages (cross-site request forgery).
    #[error("a cookie-authenticated write from another site")]
    CrossSite,
    /// An API key (`tk_...`) on a route that takes only a user's token or
    /// session (everything but the catalog writes).
    #[error("an API key is not accepted on this route")]
    ApiKeyNotAccepted,
    /// An API key that is malformed, unknown or revoked.
    #[error("unknown or revoked API key")]
    UnknownApiKey,
    /// A live API key without the scope the route needs.
    #[error("this action needs the {0} scope")]
    MissingScope(api_keys::Scope),
    /// The users table could not be read.
    #[error("the user check failed: {0}")]
    Unavailable(#[from] sqlx::Error),
}

impl From<AuthError> for Problem {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Missing => {
                Problem::unauthorized("missing bearer token").with_field("authorization")
            }
            AuthError::Invalid(e) => {
                let detail = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => "token expired",
                    _ => "token did not verify",
                };
                Problem::unauthorized(detail).with_field("authorization")
            }
            AuthError::Forbidden(role) => {
                Problem::forbidden(format!("this action needs the {role} role"))
            }
            AuthError::UnknownUser => {
                Problem::unauthorized("the token's user does not exist or is disabled")
                    .with_field("authorization")
            }
            AuthError::SessionEnded => Problem::unauthorized(
                "the token's session has ended (signed out or revoked); sign in again",
            )
            .with_field("authorization"),
            AuthError::SecondFactorRequired => Problem::new(
                axum::http::StatusCode::FORBIDDEN,
                "second_factor_required",
            )
            .with_field("authorization")
            .with_detail(
                "admin routes need a session signed in with an authentication code: enrol at \
                 POST /v1/account/totp, then sign in again with totp_code",
            ),
            AuthError::CrossSite => Problem::new(
                axum::http::StatusCode::FORBIDDEN,
                "cross_site_request",
            )
            .with_field("origin")
            .with_detail(
                "a write signed in by the session cookie must come from this site's own pages \
                 (Sec-Fetch-Site: same-origin, or an Origin equal to the host)",
            ),
            AuthError::ApiKeyNotAccepted => Problem::unauthorized(
                "an API key is not accepted on this route: it needs a user's sign-in \
                 (API keys open the catalog writes only)",
            )
            .with_field("authorization"),
            AuthError::UnknownApiKey => {
                Problem::unauthorized("the API key is unknown or has been revoked")
                    .with_field("authorization")
            }
            AuthError::MissingScope(scope) => {
                Problem::new(axum::http::StatusCode::FORBIDDEN, "missing_scope")
                    .with_detail(format!(
                        "this action needs an API key with the {scope} scope"
                    ))
                    .with_extension("scope", scope.as_str())
            }
            AuthError::Unavailable(_) => {
                Problem::unavailable("the user check is unavailable; try again shortly")
            }
        }
    }
}

/// Signs and verifies tokens with one HS256 secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// The web session cookie, read when no bearer token is sent.
    cookie: web::WebCookie,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys").finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Keys from the shared secret.
    pub fn new(secret: &SecretString) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            cookie: web::WebCookie::default(),
        }
    }

    /// These keys, reading the session cookie as `cookie` says.
    #[must_use]
    pub fn with_cookie(mut self, cookie: web::WebCookie) -> Self {
        self.cookie = cookie;
        self
    }

    /// The session cookie's settings.
    pub fn cookie(&self) -> web::WebCookie {
        self.cookie
    }

    /// Mints a token for `sub` with `role`, valid for `ttl` from `now`,
    /// without a session (development, tests, benchmarks).
    pub fn mint(
        &self,
        sub: Uuid,
        role: Role,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        self.mint_claims(&Claims {
            sub,
            role,
            exp: (now + ttl).timestamp(),
            iat: now.timestamp(),
            sid: None,
            second_factor: false,
        })
    }

    /// Mints an access token of session `sid` (a sign-in's).
    pub fn mint_session(
        &self,
        sub: Uuid,
        role: Role,
        sid: Uuid,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        self.mint_claims(&Claims {
            sub,
            role,
            exp: (now + ttl).timestamp(),
            iat: now.timestamp(),
            sid: Some(sid),
            second_factor: false,
        })
    }

    fn mint_claims(&self, claims: &Claims) -> Result<String, AuthError> {
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.encoding,
        )?)
    }

    /// Verifies a token and returns its claims. An API key is refused as
    /// such ([`AuthError::ApiKeyNotAccepted`]): only [`CatalogAdmin`] takes
    /// one.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if api_keys::is_key(token) {
            return Err(AuthError::ApiKeyNotAccepted);
        }
        Ok(jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?.claims)
    }

    /// Verifies the bearer token in request headers.
    pub fn verify_headers(&self, parts: &Parts) -> Result<Claims, AuthError> {
        self.verify_headers_of(&parts.headers)
    }

    /// Verifies the credential in `headers`: the bearer token, or without
    /// an `Authorization` header, the session cookie.
    pub fn verify_headers_of(&self, headers: &axum::http::HeaderMap) -> Result<Claims, AuthError> {
        let (token, _) = self.credential(headers)?;
        self.verify(token)
    }

    /// The request's credential and where it came from. An `Authorization`
    /// header decides alone: one that is not `Bearer` is no credential, even
    /// with a cookie beside it.
    pub fn credential<'h>(
        &self,
        headers: &'h axum::http::HeaderMap,
    ) -> Result<(&'h str, web::Via), AuthError> {
        if let Some(header) = headers.get(AUTHORIZATION) {
            let token = header
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .ok_or(AuthError::Missing)?;
            return Ok((token.trim(), web::Via::Bearer));
        }
        self.cookie
            .read(headers)
            .map(|token| (token, web::Via::Cookie))
            .ok_or(AuthError::Missing)
    }

    /// Verifies `token`, keeping its claims with it for the request's
    /// extensions ([`Verified`]).
    pub fn verified(&self, token: &str) -> Result<Verified, AuthError> {
        Ok(Verified::new(token, self.verify(token)?))
    }

    /// Verifies a request's credential; a write authenticated by the
    /// session cookie must come from our own pages
    /// ([`web::same_origin_write`]).
    pub fn verify_request(&self, parts: &Parts) -> Result<Claims, AuthError> {
        let (token, via) = self.credential(&parts.headers)?;
        let claims = match parts.extensions.get::<Verified>() {
            Some(verified) if *verified.token == *token => verified.claims.clone(),
            _ => self.verify(token)?,
        };
        if via == web::Via::Cookie && !web::same_origin_write(&parts.method, &parts.headers) {
            return Err(AuthError::CrossSite);
        }
        Ok(claims)
    }
}

/// A token this process has already verified for this request (the rate
/// limiter does, to find whom to count), kept in the request's extensions
/// so the extractors do not verify it again. Only [`JwtKeys::verified`]
/// makes one, from a token it has just verified, and it is used only for
/// the very token the request carries.
#[derive(Debug, Clone)]
pub struct Verified {
    token: Arc<str>,
    claims: Claims,
}

impl Verified {
    fn new(token: &str, claims: Claims) -> Self {
        Self {
            token: token.into(),
            claims,
        }
    }

    /// The claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }
}

/// What the user check found for a user, or a user's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// An enabled user (with a live session, when one was asked about),
    /// and whether that session's sign-in passed the second factor.
    Active(Role, bool),
    /// No such user, or a disabled one.
    UnknownUser,
    /// An enabled user whose session has ended.
    SessionEnded,
}

/// The cache key: a user, and the session when the token names one.
type StandingKey = (Uuid, Option<Uuid>);

/// Whether a token's user may act, read from `users` (and `sessions`, for
/// a token with `sid`) and cached briefly.
#[derive(Clone)]
pub struct Users {
    pool: sqlx::PgPool,
    /// (user, session) → what the tables said. Negative answers are cached
    /// too, so a flood of tokens for a deleted user or an ended session
    /// costs one query per TTL.
    cache: Option<moka::future::Cache<StandingKey, Standing>>,
    /// Whether admin routes need a session signed in with the second
    /// factor (`ADMIN_REQUIRE_TOTP`).
    admin_second_factor: bool,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("cached", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl Users {
    /// Checks against `pool`, caching each answer for `ttl` (zero: no cache).
    pub fn new(pool: sqlx::PgPool, ttl: std::time::Duration) -> Self {
        let cache = (!ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build()
        });
        Self {
            pool,
            cache,
            admin_second_factor: false,
        }
    }

    /// These checks, with admin routes needing a session whose sign-in
    /// passed the second factor when `required`.
    #[must_use]
    pub fn with_admin_second_factor(mut self, required: bool) -> Self {
        self.admin_second_factor = required;
        self
    }

    /// The current role of an enabled user; `None` if unknown or disabled.
    pub async fn role(&self, user: Uuid) -> Result<Option<Role>, AuthError> {
        Ok(match self.standing(user, None).await? {
            Standing::Active(role, _) => Some(role),
            Standing::UnknownUser | Standing::SessionEnded => None,
        })
    }

    /// Forgets what this instance cached about `user`'s `session` (after a
    /// sign-out, so this instance refuses its tokens at once; others within
    /// the TTL).
    pub async fn forget_session(&self, user: Uuid, session: Uuid) {
        if let Some(cache) = &self.cache {
            cache.invalidate(&(user, Some(session))).await;
        }
    }

    /// Forgets what this instance cached about every session of `user`.
    pub fn forget_user(&self, user: Uuid) {
        if let Some(cache) = &self.cache {
            // Only fails without `support_invalidation_closures`, set above;
            // the TTL still bounds the answer's life.
            drop(cache.invalidate_entries_if(move |(u, _), _| *u == user));
        }
    }

    async fn standing(&self, user: Uuid, session: Option<Uuid>) -> Result<Standing, AuthError> {
        match &self.cache {
            Some(cache) => cache
                .try_get_with((user, session), self.lookup(user, session))
                .await
                .map_err(|e| match e.as_ref() {
                    AuthError::Unavailable(inner) => {
                        AuthError::Unavailable(sqlx::Error::Protocol(inner.to_string()))
                    }
                    _ => AuthError::UnknownUser,
                }),
            None => self.lookup(user, session).await,
        }
    }

    async fn lookup(&self, user: Uuid, session: Option<Uuid>) -> Result<Standing, AuthError> {
        // (role, session live, session passed the second factor); the
        // session columns are null when there is no such session.
        let row: Option<(String, Option<bool>, Option<bool>)> = match session {
            None => sqlx::query_as(
                "select role, true, false from users where user_id = $1 and disabled_at is null",
            )
            .bind(user)
            .fetch_optional(&self.pool)
            .await?,
            Some(session) => {
                // One index lookup each on users and sessions.
                sqlx::query_as(
                    "select u.role,
                            s.revoked_at is null and s.expires_at > now(),
                            s.second_factor
                       from users u
                       left join sessions s on s.session_id = $2 and s.user_id = u.user_id
                      where u.user_id = $1 and u.disabled_at is null",
                )
                .bind(user)
                .bind(session)
                .fetch_optional(&self.pool)
                .await?
            }
        };
        Ok(match row {
            None => Standing::UnknownUser,
            Some((_, None | Some(false), _)) => Standing::SessionEnded,
            Some((role, Some(true), second_factor)) => {
                role.parse().map_or(Standing::UnknownUser, |role| {
                    Standing::Active(role, second_factor.unwrap_or(false))
                })
            }
        })
    }

    /// Verified claims whose user exists and is enabled (and whose session,
    /// if the token names one, is live), with the role as it is now.
    async fn admit(&self, mut claims: Claims) -> Result<Claims, AuthError> {
        match self.standing(claims.sub, claims.sid).await? {
            Standing::Active(role, second_factor) => {
                claims.role = role;
                claims.second_factor = second_factor;
                Ok(claims)
            }
            Standing::UnknownUser => Err(AuthError::UnknownUser),
            Standing::SessionEnded => Err(AuthError::SessionEnded),
        }
    }
}

/// An authenticated caller of any role.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Claims);

/// An authenticated caller with the `admin` role.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Claims);

impl<S> FromRequestParts<S> for AuthUser
where
    Arc<JwtKeys>: FromRef<S>,
    Users: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = Arc::<JwtKeys>::from_ref(state);
        let claims = keys.verify_request(parts)?;
        Ok(AuthUser(Users::from_ref(state).admit(claims).await?))
    }
}

impl<S> FromRequestParts<S> for AdminUser
where
    Arc<JwtKeys>: FromRef<S>,
    Users: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = Arc::<JwtKeys>::from_ref(state);
        let claims = keys.verify_request(parts)?;
        let users = Users::from_ref(state);
        let claims = users.admit(claims).await?;
        if claims.role != Role::Admin {
            return Err(AuthError::Forbidden("admin").into());
        }
        if users.admin_second_factor && !claims.second_factor {
            return Err(AuthError::SecondFactorRequired.into());
        }
        Ok(AdminUser(claims))
    }
}

/// The answers an [`AuthUser`] route gives without valid credentials.
impl utoipa::IntoResponses for AuthUser {
    fn responses() -> problem::openapi::Responses {
        problem::openapi::responses(&[
            (
                401,
                "No bearer token, one that does not verify or has expired, or one whose user \
                 does not exist or is disabled.",
            ),
            (
                403,
                "`cross_site_request`: a write signed in by the session cookie that did not \
                 come from this site's pages.",
            ),
            (503, "The user check is unavailable."),
        ])
    }
}

/// The answers an [`AdminUser`] route gives without an admin's credentials.
impl utoipa::IntoResponses for AdminUser {
    fn responses() -> problem::openapi::Responses {
        let mut answers = AuthUser::responses();
        answers.extend(problem::openapi::responses(&[(
            403,
            "Valid credentials without the `admin` role, or (`cross_site_request`) a write \
             signed in by the session cookie that did not come from this site's pages.",
        )]));
        answers
    }
}

/// Adds the `bearer` security scheme that [`AuthUser`] and [`AdminUser`]
/// routes name (`security(("bearer" = []))`).
#[derive(Debug, Clone, Copy)]
pub struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "HS256; claims `sub` (user id), `role` (`user`, `admin` or `scanner`), \
                         `exp`, and `sid` for a sign-in's session. Browsers send the same \
                         token in the `HttpOnly` session cookie (`session`, or \
                         `__Host-session` over TLS) \
                         set by `POST /v1/web/sessions` instead; a write signed in that way \
                         must come from the site's own pages. The admin catalog writes also \
                         take an API key, `Bearer tk_...` (created by an admin with \
                         `POST /v1/admin/api-keys`), with the `catalog:write` scope; no other \
                         route takes one.",
                    ))
                    .build(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::new(&SecretString::from(secret.to_owned()))
    }

    #[test]
    fn a_minted_token_verifies_with_its_claims() {
        let keys = keys("s3cret-s3cret-s3cret-s3cret-s3cr");
        let sub = Uuid::new_v4();
        let token = keys
            .mint(sub, Role::Admin, Utc::now(), Duration::hours(1))
            .expect("mints");
        let claims = keys.verify(&token).expect("verifies");
        assert_eq!(claims.sub, sub);
        assert_eq!(claims.role, Role::Admin);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let token = keys("one-secret-one-secret-one-secret")
            .mint(Uuid::new_v4(), Role::User, Utc::now(), Duration::hours(1))
            .expect("mints");
        let err = keys("two-secret-two-secret-two-secret")
            .verify(&token)
            .expect_err("must be refused");
        assert!(matches!(err, AuthError::Invalid(_)), "{err:?}");
    }

    #[test]
    fn an_expired_token_is_refused_as_expired() {
        let keys = keys("s3cret-s3cret-s3cret-s3cret-s3cr");
        let token = keys
            .mint(
                Uuid::new_v4(),
                Role::User,
                Utc::now() - Duration::hours(2),
                Duration::hours(1),
            )
            .expect("mints");
        let problem = Problem::from(keys.verify(&token).expect_err("must be refused"));
        assert_eq!(problem.status, 401);
        assert_eq!(problem.detail.as_deref(), Some("token expired"));
    }

    #[test]
    fn claims_verified_earlier_in_the_request_are_used_only_for_its_own_token() {
        let keys = keys("s3cret-s3cret-s3cret-s3cret-s3cr");
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let token = keys
            .mint(alice, Role::User, Utc::now(), Duration::hours(1))
            .expect("mints");
        let other = keys
            .mint(bob, Role::Admin, Utc::now(), Duration::hours(1))
            .expect("mints");
        let (mut parts, ()) = axum::http::Request::builder()
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .expect("request")
            .into_parts();
        // Left for another token: ignored, the request's own is verified.
        parts
            .extensions
            .insert(keys.verified(&other).expect("verifies"));
        assert_eq!(keys.verify_request(&parts).expect("verifies").sub, alice);
        // Left for this token: used as it stands.
        let mut marked = keys.verify(&token).expect("verifies");
        marked.role = Role::Scanner;
        parts.extensions.insert(Verified::new(&token, marked));
        assert_eq!(
            keys.verify_request(&parts).expect("kept").role,
            Role::Scanner
        );
    }

    mod extractors {
        use super::*;
        use axum::Router;
        use axum::body::Body;
        use axum::http::{Request, StatusCode};
        use axum::routing::get;
        use tower::ServiceExt;

        #[derive(Clone)]
        struct State {
            keys: Arc<JwtKeys>,
            users: Users,
        }

        impl FromRef<State> for Arc<JwtKeys> {
            fn from_ref(state: &State) -> Self {
                state.keys.clone()
            }
        }

        impl FromRef<State> for Users {
            fn from_ref(state: &State) -> Self {
                state.users.clone()
            }
        }

        /// A users table nobody can reach, with `known` already cached.
        async fn users(known: &[(Uuid, Option<Role>)]) -> Users {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .acquire_timeout(std::time::Duration::from_millis(200))
                .connect_lazy("postgres://nobody@127.0.0.1:1/nothing")
                .expect("lazy pool");
            let users = Users::new(pool, std::time::Duration::from_secs(60));
            for (user, role) in known {
                let standing = role.map_or(Standing::UnknownUser, |r| Standing::Active(r, false));
                users
                    .cache
                    .as_ref()
                    .expect("cached")
                    .insert((*user, None), standing)
                    .await;
            }
            users
        }

        /// Like [`users`], with sessions: (user, session, live).
        async fn users_with_sessions(known: &[(Uuid, Uuid, Role, bool)]) -> Users {
            let users = users(&[]).await;
            for &(user, session, role, live) in known {
                let standing = if live {
                    Standing::Active(role, false)
                } else {
                    Standing::SessionEnded
                };
                users
                    .cache
                    .as_ref()
                    .expect("cached")
                    .insert((user, Some(session)), standing)
                    .await;
            }
            users
        }

        fn app(keys: Arc<JwtKeys>, users: Users) -> Router {
            Router::new()
                .route(
                    "/me",
                    get(|AuthUser(c): AuthUser| async move { c.sub.to_string() }),
                )
                .route(
                    "/admin",
                    get(|AdminUser(c): AdminUser| async move { c.sub.to_string() }),
                )
                .with_state(State { keys, users })
        }

        async fn call(
            keys: &Arc<JwtKeys>,
            users: &Users,
            path: &str,
            token: Option<String>,
        ) -> (StatusCode, String, String) {
            let mut request = Request::get(path);
            if let Some(token) = token {
                request = request.header(AUTHORIZATION, format!("Bearer {token}"));
            }
            let response = app(keys.clone(), users.clone())
                .oneshot(request.body(Body::empty()).expect("request"))
                .await
                .expect("infallible");
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .expect("body");
            (
                status,
                content_type,
                String::from_utf8_lossy(&body).into_owned(),
            )
        }

        #[tokio::test]
        async fn a_request_without_a_token_is_401_problem_json_naming_the_header() {
            let keys = Arc::new(keys("s3cret-s3cret-s3cret-s3cret-s3cr"));

            let (status, content_type, body) = call(&keys, &users(&[]).await, "/me", None).await;

            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(content_type, problem::CONTENT_TYPE);
            assert!(body.contains(r#""field":"authorization""#), "{body}");
        }

        #[tokio::test]
        async fn a_user_token_opens_user_routes_but_admin_routes_answer_403() {
            let keys = Arc::new(keys("s3cret-s3cret-s3cret-s3cret-s3cr"));
            let sub = Uuid::new_v4();
            let token = keys
                .mint(sub, Role::User, Utc::now(), Duration::minutes(5))
                .expect("mints");

            let users = users(&[(sub, Some(Role::User))]).await;
            let me = call(&keys, &users, "/me", Some(token.clone())).await;
            let admin = call(&keys, &users, "/admin", Some(token)).await;

            assert_eq!((me.0, me.2), (StatusCode::OK, sub.to_string()));
            assert_eq!(admin.0, StatusCode::FORBIDDEN);
            assert_eq!(admin.1, problem::CONTENT_TYPE);
        }

        #[tokio::test]
        async fn an_admin_token_opens_admin_routes() {
            let keys = Arc::new(keys("s3cret-s3cret-s3cret-s3cret-s3cr"));
            let sub = Uuid::new_v4();
            let token = keys
                .mint(sub, Role::Admin, Utc::now(), Duration::minutes(5))
                .expect("mints");

            let users = users(&[(sub, Some(Role::Admin))]).await;
            let (status, _, body) = call(&keys, &users, "/admin", Some(token)).await;

            assert_eq!((status, body), (StatusCode::OK, sub.to_string()));
        }

        #[tokio::test]
        async fn the_role_comes_from_the_users_table_not_the_token() {
            let keys = Arc::new(keys("s3cret-s3cret-s3cret-s3cret-s3cr"));
            let sub = Uuid::new_v4();
            let token = keys
                .mint(sub, Role::Admin, Utc::now(), Duration::minutes(5))
                .expect("mints");
            let users = users(&[(sub, Some(Role::User))]).await;

            let (status, _, _) = call(&keys, &users, "/admin", Some(token)).await;

            assert_eq!(status, StatusCode::FORBIDDEN);
        }

        #[tokio::test]
        async fn a_valid_token_for_an_unknown_or_disabled_user_is_401_on_every_route() {
            let keys = Arc::new(keys("s3cret-s3cret-s3cret-s3cret-s3cr"));
            let sub = Uuid::new_v4();
            let token = keys
                .mint(sub, Role::Admin, Utc::now(), Duration::minutes(5))
                .expect("mints");
            let users = users(&[(sub, None)]).await;

            for path in ["/me", "/admin"] {
                let (status, content_type, body) =
                    call(&keys, &users, path, Some(token.clone())).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
                assert_eq!(content_type, problem::CONTENT_TYPE);
                assert!(body.contains("does not exist or is disabled"), "{body}");
            }
        }

        #[tokio::test]
        async fn a_session_token_is_admitted_while_its_session_lives_and_refused_after() {
            let keys = Arc::new(keys("s3cret-s3cret-s3cret-s3cret-s3cr"));
            let (sub, live, ended) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
            let mint = |sid| {
                keys.mint_session(sub, Role::User, sid, Utc::now(), Duration::minutes(5))
                    .expect("mints")
            };
            let users = users_with_sessions(&[
                (sub, live, Role::User, true),
                (sub, ended, Role::User, false),
            ])
            .await;

            let ok = call(&keys, &users, "/me", Some(mint(live))).await;
            let refused = call(&keys, &users, "/me", Some(mint(ended))).await;

            assert_eq!((ok.0, ok.2), (StatusCode::OK, sub.to_string()));
            assert_eq!(refused.0, StatusCode::UNAUTHORIZED);
            assert!(refused.2.contains("session has ended"), "{}", refused.2);

            users.forget_session(sub, live).await;
            users.forget_user(sub);
            // Forgotten: the next check asks the (unreachable) table.
            let unknown = call(&keys, &users, "/me", Some(mint(live))).await;
            assert_eq!(unknown.0, StatusCode::SERVICE_UNAVAILABLE);
        }

        #[test]
        fn sid_is_carried_when_set_and_absent_otherwise() {
            let keys = keys("s3cret-s3cret-s3cret-s3cret-s3cr");
            let (sub, sid) = (Uuid::new_v4(), Uuid::new_v4());
            let with = keys
                .mint_session(sub, Role::User, sid, Utc::now(), Duration::minutes(5))
                .expect("mints");
            let without = keys
                .mint(sub, Role::User, Utc::now(), Duration::minutes(5))
                .expect("mints");
            assert_eq!(keys.verify(&with).expect("verifies").sid, Some(sid));
            assert_eq!(keys.verify(&without).expect("verifies").sid, None);
            let payload = without.split('.').nth(1).expect("payload");
            use base64::Engine;
            let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .expect("base64url");
            assert!(!String::from_utf8_lossy(&json).contains("sid"));
        }

        #[tokio::test]
        async fn an_unreachable_users_table_is_503_not_a_pass() {
            let keys = Arc::new(keys("s3cret-s3cret-s3cret-s3cret-s3cr"));
            let token = keys
                .mint(Uuid::new_v4(), Role::User, Utc::now(), Duration::minutes(5))
                .expect("mints");

            let (status, _, _) = call(&keys, &users(&[]).await, "/me", Some(token)).await;

            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        }
    }
}
