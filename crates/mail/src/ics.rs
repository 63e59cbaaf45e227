//! A calendar file with one event (RFC 5545), as iTIP publishes or cancels
//! it (RFC 5546): text values escaped, lines folded at 75 octets, CRLF.
//!
//! Written here rather than with the `icalendar` crate: one VEVENT is a
//! page of code, and that crate's escaper passes a carriage return
//! through raw.

use chrono::{DateTime, Utc};

/// The longest content line, in octets, without its CRLF (RFC 5545 3.1).
const LINE_OCTETS: usize = 75;

/// What the file asks of the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// Add (or update) the event.
    Publish,
    /// Remove the event with this UID.
    Cancel,
}

impl Method {
    /// The `method` parameter of the attachment's content type.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Publish => "PUBLISH",
            Self::Cancel => "CANCEL",
        }
    }
}

/// One event.
#[derive(Debug, Clone)]
pub(crate) struct Event<'a> {
    pub method: Method,
    /// The same for every file about this event, so a cancel finds it.
    pub uid: &'a str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: &'a str,
    pub location: &'a str,
    pub url: &'a str,
    pub description: &'a str,
}

/// The calendar file for `event`, stamped `now`.
pub(crate) fn calendar(event: &Event<'_>, now: DateTime<Utc>) -> String {
    let (sequence, status) = match event.method {
        Method::Publish => ("0", "CONFIRMED"),
        // A later sequence than the published one: calendars apply it.
        Method::Cancel => ("1", "CANCELLED"),
    };
    let mut out = String::new();
    for (name, value) in [
        ("BEGIN", "VCALENDAR"),
        ("VERSION", "2.0"),
        ("PRODID", "-//Ticketing//Booking mail//EN"),
        ("CALSCALE", "GREGORIAN"),
        ("METHOD", event.method.name()),
        ("BEGIN", "VEVENT"),
    ] {
        line(&mut out, name, value);
    }
    line(&mut out, "UID", &text(event.uid));
    line(&mut out, "DTSTAMP", &utc(now));
    line(&mut out, "SEQUENCE", sequence);
    line(&mut out, "STATUS", status);
    line(&mut out, "DTSTART", &utc(event.start));
    line(&mut out, "DTEND", &utc(event.end));
    line(&mut out, "SUMMARY", &text(event.summary));
    line(&mut out, "LOCATION", &text(event.location));
    line(&mut out, "URL", &uri(event.url));
    line(&mut out, "DESCRIPTION", &text(event.description));
    line(&mut out, "END", "VEVENT");
    line(&mut out, "END", "VCALENDAR");
    out
}

/// A UTC date-time: `20261215T190000Z`.
fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and line
/// breaks escaped; other control characters, which TEXT cannot hold,
/// become spaces.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A URI value: not escaped, but no control character gets through.
fn uri(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).collect()
}

