//! Configuration from environment variables.
//!
//! Each service has one typed config struct built from an [`EnvSource`]. Every
//! variable has a documented default, except `JWT_SECRET` (never) and, in
//! production, `DATABASE_URL`. Any
//! problem is a [`ConfigError`] naming the variable, and the binary exits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

/// A configuration variable that is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration variable {var}: {reason}")]
pub struct ConfigError {
    /// The environment variable's name.
    pub var: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// Where variables come from: the process environment, or a map in tests.
#[derive(Debug, Clone, Default)]
pub struct EnvSource {
    overrides: Option<HashMap<String, String>>,
}

impl EnvSource {
    /// The process environment.
    pub fn process() -> Self {
        Self { overrides: None }
    }

    /// Exactly these variables and no others (for tests).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            overrides: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// The raw value, if set and non-empty.
    pub fn get(&self, var: &str) -> Option<String> {
        let value = match &self.overrides {
            Some(map) => map.get(var).cloned(),
            None => std::env::var(var).ok(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// Parses `var`, or returns `default` when unset.
    pub fn parse_or<T>(&self, var: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|e: T::Err| ConfigError {
                var,
                reason: format!("cannot parse {raw:?}: {e}"),
            }),
        }
    }

    /// A string, or `default` when unset.
    pub fn string_or(&self, var: &'static str, default: &str) -> String {
        self.get(var).unwrap_or_else(|| default.to_owned())
    }
}

/// Whether the service runs for development or production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// Local development and tests: insecure defaults are allowed.
    Development,
    /// Production: secrets must be given explicitly.
    Production,
}

impl FromStr for AppEnv {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "development" | "dev" | "test" => Ok(Self::Development),
            "production" | "prod" => Ok(Self::Production),
            other => Err(format!(
                "unknown environment {other:?}; expected development or production"
            )),
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log shippers.
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "pretty" | "text" => Ok(Self::Pretty),
            other => Err(format!(
                "unknown log format {other:?}; expected json or pretty"
            )),
        }
    }
}

/// The shortest `JWT_SECRET` accepted, in bytes (HS256 wants a key at
/// least as long as its 256-bit output).
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// The project-private Postgres started by `scripts/services`.
pub const DEFAULT_DATABASE_URL: &str = "postgres://ticketing@127.0.0.1:55432/ticketing";
/// The project-private Redis started by `scripts/services`.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:56379/";

/// Settings every service reads.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// `APP_ENV`: development (default) or production.
    pub app_env: AppEnv,
    /// `BIND_HOST`: the address to listen on (default 127.0.0.1).
    pub bind_host: IpAddr,
    /// `DATABASE_URL`.
    pub database_url: SecretString,
    /// `DATABASE_MAX_CONNECTIONS` (default 16).
    pub database_max_connections: u32,
    /// `REDIS_URL`.
    pub redis_url: String,
    /// `JWT_SECRET`: HS256 secret, at least 32 bytes, in every
    /// environment. There is no default: `scripts/env.sh` generates one per
    /// install into `.local/jwt_secret`.
    pub jwt_secret: SecretString,
    /// `LOG_FORMAT`: json (default in production) or pretty.
    pub log_format: LogFormat,
    /// How long the service port waits on a slow or idle client.
    pub http: HttpTimeouts,
    /// `AUTH_USER_CACHE_MS` (default 5,000; 0 checks every request): how
    /// long a user's "exists, is enabled, has this role" answer is reused,
    /// so the longest a deleted, disabled or demoted user keeps access.
    pub auth_user_cache: Duration,
    /// `CACHE_NAMESPACE` (default `ticketing`): this deployment's Redis key
    /// prefix.
    pub namespace: String,
    /// Rate limits and the trusted proxies.
    pub limits: crate::ratelimit::LimitsConfig,
    /// `SESSION_COOKIE_SECURE` (default true in production, false in
    /// development): the web session cookie is `Secure` and named
    /// `__Host-session` (set it when the site is served over TLS), or plain
    /// `session` over HTTP.
    pub session_cookie_secure: bool,
    /// `ADMIN_REQUIRE_TOTP` (default true in production, false in
    /// development): admin routes need a session whose sign-in passed the
    /// TOTP second factor.
    pub admin_require_totp: bool,
}

/// Timeouts on every service port, against clients that hold connections
/// open without finishing a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// `HTTP_HEADER_TIMEOUT_MS` (default 10,000): from the moment a
    /// connection waits for a request (a new one, or the next on a
    /// keep-alive connection) until its headers are in. Also the idle
    /// timeout: a connection that sends nothing is closed after it.
    pub header: Duration,
    /// `HTTP_BODY_TIMEOUT_MS` (default 30,000): the longest wait for the
    /// next piece of a request body. A body shorter than its
    /// `Content-Length` is answered 408 after it.
    pub body: Duration,
}

