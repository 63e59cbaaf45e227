//! The booking mails a shopper gets: confirmed (with the event as a
//! calendar file), cancelled (with the refund, if any, and a calendar
//! cancel), and hold expired.
//!
//! Each has a plain-text and an HTML part saying what, where, when (on the
//! venue's clock, with its zone: "Tue 15 Dec 2026, 20:00 CET"), which
//! seats and how much ([`l10n`]), with a link to the tickets page,
//! `{PUBLIC_URL}/me/tickets`. Tickets are linked, not attached: ticket
//! documents are not issued yet, and the tickets page is where they will
//! be.

use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};
use uuid::Uuid;

use crate::ics::{self, Method};
use crate::message::{Attachment, Mail, frame};

/// Which mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookingMailKind {
    /// Paid: the tickets are the shopper's. Carries the event as a
    /// calendar file (`METHOD:PUBLISH`).
    Confirmed,
    /// Cancelled, with what was refunded, in the booking's currency's minor
    /// units (`None` or 0: nothing). Carries a calendar cancel
    /// (`METHOD:CANCEL`, the same UID) so calendars drop the event.
    Cancelled {
        /// Minor units refunded.
        refunded_cents: Option<i64>,
    },
    /// The hold lapsed before payment: the seats went back on sale.
    HoldExpired,
}

/// What a booking mail says.
#[derive(Debug, Clone)]
pub struct BookingMail {
    /// Which mail.
    pub kind: BookingMailKind,
    /// The booking: the calendar event's UID is derived from it.
    pub booking_id: Uuid,
    /// "Hello {recipient_name},".
    pub recipient_name: String,
    /// The event's id: its page is `{PUBLIC_URL}/events/{event_id}`.
    pub event_id: i64,
    /// The event's title.
    pub event_name: String,
    /// The venue's name.
    pub venue_name: String,
    /// The venue's city.
    pub venue_city: String,
    /// The venue's street address, when known (also the calendar's
    /// LOCATION).
    pub venue_address: Option<String>,
    /// The venue's IANA zone, e.g. "Europe/Berlin" (UTC when unknown).
    pub timezone: String,
    /// When the event starts.
    pub starts_at: DateTime<Utc>,
    /// When it ends; the calendar assumes three hours when unknown.
    pub ends_at: Option<DateTime<Utc>>,
    /// One label per seat: "Section A, row 3, seat 12", "General admission".
    pub seats: Vec<String>,
    /// The booking's total, in the currency's minor units (ISO 4217).
    pub total_cents: i64,
    /// The ISO 4217 code: "EUR".
    pub currency: String,
}

/// How long the calendar event lasts when the end is unknown.
const DEFAULT_LENGTH: Duration = Duration::hours(3);

/// The mail for `mail`, with links under `public_url` (`PUBLIC_URL`).
pub fn render(mail: &BookingMail, public_url: &str) -> Mail {
    render_at(mail, public_url, Utc::now())
}

/// [`render`], with the calendar file stamped `now`.
fn render_at(mail: &BookingMail, public_url: &str, now: DateTime<Utc>) -> Mail {
    let facts = Facts::new(mail, public_url);
    match mail.kind {
        BookingMailKind::Confirmed => confirmed(mail, &facts, now),
        BookingMailKind::Cancelled { refunded_cents } => {
            let refund = refunded_cents
                .filter(|&cents| cents > 0)
                .map(|cents| l10n::money(cents, &mail.currency));
            cancelled(mail, &facts, refund, now)
        }
        BookingMailKind::HoldExpired => hold_expired(mail, &facts),
    }
}

/// What every booking mail says, written out once.
struct Facts {
    /// The event's title on one line (no line break can reach the subject
    /// or the file name). The calendar's SUMMARY keeps the title as it is,
    /// escaped.
    event: String,
    when: l10n::LocalTime,
    /// "Venue, Street 1, City".
    place: String,
    total: String,
    tickets_url: String,
    event_url: String,
}

impl Facts {
    fn new(mail: &BookingMail, public_url: &str) -> Self {
        let public_url = public_url.trim_end_matches('/');
        let mut place = vec![mail.venue_name.as_str()];
        place.extend(
            mail.venue_address
                .as_deref()
                .filter(|a| !a.trim().is_empty()),
        );
        place.push(mail.venue_city.as_str());
        Self {
            event: one_line(&mail.event_name),
            when: l10n::local(mail.starts_at, &mail.timezone),
            place: place.join(", "),
            total: l10n::money(mail.total_cents, &mail.currency),
            tickets_url: format!("{public_url}/me/tickets"),
            event_url: format!("{public_url}/events/{}", mail.event_id),
        }
    }

