//! Passwords: the policy a new one must meet, and Argon2id hashing.
//!
//! Hashes are Argon2id (RustCrypto's `argon2`) with OWASP's minimum
//! parameters, m = 19 MiB, t = 2, p = 1, stored as PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), so a stored hash
//! carries its own parameters and old hashes still verify if they change.
//!
//! Hashing is deliberately slow and memory-hungry, so it never runs on the
//! async runtime: each hash or verification runs on a blocking thread, at
//! most as many at once as the machine has cores ([`Semaphore`]). A flood of
//! sign-ins queues there instead of starving every other request.
//!
//! [`verify`] of a user who does not exist (or has no password) checks the
//! password against a dummy hash made with the same parameters, so the
//! answer takes as long either way and does not tell who is registered.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OnceCell, Semaphore};

/// Argon2 memory cost, KiB (19 MiB).
pub const M_COST_KIB: u32 = 19_456;
/// Argon2 passes.
pub const T_COST: u32 = 2;
/// Argon2 lanes.
pub const P_COST: u32 = 1;

/// Fewest characters in a password.
pub const MIN_CHARS: usize = 12;
/// Most characters in a password.
pub const MAX_CHARS: usize = 128;
/// Lowest acceptable zxcvbn score (0 to 4): 3 means about 10^10 guesses.
pub const MIN_SCORE: u8 = 3;

/// Why hashing or verifying failed (not a wrong password: that is
/// `Ok(false)`).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The hash function refused (a stored hash that does not parse, for
    /// example).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The blocking task died.
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Which rule a new password breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    /// Fewer than [`MIN_CHARS`] characters.
    #[error("must be at least {MIN_CHARS} characters (got {0})")]
    TooShort(usize),
    /// More than [`MAX_CHARS`] characters.
    #[error("must be at most {MAX_CHARS} characters (got {0})")]
    TooLong(usize),
    /// A common password, a dictionary word with small changes, a pattern
    /// or something taken from the user's own details: zxcvbn scores it
    /// below [`MIN_SCORE`].
    #[error("is too easy to guess{}", .hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default())]
    TooWeak {
        /// zxcvbn's score, 0 to 4.
        score: u8,
        /// zxcvbn's warning, if it has one.
        hint: Option<String>,
    },
}

impl PolicyViolation {
    /// The rule's stable name: `min_length`, `max_length` or `strength`.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::TooShort(_) => "min_length",
            Self::TooLong(_) => "max_length",
            Self::TooWeak { .. } => "strength",
        }
    }
}

/// Checks a new password: [`MIN_CHARS`]..=[`MAX_CHARS`] characters and a
/// zxcvbn score of at least [`MIN_SCORE`], with `user_inputs` (the email
/// address, the display name) counted as guessable words.
pub fn check_policy(password: &str, user_inputs: &[&str]) -> Result<(), PolicyViolation> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(PolicyViolation::TooShort(chars));
    }
    if chars > MAX_CHARS {
        return Err(PolicyViolation::TooLong(chars));
    }
    // The address's parts are guessable on their own too.
    let mut inputs: Vec<&str> = user_inputs.to_vec();
    for input in user_inputs {
        inputs.extend(
            input
                .split(['@', '.', ' ', '_', '-', '+'])
                .filter(|p| p.len() > 2),
        );
    }
    let estimate = zxcvbn::zxcvbn(password, &inputs);
    let score = estimate.score() as u8;
    if score < MIN_SCORE {
        return Err(PolicyViolation::TooWeak {
            score,
            hint: estimate
                .feedback()
                .and_then(zxcvbn::feedback::Feedback::warning)
                .map(|w| w.to_string()),
        });
    }
    Ok(())
}

fn hasher() -> Argon2<'static> {
    // The constants are within Argon2's bounds; a test checks they build.
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes on the calling thread, with a fresh random salt. Blocks for tens
/// of milliseconds: async code uses [`hash`].
pub fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Verifies on the calling thread; `Ok(false)` for a wrong password.
pub fn verify_blocking(password: &str, phc: &str) -> Result<bool, PasswordError> {
    match hasher().verify_password(password.as_bytes(), phc) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(PasswordError::Hash(e.to_string())),
    }
}

/// At most one hash per core at a time, for the whole process.
fn permits() -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
            Arc::new(Semaphore::new(cores))
        })
        .clone()
}

/// Runs `work` on a blocking thread once a permit is free.
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
) -> Result<T, PasswordError> {
    // The semaphore is never closed, so acquiring only waits.
    let permit = permits()
        .acquire_owned()
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await?
}

/// Hashes `password` (PHC string), off the async runtime.
pub async fn hash(password: &str) -> Result<String, PasswordError> {
    let password = password.to_owned();
    off_runtime(move || hash_blocking(&password)).await
}

/// The hash [`verify`] checks against when there is no stored one.
async fn dummy_hash() -> Result<&'static str, PasswordError> {
    static DUMMY: OnceCell<String> = OnceCell::const_new();
    let phc = DUMMY
        .get_or_try_init(|| async {
            let random = crate::tokens::generate().secret;
            hash(&random).await
        })
        .await?;
    Ok(phc.as_str())
}

