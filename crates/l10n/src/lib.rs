//! What a shopper reads, written the one way every page and mail writes it:
//! prices from ISO 4217 minor units through CLDR's currency patterns
//! (ICU4X), times in the venue's own zone (the IANA database through
//! `chrono-tz`) with its abbreviation.
//!
//! The text is English, so the locale is `en`: "$115.99", "£82.99",
//! "¥1,500", "CZK 1,372.99". Amounts are stored in each currency's minor
//! unit (cents for USD, none for JPY, fils for BHD), and the exponent comes
//! from ISO 4217 ([`minor_digits`], the workspace's one lookup), never an
//! assumed 2.
//!
//! Pure: no I/O, nothing of ours.

mod currency;
mod time;

pub use currency::{minor_digits, money, money_whole};
pub use time::{LocalTime, local};
