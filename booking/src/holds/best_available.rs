//! Best available: the `quantity` adjacent seats in the best row a buyer
//! can get, found without locking and without reading a 50,000-seat map per
//! request.
//!
//! - The map's geometry (seats in ranking order, split into chunks of whole
//!   rows of about [`CHUNK_SEATS`]) is read once per event and ticket-type
//!   or section filter and kept for [`GEOMETRY_TTL`]; seat maps do not
//!   change once an event is on sale.
//! - A scan reads availability window by window from a per-quantity
//!   [`Cursor`] (where that quantity last fitted), widening, and wrapping
//!   round, so every chunk is read at most once ([`scan_windows`]).
//! - Picks are only proposals: the batch locks them with every other seat
//!   and re-checks them, and a pick that lost a race is retried in a later
//!   batch. [`InFlightPicks`] keeps overlapping batches of this instance
//!   from all proposing the same best seats.
//!
//! Everything here but the two reads of availability is pure and unit
//! tested below without a database.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::{PgPool, Postgres, Transaction};

/// Best-available state of one engine: geometry, scan hints and the seats
/// its running batches have proposed.
#[derive(Debug)]
pub(super) struct BestAvailable {
    pool: PgPool,
    geometry: Mutex<HashMap<TierKey, (Instant, Arc<Geometry>)>>,
    /// Per (request, quantity): the chunk where that quantity last fitted.
    cursors: Mutex<HashMap<(TierKey, i32), Cursor>>,
    /// Loads of seat geometry run one at a time, so concurrent first
    /// batches of a new event share one load.
    geometry_load: tokio::sync::Mutex<()>,
    /// Seats picked for best available by batches of this instance that
    /// have not finished, so overlapping batches do not all pick the same
    /// best seats and then lose the race for them.
    in_flight: Mutex<HashSet<(i64, i64)>>,
}

/// Removes a batch's picks from [`BestAvailable::in_flight`] when the batch ends.
#[derive(Debug)]
pub(super) struct InFlightPicks<'a> {
    best: &'a BestAvailable,
    event_id: i64,
    seats: Vec<i64>,
}

impl Drop for InFlightPicks<'_> {
    fn drop(&mut self) {
        let mut set = self
            .best
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for seat in &self.seats {
            set.remove(&(self.event_id, *seat));
        }
    }
}

/// What a best-available request ranges over: the event, its ticket type
/// and section filters, and whether a wheelchair space must be among the
/// seats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct TierKey {
    pub(super) event_id: i64,
    pub(super) ticket_type_id: Option<i64>,
    pub(super) section_id: Option<i64>,
    pub(super) accessible: bool,
}

/// The seats a best-available request ranges over, best first, and their
/// split into chunks of whole rows. Seat maps do not change once an event
/// is on sale, so this is read once and kept for [`GEOMETRY_TTL`].
#[derive(Debug)]
struct Geometry {
    seats: Vec<GeoSeat>,
    chunks: Vec<std::ops::Range<usize>>,
}

#[derive(Debug, Clone, Copy, sqlx::FromRow)]
struct GeoSeat {
    seat_id: i64,
    row_id: i64,
    number: i32,
    /// A wheelchair space.
    accessible: bool,
}

impl Geometry {
    /// The seats of the chunks in `window`, and the position of the first.
    fn window(&self, window: &std::ops::Range<usize>) -> (usize, &[GeoSeat]) {
        let from = self.chunks[window.start].start;
        let to = self.chunks[window.end - 1].end;
        (from, &self.seats[from..to])
    }

    /// The chunk of `seat_id`, one of `seats` (a window starting at `from`).
    fn chunk_of(&self, seats: &[TierSeat], from: usize, seat_id: i64) -> usize {
        let at = from + seats.iter().position(|t| t.seat_id == seat_id).unwrap_or(0);
        self.chunks.partition_point(|r| r.end <= at)
    }
}

const GEOMETRY_TTL: Duration = Duration::from_secs(60);
/// Where free seats were last seen is only a hint. This often, the chunks
/// before it are checked again in the background, so seats released in
/// better rows are found again without a batch paying for the rescan.
const CURSOR_TTL: Duration = Duration::from_secs(2);

