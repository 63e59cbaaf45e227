//! The reference: the same query set as Postgres full-text search.
//!
//! A table holds the same denormalized documents the search index gets
//! (built by the same SQL), with a weighted `tsvector` (title A, performers
//! B, venue and city C, description D, `simple` configuration) under a GIN
//! index and b-tree indexes on the filter columns. A search is seven
//! statements pipelined in one round trip: the page, the total, and one
//! GROUP BY per facet with every filter but the facet's own (multi-select,
//! as the index does). Prefix matching applies to the last word; Postgres
//! full-text search has no typo tolerance, so the reference does less work
//! than the index on misspelled queries.

use std::collections::HashMap;

use futures_util::future::try_join_all;
use tokio::sync::Mutex;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Statement};

use crate::queries::Query;

/// Builds the reference table from the catalog unless it is there already
/// (or `rebuild` asks for a fresh one).
pub async fn prepare(client: &Client, rebuild: bool) -> anyhow::Result<()> {
    let exists: bool = client
        .query_one("select to_regclass('search_reference') is not null", &[])
        .await?
        .get(0);
    if exists && !rebuild {
        return Ok(());
    }
    let docs = search::catalog::documents_sql("true");
    client
        .batch_execute(&format!(
            "drop table if exists search_reference;
             create table search_reference as
             select d.*,
                    setweight(to_tsvector('simple', d.title), 'A')
                    || setweight(to_tsvector('simple', array_to_string(d.performer_names, ' ')), 'B')
                    || setweight(to_tsvector('simple', d.venue_name || ' ' || d.city), 'C')
                    || setweight(to_tsvector('simple', d.description), 'D') as tsv
             from ({docs}) d;
             alter table search_reference add primary key (event_id);
             create index on search_reference using gin (tsv);
             create index on search_reference (category);
             create index on search_reference (city);
             create index on search_reference (starts_at);
             create index on search_reference (lat, lon);
             create index on search_reference (popularity desc);
             analyze search_reference;"
        ))
        .await?;
    Ok(())
}

/// A connection with its prepared statements.
#[derive(Debug)]
pub struct Conn {
    client: Client,
    statements: Mutex<HashMap<String, Statement>>,
}

impl Conn {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            statements: Mutex::new(HashMap::new()),
        }
    }

    async fn statement(
        &self,
        sql: &str,
        types: &[Type],
    ) -> Result<Statement, tokio_postgres::Error> {
        // The same text can come with different parameter lists.
        let key = format!("{sql}\u{0}{types:?}");
        if let Some(s) = self.statements.lock().await.get(&key) {
            return Ok(s.clone());
        }
        let s = self.client.prepare_typed(sql, types).await?;
        self.statements.lock().await.insert(key, s.clone());
        Ok(s)
    }
}

type Param = Box<dyn ToSql + Sync + Send>;

struct Built {
    /// Conditions that are not facets (text, availability, geo).
    base: Vec<String>,
    /// category, genre (unused by the set), city, price, dates.
    facet: [Option<String>; 5],
    params: Vec<Param>,
    types: Vec<Type>,
    rank: Option<String>,
    distance: Option<String>,
}

