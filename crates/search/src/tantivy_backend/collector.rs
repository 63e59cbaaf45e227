//! The collector: one pass over the matching documents for the filters the
//! query left to it, the total, the top-k and the multi-select facet counts.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, ColumnIndex, StrColumn};
use tantivy::{DocAddress, DocId, Score, SegmentReader};

use super::query::FilterPlan;
use crate::document::month_label;
use crate::geo;
use crate::money::converted;
use crate::query::{FACET_SIZE, FacetCount, Facets, PriceBucket, Sort, price_bucket, top_counts};

/// A candidate in the top-k. Greater is better.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    key: f64,
    event_id: i64,
    pub(super) doc: DocAddress,
    pub(super) distance_km: Option<f64>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .total_cmp(&other.key)
            .then_with(|| other.event_id.cmp(&self.event_id))
    }
}

/// Facet counts by value.
#[derive(Debug, Default)]
pub(super) struct FacetTally {
    category: HashMap<String, u64>,
    genre: HashMap<String, u64>,
    city: HashMap<String, u64>,
    price: Vec<u64>,
    month: HashMap<u64, u64>,
}

impl FacetTally {
    fn merge(&mut self, other: FacetTally) {
        for (mine, theirs) in [
            (&mut self.category, other.category),
            (&mut self.genre, other.genre),
            (&mut self.city, other.city),
        ] {
            for (k, v) in theirs {
                *mine.entry(k).or_default() += v;
            }
        }
        if self.price.len() < other.price.len() {
            self.price.resize(other.price.len(), 0);
        }
        for (i, v) in other.price.into_iter().enumerate() {
            self.price[i] += v;
        }
        for (k, v) in other.month {
            *self.month.entry(k).or_default() += v;
        }
    }

    pub(super) fn into_facets(self, price_buckets: &[(i64, Option<i64>)]) -> Facets {
        let list = |m: HashMap<String, u64>| {
            m.into_iter()
                .map(|(value, count)| FacetCount { value, count })
                .collect::<Vec<_>>()
        };
        let mut month: Vec<(u64, u64)> = self.month.into_iter().filter(|&(_, c)| c > 0).collect();
        month.sort();
        Facets {
            category: top_counts(list(self.category), usize::MAX),
            genre: top_counts(list(self.genre), FACET_SIZE),
            city: top_counts(list(self.city), FACET_SIZE),
            price: PriceBucket::with_counts(price_buckets, &self.price),
            month: month
                .into_iter()
                .map(|(k, count)| FacetCount {
                    value: month_label(k as u32),
                    count,
                })
                .collect(),
        }
    }
}

pub(super) struct Fruit {
    pub(super) total: u64,
    pub(super) top: Vec<Entry>,
    pub(super) facets: FacetTally,
}

/// One pass over the matching documents: the filters the query left to it,
/// the total, the top-k in the requested order, and multi-select facet counts
/// (a document that fails exactly one facet's filter still counts for that
/// facet).
pub(super) struct EventCollector {
    pub(super) plan: FilterPlan,
    pub(super) scored: bool,
    pub(super) sort: Sort,
    pub(super) keep: usize,
    pub(super) facets: bool,
}

struct Columns {
    event_id: Column<i64>,
    tombstone: Column<u64>,
    category: StrColumn,
    genre: StrColumn,
    city: StrColumn,
    starts_at: Column<i64>,
    month: Column<u64>,
    min_price: Column<i64>,
    currency: StrColumn,
    available: Column<i64>,
    popularity: Column<f64>,
    boost: Column<f64>,
    lat: Column<f64>,
    lon: Column<f64>,
}

fn str_column(seg: &SegmentReader, name: &str) -> tantivy::Result<StrColumn> {
    seg.fast_fields().str(name)?.ok_or_else(|| {
        tantivy::TantivyError::SchemaError(format!("{name} is not a fast text field"))
    })
}

/// Ordinals of `values` in this segment's dictionary; `None` means no filter.
fn ordinals(col: &StrColumn, values: &[String]) -> tantivy::Result<Option<Vec<u64>>> {
    if values.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        if let Some(ord) = col.dictionary().term_ord(v)? {
            out.push(ord);
        }
    }
    Ok(Some(out))
}

