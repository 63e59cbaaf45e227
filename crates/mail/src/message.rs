//! One mail's content and the MIME message it becomes.

use std::fmt;

use lettre::message::header::ContentType;
use lettre::message::{Attachment as MimeAttachment, Mailbox, MultiPart};
use lettre::{Address, Message};
use maud::{DOCTYPE, Markup, html};

use crate::dkim::Dkim;
use crate::mailer::SendError;

/// One mail's content.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The subject line (lettre encodes it: a line break in it cannot start
    /// another header).
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: Markup,
    /// Files after the text and HTML parts; none makes the message plain
    /// `multipart/alternative`.
    pub attachments: Vec<Attachment>,
}

/// A file attached to a mail.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The name the recipient sees: "Concert.ics".
    pub filename: String,
    /// The MIME type with its parameters:
    /// "text/calendar; charset=utf-8; method=PUBLISH".
    pub content_type: String,
    /// The file's bytes.
    pub body: Vec<u8>,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("bytes", &self.body.len())
            .finish()
    }
}

/// The message for `mail` from `from` to `to`, signed when `dkim` is set:
/// `multipart/alternative` (text, then HTML), inside `multipart/mixed`
/// with the attachments when there are any.
pub(crate) fn message(
    from: &Mailbox,
    to: Address,
    mail: &Mail,
    dkim: Option<&Dkim>,
) -> Result<Message, SendError> {
    let alternative =
        MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone().into_string());
    let body = if mail.attachments.is_empty() {
        alternative
    } else {
        let mut mixed = MultiPart::mixed().multipart(alternative);
        for a in &mail.attachments {
            let content_type =
                ContentType::parse(&a.content_type).map_err(|source| SendError::ContentType {
                    filename: a.filename.clone(),
                    content_type: a.content_type.clone(),
                    source,
                })?;
            mixed = mixed.singlepart(
                MimeAttachment::new(a.filename.clone()).body(a.body.clone(), content_type),
            );
        }
        mixed
    };
    let mut message = Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(mail.subject.clone())
        .message_id(None)
        .multipart(body)?;
    if let Some(dkim) = dkim {
        dkim.sign(&mut message);
    }
    Ok(message)
}

/// The frame every HTML mail shares: the title, `body`, and the footer.
pub fn frame(title: &str, body: Markup) -> Markup {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> Mailbox {
        "Ticketing <no-reply@ticketing.invalid>"
            .parse()
            .expect("mailbox")
    }

    fn to() -> Address {
        "ada@example.com".parse().expect("address")
    }

    fn mail(subject: &str, attachments: Vec<Attachment>) -> Mail {
        Mail {
            subject: subject.to_owned(),
            text: "Hello,\n\nplain words.\n".to_owned(),
            html: frame(subject, html! { p { "Hello" } }),
            attachments,
        }
    }

    fn formatted(message: &Message) -> String {
        String::from_utf8(message.formatted()).expect("utf-8")
    }

    #[test]
    fn a_mail_without_attachments_is_multipart_alternative_with_text_and_html() {
        let raw =
            formatted(&message(&from(), to(), &mail("Hi", Vec::new()), None).expect("builds"));
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(!raw.contains("multipart/mixed"), "{raw}");
        assert!(raw.contains("text/plain"));
        assert!(raw.contains("text/html"));
        assert!(raw.contains("From: Ticketing <no-reply@ticketing.invalid>"));
        assert!(!raw.contains("DKIM-Signature"), "unsigned without a key");
    }

    #[test]
    fn attachments_make_it_multipart_mixed_after_the_alternative() {
        let ics = Attachment {
            filename: "Gig.ics".to_owned(),
            content_type: "text/calendar; charset=utf-8; method=PUBLISH".to_owned(),
            body: b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n".to_vec(),
        };
        let raw = message(&from(), to(), &mail("Hi", vec![ics]), None)
            .expect("builds")
            .formatted();
        let parsed = mailparse::parse_mail(&raw).expect("parses");
        assert_eq!(parsed.ctype.mimetype, "multipart/mixed");
        assert_eq!(parsed.subparts.len(), 2);
        assert_eq!(parsed.subparts[0].ctype.mimetype, "multipart/alternative");
        let types: Vec<_> = parsed.subparts[0]
            .subparts
            .iter()
            .map(|p| p.ctype.mimetype.as_str())
            .collect();
        assert_eq!(types, ["text/plain", "text/html"]);
        let file = &parsed.subparts[1];
        assert_eq!(file.ctype.mimetype, "text/calendar");
        assert_eq!(
            file.ctype.params.get("method").map(String::as_str),
            Some("PUBLISH")
        );
        let disposition = file.get_content_disposition();
        assert_eq!(
            disposition.params.get("filename").map(String::as_str),
            Some("Gig.ics")
        );
        assert_eq!(
            file.get_body_raw().expect("body"),
            b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
        );
    }

    #[test]
    fn a_bad_content_type_is_refused_for_good() {
        let bad = Attachment {
            filename: "x".to_owned(),
            content_type: "not a type".to_owned(),
            body: Vec::new(),
        };
        let err = message(&from(), to(), &mail("Hi", vec![bad]), None).expect_err("refused");
        assert!(!err.is_transient());
        assert!(err.to_string().contains("not a type"), "{err}");
    }

    #[test]
    fn a_line_break_in_the_subject_cannot_add_a_header() {
        let subject = "Gig\r\nBcc: everyone@example.com\r\nX-Injected: yes";
        let raw = message(&from(), to(), &mail(subject, Vec::new()), None)
            .expect("builds")
            .formatted();
        let parsed = mailparse::parse_mail(&raw).expect("parses");
        let names: Vec<String> = parsed
            .headers
            .iter()
            .map(|h| h.get_key().to_ascii_lowercase())
            .collect();
        assert!(!names.contains(&"bcc".to_owned()), "{names:?}");
        assert!(!names.contains(&"x-injected".to_owned()), "{names:?}");
        let subjects: Vec<String> = parsed
            .headers
            .iter()
            .filter(|h| h.get_key().eq_ignore_ascii_case("subject"))
            .map(|h| h.get_value())
            .collect();
        assert_eq!(subjects.len(), 1);
        assert!(
            subjects[0].contains("Bcc: everyone@example.com"),
            "{subjects:?}"
        );
    }
}
