//! DKIM signing (RFC 6376; Ed25519 per RFC 8463): when a key is
//! configured, every message the mailer sends carries a `DKIM-Signature`
//! that a receiver checks against the public key published at
//! `{selector}._domainkey.{domain}`.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lettre::Message;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, LineEnding};
// One trait for both key types: rsa and ed25519-dalek share the pkcs8 crate.
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use service_kit::config::{ConfigError, EnvSource};

/// The headers a signature covers: who, what and when. Not the top
/// `Content-Type`: lettre writes a multipart's with the body, after
/// signing, so the signature would not cover what the receiver sees (the
/// body hash covers the parts and their boundaries anyway).
const SIGNED_HEADERS: [&str; 6] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
];

/// Verifiers ignore RSA keys shorter than this (RFC 8301; dkimpy's
/// default minimum too).
const MIN_RSA_BITS: usize = 1024;

/// The three variables, all set or none.
const VARS: [&str; 3] = [
    "MAIL_DKIM_KEY_FILE",
    "MAIL_DKIM_SELECTOR",
    "MAIL_DKIM_DOMAIN",
];

/// A DKIM signing key with its selector and domain, read from
/// `MAIL_DKIM_KEY_FILE`, `MAIL_DKIM_SELECTOR` and `MAIL_DKIM_DOMAIN`.
///
/// The key file is PEM: RSA (PKCS#1 `BEGIN RSA PRIVATE KEY`, or PKCS#8
/// `BEGIN PRIVATE KEY`, at least 1024 bits; 2048 is usual) or Ed25519
/// (PKCS#8, as `openssl genpkey -algorithm ed25519` writes it). Headers
/// and body are canonicalized `relaxed/relaxed`, which survives relays
/// that refold headers or trim trailing spaces.
#[derive(Clone)]
pub struct Dkim {
    selector: String,
    domain: String,
    algorithm: &'static str,
    config: Arc<DkimConfig>,
}

impl fmt::Debug for Dkim {
    // The key stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dkim")
            .field("selector", &self.selector)
            .field("domain", &self.domain)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Dkim {
    /// The settings, `None` when none of the three variables is set; the
    /// error names the variable that is missing or wrong.
    pub(crate) fn from_env(env: &EnvSource) -> Result<Option<Self>, ConfigError> {
        let [key_file, selector, domain] = VARS.map(|var| env.get(var));
        let (key_file, selector, domain) = match (key_file, selector, domain) {
            (None, None, None) => return Ok(None),
            (Some(k), Some(s), Some(d)) => (k, s, d),
            (k, s, d) => {
                let set = [k.is_some(), s.is_some(), d.is_some()];
                let missing = VARS
                    .iter()
                    .zip(set)
                    .find_map(|(var, set)| (!set).then_some(*var))
                    .unwrap_or(VARS[0]);
                return Err(ConfigError {
                    var: missing,
                    reason: "is unset, but other MAIL_DKIM_ variables are set: DKIM signing \
                             takes all three of MAIL_DKIM_KEY_FILE, MAIL_DKIM_SELECTOR and \
                             MAIL_DKIM_DOMAIN, or none"
                        .to_owned(),
                });
            }
        };
        let selector = dns_name("MAIL_DKIM_SELECTOR", selector.trim())?;
        let domain = dns_name("MAIL_DKIM_DOMAIN", domain.trim())?;
        let path = key_file.trim();
        let pem = std::fs::read_to_string(path).map_err(|e| ConfigError {
            var: "MAIL_DKIM_KEY_FILE",
            reason: format!("cannot read {path:?}: {e}"),
        })?;
        let (key, algorithm) = signing_key(&pem).map_err(|reason| ConfigError {
            var: "MAIL_DKIM_KEY_FILE",
            reason: format!("{path:?}: {reason}"),
        })?;
        let config = DkimConfig::new(
            selector.clone(),
            domain.clone(),
            key,
            SIGNED_HEADERS
                .iter()
                .map(|h| HeaderName::new_from_ascii_str(h))
                .collect(),
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        );
        Ok(Some(Self {
            selector,
            domain,
            algorithm: match algorithm {
                DkimSigningAlgorithm::Rsa => "rsa-sha256",
                DkimSigningAlgorithm::Ed25519 => "ed25519-sha256",
            },
            config: Arc::new(config),
        }))
    }

    /// The selector (`s=`): the key's name under `_domainkey`.
    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// The signing domain (`d=`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The signature algorithm (`a=`): `rsa-sha256` or `ed25519-sha256`.
    pub fn algorithm(&self) -> &'static str {
        self.algorithm
    }

    /// Adds the `DKIM-Signature` header to a finished message.
    pub(crate) fn sign(&self, message: &mut Message) {
        message.sign(&self.config);
    }
}

/// A DNS name (letters, digits and hyphens, dot-separated): it goes into
/// the signature header as it is.
fn dns_name(var: &'static str, value: &str) -> Result<String, ConfigError> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if value.len() <= 253 && value.split('.').all(label_ok) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(ConfigError {
            var,
            reason: format!("{value:?} is not a DNS name (letters, digits, hyphens and dots)"),
        })
    }
}

