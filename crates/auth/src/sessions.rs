//! Sessions: what a sign-in starts, and the refresh tokens that keep it
//! going.
//!
//! A session (`sessions`) belongs to one user and ends at `expires_at`
//! (fixed when it starts: refreshing does not extend it) or when it is
//! revoked. Its access tokens carry its id as `sid`, and [`crate::Users`]
//! refuses them once the session has ended. Each refresh token is used
//! once: [`refresh`] marks it used and issues the next one, in one
//! transaction. A session's tokens are one family, so presenting a token
//! that was already used (a stolen copy, or the legitimate one after a
//! thief used it first) revokes the whole session: whoever holds the
//! latest token is signed out too, and must sign in again.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use crate::tokens;

/// Why a refresh was refused.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// No such token (or not one of ours at all).
    #[error("unknown refresh token")]
    Unknown,
    /// The token had been used already; its session is now revoked.
    #[error("the refresh token was used before; session {session_id} is revoked")]
    Reused {
        /// The revoked session.
        session_id: Uuid,
        /// Its user.
        user_id: Uuid,
    },
    /// The token's session was revoked or has expired, or its user is
    /// disabled.
    #[error("the session has ended")]
    Ended,
    /// Postgres failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Starts a session for `user_id` lasting `ttl`, noting whether its
/// sign-in passed the second factor; returns its id and its first refresh
/// token (the secret: only its hash is stored).
pub async fn create(
    pool: &PgPool,
    user_id: Uuid,
    ttl: Duration,
    second_factor: bool,
) -> Result<(Uuid, String), sqlx::Error> {
    let token = tokens::generate();
    let mut tx = pool.begin().await?;
    let session_id: Uuid = sqlx::query_scalar(
        "insert into sessions (user_id, expires_at, second_factor)
         values ($1, now() + make_interval(secs => $2), $3) returning session_id",
    )
    .bind(user_id)
    .bind(ttl.as_secs_f64())
    .bind(second_factor)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("insert into refresh_tokens (token_hash, session_id) values ($1, $2)")
        .bind(&token.hash)
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((session_id, token.secret))
}

/// Uses `refresh_token` once: returns its session, the session's user and
/// the next refresh token. A token used before revokes its session
/// ([`RefreshError::Reused`]).
pub async fn refresh(
    pool: &PgPool,
    refresh_token: &str,
) -> Result<(Uuid, Uuid, String), RefreshError> {
    let hash = tokens::hash(refresh_token).ok_or(RefreshError::Unknown)?;
    let mut tx = pool.begin().await?;
    // Marking it used is the claim: of two refreshes racing with one token,
    // the second waits for the first's row lock, then finds it used.
    let claimed: Option<Uuid> = sqlx::query_scalar(
        "update refresh_tokens set used_at = now()
          where token_hash = $1 and used_at is null returning session_id",
    )
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(session_id) = claimed else {
        let reused: Option<(Uuid, Uuid)> = sqlx::query_as(
            "select s.session_id, s.user_id from refresh_tokens t
               join sessions s on s.session_id = t.session_id
              where t.token_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((session_id, user_id)) = reused else {
            return Err(RefreshError::Unknown);
        };
        sqlx::query(
            "update sessions set revoked_at = now() where session_id = $1 and revoked_at is null",
        )
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Err(RefreshError::Reused {
            session_id,
            user_id,
        });
    };
    let user_id: Option<Uuid> = sqlx::query_scalar(
        "update sessions s set last_refreshed_at = now()
           from users u
          where s.session_id = $1 and u.user_id = s.user_id
            and s.revoked_at is null and s.expires_at > now() and u.disabled_at is null
         returning s.user_id",
    )
    .bind(session_id)
    .fetch_optional(&mut *tx)
    .await?;
    // Rolling back leaves the presented token unused: it stays refused
    // because its session has ended, not because it was reused.
    let user_id = user_id.ok_or(RefreshError::Ended)?;
    let next = tokens::generate();
    sqlx::query("insert into refresh_tokens (token_hash, session_id) values ($1, $2)")
        .bind(&next.hash)
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((session_id, user_id, next.secret))
}

/// Ends one session (sign out); `false` if it had ended already.
pub async fn revoke(pool: &PgPool, session_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update sessions set revoked_at = now() where session_id = $1 and revoked_at is null",
    )
    .bind(session_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Ends every live session of `user_id` (sign out everywhere); returns how
/// many there were.
pub async fn revoke_all(pool: &PgPool, user_id: Uuid) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "update sessions set revoked_at = now()
          where user_id = $1 and revoked_at is null and expires_at > now()",
    )
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Deletes what no request can use any more, ended more than `keep` ago:
/// sessions revoked or expired (with their refresh tokens), and email-link
/// tokens used or expired. Returns `(sessions, email tokens)` deleted.
/// Safe to run on every instance at once.
pub async fn sweep(pool: &PgPool, keep: Duration) -> Result<(u64, u64), sqlx::Error> {
    let keep = keep.as_secs_f64();
    let sessions = sqlx::query(
        "delete from sessions
          where least(coalesce(revoked_at, expires_at), expires_at)
                < now() - make_interval(secs => $1)",
    )
    .bind(keep)
    .execute(pool)
    .await?
    .rows_affected();
    let links = sqlx::query(
        "delete from email_tokens
          where least(coalesce(used_at, expires_at), expires_at)
                < now() - make_interval(secs => $1)",
    )
    .bind(keep)
    .execute(pool)
    .await?
    .rows_affected();
    Ok((sessions, links))
}

/// Runs [`sweep`] every `every`, keeping ended rows for `keep` (an audit
/// trail of recent sign-ins), until the runtime stops.
pub fn spawn_sweeper(pool: PgPool, every: Duration, keep: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match sweep(&pool, keep).await {
                Ok((0, 0)) => {}
                Ok((sessions, links)) => {
                    tracing::info!(sessions, links, "swept ended sessions and used links");
                }
                Err(e) => tracing::warn!(error = %e, "sweeping ended sessions failed"),
            }
        }
    });
}
