//! Mail: the SMTP mailer and the accounts mails' templates.
//!
//! Every mail is `multipart/alternative` with a plain-text and an HTML part
//! (compiled templates: `format!` and maud). Sending runs off the request,
//! on a spawned task, so an answer never waits on (or reveals anything
//! through) the mail relay: each mail gets three attempts, the second after
//! `MAIL_RETRY_BASE_MS` and the third after twice that, and a warning is
//! logged when the last one fails.
//!
//! `SMTP_URL` is lettre's connection URL: `smtp://host:port` (plain, the
//! default `smtp://127.0.0.1:1025` for a local catcher),
//! `smtp://host:587?tls=required` (STARTTLS) or `smtps://host:465`
//! (implicit TLS), with `user:password@` for authentication; TLS is rustls
//! with the system's roots.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use maud::{DOCTYPE, Markup, html};
use service_kit::config::{AppEnv, ConfigError, EnvSource};

/// Attempts per mail.
pub const ATTEMPTS: u32 = 3;
/// How long the relay may take to answer before an attempt fails.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how mail is sent.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `SMTP_URL` (`smtp://127.0.0.1:1025`).
    pub smtp_url: String,
    /// `MAIL_FROM` (`Ticketing <no-reply@ticketing.invalid>`).
    pub from: Mailbox,
    /// `PUBLIC_URL` (`http://127.0.0.1:8000`, the edge), without a trailing
    /// slash: the origin of the links in mails.
    pub public_url: String,
    /// `MAIL_RETRY_BASE_MS` (500): the wait before the second attempt.
    pub retry_base: Duration,
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
        })
    }
}

/// Why the mailer could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("SMTP_URL: {0}")]
pub struct MailError(#[from] lettre::transport::smtp::Error);

/// One mail's content.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: Markup,
}

/// Sends mail through SMTP, in the background.
#[derive(Debug, Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    retry_base: Duration,
}

impl Mailer {
    /// A mailer for `config`; nothing connects until a mail is sent.
    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.smtp_url)?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self {
            inner: Arc::new(Inner {
                transport,
                from: config.from.clone(),
                retry_base: config.retry_base,
            }),
        })
    }

    /// Sends `mail` to `to` on a spawned task, with retries; returns at once.
    pub fn send_later(&self, to: Address, mail: Mail) {
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.send_with_retries(to, mail).await });
    }
}

impl Inner {
    fn message(&self, to: Address, mail: &Mail) -> Result<Message, lettre::error::Error> {
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(mail.subject.clone())
            .message_id(None)
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone().into_string(),
            ))
    }

    async fn send_with_retries(&self, to: Address, mail: Mail) {
        let domain = to.domain().to_owned();
        let message = match self.message(to, &mail) {
            Ok(message) => message,
            Err(e) => {
                tracing::error!(error = %e, subject = %mail.subject, "mail could not be built");
                return;
            }
        };
        let mut wait = self.retry_base;
        for attempt in 1..=ATTEMPTS {
            match self.transport.send(message.clone()).await {
                Ok(_) => {
                    tracing::debug!(subject = %mail.subject, %domain, attempt, "mail sent");
                    return;
                }
                Err(e) if attempt < ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "mail attempt failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    subject = %mail.subject,
                    recipient_domain = %domain,
                    attempts = ATTEMPTS,
                    "mail not sent: every attempt failed"
                ),
            }
        }
    }
}

/// The frame every HTML mail shares.
fn frame(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
            }
            body style="font-family: sans-serif; line-height: 1.5; max-width: 36em; margin: 2em auto; padding: 0 1em; color: #222" {
                (body)
                hr style="border: 0; border-top: 1px solid #ddd; margin-top: 2em";
                p style="color: #777; font-size: 0.9em" { "Ticketing" }
            }
        }
    }
}

/// Hours or minutes, for "this link works for ...".
fn lifetime(ttl: Duration) -> String {
    let secs = ttl.as_secs();
    match secs {
        s if s >= 7_200 => format!("{} hours", s / 3_600),
        s if s >= 3_600 => "1 hour".to_owned(),
        s if s >= 120 => format!("{} minutes", s / 60),
        _ => format!("{secs} seconds"),
    }
}

