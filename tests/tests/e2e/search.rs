//! The search conformance suite: the same cases against embedded tantivy,
//! always, and against Elasticsearch whenever `ES_URL` is set.
//!
//! Catalog cases index the fixture catalog (`e2e::search_catalog`) through
//! the real rebuild and check the answers against SQL over the same rows.
//! Hand-made cases write documents directly to test relevance, typos,
//! prefixes, deletes and versioning.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use e2e::{TestDb, search_catalog};
use search::elastic::ElasticIndex;
use search::rebuild::{self, Target};
use search::tantivy_backend::TantivyIndex;
use search::{
    EventDoc, FacetCount, GeoFilter, IndexOp, PerformerRef, SearchIndex, SearchQuery, Sort,
    SuggestionKind,
};

#[derive(Debug, Clone, Copy)]
enum Backend {
    Tantivy,
    Elastic,
}

/// An index under test and what it needs to live.
struct Under {
    index: Arc<dyn SearchIndex>,
    target: Target,
    es: Option<ElasticIndex>,
    _dir: Option<tempfile::TempDir>,
}

impl Under {
    async fn cleanup(self) {
        if let Some(es) = self.es {
            es.delete_all().await.expect("delete test indices");
        }
    }
}

fn es_url() -> Option<String> {
    std::env::var("ES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// An empty, writable index; `None` (with the reason printed) when the
/// backend is not available here.
async fn empty_index(backend: Backend) -> Option<Under> {
    match backend {
        Backend::Tantivy => {
            let dir = tempfile::tempdir().expect("temp dir");
            let index = TantivyIndex::open_writer(dir.path()).expect("tantivy opens");
            Some(Under {
                index: Arc::new(index),
                target: Target::Tantivy(dir.path().to_owned()),
                es: None,
                _dir: Some(dir),
            })
        }
        Backend::Elastic => {
            let Some(url) = es_url() else {
                eprintln!(
                    "skipped: ES_URL is not set, so the Elasticsearch run of this case did not happen"
                );
                return None;
            };
            let alias = format!("test-{}", uuid::Uuid::new_v4().simple());
            let es = ElasticIndex::new(&url, &alias).expect("ES client");
            es.create_empty().await.expect("create test index");
            Some(Under {
                index: Arc::new(es.clone()),
                target: Target::Elastic(es.clone()),
                es: Some(es),
                _dir: None,
            })
        }
    }
}

/// The fixture catalog in a fresh database, indexed by a real rebuild.
async fn catalog_index(backend: Backend) -> Option<(TestDb, Under)> {
    if matches!(backend, Backend::Elastic) && es_url().is_none() {
        eprintln!(
            "skipped: ES_URL is not set, so the Elasticsearch run of this case did not happen"
        );
        return None;
    }
    let db = TestDb::migrated().await;
    search_catalog::load(&db.pool).await;
    let under = empty_index(backend).await?;
    let mut client = db.tokio_postgres().await;
    let report = rebuild::rebuild(&mut client, &under.target)
        .await
        .expect("rebuild");
    // A writer switches to a published generation when told to.
    under.index.reopen().await.expect("reopen");
    assert_eq!(report.documents, expected_documents(&db).await);
    wait_for_total(&*under.index, report.documents).await;
    Some((db, under))
}

async fn expected_documents(db: &TestDb) -> u64 {
    let n: i64 = sqlx::query_scalar("select count(*) from events where status = 'scheduled'")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    n as u64
}

/// Readers pick up a new generation within a fraction of a second.
async fn wait_for_total(index: &dyn SearchIndex, total: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = index.search(&SearchQuery::all()).await.map(|r| r.total);
        if seen.as_ref().ok() == Some(&total) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "index never showed {total} documents (last: {seen:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run(
    index: &dyn SearchIndex,
    edit: impl FnOnce(&mut SearchQuery),
) -> search::SearchResults {
    let mut q = SearchQuery::all();
    edit(&mut q);
    index.search(&q).await.expect("search")
}

fn ids(r: &search::SearchResults) -> Vec<i64> {
    r.hits.iter().map(|h| h.event_id).collect()
}

/// Ground truth: one row per searchable event, computed in SQL.
const TRUTH: &str = "
with truth as (
    select e.event_id, e.category, e.genre, e.starts_at, e.popularity,
           v.venue_id, v.city, v.country, v.lat, v.lon,
           (select min(price_cents) from ticket_types t where t.event_id = e.event_id) as min_price,
           (select min(currency) from ticket_types t where t.event_id = e.event_id) as currency,
           (select coalesce(sum(capacity - held - sold), 0) from ga_inventory g
             where g.event_id = e.event_id) as available,
           array(select performer_id from event_performers p where p.event_id = e.event_id) as performers
    from events e join venues v using (venue_id)
    where e.status = 'scheduled'
)";

async fn sql_count(db: &TestDb, condition: &str) -> u64 {
    let n: i64 = sqlx::query_scalar(&format!(
        "{TRUTH} select count(*) from truth where {condition}"
    ))
    .fetch_one(&db.pool)
    .await
    .unwrap_or_else(|e| panic!("truth query for {condition}: {e}"));
    n as u64
}

async fn sql_ids(db: &TestDb, condition: &str, order: &str, limit: i64) -> Vec<i64> {
    sqlx::query_scalar(&format!(
        "{TRUTH} select event_id from truth where {condition} order by {order} limit {limit}"
    ))
    .fetch_all(&db.pool)
    .await
    .expect("truth ids")
}

/// `value -> count` from SQL, for a facet expression.
async fn sql_facet(db: &TestDb, expr: &str, condition: &str) -> BTreeMap<String, u64> {
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "{TRUTH} select ({expr})::text, count(*) from truth where {condition} group by 1"
    ))
    .fetch_all(&db.pool)
    .await
    .expect("truth facet");
    rows.into_iter().map(|(k, n)| (k, n as u64)).collect()
}