impl HttpTimeouts {
    /// Reads the timeouts.
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        let millis = |var: &'static str, default: u64| -> Result<Duration, ConfigError> {
            match env.parse_or(var, default)? {
                0 => Err(ConfigError {
                    var,
                    reason: "must be at least 1 ms".into(),
                }),
                ms => Ok(Duration::from_millis(ms)),
            }
        };
        Ok(Self {
            header: millis("HTTP_HEADER_TIMEOUT_MS", 10_000)?,
            body: millis("HTTP_BODY_TIMEOUT_MS", 30_000)?,
        })
    }
}

impl CommonConfig {
    /// Reads the common settings.
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        let app_env = env.parse_or("APP_ENV", AppEnv::Development)?;
        let production = app_env == AppEnv::Production;
        let database_url = match env.get("DATABASE_URL") {
            Some(url) => url,
            None if production => {
                return Err(ConfigError {
                    var: "DATABASE_URL",
                    reason: "must be set when APP_ENV=production".into(),
                });
            }
            None => DEFAULT_DATABASE_URL.to_owned(),
        };
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(ConfigError {
                var: "DATABASE_URL",
                reason: "must be a postgres:// URL".into(),
            });
        }
        let redis_url = env.string_or("REDIS_URL", DEFAULT_REDIS_URL);
        if !(redis_url.starts_with("redis://") || redis_url.starts_with("rediss://")) {
            return Err(ConfigError {
                var: "REDIS_URL",
                reason: "must be a redis:// URL".into(),
            });
        }
        let jwt_secret = match env.get("JWT_SECRET") {
            Some(secret) if secret.len() < MIN_JWT_SECRET_BYTES => {
                return Err(ConfigError {
                    var: "JWT_SECRET",
                    reason: format!("must be at least {MIN_JWT_SECRET_BYTES} bytes"),
                });
            }
            Some(secret) => secret,
            None => {
                return Err(ConfigError {
                    var: "JWT_SECRET",
                    reason: "must be set (scripts/env.sh generates one per install into \
                             .local/jwt_secret; in production, use 32 or more random bytes)"
                        .into(),
                });
            }
        };
        if production {
            refuse_demo_settings(env, &jwt_secret)?;
        }
        let default_format = if production {
            LogFormat::Json
        } else {
            LogFormat::Pretty
        };
        Ok(Self {
            app_env,
            bind_host: env.parse_or("BIND_HOST", IpAddr::from([127, 0, 0, 1]))?,
            database_url: SecretString::from(database_url),
            database_max_connections: env.parse_or("DATABASE_MAX_CONNECTIONS", 16)?,
            redis_url,
            jwt_secret: SecretString::from(jwt_secret),
            log_format: env.parse_or("LOG_FORMAT", default_format)?,
            http: HttpTimeouts::from_env(env)?,
            auth_user_cache: Duration::from_millis(env.parse_or("AUTH_USER_CACHE_MS", 5_000)?),
            namespace: env.string_or("CACHE_NAMESPACE", "ticketing"),
            limits: crate::ratelimit::LimitsConfig::from_env(env)?,
            session_cookie_secure: env.parse_or("SESSION_COOKIE_SECURE", production)?,
            admin_require_totp: env.parse_or("ADMIN_REQUIRE_TOTP", production)?,
        })
    }
}

/// The domain of the demo catalog's accounts (`admin@demo.ticketing.test`,
/// `user01@demo.ticketing.test`, ...). A production database holding any is
/// refused at startup (`ServiceContext::start`).
pub const DEMO_EMAIL_DOMAIN: &str = "demo.ticketing.test";

/// The fewest distinct bytes a production `JWT_SECRET` may have. A
/// hex-encoded secret (`openssl rand -hex 32`, `scripts/env.sh`) has at most
/// 16, so the bar is lower than that: a random hex secret of 32 characters
/// falls under it about once in 30 million.
pub const MIN_JWT_SECRET_DISTINCT_BYTES: usize = 8;