    /// The details block of the text part; `total` names the total line.
    fn text(&self, mail: &BookingMail, total: &str) -> String {
        let seats: String = mail.seats.iter().map(|s| format!("  - {s}\n")).collect();
        format!(
            "{event}\n\
             When:    {when}\n\
             Where:   {place}\n\
             Seats:\n{seats}\
             {total}: {amount}\n\
             Booking: {id}\n",
            event = self.event,
            when = self.when.full(),
            place = self.place,
            amount = self.total,
            id = mail.booking_id,
        )
    }

    /// The details table of the HTML part.
    fn html(&self, mail: &BookingMail, total: &str) -> Markup {
        let th = "text-align: left; vertical-align: top; padding: 0.2em 1em 0.2em 0; color: #555";
        html! {
            table role="presentation" style="border-collapse: collapse; margin: 1em 0" {
                tr { th style=(th) { "Event" } td { a href=(self.event_url) { strong { (self.event) } } } }
                tr { th style=(th) { "When" } td { time datetime=(self.when.machine) { (self.when.full()) } } }
                tr { th style=(th) { "Where" } td { (self.place) } }
                tr {
                    th style=(th) { "Seats" }
                    td { ul style="margin: 0; padding-left: 1.2em" { @for seat in &mail.seats { li { (seat) } } } }
                }
                tr { th style=(th) { (total) } td { (self.total) } }
                tr { th style=(th) { "Booking" } td { code { (mail.booking_id) } } }
            }
        }
    }

    /// The calendar file about this booking.
    fn calendar(&self, mail: &BookingMail, method: Method, now: DateTime<Utc>) -> Attachment {
        let seats: String = mail.seats.iter().map(|s| format!("\n- {s}")).collect();
        let description = format!(
            "Seats:{seats}\nBooking: {id}\nYour tickets: {tickets}",
            id = mail.booking_id,
            tickets = self.tickets_url,
        );
        let uid = format!("booking-{}@ticketing", mail.booking_id);
        let body = ics::calendar(
            &ics::Event {
                method,
                uid: &uid,
                start: mail.starts_at,
                end: mail.ends_at.unwrap_or(mail.starts_at + DEFAULT_LENGTH),
                summary: &mail.event_name,
                location: &self.place,
                url: &self.event_url,
                description: &description,
            },
            now,
        );
        Attachment {
            filename: format!("{}.ics", file_name(&self.event)),
            content_type: format!("text/calendar; charset=utf-8; method={}", method.name()),
            body: body.into_bytes(),
        }
    }
}

fn confirmed(mail: &BookingMail, facts: &Facts, now: DateTime<Utc>) -> Mail {
    let subject = format!("Your tickets for {}", facts.event);
    let attachment = facts.calendar(mail, Method::Publish, now);
    let text = format!(
        "Hello {name},\n\n\
         Your booking is confirmed.\n\n\
         {details}\n\
         Your tickets are on your tickets page:\n{tickets}\n\n\
         The attached {file} adds the event to your calendar.\n",
        name = mail.recipient_name,
        details = facts.text(mail, "Paid"),
        tickets = facts.tickets_url,
        file = attachment.filename,
    );
    let html = frame(
        &subject,
        html! {
            p { "Hello " (mail.recipient_name) "," }
            p { "Your booking is confirmed." }
            (facts.html(mail, "Paid"))
            p { "Your tickets are on your " a href=(facts.tickets_url) { "tickets page" } "." }
            p { "The attached " (attachment.filename) " adds the event to your calendar." }
        },
    );
    Mail {
        subject,
        text,
        html,
        attachments: vec![attachment],
    }
}

fn cancelled(
    mail: &BookingMail,
    facts: &Facts,
    refund: Option<String>,
    now: DateTime<Utc>,
) -> Mail {
    let subject = match &refund {
        Some(amount) => format!("Booking cancelled: {} ({amount} refunded)", facts.event),
        None => format!("Booking cancelled: {}", facts.event),
    };
    let refund_line = match &refund {
        Some(amount) => format!(
            "We have refunded {amount} to the card you paid with; it can take a few days to appear."
        ),
        None => "No refund was made for this booking.".to_owned(),
    };
    let attachment = facts.calendar(mail, Method::Cancel, now);
    let text = format!(
        "Hello {name},\n\n\
         Your booking for {event} is cancelled, and its seats have gone back on sale.\n\
         {refund_line}\n\n\
         {details}\n\
         Your tickets page: {tickets}\n\n\
         The attached {file} removes the event from your calendar.\n",
        name = mail.recipient_name,
        event = facts.event,
        details = facts.text(mail, "Total"),
        tickets = facts.tickets_url,
        file = attachment.filename,
    );
    let html = frame(
        &subject,
        html! {
            p { "Hello " (mail.recipient_name) "," }
            p { "Your booking for " strong { (facts.event) } " is cancelled, and its seats have gone back on sale." }
            p { (refund_line) }
            (facts.html(mail, "Total"))
            p { "See your " a href=(facts.tickets_url) { "tickets page" } "." }
            p { "The attached " (attachment.filename) " removes the event from your calendar." }
        },
    );
    Mail {
        subject,
        text,
        html,
        attachments: vec![attachment],
    }
}