/// A best-available scan hint.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    /// First chunk worth scanning; past the end means nothing fitted.
    chunk: usize,
    /// When the chunks before `chunk` were last known to have no room.
    checked: Instant,
    /// A background rescan of the earlier chunks is running.
    rewinding: bool,
}
/// Best-available scans read availability in chunks of whole rows of about
/// this many seats.
const CHUNK_SEATS: usize = 250;
/// Scan windows of up to this many chunks are read seat range by seat
/// range; wider ones from one read of every free seat of the event.
const WIDEST_WINDOW: usize = 4;

#[derive(Debug, Clone, sqlx::FromRow)]
struct TierSeat {
    seat_id: i64,
    row_id: i64,
    number: i32,
    free: bool,
    accessible: bool,
}

impl BestAvailable {
    pub(super) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            geometry: Mutex::new(HashMap::new()),
            cursors: Mutex::new(HashMap::new()),
            geometry_load: tokio::sync::Mutex::new(()),
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    async fn geometry(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        key: TierKey,
    ) -> Result<Arc<Geometry>, sqlx::Error> {
        let cached = || {
            let cache = self.geometry.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .get(&key)
                .filter(|(at, _)| at.elapsed() < GEOMETRY_TTL)
                .map(|(_, g)| g.clone())
        };
        if let Some(g) = cached() {
            return Ok(g);
        }
        let _loading = self.geometry_load.lock().await;
        if let Some(g) = cached() {
            return Ok(g);
        }
        let TierKey {
            event_id,
            ticket_type_id,
            section_id,
            accessible,
        } = key;
        // Rows in ranking order, then the event's seats; sorted here rather
        // than by a four-way join and sort in Postgres (about a third of the
        // time for a 50,000-seat map), since the first batch of an on-sale
        // waits for this.
        let rows: Vec<i64> = sqlx::query_scalar(
            "select vr.row_id
               from events e
               join venue_sections vs on vs.venue_id = e.venue_id
               join venue_rows vr on vr.section_id = vs.section_id
              where e.event_id = $1 and ($2::bigint is null or vs.section_id = $2)
              order by vs.rank, vr.position, vs.section_id, vr.row_id",
        )
        .bind(event_id)
        .bind(section_id)
        .fetch_all(&mut **tx)
        .await?;
        let rank: HashMap<i64, usize> = rows.iter().enumerate().map(|(n, r)| (*r, n)).collect();
        let mut seats: Vec<GeoSeat> = sqlx::query_as(
            "select es.seat_id, s.row_id, s.number, s.accessible
               from event_seats es join seats s on s.seat_id = es.seat_id
              where es.event_id = $1 and ($2::bigint is null or es.ticket_type_id = $2)",
        )
        .bind(event_id)
        .bind(ticket_type_id)
        .fetch_all(&mut **tx)
        .await?;
        seats.retain(|g| rank.contains_key(&g.row_id));
        if accessible {
            // Only rows with a wheelchair space can hold such a request.
            let rows: HashSet<i64> = seats
                .iter()
                .filter(|g| g.accessible)
                .map(|g| g.row_id)
                .collect();
            seats.retain(|g| rows.contains(&g.row_id));
        }
        seats.sort_unstable_by_key(|g| (rank[&g.row_id], g.number));
        let mut chunks = Vec::new();
        let mut start = 0;
        for i in 1..=seats.len() {
            let row_ends = i == seats.len() || seats[i].row_id != seats[i - 1].row_id;
            if row_ends && (i - start >= CHUNK_SEATS || i == seats.len()) {
                chunks.push(start..i);
                start = i;
            }
        }
        let geometry = Arc::new(Geometry { seats, chunks });
        self.geometry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (Instant::now(), geometry.clone()));
        Ok(geometry)
    }

    /// Where to start scanning. A hint older than [`CURSOR_TTL`] is still
    /// used, and a background task checks the chunks before it again.
    fn cursor(self: &Arc<Self>, key: (TierKey, i32), geometry: &Arc<Geometry>) -> usize {
        let mut cursors = self.cursors.lock().unwrap_or_else(|p| p.into_inner());
        let Some(c) = cursors.get_mut(&key) else {
            return 0;
        };
        let stale = c.checked.elapsed() >= CURSOR_TTL;
        if stale && c.chunk >= geometry.chunks.len() {
            // Nothing fitted anywhere last time: this batch has nothing
            // better to do than look again from the start.
            c.checked = Instant::now();
            return 0;
        }
        if stale && !c.rewinding && c.chunk > 0 {
            c.rewinding = true;
            let (inner, geometry, upto) = (self.clone(), geometry.clone(), c.chunk);
            tokio::spawn(async move { inner.rewind(key, geometry, upto).await });
        }
        c.chunk
    }

    fn remember_cursor(&self, key: (TierKey, i32), chunk: usize) {
        let mut cursors = self.cursors.lock().unwrap_or_else(|p| p.into_inner());
        cursors
            .entry(key)
            .and_modify(|c| c.chunk = chunk)
            .or_insert(Cursor {
                chunk,
                checked: Instant::now(),
                rewinding: false,
            });
    }

    /// Checks chunks `0..upto` for room again (seats released since the
    /// cursor moved past them) and moves the cursor back to the first chunk
    /// with room. Read-only and outside any batch.
    async fn rewind(&self, key: (TierKey, i32), geometry: Arc<Geometry>, upto: usize) {
        let (tier, quantity) = key;
        let event_id = tier.event_id;
        let mut found = None;
        let mut everything = None;
        for window in scan_windows(0, upto) {
            let (from, seats) = geometry.window(&window);
            let Ok(chunk) =
                window_availability(&self.pool, event_id, window.len(), seats, &mut everything)
                    .await
            else {
                break;
            };
            if let Some(pick) = best_adjacent(&chunk, quantity, tier.accessible, |_| true) {
                found = Some(geometry.chunk_of(&chunk, from, pick[0]));
                break;
            }
        }
        let mut cursors = self.cursors.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cursors.get_mut(&key) {
            if let Some(n) = found {
                c.chunk = c.chunk.min(n);
            }
            c.checked = Instant::now();
            c.rewinding = false;
        }
    }
}

