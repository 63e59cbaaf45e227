//! The hold path.
//!
//! Holds for one event are funnelled through one worker task per event per
//! instance, which drains whatever requests are queued (up to
//! [`MAX_BATCH`]) and serves them in **one transaction**, with a result per
//! request. A hot on-sale therefore pays one commit per batch instead of one
//! per request.
//!
//! Correctness does not rest on the batching, nor on there being one
//! instance:
//! - every seat a batch touches is locked (`for update`) in ascending seat id
//!   order, so concurrent batches on several instances serialize on the seats
//!   they share and cannot deadlock on them;
//! - availability is decided only after those locks are held;
//! - general-admission counters are locked in ticket type order, and the
//!   `ga_inventory_within_capacity` CHECK refuses any oversell;
//! - the `event_seats_one_live_booking` trigger refuses to hand a live seat to
//!   another booking even if the code above were wrong;
//! - a deadlock or serialization failure (other paths, such as the sweeper,
//!   lock in other orders) rolls the batch back and it is retried whole.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

use crate::error::{BookingError, is_retryable};
use crate::feed::SeatFeed;
use crate::lifecycle;
use crate::model::{BookingView, HoldRequest, ItemView, SeatView};

/// Most requests served by one transaction.
pub const MAX_BATCH: usize = 256;
/// Batches of one event in flight at once, per instance.
const IN_FLIGHT: usize = 2;
/// A batch that would overlap a running one waits until it has this many
/// requests (or the running batch ends).
const MIN_OVERLAPPING_BATCH: usize = 16;
/// A worker with nothing to do for this long exits.
const IDLE: Duration = Duration::from_secs(30);
/// Best-available picks whose seats were taken between reading and locking
/// are retried this many times before answering 409.
const MAX_PICK_RETRIES: u8 = 3;

/// Limits on holds.
#[derive(Debug, Clone, Copy)]
pub struct HoldLimits {
    /// Tickets in one booking.
    pub max_per_booking: i32,
    /// Tickets one user may hold or own for one event.
    pub max_per_user_per_event: i32,
}

/// A stored HTTP answer: what a replay of the same Idempotency-Key returns.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: serde_json::Value,
}

/// One hold request on its way to the event's worker.
#[derive(Debug)]
pub struct HoldJob {
    /// The caller.
    pub user_id: Uuid,
    /// Its Idempotency-Key.
    pub key: String,
    /// Hash of the canonical request body.
    pub request_hash: String,
    /// What to hold.
    pub request: HoldRequest,
    retries: u8,
    reply: oneshot::Sender<Result<StoredResponse, BookingError>>,
}

/// Accepts hold requests and routes them to per-event workers.
#[derive(Debug, Clone)]
pub struct HoldEngine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    limits: HoldLimits,
    feed: SeatFeed,
    queues: Mutex<HashMap<i64, mpsc::Sender<HoldJob>>>,
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

/// Removes a batch's picks from [`Inner::in_flight`] when the batch ends.
struct InFlightPicks<'a> {
    inner: &'a Inner,
    event_id: i64,
    seats: Vec<i64>,
}

impl Drop for InFlightPicks<'_> {
    fn drop(&mut self) {
        let mut set = self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for seat in &self.seats {
            set.remove(&(self.event_id, *seat));
        }
    }
}

/// (event, ticket type filter, section filter) of a best-available request.
type TierKey = (i64, Option<i64>, Option<i64>);

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

