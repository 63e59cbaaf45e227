//! A real SMTP server for tests: aiosmtpd (PyPI) writing every message it
//! accepts into a Maildir, and a reader of that Maildir.
//!
//! `scripts/test` installs aiosmtpd (pinned) into
//! `$TICKETING_STATE_DIR/venv-smtp` and exports `AIOSMTPD_PYTHON`, that
//! venv's python; `scripts/env.sh` exports it too once it is installed.
//! Each [`SmtpServer`] is its own process on a free port with its own
//! Maildir, stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mailparse::MailHeaderMap;
use tokio::time::Instant;

/// How long aiosmtpd may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the Maildir is looked at while waiting.
const POLL: Duration = Duration::from_millis(25);

/// One received mail.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope recipients (aiosmtpd's `X-RcptTo`), else `To`.
    pub to: String,
    /// The `From` header.
    pub from: String,
    /// The subject line.
    pub subject: String,
    /// The top-level media type, e.g. `multipart/alternative`.
    pub mimetype: String,
    /// The `text/plain` part.
    pub text: Option<String>,
    /// The `text/html` part.
    pub html: Option<String>,
    /// Attachments: (media type, file name, decoded body).
    pub attachments: Vec<(String, Option<String>, Vec<u8>)>,
}

impl Mail {
    fn parse(raw: &[u8]) -> Option<Self> {
        let parsed = mailparse::parse_mail(raw).ok()?;
        let header = |name: &str| parsed.headers.get_first_value(name);
        let mut text = None;
        let mut html = None;
        let mut attachments = Vec::new();
        let mut parts = vec![&parsed];
        while let Some(part) = parts.pop() {
            parts.extend(part.subparts.iter());
            let disposition = part.get_content_disposition();
            if disposition.disposition == mailparse::DispositionType::Attachment {
                attachments.push((
                    part.ctype.mimetype.clone(),
                    disposition.params.get("filename").cloned(),
                    part.get_body_raw().unwrap_or_default(),
                ));
                continue;
            }
            match part.ctype.mimetype.as_str() {
                "text/plain" if text.is_none() => text = part.get_body().ok(),
                "text/html" if html.is_none() => html = part.get_body().ok(),
                _ => {}
            }
        }
        Some(Self {
            to: header("X-RcptTo")
                .or_else(|| header("To"))
                .unwrap_or_default(),
            from: header("From").unwrap_or_default(),
            subject: header("Subject").unwrap_or_default(),
            mimetype: parsed.ctype.mimetype.clone(),
            text,
            html,
            attachments,
        })
    }

    /// Whether it went to `address` (case-insensitive).
    pub fn is_for(&self, address: &str) -> bool {
        self.to.to_lowercase().contains(&address.to_lowercase())
    }

    /// The `token` query parameter of the first link in the text part.
    pub fn link_token(&self) -> Option<String> {
        let text = self.text.as_deref()?;
        let start = text.find("token=")? + "token=".len();
        let token: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        (!token.is_empty()).then_some(token)
    }
}

/// aiosmtpd on 127.0.0.1, delivering into a Maildir.
#[derive(Debug)]
pub struct SmtpServer {
    /// The port it listens on.
    pub port: u16,
    maildir: tempfile::TempDir,
    child: Child,
}

fn python() -> PathBuf {
    match std::env::var_os("AIOSMTPD_PYTHON") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!(
            "AIOSMTPD_PYTHON is not set: these tests need a real SMTP server (aiosmtpd). \
             Run them with scripts/test, which installs aiosmtpd into \
             $TICKETING_STATE_DIR/venv-smtp and sets AIOSMTPD_PYTHON; after that, \
             `source scripts/env.sh` sets it for a plain `cargo test` too"
        ),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl SmtpServer {
    /// Starts aiosmtpd and waits until its port accepts connections.
    pub async fn start() -> Self {
        Self::start_with(&["aiosmtpd.handlers.Mailbox"], &[]).await
    }

    /// Starts an aiosmtpd that answers the first `n` messages `451` (a
    /// temporary failure: try again later) and then delivers
    /// (`tests/smtp_tempfail.py`).
    pub async fn start_failing_first(n: u32) -> Self {
        Self::start_with(&["smtp_tempfail.FailFirst"], &[n.to_string()]).await
    }

    /// How many messages it refused with a temporary failure so far.
    pub fn temporary_failures(&self) -> usize {
        self.log().matches("answered 451").count()
    }

    async fn start_with(handler: &[&str], after_mailbox: &[String]) -> Self {
        let python = python();
        let maildir = tempfile::tempdir().expect("a temporary directory");
        let mailbox = maildir.path().join("mail");
        let log = std::fs::File::create(maildir.path().join("aiosmtpd.log")).expect("log file");
        let port = free_port();
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-c")
            .args(handler)
            .arg(&mailbox)
            .args(after_mailbox)
            .env("PYTHONPATH", env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {} -m aiosmtpd: {e}", python.display()));
        let mut server = Self {
            port,
            maildir,
            child,
        };
        server.wait_until_listening().await;
        server
    }

    async fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "aiosmtpd exited ({status}) before listening: {}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {} within {START_TIMEOUT:?}: {}",
                self.port,
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.maildir.path().join("aiosmtpd.log")).unwrap_or_default()
    }

    /// `SMTP_URL` for a service sending here.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn mailbox(&self) -> PathBuf {
        self.maildir.path().join("mail")
    }

    /// Every mail received so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.mailbox().join(sub)).ok())
            .flatten()
            .filter_map(Result::ok)
            .map(|e| {
                let modified = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (modified, e.path())
            })
            .collect();
        files.sort();
        files.iter().filter_map(|(_, path)| read(path)).collect()
    }

    /// The mails to `address`, once there are at least `count`; panics
    /// after `timeout` saying what did arrive.
    pub async fn wait_for(&self, address: &str, count: usize, timeout: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + timeout;
        loop {
            let mails: Vec<Mail> = self
                .messages()
                .into_iter()
                .filter(|m| m.is_for(address))
                .collect();
            if mails.len() >= count {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "{count} mail(s) to {address} did not arrive within {timeout:?}; \
                 the Maildir has: {:?}; aiosmtpd says: {}",
                self.messages()
                    .iter()
                    .map(|m| (m.to.clone(), m.subject.clone()))
                    .collect::<Vec<_>>(),
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The first mail to `address` whose subject contains `subject`.
    pub async fn wait_for_subject(&self, address: &str, subject: &str, timeout: Duration) -> Mail {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(mail) = self
                .messages()
                .into_iter()
                .find(|m| m.is_for(address) && m.subject.contains(subject))
            {
                return mail;
            }
            assert!(
                Instant::now() < deadline,
                "no mail to {address} about {subject:?} within {timeout:?}; the Maildir has: {:?}",
                self.messages()
                    .iter()
                    .map(|m| (m.to.clone(), m.subject.clone()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

fn read(path: &Path) -> Option<Mail> {
    Mail::parse(&std::fs::read(path).ok()?)
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}
