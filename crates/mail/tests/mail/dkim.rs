//! DKIM: `dkimpy` verifies what the mailer signs, RSA and Ed25519, sent
//! with `send` and with `send_later`, and refuses it once changed.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mail::booking::{BookingMailKind, render};
use mail::{Address, Mail, Mailer};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

use crate::relay::{ACCEPT, Relay};
use crate::{booking, config, python, run_python};

/// Argument 1: the DNS name the key is published at; argument 2: its TXT
/// record. Reads base64 messages, one per line; prints "pass" or "fail"
/// for each.
const VERIFIER: &str = r#"
import base64, sys
import dkim
name, record = sys.argv[1].encode(), sys.argv[2].encode()
def txt(qname, timeout=5):
    return record if qname == name else None
for line in sys.stdin:
    message = base64.b64decode(line.strip())
    print("pass" if dkim.verify(message, dnsfunc=txt) else "fail")
"#;

const SELECTOR: &str = "mail2026";
const DOMAIN: &str = "ticketing.test";

/// A key as the mailer reads it (a PEM file) and as DNS publishes it.
struct Key {
    algorithm: &'static str,
    pem: String,
    txt: String,
}

fn rsa_key() -> Key {
    let private =
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key generated");
    let public = private
        .to_public_key()
        .to_public_key_der()
        .expect("public key DER");
    Key {
        algorithm: "rsa-sha256",
        pem: private
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PEM")
            .to_string(),
        txt: format!("v=DKIM1; k=rsa; p={}", STANDARD.encode(public.as_bytes())),
    }
}

fn ed25519_key() -> Key {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("random seed");
    let private = ed25519_dalek::SigningKey::from_bytes(&seed);
    Key {
        algorithm: "ed25519-sha256",
        pem: private
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PEM")
            .to_string(),
        // RFC 8463: the bare 32-byte public key.
        txt: format!(
            "v=DKIM1; k=ed25519; p={}",
            STANDARD.encode(private.verifying_key().to_bytes())
        ),
    }
}

/// A mail with nothing but ASCII and a long plain line, beside the
/// booking mail's non-ASCII and attachment.
fn plain_mail() -> Mail {
    Mail {
        subject: "A plain mail".to_owned(),
        text: format!(
            "Hello,\n\n{}\n. a line starting with a dot\n",
            "word ".repeat(40)
        ),
        html: mail::frame("A plain mail", maud::html! { p { "Hello" } }),
        attachments: Vec::new(),
    }
}

async fn signed_messages(key: &Key) -> Vec<Vec<u8>> {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(key.pem.as_bytes()).expect("key written");
    let path = file.path().to_str().expect("utf-8 path");
    let mut relay = Relay::start(ACCEPT).await;
    let config = config(
        &relay.url,
        &[
            ("MAIL_DKIM_KEY_FILE", path),
            ("MAIL_DKIM_SELECTOR", SELECTOR),
            ("MAIL_DKIM_DOMAIN", DOMAIN),
        ],
    );
    assert_eq!(
        config.dkim.as_ref().map(mail::Dkim::algorithm),
        Some(key.algorithm)
    );
    let mailer = Mailer::new(&config).expect("mailer");
    let to: Address = "zoe@example.com".parse().expect("address");
    let mut messages = Vec::new();
    for kind in [
        BookingMailKind::Confirmed,
        BookingMailKind::Cancelled {
            refunded_cents: Some(123_450),
        },
    ] {
        let mail = render(&booking(kind), "https://tickets.example");
        mailer.send(&to, &mail).await.expect("sent");
        messages.push(relay.next_message().await);
    }
    mailer.send_later(to, plain_mail());
    messages.push(relay.next_message().await);
    messages
}

#[tokio::test]
async fn dkimpy_verifies_our_rsa_and_ed25519_signatures_and_refuses_changed_messages() {
    let Some(python) = python("DKIMPY_PYTHON", "dkimpy") else {
        return;
    };
    for key in [rsa_key(), ed25519_key()] {
        let messages = signed_messages(&key).await;
        let mut cases: Vec<(Vec<u8>, &str)> = Vec::new();
        for raw in &messages {
            let text = String::from_utf8_lossy(raw);
            assert!(
                text.contains(&format!("a={}", key.algorithm))
                    && text.contains(&format!("d={DOMAIN}"))
                    && text.contains(&format!("s={SELECTOR}")),
                "{text}"
            );
            cases.push((raw.clone(), "pass"));
            // A changed body, and a changed signed header.
            let mut body = raw.clone();
            body.extend_from_slice(b"P.S. an extra line\r\n");
            cases.push((body, "fail"));
            let header = text.replacen("\r\nSubject: ", "\r\nSubject: Re: ", 1);
            assert_ne!(header, text, "a Subject header to change");
            cases.push((header.into_bytes(), "fail"));
        }
        let input: String = cases
            .iter()
            .map(|(raw, _)| format!("{}\n", STANDARD.encode(raw)))
            .collect();
        let name = format!("{SELECTOR}._domainkey.{DOMAIN}.");
        let out = run_python(&python, VERIFIER, &[&name, &key.txt], &input);
        let got: Vec<&str> = out.lines().collect();
        let expected: Vec<&str> = cases.iter().map(|(_, verdict)| *verdict).collect();
        assert_eq!(got, expected, "{}", key.algorithm);
        eprintln!(
            "dkimpy verified {} {} signatures and refused {} changed messages",
            messages.len(),
            key.algorithm,
            cases.len() - messages.len()
        );
    }
}