impl Inner {
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
        let (event_id, ticket_type_id, section_id) = key;
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
            "select es.seat_id, s.row_id, s.number
               from event_seats es join seats s on s.seat_id = es.seat_id
              where es.event_id = $1 and ($2::bigint is null or es.ticket_type_id = $2)",
        )
        .bind(event_id)
        .bind(ticket_type_id)
        .fetch_all(&mut **tx)
        .await?;
        seats.retain(|g| rank.contains_key(&g.row_id));
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
        let ((event_id, _, _), quantity) = key;
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
            if let Some(pick) = best_adjacent(&chunk, quantity, |_| true) {
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

impl HoldEngine {
    /// An engine on `pool`.
    pub fn new(pool: PgPool, limits: HoldLimits, feed: SeatFeed) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                limits,
                feed,
                queues: Mutex::new(HashMap::new()),
                geometry: Mutex::new(HashMap::new()),
                cursors: Mutex::new(HashMap::new()),
                geometry_load: tokio::sync::Mutex::new(()),
                in_flight: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// Places a hold and waits for its answer.
    pub async fn submit(
        &self,
        event_id: i64,
        user_id: Uuid,
        key: String,
        request_hash: String,
        request: HoldRequest,
    ) -> Result<StoredResponse, BookingError> {
        let (reply, answer) = oneshot::channel();
        let mut job = HoldJob {
            user_id,
            key,
            request_hash,
            request,
            retries: 0,
            reply,
        };
        // A worker that just went idle closes its queue; a send that races
        // with that fails and goes to a fresh worker.
        for _ in 0..3 {
            match self.queue(event_id).send(job).await {
                Ok(()) => {
                    return answer.await.unwrap_or_else(|_| {
                        Err(BookingError::Unavailable("hold worker stopped".into()))
                    });
                }
                Err(mpsc::error::SendError(returned)) => {
                    self.forget(event_id);
                    job = returned;
                }
            }
        }
        Err(BookingError::Unavailable("hold queue unavailable".into()))
    }

    fn queue(&self, event_id: i64) -> mpsc::Sender<HoldJob> {
        let mut queues = self.inner.queues.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = queues.get(&event_id).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        queues.insert(event_id, tx.clone());
        tokio::spawn(worker(self.clone(), event_id, tx.clone(), rx));
        tx
    }

    fn forget(&self, event_id: i64) {
        let mut queues = self.inner.queues.lock().unwrap_or_else(|p| p.into_inner());
        if queues.get(&event_id).is_some_and(mpsc::Sender::is_closed) {
            queues.remove(&event_id);
        }
    }
}

async fn worker(
    engine: HoldEngine,
    event_id: i64,
    own: mpsc::Sender<HoldJob>,
    mut rx: mpsc::Receiver<HoldJob>,
) {
    // Batches of one event may overlap in time: each locks what it needs in a
    // global order, so they stay correct, and while one waits on its commit
    // the next is already deciding.
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let done = Arc::new(tokio::sync::Notify::new());
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        match tokio::time::timeout(IDLE, rx.recv_many(&mut jobs, MAX_BATCH)).await {
            Ok(0) => return,
            Ok(_) => {
                // While another batch runs, a small one waits to grow: until
                // it is worth a transaction of its own or the running batch
                // ends (and its buyers come back). Otherwise one slot keeps
                // serving one or two requests per commit while the other
                // serves everyone else, who then wait two batch times.
                while jobs.len() < MIN_OVERLAPPING_BATCH
                    && slots.available_permits() + 1 < IN_FLIGHT
                {
                    let notified = done.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    if slots.available_permits() + 1 >= IN_FLIGHT {
                        break;
                    }
                    let room = MAX_BATCH - jobs.len();
                    tokio::select! {
                        n = rx.recv_many(&mut jobs, room) => if n == 0 { break },
                        () = &mut notified => break,
                    }
                }
                let engine = engine.clone();
                let own = own.clone();
                let slot = Slot {
                    permit: Some(permit),
                    done: done.clone(),
                };
                tokio::spawn(async move {
                    let retry = serve_batch(&engine, event_id, jobs).await;
                    drop(slot);
                    for job in retry {
                        if let Err(mpsc::error::SendError(job)) = own.send(job).await {
                            drop(job.reply.send(Err(BookingError::Unavailable(
                                "hold worker stopped".into(),
                            ))));
                        }
                    }
                });
            }
            Err(_idle) => {
                {
                    let mut queues = engine
                        .inner
                        .queues
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    if queues
                        .get(&event_id)
                        .is_some_and(|tx| tx.same_channel(&own))
                    {
                        queues.remove(&event_id);
                    }
                }
                rx.close();
                while let Ok(job) = rx.try_recv() {
                    jobs.push(job);
                }
                if !jobs.is_empty() {
                    for job in serve_batch(&engine, event_id, jobs).await {
                        drop(
                            job.reply
                                .send(Err(BookingError::Unavailable("retry the request".into()))),
                        );
                    }
                }
                return;
            }
        }
    }
}

/// A batch's slot: released, and a batch waiting to grow woken, when the
/// batch ends, whether it returns or panics.
struct Slot {
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    done: Arc<tokio::sync::Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.done.notify_waiters();
    }
}

/// What one request in a batch came to.
#[derive(Debug)]
enum Outcome {
    /// Decided: stored under the Idempotency-Key and returned.
    Stored(StoredResponse),
    /// Refused before anything was decided; not stored, the key is freed.
    Refused(BookingError),
    /// The key was already used: answered from the stored row after commit.
    Replay,
    /// A best-available pick lost a race; try again in the next batch.
    Retry,
}

