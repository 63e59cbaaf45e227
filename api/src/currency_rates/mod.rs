//! Exchange rates for comparing prices across currencies:
//! `GET /v1/currency-rates` (public) and `PUT /v1/admin/currency-rates`
//! (a catalog admin replaces the table).
//!
//! Search filters, sorts and buckets prices in one display currency
//! ([`search::money`]); this module owns the table that conversion reads.
//! A rate is units of a currency per US dollar. Each process keeps the
//! table in memory ([`RatesStore`]) and reloads it when it is older than
//! `RATES_REFRESH_MS` (default 30 s), and at once after its own write, so a
//! change reaches every api instance within that interval. The table's
//! version travels in every search answer and in the search caches' keys.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use auth::CatalogAdmin;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use problem::{ApiJson, Problem};
use search::Rates;
use search::money::{QUOTE_CURRENCY, minor_digits};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// Most currencies one table may hold.
pub const MAX_RATES: usize = 200;
/// Default `RATES_REFRESH_MS`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(30);

/// `/v1/currency-rates` and `/v1/admin/currency-rates`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_rates))
        .routes(routes!(put_rates))
}

/// The rates table as this process last read it.
#[derive(Debug, Clone)]
pub struct RatesStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    refresh: Duration,
    current: RwLock<Option<(Instant, Arc<Snapshot>)>>,
    reload: tokio::sync::Mutex<()>,
}

/// One read of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub rates: Rates,
    pub updated_at: DateTime<Utc>,
}

impl RatesStore {
    pub fn new(pool: PgPool, refresh: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                refresh,
                current: RwLock::new(None),
                reload: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn fresh(&self) -> Option<Arc<Snapshot>> {
        let current = self.inner.current.read().ok()?;
        let (at, snapshot) = current.as_ref()?;
        (at.elapsed() < self.inner.refresh).then(|| snapshot.clone())
    }

    fn last(&self) -> Option<Arc<Snapshot>> {
        let current = self.inner.current.read().ok()?;
        current.as_ref().map(|(_, s)| s.clone())
    }

    /// The table, read again when older than the refresh interval. When
    /// Postgres cannot answer, the last table read serves (stale prices
    /// beat a failed search); with none, the error.
    pub async fn current(&self) -> Result<Arc<Snapshot>, sqlx::Error> {
        if let Some(s) = self.fresh() {
            return Ok(s);
        }
        let _one_reader = self.inner.reload.lock().await;
        if let Some(s) = self.fresh() {
            return Ok(s);
        }
        match load(&self.inner.pool).await {
            Ok(snapshot) => {
                let snapshot = Arc::new(snapshot);
                if let Ok(mut current) = self.inner.current.write() {
                    *current = Some((Instant::now(), snapshot.clone()));
                }
                Ok(snapshot)
            }
            Err(e) => match self.last() {
                Some(last) => {
                    tracing::warn!(error = %e, "could not reload the currency rates; using the last ones");
                    Ok(last)
                }
                None => Err(e),
            },
        }
    }

    /// Forgets the table, so the next read loads it.
    pub fn invalidate(&self) {
        if let Ok(mut current) = self.inner.current.write() {
            *current = None;
        }
    }
}

async fn load(pool: &PgPool) -> Result<Snapshot, sqlx::Error> {
    let (version, updated_at, per_usd): (
        i64,
        DateTime<Utc>,
        sqlx::types::Json<BTreeMap<String, f64>>,
    ) = sqlx::query_as(
        "select v.version, v.updated_at,
                    coalesce((select jsonb_object_agg(currency, per_usd) from currency_rates), '{}')
               from currency_rates_version v",
    )
    .fetch_one(pool)
    .await?;
    Ok(Snapshot {
        rates: Rates {
            version,
            per_usd: per_usd.0,
        },
        updated_at,
    })
}

/// The exchange-rates table.
#[derive(Debug, Serialize, ToSchema)]
pub struct RatesView {
    /// Names this table; it changes with every replacement.
    pub version: i64,
    /// The currency rates are quoted against: always `USD`.
    #[schema(example = "USD")]
    pub quote: &'static str,
    /// Units of each currency (ISO 4217) per US dollar.
    #[schema(example = json!({"USD": 1.0, "EUR": 0.92, "JPY": 150.0}))]
    pub rates: BTreeMap<String, f64>,
    pub updated_at: DateTime<Utc>,
}

impl RatesView {
    fn of(s: &Snapshot) -> Self {
        Self {
            version: s.rates.version,
            quote: QUOTE_CURRENCY,
            rates: s.rates.per_usd.clone(),
            updated_at: s.updated_at,
        }
    }
}

/// A replacement exchange-rates table.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRates {
    /// Units of each currency (ISO 4217, upper case) per US dollar: above 0
    /// and below 1e9. `USD`, if given, is 1; it is always stored as 1.
    #[schema(example = json!({"EUR": 0.92, "GBP": 0.79, "JPY": 150.0}))]
    pub rates: BTreeMap<String, f64>,
}

