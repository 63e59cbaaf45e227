//! Payment providers. The service charges through [`PaymentProvider`]; the
//! built-in [`SandboxProvider`] stands in for a real gateway.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;

/// Card details as the client sends them. Never logged or stored.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct Card {
    /// The card number (digits; spaces allowed). Sandbox test cards:
    /// `4242 4242 4242 4242` succeeds, `4000 0000 0000 0002` is declined,
    /// `4000 0000 0000 0077` succeeds slowly, `4000 0027 6000 3184` asks
    /// for the bank's challenge (3-D Secure) first.
    #[schema(example = "4242 4242 4242 4242")]
    pub card_number: String,
}

/// What a provider answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Money moved; `reference` is the provider's id for it.
    Succeeded {
        /// Provider reference.
        reference: String,
    },
    /// The card was declined; nothing moved.
    Declined {
        /// Provider decline code.
        code: String,
    },
    /// Strong customer authentication: the cardholder's bank wants a
    /// challenge passed (3-D Secure) before it decides. Nothing moved yet;
    /// the answer goes to [`PaymentProvider::confirm_challenge`] under the
    /// same idempotency key.
    RequiresAction {
        /// The provider's id for the challenge.
        challenge_id: String,
        /// Where a real gateway sends the shopper to complete it (the
        /// issuer's page); `None` when the client shows the challenge
        /// itself, as with the sandbox.
        url: Option<String>,
    },
}

/// A provider failure that says nothing about whether money moved (timeout,
/// network). The caller retries with the same idempotency key.
#[derive(Debug, thiserror::Error)]
#[error("payment provider unavailable: {0}")]
pub struct ProviderError(pub String);

/// A payment gateway. Every call carries an idempotency key: the same key
/// never charges twice, and a retry returns the first outcome.
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// The provider's name, stored with each payment.
    fn name(&self) -> &'static str;
    /// Charges `amount_cents` to `card`.
    fn charge<'a>(
        &'a self,
        idempotency_key: &'a str,
        amount_cents: i64,
        currency: &'a str,
        card: &'a Card,
    ) -> BoxFuture<'a, Result<ChargeOutcome, ProviderError>>;
    /// What became of the charge with this idempotency key: `None` if the
    /// provider never processed it (no money moved).
    fn lookup<'a>(
        &'a self,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<ChargeOutcome>, ProviderError>>;
    /// Completes the challenge of a charge that answered
    /// [`ChargeOutcome::RequiresAction`], with what the cardholder's bank
    /// returned to the client (`response`), and settles the charge:
    /// `Succeeded` or `Declined` (a failed challenge is a decline). Keyed by
    /// the charge's idempotency key: a retry returns the first settlement,
    /// whatever `response` it carries.
    fn confirm_challenge<'a>(
        &'a self,
        idempotency_key: &'a str,
        challenge_id: &'a str,
        response: &'a str,
    ) -> BoxFuture<'a, Result<ChargeOutcome, ProviderError>>;
    /// Refunds a succeeded charge by its reference.
    fn refund<'a>(
        &'a self,
        idempotency_key: &'a str,
        charge_reference: &'a str,
        amount_cents: i64,
    ) -> BoxFuture<'a, Result<ChargeOutcome, ProviderError>>;
}

/// Checks a card number as typed before anything is charged: digits, with
/// spaces or dashes between groups, 12 to 19 of them, and a valid Luhn
/// check digit (ISO/IEC 7812), so a mistyped number is caught and named,
/// never sent to the provider.
pub fn check_card_number(number: &str) -> Result<(), &'static str> {
    if number
        .chars()
        .any(|c| !(c.is_ascii_digit() || c == ' ' || c == '-'))
    {
        return Err("must be digits only (spaces and dashes between groups are fine)");
    }
    let digits: Vec<u32> = number.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(12..=19).contains(&digits.len()) {
        return Err("must have 12 to 19 digits");
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| match (i % 2, d * 2) {
            (0, _) => d,
            (_, doubled) if doubled > 9 => doubled - 9,
            (_, doubled) => doubled,
        })
        .sum();
    if sum.is_multiple_of(10) {
        Ok(())
    } else {
        Err("is not a valid card number: a digit is mistyped")
    }
}

/// Test cards of the sandbox provider.
pub mod test_cards {
    /// Always succeeds.
    pub const SUCCESS: &str = "4242424242424242";
    /// Always declined (`card_declined`).
    pub const DECLINE: &str = "4000000000000002";
    /// Succeeds after a delay (`SandboxProvider::slow_delay`).
    pub const SLOW: &str = "4000000000000077";
    /// Asks for the bank's challenge (3-D Secure) first; then
    /// [`super::challenge_answers`] decide.
    pub const CHALLENGE: &str = "4000002760003184";
}

