//! Sending through SMTP: one awaited attempt ([`Mailer::send`]), or in the
//! background with retries ([`Mailer::send_later`]).

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailConfig;
use crate::dkim::Dkim;
use crate::message::{Mail, message};

/// Attempts per mail in [`Mailer::send_later`].
pub const ATTEMPTS: u32 = 3;
/// How long the relay may take to answer before an attempt fails.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the mailer could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("SMTP_URL: {0}")]
pub struct MailError(#[from] lettre::transport::smtp::Error);

/// Why one attempt to send a mail failed; [`SendError::is_transient`] says
/// whether another attempt later may succeed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// lettre will not write the message (an address or header it
    /// refuses): permanent.
    #[error("the message cannot be written: {0}")]
    Message(#[from] lettre::error::Error),
    /// An attachment's content type is not a MIME type: permanent.
    #[error("attachment {filename:?}: {content_type:?} is not a MIME type")]
    ContentType {
        /// The attachment's file name.
        filename: String,
        /// What it claimed to be.
        content_type: String,
        /// What the parser said.
        #[source]
        source: lettre::message::header::ContentTypeErr,
    },
    /// The relay refused, or could not be reached; the text has the
    /// relay's reply code and words: "permanent error (550): 5.1.1 no such
    /// user".
    #[error("smtp: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

impl SendError {
    /// Whether to try again later: a 4xx reply, or the connection failing
    /// (refused, timed out, cut, TLS, an unreadable reply). A 5xx reply and
    /// a message lettre will not send (an address it refuses; non-ASCII the
    /// relay cannot take) are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Smtp(e) => !(e.is_permanent() || e.is_client()),
            Self::Message(_) | Self::ContentType { .. } => false,
        }
    }

    /// The relay's reply code, when it answered one: 450, 550.
    pub fn reply_code(&self) -> Option<u16> {
        match self {
            Self::Smtp(e) => e.status().and_then(|code| code.to_string().parse().ok()),
            _ => None,
        }
    }
}

/// Sends mail through SMTP, signed with DKIM when configured.
#[derive(Debug, Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    retry_base: Duration,
    dkim: Option<Dkim>,
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
                dkim: config.dkim.clone(),
            }),
        })
    }

    /// Sends `mail` to `to`: one attempt, awaited, for a caller that keeps
    /// its own durable retries.
    #[tracing::instrument(skip_all, fields(recipient_domain = %to.domain(), subject = %mail.subject))]
    pub async fn send(&self, to: &Address, mail: &Mail) -> Result<(), SendError> {
        let message = self.inner.message(to.clone(), mail)?;
        self.inner.transport.send(message).await?;
        tracing::debug!("mail sent");
        Ok(())
    }

    /// Sends `mail` to `to` on a spawned task, with [`ATTEMPTS`] attempts,
    /// the second after `MAIL_RETRY_BASE_MS` and the third after twice
    /// that; returns at once. A warning is logged when the last one fails.
    pub fn send_later(&self, to: Address, mail: Mail) {
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.send_with_retries(to, mail).await });
    }
}

impl Inner {
    fn message(&self, to: Address, mail: &Mail) -> Result<Message, SendError> {
        message(&self.from, to, mail, self.dkim.as_ref())
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
