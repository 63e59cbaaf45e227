//! Mail to shoppers: the SMTP mailer, DKIM signing, and the booking mails.
//!
//! - [`Mail`]: one mail's content, a plain-text and an HTML part
//!   (`multipart/alternative`), and its [`Attachment`]s, if any (then the
//!   message is `multipart/mixed`: the alternative, then the attachments).
//!   [`frame`] is the HTML every mail shares.
//! - [`Mailer`]: sends through SMTP. [`Mailer::send`] makes one attempt
//!   and says whether a failure is worth retrying ([`SendError`]), for a
//!   caller that keeps its own durable retries; [`Mailer::send_later`] sends
//!   on a spawned task with [`ATTEMPTS`] attempts, for a request that must
//!   not wait on (or reveal anything through) the relay.
//! - [`MailConfig`]: `SMTP_URL`, `MAIL_FROM`, `PUBLIC_URL`,
//!   `MAIL_RETRY_BASE_MS` and the optional DKIM key ([`Dkim`]); every
//!   message either path sends is signed when it is configured.
//! - [`booking`]: the booking mails (confirmed, cancelled, hold expired),
//!   with a calendar file for the confirmed and cancelled ones.
//!
//! Depends on `l10n` (money and local times) and `service-kit` (config)
//! among ours; never on a service.

pub mod booking;
mod config;
mod dkim;
mod ics;
mod mailer;
mod message;

pub use config::MailConfig;
pub use dkim::Dkim;
pub use lettre::Address;
pub use mailer::{ATTEMPTS, MailError, Mailer, SendError};
pub use message::{Attachment, Mail, frame};
