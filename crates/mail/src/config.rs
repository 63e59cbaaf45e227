//! Where and how mail is sent, from the environment.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use service_kit::config::{AppEnv, ConfigError, EnvSource};

use crate::dkim::Dkim;

/// Where and how mail is sent.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `SMTP_URL` (`smtp://127.0.0.1:1025`): lettre's connection URL,
    /// `smtp://host:port` (plain), `smtp://host:587?tls=required`
    /// (STARTTLS) or `smtps://host:465` (implicit TLS), with
    /// `user:password@` for authentication; TLS is rustls with the
    /// system's roots.
    pub smtp_url: String,
    /// `MAIL_FROM` (`Ticketing <no-reply@ticketing.invalid>`).
    pub from: Mailbox,
    /// `PUBLIC_URL` (`http://127.0.0.1:8000`, the edge), without a trailing
    /// slash: the origin of the links in mails.
    pub public_url: String,
    /// `MAIL_RETRY_BASE_MS` (500): [`crate::Mailer::send_later`]'s wait
    /// before the second attempt.
    pub retry_base: Duration,
    /// `MAIL_DKIM_KEY_FILE`, `MAIL_DKIM_SELECTOR` and `MAIL_DKIM_DOMAIN`
    /// (all three, or none: no signing).
    pub dkim: Option<Dkim>,
}

impl MailConfig {
    /// Reads the configuration; the error names the offending variable.
    /// With `APP_ENV=production`, `PUBLIC_URL` must be https and `SMTP_URL`
    /// set, and not a local mail catcher
    /// (`service_kit::config::refuse_demo_mail_settings`).
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        if env.parse_or("APP_ENV", AppEnv::Development)? == AppEnv::Production {
            service_kit::config::refuse_demo_mail_settings(env)?;
        }
        let smtp_url = env.string_or("SMTP_URL", "smtp://127.0.0.1:1025");
        AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp_url).map_err(|e| ConfigError {
            var: "SMTP_URL",
            reason: format!("{smtp_url:?} is not an smtp:// or smtps:// URL: {e}"),
        })?;
        let raw_from = env.string_or("MAIL_FROM", "Ticketing <no-reply@ticketing.invalid>");
        let from = raw_from.parse().map_err(|e| ConfigError {
            var: "MAIL_FROM",
            reason: format!("{raw_from:?} is not a mailbox (`Name <address>`): {e}"),
        })?;
        let public_url = env.string_or("PUBLIC_URL", "http://127.0.0.1:8000");
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError {
                var: "PUBLIC_URL",
                reason: format!("{public_url:?} is not an http(s) URL"),
            });
        }
        Ok(Self {
            smtp_url,
            from,
            public_url: public_url.trim_end_matches('/').to_owned(),
            retry_base: Duration::from_millis(env.parse_or("MAIL_RETRY_BASE_MS", 500)?),
            dkim: Dkim::from_env(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_send_to_a_local_catcher_unsigned() {
        let config = MailConfig::from_env(&EnvSource::from_pairs::<_, String, String>([]))
            .expect("defaults");
        assert_eq!(config.smtp_url, "smtp://127.0.0.1:1025");
        assert_eq!(config.public_url, "http://127.0.0.1:8000");
        assert_eq!(config.retry_base, Duration::from_millis(500));
        assert!(config.dkim.is_none());
    }

    #[test]
    fn bad_settings_name_their_variable() {
        for (var, value) in [
            ("SMTP_URL", "http://mail.example"),
            ("MAIL_FROM", "not a mailbox"),
            ("PUBLIC_URL", "tickets.example"),
            ("MAIL_RETRY_BASE_MS", "soon"),
        ] {
            let err =
                MailConfig::from_env(&EnvSource::from_pairs([(var, value)])).expect_err(value);
            assert_eq!(err.var, var);
        }
        let config = MailConfig::from_env(&EnvSource::from_pairs([(
            "PUBLIC_URL",
            "https://t.example/",
        )]))
        .expect("valid");
        assert_eq!(config.public_url, "https://t.example");
    }
}