/// What the sandbox's challenge accepts, as the sandbox's "bank page" (the
/// checkout's Approve and Deny buttons) sends it.
pub mod challenge_answers {
    /// Passes the challenge: the charge succeeds.
    pub const APPROVE: &str = "approve";
    /// Fails it: the charge is declined (`authentication_failed`); so is
    /// any other answer.
    pub const DENY: &str = "deny";
}

/// A deterministic in-process gateway for development and tests.
///
/// | card | outcome |
/// |---|---|
/// | `4242 4242 4242 4242` | success |
/// | `4000 0000 0000 0002` | declined (`card_declined`) |
/// | `4000 0000 0000 0077` | success after `slow_delay` |
/// | `4000 0027 6000 3184` | requires a challenge; `approve` succeeds, anything else is declined (`authentication_failed`) |
/// | anything else | declined (`invalid_number`) |
///
/// A challenge's id is derived from the charge's idempotency key, so a
/// restarted (or another) instance can still complete it.
#[derive(Debug)]
pub struct SandboxProvider {
    slow_delay: Duration,
    // Idempotency: key -> first outcome.
    seen: Mutex<HashMap<String, ChargeOutcome>>,
}

impl SandboxProvider {
    /// A sandbox whose slow card takes `slow_delay`.
    pub fn new(slow_delay: Duration) -> Self {
        Self {
            slow_delay,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// How many distinct charges and refunds it has processed.
    pub fn operations(&self) -> usize {
        self.seen.lock().map_or(0, |m| m.len())
    }

    fn remember(&self, key: &str, outcome: ChargeOutcome) -> ChargeOutcome {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.entry(key.to_owned()).or_insert(outcome).clone()
    }

    /// Records the settlement of a challenged charge: replaces a waiting
    /// challenge (or nothing), never a settled outcome.
    fn settle(&self, key: &str, outcome: ChargeOutcome) -> ChargeOutcome {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let entry = seen.entry(key.to_owned()).or_insert(outcome.clone());
        if matches!(entry, ChargeOutcome::RequiresAction { .. }) {
            *entry = outcome;
        }
        entry.clone()
    }

    /// The sandbox's challenge id for a charge.
    fn challenge_id(key: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = hex::encode(Sha256::digest(format!("sandbox-3ds:{key}")));
        format!("sb_3ds_{}", &digest[..24])
    }

    fn replay(&self, key: &str) -> Option<ChargeOutcome> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }
}

impl PaymentProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn charge<'a>(
        &'a self,
        idempotency_key: &'a str,
        _amount_cents: i64,
        _currency: &'a str,
        card: &'a Card,
    ) -> BoxFuture<'a, Result<ChargeOutcome, ProviderError>> {
        Box::pin(async move {
            if let Some(first) = self.replay(idempotency_key) {
                return Ok(first);
            }
            let digits: String = card
                .card_number
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            let outcome = match digits.as_str() {
                test_cards::SUCCESS => ChargeOutcome::Succeeded {
                    reference: format!("sb_ch_{}", uuid::Uuid::new_v4().simple()),
                },
                test_cards::SLOW => {
                    tokio::time::sleep(self.slow_delay).await;
                    ChargeOutcome::Succeeded {
                        reference: format!("sb_ch_{}", uuid::Uuid::new_v4().simple()),
                    }
                }
                test_cards::DECLINE => ChargeOutcome::Declined {
                    code: "card_declined".to_owned(),
                },
                test_cards::CHALLENGE => ChargeOutcome::RequiresAction {
                    challenge_id: Self::challenge_id(idempotency_key),
                    url: None,
                },
                _ => ChargeOutcome::Declined {
                    code: "invalid_number".to_owned(),
                },
            };
            Ok(self.remember(idempotency_key, outcome))
        })
    }

    fn lookup<'a>(
        &'a self,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<ChargeOutcome>, ProviderError>> {
        Box::pin(async move { Ok(self.replay(idempotency_key)) })
    }

    fn confirm_challenge<'a>(
        &'a self,
        idempotency_key: &'a str,
        challenge_id: &'a str,
        response: &'a str,
    ) -> BoxFuture<'a, Result<ChargeOutcome, ProviderError>> {
        Box::pin(async move {
            if let Some(
                settled @ (ChargeOutcome::Succeeded { .. } | ChargeOutcome::Declined { .. }),
            ) = self.replay(idempotency_key)
            {
                return Ok(settled);
            }
            let passed = challenge_id == Self::challenge_id(idempotency_key)
                && response == challenge_answers::APPROVE;
            let outcome = if passed {
                ChargeOutcome::Succeeded {
                    reference: format!("sb_ch_{}", uuid::Uuid::new_v4().simple()),
                }
            } else {
                ChargeOutcome::Declined {
                    code: "authentication_failed".to_owned(),
                }
            };
            Ok(self.settle(idempotency_key, outcome))
        })
    }

    fn refund<'a>(
        &'a self,
        idempotency_key: &'a str,
        charge_reference: &'a str,
        _amount_cents: i64,
    ) -> BoxFuture<'a, Result<ChargeOutcome, ProviderError>> {
        Box::pin(async move {
            let outcome = ChargeOutcome::Succeeded {
                reference: format!("sb_re_{}", charge_reference.trim_start_matches("sb_ch_")),
            };
            Ok(self.remember(idempotency_key, outcome))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(n: &str) -> Card {
        Card {
            card_number: n.to_owned(),
        }
    }

    #[test]
    fn card_numbers_are_checked_by_their_luhn_digit_before_any_charge() {
        for good in [
            test_cards::SUCCESS,
            test_cards::DECLINE,
            test_cards::SLOW,
            test_cards::CHALLENGE,
            "4242 4242 4242 4242",
            "4242-4242-4242-4242",
            "378282246310005",
        ] {
            assert_eq!(check_card_number(good), Ok(()), "{good}");
        }
        // One digit off, two digits swapped, too short, letters.
        assert!(
            check_card_number("4242 4242 4242 4241")
                .expect_err("refused")
                .contains("mistyped")
        );
        assert!(
            check_card_number("4242 4242 4242 2442")
                .expect_err("refused")
                .contains("mistyped")
        );
        assert!(
            check_card_number("4242 4242 42")
                .expect_err("refused")
                .contains("12 to 19")
        );
        assert!(
            check_card_number("4242 4242 4242 424x")
                .expect_err("refused")
                .contains("digits only")
        );
    }

    #[tokio::test]
    async fn the_same_idempotency_key_never_charges_twice() {
        let sandbox = SandboxProvider::new(Duration::ZERO);

        let first = sandbox
            .charge("k1", 100, "EUR", &card("4242 4242 4242 4242"))
            .await
            .expect("answers");
        let again = sandbox
            .charge("k1", 100, "EUR", &card("4242 4242 4242 4242"))
            .await
            .expect("answers");

        assert_eq!(first, again);
        assert_eq!(sandbox.operations(), 1);
    }

    #[tokio::test]
    async fn the_decline_card_is_declined() {
        let sandbox = SandboxProvider::new(Duration::ZERO);

        let outcome = sandbox
            .charge("k2", 100, "EUR", &card(test_cards::DECLINE))
            .await
            .expect("answers");

        assert_eq!(
            outcome,
            ChargeOutcome::Declined {
                code: "card_declined".into()
            }
        );
    }

    #[tokio::test]
    async fn the_challenge_card_waits_for_its_challenge_and_settles_once() {
        let sandbox = SandboxProvider::new(Duration::ZERO);

        let asked = sandbox
            .charge("k3", 100, "EUR", &card("4000 0027 6000 3184"))
            .await
            .expect("answers");
        let ChargeOutcome::RequiresAction { challenge_id, url } = asked.clone() else {
            panic!("a challenge, got {asked:?}");
        };
        let again = sandbox
            .charge("k3", 100, "EUR", &card(test_cards::CHALLENGE))
            .await
            .expect("answers");
        let approved = sandbox
            .confirm_challenge("k3", &challenge_id, challenge_answers::APPROVE)
            .await
            .expect("answers");
        let denied_later = sandbox
            .confirm_challenge("k3", &challenge_id, challenge_answers::DENY)
            .await
            .expect("answers");

        assert_eq!((again, url), (asked, None));
        assert!(matches!(approved, ChargeOutcome::Succeeded { .. }));
        assert_eq!(
            denied_later, approved,
            "a retry returns the first settlement"
        );
        assert_eq!(sandbox.lookup("k3").await.expect("answers"), Some(approved));
    }

    #[tokio::test]
    async fn a_denied_challenge_is_a_decline_and_another_instance_can_settle_it() {
        let asking = SandboxProvider::new(Duration::ZERO);
        let restarted = SandboxProvider::new(Duration::ZERO);
        let Ok(ChargeOutcome::RequiresAction { challenge_id, .. }) = asking
            .charge("k4", 100, "EUR", &card(test_cards::CHALLENGE))
            .await
        else {
            panic!("a challenge");
        };

        let denied = restarted
            .confirm_challenge("k4", &challenge_id, challenge_answers::DENY)
            .await
            .expect("answers");
        let forged = restarted
            .confirm_challenge("k5", &challenge_id, challenge_answers::APPROVE)
            .await
            .expect("answers");

        let declined = ChargeOutcome::Declined {
            code: "authentication_failed".into(),
        };
        assert_eq!(denied, declined);
        assert_eq!(forged, declined, "a challenge id belongs to its own charge");
    }
}