/// Best-available requests of one batch with the same [`TierKey`], in
/// arrival order: (position in the batch, quantity).
pub(super) type Wanted = Vec<(TierKey, Vec<(usize, i32)>)>;

/// Why no seats could be proposed for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unpicked {
    /// No seat of the event matches its filter (`field` names which).
    NoSuchSeats { field: &'static str },
    /// No row has `quantity` adjacent free seats (with a wheelchair space
    /// among them, for an `accessible` request).
    NoRun { quantity: i32, accessible: bool },
}

/// The seats proposed for a batch's best-available requests. Holding it
/// keeps them out of overlapping batches' picks.
#[derive(Debug)]
pub(super) struct Picks<'a> {
    /// Position in the batch -> proposed seats.
    pub(super) chosen: HashMap<usize, Vec<i64>>,
    /// Every proposed seat.
    pub(super) picked: HashSet<i64>,
    /// Requests nothing could be proposed for.
    pub(super) unpicked: Vec<(usize, Unpicked)>,
    in_flight: InFlightPicks<'a>,
}

impl BestAvailable {
    /// Proposes seats for `wanted`, never one of `exclude` (the batch's
    /// explicit seats) nor one proposed by a running batch. Reads
    /// availability without locks; the caller locks and re-checks.
    pub(super) async fn pick(
        self: &Arc<Self>,
        tx: &mut Transaction<'_, Postgres>,
        event_id: i64,
        wanted: Wanted,
        exclude: &BTreeSet<i64>,
    ) -> Result<Picks<'_>, sqlx::Error> {
        let mut picks = Picks {
            chosen: HashMap::new(),
            picked: HashSet::new(),
            unpicked: Vec::new(),
            in_flight: InFlightPicks {
                best: self,
                event_id,
                seats: Vec::new(),
            },
        };
        for (key, pending) in wanted {
            let geometry = self.geometry(tx, key).await?;
            if geometry.seats.is_empty() {
                let field = if key.accessible {
                    "best_available.accessible"
                } else if key.section_id.is_some() {
                    "best_available.section_id"
                } else {
                    "best_available.ticket_type_id"
                };
                picks.unpicked.extend(
                    pending
                        .into_iter()
                        .map(|(i, _)| (i, Unpicked::NoSuchSeats { field })),
                );
                continue;
            }
            let pending = self
                .scan(tx, key, &geometry, pending, exclude, &mut picks)
                .await?;
            picks
                .unpicked
                .extend(pending.into_iter().map(|(i, quantity)| {
                    (
                        i,
                        Unpicked::NoRun {
                            quantity,
                            accessible: key.accessible,
                        },
                    )
                }));
        }
        Ok(picks)
    }

    /// Scans `geometry` for `pending` and records what fitted in `picks`;
    /// returns the requests that fitted nowhere.
    async fn scan(
        self: &Arc<Self>,
        tx: &mut Transaction<'_, Postgres>,
        key: TierKey,
        geometry: &Arc<Geometry>,
        mut pending: Vec<(usize, i32)>,
        exclude: &BTreeSet<i64>,
        picks: &mut Picks<'_>,
    ) -> Result<Vec<(usize, i32)>, sqlx::Error> {
        let event_id = key.event_id;
        // Scan chunks of whole rows in ranking order, starting where the
        // smallest quantity asked for last fitted (earlier rows had no run
        // that long), wrapping round so nothing is missed.
        let smallest = pending.iter().map(|(_, q)| *q).min().unwrap_or(1);
        let hint = self.cursor((key, smallest), geometry);
        // A full scan that found no room for this quantity is remembered
        // (cursor past the end), so a sold-out event answers 409 without
        // scanning every chunk again until the hint is stale.
        let exhausted = hint >= geometry.chunks.len();
        let hint = if exhausted { 0 } else { hint };
        // Windows of chunks, each twice as wide as the one before, then the
        // rest at once: most batches find their seats in the first chunk,
        // and a scan that has to go far (near a sell-out) costs a few small
        // queries and one pass over the event's free seats.
        let windows = if exhausted {
            Vec::new()
        } else {
            scan_windows(hint, geometry.chunks.len())
        };
        let mut first_fit = None;
        let mut everything: Option<HashSet<i64>> = None;
        for window in windows {
            if pending.is_empty() {
                break;
            }
            let (from, seats) = geometry.window(&window);
            let chunk =
                window_availability(&mut **tx, event_id, window.len(), seats, &mut everything)
                    .await?;
            let mut still = Vec::new();
            let mut set = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            for (i, quantity) in pending {
                let usable = |s: i64| {
                    !exclude.contains(&s)
                        && !picks.picked.contains(&s)
                        && !set.contains(&(event_id, s))
                };
                match best_adjacent(&chunk, quantity, key.accessible, usable) {
                    Some(choice) => {
                        if quantity == smallest && first_fit.is_none() {
                            first_fit = Some(geometry.chunk_of(&chunk, from, choice[0]));
                        }
                        for seat in &choice {
                            set.insert((event_id, *seat));
                        }
                        picks.in_flight.seats.extend(choice.iter().copied());
                        picks.picked.extend(choice.iter().copied());
                        picks.chosen.insert(i, choice);
                    }
                    None => still.push((i, quantity)),
                }
            }
            drop(set);
            pending = still;
        }
        let scanned_all = !exhausted && pending.iter().any(|(_, q)| *q == smallest);
        let next = match first_fit {
            Some(chunk) => chunk,
            None if scanned_all || exhausted => geometry.chunks.len(),
            None => 0,
        };
        self.remember_cursor((key, smallest), next);
        Ok(pending)
    }
}

