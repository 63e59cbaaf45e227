//! One attempt, and what its failure says.

use mail::booking::{BookingMailKind, render};
use mail::{Address, Mailer};

use crate::relay::{ACCEPT, Relay};
use crate::{booking, config};

fn shopper() -> Address {
    "zoe@example.com".parse().expect("address")
}

#[tokio::test]
async fn a_confirmation_goes_out_as_text_html_and_a_calendar_file() {
    let mut relay = Relay::start(ACCEPT).await;
    let mailer = Mailer::new(&config(&relay.url, &[])).expect("mailer");
    let mail = render(
        &booking(BookingMailKind::Confirmed),
        "https://tickets.example",
    );

    mailer.send(&shopper(), &mail).await.expect("sent");

    let raw = relay.next_message().await;
    let parsed = mailparse::parse_mail(&raw).expect("parses");
    assert_eq!(parsed.ctype.mimetype, "multipart/mixed");
    assert_eq!(parsed.subparts[0].ctype.mimetype, "multipart/alternative");
    let text = parsed.subparts[0].subparts[0].get_body().expect("text");
    assert!(text.contains("Tue 15 Dec 2026, 20:00 CET"), "{text}");
    assert!(text.contains("€1,234.50"), "{text}");
    assert_eq!(parsed.subparts[1].ctype.mimetype, "text/calendar");
    let subject = parsed
        .headers
        .iter()
        .find(|h| h.get_key().eq_ignore_ascii_case("subject"))
        .map(|h| h.get_value())
        .expect("a subject");
    assert!(
        subject.starts_with("Your tickets for Rock, Paper; Scissors Live in Köln"),
        "{subject}"
    );
}

#[tokio::test]
async fn send_later_still_delivers_in_the_background() {
    let mut relay = Relay::start(ACCEPT).await;
    let mailer = Mailer::new(&config(&relay.url, &[])).expect("mailer");
    let mail = render(
        &booking(BookingMailKind::HoldExpired),
        "https://tickets.example",
    );

    mailer.send_later(shopper(), mail);

    let raw = relay.next_message().await;
    let parsed = mailparse::parse_mail(&raw).expect("parses");
    assert_eq!(parsed.ctype.mimetype, "multipart/alternative");
}

#[tokio::test]
async fn a_4xx_reply_is_transient_and_a_5xx_reply_permanent_with_the_relay_s_words() {
    let mail = render(
        &booking(BookingMailKind::Confirmed),
        "https://tickets.example",
    );
    for (reply, code, transient, words) in [
        (
            "450 4.2.1 mailbox busy, try later\r\n",
            450,
            true,
            "mailbox busy",
        ),
        (
            "550 5.1.1 no such user here\r\n",
            550,
            false,
            "no such user here",
        ),
    ] {
        let relay = Relay::start(reply).await;
        let mailer = Mailer::new(&config(&relay.url, &[])).expect("mailer");

        let err = mailer.send(&shopper(), &mail).await.expect_err(reply);

        assert_eq!(err.is_transient(), transient, "{err}");
        assert_eq!(err.reply_code(), Some(code), "{err}");
        let said = err.to_string();
        assert!(
            said.contains(&code.to_string()) && said.contains(words),
            "{said}"
        );
    }
}

#[tokio::test]
async fn a_relay_that_is_not_there_is_transient() {
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        listener.local_addr().expect("address").port()
    };
    let mailer = Mailer::new(&config(&format!("smtp://127.0.0.1:{closed}"), &[])).expect("mailer");
    let mail = render(
        &booking(BookingMailKind::HoldExpired),
        "https://tickets.example",
    );

    let err = mailer.send(&shopper(), &mail).await.expect_err("refused");

    assert!(err.is_transient(), "{err}");
    assert_eq!(err.reply_code(), None);
}
