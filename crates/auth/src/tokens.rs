//! Opaque secrets handed to clients: refresh tokens and the tokens in
//! email links.
//!
//! A token is 32 random bytes from the operating system, given to the
//! client as unpadded base64url (43 characters). Only its SHA-256 is
//! stored, so a copy of the database holds nothing a client could present.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Random bytes in a token.
pub const TOKEN_BYTES: usize = 32;

/// A new token: what the client gets, and what is stored.
#[derive(Clone)]
pub struct Token {
    /// The secret, base64url without padding: give it to the client only.
    pub secret: String,
    /// SHA-256 of the secret's bytes: store this.
    pub hash: Vec<u8>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").finish_non_exhaustive()
    }
}

/// A fresh random token.
///
/// # Panics
///
/// When the operating system's random source fails, as `Uuid::new_v4`
/// does: there is no safe way to go on without it.
pub fn generate() -> Token {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    Token {
        secret: URL_SAFE_NO_PAD.encode(bytes),
        hash: Sha256::digest(bytes).to_vec(),
    }
}

/// The stored form of a presented token; `None` when it cannot be one of
/// ours (not base64url, or not 32 bytes), so it matches nothing.
pub fn hash(secret: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(secret.trim()).ok()?;
    (bytes.len() == TOKEN_BYTES).then(|| Sha256::digest(&bytes).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_hashes_to_what_is_stored_and_is_never_repeated() {
        let a = generate();
        let b = generate();
        assert_eq!(a.secret.len(), 43);
        assert_eq!(hash(&a.secret), Some(a.hash.clone()));
        assert_ne!(a.secret, b.secret);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn anything_else_matches_nothing() {
        assert_eq!(hash(""), None);
        assert_eq!(hash("not base64!"), None);
        assert_eq!(hash(&URL_SAFE_NO_PAD.encode([0u8; 16])), None);
    }
}
