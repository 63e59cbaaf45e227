//! Endpoint secrets at rest.
//!
//! HMAC needs the secret itself, so it cannot be stored hashed. It is
//! sealed with AES-256-GCM (aws-lc-rs) under `WEBHOOK_SECRETS_KEY`, a key
//! kept outside the database: a copy of the database alone signs nothing.
//! A sealed value is `nonce (12 bytes) || ciphertext || tag`, with the
//! endpoint's id as associated data, so a sealed secret moved to another
//! endpoint's row does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use uuid::Uuid;
use webhooks::Secret;

/// The key endpoint secrets are sealed with.
pub struct SecretsKey(LessSafeKey);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(..)")
    }
}

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key setting is not 32 bytes of standard base64.
    #[error("must be 32 bytes in standard base64 (e.g. `openssl rand -base64 32`)")]
    BadKey,
    /// The sealed bytes were altered, belong to another endpoint, or were
    /// sealed with another key.
    #[error("the sealed secret does not open with this key")]
    Tampered,
    /// The system's random source failed.
    #[error("no randomness")]
    Random,
}

impl SecretsKey {
    /// Reads the base64 key.
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SealError::BadKey)?;
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| SealError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey);
        }
        Ok(Self(LessSafeKey::new(key)))
    }

    /// A new random signing secret for `endpoint`, and its sealed form.
    pub fn generate(&self, endpoint: Uuid) -> Result<(Secret, Vec<u8>), SealError> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| SealError::Random)?;
        let secret = Secret::generate(key);
        let sealed = self.seal(endpoint, &secret)?;
        Ok((secret, sealed))
    }

    /// Seals `secret` for `endpoint`.
    pub fn seal(&self, endpoint: Uuid, secret: &Secret) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut data = secret.to_text().into_bytes();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(endpoint.as_bytes()),
                &mut data,
            )
            .map_err(|_| SealError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// Opens what [`SecretsKey::seal`] sealed for `endpoint`.
    pub fn open(&self, endpoint: Uuid, sealed: &[u8]) -> Result<Secret, SealError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealError::Tampered);
        }
        let (nonce, data) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Tampered)?;
        let mut data = data.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(endpoint.as_bytes()), &mut data)
            .map_err(|_| SealError::Tampered)?;
        let text = std::str::from_utf8(plain).map_err(|_| SealError::Tampered)?;
        Secret::parse(text).map_err(|_| SealError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn a_sealed_secret_opens_only_for_its_endpoint_and_key() {
        let key = SecretsKey::parse(KEY).expect("a key");
        let endpoint = Uuid::new_v4();
        let (secret, sealed) = key.generate(endpoint).expect("generated");
        assert!(secret.to_text().starts_with("whsec_"));
        assert!(
            !sealed.windows(6).any(|w| w == b"whsec_"),
            "stored in the clear"
        );
        let opened = key.open(endpoint, &sealed).expect("opens");
        assert_eq!(opened, secret);
        assert!(matches!(
            key.open(Uuid::new_v4(), &sealed),
            Err(SealError::Tampered)
        ));
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            key.open(endpoint, &flipped),
            Err(SealError::Tampered)
        ));
        let other = SecretsKey::parse("HxwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgEAAAA=").expect("key");
        assert!(matches!(
            other.open(endpoint, &sealed),
            Err(SealError::Tampered)
        ));
        // Two seals of one secret differ (fresh nonces).
        assert_ne!(key.seal(endpoint, &secret).expect("sealed"), sealed);
    }

    #[test]
    fn a_key_must_be_32_bytes_of_base64() {
        assert!(SecretsKey::parse("c2hvcnQ=").is_err());
        assert!(SecretsKey::parse("not base64!").is_err());
    }
}