/// The value of a single-valued fast field; a direct read when every
/// document has one (the common case: only tombstones lack fields).
#[inline]
fn val<T>(col: &Column<T>, doc: DocId) -> Option<T>
where
    T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static,
{
    if matches!(col.index, ColumnIndex::Full) {
        Some(col.values.get_val(doc))
    } else {
        col.first(doc)
    }
}

/// Month facet counts: few distinct months, so a short list searched from
/// the last hit.
#[derive(Debug, Default)]
struct MonthCounts {
    counts: Vec<(u64, u64)>,
    last: usize,
}

impl MonthCounts {
    #[inline]
    fn add(&mut self, month: u64) {
        if let Some(&(m, _)) = self.counts.get(self.last)
            && m == month
        {
            self.counts[self.last].1 += 1;
            return;
        }
        match self.counts.iter().position(|&(m, _)| m == month) {
            Some(i) => {
                self.counts[i].1 += 1;
                self.last = i;
            }
            None => {
                self.last = self.counts.len();
                self.counts.push((month, 1));
            }
        }
    }
}

pub(super) struct SegmentEventCollector {
    segment_ord: u32,
    cols: Columns,
    plan: FilterPlan,
    category_ords: Option<Vec<u64>>,
    genre_ords: Option<Vec<u64>>,
    city_ords: Option<Vec<u64>>,
    has_tombstones: bool,
    needs_price: bool,
    /// Display minor units per native minor unit, by currency ordinal, when
    /// prices are compared in a display currency.
    factors: Option<Vec<Option<f64>>>,
    needs_start: bool,
    scored: bool,
    sort: Sort,
    keep: usize,
    facets: bool,
    total: u64,
    heap: BinaryHeap<Reverse<Entry>>,
    category_counts: Vec<u64>,
    genre_counts: Vec<u64>,
    city_counts: Vec<u64>,
    price: Vec<u64>,
    month: MonthCounts,
}

impl Collector for EventCollector {
    type Fruit = Fruit;
    type Child = SegmentEventCollector;

    fn for_segment(
        &self,
        segment_ord: u32,
        seg: &SegmentReader,
    ) -> tantivy::Result<SegmentEventCollector> {
        let ff = seg.fast_fields();
        let cols = Columns {
            event_id: ff.i64("event_id")?,
            tombstone: ff.u64("tombstone")?,
            category: str_column(seg, "category")?,
            genre: str_column(seg, "genre")?,
            city: str_column(seg, "city")?,
            starts_at: ff.i64("starts_at")?,
            month: ff.u64("month")?,
            min_price: ff.i64("min_price")?,
            currency: str_column(seg, "currency")?,
            available: ff.i64("available")?,
            popularity: ff.f64("popularity")?,
            boost: ff.f64("boost")?,
            lat: ff.f64("lat")?,
            lon: ff.f64("lon")?,
        };
        let p = &self.plan;
        Ok(SegmentEventCollector {
            segment_ord,
            category_ords: ordinals(&cols.category, &p.categories)?,
            genre_ords: ordinals(&cols.genre, &p.genres)?,
            city_ords: ordinals(&cols.city, &p.cities)?,
            has_tombstones: cols.tombstone.max_value() > 0,
            needs_price: self.facets
                || p.min_price.is_some()
                || p.max_price.is_some()
                || matches!(self.sort, Sort::PriceAsc | Sort::PriceDesc),
            factors: currency_factors(&cols.currency, p.prices.as_ref())?,
            needs_start: p.start.is_some() || p.end.is_some() || self.sort == Sort::Date,
            category_counts: vec![
                0;
                if self.facets {
                    cols.category.num_terms()
                } else {
                    0
                }
            ],
            genre_counts: vec![
                0;
                if self.facets {
                    cols.genre.num_terms()
                } else {
                    0
                }
            ],
            city_counts: vec![
                0;
                if self.facets {
                    cols.city.num_terms()
                } else {
                    0
                }
            ],
            month: MonthCounts::default(),
            cols,
            plan: self.plan.clone(),
            scored: self.scored,
            sort: self.sort,
            keep: self.keep,
            facets: self.facets,
            total: 0,
            heap: BinaryHeap::with_capacity(self.keep.min(1_024) + 1),
            price: vec![0; p.price_buckets],
        })
    }