/// Serves a batch; returns the jobs to requeue.
async fn serve_batch(engine: &HoldEngine, event_id: i64, jobs: Vec<HoldJob>) -> Vec<HoldJob> {
    let started = Instant::now();
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        match run_batch(&engine.inner, event_id, &jobs).await {
            Err(e) if is_retryable(&e) && attempt < 4 => {
                tracing::warn!(event_id, attempt, error = %e, "hold batch rolled back, retrying");
            }
            other => break other,
        }
    };
    let (outcomes, changes) = match result {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(event_id, error = %e, batch = jobs.len(), "hold batch failed");
            for job in jobs {
                drop(job.reply.send(Err(BookingError::Unavailable(
                    "could not place the hold; retry".into(),
                ))));
            }
            return Vec::new();
        }
    };
    tracing::debug!(
        event_id,
        batch = jobs.len(),
        attempts = attempt,
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        "hold batch committed"
    );
    engine.inner.feed.publish(event_id, &changes).await;

    let replays: Vec<(Uuid, String)> = jobs
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| matches!(o, Outcome::Replay))
        .map(|(j, _)| (j.user_id, j.key.clone()))
        .collect();
    let stored = if replays.is_empty() {
        HashMap::new()
    } else {
        stored_responses(&engine.inner.pool, &replays)
            .await
            .unwrap_or_default()
    };

    let mut retry = Vec::new();
    for (mut job, outcome) in jobs.into_iter().zip(outcomes) {
        let answer = match outcome {
            Outcome::Stored(r) => Ok(r),
            Outcome::Refused(e) => Err(e),
            Outcome::Replay => replay(&stored, &job),
            Outcome::Retry if job.retries < MAX_PICK_RETRIES => {
                job.retries += 1;
                retry.push(job);
                continue;
            }
            Outcome::Retry => Err(BookingError::conflict(
                "seats_unavailable",
                "no adjacent seats could be held; try again",
            )),
        };
        drop(job.reply.send(answer));
    }
    retry
}

fn replay(
    stored: &HashMap<(Uuid, String), StoredRow>,
    job: &HoldJob,
) -> Result<StoredResponse, BookingError> {
    match stored.get(&(job.user_id, job.key.clone())) {
        Some(row) if row.request_hash != job.request_hash => Err(BookingError::IdempotencyMismatch),
        Some(StoredRow {
            status: Some(status),
            body: Some(body),
            ..
        }) => Ok(StoredResponse {
            status: u16::try_from(*status).unwrap_or(500),
            body: body.clone(),
        }),
        _ => Err(BookingError::conflict(
            "request_in_progress",
            "a request with this Idempotency-Key is still being processed",
        )),
    }
}

/// An idempotency row.
#[derive(Debug, Clone)]
pub struct StoredRow {
    request_hash: String,
    status: Option<i16>,
    body: Option<serde_json::Value>,
}

/// Stored responses for (user, key) pairs.
pub async fn stored_responses(
    pool: &PgPool,
    keys: &[(Uuid, String)],
) -> Result<HashMap<(Uuid, String), StoredRow>, sqlx::Error> {
    let users: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    let names: Vec<String> = keys.iter().map(|k| k.1.clone()).collect();
    type Row = (Uuid, String, String, Option<i16>, Option<serde_json::Value>);
    let rows: Vec<Row> = sqlx::query_as(
        "select k.user_id, k.idempotency_key, k.request_hash, k.response_status, k.response_body
           from idempotency_keys k
           join unnest($1::uuid[], $2::text[]) as q(user_id, idempotency_key) using (user_id, idempotency_key)",
    )
    .bind(&users)
    .bind(&names)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(u, k, request_hash, status, body)| {
            (
                (u, k),
                StoredRow {
                    request_hash,
                    status,
                    body,
                },
            )
        })
        .collect())
}