/// The order a best-available scan reads `total` chunks in, starting at
/// chunk `hint` and wrapping round: windows of 1, 2 and 4 chunks, then the
/// rest (split where it wraps). Every chunk is in exactly one window.
fn scan_windows(hint: usize, total: usize) -> Vec<std::ops::Range<usize>> {
    let mut windows = Vec::new();
    let (mut at, mut left, mut width) = (hint.checked_rem(total).unwrap_or(0), total, 1);
    while left > 0 {
        let take = if width > WIDEST_WINDOW {
            left
        } else {
            width.min(left)
        };
        let take = take.min(total - at);
        windows.push(at..at + take);
        (at, left, width) = ((at + take) % total, left - take, width * 2);
    }
    windows
}

/// Consecutive seat ids merged into inclusive ranges (`lo`, `hi`).
fn id_ranges(seats: &[GeoSeat]) -> (Vec<i64>, Vec<i64>) {
    let mut ids: Vec<i64> = seats.iter().map(|g| g.seat_id).collect();
    ids.sort_unstable();
    let (mut lo, mut hi) = (Vec::new(), Vec::<i64>::new());
    for id in ids {
        match hi.last_mut() {
            Some(last) if *last + 1 >= id => *last = id,
            _ => {
                lo.push(id);
                hi.push(id);
            }
        }
    }
    (lo, hi)
}

