//! The fixed, mixed query set, drawn from the catalog with a seeded RNG.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio_postgres::Client;

/// One search, as a shopper would send it.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub text: Option<String>,
    pub cities: Vec<String>,
    pub categories: Vec<String>,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    /// Major units.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub available: bool,
    pub geo: Option<(f64, f64, f64)>,
    pub sort: Option<&'static str>,
}

/// Percent-encodes a query-string value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Query {
    pub fn http_query(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(t) = &self.text {
            parts.push(format!("q={}", encode(t)));
        }
        if !self.cities.is_empty() {
            parts.push(format!("city={}", encode(&self.cities.join(","))));
        }
        if !self.categories.is_empty() {
            parts.push(format!("category={}", self.categories.join(",")));
        }
        if let Some(d) = self.start {
            parts.push(format!("start={d}"));
        }
        if let Some(d) = self.end {
            parts.push(format!("end={d}"));
        }
        if let Some(p) = self.min_price {
            parts.push(format!("min_price={p}"));
        }
        if let Some(p) = self.max_price {
            parts.push(format!("max_price={p}"));
        }
        if self.available {
            parts.push("available=true".into());
        }
        if let Some((lat, lon, r)) = self.geo {
            parts.push(format!("lat={lat:.4}&lon={lon:.4}&radius_km={r}"));
        }
        if let Some(s) = self.sort {
            parts.push(format!("sort={s}"));
        }
        parts.join("&")
    }

    pub fn start_instant(&self) -> Option<DateTime<Utc>> {
        self.start
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    }

    pub fn end_instant(&self) -> Option<DateTime<Utc>> {
        self.end
            .and_then(|d| d.and_hms_opt(23, 59, 59))
            .map(|t| t.and_utc())
    }
}

/// A shopper's slip of the finger: two letters swapped or one dropped.
fn typo(rng: &mut ChaCha8Rng, word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 5 {
        return word.to_owned();
    }
    let i = rng.random_range(1..chars.len() - 1);
    let mut out = chars.clone();
    if rng.random_bool(0.5) {
        out.swap(i, i + 1);
    } else {
        out.remove(i);
    }
    out.into_iter().collect()
}

struct Sample {
    title: String,
    performer: String,
    city: String,
    category: String,
    starts_at: DateTime<Utc>,
}

const CATEGORIES: [&str; 5] = ["concert", "sports", "theatre", "comedy", "family"];

async fn samples(client: &Client) -> anyhow::Result<Vec<Sample>> {
    let rows = client
        .query(
            "select e.title, p.name, v.city, e.category, e.starts_at
             from events e
             join venues v using (venue_id)
             join event_performers ep on ep.event_id = e.event_id and ep.billing = 0
             join performers p using (performer_id)
             where e.status = 'scheduled' and e.event_id % 37 = 0
             order by e.event_id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Sample {
            title: r.get(0),
            performer: r.get(1),
            city: r.get(2),
            category: r.get(3),
            starts_at: r.get(4),
        })
        .collect())
}

async fn cities(client: &Client) -> anyhow::Result<Vec<(String, f64, f64)>> {
    let rows = client
        .query(
            "select city, avg(lat), avg(lon) from venues group by city order by city",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// `count` queries: keyword, keyword + filters, filters only, geo, in turn.
pub async fn query_set(client: &Client, count: usize, seed: u64) -> anyhow::Result<Vec<Query>> {
    let samples = samples(client).await?;
    let cities = cities(client).await?;
    anyhow::ensure!(
        !samples.is_empty() && !cities.is_empty(),
        "the catalog is empty"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let s = &samples[rng.random_range(0..samples.len())];
        let mut q = Query::default();
        match i % 4 {
            0 => {
                let text = if rng.random_bool(0.5) {
                    s.performer.clone()
                } else {
                    let words: Vec<&str> = s.title.split_whitespace().collect();
                    let n = rng.random_range(1..=words.len().min(3));
                    words[..n].join(" ")
                };
                q.text = Some(if rng.random_bool(0.25) {
                    text.split_whitespace()
                        .map(|w| typo(&mut rng, w))
                        .collect::<Vec<_>>()
                        .join(" ")
                } else {
                    text
                });
            }
            1 => {
                let last = s.performer.split_whitespace().last().unwrap_or("live");
                q.text = Some(last.to_owned());
                match rng.random_range(0..3) {
                    0 => q.cities = vec![s.city.clone()],
                    1 => q.categories = vec![s.category.clone()],
                    _ => {
                        let day = s.starts_at.date_naive();
                        q.start = Some(day - Duration::days(30));
                        q.end = Some(day + Duration::days(30));
                    }
                }
                q.available = rng.random_bool(0.5);
            }
            2 => {
                q.categories =
                    vec![(*CATEGORIES.choose(&mut rng).unwrap_or(&"concert")).to_owned()];
                if rng.random_bool(0.7) {
                    q.cities = vec![s.city.clone()];
                }
                let day = s.starts_at.date_naive();
                q.start = Some(day);
                q.end = Some(day + Duration::days(rng.random_range(7..90)));
                if rng.random_bool(0.5) {
                    q.min_price = Some(rng.random_range(0..5) * 20);
                    q.max_price = q.min_price.map(|p| p + 100);
                }
                q.sort = Some(["date", "price_asc", "popularity"][rng.random_range(0..3)]);
            }
            _ => {
                let (_, lat, lon) = &cities[rng.random_range(0..cities.len())];
                q.geo = Some((*lat, *lon, [10.0, 25.0, 50.0][rng.random_range(0..3)]));
                q.sort = Some("distance");
                if rng.random_bool(0.5) {
                    q.categories = vec![s.category.clone()];
                }
            }
        }
        out.push(q);
    }
    Ok(out)
}

/// What shoppers type into the search box: the first 2 to 8 letters of
/// performer names, titles, venues and cities.
pub async fn suggest_prefixes(
    client: &Client,
    count: usize,
    seed: u64,
) -> anyhow::Result<Vec<String>> {
    let samples = samples(client).await?;
    let cities = cities(client).await?;
    let venues: Vec<String> = client
        .query("select name from venues order by venue_id", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let s = &samples[rng.random_range(0..samples.len())];
        let name = match rng.random_range(0..4) {
            0 => s.performer.clone(),
            1 => s.title.clone(),
            2 => venues[rng.random_range(0..venues.len())].clone(),
            _ => cities[rng.random_range(0..cities.len())].0.clone(),
        };
        let n = rng.random_range(2..=8usize);
        out.push(name.chars().take(n).collect::<String>().trim().to_owned());
    }
    out.retain(|p| !p.is_empty());
    Ok(out)
}