#[derive(Debug, Clone)]
struct TicketType {
    name: String,
    seated: bool,
    price_cents: i64,
    currency: String,
    hold_seconds: i32,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct LockedSeat {
    seat_id: i64,
    ticket_type_id: i64,
    free: bool,
    section: String,
    row_label: String,
    number: i32,
}

#[derive(Debug, sqlx::FromRow)]
struct EventInfo {
    status: String,
    sale_open: bool,
    now: DateTime<Utc>,
    title: String,
    starts_at: DateTime<Utc>,
    venue: String,
    city: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct TierSeat {
    seat_id: i64,
    row_id: i64,
    number: i32,
    free: bool,
}

/// Seat and counter changes a committed batch made, for the live feed.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Changes {
    /// (seat id, new status).
    pub seats: Vec<(i64, &'static str)>,
    /// (ticket type id, change in held).
    pub general_admission: Vec<(i64, i32)>,
}

/// What a successful request claimed.
#[derive(Debug, Default)]
struct Claim {
    seats: Vec<(i64, i64)>,
    ga: Option<(i64, i32)>,
}

async fn run_batch(
    inner: &Arc<Inner>,
    event_id: i64,
    jobs: &[HoldJob],
) -> Result<(Vec<Outcome>, Changes), sqlx::Error> {
    let limits = inner.limits;
    let mut tx = inner.pool.begin().await?;
    let mut outcomes: Vec<Option<Outcome>> = jobs.iter().map(|_| None).collect();

    let event: Option<EventInfo> = sqlx::query_as(
        "select e.status, e.sale_starts_at <= now() and now() < e.sale_ends_at as sale_open, now() as now,
                e.title, e.starts_at, v.name as venue, v.city
           from events e join venues v on v.venue_id = e.venue_id
          where e.event_id = $1",
    )
    .bind(event_id)
    .fetch_optional(&mut *tx)
    .await?;
    let refuse_all = match &event {
        None => Some(BookingError::NotFound(format!("event {event_id}"))),
        Some(e) if e.status != "scheduled" => Some(BookingError::conflict(
            "event_not_on_sale",
            format!("event {event_id} is {}", e.status),
        )),
        Some(e) if !e.sale_open => Some(BookingError::conflict(
            "sale_not_open",
            "this event's sale is not open",
        )),
        Some(_) => None,
    };
    let (Some(event), None) = (event, &refuse_all) else {
        // A key already answered (before the sale closed, say) still
        // replays its first answer.
        let keys: Vec<(Uuid, String)> = jobs.iter().map(|j| (j.user_id, j.key.clone())).collect();
        let stored = stored_responses(&inner.pool, &keys).await?;
        let err = refuse_all.unwrap_or_else(|| BookingError::NotFound(format!("event {event_id}")));
        let outcomes = jobs
            .iter()
            .map(|j| {
                if stored.contains_key(&(j.user_id, j.key.clone())) {
                    Outcome::Replay
                } else {
                    Outcome::Refused(clone_error(&err))
                }
            })
            .collect();
        return Ok((outcomes, Changes::default()));
    };

    // Users must exist (bookings reference them).
    let users: Vec<Uuid> = jobs.iter().map(|j| j.user_id).collect();
    let known: HashSet<Uuid> =
        sqlx::query_scalar("select user_id from users where user_id = any($1)")
            .bind(&users)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();

    // Claim the Idempotency-Keys; a key already present is a replay.
    let mut batch_keys = HashSet::new();
    let (mut k_users, mut k_keys, mut k_hashes) = (Vec::new(), Vec::new(), Vec::new());
    for (i, job) in jobs.iter().enumerate() {
        if !known.contains(&job.user_id) {
            outcomes[i] = Some(Outcome::Refused(BookingError::UnknownUser));
        } else if !batch_keys.insert((job.user_id, job.key.as_str())) {
            outcomes[i] = Some(Outcome::Replay);
        } else {
            k_users.push(job.user_id);
            k_keys.push(job.key.clone());
            k_hashes.push(job.request_hash.clone());
        }
    }
    let fresh: HashSet<(Uuid, String)> = sqlx::query_as(
        "insert into idempotency_keys (user_id, idempotency_key, request_hash)
         select * from unnest($1::uuid[], $2::text[], $3::text[])
         on conflict do nothing
         returning user_id, idempotency_key",
    )
    .bind(&k_users)
    .bind(&k_keys)
    .bind(&k_hashes)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    for (i, job) in jobs.iter().enumerate() {
        if outcomes[i].is_none() && !fresh.contains(&(job.user_id, job.key.clone())) {
            outcomes[i] = Some(Outcome::Replay);
        }
    }

    // One buyer's requests in overlapping batches (or on other instances)
    // must not both pass the per-buyer limit: serialize them per (buyer,
    // event), taking the locks in a fixed order.
    sqlx::query(
        "select pg_advisory_xact_lock(k)
           from (select distinct hashtextextended(u::text || ':' || $2::text, 0) as k
                   from unnest($1::uuid[]) as u) q
          order by k",
    )
    .bind(&k_users)
    .bind(event_id)
    .execute(&mut *tx)
    .await?;

    // Tickets each user already holds or owns for this event.
    let mut per_user: HashMap<Uuid, i64> = sqlx::query_as(
        // Driven from the buyers, each lateral fenced (`offset 0`), so the
        // plan is index lookups per buyer even when it was cached while the
        // tables were small (a first on-sale grows them from nothing).
        "select u.user_id, sum(i.quantity)::bigint
           from (select distinct unnest($2::uuid[]) as user_id) u
           cross join lateral (
                 select b.booking_id from bookings b
                  where b.user_id = u.user_id and b.event_id = $1
                    and (b.status = 'confirmed'
                         or (b.status in ('in_process', 'payment_pending') and b.expires_at > now()))
                 offset 0) b
           cross join lateral (
                 select i.quantity from booking_items i where i.booking_id = b.booking_id offset 0) i
          group by u.user_id",
    )
    .bind(event_id)
    .bind(&users)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();

    let types: HashMap<i64, TicketType> = sqlx::query_as::<_, (i64, String, String, i64, String, i32)>(
        "select ticket_type_id, name, kind, price_cents, currency, hold_seconds from ticket_types where event_id = $1",
    )
    .bind(event_id)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(id, name, kind, price_cents, currency, hold_seconds)| {
        (
            id,
            TicketType {
                name,
                seated: kind == "seated",
                price_cents,
                currency,
                hold_seconds,
            },
        )
    })
    .collect();