    fn requires_scoring(&self) -> bool {
        self.scored
    }

    fn merge_fruits(&self, fruits: Vec<SegmentFruit>) -> tantivy::Result<Fruit> {
        let mut total = 0;
        let mut facets = FacetTally::default();
        let mut top: Vec<Entry> = Vec::new();
        for f in fruits {
            total += f.total;
            facets.merge(f.facets);
            top.extend(f.top);
        }
        top.sort_by(|a, b| b.cmp(a));
        top.truncate(self.keep);
        Ok(Fruit { total, top, facets })
    }
}

pub(super) struct SegmentFruit {
    total: u64,
    top: Vec<Entry>,
    facets: FacetTally,
}

/// Each currency ordinal's factor in this segment.
fn currency_factors(
    col: &StrColumn,
    prices: Option<&crate::money::PriceConversion>,
) -> tantivy::Result<Option<Vec<Option<f64>>>> {
    let Some(prices) = prices else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(col.num_terms());
    let mut code = String::new();
    for ord in 0..col.num_terms() as u64 {
        code.clear();
        let found = col.ord_to_str(ord, &mut code)?;
        out.push(found.then(|| prices.factor(&code)).flatten());
    }
    Ok(Some(out))
}

fn in_set(ords: &Option<Vec<u64>>, ord: Option<u64>) -> bool {
    match ords {
        None => true,
        Some(set) => ord.is_some_and(|o| set.contains(&o)),
    }
}

