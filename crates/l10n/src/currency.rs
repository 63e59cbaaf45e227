//! Money: ISO 4217 minor units written through CLDR's currency patterns.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

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

/// Minor-unit digits of an ISO 4217 currency (JPY 0, EUR 2, BHD 3); `None`
/// for a code that is not a currency.
pub fn minor_digits(code: &str) -> Option<u32> {
    iso_currency::Currency::from_code(code).map(|c| c.exponent().map_or(0, u32::from))
}

/// The decimal exponent of `currency`'s minor unit; 2 for a code ISO does
/// not know.
fn exponent(currency: &str) -> i16 {
    minor_digits(currency).map_or(2, |d| i16::try_from(d).unwrap_or(2))
}

/// `minor` units of `currency`, as a shopper reads it: "$115.99".
pub fn money(minor: i64, currency: &str) -> String {
    let digits = exponent(currency);
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
    // amount drops them (".00" in the "en" data).
    let full = f.format_fixed_decimal(&Decimal::from(major)).to_string();
    let digits = usize::try_from(exponent(currency)).unwrap_or(0);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_digits_come_from_iso_4217() {
        assert_eq!(minor_digits("EUR"), Some(2));
        assert_eq!(minor_digits("JPY"), Some(0));
        assert_eq!(minor_digits("BHD"), Some(3));
        assert_eq!(minor_digits("XXX"), Some(0));
        assert_eq!(minor_digits("ZZZ"), None);
        assert_eq!(minor_digits("eur"), None, "codes are upper case");
    }

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
        assert_eq!(money(123_450, "EUR"), "€1,234.50");
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
}
