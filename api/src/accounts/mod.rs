//! Accounts for JSON clients: sign-up with a verified address, sign-in
//! with a password, sessions with rotating refresh tokens, sign-out.
//!
//! - [`signup`]: `POST /v1/accounts` and `POST /v1/accounts/verify`;
//! - [`sessions`]: `POST /v1/sessions` (sign in), `POST /v1/sessions/refresh`,
//!   `DELETE /v1/sessions/current` (sign out) and
//!   `POST /v1/sessions/revoke-all` (sign out everywhere);
//! - [`web`]: `POST /v1/web/sessions` (the browser's sign-in, into an
//!   `HttpOnly` cookie) and `GET /v1/account` (who is signed in);
//! - [`passwords`]: `POST /v1/account/password` (change), and the reset
//!   by email, `POST /v1/password-resets` and
//!   `POST /v1/password-resets/complete`;
//! - [`totp`]: the TOTP second factor, `POST /v1/account/totp` and
//!   `POST /v1/account/totp/confirm`, and its check at sign-in;
//! - [`input`]: the bodies and their checks;
//! - [`mails`]: the mails' templates (the `mail` crate sends them).
//!
//! Nothing here says whether an address is registered: sign-up and a
//! reset request answer the same 202 either way (the address's owner
//! learns which by mail),
//! and a wrong password and an unknown address are the same 401 after the
//! same Argon2 work. Passwords, sessions and tokens are `auth`'s
//! (`auth::password`, `auth::sessions`, `auth::tokens`); every answer
//! here is `Cache-Control: no-store`.

pub mod input;
pub mod mails;
pub mod passwords;
pub mod sessions;
pub mod signup;
pub mod totp;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use service_kit::config::{ConfigError, EnvSource};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// The largest body these routes read: a few short strings.
const BODY_LIMIT: usize = 16 * 1024;

/// Lifetimes and mail settings, from the environment.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// `AUTH_VERIFY_TTL_SECS` (86400): how long a verification link works.
    pub verify_ttl: Duration,
    /// `AUTH_ACCESS_TTL_SECS` (900): an access token's lifetime.
    pub access_ttl: Duration,
    /// `AUTH_SESSION_TTL_SECS` (30 days): a session's lifetime, from sign-in.
    pub session_ttl: Duration,
    /// `AUTH_RESET_TTL_SECS` (3600): how long a password-reset link works.
    pub reset_ttl: Duration,
    /// `AUTH_SWEEP_INTERVAL_SECS` (3600): how often ended sessions and
    /// used or expired links are deleted.
    pub sweep_every: Duration,
    /// `AUTH_SWEEP_KEEP_SECS` (7 days): how long they are kept after they
    /// end (a trail of recent sign-ins).
    pub sweep_keep: Duration,
    /// The mailer's settings.
    pub mail: mail::MailConfig,
}

/// The longest lifetime accepted: ten years.
const MAX_TTL_SECS: u64 = 10 * 366 * 86_400;

/// A lifetime in seconds from `var`: from one second to ten years.
fn seconds(env: &EnvSource, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
    match env.parse_or(var, default)? {
        secs @ 1..=MAX_TTL_SECS => Ok(Duration::from_secs(secs)),
        _ => Err(ConfigError {
            var,
            reason: format!("must be between 1 and {MAX_TTL_SECS} seconds"),
        }),
    }
}

impl AccountsConfig {
    /// Reads the configuration; the error names the offending variable.
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            verify_ttl: seconds(env, "AUTH_VERIFY_TTL_SECS", 86_400)?,
            access_ttl: seconds(env, "AUTH_ACCESS_TTL_SECS", 900)?,
            session_ttl: seconds(env, "AUTH_SESSION_TTL_SECS", 30 * 86_400)?,
            reset_ttl: seconds(env, "AUTH_RESET_TTL_SECS", 3_600)?,
            sweep_every: seconds(env, "AUTH_SWEEP_INTERVAL_SECS", 3_600)?,
            sweep_keep: seconds(env, "AUTH_SWEEP_KEEP_SECS", 7 * 86_400)?,
            mail: mail::MailConfig::from_env(env)?,
        })
    }
}

/// What the accounts routes share: their settings and the mailer.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// Lifetimes and mail settings.
    pub config: Arc<AccountsConfig>,
    /// Sends mail off the request.
    pub mailer: mail::Mailer,
}

impl Accounts {
    /// The mailer for `config` (nothing connects until a mail is sent).
    pub fn new(config: AccountsConfig) -> Result<Self, mail::MailError> {
        let mailer = mail::Mailer::new(&config.mail)?;
        Ok(Self {
            config: Arc::new(config),
            mailer,
        })
    }
}

async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// `/v1/accounts` and `/v1/sessions`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup::sign_up))
        .routes(routes!(signup::verify_email))
        .routes(routes!(sessions::sign_in))
        .routes(routes!(sessions::refresh))
        .routes(routes!(sessions::sign_out))
        .routes(routes!(sessions::revoke_all))
        .routes(routes!(web::web_sign_in))
        .routes(routes!(web::current_account))
        .routes(routes!(totp::start_enrolment))
        .routes(routes!(totp::confirm_enrolment))
        .routes(routes!(passwords::change_password))
        .routes(routes!(passwords::request_reset))
        .routes(routes!(passwords::complete_reset))
        .layer(axum::middleware::map_response(no_store))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// The answer to a request over `policy`, a limit per account named in
/// the body (`sign_in_account`, `reset_mail`), if it is over: `None` to go
/// ahead. The subject is a SHA-256 of the normalized address, so Redis
/// keys show no address in the clear (it is not keyed: whoever can read
/// Redis can still test a guessed address against a key).
pub(crate) async fn per_account(state: &AppState, policy: &str, email: &str) -> Option<Response> {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(input::normalize_email(email).as_bytes());
    let subject = format!("e:{}", hex::encode(&digest[..16]));
    state.ctx.limiter.refusal(policy, &subject).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_default_and_refuse_zero() {
        let config = AccountsConfig::from_env(&EnvSource::from_pairs::<_, String, String>([]))
            .expect("defaults");
        assert_eq!(config.verify_ttl, Duration::from_secs(86_400));
        assert_eq!(config.access_ttl, Duration::from_secs(900));
        assert_eq!(config.session_ttl, Duration::from_secs(30 * 86_400));
        assert_eq!(config.reset_ttl, Duration::from_secs(3_600));
        for var in [
            "AUTH_VERIFY_TTL_SECS",
            "AUTH_ACCESS_TTL_SECS",
            "AUTH_SESSION_TTL_SECS",
            "AUTH_RESET_TTL_SECS",
        ] {
            let err =
                AccountsConfig::from_env(&EnvSource::from_pairs([(var, "0")])).expect_err("zero");
            assert_eq!(err.var, var);
        }
        let short =
            AccountsConfig::from_env(&EnvSource::from_pairs([("AUTH_ACCESS_TTL_SECS", "2")]))
                .expect("short");
        assert_eq!(short.access_ttl, Duration::from_secs(2));
    }
}
