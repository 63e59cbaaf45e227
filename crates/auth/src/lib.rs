//! JWT bearer authentication shared by the services.
//!
//! Tokens are HS256, signed with a secret from the environment, and carry
//! `sub` (the user id), `role` (`user` or `admin`) and `exp`.
//! [`AuthUser`] and [`AdminUser`] are axum extractors that turn a missing or
//! bad token into a 401 and a missing role into a 403, both problem+json.

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

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A shopper.
    User,
    /// A promoter or operator: may write the catalog and read any booking.
    Admin,
}

impl Role {
    /// The role's name as stored in `users.role` and in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?}; expected user or admin")),
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
        }
    }
}

/// Signs and verifies tokens with one HS256 secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
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
        }
    }

    /// Mints a token for `sub` with `role`, valid for `ttl` from `now`.
    pub fn mint(
        &self,
        sub: Uuid,
        role: Role,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        let claims = Claims {
            sub,
            role,
            exp: (now + ttl).timestamp(),
            iat: now.timestamp(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Verifies a token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        Ok(jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?.claims)
    }

    /// Verifies the bearer token in request headers.
    pub fn verify_headers(&self, parts: &Parts) -> Result<Claims, AuthError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or(AuthError::Missing)?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(AuthError::Missing)?;
        self.verify(token.trim())
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
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = Arc::<JwtKeys>::from_ref(state);
        Ok(AuthUser(keys.verify_headers(parts)?))
    }
}

impl<S> FromRequestParts<S> for AdminUser
where
    Arc<JwtKeys>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = Arc::<JwtKeys>::from_ref(state);
        let claims = keys.verify_headers(parts)?;
        if claims.role != Role::Admin {
            return Err(AuthError::Forbidden("admin").into());
        }
        Ok(AdminUser(claims))
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

    mod extractors {
        use super::*;
        use axum::Router;
        use axum::body::Body;
        use axum::http::{Request, StatusCode};
        use axum::routing::get;
        use tower::ServiceExt;

        fn app(keys: Arc<JwtKeys>) -> Router {
            Router::new()
                .route(
                    "/me",
                    get(|AuthUser(c): AuthUser| async move { c.sub.to_string() }),
                )
                .route(
                    "/admin",
                    get(|AdminUser(c): AdminUser| async move { c.sub.to_string() }),
                )
                .with_state(keys)
        }

        async fn call(
            keys: &Arc<JwtKeys>,
            path: &str,
            token: Option<String>,
        ) -> (StatusCode, String, String) {
            let mut request = Request::get(path);
            if let Some(token) = token {
                request = request.header(AUTHORIZATION, format!("Bearer {token}"));
            }
            let response = app(keys.clone())
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

            let (status, content_type, body) = call(&keys, "/me", None).await;

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

            let me = call(&keys, "/me", Some(token.clone())).await;
            let admin = call(&keys, "/admin", Some(token)).await;

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

            let (status, _, body) = call(&keys, "/admin", Some(token)).await;

            assert_eq!((status, body), (StatusCode::OK, sub.to_string()));
        }
    }
}