fn as_map(counts: &[FacetCount]) -> BTreeMap<String, u64> {
    counts.iter().map(|c| (c.value.clone(), c.count)).collect()
}

const PRICE_BUCKET_SQL: &str = "case when min_price < 2500 then '0-25' when min_price < 5000 then '25-50' \
    when min_price < 10000 then '50-100' when min_price < 20000 then '100-200' else '200+' end";
const MONTH_SQL: &str = "to_char(starts_at at time zone 'UTC', 'YYYY-MM')";

fn price_map(r: &search::SearchResults) -> BTreeMap<String, u64> {
    r.facets
        .price
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| (b.key.clone(), b.count))
        .collect()
}

// ---------------------------------------------------------------- cases

async fn filters_match_sql(backend: Backend) {
    let Some((db, under)) = catalog_index(backend).await else {
        return;
    };
    let idx = &*under.index;
    let start = Utc
        .with_ymd_and_hms(2027, 3, 1, 0, 0, 0)
        .single()
        .expect("date");
    let end = Utc
        .with_ymd_and_hms(2027, 5, 31, 23, 59, 59)
        .single()
        .expect("date");
    type Case = (&'static str, Box<dyn FnOnce(&mut SearchQuery)>, String);
    let cases: Vec<Case> = vec![
        (
            "city",
            Box::new(|q| q.cities = vec!["London".into()]),
            "city = 'London'".into(),
        ),
        (
            "two cities",
            Box::new(|q| q.cities = vec!["Paris".into(), "Boston".into()]),
            "city in ('Paris', 'Boston')".into(),
        ),
        (
            "country",
            Box::new(|q| q.countries = vec!["US".into()]),
            "country = 'US'".into(),
        ),
        (
            "category",
            Box::new(|q| q.categories = vec!["comedy".into(), "family".into()]),
            "category in ('comedy', 'family')".into(),
        ),
        (
            "genre",
            Box::new(|q| q.genres = vec!["pop".into()]),
            "genre = 'pop'".into(),
        ),
        (
            "venue",
            Box::new(|q| q.venue_ids = vec![3]),
            "venue_id = 3".into(),
        ),
        (
            "performer",
            Box::new(|q| q.performer_ids = vec![2]),
            "2 = any(performers)".into(),
        ),
        (
            "price",
            Box::new(|q| {
                q.min_price_cents = Some(10_000);
                q.max_price_cents = Some(20_000);
            }),
            "min_price between 10000 and 20000".into(),
        ),
        (
            "available",
            Box::new(|q| q.available_only = true),
            "available > 0".into(),
        ),
        (
            "dates",
            Box::new(move |q| {
                q.start = Some(start);
                q.end = Some(end);
            }),
            format!(
                "starts_at between '{}' and '{}'",
                start.to_rfc3339(),
                end.to_rfc3339()
            ),
        ),
        (
            "combined",
            Box::new(|q| {
                q.cities = vec!["London".into()];
                q.categories = vec!["concert".into()];
                q.available_only = true;
            }),
            "city = 'London' and category = 'concert' and available > 0".into(),
        ),
    ];
    for (name, edit, condition) in cases {
        let mut q = SearchQuery::all();
        edit(&mut q);
        q.size = 100;
        let mut got = Vec::new();
        let mut total = None;
        for page in 1..=3 {
            q.page = page;
            let r = idx.search(&q).await.expect("search");
            total = Some(r.total);
            got.extend(ids(&r));
        }
        let expected = sql_count(&db, &condition).await;
        assert!(
            expected > 0,
            "{name}: the fixture should have matches for {condition}"
        );
        assert_eq!(total, Some(expected), "{name}: total for {condition}");
        got.sort_unstable();
        assert_eq!(
            got,
            sql_ids(&db, &condition, "event_id", 1_000).await,
            "{name}: ids"
        );
    }
    under.cleanup().await;
}

async fn facets_match_sql_and_are_multi_select(backend: Backend) {
    let Some((db, under)) = catalog_index(backend).await else {
        return;
    };
    let idx = &*under.index;

    let all = run(idx, |_| {}).await;
    assert_eq!(
        as_map(&all.facets.category),
        sql_facet(&db, "category", "true").await
    );
    assert_eq!(
        as_map(&all.facets.genre),
        sql_facet(&db, "genre", "true").await
    );
    assert_eq!(
        as_map(&all.facets.city),
        sql_facet(&db, "city", "true").await
    );
    assert_eq!(
        price_map(&all),
        sql_facet(&db, PRICE_BUCKET_SQL, "true").await
    );
    assert_eq!(
        as_map(&all.facets.month),
        sql_facet(&db, MONTH_SQL, "true").await
    );
    let months: Vec<&str> = all.facets.month.iter().map(|m| m.value.as_str()).collect();
    let mut sorted = months.clone();
    sorted.sort_unstable();
    assert_eq!(months, sorted, "months are chronological");

    // Narrowing by category leaves the category facet as it was (so the
    // user can add a second category) and narrows every other facet.
    let comedy = run(idx, |q| q.categories = vec!["comedy".into()]).await;
    assert_eq!(comedy.facets.category, all.facets.category);
    assert_eq!(
        as_map(&comedy.facets.genre),
        sql_facet(&db, "genre", "category = 'comedy'").await
    );
    assert_eq!(
        as_map(&comedy.facets.city),
        sql_facet(&db, "city", "category = 'comedy'").await
    );
    assert_eq!(comedy.total, sql_count(&db, "category = 'comedy'").await);

    // Two facets narrowed: each counts with the other's filter only.
    let both = run(idx, |q| {
        q.categories = vec!["concert".into()];
        q.cities = vec!["London".into()];
        q.min_price_cents = Some(5_000);
    })
    .await;
    let cond = "min_price >= 5000";
    assert_eq!(
        as_map(&both.facets.category),
        sql_facet(&db, "category", &format!("city = 'London' and {cond}")).await
    );
    assert_eq!(
        as_map(&both.facets.city),
        sql_facet(&db, "city", &format!("category = 'concert' and {cond}")).await
    );
    assert_eq!(
        price_map(&both),
        sql_facet(
            &db,
            PRICE_BUCKET_SQL,
            "category = 'concert' and city = 'London'"
        )
        .await
    );
    assert_eq!(
        as_map(&both.facets.month),
        sql_facet(
            &db,
            MONTH_SQL,
            &format!("category = 'concert' and city = 'London' and {cond}")
        )
        .await
    );
    assert_eq!(
        both.total,
        sql_count(
            &db,
            &format!("category = 'concert' and city = 'London' and {cond}")
        )
        .await
    );
    under.cleanup().await;
}

async fn sorts_order_results(backend: Backend) {
    let Some((db, under)) = catalog_index(backend).await else {
        return;
    };
    let idx = &*under.index;
    for (sort, order) in [
        (Sort::Date, "starts_at, event_id"),
        (Sort::PriceAsc, "min_price, event_id"),
        (Sort::PriceDesc, "min_price desc, event_id"),
        (Sort::Popularity, "popularity desc, event_id"),
        (Sort::Relevance, "popularity desc, event_id"),
    ] {
        let r = run(idx, |q| {
            q.sort = sort;
            q.size = 30;
        })
        .await;
        assert_eq!(
            ids(&r),
            sql_ids(&db, "true", order, 30).await,
            "sort {sort:?}"
        );
    }
    // Text relevance: every hit matches, the best match first.
    let r = run(idx, |q| q.text = Some("metallica".into())).await;
    assert!(r.total > 0);
    assert!(r.hits[0].performers.iter().any(|p| p.name == "Metallica"));
    under.cleanup().await;
}

/// The rates the migration seeds, as search reads them.
async fn seeded_rates(db: &TestDb) -> search::Rates {
    let rows: Vec<(String, f64)> = sqlx::query_as("select currency, per_usd from currency_rates")
        .fetch_all(&db.pool)
        .await
        .expect("rates");
    search::Rates {
        version: 1,
        per_usd: rows.into_iter().collect(),
    }
}

/// `truth` joined with each currency's factor into `display`, as a SQL
/// prefix: `price_key` is `min_price * factor` (the sort key, the same
/// float8 product), `converted` rounds it half away from zero. Events whose
/// currency has no factor have neither.
fn converted_truth(prices: &search::PriceConversion) -> String {
    let values: Vec<String> = prices
        .factors
        .iter()
        .map(|(c, f)| format!("('{c}', {f:e}::float8)"))
        .collect();
    format!(
        "{TRUTH}, factors(currency, factor) as (values {}),
         priced as (
           select truth.*, min_price * factor as price_key,
                  floor(min_price * factor + 0.5)::bigint as converted
             from truth left join factors using (currency))",
        values.join(", ")
    )
}

/// Prices compared in a display currency: sorting, a price range and the
/// buckets agree with SQL over the same factors, in a currency with no
/// minor units (JPY) and with a currency left out of the rates table.
async fn prices_in_a_display_currency_match_sql(backend: Backend) {
    let Some((db, under)) = catalog_index(backend).await else {
        return;
    };
    let idx = &*under.index;
    let mut rates = seeded_rates(&db).await;
    for (display, drop) in [("JPY", None), ("GBP", None), ("USD", Some("GBP"))] {
        if let Some(code) = drop {
            rates.per_usd.remove(code);
        }
        let prices = rates
            .conversion(display)
            .expect("display currency has a rate");
        let truth = converted_truth(&prices);
        let sql_ids = |condition: String, order: &'static str| {
            let sql = format!(
                "{truth} select event_id from priced where {condition} order by {order} limit 30"
            );
            let pool = db.pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(&sql)
                    .fetch_all(&pool)
                    .await
                    .expect("truth")
            }
        };
        for (sort, order) in [
            (Sort::PriceAsc, "price_key nulls last, event_id"),
            (Sort::PriceDesc, "price_key desc nulls last, event_id"),
        ] {
            let r = run(idx, |q| {
                q.sort = sort;
                q.size = 30;
                q.prices = Some(prices.clone());
            })
            .await;
            assert_eq!(
                ids(&r),
                sql_ids("true".into(), order).await,
                "{display} {sort:?}"
            );
        }
        // A range of one bucket's width in the middle of the prices.
        let (lo, hi) = prices.bucket_range(2);
        let r = run(idx, |q| {
            q.min_price_cents = lo;
            q.max_price_cents = hi;
            q.sort = Sort::PriceAsc;
            q.size = 30;
            q.prices = Some(prices.clone());
        })
        .await;
        let condition = format!(
            "converted >= {} and converted <= {}",
            lo.unwrap_or(0),
            hi.unwrap_or(i64::MAX)
        );
        let count: i64 = sqlx::query_scalar(&format!(
            "{truth} select count(*) from priced where {condition}"
        ))
        .fetch_one(&db.pool)
        .await
        .expect("truth count");
        assert!(
            count > 0,
            "{display}: the range {lo:?}..{hi:?} holds events"
        );
        assert_eq!(r.total, count as u64, "{display} range total");
        assert_eq!(
            ids(&r),
            sql_ids(condition, "price_key, event_id").await,
            "{display} range hits"
        );
        // The buckets, keyed as the backend keys them.
        let unit = 10i64.pow(prices.display_digits);
        let cases: Vec<String> = prices
            .buckets
            .iter()
            .map(|&(from, to)| {
                let key = search::PriceBucket::key_for(from, to);
                match to {
                    Some(to) => format!("when converted < {} then '{key}'", to * unit),
                    None => format!("else '{key}'"),
                }
            })
            .collect();
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "{truth} select case {} end, count(*) from priced where converted is not null group by 1",
            cases.join(" ")
        ))
        .fetch_all(&db.pool)
        .await
        .expect("truth buckets");
        let expected: BTreeMap<String, u64> =
            rows.into_iter().map(|(k, n)| (k, n as u64)).collect();
        let r = run(idx, |q| q.prices = Some(prices.clone())).await;
        assert_eq!(price_map(&r), expected, "{display} buckets");
    }
    under.cleanup().await;
}

