//! Helpers for the indexer's tests: a random workload of catalog and
//! inventory writes, and a check that the index equals a full rebuild from
//! Postgres, document for document.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use search::tantivy_backend::TantivyIndex;
use sqlx::PgPool;

/// One random write, in its own transaction. Covers every published table
/// the search catalog fixture has rows in: renames (venue, performer,
/// event), availability (GA held and sold), status flips (an event leaves
/// and re-enters the index), moves to another venue, billing changes,
/// several updates to one row in one transaction, new events and deleted
/// ones.
pub async fn random_write(pool: &PgPool, rng: &mut ChaCha8Rng) -> Result<(), sqlx::Error> {
    let event: i64 = rng.random_range(1..=240);
    let n: u32 = rng.random_range(0..1_000_000);
    let mut tx = pool.begin().await?;
    match rng.random_range(0..100) {
        0..=19 => {
            sqlx::query("update ga_inventory set held = least(capacity - sold, held + 1) where event_id = $1")
                .bind(event)
                .execute(&mut *tx)
                .await?;
        }
        20..=34 => {
            sqlx::query(
                "update ga_inventory set sold = sold + least(held, 2), held = held - least(held, 2)
                  where event_id = $1",
            )
            .bind(event)
            .execute(&mut *tx)
            .await?;
        }
        35..=49 => {
            sqlx::query("update events set popularity = $2 where event_id = $1")
                .bind(event)
                .bind(f64::from(n % 1000) / 10.0)
                .execute(&mut *tx)
                .await?;
        }
        50..=59 => {
            // Several updates to one row in one transaction: the last wins.
            for i in 0..3 {
                sqlx::query("update events set title = $2 where event_id = $1")
                    .bind(event)
                    .bind(format!("Retitled {n} step {i}"))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        60..=64 => {
            sqlx::query("update venues set name = $2 where venue_id = $1")
                .bind(i64::from(1 + n % 6))
                .bind(format!("Venue {n}"))
                .execute(&mut *tx)
                .await?;
        }
        65..=69 => {
            sqlx::query("update performers set name = $2 where performer_id = $1")
                .bind(i64::from(1 + n % 12))
                .bind(format!("Performer {n}"))
                .execute(&mut *tx)
                .await?;
        }
        70..=76 => {
            sqlx::query(
                "update events set status = case status when 'scheduled' then 'cancelled' else 'scheduled' end
                  where event_id = $1",
            )
            .bind(event)
            .execute(&mut *tx)
            .await?;
        }
        77..=82 => {
            sqlx::query("update events set venue_id = $2 where event_id = $1")
                .bind(event)
                .bind(i64::from(1 + n % 6))
                .execute(&mut *tx)
                .await?;
        }
        83..=88 => {
            sqlx::query(
                "insert into event_performers (event_id, performer_id, billing) values ($1, $2, 5)
                 on conflict (event_id, performer_id) do update set billing = event_performers.billing + 1",
            )
            .bind(event)
            .bind(i64::from(1 + n % 12))
            .execute(&mut *tx)
            .await?;
        }
        89..=94 => {
            // A new event, copied from another, with a ticket type.
            let id: Option<i64> = sqlx::query_scalar(
                "insert into events (venue_id, title, description, category, genre, starts_at, ends_at,
                                     status, popularity, sale_starts_at, sale_ends_at)
                 select venue_id, 'New ' || $2, description, category, genre, starts_at, ends_at,
                        'scheduled', popularity, sale_starts_at, sale_ends_at
                   from events where event_id = $1 returning event_id",
            )
            .bind(event)
            .bind(i64::from(n))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = id {
                sqlx::query(
                    "insert into ticket_types (event_id, name, kind, price_cents, currency, capacity)
                     values ($1, 'Standard', 'general_admission', $2, 'EUR', 50)",
                )
                .bind(id)
                .bind(i64::from(100 + n % 5000))
                .execute(&mut *tx)
                .await?;
            }
        }
        _ => {
            // Delete one of the events the workload created.
            sqlx::query(
                "delete from events where event_id = (select max(event_id) from events where event_id > 1000)",
            )
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await
}

/// A workload running until stopped.
#[derive(Debug)]
pub struct Workload {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
    /// Writes committed so far.
    pub committed: Arc<AtomicU64>,
}

impl Workload {
    /// Starts writing at about `per_second` transactions a second.
    pub fn start(pool: PgPool, seed: u64, per_second: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(AtomicU64::new(0));
        let (flag, count) = (stop.clone(), committed.clone());
        let task = tokio::spawn(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let pause = Duration::from_secs(1) / per_second.max(1);
            while !flag.load(Ordering::Relaxed) {
                match random_write(&pool, &mut rng).await {
                    Ok(()) => {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    // Check violations (a full venue, say) are part of life.
                    Err(e) => assert!(e.as_database_error().is_some(), "{e}"),
                }
                tokio::time::sleep(pause).await;
            }
            count.load(Ordering::Relaxed)
        });
        Self {
            stop,
            task,
            committed,
        }
    }

    /// Waits until at least `n` writes have committed in all, so a test's
    /// workload is measured in writes, not in wall time on a loaded machine.
    pub async fn wait_for(&self, n: u64, deadline: Duration) {
        let until = tokio::time::Instant::now() + deadline;
        while self.committed.load(Ordering::Relaxed) < n {
            assert!(
                tokio::time::Instant::now() < until,
                "only {} of {n} writes committed within {deadline:?}",
                self.committed.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops and returns how many writes committed.
    pub async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("workload task")
    }
}

/// `(event_id, content hash)` of every searchable event per Postgres, read
/// from one snapshot, as a full rebuild would write them.
pub async fn expected(db: &crate::TestDb) -> Vec<(i64, u64)> {
    let mut client = db.tokio_postgres().await;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await
        .expect("snapshot");
    let docs = search::catalog::collect(
        search::catalog::all_documents(&tx)
            .await
            .expect("documents"),
    )
    .await
    .expect("documents");
    let mut out: Vec<(i64, u64)> = docs
        .iter()
        .map(|d| (d.event_id, d.content_hash()))
        .collect();
    out.sort_unstable();
    out
}

/// `(event_id, content hash)` of every live document in the index.
pub fn indexed(dir: &Path) -> Vec<(i64, u64)> {
    let index = TantivyIndex::open_reader(dir);
    match index.export() {
        Ok(docs) => docs
            .iter()
            .map(|d| (d.doc.event_id, d.content_hash))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Waits (up to `within`) until the index equals a rebuild from Postgres;
/// panics with the differences if it never does.
pub async fn assert_converges(db: &crate::TestDb, dir: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let want = expected(db).await;
        let have = indexed(dir);
        if want == have {
            return;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = want.iter().filter(|w| !have.contains(w)).take(10).collect();
            let extra: Vec<_> = have.iter().filter(|h| !want.contains(h)).take(10).collect();
            panic!(
                "the index did not converge: {} documents expected, {} indexed; \
                 missing or different (first 10): {missing:?}; extra or different: {extra:?}",
                want.len(),
                have.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
