//! Prices across currencies: one display currency for filters, sorting and
//! price buckets.
//!
//! Events keep their own currency; documents are never converted (a rates
//! change would otherwise mean re-indexing the catalog). A search instead
//! carries a [`PriceConversion`]: the display currency and, for every
//! currency with a rate, how many minor units of the display currency one
//! minor unit of it is worth. Both backends use it the same way:
//!
//! - **Sort** by `native × factor` (an `f64` product, the same IEEE
//!   operation in Rust and in an Elasticsearch script).
//! - **Filter** on [`PriceConversion::convert`] (`round(native × factor)`,
//!   display minor units): Elasticsearch gets the equivalent per-currency
//!   native ranges from [`PriceConversion::native_range`], exact by
//!   construction.
//! - **Buckets** of [`PriceConversion::buckets`], in display major units.
//!
//! An event in a currency without a rate cannot be compared: it matches no
//! price filter, falls in no price bucket and sorts last both ways.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The currency rates are quoted against: every rate is units of a
/// currency per one US dollar.
pub const QUOTE_CURRENCY: &str = "USD";

/// Minor-unit digits of an ISO 4217 currency (JPY 0, EUR 2, BHD 3); `None`
/// for a code that is not a currency. The workspace's one lookup, `l10n`'s,
/// which writes the amounts.
pub use l10n::minor_digits;

/// A currency's first listed currency for an ISO 3166-1 alpha-2 country.
pub fn currency_of_country(country: &str) -> Option<&'static str> {
    let country: iso_currency::Country = country.parse().ok()?;
    iso_currency::Currency::from_country(country)
        .into_iter()
        .find(|c| !c.is_fund() && !c.is_special())
        .map(|c| c.code())
}

/// The ISO 3166-1 alpha-2 codes of the countries using a currency.
pub fn countries_using(code: &str) -> Vec<String> {
    iso_currency::Currency::from_code(code)
        .map(|c| c.used_by().iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

/// An exchange-rates table: units of each currency per US dollar, and the
/// version that names this table (cache keys carry it).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Rates {
    pub version: i64,
    pub per_usd: BTreeMap<String, f64>,
}

impl Rates {
    /// The conversion into `display`; `None` when `display` has no rate.
    pub fn conversion(&self, display: &str) -> Option<PriceConversion> {
        let display_rate = *self.per_usd.get(display)?;
        let display_digits = minor_digits(display)?;
        let factors = self
            .per_usd
            .iter()
            .filter_map(|(code, &rate)| {
                let digits = minor_digits(code)?;
                let scale = 10f64.powi(display_digits as i32 - digits as i32);
                Some((code.clone(), display_rate / rate * scale))
            })
            .collect();
        Some(PriceConversion {
            display: display.to_owned(),
            display_digits,
            rates_version: self.version,
            buckets: buckets(display_rate),
            factors,
        })
    }
}

/// How a search compares prices: see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceConversion {
    /// ISO 4217 code prices are compared and bucketed in.
    pub display: String,
    /// Its minor-unit digits.
    pub display_digits: u32,
    /// The rates table this was made from.
    pub rates_version: i64,
    /// Price buckets in display major units: `[from, to)`.
    pub buckets: Vec<(i64, Option<i64>)>,
    /// Display minor units per minor unit of each currency.
    pub factors: BTreeMap<String, f64>,
}

impl PriceConversion {
    /// Display minor units per minor unit of `currency`.
    pub fn factor(&self, currency: &str) -> Option<f64> {
        self.factors.get(currency).copied()
    }

    /// A price in display minor units, rounded half away from zero.
    pub fn convert(&self, native: i64, currency: &str) -> Option<i64> {
        self.factor(currency).map(|f| converted(native, f))
    }

    /// The native prices of `currency` whose conversion lies in
    /// `[lo, hi]` (display minor units; an open end is `None`), as an
    /// inclusive native range; `None` when no price converts into it or
    /// the currency has no rate.
    pub fn native_range(
        &self,
        currency: &str,
        lo: Option<i64>,
        hi: Option<i64>,
    ) -> Option<(Option<i64>, Option<i64>)> {
        let f = self.factor(currency)?;
        let native_lo = lo.map(|lo| first_at_least(f, lo));
        let native_hi = hi.map(|hi| first_at_least(f, hi.saturating_add(1)).saturating_sub(1));
        if let (Some(a), Some(b)) = (native_lo, native_hi)
            && a > b
        {
            return None;
        }
        Some((native_lo, native_hi))
    }

    /// The bucket of a price in display minor units.
    pub fn bucket_of(&self, display_minor: i64) -> Option<usize> {
        let unit = 10i64.pow(self.display_digits);
        self.buckets.iter().position(|&(from, to)| {
            display_minor >= from * unit && to.is_none_or(|to| display_minor < to * unit)
        })
    }

    /// Bucket `i` as an inclusive range of display minor units.
    pub fn bucket_range(&self, i: usize) -> (Option<i64>, Option<i64>) {
        let unit = 10i64.pow(self.display_digits);
        let (from, to) = self.buckets[i];
        (
            (from > 0).then_some(from * unit),
            to.map(|to| to * unit - 1),
        )
    }
}

/// `native × factor` rounded half away from zero: the one conversion every
/// backend uses.
pub fn converted(native: i64, factor: f64) -> i64 {
    (native as f64 * factor).round() as i64
}

