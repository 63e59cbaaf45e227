//! How the pages write money and time: prices from ISO 4217 minor units
//! through CLDR's currency patterns (ICU4X), times in the venue's own zone
//! (the IANA database through `chrono-tz`) with its abbreviation.
//!
//! The pages are English, so the locale is `en`: "$115.99", "£82.99",
//! "¥1,500", "CZK 1,372.99". Amounts are stored in each currency's minor
//! unit (cents for USD, none for JPY, fils for BHD), and the exponent comes
//! from ISO 4217 (`search::money::minor_digits`), never an assumed 2.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, RwLock};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use fixed_decimal::Decimal;
use icu_decimal::DecimalFormatter;
use icu_experimental::dimension::currency::CurrencyType;
use icu_experimental::dimension::currency::formatter::CurrencyFormatter;
use icu_locale_core::locale;

type Formatter = Arc<CurrencyFormatter<DecimalFormatter>>;

/// One formatter per currency met, built from the compiled CLDR data.
static FORMATTERS: LazyLock<RwLock<HashMap<String, Option<Formatter>>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

fn formatter(currency: &str) -> Option<Formatter> {
    if let Some(found) = FORMATTERS.read().ok()?.get(currency) {
        return found.clone();
    }
    let built = CurrencyType::try_from_str(&currency.to_ascii_lowercase())
        .ok()
        .and_then(|code| {
            CurrencyFormatter::try_new_symbol(locale!("en").into(), code, Default::default()).ok()
        })
        .map(Arc::new);
    if let Ok(mut all) = FORMATTERS.write() {
        all.insert(currency.to_owned(), built.clone());
    }
    built
}

/// Digits after the decimal point in `currency`'s minor unit (ISO 4217); 2
/// for a code ISO does not know.
pub fn minor_digits(currency: &str) -> i16 {
    search::money::minor_digits(currency).map_or(2, |d| i16::try_from(d).unwrap_or(2))
}

/// `minor` units of `currency`, as a shopper reads it: "$115.99".
pub fn money(minor: i64, currency: &str) -> String {
    let digits = minor_digits(currency);
    let mut amount = Decimal::from(minor);
    amount.multiply_pow10(-digits);
    match formatter(currency) {
        Some(f) => f.format_fixed_decimal(&amount).to_string(),
        None => {
            amount.absolute.pad_end(-digits);
            format!("{amount} {currency}")
        }
    }
}

/// A whole number of `currency`'s major units, without decimals: "$25",
/// "¥5,000" (price ranges and buckets).
pub fn money_whole(major: i64, currency: &str) -> String {
    let Some(f) = formatter(currency) else {
        return format!("{major} {currency}");
    };
    // The formatter always shows the currency's minor digits; a whole
    // amount drops them (".00" in the "en" data the pages use).
    let full = f.format_fixed_decimal(&Decimal::from(major)).to_string();
    let digits = usize::try_from(minor_digits(currency)).unwrap_or(0);
    let zeros = format!(".{}", "0".repeat(digits));
    match full.find(&zeros) {
        Some(at)
            if digits > 0
                && !full[at + zeros.len()..].starts_with(|c: char| c.is_ascii_digit()) =>
        {
            format!("{}{}", &full[..at], &full[at + zeros.len()..])
        }
        _ => full,
    }
}

/// A moment in a venue's zone, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTime {
    /// "Sat 12 Dec 2026".
    pub date: String,
    /// "19:15".
    pub time: String,
    /// The zone's abbreviation then: "EST", "BST", or an offset such as
    /// "+03" where the zone has no letters.
    pub zone: String,
    /// RFC 3339 with the local offset, for `<time datetime>`.
    pub machine: String,
}

impl LocalTime {
    /// "Sat 12 Dec 2026, 19:15 EST".
    pub fn full(&self) -> String {
        format!("{}, {} {}", self.date, self.time, self.zone)
    }
}

/// `at` in the IANA zone `zone` (UTC when the name is unknown).
pub fn local(at: DateTime<Utc>, zone: &str) -> LocalTime {
    let tz = Tz::from_str(zone).unwrap_or(Tz::UTC);
    let t = at.with_timezone(&tz);
    LocalTime {
        date: t.format("%a %-d %b %Y").to_string(),
        time: t.format("%H:%M").to_string(),
        zone: t.format("%Z").to_string(),
        machine: t.to_rfc3339(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_amounts_have_no_decimals() {
        assert_eq!(money_whole(25, "USD"), "$25");
        assert_eq!(money_whole(5_000, "JPY"), "¥5,000");
        assert_eq!(money_whole(100, "GBP"), "£100");
        assert_eq!(
            money_whole(1_000, "CZK"),
            money(100_000, "CZK").replace(".00", "")
        );
        assert_eq!(
            money_whole(10, "BHD"),
            money(10_000, "BHD").replace(".000", "")
        );
    }

    #[test]
    fn prices_use_each_currency_s_symbol_grouping_and_minor_unit() {
        assert_eq!(money(11599, "USD"), "$115.99");
        assert_eq!(money(8299, "GBP"), "£82.99");
        assert_eq!(money(4500, "EUR"), "€45.00");
        assert_eq!(money(1500, "JPY"), "¥1,500");
        assert_eq!(money(123_456_789, "USD"), "$1,234,567.89");
        assert_eq!(money(0, "USD"), "$0.00");
        // Three decimals for the Bahraini dinar, none for the yen.
        assert!(
            money(45_000, "BHD").contains("45.000"),
            "{}",
            money(45_000, "BHD")
        );
        assert!(
            money(137_299, "CZK").contains("1,372.99"),
            "{}",
            money(137_299, "CZK")
        );
    }

    #[test]
    fn times_are_the_venue_s_wall_clock_with_its_abbreviation() {
        let at: DateTime<Utc> = "2026-12-13T00:15:00Z".parse().expect("time");
        let ny = local(at, "America/New_York");
        assert_eq!(ny.full(), "Sat 12 Dec 2026, 19:15 EST");
        assert_eq!(ny.machine, "2026-12-12T19:15:00-05:00");
        let summer: DateTime<Utc> = "2027-07-01T18:30:00Z".parse().expect("time");
        assert_eq!(
            local(summer, "Europe/London").full(),
            "Thu 1 Jul 2027, 19:30 BST"
        );
        assert_eq!(
            local(summer, "Europe/Prague").full(),
            "Thu 1 Jul 2027, 20:30 CEST"
        );
        assert_eq!(local(summer, "Not/AZone").zone, "UTC");
        // Letters where the tz database has them, the offset where not.
        assert_eq!(local(at, "Australia/Melbourne").zone, "AEDT");
        assert_eq!(local(at, "America/Sao_Paulo").zone, "-03");
        assert_eq!(local(summer, "Europe/Dublin").zone, "IST");
    }
}