async fn geo_radius_and_distance_order(backend: Backend) {
    let Some((db, under)) = catalog_index(backend).await else {
        return;
    };
    let idx = &*under.index;
    let (lat, lon) = (51.5074, -0.1278); // Trafalgar Square
    for radius in [5.0, 20.0, 400.0, 1_000.0] {
        let r = run(idx, |q| {
            q.geo = Some(GeoFilter {
                lat,
                lon,
                radius_km: Some(radius),
            });
            q.sort = Sort::Distance;
            q.size = 100;
        })
        .await;
        let condition = format!(
            "2 * 6371.0088 * asin(sqrt(power(sin(radians(lat - {lat}) / 2), 2) + cos(radians({lat})) * cos(radians(lat)) * power(sin(radians(lon - ({lon})) / 2), 2))) <= {radius}"
        );
        assert_eq!(r.total, sql_count(&db, &condition).await, "radius {radius}");
        let d: Vec<f64> = r
            .hits
            .iter()
            .map(|h| h.distance_km.expect("distance"))
            .collect();
        assert!(
            d.windows(2).all(|w| w[0] <= w[1] + 1e-9),
            "nearest first: {d:?}"
        );
        assert!(d.iter().all(|&x| x <= radius));
    }
    let near = run(idx, |q| {
        q.geo = Some(GeoFilter {
            lat,
            lon,
            radius_km: Some(5.0),
        });
    })
    .await;
    assert!(
        near.hits.iter().all(|h| h.venue.id == 1),
        "only the Royal Albert Hall is within 5 km"
    );
    under.cleanup().await;
}

