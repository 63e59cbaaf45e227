//! One batch of hold requests for one event, served by one transaction.
//!
//! [`run_batch`] is a list of phases, each a function below, in the order
//! they run:
//! 1. [`on_sale`]: refuse the whole batch unless the event is on sale (keys
//!    already answered still replay);
//! 2. [`idempotency::claim_keys`]: claim each request's Idempotency-Key;
//! 3. [`lock_buyers`]: serialize each buyer's requests for this event;
//! 4. [`tickets_per_buyer`] and [`ticket_types`]: what the limits and
//!    prices need;
//! 5. pick seats for best available
//!    ([`BestAvailable::pick`](super::best_available::BestAvailable::pick),
//!    without locks),
//!    then [`lock_seats`] and [`lock_general_admission`] in a global order;
//! 6. [`Decider::decide`]: in arrival order, check the per-buyer limit and
//!    that what a request wants is still free;
//! 7. [`write_holds`]: bookings with their outbox rows, seats, counters and
//!    items, each one set-based statement;
//! 8. [`idempotency::store_answers`], then commit.
//!
//! After the commit, with every lock released, [`name_unavailable_seats`]
//! names the taken seats of each refusal by section, row and number (seat
//! labels never change once a ticket type prices them, so the first answer
//! and a replay read the same).
//!
//! Availability is decided only in phase 6, after every seat and counter
//! the batch touches is locked, so what was read without locks (the picks)
//! can only cost a retry, never a double sale.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::best_available::{TierKey, Unpicked, Wanted};
use super::idempotency::{self, StoredResponse};
use super::{HoldJob, HoldLimits, Inner, Outcome};
use crate::error::BookingError;
use crate::inventory::{self, Changes};
use crate::model::{BookingView, HoldRequest, ItemView, SeatView};
use crate::outbox::outbox_payload;
use crate::status::{BookingStatus, EventStatus, SeatStatus};

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
    status: EventStatus,
    sale_open: bool,
    now: DateTime<Utc>,
    title: String,
    starts_at: DateTime<Utc>,
    venue: String,
    city: String,
    venue_timezone: String,
}

/// What a successful request claimed.
#[derive(Debug, Default)]
struct Claim {
    /// (seat id, ticket type id).
    seats: Vec<(i64, i64)>,
    /// (ticket type id, quantity).
    ga: Option<(i64, i32)>,
}

/// Serves `jobs` in one transaction: an outcome per job, and the seat and
/// counter changes to publish once committed.
pub(super) async fn run_batch(
    inner: &Arc<Inner>,
    event_id: i64,
    jobs: &[HoldJob],
) -> Result<(Vec<Outcome>, Changes), sqlx::Error> {
    let mut tx = inner.pool.begin().await?;
    let event = match on_sale(&mut tx, event_id).await? {
        Ok(event) => event,
        Err(refusal) => {
            let outcomes = refuse_all(&inner.pool, jobs, &refusal).await?;
            return Ok((outcomes, Changes::default()));
        }
    };
    let mut outcomes: Vec<Option<Outcome>> = jobs.iter().map(|_| None).collect();
    let known = known_buyers(&mut tx, jobs).await?;
    let claimed = idempotency::claim_keys(&mut tx, jobs, &known, &mut outcomes).await?;
    lock_buyers(&mut tx, event_id, &claimed.buyers).await?;
    let per_user = tickets_per_buyer(&mut tx, event_id, jobs).await?;
    let types = ticket_types(&mut tx, event_id).await?;

    let explicit = explicit_seats(jobs, &outcomes);
    let wanted = best_available_wanted(event_id, jobs, &types, &mut outcomes);
    let picks = inner
        .best
        .pick(&mut tx, event_id, wanted, &explicit)
        .await?;
    record_unpicked(&picks.unpicked, &mut outcomes);
    let locked = lock_seats(&mut tx, event_id, &explicit, &picks.picked).await?;
    let (ga_free, released) =
        lock_general_admission(&mut tx, event_id, jobs, &types, &outcomes).await?;

    let claims = Decider {
        event_id,
        limits: inner.limits,
        types: &types,
        locked: &locked,
        picks: &picks.chosen,
        ga_free,
        per_user,
        claimed: HashSet::new(),
    }
    .decide(jobs, &mut outcomes);
    let batch = Batch {
        event_id,
        event: &event,
        types: &types,
        locked: &locked,
    };
    let changes = write_holds(&mut tx, &batch, jobs, &claims, released, &mut outcomes).await?;

    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Retry))
        .collect();
    idempotency::store_answers(&mut tx, jobs, &claimed.fresh, &outcomes).await?;
    tx.commit().await?;
    // The picks stay reserved against overlapping batches until committed.
    drop(picks);
    Ok((outcomes, changes))
}