impl NewRates {
    #[expect(
        clippy::result_large_err,
        reason = "a Problem is built at most once per request, on the way out"
    )]
    fn validate(mut self) -> Result<BTreeMap<String, f64>, Problem> {
        if self.rates.len() > MAX_RATES {
            return Err(Problem::invalid_field(
                "rates",
                format!("at most {MAX_RATES} currencies"),
            ));
        }
        for (code, &rate) in &self.rates {
            let field = format!("rates.{code}");
            let is_code = code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase());
            if !is_code || minor_digits(code).is_none() {
                return Err(Problem::invalid_field(
                    field,
                    format!("{code:?} is not an ISO 4217 currency code"),
                ));
            }
            if !(rate.is_finite() && rate > 0.0 && rate < 1e9) {
                return Err(Problem::invalid_field(
                    field,
                    "must be a number above 0 and below 1000000000",
                ));
            }
            if code == QUOTE_CURRENCY && rate != 1.0 {
                return Err(Problem::invalid_field(
                    field,
                    "rates are per US dollar, so USD is 1",
                ));
            }
        }
        self.rates.insert(QUOTE_CURRENCY.to_owned(), 1.0);
        Ok(self.rates)
    }
}

fn view_response(s: &Snapshot, cache_control: &'static str) -> Response {
    let mut response = Json(RatesView::of(s)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    response
}

/// The exchange rates.
///
/// What search uses to compare prices in a display currency: units of each
/// currency per US dollar, and the table's version. Public, cached for a
/// minute.
#[utoipa::path(get, path = "/v1/currency-rates", tag = "search",
    responses(
        (status = 200, description = "The rates table.", body = RatesView),
        ApiError,
    ))]
pub async fn get_rates(State(state): State<AppState>) -> ApiResult<Response> {
    let snapshot = state.rates.current().await?;
    Ok(view_response(&snapshot, "public, max-age=60"))
}

/// Replace the exchange rates.
///
/// The whole table at once, in one transaction that bumps its version;
/// currencies left out lose their rate (their events then match no price
/// filter and sort last by price). Search answers use the new table within
/// `RATES_REFRESH_MS` on every api instance. In the admin audit log.
#[utoipa::path(put, path = "/v1/admin/currency-rates", tag = "search",
    security(("bearer" = [])),
    request_body = NewRates,
    responses(
        (status = 200, description = "The new table.", body = RatesView),
        CatalogAdmin, ApiJson<NewRates>, ApiError,
    ))]
pub async fn put_rates(
    State(state): State<AppState>,
    _admin: CatalogAdmin,
    ApiJson(body): ApiJson<NewRates>,
) -> ApiResult<Response> {
    let rates = body.validate()?;
    let (codes, values): (Vec<String>, Vec<f64>) = rates.into_iter().unzip();
    let mut tx = state.ctx.pool.begin().await?;
    // One writer at a time: the version row's lock orders replacements.
    sqlx::query("select version from currency_rates_version for update")
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from currency_rates")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into currency_rates (currency, per_usd)
         select * from unnest($1::text[], $2::float8[])",
    )
    .bind(&codes)
    .bind(&values)
    .execute(&mut *tx)
    .await?;
    sqlx::query("update currency_rates_version set version = version + 1")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    state.rates.invalidate();
    let snapshot = state.rates.current().await?;
    Ok(view_response(&snapshot, "no-store"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(pairs: &[(&str, f64)]) -> NewRates {
        NewRates {
            rates: pairs.iter().map(|&(c, r)| (c.to_owned(), r)).collect(),
        }
    }

    #[test]
    fn validation_names_the_currency_at_fault() {
        let field = |r: NewRates| r.validate().expect_err("invalid").field;
        assert_eq!(field(new(&[("eur", 0.9)])).as_deref(), Some("rates.eur"));
        assert_eq!(field(new(&[("ABC", 0.9)])).as_deref(), Some("rates.ABC"));
        assert_eq!(field(new(&[("EUR", 0.0)])).as_deref(), Some("rates.EUR"));
        assert_eq!(
            field(new(&[("EUR", f64::NAN)])).as_deref(),
            Some("rates.EUR")
        );
        assert_eq!(field(new(&[("USD", 2.0)])).as_deref(), Some("rates.USD"));
        let ok = new(&[("EUR", 0.92), ("JPY", 150.0)])
            .validate()
            .expect("valid");
        assert_eq!(
            ok.get("USD"),
            Some(&1.0),
            "the quote currency is always there"
        );
        assert_eq!(ok.len(), 3);
    }
}