async fn paging_is_stable(backend: Backend) {
    let Some((_db, under)) = catalog_index(backend).await else {
        return;
    };
    let idx = &*under.index;
    let whole = run(idx, |q| {
        q.sort = Sort::Date;
        q.size = 35;
    })
    .await;
    let mut paged = Vec::new();
    for page in 1..=5 {
        let r = run(idx, |q| {
            q.sort = Sort::Date;
            q.size = 7;
            q.page = page;
        })
        .await;
        assert_eq!(r.total, whole.total);
        paged.extend(ids(&r));
    }
    assert_eq!(paged, ids(&whole));
    let beyond = run(idx, |q| {
        q.size = 100;
        q.page = 50;
    })
    .await;
    assert!(beyond.hits.is_empty());
    assert_eq!(beyond.total, whole.total);
    under.cleanup().await;
}

async fn a_rebuild_swaps_in_a_new_index_that_readers_follow(backend: Backend) {
    let Some((db, under)) = catalog_index(backend).await else {
        return;
    };
    sqlx::query("update events set title = 'Zanzibar Moonlight Gala' where event_id = 1")
        .execute(&db.pool)
        .await
        .expect("update");
    sqlx::query("update events set status = 'cancelled' where event_id = 2")
        .execute(&db.pool)
        .await
        .expect("cancel");
    let before = run(&*under.index, |_| {}).await.total;
    let mut client = db.tokio_postgres().await;
    rebuild::rebuild(&mut client, &under.target)
        .await
        .expect("rebuild");
    // A read-only handle follows by itself; the writer when told to.
    if let Target::Tantivy(dir) = &under.target {
        wait_for_total(&TantivyIndex::open_reader(dir), before - 1).await;
    }
    under.index.reopen().await.expect("reopen");
    wait_for_total(&*under.index, before - 1).await;
    let r = run(&*under.index, |q| q.text = Some("zanzibar".into())).await;
    assert_eq!(ids(&r), [1]);
    under.cleanup().await;
}