/// The address-verification mail of a new account.
pub fn verification(public_url: &str, name: &str, token: &str, ttl: Duration) -> Mail {
    let link = format!("{public_url}/verify-email?token={token}");
    let valid = lifetime(ttl);
    let text = format!(
        "Hello {name},\n\n\
         Confirm your email address to finish creating your Ticketing account:\n\n\
         {link}\n\n\
         The link works once, for {valid}. If you did not sign up, ignore this mail: \
         no account is created without the confirmation.\n"
    );
    let html = frame(
        "Confirm your email address",
        html! {
            p { "Hello " (name) "," }
            p { "Confirm your email address to finish creating your Ticketing account:" }
            p { a href=(link) { "Confirm my address" } }
            p { "Or open this address: " br; code { (link) } }
            p { "The link works once, for " (valid) ". If you did not sign up, ignore this mail: no account is created without the confirmation." }
        },
    );
    Mail {
        subject: "Confirm your email address".to_owned(),
        text,
        html,
    }
}

/// The mail an address's owner gets when someone signs up with it again.
pub fn someone_tried(public_url: &str) -> Mail {
    let site = format!("{public_url}/");
    let text = format!(
        "Hello,\n\n\
         Someone just tried to create a Ticketing account with this email address, \
         which already has one. Nothing was changed.\n\n\
         If it was you, sign in with your password instead: {site}\n\n\
         If it was not you, you can ignore this mail; your account is safe.\n"
    );
    let html = frame(
        "Someone tried to sign up with your address",
        html! {
            p { "Hello," }
            p { "Someone just tried to create a Ticketing account with this email address, which already has one. Nothing was changed." }
            p { "If it was you, " a href=(site) { "sign in" } " with your password instead." }
            p { "If it was not you, you can ignore this mail; your account is safe." }
        },
    );
    Mail {
        subject: "Someone tried to sign up with your address".to_owned(),
        text,
        html,
    }
}

/// The password-reset mail: a link to `{PUBLIC_URL}/reset-password` with
/// the token, which works once, for `ttl`.
pub fn password_reset(public_url: &str, name: &str, token: &str, ttl: Duration) -> Mail {
    let link = format!("{public_url}/reset-password?token={token}");
    let valid = lifetime(ttl);
    let text = format!(
        "Hello {name},\n\n\
         Someone asked to reset the password of your Ticketing account. \
         To choose a new password, open this link:\n\n\
         {link}\n\n\
         The link works once, for {valid}. Setting a new password signs you out \
         everywhere. If you did not ask for this, ignore this mail: your password \
         stays as it is.\n"
    );
    let html = frame(
        "Reset your password",
        html! {
            p { "Hello " (name) "," }
            p { "Someone asked to reset the password of your Ticketing account. To choose a new password, follow this link:" }
            p { a href=(link) { "Choose a new password" } }
            p { "Or open this address: " br; code { (link) } }
            p { "The link works once, for " (valid) ". Setting a new password signs you out everywhere. If you did not ask for this, ignore this mail: your password stays as it is." }
        },
    );
    Mail {
        subject: "Reset your password".to_owned(),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verification_mail_carries_the_link_in_both_parts() {
        let mail = verification(
            "https://tickets.example",
            "Ada <b>",
            "abc_-123",
            Duration::from_secs(86_400),
        );
        let link = "https://tickets.example/verify-email?token=abc_-123";
        assert!(mail.text.contains(link), "{}", mail.text);
        assert!(mail.text.contains("24 hours"));
        let html = mail.html.into_string();
        assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
        assert!(
            html.contains("Ada &lt;b&gt;"),
            "the name is escaped: {html}"
        );
    }

    #[test]
    fn the_password_reset_mail_carries_the_link_in_both_parts() {
        let mail = password_reset(
            "https://tickets.example",
            "Ada <b>",
            "abc_-123",
            Duration::from_secs(3_600),
        );
        assert_eq!(mail.subject, "Reset your password");
        let link = "https://tickets.example/reset-password?token=abc_-123";
        assert!(mail.text.contains(link), "{}", mail.text);
        assert!(mail.text.contains("1 hour"), "{}", mail.text);
        let html = mail.html.into_string();
        assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
        assert!(
            html.contains("Ada &lt;b&gt;"),
            "the name is escaped: {html}"
        );
    }

    #[test]
    fn a_message_is_multipart_alternative_with_text_and_html() {
        let config = MailConfig::from_env(&EnvSource::from_pairs::<_, String, String>([]))
            .expect("defaults");
        let mailer = Mailer::new(&config).expect("mailer");
        let to: Address = "ada@example.com".parse().expect("address");
        let message = mailer
            .inner
            .message(to, &someone_tried(&config.public_url))
            .expect("builds");
        let raw = String::from_utf8(message.formatted()).expect("utf-8");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain"));
        assert!(raw.contains("text/html"));
        assert!(raw.contains("From: Ticketing <no-reply@ticketing.invalid>"));
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
