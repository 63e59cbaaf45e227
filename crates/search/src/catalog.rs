//! Search documents out of Postgres.
//!
//! One set-based query builds every document: performers, the price range
//! and the tickets left are aggregated per event with hash aggregates, so
//! the whole catalog streams out in one pass. Tickets left: for general
//! admission, capacity minus held and sold; for seats, the event's live
//! inventory rows that are free (or held past their expiry) when inventory
//! has been opened, otherwise every seat of the sections the ticket types
//! price.

use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt, TryStreamExt};
use tokio_postgres::{GenericClient, Row};

use crate::document::{EventDoc, PerformerRef};

/// Errors reading documents.
pub type CatalogError = tokio_postgres::Error;

/// The query that builds documents, for events matching `filter` (an SQL
/// condition on `e`, the events table).
pub fn documents_sql(filter: &str) -> String {
    format!(
        r#"
with ev as (
    select e.* from events e where e.status = 'scheduled' and {filter}
),
perf as (
    select ep.event_id,
           array_agg(p.performer_id order by ep.billing, p.performer_id) as ids,
           array_agg(p.name order by ep.billing, p.performer_id) as names
    from event_performers ep
    join performers p using (performer_id)
    where ep.event_id in (select event_id from ev)
    group by ep.event_id
),
tiers as (
    select tt.event_id, min(tt.price_cents) as min_p, max(tt.price_cents) as max_p,
           min(tt.currency) as currency
    from ticket_types tt
    where tt.event_id in (select event_id from ev)
    group by tt.event_id
),
ga as (
    select g.event_id, sum(g.capacity - g.held - g.sold)::bigint as left_
    from ga_inventory g
    where g.event_id in (select event_id from ev)
    group by g.event_id
),
-- Per event (an index scan each, whatever the planner guesses about ev):
-- seats materialized, and those left (a lapsed hold counts as free).
live as (
    select ev.event_id, l.total, l.left_
    from ev cross join lateral (
        select count(*) as total,
               count(*) filter (where s.status = 'available'
                                   or (s.status = 'held' and s.held_until <= now())) as left_
        from event_seats s
        where s.event_id = ev.event_id
    ) l
),
-- Seated tiers of events whose inventory is not materialized yet: every
-- seat of their sections is left. (Counted only for those events.)
unopened_sections as (
    select tts.event_id, tts.section_id
    from ticket_type_sections tts
    where tts.event_id in (select event_id from ev)
      and not exists (select 1 from event_seats es where es.event_id = tts.event_id)
),
unopened as (
    select us.event_id, sum(vs.seat_count)::bigint as left_
    from unopened_sections us
    join venue_sections vs using (section_id)
    group by us.event_id
)
select ev.event_id, ev.title, ev.description, ev.category, ev.genre,
       coalesce(perf.ids, '{{}}') as performer_ids,
       coalesce(perf.names, '{{}}') as performer_names,
       v.venue_id, v.name as venue_name, v.city, v.country, v.lat, v.lon,
       ev.starts_at, ev.popularity,
       coalesce(tiers.min_p, 0) as min_p, coalesce(tiers.max_p, 0) as max_p,
       coalesce(tiers.currency, 'USD') as currency,
       (coalesce(ga.left_, 0)
        + case when live.total > 0 then live.left_ else coalesce(unopened.left_, 0) end)::bigint
           as available
from ev
join venues v using (venue_id)
left join perf using (event_id)
left join tiers using (event_id)
left join ga using (event_id)
left join live using (event_id)
left join unopened using (event_id)
"#
    )
}

fn doc_from_row(row: &Row) -> Result<EventDoc, CatalogError> {
    let ids: Vec<i64> = row.try_get("performer_ids")?;
    let names: Vec<String> = row.try_get("performer_names")?;
    let available: i64 = row.try_get("available")?;
    let starts_at: DateTime<Utc> = row.try_get("starts_at")?;
    Ok(EventDoc {
        event_id: row.try_get("event_id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        category: row.try_get("category")?,
        genre: row.try_get("genre")?,
        performers: ids
            .into_iter()
            .zip(names)
            .map(|(id, name)| PerformerRef { id, name })
            .collect(),
        venue_id: row.try_get("venue_id")?,
        venue_name: row.try_get("venue_name")?,
        city: row.try_get("city")?,
        country: row.try_get("country")?,
        lat: row.try_get("lat")?,
        lon: row.try_get("lon")?,
        starts_at,
        min_price_cents: row.try_get("min_p")?,
        max_price_cents: row.try_get("max_p")?,
        currency: row.try_get("currency")?,
        available_tickets: available.max(0),
        sold_out: available <= 0,
        popularity: row.try_get("popularity")?,
    })
}

/// Every searchable event, streamed. Run it inside a repeatable-read
/// transaction to read one snapshot.
pub async fn all_documents(
    client: &impl GenericClient,
) -> Result<impl Stream<Item = Result<EventDoc, CatalogError>> + '_, CatalogError> {
    let sql = documents_sql("true");
    let rows = client
        .query_raw(sql.as_str(), std::iter::empty::<i64>())
        .await?;
    Ok(rows.map(|r| r.and_then(|row| doc_from_row(&row))))
}

/// The documents of these events; an event that is missing from the result
/// is not searchable (deleted, or not scheduled) and should be deleted from
/// the index.
pub async fn documents_for(
    client: &impl GenericClient,
    event_ids: &[i64],
) -> Result<Vec<EventDoc>, CatalogError> {
    let sql = documents_sql("e.event_id = any($1)");
    let rows = client.query(sql.as_str(), &[&event_ids]).await?;
    rows.iter().map(doc_from_row).collect()
}

/// The current WAL position as a number: the version a snapshot taken after
/// this call covers.
pub async fn current_lsn(client: &impl GenericClient) -> Result<u64, CatalogError> {
    let lsn: String = client
        .query_one("select pg_current_wal_lsn()::text", &[])
        .await?
        .try_get(0)?;
    Ok(parse_lsn(&lsn).unwrap_or(0))
}

/// `16/B374D848` as a 64-bit number.
pub fn parse_lsn(lsn: &str) -> Option<u64> {
    let (hi, lo) = lsn.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// Collects a document stream (tests and small catalogs).
pub async fn collect(
    stream: impl Stream<Item = Result<EventDoc, CatalogError>>,
) -> Result<Vec<EventDoc>, CatalogError> {
    stream.try_collect().await
}

#[cfg(test)]
mod tests {
    #[test]
    fn lsns_parse_as_numbers_in_wal_order() {
        assert_eq!(super::parse_lsn("0/16B3748"), Some(0x16B3748));
        assert_eq!(
            super::parse_lsn("16/B374D848"),
            Some((0x16 << 32) | 0xB374D848)
        );
        assert!(super::parse_lsn("0/1") < super::parse_lsn("1/0"));
        assert_eq!(super::parse_lsn("nope"), None);
    }
}
