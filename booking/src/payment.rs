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
    /// `4000 0000 0000 0077` succeeds slowly.
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
}

/// A deterministic in-process gateway for development and tests.
///
/// | card | outcome |
/// |---|---|
/// | `4242 4242 4242 4242` | success |
/// | `4000 0000 0000 0002` | declined (`card_declined`) |
/// | `4000 0000 0000 0077` | success after `slow_delay` |
/// | anything else | declined (`invalid_number`) |
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
}