/// The free seats among `seats` (ids of a run of rows), or of the whole
/// event. Seats of a row usually have consecutive ids (maps are created row
/// by row), so the ids are sent as ranges: one primary-key range scan per
/// row instead of one probe per seat.
async fn free_seats<'c>(
    db: impl sqlx::PgExecutor<'c>,
    event_id: i64,
    seats: Option<&[GeoSeat]>,
) -> Result<HashSet<i64>, sqlx::Error> {
    let Some(seats) = seats else {
        return Ok(sqlx::query_scalar::<_, i64>(
            "select seat_id from event_seats
              where event_id = $1
                and (status = 'available' or (status = 'held' and held_until < now()))",
        )
        .bind(event_id)
        .fetch_all(db)
        .await?
        .into_iter()
        .collect());
    };
    let (lo, hi) = id_ranges(seats);
    Ok(sqlx::query_scalar::<_, i64>(
        "select es.seat_id
           from unnest($2::bigint[], $3::bigint[]) as r(lo, hi)
           cross join lateral (
                 select seat_id from event_seats
                  where event_id = $1 and seat_id between r.lo and r.hi
                    and (status = 'available' or (status = 'held' and held_until < now()))
                 offset 0) es",
    )
    .bind(event_id)
    .bind(&lo)
    .bind(&hi)
    .fetch_all(db)
    .await?
    .into_iter()
    .collect())
}

/// The seats of a window of `chunks` chunks, each marked free or not: read
/// seat range by seat range for narrow windows, from one read of every free
/// seat of the event (kept in `everything`) for wider ones.
async fn window_availability<'c>(
    db: impl sqlx::PgExecutor<'c>,
    event_id: i64,
    chunks: usize,
    seats: &[GeoSeat],
    everything: &mut Option<HashSet<i64>>,
) -> Result<Vec<TierSeat>, sqlx::Error> {
    if chunks <= WIDEST_WINDOW {
        return Ok(mark_free(
            seats,
            &free_seats(db, event_id, Some(seats)).await?,
        ));
    }
    if everything.is_none() {
        *everything = Some(free_seats(db, event_id, None).await?);
    }
    Ok(mark_free(seats, everything.get_or_insert_default()))
}

/// `seats` (one stretch of the ranking order), each marked free or not.
fn mark_free(seats: &[GeoSeat], free: &HashSet<i64>) -> Vec<TierSeat> {
    seats
        .iter()
        .map(|g| TierSeat {
            seat_id: g.seat_id,
            row_id: g.row_id,
            number: g.number,
            free: free.contains(&g.seat_id),
            accessible: g.accessible,
        })
        .collect()
}