/// The event, if it is on sale now; otherwise why the batch is refused.
async fn on_sale(
    tx: &mut Transaction<'_, Postgres>,
    event_id: i64,
) -> Result<Result<EventInfo, BookingError>, sqlx::Error> {
    let event: Option<EventInfo> = sqlx::query_as(
        "select e.status, e.sale_starts_at <= now() and now() < e.sale_ends_at as sale_open, now() as now,
                e.title, e.starts_at, v.name as venue, v.city, v.timezone as venue_timezone
           from events e join venues v on v.venue_id = e.venue_id
          where e.event_id = $1",
    )
    .bind(event_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match event {
        None => Err(BookingError::NotFound(format!("event {event_id}"))),
        Some(e) if e.status != EventStatus::Scheduled => Err(BookingError::conflict(
            "event_not_on_sale",
            format!("event {event_id} is {}", e.status),
        )),
        Some(e) if !e.sale_open => Err(BookingError::conflict(
            "sale_not_open",
            "this event's sale is not open",
        )),
        Some(e) => Ok(e),
    })
}

/// Every job refused with `refusal`, except those whose key was already
/// answered (before the sale closed, say): they still replay their first
/// answer.
async fn refuse_all(
    pool: &PgPool,
    jobs: &[HoldJob],
    refusal: &BookingError,
) -> Result<Vec<Outcome>, sqlx::Error> {
    let keys: Vec<(Uuid, String)> = jobs.iter().map(|j| (j.user_id, j.key.clone())).collect();
    let stored = idempotency::stored_responses(pool, &keys).await?;
    Ok(jobs
        .iter()
        .map(|j| {
            if stored.contains_key(&(j.user_id, j.key.clone())) {
                Outcome::Replay
            } else {
                Outcome::Refused(clone_error(refusal))
            }
        })
        .collect())
}

/// The jobs' buyers that exist (bookings reference them).
async fn known_buyers(
    tx: &mut Transaction<'_, Postgres>,
    jobs: &[HoldJob],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let users: Vec<Uuid> = jobs.iter().map(|j| j.user_id).collect();
    Ok(
        sqlx::query_scalar("select user_id from users where user_id = any($1)")
            .bind(&users)
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .collect(),
    )
}