/// Whether `password` matches `stored`, off the async runtime. Without a
/// stored hash (no such user, or one without a password) the password is
/// checked against a dummy hash and the answer is `false`: it takes as long
/// as a real check.
pub async fn verify(password: &str, stored: Option<&str>) -> Result<bool, PasswordError> {
    let (phc, real) = match stored {
        Some(phc) => (phc.to_owned(), true),
        None => (dummy_hash().await?.to_owned(), false),
    };
    let password = password.to_owned();
    let matches = off_runtime(move || verify_blocking(&password, &phc)).await?;
    Ok(matches && real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameters_are_owasps_minimum_and_build() {
        let params = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("valid parameters");
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (19 * 1024, 2, 1)
        );
    }

    #[test]
    fn a_hash_is_an_argon2id_phc_string_that_verifies_only_its_password() {
        let phc = hash_blocking("plum-sofa-harbour-1987").expect("hashes");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_blocking("plum-sofa-harbour-1987", &phc).expect("verifies"));
        assert!(!verify_blocking("plum-sofa-harbour-1988", &phc).expect("verifies"));
        let again = hash_blocking("plum-sofa-harbour-1987").expect("hashes");
        assert_ne!(phc, again, "every hash has its own salt");
    }

    #[test]
    fn a_stored_hash_that_does_not_parse_is_an_error_not_a_match() {
        assert!(verify_blocking("anything at all", "not a phc string").is_err());
    }

    #[tokio::test]
    async fn async_hash_and_verify_run_off_the_runtime_and_agree() {
        let phc = hash("velvet-ladder-orbit-42").await.expect("hashes");
        assert!(
            verify("velvet-ladder-orbit-42", Some(&phc))
                .await
                .expect("verifies")
        );
        assert!(
            !verify("velvet-ladder-orbit-43", Some(&phc))
                .await
                .expect("verifies")
        );
        // No stored hash: checked against the dummy, never a match.
        assert!(
            !verify("velvet-ladder-orbit-42", None)
                .await
                .expect("verifies")
        );
    }

    #[tokio::test]
    async fn many_hashes_at_once_all_finish() {
        let tasks: Vec<_> = (0..6)
            .map(|i| tokio::spawn(async move { hash(&format!("password-{i}-x")).await }))
            .collect();
        for task in tasks {
            assert!(task.await.expect("joins").is_ok());
        }
    }

    #[test]
    fn the_policy_names_the_rule_that_failed() {
        let short = check_policy("Tr0ub4dor&3", &[]).expect_err("11 characters");
        assert_eq!(short, PolicyViolation::TooShort(11));
        assert_eq!(short.rule(), "min_length");
        assert_eq!(short.to_string(), "must be at least 12 characters (got 11)");

        let long = "ab-".repeat(43);
        let long = check_policy(&long, &[]).expect_err("129 characters");
        assert_eq!(
            (long.rule(), long),
            ("max_length", PolicyViolation::TooLong(129))
        );

        for common in [
            "password1234",
            "aaaaaaaaaaaa",
            "qwertyuiopas",
            "123456789012",
        ] {
            let weak = check_policy(common, &[]).expect_err(common);
            assert_eq!(weak.rule(), "strength", "{common}");
            assert!(
                weak.to_string().starts_with("is too easy to guess"),
                "{weak}"
            );
        }

        assert!(check_policy("plum-sofa-harbour-1987", &[]).is_ok());
        assert!(check_policy("correct horse battery staple", &[]).is_ok());
    }

    #[test]
    fn the_users_own_details_count_as_guessable() {
        let mine = "zorbulonquexwright";
        assert!(check_policy(mine, &[]).is_ok(), "strong for a stranger");
        let weak = check_policy(
            mine,
            &["zorbulon.quexwright@example.com", "Zorbulon Quexwright"],
        )
        .expect_err("built from the user's own name");
        assert_eq!(weak.rule(), "strength");
        let address = "zorbulon.quexwright@example.com";
        assert!(check_policy(address, &[address, "Z Q"]).is_err());
    }

    #[test]
    fn characters_are_counted_not_bytes() {
        // Twelve characters, more than twelve bytes.
        let err = check_policy("ééééééééééé", &[]).expect_err("11 characters");
        assert_eq!(err, PolicyViolation::TooShort(11));
    }

    /// How long one hash takes here; `cargo test -p auth --release -- --ignored --nocapture hash_timing`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn hash_timing() {
        let mut times: Vec<std::time::Duration> = (0..9)
            .map(|i| {
                let start = std::time::Instant::now();
                hash_blocking(&format!("timing-password-{i}")).expect("hashes");
                start.elapsed()
            })
            .collect();
        times.sort();
        let phc = hash_blocking("timing-password-x").expect("hashes");
        let start = std::time::Instant::now();
        verify_blocking("timing-password-x", &phc).expect("verifies");
        let verify = start.elapsed();
        println!(
            "argon2id m={M_COST_KIB} KiB t={T_COST} p={P_COST}: hash median {:?} (min {:?}, max {:?}), verify {:?}",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
            verify
        );
    }
}