fn build(q: &Query) -> Built {
    let mut params: Vec<Param> = Vec::new();
    let mut types: Vec<Type> = Vec::new();
    let mut p = |v: Param, t: Type| {
        params.push(v);
        types.push(t);
        format!("${}", params.len())
    };
    let mut base = Vec::new();
    let mut rank = None;
    if let Some(text) = &q.text {
        let terms = search::text::terms(text);
        let n = terms.len();
        let tsq: Vec<String> = terms
            .into_iter()
            .enumerate()
            .map(|(i, t)| if i + 1 == n { format!("{t}:*") } else { t })
            .collect();
        let param = p(Box::new(tsq.join(" & ")), Type::TEXT);
        base.push(format!("tsv @@ to_tsquery('simple', {param})"));
        rank = Some(format!("ts_rank(tsv, to_tsquery('simple', {param}))"));
    }
    if q.available {
        base.push("available > 0".into());
    }
    let mut distance = None;
    if let Some((lat, lon, r)) = q.geo {
        let (la, lo, rr) = (
            p(Box::new(lat), Type::FLOAT8),
            p(Box::new(lon), Type::FLOAT8),
            p(Box::new(r), Type::FLOAT8),
        );
        let d = format!(
            "(2 * 6371.0088 * asin(sqrt(power(sin(radians(lat - {la}) / 2), 2) + cos(radians({la})) * cos(radians(lat)) * power(sin(radians(lon - {lo}) / 2), 2))))"
        );
        // A bounding box the (lat, lon) index can use, then the exact distance.
        base.push(format!(
            "lat between {la} - {rr} / 111.32 and {la} + {rr} / 111.32 \
             and lon between {lo} - {rr} / (111.32 * cos(radians({la}))) and {lo} + {rr} / (111.32 * cos(radians({la}))) \
             and {d} <= {rr}"
        ));
        distance = Some(d);
    }
    let category = (!q.categories.is_empty()).then(|| {
        format!(
            "category = any({})",
            p(Box::new(q.categories.clone()), Type::TEXT_ARRAY)
        )
    });
    let city = (!q.cities.is_empty()).then(|| {
        format!(
            "city = any({})",
            p(Box::new(q.cities.clone()), Type::TEXT_ARRAY)
        )
    });
    let price = match (q.min_price, q.max_price) {
        (None, None) => None,
        (lo, hi) => Some(format!(
            "min_p between {} and {}",
            p(Box::new(lo.unwrap_or(0) * 100), Type::INT8),
            p(Box::new(hi.map_or(i64::MAX, |h| h * 100)), Type::INT8)
        )),
    };
    let dates = match (q.start_instant(), q.end_instant()) {
        (None, None) => None,
        (s, e) => Some(format!(
            "starts_at between {} and {}",
            p(
                Box::new(s.unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)),
                Type::TIMESTAMPTZ,
            ),
            p(
                Box::new(e.unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)),
                Type::TIMESTAMPTZ,
            )
        )),
    };
    Built {
        base,
        facet: [category, None, city, price, dates],
        params,
        types,
        rank,
        distance,
    }
}

fn conditions(b: &Built, skip: Option<usize>) -> String {
    let mut all: Vec<&str> = b.base.iter().map(String::as_str).collect();
    for (i, f) in b.facet.iter().enumerate() {
        if Some(i) != skip
            && let Some(f) = f
        {
            all.push(f);
        }
    }
    if all.is_empty() {
        "true".into()
    } else {
        all.join(" and ")
    }
}

const FACET_EXPR: [&str; 5] = [
    "category",
    "genre",
    "city",
    "case when min_p < 2500 then 0 when min_p < 5000 then 1 when min_p < 10000 then 2 when min_p < 20000 then 3 else 4 end",
    "to_char(starts_at at time zone 'UTC', 'YYYY-MM')",
];

/// One search: page, total and five facets, pipelined.
pub async fn run(conn: &Conn, q: &Query) -> Result<(), tokio_postgres::Error> {
    let b = build(q);
    let order = match (q.sort, &b.rank, &b.distance) {
        (Some("date"), _, _) => "starts_at, event_id".to_owned(),
        (Some("price_asc"), _, _) => "min_p, event_id".to_owned(),
        (Some("popularity"), _, _) => "popularity desc, event_id".to_owned(),
        (Some("distance"), _, Some(d)) => format!("{d}, event_id"),
        (_, Some(rank), _) => format!("{rank} * log(2 + popularity) desc, event_id"),
        _ => "popularity desc, event_id".to_owned(),
    };
    let mut sqls = vec![
        format!(
            "select event_id, title, performer_ids, performer_names, venue_id, venue_name, city, country, \
             starts_at, min_p, max_p, currency, available, popularity from search_reference \
             where {} order by {order} limit 20",
            conditions(&b, None)
        ),
        format!(
            "select count(*) from search_reference where {}",
            conditions(&b, None)
        ),
    ];
    for (i, expr) in FACET_EXPR.iter().enumerate() {
        let limit = if i == 1 || i == 2 {
            " order by 2 desc limit 20"
        } else {
            ""
        };
        sqls.push(format!(
            "select {expr}, count(*) from search_reference where {} group by 1{limit}",
            conditions(&b, Some(i))
        ));
    }
    let params: Vec<&(dyn ToSql + Sync)> = b
        .params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let mut statements = Vec::with_capacity(sqls.len());
    for sql in &sqls {
        statements.push(conn.statement(sql, &b.types).await?);
    }
    // Every statement takes every parameter (typed up front, so the ones a
    // facet's statement leaves out are still well-typed).
    let futures = statements.iter().map(|s| conn.client.query(s, &params));
    try_join_all(futures).await?;
    Ok(())
}