/// The smallest native price whose conversion is at least `target`.
/// Conversion is monotonic in the price, so this starts from the real
/// quotient and steps to the exact edge of the rounding.
fn first_at_least(factor: f64, target: i64) -> i64 {
    let mut p = ((target as f64 - 0.5) / factor).ceil() as i64;
    while converted(p, factor) >= target && p > i64::MIN / 2 {
        p -= 1;
    }
    while converted(p, factor) < target {
        p += 1;
    }
    p
}

/// The price buckets of a display currency worth `per_usd` units to the
/// dollar: the dollar buckets (25, 50, 100, 200) converted and rounded to
/// the nearest 1, 2, 2.5 or 5 times a power of ten, so a yen shopper sees
/// "¥5,000–¥10,000", not "¥25–¥50".
pub fn buckets(per_usd: f64) -> Vec<(i64, Option<i64>)> {
    let mut edges: Vec<i64> = Vec::new();
    for usd in [25.0, 50.0, 100.0, 200.0] {
        let edge = nice(usd * per_usd);
        if edges.last().is_none_or(|&last| edge > last) {
            edges.push(edge);
        }
    }
    let mut out = Vec::with_capacity(edges.len() + 1);
    let mut from = 0;
    for edge in edges {
        out.push((from, Some(edge)));
        from = edge;
    }
    out.push((from, None));
    out
}

/// The nearest (in ratio) of 1, 2, 2.5 or 5 times a power of ten, at least 1.
fn nice(x: f64) -> i64 {
    if !x.is_finite() || x <= 1.0 {
        return 1;
    }
    let power = 10f64.powi(x.log10().floor() as i32);
    let best = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .min_by(|a, b| (x / a).ln().abs().total_cmp(&(x / b).ln().abs()))
        .unwrap_or(power);
    best.round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> Rates {
        Rates {
            version: 7,
            per_usd: [
                ("USD", 1.0),
                ("EUR", 0.92),
                ("GBP", 0.79),
                ("JPY", 150.0),
                ("CZK", 23.2),
                ("BHD", 0.376),
            ]
            .into_iter()
            .map(|(c, r)| (c.to_owned(), r))
            .collect(),
        }
    }

    #[test]
    fn conversion_respects_each_currencys_minor_units() {
        let usd = rates().conversion("USD").expect("USD has a rate");
        // 1,372.99 CZK is about $59.18, not $1,372.99.
        assert_eq!(usd.convert(137_299, "CZK"), Some(5_918));
        // ¥15,000 (no minor units) is $100.00.
        assert_eq!(usd.convert(15_000, "JPY"), Some(10_000));
        // 37.600 BHD (three digits) is $100.00.
        assert_eq!(usd.convert(37_600, "BHD"), Some(10_000));
        let jpy = rates().conversion("JPY").expect("JPY has a rate");
        assert_eq!(jpy.convert(10_000, "USD"), Some(15_000));
        assert_eq!(usd.convert(1_000, "XXX"), None);
        assert!(rates().conversion("CHF").is_none());
    }

    #[test]
    fn native_ranges_are_exactly_the_prices_that_convert_into_the_range() {
        let r = rates();
        for display in ["USD", "EUR", "JPY", "BHD"] {
            let c = r.conversion(display).expect("rate");
            for currency in ["USD", "EUR", "GBP", "JPY", "CZK", "BHD"] {
                for (lo, hi) in [
                    (Some(2_500), Some(5_000)),
                    (Some(1), None),
                    (None, Some(99)),
                ] {
                    let Some((a, b)) = c.native_range(currency, lo, hi) else {
                        // Nothing converts into it: check a wide sweep.
                        assert!((0..200_000).all(|p| {
                            let v = c.convert(p, currency).expect("rate");
                            !(lo.is_none_or(|lo| v >= lo) && hi.is_none_or(|hi| v <= hi))
                        }));
                        continue;
                    };
                    for p in 0..200_000 {
                        let v = c.convert(p, currency).expect("rate");
                        let inside = lo.is_none_or(|lo| v >= lo) && hi.is_none_or(|hi| v <= hi);
                        let in_native = a.is_none_or(|a| p >= a) && b.is_none_or(|b| p <= b);
                        assert_eq!(
                            inside, in_native,
                            "{currency}->{display} {p} ({lo:?}, {hi:?})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn buckets_are_nice_numbers_in_the_display_currency() {
        assert_eq!(
            buckets(1.0),
            vec![
                (0, Some(25)),
                (25, Some(50)),
                (50, Some(100)),
                (100, Some(200)),
                (200, None)
            ]
        );
        assert_eq!(
            buckets(150.0),
            vec![
                (0, Some(5_000)),
                (5_000, Some(10_000)),
                (10_000, Some(20_000)),
                (20_000, Some(25_000)),
                (25_000, None)
            ]
        );
        let eur = buckets(0.92);
        assert_eq!(eur[0], (0, Some(25)));
        let usd = rates().conversion("USD").expect("USD has a rate");
        assert_eq!(usd.bucket_of(2_499), Some(0));
        assert_eq!(usd.bucket_of(2_500), Some(1));
        assert_eq!(usd.bucket_of(1_000_000), Some(4));
        assert_eq!(usd.bucket_range(1), (Some(2_500), Some(4_999)));
        assert_eq!(usd.bucket_range(0), (None, Some(2_499)));
    }

    #[test]
    fn a_country_names_its_currency() {
        assert_eq!(currency_of_country("GB"), Some("GBP"));
        assert_eq!(currency_of_country("DE"), Some("EUR"));
        assert_eq!(currency_of_country("JP"), Some("JPY"));
        assert_eq!(currency_of_country("ZZ"), None);
        assert!(countries_using("EUR").contains(&"IE".to_owned()));
        assert!(countries_using("GBP").contains(&"GB".to_owned()));
    }
}
