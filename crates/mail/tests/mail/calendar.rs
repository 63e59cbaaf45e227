//! The calendar files, as a calendar reads them: Python's `icalendar`
//! parses the attachment out of the message as sent.

use mail::booking::{BookingMailKind, render};
use mail::{Address, Mailer};
use serde_json::Value;

use crate::relay::{ACCEPT, Relay};
use crate::{booking, config, python, run_python};

/// Reads base64 messages, one per line; prints, for each, its calendar
/// attachment's first event as one line of JSON.
const READER: &str = r#"
import base64, email, email.policy, json, sys
import icalendar
for line in sys.stdin:
    message = email.message_from_bytes(base64.b64decode(line.strip()), policy=email.policy.default)
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    calendar = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    event = next(iter(calendar.walk("VEVENT")))
    print(json.dumps({
        "filename": part.get_filename(),
        "content_method": part.get_param("method"),
        "method": str(calendar["METHOD"]),
        "uid": str(event["UID"]),
        "status": str(event["STATUS"]),
        "dtstart": event.decoded("DTSTART").isoformat(),
        "dtend": event.decoded("DTEND").isoformat(),
        "summary": str(event["SUMMARY"]),
        "location": str(event["LOCATION"]),
        "url": str(event["URL"]),
        "description": str(event["DESCRIPTION"]),
    }))
"#;

#[tokio::test]
async fn icalendar_reads_back_the_published_and_the_cancelled_event() {
    let Some(python) = python("ICALENDAR_PYTHON", "icalendar") else {
        return;
    };
    let mut relay = Relay::start(ACCEPT).await;
    let mailer = Mailer::new(&config(&relay.url, &[])).expect("mailer");
    let to: Address = "zoe@example.com".parse().expect("address");
    let mut input = String::new();
    for kind in [
        BookingMailKind::Confirmed,
        BookingMailKind::Cancelled {
            refunded_cents: None,
        },
    ] {
        let mail = render(&booking(kind), "https://tickets.example");
        mailer.send(&to, &mail).await.expect("sent");
        let raw = relay.next_message().await;
        input.push_str(&base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            raw,
        ));
        input.push('\n');
    }

    let out = run_python(&python, READER, &[], &input);

    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(events.len(), 2, "{out}");
    let title = booking(BookingMailKind::Confirmed).event_name;
    assert!(title.contains(',') && title.contains(';') && title.contains('\n'));
    for (event, method, status) in [
        (&events[0], "PUBLISH", "CONFIRMED"),
        (&events[1], "CANCEL", "CANCELLED"),
    ] {
        assert_eq!(event["method"], method, "{event}");
        assert_eq!(event["content_method"], method, "{event}");
        assert_eq!(event["status"], status, "{event}");
        assert_eq!(
            event["uid"], "booking-6a3c5f0e-1d7b-4c52-9a8e-2f1d0c9b8a7e@ticketing",
            "the same UID, so the cancel finds the event"
        );
        assert_eq!(event["dtstart"], "2026-12-15T19:00:00+00:00", "{event}");
        assert_eq!(event["dtend"], "2026-12-15T22:30:00+00:00", "{event}");
        assert_eq!(event["summary"], title.as_str(), "{event}");
        assert_eq!(
            event["location"], "Columbiahalle, Columbiadamm 13-21, Berlin",
            "{event}"
        );
        assert_eq!(event["url"], "https://tickets.example/events/42", "{event}");
        let description = event["description"].as_str().expect("a description");
        assert!(
            description.contains("\n- Section A, row 3, seat 13; aisle\n"),
            "{description}"
        );
        let filename = event["filename"].as_str().expect("a file name");
        assert!(
            filename.starts_with("Rock, Paper; Scissors Live in Köln")
                && filename.ends_with(".ics"),
            "{filename}"
        );
    }
    eprintln!("icalendar read back the published and the cancelled event");
}
