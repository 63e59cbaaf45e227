//! TOTP second factor (RFC 6238), with `totp-rs`: 6 digits, 30-second
//! steps, HMAC-SHA-1, which is what authenticator apps read from an
//! `otpauth://` URI.
//!
//! A code is accepted for the current step or one step either side (clock
//! drift), and only for a step later than the last one accepted for the
//! account: the caller stores the returned step (`users.totp_last_step`)
//! with a compare-and-set, so a code seen over a shoulder or replayed
//! from a log cannot be used again.

use totp_rs::{Algorithm, Secret, TOTP};

/// Digits in a code.
pub const DIGITS: usize = 6;
/// Seconds in a step.
pub const STEP_SECS: u64 = 30;
/// Bytes in a generated secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;

/// Why a TOTP could not be built.
#[derive(Debug, thiserror::Error)]
#[error("invalid TOTP settings: {0}")]
pub struct TotpError(String);

fn totp(secret: &[u8], account: &str, issuer: &str) -> Result<TOTP, TotpError> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS,
        secret.to_vec(),
        Some(issuer.to_owned()),
        account.to_owned(),
    )
    .map_err(|e| TotpError(e.to_string()))
}

/// A new random secret.
pub fn generate_secret() -> Vec<u8> {
    match Secret::generate_secret().to_bytes() {
        Ok(bytes) if bytes.len() >= SECRET_BYTES => bytes,
        // `generate_secret` makes raw bytes, which always convert; keep a
        // fallback from the OS generator anyway.
        _ => {
            let mut bytes = vec![0u8; SECRET_BYTES];
            getrandom::fill(&mut bytes).expect("the OS random generator works");
            bytes
        }
    }
}

/// The secret in base32, as typed into an app by hand.
pub fn base32(secret: &[u8]) -> String {
    Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

/// The `otpauth://totp/...` URI an app scans.
pub fn otpauth_uri(secret: &[u8], account: &str, issuer: &str) -> Result<String, TotpError> {
    Ok(totp(secret, account, issuer)?.get_url())
}

/// The code for `unix_secs` (tests, and `ticketctl`).
pub fn code_at(secret: &[u8], unix_secs: u64) -> Result<String, TotpError> {
    Ok(totp(secret, "account", "Ticketing")?.generate(unix_secs))
}

/// The step `code` is valid for at `unix_secs` (this step, or one either
/// side), if it is later than `last_step`.
pub fn verify(
    secret: &[u8],
    code: &str,
    last_step: Option<i64>,
    unix_secs: u64,
) -> Result<Option<i64>, TotpError> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = totp(secret, "account", "Ticketing")?;
    let now = unix_secs / STEP_SECS;
    for step in [now.saturating_sub(1), now, now + 1] {
        let Ok(step_i) = i64::try_from(step) else {
            continue;
        };
        if last_step.is_some_and(|last| step_i <= last) {
            continue;
        }
        let expected = totp.generate(step * STEP_SECS);
        if constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            return Ok(Some(step_i));
        }
    }
    Ok(None)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret and vectors (8 digits there; the
    /// last 6 digits are the 6-digit code).
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_rfc_6238_test_vectors() {
        for (time, eight) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(
                code_at(RFC_SECRET, time).expect("code"),
                eight[2..],
                "{time}"
            );
        }
    }

    #[test]
    fn a_code_works_in_its_window_once_and_not_outside_it() {
        let secret = generate_secret();
        assert_eq!(secret.len(), SECRET_BYTES);
        let now = 1_700_000_000;
        let code = code_at(&secret, now).expect("code");
        let step = verify(&secret, &code, None, now)
            .expect("verifies")
            .expect("accepted");
        assert_eq!(step, i64::try_from(now / STEP_SECS).expect("fits"));
        // One step of drift either way is fine.
        assert!(
            verify(&secret, &code, None, now + STEP_SECS)
                .expect("ok")
                .is_some()
        );
        assert!(
            verify(&secret, &code, None, now - STEP_SECS)
                .expect("ok")
                .is_some()
        );
        // Two steps away, or a step already used, is not.
        assert!(
            verify(&secret, &code, None, now + 2 * STEP_SECS)
                .expect("ok")
                .is_none()
        );
        assert!(
            verify(&secret, &code, Some(step), now)
                .expect("ok")
                .is_none()
        );
        for junk in ["", "12345", "1234567", "abcdef", "12 456"] {
            assert!(
                verify(&secret, junk, None, now).expect("ok").is_none(),
                "{junk}"
            );
        }
    }

    #[test]
    fn the_uri_names_the_issuer_and_account_and_carries_the_secret() {
        let secret = generate_secret();
        let uri = otpauth_uri(&secret, "ada@example.com", "Ticketing").expect("uri");
        assert!(
            uri.starts_with("otpauth://totp/Ticketing:ada%40example.com?"),
            "{uri}"
        );
        assert!(
            uri.contains(&format!("secret={}", base32(&secret))),
            "{uri}"
        );
    }
}
