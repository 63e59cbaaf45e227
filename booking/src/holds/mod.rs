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
//!
//! Layout: this module is the engine (per-event queue, worker, batch slots,
//! answering and requeueing); [`batch`] is the transaction, phase by phase;
//! [`best_available`] finds adjacent seats; [`idempotency`] claims keys,
//! stores answers and replays them.

mod batch;
mod best_available;
mod idempotency;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

pub use idempotency::{StoredResponse, StoredRow, stored_responses};

use self::best_available::BestAvailable;
use self::idempotency::replay;
use crate::error::{BookingError, is_retryable};
use crate::feed::SeatFeed;
use crate::model::HoldRequest;

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
    best: Arc<BestAvailable>,
}

impl HoldEngine {
    /// An engine on `pool`.
    pub fn new(pool: PgPool, limits: HoldLimits, feed: SeatFeed) -> Self {
        Self {
            inner: Arc::new(Inner {
                best: Arc::new(BestAvailable::new(pool.clone())),
                pool,
                limits,
                feed,
                queues: Mutex::new(HashMap::new()),
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
        match batch::run_batch(&engine.inner, event_id, &jobs).await {
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
    let mut answered = Vec::with_capacity(jobs.len());
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
        answered.push((job, answer));
    }
    // Refusals name their seats after the commit, outside every lock, and
    // off the worker: the next batch does not wait for the names.
    let pool = engine.inner.pool.clone();
    tokio::spawn(async move {
        let mut responses: Vec<&mut StoredResponse> = answered
            .iter_mut()
            .filter_map(|(_, answer)| answer.as_mut().ok())
            .collect();
        if let Err(e) = batch::name_unavailable_seats(&pool, &mut responses).await {
            tracing::warn!(event_id, error = %e, "could not name the unavailable seats; answering with ids");
        }
        for (job, answer) in answered {
            drop(job.reply.send(answer));
        }
    });
    retry
}