/// `name:value` as content lines: folded so no line passes
/// [`LINE_OCTETS`] octets (a continuation starts with a space, which
/// counts), never inside a UTF-8 sequence, each ended by CRLF.
fn line(out: &mut String, name: &str, value: &str) {
    let mut width = 0;
    for c in name.chars().chain([':']).chain(value.chars()) {
        if width + c.len_utf8() > LINE_OCTETS {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5545 3.1 unfolding: a CRLF followed by one space or tab goes.
    fn unfold(ics: &str) -> String {
        ics.replace("\r\n ", "").replace("\r\n\t", "")
    }

    fn event(method: Method) -> Event<'static> {
        Event {
            method,
            uid: "booking-6a3c5f0e-1d7b-4c52-9a8e-2f1d0c9b8a7e@ticketing",
            start: "2026-12-15T19:00:00Z".parse().expect("time"),
            end: "2026-12-15T22:00:00Z".parse().expect("time"),
            summary: "Rock, Paper; Scissors\nLive",
            location: "Halle 1, Berlin",
            url: "https://tickets.example/events/42",
            description: "Seats:\n- Section A, row 3, seat 12",
        }
    }

    #[test]
    fn text_escapes_the_four_specials_and_normalises_line_breaks() {
        assert_eq!(text(r"a\b"), r"a\\b");
        assert_eq!(text("a;b,c"), r"a\;b\,c");
        assert_eq!(text("one\ntwo\r\nthree\rfour"), r"one\ntwo\nthree\nfour");
        assert_eq!(text("bell\u{7}tab\t"), "bell tab\t");
        assert_eq!(text(r"\n is not a newline"), r"\\n is not a newline");
        assert_eq!(text("Zürich ✓"), "Zürich ✓");
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_a_character() {
        let value = "Ä".repeat(100) + &"x".repeat(100) + "€😀";
        let mut out = String::new();
        line(&mut out, "SUMMARY", &value);
        assert!(out.ends_with("\r\n"));
        for physical in out.trim_end_matches("\r\n").split("\r\n") {
            assert!(
                physical.len() <= LINE_OCTETS,
                "{} octets: {physical}",
                physical.len()
            );
        }
        assert!(
            out.split("\r\n")
                .skip(1)
                .all(|l| l.is_empty() || l.starts_with(' '))
        );
        assert_eq!(unfold(&out), format!("SUMMARY:{value}\r\n"));
        // Exactly 75 octets stay on one line; 76 fold.
        let mut exact = String::new();
        line(&mut exact, "X", &"y".repeat(73));
        assert_eq!(exact.matches("\r\n").count(), 1);
        let mut over = String::new();
        line(&mut over, "X", &"y".repeat(74));
        assert_eq!(over, format!("X:{}\r\n y\r\n", "y".repeat(73)));
    }

    #[test]
    fn a_published_event_has_utc_times_escaped_text_and_only_crlf() {
        let now = "2026-12-01T08:30:00Z".parse().expect("time");
        let ics = calendar(&event(Method::Publish), now);
        assert!(
            !ics.replace("\r\n", "").contains('\n'),
            "a bare LF: {ics:?}"
        );
        assert!(
            !ics.replace("\r\n", "").contains('\r'),
            "a bare CR: {ics:?}"
        );
        let lines: Vec<&str> = ics.split("\r\n").collect();
        for expected in [
            "BEGIN:VCALENDAR",
            "METHOD:PUBLISH",
            "BEGIN:VEVENT",
            "UID:booking-6a3c5f0e-1d7b-4c52-9a8e-2f1d0c9b8a7e@ticketing",
            "DTSTAMP:20261201T083000Z",
            "STATUS:CONFIRMED",
            "DTSTART:20261215T190000Z",
            "DTEND:20261215T220000Z",
            r"SUMMARY:Rock\, Paper\; Scissors\nLive",
            r"LOCATION:Halle 1\, Berlin",
            "URL:https://tickets.example/events/42",
            r"DESCRIPTION:Seats:\n- Section A\, row 3\, seat 12",
            "END:VEVENT",
            "END:VCALENDAR",
        ] {
            assert!(lines.contains(&expected), "{expected} in {ics}");
        }
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.ends_with("END:VCALENDAR\r\n"));
    }

    #[test]
    fn a_cancel_keeps_the_uid_with_a_later_sequence() {
        let now = "2026-12-01T08:30:00Z".parse().expect("time");
        let published = calendar(&event(Method::Publish), now);
        let cancelled = calendar(&event(Method::Cancel), now);
        let uid = |ics: &str| {
            ics.split("\r\n")
                .find(|l| l.starts_with("UID:"))
                .map(str::to_owned)
        };
        assert_eq!(uid(&published), uid(&cancelled));
        assert!(cancelled.contains("\r\nMETHOD:CANCEL\r\n"));
        assert!(cancelled.contains("\r\nSTATUS:CANCELLED\r\n"));
        assert!(cancelled.contains("\r\nSEQUENCE:1\r\n"));
        assert!(published.contains("\r\nSEQUENCE:0\r\n"));
    }
}