/// The key lettre signs with, from a PEM file's text.
fn signing_key(pem: &str) -> Result<(DkimSigningKey, DkimSigningAlgorithm), String> {
    let rsa = if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
        Some(RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| format!("not an RSA key: {e}"))?)
    } else {
        RsaPrivateKey::from_pkcs8_pem(pem).ok()
    };
    if let Some(rsa) = rsa {
        let bits = rsa.size() * 8;
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "an RSA key of {bits} bits; verifiers ignore keys under {MIN_RSA_BITS} bits \
                 (2048 is usual)"
            ));
        }
        // lettre reads RSA keys as PKCS#1.
        let pkcs1 = rsa
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| format!("cannot re-encode the RSA key: {e}"))?;
        let key = DkimSigningKey::new(&pkcs1, DkimSigningAlgorithm::Rsa)
            .map_err(|e| format!("lettre refuses the RSA key: {e}"))?;
        return Ok((key, DkimSigningAlgorithm::Rsa));
    }
    if let Ok(ed) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
        // lettre reads Ed25519 keys as the base64 of the 32-byte seed.
        let seed = STANDARD.encode(ed.to_bytes());
        let key = DkimSigningKey::new(&seed, DkimSigningAlgorithm::Ed25519)
            .map_err(|e| format!("lettre refuses the Ed25519 key: {e}"))?;
        return Ok((key, DkimSigningAlgorithm::Ed25519));
    }
    Err(
        "not an unencrypted PEM private key for DKIM: RSA (PKCS#1 `BEGIN RSA PRIVATE KEY` \
         or PKCS#8 `BEGIN PRIVATE KEY`) or Ed25519 (PKCS#8 `BEGIN PRIVATE KEY`)"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use rsa::pkcs8::EncodePrivateKey;

    use super::*;

    fn key_file(pem: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(pem.as_bytes()).expect("key written");
        file
    }

    fn settings(path: &str) -> EnvSource {
        EnvSource::from_pairs([
            ("MAIL_DKIM_KEY_FILE", path),
            ("MAIL_DKIM_SELECTOR", "mail2026"),
            ("MAIL_DKIM_DOMAIN", "Tickets.Example"),
        ])
    }

    fn rsa_key(bits: usize) -> RsaPrivateKey {
        RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).expect("RSA key generated")
    }

    #[test]
    fn no_dkim_variables_means_no_signing() {
        let none = Dkim::from_env(&EnvSource::from_pairs::<_, String, String>([]));
        assert!(none.expect("valid").is_none());
    }

    #[test]
    fn dkim_takes_all_three_variables_or_none() {
        for (set, missing) in [
            (vec![("MAIL_DKIM_SELECTOR", "s")], "MAIL_DKIM_KEY_FILE"),
            (
                vec![
                    ("MAIL_DKIM_KEY_FILE", "/k.pem"),
                    ("MAIL_DKIM_SELECTOR", "s"),
                ],
                "MAIL_DKIM_DOMAIN",
            ),
            (
                vec![
                    ("MAIL_DKIM_KEY_FILE", "/k.pem"),
                    ("MAIL_DKIM_DOMAIN", "d.example"),
                ],
                "MAIL_DKIM_SELECTOR",
            ),
        ] {
            let err = Dkim::from_env(&EnvSource::from_pairs(set)).expect_err(missing);
            assert_eq!(err.var, missing);
            assert!(err.reason.contains("all three"), "{}", err.reason);
        }
    }

    #[test]
    fn a_bad_key_file_or_name_is_named() {
        let missing = Dkim::from_env(&settings("/nonexistent/dkim.pem")).expect_err("missing");
        assert_eq!(missing.var, "MAIL_DKIM_KEY_FILE");
        let garbage =
            key_file("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
        let path = garbage.path().to_str().expect("utf-8 path");
        let err = Dkim::from_env(&settings(path)).expect_err("garbage");
        assert_eq!(err.var, "MAIL_DKIM_KEY_FILE");
        assert!(!err.reason.contains("not a key"), "the key is not echoed");
        let short = rsa_key(512).to_pkcs8_pem(LineEnding::LF).expect("pem");
        let short = key_file(&short);
        let err =
            Dkim::from_env(&settings(short.path().to_str().expect("utf-8"))).expect_err("512 bits");
        assert_eq!(err.var, "MAIL_DKIM_KEY_FILE");
        assert!(err.reason.contains("512 bits"), "{}", err.reason);
        for (var, bad) in [
            ("MAIL_DKIM_SELECTOR", "s; d=evil.example"),
            ("MAIL_DKIM_DOMAIN", "tickets.example\r\nBcc: x"),
            ("MAIL_DKIM_DOMAIN", "-tickets.example"),
        ] {
            let mut pairs = vec![
                ("MAIL_DKIM_KEY_FILE", path),
                ("MAIL_DKIM_SELECTOR", "s"),
                ("MAIL_DKIM_DOMAIN", "tickets.example"),
            ];
            pairs.retain(|(v, _)| *v != var);
            pairs.push((var, bad));
            let err = Dkim::from_env(&EnvSource::from_pairs(pairs)).expect_err(bad);
            assert_eq!(err.var, var);
        }
    }

    #[test]
    fn rsa_keys_load_from_pkcs1_and_pkcs8_and_ed25519_from_pkcs8() {
        let rsa = rsa_key(1024);
        let ed = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        for (pem, algorithm) in [
            (
                rsa.to_pkcs1_pem(LineEnding::LF).expect("pem").to_string(),
                "rsa-sha256",
            ),
            (
                rsa.to_pkcs8_pem(LineEnding::CRLF).expect("pem").to_string(),
                "rsa-sha256",
            ),
            (
                ed.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
                "ed25519-sha256",
            ),
        ] {
            let file = key_file(&pem);
            let dkim = Dkim::from_env(&settings(file.path().to_str().expect("utf-8")))
                .expect("valid")
                .expect("configured");
            assert_eq!(dkim.algorithm(), algorithm);
            assert_eq!(dkim.selector(), "mail2026");
            assert_eq!(dkim.domain(), "tickets.example");
            let debug = format!("{dkim:?}");
            assert!(
                debug.contains("mail2026") && !debug.contains("PRIVATE"),
                "{debug}"
            );
        }
    }
}