fn doc(id: i64, title: &str, performer: &str, description: &str) -> EventDoc {
    EventDoc {
        event_id: id,
        title: title.into(),
        description: description.into(),
        category: "concert".into(),
        genre: "rock".into(),
        performers: vec![PerformerRef {
            id: id * 100,
            name: performer.into(),
        }],
        venue_id: 7,
        venue_name: "Brixton Academy".into(),
        city: "London".into(),
        country: "GB".into(),
        lat: 51.465,
        lon: -0.115,
        starts_at: Utc
            .with_ymd_and_hms(2027, 6, 1, 19, 0, 0)
            .single()
            .expect("date"),
        min_price_cents: 5_000,
        max_price_cents: 9_000,
        currency: "GBP".into(),
        available_tickets: 100,
        sold_out: false,
        popularity: 10.0,
    }
}

fn upsert(version: u64, d: EventDoc) -> IndexOp {
    IndexOp::Upsert {
        version,
        doc: Box::new(d),
    }
}

async fn handmade(backend: Backend) -> Option<Under> {
    let under = empty_index(backend).await?;
    let docs = vec![
        upsert(
            1,
            doc(1, "Metallica: M72 World Tour", "Metallica", "Heavy metal."),
        ),
        upsert(
            1,
            doc(
                2,
                "Symphony Night",
                "City Orchestra",
                "The orchestra plays Metallica covers.",
            ),
        ),
        upsert(1, doc(3, "Adele Live", "Adele", "Ballads.")),
        upsert(
            1,
            doc(4, "Rolling Stones Tribute", "The Rolling Stones", "Rock."),
        ),
        upsert(1, doc(5, "Jazz Brunch", "Blue Notes", "Jazz & more.")),
    ];
    let report = under.index.apply(docs).await.expect("apply");
    assert_eq!(report.applied, 5);
    under.index.commit().await.expect("commit");
    Some(under)
}

