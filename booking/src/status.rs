//! The states the schema allows, as types. Each set is fixed by a CHECK
//! constraint in the migrations; the enum has exactly its values, stored
//! and serialized as the same snake_case text.
//!
//! The booking state machine: `in_process` → `payment_pending` →
//! `confirmed` | `rejected` | `cancelled` | `expired`; a confirmed booking
//! can still be `cancelled` (refunded) until its event starts.

use std::fmt;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

/// Defines a text-backed state enum: `as_str`, `Display`, `FromStr`, serde
/// and sqlx (a Postgres `text` column), all with the same spelling.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in the order the schema lists them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value as stored.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownState;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(UnknownState {
                        kind: stringify!($name),
                        value: other.to_owned(),
                    }),
                }
            }
        }

        impl Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }

            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }

        impl<'r> Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<&str as Decode<Postgres>>::decode(value)?.parse()?)
            }
        }

        impl Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }
    };
}

/// A state the schema does not allow (only possible if the schema and this
/// module disagree).
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownState {
    kind: &'static str,
    value: String,
}

text_enum! {
    /// `bookings.status`.
    BookingStatus {
        /// Being created (not used by the batch hold path, which creates
        /// bookings straight into `payment_pending`).
        InProcess = "in_process",
        /// Held, waiting for payment until `expires_at`.
        PaymentPending = "payment_pending",
        /// Paid; its seats are sold.
        Confirmed = "confirmed",
        /// The payment was declined, or the seats were gone when it arrived.
        Rejected = "rejected",
        /// Cancelled by the buyer or an admin (refunded if it was paid).
        Cancelled = "cancelled",
        /// The hold lapsed.
        Expired = "expired",
    }
}

impl BookingStatus {
    /// Holding seats (until `expires_at`), not yet paid.
    pub const fn is_pending(self) -> bool {
        match self {
            Self::InProcess | Self::PaymentPending => true,
            Self::Confirmed | Self::Rejected | Self::Cancelled | Self::Expired => false,
        }
    }
}

text_enum! {
    /// `event_seats.status`.
    SeatStatus {
        /// Free.
        Available = "available",
        /// Held by a booking until `held_until` (free once that passes).
        Held = "held",
        /// Sold to a confirmed booking.
        Sold = "sold",
    }
}

text_enum! {
    /// `payments.status`.
    PaymentStatus {
        /// Sent to the provider; the outcome is not recorded yet.
        Pending = "pending",
        /// Money moved.
        Succeeded = "succeeded",
        /// The provider declined it.
        Declined = "declined",
        /// No money moved (an abandoned or failed attempt).
        Failed = "failed",
        /// The provider wants the cardholder to pass a challenge (3-D
        /// Secure) before it decides; no money moved yet.
        RequiresAction = "requires_action",
    }
}

text_enum! {
    /// `events.status`.
    EventStatus {
        /// Not public yet.
        Draft = "draft",
        /// Public; on sale during its sale window.
        Scheduled = "scheduled",
        /// Called off.
        Cancelled = "cancelled",
        /// Over.
        Completed = "completed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_text_and_serializes_as_it() {
        for s in BookingStatus::ALL {
            assert_eq!(s.as_str().parse::<BookingStatus>().ok(), Some(*s));
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::json!(s.as_str()))
            );
        }
        for s in SeatStatus::ALL {
            assert_eq!(s.as_str().parse::<SeatStatus>().ok(), Some(*s));
        }
        for s in PaymentStatus::ALL {
            assert_eq!(s.as_str().parse::<PaymentStatus>().ok(), Some(*s));
        }
        for s in EventStatus::ALL {
            assert_eq!(s.as_str().parse::<EventStatus>().ok(), Some(*s));
        }
    }

    /// The CHECK constraint that fixes a set, as the migrations spell it
    /// (whitespace collapsed).
    fn check_of(values: &[&str]) -> String {
        let list: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
        format!("check (status in ({}))", list.join(", "))
    }

    #[test]
    fn each_enum_has_exactly_the_values_of_its_schema_check() {
        let schema = [
            include_str!("../../migrations/20261121000001_catalog.sql"),
            include_str!("../../migrations/20261121000002_inventory_and_booking.sql"),
            include_str!("../../migrations/20261214000001_payment_challenge.sql"),
        ]
        .concat()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
        let sets: [Vec<&str>; 4] = [
            BookingStatus::ALL.iter().map(|s| s.as_str()).collect(),
            SeatStatus::ALL.iter().map(|s| s.as_str()).collect(),
            PaymentStatus::ALL.iter().map(|s| s.as_str()).collect(),
            EventStatus::ALL.iter().map(|s| s.as_str()).collect(),
        ];
        for set in sets {
            let check = check_of(&set);
            assert!(schema.contains(&check), "no `{check}` in the migrations");
        }
    }

    #[test]
    fn a_state_the_schema_does_not_allow_is_an_error_naming_it() {
        let err = "refunded"
            .parse::<BookingStatus>()
            .expect_err("not a state");
        assert_eq!(err.to_string(), "unknown BookingStatus \"refunded\"");
    }

    #[test]
    fn only_holds_not_yet_paid_are_pending() {
        let pending: Vec<_> = BookingStatus::ALL
            .iter()
            .filter(|s| s.is_pending())
            .collect();
        assert_eq!(
            pending,
            [&BookingStatus::InProcess, &BookingStatus::PaymentPending]
        );
    }
}