/// One buyer's requests in overlapping batches (or on other instances)
/// must not both pass the per-buyer limit: serialize them per (buyer,
/// event), taking the locks in a fixed order.
async fn lock_buyers(
    tx: &mut Transaction<'_, Postgres>,
    event_id: i64,
    buyers: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "select pg_advisory_xact_lock(k)
           from (select distinct hashtextextended(u::text || ':' || $2::text, 0) as k
                   from unnest($1::uuid[]) as u) q
          order by k",
    )
    .bind(buyers)
    .bind(event_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Tickets each buyer already holds or owns for this event.
async fn tickets_per_buyer(
    tx: &mut Transaction<'_, Postgres>,
    event_id: i64,
    jobs: &[HoldJob],
) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    let users: Vec<Uuid> = jobs.iter().map(|j| j.user_id).collect();
    Ok(sqlx::query_as(
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
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect())
}

/// The event's ticket types by id.
async fn ticket_types(
    tx: &mut Transaction<'_, Postgres>,
    event_id: i64,
) -> Result<HashMap<i64, TicketType>, sqlx::Error> {
    Ok(sqlx::query_as::<_, (i64, String, String, i64, String, i32)>(
        "select ticket_type_id, name, kind, price_cents, currency, hold_seconds from ticket_types where event_id = $1",
    )
    .bind(event_id)
    .fetch_all(&mut **tx)
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
    .collect())
}

/// The seats asked for by name by the jobs still undecided.
fn explicit_seats(jobs: &[HoldJob], outcomes: &[Option<Outcome>]) -> BTreeSet<i64> {
    jobs.iter()
        .zip(outcomes)
        .filter(|(_, o)| o.is_none())
        .filter_map(|(j, _)| match &j.request {
            HoldRequest::Seats(s) => Some(s.iter().copied()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The undecided best-available jobs grouped by what they ask for, in
/// arrival order; a job naming a ticket type that is not seated is refused.
fn best_available_wanted(
    event_id: i64,
    jobs: &[HoldJob],
    types: &HashMap<i64, TicketType>,
    outcomes: &mut [Option<Outcome>],
) -> Wanted {
    let mut wanted: Wanted = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let HoldRequest::BestAvailable {
            ticket_type_id,
            section_id,
            accessible,
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
        let key = TierKey {
            event_id,
            ticket_type_id,
            section_id,
            accessible,
        };
        match wanted.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push((i, quantity)),
            None => wanted.push((key, vec![(i, quantity)])),
        }
    }
    wanted
}

/// Answers the best-available jobs nothing could be proposed for.
fn record_unpicked(unpicked: &[(usize, Unpicked)], outcomes: &mut [Option<Outcome>]) {
    for (i, why) in unpicked {
        outcomes[*i] = Some(match *why {
            Unpicked::NoSuchSeats {
                field: "best_available.accessible",
            } => Outcome::Refused(BookingError::invalid(
                "best_available.accessible",
                "no wheelchair spaces among the seats asked for",
            )),
            Unpicked::NoSuchSeats { field } => {
                Outcome::Refused(BookingError::invalid(field, "no seats of this event match"))
            }
            Unpicked::NoRun {
                quantity,
                accessible: true,
            } => Outcome::Stored(conflict_response(
                "seats_unavailable",
                format!(
                    "no wheelchair space with {} companion seat(s) beside it is available",
                    quantity - 1
                ),
                Some("best_available.accessible"),
            )),
            Unpicked::NoRun { quantity, .. } => Outcome::Stored(conflict_response(
                "seats_unavailable",
                format!("no row has {quantity} adjacent seats available"),
                None,
            )),
        });
    }
}

/// Locks every seat the batch may hold (explicit and picked), in ascending
/// seat id order, and reads whether each is free.
async fn lock_seats(
    tx: &mut Transaction<'_, Postgres>,
    event_id: i64,
    explicit: &BTreeSet<i64>,
    picked: &HashSet<i64>,
) -> Result<HashMap<i64, LockedSeat>, sqlx::Error> {
    let to_lock: Vec<i64> = explicit
        .iter()
        .copied()
        .chain(picked.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if to_lock.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(sqlx::query_as::<_, LockedSeat>(
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
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|s| (s.seat_id, s))
    .collect())
}

/// Locks the general-admission counters the jobs ask for, in ticket type
/// order, and reads what is free of each. Lapsed holds still count against
/// capacity until released: when the undecided jobs want more than is free,
/// the event's lapsed holds are released now rather than buyers refused,
/// and their changes returned.
async fn lock_general_admission(
    tx: &mut Transaction<'_, Postgres>,
    event_id: i64,
    jobs: &[HoldJob],
    types: &HashMap<i64, TicketType>,
    outcomes: &[Option<Outcome>],
) -> Result<(HashMap<i64, i32>, Changes), sqlx::Error> {
    let ga_types: BTreeSet<i64> = jobs
        .iter()
        .filter_map(|j| match j.request {
            HoldRequest::GeneralAdmission { ticket_type_id, .. } => Some(ticket_type_id),
            _ => None,
        })
        .filter(|t| types.get(t).is_some_and(|t| !t.seated))
        .collect();
    let mut free = lock_ga(tx, &ga_types).await?;
    let mut released = Changes::default();
    let wanted: i64 = jobs
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| o.is_none())
        .filter_map(|(j, _)| match j.request {
            HoldRequest::GeneralAdmission { quantity, .. } => Some(i64::from(quantity)),
            _ => None,
        })
        .sum();
    if wanted > free.values().map(|v| i64::from(*v)).sum::<i64>() {
        let (per_event, _) = inventory::expire_lapsed(tx, Some(event_id), 1_000).await?;
        for (_, c) in per_event {
            released.seats.extend(c.seats);
            released.general_admission.extend(c.general_admission);
        }
        free = lock_ga(tx, &ga_types).await?;
    }
    Ok((free, released))
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

/// Decides the undecided jobs in arrival order, against what is locked.
struct Decider<'a> {
    event_id: i64,
    limits: HoldLimits,
    types: &'a HashMap<i64, TicketType>,
    locked: &'a HashMap<i64, LockedSeat>,
    picks: &'a HashMap<usize, Vec<i64>>,
    /// Free general-admission places per ticket type, as decided so far.
    ga_free: HashMap<i64, i32>,
    /// Tickets per buyer for this event, as decided so far.
    per_user: HashMap<Uuid, i64>,
    /// Seats claimed by earlier jobs of this batch.
    claimed: HashSet<i64>,
}

impl Decider<'_> {
    /// The claim of every job that gets its hold; sets the outcome of every
    /// job that does not.
    fn decide(
        mut self,
        jobs: &[HoldJob],
        outcomes: &mut [Option<Outcome>],
    ) -> HashMap<usize, Claim> {
        let mut claims = HashMap::new();
        for (i, job) in jobs.iter().enumerate() {
            if outcomes[i].is_some() {
                continue;
            }
            let wanted = i64::from(job.request.tickets());
            if let Some(refusal) = self.over_limit(job, wanted) {
                outcomes[i] = Some(refusal);
                continue;
            }
            match self.decide_one(i, &job.request) {
                Ok(claim) => {
                    self.claimed.extend(claim.seats.iter().map(|(s, _)| *s));
                    *self.per_user.entry(job.user_id).or_default() += wanted;
                    claims.insert(i, claim);
                }
                Err(outcome) => outcomes[i] = Some(outcome),
            }
        }
        claims
    }

    /// The answer when `wanted` more tickets would take the buyer over the
    /// per-event limit.
    fn over_limit(&self, job: &HoldJob, wanted: i64) -> Option<Outcome> {
        let already = self.per_user.get(&job.user_id).copied().unwrap_or(0);
        if already + wanted <= i64::from(self.limits.max_per_user_per_event) {
            return None;
        }
        Some(Outcome::Stored(conflict_response(
            "ticket_limit_reached",
            format!(
                "at most {} tickets per customer for this event; you already have {already}",
                self.limits.max_per_user_per_event
            ),
            Some(match job.request {
                HoldRequest::Seats(_) => "seat_ids",
                HoldRequest::GeneralAdmission { .. } => "quantity",
                HoldRequest::BestAvailable { .. } => "best_available.quantity",
            }),
        )))
    }

    fn decide_one(&mut self, i: usize, request: &HoldRequest) -> Result<Claim, Outcome> {
        match request {
            HoldRequest::Seats(seats) => self.explicit(seats),
            HoldRequest::BestAvailable { .. } => {
                let choice = self.picks.get(&i).cloned().unwrap_or_default();
                let still_free = choice.iter().all(|s| {
                    !self.claimed.contains(s) && self.locked.get(s).is_some_and(|l| l.free)
                });
                if still_free {
                    Ok(self.seat_claim(&choice))
                } else {
                    Err(Outcome::Retry)
                }
            }
            HoldRequest::GeneralAdmission {
                ticket_type_id,
                quantity,
            } => self.general_admission(*ticket_type_id, *quantity),
        }
    }

    fn explicit(&self, seats: &[i64]) -> Result<Claim, Outcome> {
        let unknown: Vec<i64> = seats
            .iter()
            .copied()
            .filter(|s| !self.locked.contains_key(s))
            .collect();
        if !unknown.is_empty() {
            return Err(Outcome::Refused(BookingError::invalid(
                "seat_ids",
                format!("seats {unknown:?} are not seats of event {}", self.event_id),
            )));
        }
        let taken: Vec<i64> = seats
            .iter()
            .copied()
            .filter(|s| self.claimed.contains(s) || !self.locked.get(s).is_some_and(|l| l.free))
            .collect();
        if taken.is_empty() {
            Ok(self.seat_claim(seats))
        } else {
            Err(Outcome::Stored(seats_unavailable(&taken)))
        }
    }

    fn general_admission(&mut self, ticket_type_id: i64, quantity: i32) -> Result<Claim, Outcome> {
        match (
            self.types.get(&ticket_type_id),
            self.ga_free.get_mut(&ticket_type_id),
        ) {
            (Some(t), Some(free)) if !t.seated => {
                if *free >= quantity {
                    *free -= quantity;
                    Ok(Claim {
                        seats: Vec::new(),
                        ga: Some((ticket_type_id, quantity)),
                    })
                } else {
                    Err(Outcome::Stored(conflict_response(
                        "tickets_unavailable",
                        format!("only {free} tickets of type {ticket_type_id} are available"),
                        Some("quantity"),
                    )))
                }
            }
            _ => Err(Outcome::Refused(BookingError::invalid(
                "ticket_type_id",
                format!(
                    "no general-admission ticket type {ticket_type_id} in event {}",
                    self.event_id
                ),
            ))),
        }
    }

    fn seat_claim(&self, seats: &[i64]) -> Claim {
        Claim {
            seats: seats
                .iter()
                .filter_map(|s| self.locked.get(s).map(|l| (l.seat_id, l.ticket_type_id)))
                .collect(),
            ga: None,
        }
    }
}

/// What writing a batch's holds reads.
struct Batch<'a> {
    event_id: i64,
    event: &'a EventInfo,
    types: &'a HashMap<i64, TicketType>,
    locked: &'a HashMap<i64, LockedSeat>,
}

/// New `bookings` rows, column by column.
#[derive(Debug, Default)]
struct NewBookings {
    ids: Vec<Uuid>,
    users: Vec<Uuid>,
    totals: Vec<i64>,
    currencies: Vec<String>,
    expiry: Vec<DateTime<Utc>>,
}

impl NewBookings {
    fn push(&mut self, view: &BookingView, user_id: Uuid) {
        self.ids.push(view.booking_id);
        self.users.push(user_id);
        self.totals.push(view.total_cents);
        self.currencies.push(view.currency.clone());
        self.expiry.push(view.expires_at);
    }

    /// The bookings and their `booking.created` outbox rows in one
    /// statement, the payload built from what is inserted.
    async fn insert(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        event_id: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(concat!(
            "with created as (
                 insert into bookings (booking_id, user_id, event_id, status, total_cents, currency, expires_at)
                 select b, u, $1, 'payment_pending', t, c, x
                   from unnest($2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::timestamptz[]) as q(b, u, t, c, x)
                 returning *)
             insert into outbox (aggregate_type, aggregate_id, event_type, payload)
             select 'booking', b.booking_id::text, 'booking.created', ",
            outbox_payload!(),
            " from created b",
        ))
        .bind(event_id)
        .bind(&self.ids)
        .bind(&self.users)
        .bind(&self.totals)
        .bind(&self.currencies)
        .bind(&self.expiry)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// Seats to mark held, column by column.
#[derive(Debug, Default)]
struct SeatHolds {
    seats: Vec<i64>,
    bookings: Vec<Uuid>,
    until: Vec<DateTime<Utc>>,
}

impl SeatHolds {
    fn push(&mut self, seat_id: i64, booking_id: Uuid, until: DateTime<Utc>) {
        self.seats.push(seat_id);
        self.bookings.push(booking_id);
        self.until.push(until);
    }

    async fn update(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        event_id: i64,
    ) -> Result<(), sqlx::Error> {
        if self.seats.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "update event_seats es
                set status = 'held', booking_id = q.b, held_until = q.x
               from unnest($2::bigint[], $3::uuid[], $4::timestamptz[]) as q(s, b, x)
              where es.event_id = $1 and es.seat_id = q.s",
        )
        .bind(event_id)
        .bind(&self.seats)
        .bind(&self.bookings)
        .bind(&self.until)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// New `booking_items` rows, column by column.
#[derive(Debug, Default)]
struct NewItems {
    bookings: Vec<Uuid>,
    types: Vec<i64>,
    seats: Vec<Option<i64>>,
    quantities: Vec<i32>,
    prices: Vec<i64>,
}

impl NewItems {
    fn push(&mut self, booking_id: Uuid, item: &ItemView) {
        self.bookings.push(booking_id);
        self.types.push(item.ticket_type_id);
        self.seats.push(item.seat.as_ref().map(|s| s.seat_id));
        self.quantities.push(item.quantity);
        self.prices.push(item.unit_price_cents);
    }

    async fn insert(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        event_id: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "insert into booking_items (booking_id, event_id, ticket_type_id, seat_id, quantity, price_cents)
             select b, $1, t, s, q, p
               from unnest($2::uuid[], $3::bigint[], $4::bigint[], $5::int[], $6::bigint[]) as x(b, t, s, q, p)",
        )
        .bind(event_id)
        .bind(&self.bookings)
        .bind(&self.types)
        .bind(&self.seats)
        .bind(&self.quantities)
        .bind(&self.prices)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// Adds to general-admission `held` counters.
async fn add_held(
    tx: &mut Transaction<'_, Postgres>,
    delta: &HashMap<i64, i32>,
) -> Result<(), sqlx::Error> {
    if delta.is_empty() {
        return Ok(());
    }
    let (t, d): (Vec<i64>, Vec<i32>) = delta.iter().map(|(t, d)| (*t, *d)).unzip();
    sqlx::query(
        "update ga_inventory g set held = g.held + q.d
           from unnest($1::bigint[], $2::int[]) as q(t, d)
          where g.ticket_type_id = q.t",
    )
    .bind(&t)
    .bind(&d)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes the claimed holds, set-based, and answers their jobs with 201.
/// Returns the batch's changes: the inline `released` ones first, so a
/// subscriber applying changes in order ends right.
async fn write_holds(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Batch<'_>,
    jobs: &[HoldJob],
    claims: &HashMap<usize, Claim>,
    released: Changes,
    outcomes: &mut [Option<Outcome>],
) -> Result<Changes, sqlx::Error> {
    let mut changes = released;
    let (mut bookings, mut seats, mut items) = (
        NewBookings::default(),
        SeatHolds::default(),
        NewItems::default(),
    );
    let mut ga_delta: HashMap<i64, i32> = HashMap::new();
    let mut created: Vec<(usize, BookingView)> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let Some(claim) = claims.get(&i) else {
            continue;
        };
        if outcomes[i].is_some() {
            continue;
        }
        let view = batch.booking_view(claim);
        for item in &view.items {
            items.push(view.booking_id, item);
            match &item.seat {
                Some(seat) => {
                    seats.push(seat.seat_id, view.booking_id, view.expires_at);
                    changes.seats.push((seat.seat_id, SeatStatus::Held));
                }
                None => *ga_delta.entry(item.ticket_type_id).or_default() += item.quantity,
            }
        }
        bookings.push(&view, job.user_id);
        created.push((i, view));
    }
    if created.is_empty() {
        return Ok(changes);
    }
    bookings.insert(tx, batch.event_id).await?;
    seats.update(tx, batch.event_id).await?;
    add_held(tx, &ga_delta).await?;
    changes.general_admission.extend(ga_delta);
    items.insert(tx, batch.event_id).await?;
    for (i, view) in created {
        outcomes[i] = Some(Outcome::Stored(StoredResponse {
            status: 201,
            body: serde_json::to_value(view).unwrap_or_default(),
        }));
    }
    Ok(changes)
}

impl Batch<'_> {
    /// The booking a claim becomes: a new id, its items and prices, and an
    /// expiry after the shortest hold time of its ticket types.
    fn booking_view(&self, claim: &Claim) -> BookingView {
        let type_ids: Vec<i64> = claim
            .seats
            .iter()
            .map(|(_, t)| *t)
            .chain(claim.ga.map(|(t, _)| t))
            .collect();
        let hold = type_ids
            .iter()
            .filter_map(|t| self.types.get(t).map(|t| t.hold_seconds))
            .min()
            .unwrap_or(600);
        let now = self.event.now;
        let until = now + chrono::Duration::seconds(i64::from(hold));
        let currency = type_ids
            .first()
            .and_then(|t| self.types.get(t))
            .map_or_else(|| "EUR".to_owned(), |t| t.currency.clone());
        let price = |t: i64| self.types.get(&t).map_or(0, |t| t.price_cents);
        let type_name = |t: i64| {
            self.types
                .get(&t)
                .map(|t| t.name.clone())
                .unwrap_or_default()
        };
        let mut items: Vec<ItemView> = claim
            .seats
            .iter()
            .map(|(seat_id, type_id)| ItemView {
                ticket_type_id: *type_id,
                ticket_type: type_name(*type_id),
                seat: self.locked.get(seat_id).map(|l| SeatView {
                    seat_id: *seat_id,
                    section: l.section.clone(),
                    row: l.row_label.clone(),
                    number: l.number,
                }),
                quantity: 1,
                unit_price_cents: price(*type_id),
            })
            .collect();
        if let Some((type_id, quantity)) = claim.ga {
            items.push(ItemView {
                ticket_type_id: type_id,
                ticket_type: type_name(type_id),
                seat: None,
                quantity,
                unit_price_cents: price(type_id),
            });
        }
        let total_cents = items
            .iter()
            .map(|i| i.unit_price_cents * i64::from(i.quantity))
            .sum();
        BookingView {
            booking_id: Uuid::new_v4(),
            status: BookingStatus::PaymentPending,
            event_id: self.event_id,
            event_title: self.event.title.clone(),
            event_starts_at: self.event.starts_at,
            venue: self.event.venue.clone(),
            city: self.event.city.clone(),
            venue_timezone: self.event.venue_timezone.clone(),
            expires_at: until,
            items,
            total_cents,
            currency,
            created_at: now,
            payment_challenge: None,
        }
    }
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

/// Rewrites every `seats_unavailable` answer so it names the seats as a
/// shopper reads them (section, row and number), besides their ids: one
/// query for all the answers of a batch, on the pool, after the batch's
/// transaction has committed, so no lock waits on it. Stored answers keep
/// the ids alone; a replay is named the same way on its way out.
pub(super) async fn name_unavailable_seats(
    pool: &PgPool,
    answers: &mut [&mut StoredResponse],
) -> Result<(), sqlx::Error> {
    let taken_ids = |body: &serde_json::Value| -> Vec<i64> {
        body["unavailable_seat_ids"]
            .as_array()
            .map(|ids| ids.iter().filter_map(serde_json::Value::as_i64).collect())
            .unwrap_or_default()
    };
    let mut all: Vec<i64> = answers.iter().flat_map(|a| taken_ids(&a.body)).collect();
    if all.is_empty() {
        return Ok(());
    }
    all.sort_unstable();
    all.dedup();
    let rows: Vec<(i64, String, String, i32)> = sqlx::query_as(
        "select s.seat_id, vs.name, vr.label, s.number
           from seats s
           join venue_rows vr on vr.row_id = s.row_id
           join venue_sections vs on vs.section_id = vr.section_id
          where s.seat_id = any($1)",
    )
    .bind(&all)
    .fetch_all(pool)
    .await?;
    let names: HashMap<i64, SeatView> = rows
        .into_iter()
        .map(|(seat_id, section, row, number)| {
            (
                seat_id,
                SeatView {
                    seat_id,
                    section,
                    row,
                    number,
                },
            )
        })
        .collect();
    for answer in answers.iter_mut() {
        let seats: Vec<&SeatView> = taken_ids(&answer.body)
            .iter()
            .filter_map(|id| names.get(id))
            .collect();
        if seats.is_empty() {
            continue;
        }
        answer.body["detail"] = json!(seats_unavailable_detail(&seats));
        answer.body["unavailable_seats"] = json!(seats);
    }
    Ok(())
}

/// "Section A, row 3, seat 12 is no longer available", or "Section A,
/// row 3, seats 12 and 13; Section B, row 1, seat 4 are no longer
/// available".
fn seats_unavailable_detail(seats: &[&SeatView]) -> String {
    let mut groups: Vec<((&str, &str), Vec<i32>)> = Vec::new();
    for seat in seats {
        let key = (seat.section.as_str(), seat.row.as_str());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, numbers)) => numbers.push(seat.number),
            None => groups.push((key, vec![seat.number])),
        }
    }
    let parts: Vec<String> = groups
        .into_iter()
        .map(|((section, row), mut numbers)| {
            numbers.sort_unstable();
            let list: Vec<String> = numbers.iter().map(ToString::to_string).collect();
            let seats = match list.as_slice() {
                [one] => format!("seat {one}"),
                [init @ .., last] => format!("seats {} and {last}", init.join(", ")),
                [] => String::new(),
            };
            format!("{section}, row {row}, {seats}")
        })
        .collect();
    let verb = if seats.len() == 1 { "is" } else { "are" };
    format!("{} {verb} no longer available", parts.join("; "))
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