async fn text_relevance_typos_prefixes_highlights(backend: Backend) {
    let Some(under) = handmade(backend).await else {
        return;
    };
    let idx = &*under.index;
    let text = |t: &'static str| move |q: &mut SearchQuery| q.text = Some(t.into());

    // An exact title beats a description mention.
    let r = run(idx, text("metallica")).await;
    assert_eq!(ids(&r), [1, 2]);
    assert_eq!(
        r.hits[0].highlights.title.as_deref(),
        Some("<em>Metallica</em>: M72 World Tour")
    );
    assert_eq!(r.hits[0].highlights.performers, ["<em>Metallica</em>"]);
    // A misspelled performer is still found.
    assert_eq!(ids(&run(idx, text("metalica")).await)[0], 1);
    assert_eq!(ids(&run(idx, text("adle")).await), [3]);
    // The last word is a prefix.
    assert_eq!(ids(&run(idx, text("metall")).await)[0], 1);
    assert_eq!(ids(&run(idx, text("rolling sto")).await), [4]);
    // Every word must match somewhere; venue and city are searched too.
    assert!(run(idx, text("adele zzzzqqq")).await.hits.is_empty());
    assert_eq!(run(idx, text("brixton")).await.total, 5);
    assert_eq!(run(idx, text("london jazz")).await.hits[0].event_id, 5);
    // Markup in the data is escaped in highlights.
    assert_eq!(
        run(idx, text("jazz")).await.hits[0]
            .highlights
            .title
            .as_deref(),
        Some("<em>Jazz</em> Brunch")
    );

    let s = idx.suggest("metalica", 10).await.expect("suggest");
    assert!(
        s.iter()
            .any(|s| s.kind == SuggestionKind::Performer && s.text == "Metallica"),
        "{s:?}"
    );
    let s = idx.suggest("lond", 10).await.expect("suggest");
    assert!(
        s.iter()
            .any(|s| s.kind == SuggestionKind::City && s.text == "London"),
        "{s:?}"
    );
    let s = idx.suggest("rolling st", 10).await.expect("suggest");
    assert!(s.len() <= 10);
    assert!(
        s.iter()
            .any(|s| s.kind == SuggestionKind::Event && s.text == "Rolling Stones Tribute"),
        "{s:?}"
    );
    assert!(idx.suggest("   ", 10).await.expect("suggest").is_empty());
    under.cleanup().await;
}