    // Best-available picks, read without locks, then locked with the rest.
    let explicit: BTreeSet<i64> = jobs
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.is_none())
        .filter_map(|(j, _)| match &j.request {
            HoldRequest::Seats(s) => Some(s.iter().copied()),
            _ => None,
        })
        .flatten()
        .collect();
    let mut picks: HashMap<usize, Vec<i64>> = HashMap::new();
    let mut picked: HashSet<i64> = HashSet::new();
    // Best-available jobs grouped by what they ask for, in arrival order.
    let mut wanted: Vec<(TierKey, Vec<(usize, i32)>)> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let HoldRequest::BestAvailable {
            ticket_type_id,
            section_id,
            quantity,
        } = job.request
        else {
            continue;
        };
        if outcomes[i].is_some() {
            continue;
        }
        if let Some(t) = ticket_type_id
            && !types.get(&t).is_some_and(|t| t.seated)
        {
            outcomes[i] = Some(Outcome::Refused(BookingError::invalid(
                "best_available.ticket_type_id",
                format!("no seated ticket type {t} in event {event_id}"),
            )));
            continue;
        }
        let key = (event_id, ticket_type_id, section_id);
        match wanted.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push((i, quantity)),
            None => wanted.push((key, vec![(i, quantity)])),
        }
    }
    let mut picks_guard = InFlightPicks {
        inner,
        event_id,
        seats: Vec::new(),
    };
    for (key, mut pending) in wanted {
        let geometry = inner.geometry(&mut tx, key).await?;
        if geometry.seats.is_empty() {
            let field = if key.2.is_some() {
                "best_available.section_id"
            } else {
                "best_available.ticket_type_id"
            };
            for (i, _) in pending {
                outcomes[i] = Some(Outcome::Refused(BookingError::invalid(
                    field,
                    "no seats of this event match",
                )));
            }
            continue;
        }
        // Scan chunks of whole rows in ranking order, starting where the
        // smallest quantity asked for last fitted (earlier rows had no run
        // that long), wrapping round so nothing is missed.
        let smallest = pending.iter().map(|(_, q)| *q).min().unwrap_or(1);
        let hint = inner.cursor((key, smallest), &geometry);
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
                window_availability(&mut *tx, event_id, window.len(), seats, &mut everything)
                    .await?;
            let mut still = Vec::new();
            let mut set = inner.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            for (i, quantity) in pending {
                let usable = |s: i64| {
                    !explicit.contains(&s) && !picked.contains(&s) && !set.contains(&(event_id, s))
                };
                match best_adjacent(&chunk, quantity, usable) {
                    Some(choice) => {
                        if quantity == smallest && first_fit.is_none() {
                            first_fit = Some(geometry.chunk_of(&chunk, from, choice[0]));
                        }
                        for seat in &choice {
                            set.insert((event_id, *seat));
                        }
                        picks_guard.seats.extend(choice.iter().copied());
                        picked.extend(choice.iter().copied());
                        picks.insert(i, choice);
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
        inner.remember_cursor((key, smallest), next);
        for (i, quantity) in pending {
            outcomes[i] = Some(Outcome::Stored(conflict_response(
                "seats_unavailable",
                format!("no row has {quantity} adjacent seats available"),
                None,
            )));
        }
    }

    let to_lock: Vec<i64> = explicit
        .iter()
        .copied()
        .chain(picked.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let locked: HashMap<i64, LockedSeat> = if to_lock.is_empty() {
        HashMap::new()
    } else {
        sqlx::query_as::<_, LockedSeat>(
            "select es.seat_id, es.ticket_type_id,
                    es.status = 'available' or (es.status = 'held' and es.held_until < now()) as free,
                    vs.name as section, vr.label as row_label, s.number
               from event_seats es
               join seats s on s.seat_id = es.seat_id
               join venue_rows vr on vr.row_id = s.row_id
               join venue_sections vs on vs.section_id = vr.section_id
              where es.event_id = $1 and es.seat_id = any($2)
              order by es.seat_id
                for update of es",
        )
        .bind(event_id)
        .bind(&to_lock)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|s| (s.seat_id, s))
        .collect()
    };

    // General-admission counters, locked in id order.
    let ga_types: BTreeSet<i64> = jobs
        .iter()
        .filter_map(|j| match j.request {
            HoldRequest::GeneralAdmission { ticket_type_id, .. } => Some(ticket_type_id),
            _ => None,
        })
        .filter(|t| types.get(t).is_some_and(|t| !t.seated))
        .collect();
    let mut ga_free = lock_ga(&mut tx, &ga_types).await?;
    let mut inline_released = Changes::default();
    let ga_wanted: i64 = jobs
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.is_none())
        .filter_map(|(j, _)| match j.request {
            HoldRequest::GeneralAdmission { quantity, .. } => Some(i64::from(quantity)),
            _ => None,
        })
        .sum();
    if ga_wanted > ga_free.values().map(|v| i64::from(*v)).sum::<i64>() {
        // Lapsed holds still count against capacity until released; release
        // this event's now rather than refuse buyers.
        let (released, _) = lifecycle::expire_lapsed(&mut tx, Some(event_id), 1_000).await?;
        for (_, c) in released {
            inline_released.seats.extend(c.seats);
            inline_released
                .general_admission
                .extend(c.general_admission);
        }
        ga_free = lock_ga(&mut tx, &ga_types).await?;
    }

    let seat_claim = |seats: &[i64]| Claim {
        seats: seats
            .iter()
            .filter_map(|s| locked.get(s).map(|l| (l.seat_id, l.ticket_type_id)))
            .collect(),
        ga: None,
    };
    // Decide, in arrival order.
    let mut claimed: HashSet<i64> = HashSet::new();
    let mut claims: HashMap<usize, Claim> = HashMap::new();
    for (i, job) in jobs.iter().enumerate() {
        if outcomes[i].is_some() {
            continue;
        }
        let wanted = i64::from(job.request.tickets());
        let already = per_user.get(&job.user_id).copied().unwrap_or(0);
        if already + wanted > i64::from(limits.max_per_user_per_event) {
            outcomes[i] = Some(Outcome::Stored(conflict_response(
                "ticket_limit_reached",
                format!(
                    "at most {} tickets per customer for this event; you already have {already}",
                    limits.max_per_user_per_event
                ),
                Some(match job.request {
                    HoldRequest::Seats(_) => "seat_ids",
                    HoldRequest::GeneralAdmission { .. } => "quantity",
                    HoldRequest::BestAvailable { .. } => "best_available.quantity",
                }),
            )));
            continue;
        }
        let decided = match &job.request {
            HoldRequest::Seats(seats) => {
                let unknown: Vec<i64> = seats
                    .iter()
                    .copied()
                    .filter(|s| !locked.contains_key(s))
                    .collect();
                if !unknown.is_empty() {
                    Some(Outcome::Refused(BookingError::invalid(
                        "seat_ids",
                        format!("seats {unknown:?} are not seats of event {event_id}"),
                    )))
                } else {
                    let taken: Vec<i64> = seats
                        .iter()
                        .copied()
                        .filter(|s| claimed.contains(s) || !locked.get(s).is_some_and(|l| l.free))
                        .collect();
                    if taken.is_empty() {
                        claims.insert(i, seat_claim(seats));
                        None
                    } else {
                        Some(Outcome::Stored(seats_unavailable(&taken)))
                    }
                }
            }
            HoldRequest::BestAvailable { .. } => {
                let choice = picks.get(&i).cloned().unwrap_or_default();
                let still_free = choice
                    .iter()
                    .all(|s| !claimed.contains(s) && locked.get(s).is_some_and(|l| l.free));
                if still_free {
                    claims.insert(i, seat_claim(&choice));
                    None
                } else {
                    Some(Outcome::Retry)
                }
            }
            HoldRequest::GeneralAdmission {
                ticket_type_id,
                quantity,
            } => match (types.get(ticket_type_id), ga_free.get_mut(ticket_type_id)) {
                (Some(t), Some(free)) if !t.seated => {
                    if *free >= *quantity {
                        *free -= quantity;
                        claims.insert(
                            i,
                            Claim {
                                seats: Vec::new(),
                                ga: Some((*ticket_type_id, *quantity)),
                            },
                        );
                        None
                    } else {
                        Some(Outcome::Stored(conflict_response(
                            "tickets_unavailable",
                            format!("only {free} tickets of type {ticket_type_id} are available"),
                            Some("quantity"),
                        )))
                    }
                }
                _ => Some(Outcome::Refused(BookingError::invalid(
                    "ticket_type_id",
                    format!(
                        "no general-admission ticket type {ticket_type_id} in event {event_id}"
                    ),
                ))),
            },
        };
        match decided {
            Some(outcome) => outcomes[i] = Some(outcome),
            None => {
                if let Some(claim) = claims.get(&i) {
                    claimed.extend(claim.seats.iter().map(|(s, _)| *s));
                }
                *per_user.entry(job.user_id).or_default() += wanted;
            }
        }
    }

    // Write the successful holds, set-based.
    let now = event.now;
    // Releases first, so a subscriber applying changes in order ends right.
    let mut changes = inline_released;
    let (mut b_ids, mut b_users, mut b_totals, mut b_currencies, mut b_expiry) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut s_ids, mut s_bookings, mut s_until) = (Vec::new(), Vec::new(), Vec::new());
    let (mut i_bookings, mut i_types, mut i_seats, mut i_qty, mut i_price) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut ga_delta: HashMap<i64, i32> = HashMap::new();
    let mut created: Vec<(usize, BookingView)> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let Some(claim) = claims.get(&i) else {
            continue;
        };
        if outcomes[i].is_some() {
            continue;
        }
        let booking_id = Uuid::new_v4();
        let type_ids: Vec<i64> = claim
            .seats
            .iter()
            .map(|(_, t)| *t)
            .chain(claim.ga.map(|(t, _)| t))
            .collect();
        let hold = type_ids
            .iter()
            .filter_map(|t| types.get(t).map(|t| t.hold_seconds))
            .min()
            .unwrap_or(600);
        let until = now + chrono::Duration::seconds(i64::from(hold));
        let currency = type_ids
            .first()
            .and_then(|t| types.get(t))
            .map_or_else(|| "EUR".to_owned(), |t| t.currency.clone());
        let mut total = 0i64;
        let mut items = Vec::new();
        for (seat_id, type_id) in &claim.seats {
            let price = types.get(type_id).map_or(0, |t| t.price_cents);
            total += price;
            items.push(ItemView {
                ticket_type_id: *type_id,
                ticket_type: types
                    .get(type_id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
                seat: locked.get(seat_id).map(|l| SeatView {
                    seat_id: *seat_id,
                    section: l.section.clone(),
                    row: l.row_label.clone(),
                    number: l.number,
                }),
                quantity: 1,
                unit_price_cents: price,
            });
            s_ids.push(*seat_id);
            s_bookings.push(booking_id);
            s_until.push(until);
            i_bookings.push(booking_id);
            i_types.push(*type_id);
            i_seats.push(Some(*seat_id));
            i_qty.push(1i32);
            i_price.push(price);
            changes.seats.push((*seat_id, "held"));
        }
        if let Some((type_id, quantity)) = claim.ga {
            let price = types.get(&type_id).map_or(0, |t| t.price_cents);
            total += price * i64::from(quantity);
            items.push(ItemView {
                ticket_type_id: type_id,
                ticket_type: types
                    .get(&type_id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
                seat: None,
                quantity,
                unit_price_cents: price,
            });
            *ga_delta.entry(type_id).or_default() += quantity;
            i_bookings.push(booking_id);
            i_types.push(type_id);
            i_seats.push(None::<i64>);
            i_qty.push(quantity);
            i_price.push(price);
        }
        b_ids.push(booking_id);
        b_users.push(job.user_id);
        b_totals.push(total);
        created.push((
            i,
            BookingView {
                booking_id,
                status: "payment_pending".to_owned(),
                event_id,
                event_title: event.title.clone(),
                event_starts_at: event.starts_at,
                venue: event.venue.clone(),
                city: event.city.clone(),
                expires_at: until,
                items,
                total_cents: total,
                currency: currency.clone(),
                created_at: now,
            },
        ));
        b_currencies.push(currency);
        b_expiry.push(until);
    }

    if !b_ids.is_empty() {
        // The bookings and their `booking.created` outbox rows in one
        // statement, the payload built from what is inserted.
        sqlx::query(concat!(
            "with created as (
                 insert into bookings (booking_id, user_id, event_id, status, total_cents, currency, expires_at)
                 select b, u, $1, 'payment_pending', t, c, x
                   from unnest($2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::timestamptz[]) as q(b, u, t, c, x)
                 returning *)
             insert into outbox (aggregate_type, aggregate_id, event_type, payload)
             select 'booking', b.booking_id::text, 'booking.created', ",
            lifecycle::outbox_payload!(),
            " from created b",
        ))
        .bind(event_id)
        .bind(&b_ids)
        .bind(&b_users)
        .bind(&b_totals)
        .bind(&b_currencies)
        .bind(&b_expiry)
        .execute(&mut *tx)
        .await?;
        if !s_ids.is_empty() {
            sqlx::query(
                "update event_seats es
                    set status = 'held', booking_id = q.b, held_until = q.x
                   from unnest($2::bigint[], $3::uuid[], $4::timestamptz[]) as q(s, b, x)
                  where es.event_id = $1 and es.seat_id = q.s",
            )
            .bind(event_id)
            .bind(&s_ids)
            .bind(&s_bookings)
            .bind(&s_until)
            .execute(&mut *tx)
            .await?;
        }
        if !ga_delta.is_empty() {
            let (t, d): (Vec<i64>, Vec<i32>) = ga_delta.iter().map(|(t, d)| (*t, *d)).unzip();
            sqlx::query(
                "update ga_inventory g set held = g.held + q.d
                   from unnest($1::bigint[], $2::int[]) as q(t, d)
                  where g.ticket_type_id = q.t",
            )
            .bind(&t)
            .bind(&d)
            .execute(&mut *tx)
            .await?;
            changes.general_admission = ga_delta.into_iter().collect();
        }
        sqlx::query(
            "insert into booking_items (booking_id, event_id, ticket_type_id, seat_id, quantity, price_cents)
             select b, $1, t, s, q, p
               from unnest($2::uuid[], $3::bigint[], $4::bigint[], $5::int[], $6::bigint[]) as x(b, t, s, q, p)",
        )
        .bind(event_id)
        .bind(&i_bookings)
        .bind(&i_types)
        .bind(&i_seats)
        .bind(&i_qty)
        .bind(&i_price)
        .execute(&mut *tx)
        .await?;
        for (i, view) in created {
            outcomes[i] = Some(Outcome::Stored(StoredResponse {
                status: 201,
                body: serde_json::to_value(view).unwrap_or_default(),
            }));
        }
    }

    // Store decided answers under their keys; free the keys of refusals.
    let (mut st_users, mut st_keys, mut st_status, mut st_body) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut fr_users, mut fr_keys) = (Vec::new(), Vec::new());
    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Retry))
        .collect();
    for (job, outcome) in jobs.iter().zip(&outcomes) {
        if !fresh.contains(&(job.user_id, job.key.clone())) {
            continue;
        }
        match outcome {
            Outcome::Stored(r) => {
                st_users.push(job.user_id);
                st_keys.push(job.key.clone());
                st_status.push(i16::try_from(r.status).unwrap_or(500));
                st_body.push(r.body.clone());
            }
            Outcome::Refused(_) | Outcome::Retry => {
                fr_users.push(job.user_id);
                fr_keys.push(job.key.clone());
            }
            Outcome::Replay => {}
        }
    }
    if !st_users.is_empty() {
        sqlx::query(
            "update idempotency_keys k set response_status = q.s, response_body = q.b
               from unnest($1::uuid[], $2::text[], $3::smallint[], $4::jsonb[]) as q(u, k, s, b)
              where k.user_id = q.u and k.idempotency_key = q.k",
        )
        .bind(&st_users)
        .bind(&st_keys)
        .bind(&st_status)
        .bind(&st_body)
        .execute(&mut *tx)
        .await?;
    }
    if !fr_users.is_empty() {
        sqlx::query(
            "delete from idempotency_keys k using unnest($1::uuid[], $2::text[]) as q(u, k)
              where k.user_id = q.u and k.idempotency_key = q.k",
        )
        .bind(&fr_users)
        .bind(&fr_keys)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok((outcomes, changes))
}

