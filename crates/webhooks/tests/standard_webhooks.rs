//! What `webhooks::sign` makes, checked by code this project did not write:
//! the official Standard Webhooks library for Python (`standardwebhooks`
//! from PyPI, pinned in scripts/env.sh), run as a subprocess.
//!
//! `scripts/test` installs it into `$TICKETING_STATE_DIR/venv-webhooks` and
//! exports `STANDARDWEBHOOKS_PYTHON`. Without it the test says so and
//! passes, except under CI (`CI=true`), where it fails.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use webhooks::{Secret, sign};

/// Reads cases from stdin, one per line: secret, id, timestamp, signature
/// header and body (the body base64, so any bytes fit); prints one verdict
/// per case, "ok" or the library's exception name.
const VERIFIER: &str = r#"
import base64, sys
from standardwebhooks.webhooks import Webhook
for line in sys.stdin:
    secret, msg_id, ts, sig, body = line.rstrip("\n").split("\t")
    headers = {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": sig}
    try:
        Webhook(secret).verify(base64.b64decode(body).decode(), headers)
        print("ok")
    except Exception as e:
        print(type(e).__name__)
"#;

fn python() -> Option<String> {
    match std::env::var("STANDARDWEBHOOKS_PYTHON") {
        Ok(p) if !p.trim().is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "STANDARDWEBHOOKS_PYTHON is not set under CI: scripts/test installs it"
            );
            eprintln!(
                "skipped: STANDARDWEBHOOKS_PYTHON is not set (scripts/test installs the \
                 official library into .local/venv-webhooks and sets it)"
            );
            None
        }
    }
}

struct Case {
    secret: String,
    id: String,
    timestamp: i64,
    signature: String,
    body: Vec<u8>,
}

fn verdicts(python: &str, cases: &[Case]) -> Vec<String> {
    use base64::Engine;
    let mut child = Command::new(python)
        .args(["-c", VERIFIER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the Python verifier starts");
    let mut input = String::new();
    for c in cases {
        input.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            c.secret,
            c.id,
            c.timestamp,
            c.signature,
            base64::engine::general_purpose::STANDARD.encode(&c.body)
        ));
    }
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("cases written");
    let out = child.wait_with_output().expect("verifier ran");
    assert!(out.status.success(), "the verifier failed: {out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_official_library_accepts_our_signatures_and_refuses_tampering() {
    let Some(python) = python() else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let old = Secret::generate([11; 32]);
    let new = Secret::generate([42; 32]);
    let stranger = Secret::generate([99; 32]);
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for n in 0..20i64 {
        let id = format!("{}", 1_000_000 + n);
        let body = format!(
            r#"{{"type":"booking.confirmed","timestamp":"2026-12-07T21:00:00Z","data":{{"booking_id":"b-{n}","total_cents":{},"note":"ünïcödé ✓"}}}}"#,
            n * 1_234
        )
        .into_bytes();
        // Signed during a rotation: with the old and the new secret.
        let signature = sign(&[old.clone(), new.clone()], &id, now, &body);
        for (secret, ok) in [(&old, true), (&new, true), (&stranger, false)] {
            cases.push(Case {
                secret: secret.to_text(),
                id: id.clone(),
                timestamp: now,
                signature: signature.clone(),
                body: body.clone(),
            });
            expected.push(if ok { "ok" } else { "WebhookVerificationError" });
        }
        // One changed byte of the body, and another message's id.
        let mut tampered = body.clone();
        tampered[10] ^= 1;
        cases.push(Case {
            secret: new.to_text(),
            id: id.clone(),
            timestamp: now,
            signature: signature.clone(),
            body: tampered,
        });
        expected.push("WebhookVerificationError");
        cases.push(Case {
            secret: new.to_text(),
            id: format!("{id}0"),
            timestamp: now,
            signature,
            body,
        });
        expected.push("WebhookVerificationError");
    }
    let got = verdicts(&python, &cases);
    assert_eq!(got.len(), expected.len());
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "case {i}");
    }
    eprintln!(
        "standardwebhooks verified {} deliveries and refused {} forgeries",
        expected.iter().filter(|e| **e == "ok").count(),
        expected.iter().filter(|e| **e != "ok").count()
    );
}
