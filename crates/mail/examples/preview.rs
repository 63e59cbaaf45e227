//! Writes the booking mails' HTML and text parts for a sample booking into
//! a directory, to look at them in a browser:
//!
//!     cargo run -p mail --example preview -- /tmp/mail-preview

use chrono::{TimeZone, Utc};
use mail::booking::{BookingMail, BookingMailKind, render};

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mail-preview".to_owned());
    std::fs::create_dir_all(&dir)?;
    let sample = |kind| BookingMail {
        kind,
        booking_id: uuid::Uuid::nil(),
        recipient_name: "Ada Lovelace".to_owned(),
        event_id: 42,
        event_name: "Nils Frahm: Music for Berlin".to_owned(),
        venue_name: "Funkhaus".to_owned(),
        venue_city: "Berlin".to_owned(),
        venue_address: Some("Nalepastraße 18".to_owned()),
        timezone: "Europe/Berlin".to_owned(),
        starts_at: Utc
            .with_ymd_and_hms(2026, 12, 15, 19, 0, 0)
            .single()
            .unwrap_or_default(),
        ends_at: None,
        seats: vec![
            "Stalls, row C, seat 11".to_owned(),
            "Stalls, row C, seat 12".to_owned(),
        ],
        total_cents: 12_450,
        currency: "EUR".to_owned(),
    };
    for (name, kind) in [
        ("confirmed", BookingMailKind::Confirmed),
        (
            "cancelled",
            BookingMailKind::Cancelled {
                refunded_cents: Some(12_450),
            },
        ),
        ("hold-expired", BookingMailKind::HoldExpired),
    ] {
        let mail = render(&sample(kind), "https://tickets.example.com");
        std::fs::write(format!("{dir}/{name}.html"), mail.html.into_string())?;
        std::fs::write(
            format!("{dir}/{name}.txt"),
            format!("Subject: {}\n\n{}", mail.subject, mail.text),
        )?;
    }
    Ok(())
}