async fn lock_ga(
    tx: &mut Transaction<'_, Postgres>,
    types: &BTreeSet<i64>,
) -> Result<HashMap<i64, i32>, sqlx::Error> {
    if types.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<i64> = types.iter().copied().collect();
    Ok(sqlx::query_as::<_, (i64, i32)>(
        "select ticket_type_id, capacity - held - sold from ga_inventory
          where ticket_type_id = any($1) order by ticket_type_id for update",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect())
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
        })
        .collect()
}

/// The best `quantity` adjacent seats: in the best row (lowest section rank,
/// then the row nearest the stage) that has a run of `quantity` free seats
/// with consecutive numbers; within it, the run closest to the row's centre.
/// `seats` come ordered by rank, position, section, row, number.
fn best_adjacent(
    seats: &[TierSeat],
    quantity: i32,
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

fn seats_unavailable(seats: &[i64]) -> StoredResponse {
    let mut problem = BookingError::conflict(
        "seats_unavailable",
        format!("seats {seats:?} are not available"),
    )
    .to_problem();
    problem = problem
        .with_field("seat_ids")
        .with_extension("unavailable_seat_ids", seats);
    StoredResponse {
        status: 409,
        body: serde_json::to_value(problem).unwrap_or_default(),
    }
}

fn conflict_response(
    code: &'static str,
    detail: String,
    field: Option<&'static str>,
) -> StoredResponse {
    let mut problem = BookingError::conflict(code, detail).to_problem();
    if let Some(field) = field {
        problem = problem.with_field(field);
    }
    StoredResponse {
        status: 409,
        body: serde_json::to_value(problem).unwrap_or_else(|_| json!({})),
    }
}

fn clone_error(e: &BookingError) -> BookingError {
    match e {
        BookingError::NotFound(s) => BookingError::Invalid {
            field: "event_id".into(),
            detail: format!("unknown {s}"),
        },
        BookingError::Conflict {
            code,
            detail,
            field,
            extra,
        } => BookingError::Conflict {
            code,
            detail: detail.clone(),
            field: *field,
            extra: extra.clone(),
        },
        other => BookingError::Unavailable(other.to_string()),
    }
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
            })
            .collect()
    }

    #[test]
    fn picks_the_run_closest_to_the_centre_of_the_best_row_that_fits() {
        // Row 1 has no run of 3; row 2 has runs at 1-3 and 4-8.
        let mut seats = row(1, &[true, true, false, true, true, false, true, true]);
        seats.extend(row(
            2,
            &[true, true, true, false, true, true, true, true, true],
        ));

        let pick = best_adjacent(&seats, 3, |_| true).expect("fits");

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
            })
            .collect();

        assert_eq!(id_ranges(&seats), (vec![3, 7, 10, 20], vec![5, 7, 11, 20]));
    }

    #[test]
    fn no_row_with_enough_adjacent_seats_gives_none() {
        let seats = row(1, &[true, false, true, false, true]);

        assert_eq!(best_adjacent(&seats, 2, |_| true), None);
    }
}