impl SegmentCollector for SegmentEventCollector {
    type Fruit = SegmentFruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        let c = &self.cols;
        if self.has_tombstones && val(&c.tombstone, doc) == Some(1) {
            return;
        }
        let p = &self.plan;
        if p.available_only && val(&c.available, doc).unwrap_or(0) <= 0 {
            return;
        }
        let distance = p.point.map(|(lat, lon)| {
            geo::distance_km(
                lat,
                lon,
                val(&c.lat, doc).unwrap_or(0.0),
                val(&c.lon, doc).unwrap_or(0.0),
            )
        });
        if let (Some(d), Some(r)) = (distance, p.radius_km)
            && d > r
        {
            return;
        }
        let category = if self.facets || self.category_ords.is_some() {
            val(c.category.ords(), doc)
        } else {
            None
        };
        let genre = if self.facets || self.genre_ords.is_some() {
            val(c.genre.ords(), doc)
        } else {
            None
        };
        let city = if self.facets || self.city_ords.is_some() {
            val(c.city.ords(), doc)
        } else {
            None
        };
        // The comparable price (display minor units, or the price as it
        // is) and its sort key; `None` when it has no rate.
        let (price, price_key) = if self.needs_price {
            let native = val(&c.min_price, doc).unwrap_or(0);
            match &self.factors {
                None => (Some(native), native as f64),
                Some(factors) => match val(c.currency.ords(), doc)
                    .and_then(|o| factors.get(o as usize).copied().flatten())
                {
                    Some(f) => (Some(converted(native, f)), native as f64 * f),
                    None => (None, f64::NEG_INFINITY),
                },
            }
        } else {
            (Some(0), 0.0)
        };
        let starts = if self.needs_start {
            val(&c.starts_at, doc).unwrap_or(0)
        } else {
            0
        };
        let checks = [
            in_set(&self.category_ords, category),
            in_set(&self.genre_ords, genre),
            in_set(&self.city_ords, city),
            match price {
                Some(v) => p.min_price.is_none_or(|m| v >= m) && p.max_price.is_none_or(|m| v <= m),
                None => p.min_price.is_none() && p.max_price.is_none(),
            },
            p.start.is_none_or(|s| starts >= s) && p.end.is_none_or(|e| starts <= e),
        ];
        let failed = checks.iter().filter(|ok| !**ok).count();
        if failed > 1 || (failed == 1 && !self.facets) {
            return;
        }
        if self.facets {
            let counts = |facet: usize| failed == 0 || !checks[facet];
            if counts(0)
                && let Some(o) = category
            {
                self.category_counts[o as usize] += 1;
            }
            if counts(1)
                && let Some(o) = genre
            {
                self.genre_counts[o as usize] += 1;
            }
            if counts(2)
                && let Some(o) = city
            {
                self.city_counts[o as usize] += 1;
            }
            if counts(3)
                && let Some(b) = price.and_then(|v| price_bucket(p.prices.as_ref(), v))
                && let Some(n) = self.price.get_mut(b)
            {
                *n += 1;
            }
            if counts(4) {
                self.month.add(val(&c.month, doc).unwrap_or(0));
            }
        }
        if failed > 0 {
            return;
        }
        self.total += 1;
        let key = match self.sort {
            Sort::Relevance if self.scored => f64::from(score) * val(&c.boost, doc).unwrap_or(0.3),
            Sort::Relevance | Sort::Popularity => val(&c.popularity, doc).unwrap_or(0.0),
            Sort::Date => -(starts as f64),
            // Without a rate, last both ways.
            Sort::PriceAsc if price.is_some() => -price_key,
            Sort::PriceAsc | Sort::PriceDesc => price_key,
            Sort::Distance => -distance.unwrap_or(f64::MAX),
        };
        if self.heap.len() >= self.keep
            && let Some(Reverse(worst)) = self.heap.peek()
            && key < worst.key
        {
            return;
        }
        let entry = Entry {
            key,
            event_id: val(&c.event_id, doc).unwrap_or(i64::MAX),
            doc: DocAddress::new(self.segment_ord, doc),
            distance_km: distance,
        };
        if self.heap.len() < self.keep {
            self.heap.push(Reverse(entry));
        } else if let Some(mut worst) = self.heap.peek_mut()
            && entry > worst.0
        {
            // One sift instead of a pop and a push.
            *worst = Reverse(entry);
        }
    }

    fn harvest(self) -> SegmentFruit {
        let mut facets = FacetTally {
            price: self.price,
            ..FacetTally::default()
        };
        if self.facets {
            for (month, n) in self.month.counts {
                *facets.month.entry(month).or_default() += n;
            }
            for (col, counts, out) in [
                (
                    &self.cols.category,
                    &self.category_counts,
                    &mut facets.category,
                ),
                (&self.cols.genre, &self.genre_counts, &mut facets.genre),
                (&self.cols.city, &self.city_counts, &mut facets.city),
            ] {
                for (ord, &n) in counts.iter().enumerate() {
                    if n == 0 {
                        continue;
                    }
                    let mut value = String::new();
                    if col.ord_to_str(ord as u64, &mut value).unwrap_or(false) {
                        *out.entry(value).or_default() += n;
                    }
                }
            }
        }
        SegmentFruit {
            total: self.total,
            top: self.heap.into_iter().map(|Reverse(e)| e).collect(),
            facets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{TinyIndex, at, event};
    use super::*;
    use crate::document::EventDoc;
    use crate::query::{GeoFilter, SearchQuery};

    fn ids(fruit: &Fruit) -> Vec<i64> {
        fruit.top.iter().map(|e| e.event_id).collect()
    }

    fn count(value: &str, count: u64) -> FacetCount {
        FacetCount {
            value: value.to_owned(),
            count,
        }
    }

    fn event_in(event_id: i64, category: &str, city: &str) -> EventDoc {
        EventDoc {
            category: category.to_owned(),
            city: city.to_owned(),
            ..event(event_id, "Show")
        }
    }

    fn popular(event_id: i64, popularity: f64) -> EventDoc {
        EventDoc {
            popularity,
            ..event(event_id, "Show")
        }
    }

    fn sorted_by(sort: Sort, size: usize) -> SearchQuery {
        SearchQuery {
            sort,
            size,
            ..SearchQuery::all()
        }
    }

    #[test]
    fn facet_counts_ignore_their_own_filter() {
        let index = TinyIndex::new(&[
            event_in(1, "music", "Berlin"),
            event_in(2, "music", "Hamburg"),
            event_in(3, "sports", "Berlin"),
            event_in(4, "sports", "Hamburg"),
            event_in(5, "music", "Hamburg"),
            event_in(6, "sports", "Berlin"),
        ]);
        let q = SearchQuery {
            categories: vec!["music".to_owned()],
            cities: vec!["Berlin".to_owned()],
            ..SearchQuery::all()
        };

        let fruit = index.search(&q);
        let total = fruit.total;
        let top = ids(&fruit);
        let facets = fruit.facets.into_facets(&crate::query::PRICE_BUCKETS);

        assert_eq!(total, 1);
        assert_eq!(top, vec![1]);
        // Categories of the Berlin events; cities of the music events.
        assert_eq!(facets.category, vec![count("sports", 2), count("music", 1)]);
        assert_eq!(facets.city, vec![count("Hamburg", 2), count("Berlin", 1)]);
        // Facets without a filter of their own count the matches only.
        assert_eq!(facets.genre, vec![count("rock", 1)]);
        assert_eq!(facets.price.iter().map(|b| b.count).sum::<u64>(), 1);
        assert_eq!(facets.month.iter().map(|m| m.count).sum::<u64>(), 1);
    }

    #[test]
    fn the_collector_drops_documents_failing_a_filter_the_query_let_through() {
        let index = TinyIndex::new(&[
            event_in(1, "music", "Berlin"),
            event_in(2, "music", "Hamburg"),
            EventDoc {
                available_tickets: 0,
                ..event_in(3, "music", "Berlin")
            },
        ]);
        let q = SearchQuery {
            cities: vec!["Berlin".to_owned()],
            available_only: true,
            facets: false,
            ..SearchQuery::all()
        };
        let collector = EventCollector {
            plan: FilterPlan::new(&q),
            scored: false,
            sort: Sort::Popularity,
            keep: 10,
            facets: false,
        };

        let fruit = index
            .searcher()
            .search(&tantivy::query::AllQuery, &collector)
            .expect("a search");

        assert_eq!(fruit.total, 1);
        assert_eq!(ids(&fruit), vec![1]);
        assert!(fruit.facets.category.is_empty());
        assert_eq!(fruit.facets.price, [0; 5]);
    }

    #[test]
    fn the_top_k_keeps_the_best_of_every_segment_and_the_total_counts_all() {
        let index = TinyIndex::with_segments(&[
            &[popular(5, 5.0), popular(2, 9.0), popular(4, 1.0)],
            &[popular(3, 5.0), popular(1, 5.0)],
        ]);
        assert_eq!(index.searcher().segment_readers().len(), 2);

        let fruit = index.search(&sorted_by(Sort::Popularity, 3));

        assert_eq!(fruit.total, 5);
        assert_eq!(ids(&fruit), vec![2, 1, 3]);
    }

    #[test]
    fn a_full_top_k_replaces_its_worst_entry_with_a_better_one() {
        let pops = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0];
        let docs: Vec<EventDoc> = (1..).zip(pops).map(|(id, p)| popular(id, p)).collect();
        let index = TinyIndex::new(&docs);

        let fruit = index.search(&sorted_by(Sort::Popularity, 3));

        assert_eq!(ids(&fruit), vec![6, 8, 5]);
    }

    #[test]
    fn ties_keep_the_lower_event_ids_first() {
        let index = TinyIndex::new(&[
            popular(7, 5.0),
            popular(3, 5.0),
            popular(9, 5.0),
            popular(1, 5.0),
        ]);

        let fruit = index.search(&sorted_by(Sort::Popularity, 2));

        assert_eq!(fruit.total, 4);
        assert_eq!(ids(&fruit), vec![1, 3]);
    }

    #[test]
    fn date_sort_puts_the_soonest_first() {
        let starting = |id, secs| EventDoc {
            starts_at: at(secs),
            ..event(id, "Show")
        };
        let index = TinyIndex::new(&[
            starting(1, 1_780_300_000),
            starting(2, 1_780_000_000),
            starting(3, 1_780_100_000),
        ]);

        let fruit = index.search(&sorted_by(Sort::Date, 10));

        assert_eq!(ids(&fruit), vec![2, 3, 1]);
    }

    #[test]
    fn price_sorts_order_by_the_lowest_price_both_ways() {
        let priced = |id, cents| EventDoc {
            min_price_cents: cents,
            ..event(id, "Show")
        };
        let index = TinyIndex::new(&[priced(1, 5_000), priced(2, 1_000), priced(3, 9_000)]);

        let cheapest = index.search(&sorted_by(Sort::PriceAsc, 10));
        let dearest = index.search(&sorted_by(Sort::PriceDesc, 10));

        assert_eq!(ids(&cheapest), vec![2, 1, 3]);
        assert_eq!(ids(&dearest), vec![3, 1, 2]);
    }

    #[test]
    fn tombstones_are_neither_returned_nor_counted() {
        let index = TinyIndex::build(|fields| {
            vec![vec![
                fields.document(&event(1, "Show"), 1).expect("a document"),
                fields.tombstone(2, 2),
                fields.document(&event(3, "Show"), 1).expect("a document"),
            ]]
        });

        let fruit = index.search(&SearchQuery::all());
        let total = fruit.total;
        let mut top = ids(&fruit);
        top.sort_unstable();
        let facets = fruit.facets.into_facets(&crate::query::PRICE_BUCKETS);

        assert_eq!(total, 2);
        assert_eq!(top, vec![1, 3]);
        assert_eq!(facets.category, vec![count("music", 2)]);
    }

    #[test]
    fn a_radius_drops_events_beyond_it_and_reports_the_distance() {
        let index = TinyIndex::new(&[
            event(1, "Berlin show"),
            EventDoc {
                city: "Hamburg".to_owned(),
                lat: 53.55,
                lon: 9.99,
                ..event(2, "Hamburg show")
            },
        ]);
        let q = SearchQuery {
            geo: Some(GeoFilter {
                lat: 52.52,
                lon: 13.40,
                radius_km: Some(50.0),
            }),
            sort: Sort::Distance,
            ..SearchQuery::all()
        };

        let fruit = index.search(&q);

        assert_eq!(fruit.total, 1);
        assert_eq!(ids(&fruit), vec![1]);
        let distance = fruit.top[0].distance_km.expect("a distance");
        assert!(distance < 1.0, "{distance} km");
    }

    #[test]
    fn month_counts_tally_repeated_and_new_months() {
        let mut months = MonthCounts::default();

        for month in [202_605, 202_605, 202_606, 202_605, 202_604] {
            months.add(month);
        }

        assert_eq!(
            months.counts,
            vec![(202_605, 3), (202_606, 1), (202_604, 1)]
        );
    }

    #[test]
    fn merged_tallies_add_up_and_months_come_out_in_order() {
        let mut tally = FacetTally {
            category: HashMap::from([("music".to_owned(), 2)]),
            price: vec![1, 0, 0, 0, 2],
            month: HashMap::from([(202_606, 1)]),
            ..FacetTally::default()
        };
        let other = FacetTally {
            category: HashMap::from([("music".to_owned(), 1), ("sports".to_owned(), 4)]),
            price: vec![0, 3, 0, 0, 1],
            month: HashMap::from([(202_605, 2), (202_606, 1)]),
            ..FacetTally::default()
        };

        tally.merge(other);
        let facets = tally.into_facets(&crate::query::PRICE_BUCKETS);

        assert_eq!(facets.category, vec![count("sports", 4), count("music", 3)]);
        assert_eq!(
            facets.price.iter().map(|b| b.count).collect::<Vec<_>>(),
            vec![1, 3, 0, 0, 3]
        );
        assert_eq!(facets.month, vec![count("2026-05", 2), count("2026-06", 2)]);
    }
}
