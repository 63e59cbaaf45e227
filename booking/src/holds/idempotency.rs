//! Idempotency-Keys on the hold path: a key is claimed inside the batch's
//! transaction, the decided answer is stored under it in the same
//! transaction, and a repeat of the key is answered from the stored row.
//!
//! - A key is unique per user (`idempotency_keys` primary key), so two
//!   batches, on any instances, cannot both claim it: the loser sees a
//!   replay.
//! - A refusal that decided nothing (bad input, a lost race) frees its key,
//!   so the client can retry with the same key.
//! - A replay with a different request body is refused (422), per the
//!   booking API's contract.

use std::collections::{HashMap, HashSet};

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::{HoldJob, Outcome};
use crate::error::BookingError;

/// A stored HTTP answer: what a replay of the same Idempotency-Key returns.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: serde_json::Value,
}

/// An idempotency row.
#[derive(Debug, Clone)]
pub struct StoredRow {
    request_hash: String,
    status: Option<i16>,
    body: Option<serde_json::Value>,
}

/// (user, Idempotency-Key).
pub(super) type Key = (Uuid, String);

/// Stored responses for (user, key) pairs.
pub async fn stored_responses(
    pool: &PgPool,
    keys: &[Key],
) -> Result<HashMap<Key, StoredRow>, sqlx::Error> {
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

/// The answer to a job whose key was already used.
pub(super) fn replay(
    stored: &HashMap<Key, StoredRow>,
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

/// The keys a batch claimed: which jobs go on to be decided.
#[derive(Debug)]
pub(super) struct Claimed {
    /// The buyer of every job whose key was offered (known buyer, first use
    /// in the batch), fresh or not: the buyers the batch serializes on.
    pub(super) buyers: Vec<Uuid>,
    /// Keys inserted by this batch; the others were already there.
    pub(super) fresh: HashSet<Key>,
}

/// Claims the jobs' keys. A job of an unknown buyer is refused; a key used
/// twice in the batch, or already stored, is a replay. Sets those outcomes.
pub(super) async fn claim_keys(
    tx: &mut Transaction<'_, Postgres>,
    jobs: &[HoldJob],
    known: &HashSet<Uuid>,
    outcomes: &mut [Option<Outcome>],
) -> Result<Claimed, sqlx::Error> {
    let mut batch_keys = HashSet::new();
    let (mut users, mut keys, mut hashes) = (Vec::new(), Vec::new(), Vec::new());
    for (job, outcome) in jobs.iter().zip(outcomes.iter_mut()) {
        if !known.contains(&job.user_id) {
            *outcome = Some(Outcome::Refused(BookingError::UnknownUser));
        } else if !batch_keys.insert((job.user_id, job.key.as_str())) {
            *outcome = Some(Outcome::Replay);
        } else {
            users.push(job.user_id);
            keys.push(job.key.clone());
            hashes.push(job.request_hash.clone());
        }
    }
    let fresh: HashSet<Key> = sqlx::query_as(
        "insert into idempotency_keys (user_id, idempotency_key, request_hash)
         select * from unnest($1::uuid[], $2::text[], $3::text[])
         on conflict do nothing
         returning user_id, idempotency_key",
    )
    .bind(&users)
    .bind(&keys)
    .bind(&hashes)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    for (job, outcome) in jobs.iter().zip(outcomes.iter_mut()) {
        if outcome.is_none() && !fresh.contains(&(job.user_id, job.key.clone())) {
            *outcome = Some(Outcome::Replay);
        }
    }
    Ok(Claimed {
        buyers: users,
        fresh,
    })
}

/// Answers to store under their keys, and keys to free.
#[derive(Debug, Default)]
struct Answers {
    users: Vec<Uuid>,
    keys: Vec<String>,
    status: Vec<i16>,
    body: Vec<serde_json::Value>,
    freed_users: Vec<Uuid>,
    freed_keys: Vec<String>,
}

impl Answers {
    fn push(&mut self, job: &HoldJob, outcome: &Outcome) {
        match outcome {
            Outcome::Stored(r) => {
                self.users.push(job.user_id);
                self.keys.push(job.key.clone());
                self.status.push(i16::try_from(r.status).unwrap_or(500));
                self.body.push(r.body.clone());
            }
            Outcome::Refused(_) | Outcome::Retry => {
                self.freed_users.push(job.user_id);
                self.freed_keys.push(job.key.clone());
            }
            Outcome::Replay => {}
        }
    }
}

/// Stores the decided answers under the keys this batch claimed, and frees
/// the claimed keys of requests that decided nothing.
pub(super) async fn store_answers(
    tx: &mut Transaction<'_, Postgres>,
    jobs: &[HoldJob],
    fresh: &HashSet<Key>,
    outcomes: &[Outcome],
) -> Result<(), sqlx::Error> {
    let mut answers = Answers::default();
    for (job, outcome) in jobs.iter().zip(outcomes) {
        if fresh.contains(&(job.user_id, job.key.clone())) {
            answers.push(job, outcome);
        }
    }
    if !answers.users.is_empty() {
        sqlx::query(
            "update idempotency_keys k set response_status = q.s, response_body = q.b
               from unnest($1::uuid[], $2::text[], $3::smallint[], $4::jsonb[]) as q(u, k, s, b)
              where k.user_id = q.u and k.idempotency_key = q.k",
        )
        .bind(&answers.users)
        .bind(&answers.keys)
        .bind(&answers.status)
        .bind(&answers.body)
        .execute(&mut **tx)
        .await?;
    }
    if !answers.freed_users.is_empty() {
        sqlx::query(
            "delete from idempotency_keys k using unnest($1::uuid[], $2::text[]) as q(u, k)
              where k.user_id = q.u and k.idempotency_key = q.k",
        )
        .bind(&answers.freed_users)
        .bind(&answers.freed_keys)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