async fn deletes_and_versions_converge(backend: Backend) {
    let Some(under) = handmade(backend).await else {
        return;
    };
    let idx = &*under.index;
    let find = |t: &'static str| move |q: &mut SearchQuery| q.text = Some(t.into());
    let apply = |ops: Vec<IndexOp>| async move {
        let r = idx.apply(ops).await.expect("apply");
        idx.commit().await.expect("commit");
        r
    };

    // A newer version replaces; an older one never does.
    assert_eq!(
        apply(vec![upsert(
            10,
            doc(1, "Metallica Reloaded", "Metallica", "")
        )])
        .await
        .applied,
        1
    );
    let r = apply(vec![upsert(5, doc(1, "Metallica Stale", "Metallica", ""))]).await;
    assert_eq!((r.applied, r.stale), (0, 1));
    assert_eq!(
        run(idx, find("metallica")).await.hits[0].title,
        "Metallica Reloaded"
    );

    // A stale delete is ignored; a newer one removes the event.
    assert_eq!(
        apply(vec![IndexOp::Delete {
            version: 8,
            event_id: 1
        }])
        .await
        .stale,
        1
    );
    assert_eq!(
        apply(vec![IndexOp::Delete {
            version: 11,
            event_id: 1
        }])
        .await
        .applied,
        1
    );
    assert_eq!(ids(&run(idx, find("metallica")).await), [2]);
    assert_eq!(run(idx, |_| {}).await.total, 4);
    // The delete is remembered: a late, older upsert does not resurrect it.
    assert_eq!(
        apply(vec![upsert(9, doc(1, "Metallica Zombie", "Metallica", ""))])
            .await
            .stale,
        1
    );
    assert!(run(idx, find("zombie")).await.hits.is_empty());
    // A newer upsert brings it back.
    apply(vec![upsert(
        12,
        doc(1, "Metallica Returns", "Metallica", ""),
    )])
    .await;
    assert_eq!(run(idx, find("returns")).await.hits[0].event_id, 1);

    // Within one batch the newest version of an event wins, whatever the order.
    apply(vec![
        upsert(21, doc(3, "Adele Second", "Adele", "")),
        upsert(20, doc(3, "Adele First", "Adele", "")),
    ])
    .await;
    assert_eq!(run(idx, find("adele")).await.hits[0].title, "Adele Second");
    // Deleting an event the index never had is fine.
    assert_eq!(
        apply(vec![IndexOp::Delete {
            version: 3,
            event_id: 999
        }])
        .await
        .stale,
        0
    );
    assert_eq!(run(idx, |_| {}).await.total, 5);
    under.cleanup().await;
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod tantivy {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::Tantivy).await;
                }
            )*
        }
        mod elasticsearch {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::Elastic).await;
                }
            )*
        }
    };
}

conformance!(
    filters_match_sql,
    facets_match_sql_and_are_multi_select,
    sorts_order_results,
    prices_in_a_display_currency_match_sql,
    geo_radius_and_distance_order,
    paging_is_stable,
    a_rebuild_swaps_in_a_new_index_that_readers_follow,
    text_relevance_typos_prefixes_highlights,
    deletes_and_versions_converge,
);