fn hold_expired(mail: &BookingMail, facts: &Facts) -> Mail {
    let subject = format!("Your hold on {} has expired", facts.event);
    let text = format!(
        "Hello {name},\n\n\
         Your hold on these seats expired before payment, and they have gone back on sale. \
         You have not been charged.\n\n\
         {details}\n\
         To try again, book on the event's page: {event_url}\n\
         Your tickets page: {tickets}\n",
        name = mail.recipient_name,
        details = facts.text(mail, "Total (not charged)"),
        event_url = facts.event_url,
        tickets = facts.tickets_url,
    );
    let html = frame(
        &subject,
        html! {
            p { "Hello " (mail.recipient_name) "," }
            p { "Your hold on these seats expired before payment, and they have gone back on sale. You have not been charged." }
            (facts.html(mail, "Total (not charged)"))
            p { "To try again, book on " a href=(facts.event_url) { "the event's page" } "." }
            p { "See your " a href=(facts.tickets_url) { "tickets page" } "." }
        },
    );
    Mail {
        subject,
        text,
        html,
        attachments: Vec::new(),
    }
}

/// `s` on one line: control characters (line breaks among them) become
/// spaces, runs of spaces one.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A file name from an event's title: no path separators or characters
/// file systems refuse, at most 60 characters; "event" when nothing is
/// left.
fn file_name(event: &str) -> String {
    let cleaned: String = event
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => ' ',
            c => c,
        })
        .collect();
    let name: String = one_line(&cleaned).chars().take(60).collect();
    let name = name.trim().trim_matches('.').trim();
    if name.is_empty() {
        "event".to_owned()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin_gig(kind: BookingMailKind) -> BookingMail {
        BookingMail {
            kind,
            booking_id: "6a3c5f0e-1d7b-4c52-9a8e-2f1d0c9b8a7e"
                .parse()
                .expect("uuid"),
            recipient_name: "Ada <b>Lovelace</b>".to_owned(),
            event_id: 42,
            event_name: "Die Ärzte: Live, laut & lang".to_owned(),
            venue_name: "Columbiahalle".to_owned(),
            venue_city: "Berlin".to_owned(),
            venue_address: Some("Columbiadamm 13-21".to_owned()),
            timezone: "Europe/Berlin".to_owned(),
            starts_at: "2026-12-15T19:00:00Z".parse().expect("time"),
            ends_at: None,
            seats: vec![
                "Section A, row 3, seat 12".to_owned(),
                "Section A, row 3, seat 13".to_owned(),
            ],
            total_cents: 123_450,
            currency: "EUR".to_owned(),
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-12-01T08:30:00Z".parse().expect("time")
    }

    const PUBLIC_URL: &str = "https://tickets.example/";

    #[test]
    fn a_confirmation_says_the_local_time_the_money_the_seats_and_links_the_tickets() {
        let mail = render_at(&berlin_gig(BookingMailKind::Confirmed), PUBLIC_URL, now());
        assert_eq!(
            mail.subject,
            "Your tickets for Die Ärzte: Live, laut & lang"
        );
        let html = mail.html.into_string();
        for part in [&mail.text, &html] {
            assert!(part.contains("Tue 15 Dec 2026, 20:00 CET"), "{part}");
            assert!(part.contains("€1,234.50"), "{part}");
            assert!(part.contains("Section A, row 3, seat 12"), "{part}");
            assert!(part.contains("Section A, row 3, seat 13"), "{part}");
            assert!(
                part.contains("https://tickets.example/me/tickets"),
                "{part}"
            );
            assert!(
                part.contains("Columbiahalle, Columbiadamm 13-21, Berlin"),
                "{part}"
            );
            assert!(
                part.contains("6a3c5f0e-1d7b-4c52-9a8e-2f1d0c9b8a7e"),
                "{part}"
            );
        }
        assert!(mail.text.starts_with("Hello Ada <b>Lovelace</b>,\n"));
        assert!(
            html.contains("Hello Ada &lt;b&gt;Lovelace&lt;/b&gt;,"),
            "{html}"
        );
        assert!(html.contains("Die Ärzte: Live, laut &amp; lang"), "{html}");
        assert!(
            html.contains(r#"href="https://tickets.example/events/42""#),
            "{html}"
        );
        assert!(
            html.contains(r#"datetime="2026-12-15T20:00:00+01:00""#),
            "{html}"
        );
        assert_eq!(mail.attachments.len(), 1);
        let ics = &mail.attachments[0];
        assert_eq!(ics.filename, "Die Ärzte Live, laut & lang.ics");
        assert_eq!(
            ics.content_type,
            "text/calendar; charset=utf-8; method=PUBLISH"
        );
        let body = String::from_utf8(ics.body.clone()).expect("utf-8");
        assert!(
            body.contains("\r\nUID:booking-6a3c5f0e-1d7b-4c52-9a8e-2f1d0c9b8a7e@ticketing\r\n")
        );
        assert!(body.contains("\r\nDTSTART:20261215T190000Z\r\n"), "{body}");
        assert!(
            body.contains("\r\nDTEND:20261215T220000Z\r\n"),
            "three hours: {body}"
        );
        assert!(body.contains("\r\nDTSTAMP:20261201T083000Z\r\n"), "{body}");
    }

    #[test]
    fn a_cancellation_names_the_refund_and_cancels_the_calendar_event() {
        let refunded = BookingMailKind::Cancelled {
            refunded_cents: Some(123_450),
        };
        let mail = render_at(&berlin_gig(refunded), PUBLIC_URL, now());
        assert_eq!(
            mail.subject,
            "Booking cancelled: Die Ärzte: Live, laut & lang (€1,234.50 refunded)"
        );
        assert!(
            mail.text.contains("We have refunded €1,234.50"),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("Tue 15 Dec 2026, 20:00 CET"));
        assert!(mail.text.contains("https://tickets.example/me/tickets"));
        let ics = &mail.attachments[0];
        assert_eq!(
            ics.content_type,
            "text/calendar; charset=utf-8; method=CANCEL"
        );
        let body = String::from_utf8(ics.body.clone()).expect("utf-8");
        assert!(
            body.contains("\r\nMETHOD:CANCEL\r\n") && body.contains("\r\nSTATUS:CANCELLED\r\n")
        );
        assert!(
            body.contains("\r\nUID:booking-6a3c5f0e-1d7b-4c52-9a8e-2f1d0c9b8a7e@ticketing\r\n")
        );

        for nothing in [None, Some(0)] {
            let kind = BookingMailKind::Cancelled {
                refunded_cents: nothing,
            };
            let mail = render_at(&berlin_gig(kind), PUBLIC_URL, now());
            assert_eq!(
                mail.subject,
                "Booking cancelled: Die Ärzte: Live, laut & lang"
            );
            assert!(mail.text.contains("No refund was made"), "{}", mail.text);
        }
    }

    #[test]
    fn an_expired_hold_links_the_event_and_attaches_nothing() {
        let mut gig = berlin_gig(BookingMailKind::HoldExpired);
        gig.currency = "JPY".to_owned();
        gig.total_cents = 15_000;
        gig.timezone = "Asia/Tokyo".to_owned();
        gig.seats = vec!["General admission".to_owned()];
        let mail = render_at(&gig, PUBLIC_URL, now());
        assert_eq!(
            mail.subject,
            "Your hold on Die Ärzte: Live, laut & lang has expired"
        );
        assert!(mail.attachments.is_empty());
        for part in [mail.text.clone(), mail.html.into_string()] {
            assert!(part.contains("Wed 16 Dec 2026, 04:00 JST"), "{part}");
            assert!(part.contains("¥15,000"), "{part}");
            assert!(part.contains("General admission"), "{part}");
            assert!(part.contains("https://tickets.example/events/42"), "{part}");
            assert!(
                part.contains("https://tickets.example/me/tickets"),
                "{part}"
            );
        }
    }

    #[test]
    fn a_line_break_in_the_event_name_stays_out_of_the_subject_and_file_name() {
        let mut gig = berlin_gig(BookingMailKind::Confirmed);
        gig.event_name = "Gig\r\nBcc: everyone@example.com\n/../etc".to_owned();
        let mail = render_at(&gig, PUBLIC_URL, now());
        assert_eq!(
            mail.subject,
            "Your tickets for Gig Bcc: everyone@example.com /../etc"
        );
        assert!(!mail.subject.contains(['\r', '\n']));
        assert_eq!(
            mail.attachments[0].filename,
            "Gig Bcc everyone@example.com .. etc.ics"
        );
    }

    #[test]
    fn file_names_lose_what_file_systems_refuse() {
        assert_eq!(file_name("AC/DC: Live?"), "AC DC Live");
        assert_eq!(file_name("..."), "event");
        assert_eq!(file_name("  "), "event");
        assert_eq!(file_name(&"x".repeat(100)).len(), 60);
    }
}