/// The best `quantity` adjacent seats: in the best row (lowest section rank,
/// then the row nearest the stage) that has a run of `quantity` free seats
/// with consecutive numbers; within it, the run closest to the row's centre.
/// With `accessible`, only runs holding a wheelchair space count. `seats`
/// come ordered by rank, position, section, row, number.
fn best_adjacent(
    seats: &[TierSeat],
    quantity: i32,
    accessible: bool,
    usable: impl Fn(i64) -> bool,
) -> Option<Vec<i64>> {
    let q = usize::try_from(quantity).ok().filter(|q| *q > 0)?;
    for row in seats.chunk_by(|a, b| a.row_id == b.row_id) {
        let (lo, hi) = (row.first()?.number, row.last()?.number);
        let centre = f64::from(lo + hi) / 2.0;
        let mut best: Option<(f64, usize)> = None;
        let mut run_start = 0;
        for i in 0..row.len() {
            let ok = row[i].free && usable(row[i].seat_id);
            let continues = i > 0
                && row[i].number == row[i - 1].number + 1
                && row[i - 1].free
                && usable(row[i - 1].seat_id);
            if !ok {
                run_start = i + 1;
                continue;
            }
            if !continues {
                run_start = i;
            }
            if i + 1 >= run_start + q {
                let start = i + 1 - q;
                if accessible && !row[start..=i].iter().any(|s| s.accessible) {
                    continue;
                }
                let mid = f64::from(row[start].number + row[i].number) / 2.0;
                let distance = (mid - centre).abs();
                if best.is_none_or(|(d, _)| distance < d) {
                    best = Some((distance, start));
                }
            }
        }
        if let Some((_, start)) = best {
            return Some(row[start..start + q].iter().map(|s| s.seat_id).collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(row_id: i64, free: &[bool]) -> Vec<TierSeat> {
        free.iter()
            .enumerate()
            .map(|(n, f)| TierSeat {
                seat_id: row_id * 100 + n as i64 + 1,
                row_id,
                number: n as i32 + 1,
                free: *f,
                accessible: false,
            })
            .collect()
    }

    #[test]
    fn an_accessible_request_takes_a_run_holding_a_wheelchair_space() {
        // Row 1 has free seats but no wheelchair space; row 2 has one at
        // each end, the right-hand one taken.
        let mut seats = row(1, &[true; 6]);
        let mut second = row(2, &[true, true, true, true, true, false]);
        second[0].accessible = true;
        second[5].accessible = true;
        seats.extend(second);
        assert_eq!(
            best_adjacent(&seats, 2, false, |_| true),
            Some(vec![103, 104])
        );
        // The wheelchair space and one companion seat beside it.
        assert_eq!(
            best_adjacent(&seats, 2, true, |_| true),
            Some(vec![201, 202])
        );
        assert_eq!(
            best_adjacent(&seats, 3, true, |_| true),
            Some(vec![201, 202, 203])
        );
        // The free space is already proposed elsewhere: nothing fits.
        assert_eq!(best_adjacent(&seats, 2, true, |s| s != 201), None);
    }

    #[test]
    fn picks_the_run_closest_to_the_centre_of_the_best_row_that_fits() {
        // Row 1 has no run of 3; row 2 has runs at 1-3 and 4-8.
        let mut seats = row(1, &[true, true, false, true, true, false, true, true]);
        seats.extend(row(
            2,
            &[true, true, true, false, true, true, true, true, true],
        ));

        let pick = best_adjacent(&seats, 3, false, |_| true).expect("fits");

        // Row 2's centre is seat 5; the run 5-7 is centred on 6, 4..6 is excluded (4 taken).
        assert_eq!(pick, vec![205, 206, 207]);
    }

    #[test]
    fn scan_windows_cover_every_chunk_once_from_the_hint_widening() {
        assert_eq!(scan_windows(0, 20), vec![0..1, 1..3, 3..7, 7..20]);
        // Wrapping: the rest is split at the end of the map.
        assert_eq!(scan_windows(15, 20), vec![15..16, 16..18, 18..20, 0..15]);
        assert_eq!(scan_windows(19, 20), vec![19..20, 0..2, 2..6, 6..19]);
        assert_eq!(scan_windows(0, 1), vec![0..1]);
        assert_eq!(scan_windows(2, 3), vec![2..3, 0..2]);
        assert!(scan_windows(0, 0).is_empty());
        assert_eq!(scan_windows(5, 5), scan_windows(0, 5));
        for total in 1..40 {
            for hint in 0..total {
                let mut seen: Vec<usize> =
                    scan_windows(hint, total).into_iter().flatten().collect();
                assert_eq!(seen[0], hint);
                seen.sort_unstable();
                assert_eq!(
                    seen,
                    (0..total).collect::<Vec<_>>(),
                    "hint {hint} of {total}"
                );
            }
        }
    }

    #[test]
    fn seat_ids_are_sent_as_ranges_of_consecutive_ids() {
        let seats: Vec<GeoSeat> = [7, 3, 4, 5, 10, 11, 20]
            .into_iter()
            .map(|seat_id| GeoSeat {
                seat_id,
                row_id: 1,
                number: 1,
                accessible: false,
            })
            .collect();

        assert_eq!(id_ranges(&seats), (vec![3, 7, 10, 20], vec![5, 7, 11, 20]));
    }

    #[test]
    fn no_row_with_enough_adjacent_seats_gives_none() {
        let seats = row(1, &[true, false, true, false, true]);

        assert_eq!(best_adjacent(&seats, 2, false, |_| true), None);
    }
}