/// What `APP_ENV=production` refuses in the settings every service reads:
/// the load generators' rate limit profile and a `JWT_SECRET` that is
/// plainly not random.
fn refuse_demo_settings(env: &EnvSource, jwt_secret: &str) -> Result<(), ConfigError> {
    if env
        .get("RATE_LIMIT_PROFILE")
        .is_some_and(|p| matches!(p.trim(), "benchmark" | "off"))
    {
        return Err(ConfigError {
            var: "RATE_LIMIT_PROFILE",
            reason: "benchmark (every limit times 1,000) and off are for load generators on \
                     loopback; refused when APP_ENV=production"
                .into(),
        });
    }
    if let Some(why) = low_entropy(jwt_secret) {
        return Err(ConfigError {
            var: "JWT_SECRET",
            reason: format!(
                "{why}; refused when APP_ENV=production (use 32 or more random bytes, e.g. \
                 `openssl rand -hex 32`)"
            ),
        });
    }
    Ok(())
}

/// Why `secret` is plainly not random, if it is: fewer than
/// [`MIN_JWT_SECRET_DISTINCT_BYTES`] distinct bytes (`xxxx...`,
/// `secretsecret...`), or one short pattern repeated
/// (`0123456789abcdef0123456789abcdef`).
pub fn low_entropy(secret: &str) -> Option<String> {
    let bytes = secret.as_bytes();
    let mut seen = [false; 256];
    for &b in bytes {
        seen[usize::from(b)] = true;
    }
    let distinct = seen.iter().filter(|s| **s).count();
    if distinct < MIN_JWT_SECRET_DISTINCT_BYTES {
        return Some(format!(
            "has only {distinct} distinct characters (at least \
             {MIN_JWT_SECRET_DISTINCT_BYTES} expected of a random secret)"
        ));
    }
    let period =
        (1..=bytes.len() / 2).find(|&p| bytes.iter().zip(&bytes[p..]).all(|(a, b)| a == b))?;
    Some(format!(
        "is a pattern of {period} characters repeated, not a random secret"
    ))
}

/// What `APP_ENV=production` refuses in the api's mail settings:
/// `PUBLIC_URL` (the origin of the links in mails) must be set and `https`,
/// and `SMTP_URL` must be set, and not a mail catcher on this machine (a
/// loopback host on port 1025: maildev's, Mailpit's and MailHog's default,
/// and the development default `smtp://127.0.0.1:1025`).
pub fn refuse_demo_mail_settings(env: &EnvSource) -> Result<(), ConfigError> {
    match env.get("PUBLIC_URL") {
        Some(url) if url.trim().starts_with("https://") => {}
        Some(url) => {
            return Err(ConfigError {
                var: "PUBLIC_URL",
                reason: format!("{url:?} is not https; refused when APP_ENV=production"),
            });
        }
        None => {
            return Err(ConfigError {
                var: "PUBLIC_URL",
                reason: "must be set to the site's https:// origin when APP_ENV=production".into(),
            });
        }
    }
    let Some(smtp_url) = env.get("SMTP_URL") else {
        return Err(ConfigError {
            var: "SMTP_URL",
            reason: "must be set when APP_ENV=production (the default is a local mail catcher)"
                .into(),
        });
    };
    if let Some((host, 1025)) = url_host_port(&smtp_url) {
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
        if loopback {
            return Err(ConfigError {
                var: "SMTP_URL",
                reason: format!(
                    "{host}:1025 is a mail catcher on this machine, not a relay; refused when \
                     APP_ENV=production"
                ),
            });
        }
    }
    Ok(())
}

