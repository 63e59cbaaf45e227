//! Standard Webhooks v1 signatures (<https://www.standardwebhooks.com/>).
//!
//! A delivery carries three headers: `webhook-id` (the message id, the same
//! on every retry, so a receiver deduplicates on it), `webhook-timestamp`
//! (seconds since the epoch) and `webhook-signature`: a space-separated
//! list of `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per active
//! secret, so an endpoint's secret rotates with no downtime (sign with the
//! old and the new one until the receiver has switched).
//!
//! A secret is `whsec_` followed by the base64 of its key bytes. The key,
//! not the base64 text, is what HMAC uses. [`Secret::generate`] makes one
//! from 32 random bytes the caller supplies.
//!
//! The official Standard Webhooks library verifies what [`sign`] makes
//! (`tests/standard_webhooks.rs` runs the Python one from PyPI).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";
/// How far a timestamp may be from the receiver's clock, in seconds, as the
/// reference libraries allow.
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// What can be wrong with a secret or a delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("a secret is whsec_ followed by base64 of at least 24 bytes")]
    BadSecret,
    #[error("the timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("the timestamp is more than five minutes away")]
    StaleTimestamp,
    #[error("no signature matches")]
    NoMatch,
}

/// An endpoint's signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// Reads `whsec_<base64>`; the key must be at least 24 bytes.
    pub fn parse(text: &str) -> Result<Self, WebhookError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(WebhookError::BadSecret)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| WebhookError::BadSecret)?;
        if key.len() < 24 {
            return Err(WebhookError::BadSecret);
        }
        Ok(Self(key))
    }

    /// A secret with these key bytes (from a CSPRNG).
    pub fn generate(key: [u8; 32]) -> Self {
        Self(key.to_vec())
    }

    /// The `whsec_...` text, shown once to the endpoint's owner.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The `webhook-signature` header for one delivery: `v1,<signature>` per
/// secret, space-separated, in the order given.
pub fn sign(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| {
            let tag = s.mac(id, timestamp, body).finalize().into_bytes();
            format!("v1,{}", STANDARD.encode(tag))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a delivery as a receiver would: the timestamp within
/// [`TOLERANCE_SECS`] of `now`, and one `v1` signature made with `secret`
/// (compared in constant time).
pub fn verify(
    secret: &Secret,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), WebhookError> {
    let timestamp: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::BadTimestamp)?;
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(WebhookError::StaleTimestamp);
    }
    let matched = signatures
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .any(|tag| secret.mac(id, timestamp, body).verify_slice(&tag).is_ok());
    if matched {
        Ok(())
    } else {
        Err(WebhookError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference
    /// test vectors: the secret, id, timestamp, body and signature they
    /// publish.
    #[test]
    fn the_specifications_example_signs_the_same() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&[secret], id, 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_rotation_signs_with_every_secret_and_either_verifies() {
        let old = Secret::generate([1; 32]);
        let new = Secret::generate([2; 32]);
        let header = sign(&[old.clone(), new.clone()], "m1", 100, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        for s in [&old, &new] {
            assert_eq!(verify(s, "m1", "100", &header, b"{}", 100), Ok(()));
        }
        let other = Secret::generate([3; 32]);
        assert_eq!(
            verify(&other, "m1", "100", &header, b"{}", 100),
            Err(WebhookError::NoMatch)
        );
    }

    #[test]
    fn tampering_and_stale_timestamps_are_refused() {
        let s = Secret::generate([7; 32]);
        let header = sign(std::slice::from_ref(&s), "m1", 1_000, b"{\"a\":1}");
        assert_eq!(
            verify(&s, "m1", "1000", &header, b"{\"a\":2}", 1_000),
            Err(WebhookError::NoMatch)
        );
        assert_eq!(
            verify(&s, "m2", "1000", &header, b"{\"a\":1}", 1_000),
            Err(WebhookError::NoMatch)
        );
        assert_eq!(
            verify(
                &s,
                "m1",
                "1000",
                &header,
                b"{\"a\":1}",
                1_000 + TOLERANCE_SECS + 1
            ),
            Err(WebhookError::StaleTimestamp)
        );
        assert_eq!(
            verify(&s, "m1", "soon", &header, b"{\"a\":1}", 1_000),
            Err(WebhookError::BadTimestamp)
        );
    }

    #[test]
    fn secrets_round_trip_and_bad_ones_are_refused() {
        let s = Secret::generate([9; 32]);
        assert_eq!(Secret::parse(&s.to_text()), Ok(s));
        assert_eq!(Secret::parse("whsec_short"), Err(WebhookError::BadSecret));
        assert_eq!(
            Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(WebhookError::BadSecret)
        );
        assert_eq!(format!("{:?}", Secret::generate([1; 32])), "Secret(..)");
    }
}