/// The host and port of `scheme://[user@]host[:port][/...][?...]`, the port
/// only when written.
fn url_host_port(url: &str) -> Option<(&str, u16)> {
    let rest = url.trim().split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse().ok()?),
        _ => return None,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-test-secret-of-at-least-32-bytes!";

    #[test]
    fn development_defaults_need_only_a_secret() {
        let config = CommonConfig::from_env(&EnvSource::from_pairs([("JWT_SECRET", SECRET)]))
            .expect("defaults");
        assert_eq!(
            config.http,
            HttpTimeouts {
                header: Duration::from_secs(10),
                body: Duration::from_secs(30),
            }
        );
        assert_eq!(config.app_env, AppEnv::Development);
        assert_eq!(config.redis_url, DEFAULT_REDIS_URL);
        assert_eq!(config.bind_host, IpAddr::from([127, 0, 0, 1]));
    }

    #[test]
    fn production_without_a_jwt_secret_names_the_variable() {
        let env = EnvSource::from_pairs([
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://x@db/x"),
        ]);
        let err = CommonConfig::from_env(&env).expect_err("must be refused");
        assert_eq!(err.var, "JWT_SECRET");
    }

    #[test]
    fn there_is_no_default_secret_and_a_short_one_is_refused_in_any_environment() {
        for env in [
            EnvSource::from_pairs::<_, String, String>([]),
            EnvSource::from_pairs([("JWT_SECRET", "short")]),
            EnvSource::from_pairs([
                ("APP_ENV", "development"),
                ("JWT_SECRET", "x".repeat(31).as_str()),
            ]),
        ] {
            let err = CommonConfig::from_env(&env).expect_err("must be refused");
            assert_eq!(err.var, "JWT_SECRET");
        }
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let env = EnvSource::from_pairs([("JWT_SECRET", SECRET), ("HTTP_BODY_TIMEOUT_MS", "0")]);
        let err = CommonConfig::from_env(&env).expect_err("must be refused");
        assert_eq!(err.var, "HTTP_BODY_TIMEOUT_MS");
    }

    #[test]
    fn an_unparsable_value_names_the_variable_and_the_value() {
        let env =
            EnvSource::from_pairs([("JWT_SECRET", SECRET), ("DATABASE_MAX_CONNECTIONS", "lots")]);
        let err = CommonConfig::from_env(&env).expect_err("must be refused");
        assert_eq!(err.var, "DATABASE_MAX_CONNECTIONS");
        assert!(err.to_string().contains("\"lots\""), "{err}");
    }

    const RANDOM_HEX: &str = "3f9a0c4e7b21d8565e0f1a9c3b7d2e4a8c6f0b1d9e3a5c7f2b4d6e8a0c1f3b5d";

    #[test]
    fn production_refuses_the_benchmark_profile_and_a_low_entropy_secret() {
        let production = |extra: &[(&str, &str)]| {
            let mut pairs = vec![
                ("APP_ENV", "production"),
                ("DATABASE_URL", "postgres://x@db/x"),
                ("JWT_SECRET", RANDOM_HEX),
            ];
            pairs.extend_from_slice(extra);
            CommonConfig::from_env(&EnvSource::from_pairs(pairs))
        };
        assert!(production(&[]).is_ok());
        assert!(production(&[("RATE_LIMIT_PROFILE", "standard")]).is_ok());
        let err = production(&[("RATE_LIMIT_PROFILE", "benchmark")]).expect_err("benchmark");
        assert_eq!(err.var, "RATE_LIMIT_PROFILE");
        for weak in [
            "x".repeat(40),
            "secretsecretsecretsecretsecretsecret".to_owned(),
            "0123456789abcdef0123456789abcdef".to_owned(),
        ] {
            let err = production(&[("JWT_SECRET", &weak)]).expect_err(&weak);
            assert_eq!(err.var, "JWT_SECRET", "{weak}");
            assert!(err.to_string().contains("production"), "{err}");
        }
        // Development takes them: tests and benchmarks use both.
        let dev = EnvSource::from_pairs([
            ("RATE_LIMIT_PROFILE", "benchmark"),
            ("JWT_SECRET", "x".repeat(40).as_str()),
        ]);
        assert!(CommonConfig::from_env(&dev).is_ok());
    }

    #[test]
    fn random_secrets_are_not_low_entropy() {
        assert_eq!(low_entropy(RANDOM_HEX), None);
        assert_eq!(low_entropy(SECRET), None);
        assert!(low_entropy("abababababababababababababababab").is_some());
        assert!(low_entropy("abcdefgh-abcdefgh-abcdefgh-abcdefgh-").is_some());
    }

    #[test]
    fn production_mail_needs_an_https_origin_and_a_real_relay() {
        let check = |pairs: &[(&str, &str)]| {
            refuse_demo_mail_settings(&EnvSource::from_pairs(pairs.iter().copied()))
        };
        let https = ("PUBLIC_URL", "https://tickets.example.com");
        let relay = ("SMTP_URL", "smtp://mail.example.com:587?tls=required");
        assert_eq!(check(&[https, relay]), Ok(()));
        assert_eq!(check(&[relay]).expect_err("unset").var, "PUBLIC_URL");
        assert_eq!(
            check(&[("PUBLIC_URL", "http://127.0.0.1:8000"), relay])
                .expect_err("http")
                .var,
            "PUBLIC_URL"
        );
        assert_eq!(check(&[https]).expect_err("unset").var, "SMTP_URL");
        for catcher in [
            "smtp://127.0.0.1:1025",
            "smtp://localhost:1025",
            "smtp://user:pw@127.0.0.2:1025/",
            "smtp://[::1]:1025",
        ] {
            let err = check(&[https, ("SMTP_URL", catcher)]).expect_err(catcher);
            assert_eq!(err.var, "SMTP_URL", "{catcher}");
        }
        // A relay on this machine on a real port (a local MTA) is fine.
        assert_eq!(check(&[https, ("SMTP_URL", "smtp://127.0.0.1:25")]), Ok(()));
        assert_eq!(
            check(&[https, ("SMTP_URL", "smtp://mail.example.com:1025")]),
            Ok(())
        );
    }
}
