//! The engine's own state on Postgres: subscriptions' global cursors and
//! their per-stream checkpoints. All of its SQL is here.

use super::GlobalCursor;
use crate::error::Result;
use crate::migrate::Schema;
use chrono::{DateTime, Utc};
use sqlx::postgres::types::PgInterval;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A checkpoint reserved for handling: which stream, from where, by whom.
#[derive(Debug, Clone)]
pub(crate) struct Reservation {
    pub subscription: String,
    pub stream: String,
    pub position: i64,
    pub attempts: i32,
    pub token: Uuid,
}

/// The outcome recorded for a failed handler call.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// The position handled last, before the failing message.
    pub position: i64,
    pub attempts: i32,
    pub error: String,
    /// When to try again; `None` marks the checkpoint failed.
    pub retry_in: Option<Duration>,
}

/// A checkpoint as an operator sees it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CheckpointInfo {
    /// The subscription's group.
    pub group: String,
    /// The subscription's name.
    pub subscription: String,
    /// The stream the checkpoint follows.
    pub stream: String,
    /// The newest position of a message for the subscription in the stream.
    pub stream_version: i64,
    /// The newest position handled.
    pub stream_position: i64,
    /// `active`, `retry` or `failed`.
    pub status: String,
    /// Failed attempts at the next message.
    pub attempts: i32,
    /// The last error, for `retry` and `failed` checkpoints.
    pub last_error: Option<String>,
    /// When the checkpoint is next due.
    pub process_at: DateTime<Utc>,
}

/// Subscription and checkpoint state, in the schema's tables.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoints {
    pool: PgPool,
    schema: Schema,
    s: Arc<str>,
}

impl Checkpoints {
    pub fn new(pool: PgPool, schema: &Schema) -> Self {
        Self {
            pool,
            schema: schema.clone(),
            s: schema.quoted().into(),
        }
    }

    /// The channel on which appends announce new messages.
    pub fn messages_channel(&self) -> String {
        self.schema.channel("messages")
    }

    /// The channel on which the global consumers announce lagging
    /// checkpoints; the payload is the group.
    pub fn checkpoints_channel(&self) -> String {
        self.schema.channel("checkpoints")
    }

    /// Records a subscription if it is new, starting at `start`.
    pub async fn register(&self, group: &str, name: &str, from_end: bool) -> Result<()> {
        let s = &self.s;
        let start = if from_end {
            format!(
                "SELECT transaction_id, global_position FROM {s}.messages
                 WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
                 ORDER BY transaction_id DESC, global_position DESC LIMIT 1"
            )
        } else {
            "SELECT 0::bigint, 0::bigint WHERE false".to_owned()
        };
        sqlx::query(&format!(
            "INSERT INTO {s}.subscriptions (group_name, name, transaction_id, global_position)
             SELECT $1, $2, coalesce(max(t), 0), coalesce(max(p), 0)
             FROM ({start}) AS last (t, p)
             ON CONFLICT DO NOTHING"
        ))
        .bind(group)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Tries to become the group's global consumer, on a connection of its
    /// own: the lock lasts as long as that connection.
    pub async fn try_lead(&self, conn: &mut PgConnection, group: &str) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT pg_try_advisory_lock(hashtextextended('beckett global ' || $1 || ' ' || $2, 0))",
        )
        .bind(&*self.s)
        .bind(group)
        .fetch_one(conn)
        .await?)
    }

    /// The global cursors of a group's subscriptions.
    pub async fn cursors(
        &self,
        conn: &mut PgConnection,
        group: &str,
    ) -> Result<Vec<(String, GlobalCursor)>> {
        let s = &self.s;
        let rows = sqlx::query(&format!(
            "SELECT name, transaction_id, global_position FROM {s}.subscriptions WHERE group_name = $1"
        ))
        .bind(group)
        .fetch_all(conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("name")?,
                    GlobalCursor {
                        transaction_id: row.try_get("transaction_id")?,
                        global_position: row.try_get("global_position")?,
                    },
                ))
            })
            .collect()
    }

    /// Raises checkpoints' versions and moves subscriptions' cursors in one
    /// transaction, announcing the group's new work to every process.
    pub async fn record_batch(
        &self,
        conn: &mut PgConnection,
        group: &str,
        versions: &[(String, String, i64)],
        cursors: &[(String, GlobalCursor)],
    ) -> Result<()> {
        let s = &self.s;
        let mut tx = sqlx::Connection::begin(conn).await?;
        if !versions.is_empty() {
            let (subscriptions, streams, positions) = unzip3(versions);
            sqlx::query(&format!(
                "INSERT INTO {s}.checkpoints AS c (group_name, subscription, stream_name, stream_version)
                 SELECT $1, v.subscription, v.stream, v.version
                 FROM unnest($2::text[], $3::text[], $4::bigint[]) AS v (subscription, stream, version)
                 ORDER BY 2, 3
                 ON CONFLICT (group_name, subscription, stream_name) DO UPDATE
                 SET stream_version = greatest(c.stream_version, EXCLUDED.stream_version),
                     updated_at = now()"
            ))
            .bind(group)
            .bind(subscriptions)
            .bind(streams)
            .bind(positions)
            .execute(&mut *tx)
            .await?;
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(self.checkpoints_channel())
                .bind(group)
                .execute(&mut *tx)
                .await?;
        }
        let names: Vec<&str> = cursors.iter().map(|(name, _)| name.as_str()).collect();
        let transactions: Vec<i64> = cursors.iter().map(|(_, c)| c.transaction_id).collect();
        let positions: Vec<i64> = cursors.iter().map(|(_, c)| c.global_position).collect();
        sqlx::query(&format!(
            "UPDATE {s}.subscriptions AS s SET transaction_id = c.t, global_position = c.p
             FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS c (name, t, p)
             WHERE s.group_name = $1 AND s.name = c.name"
        ))
        .bind(group)
        .bind(names)
        .bind(transactions)
        .bind(positions)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Reserves up to `limit` lagging, due checkpoints of the group's
    /// `subscriptions`, each under a token of its own, for `timeout`.
    pub async fn reserve(
        &self,
        group: &str,
        subscriptions: &[&str],
        limit: usize,
        timeout: Duration,
    ) -> Result<Vec<Reservation>> {
        let s = &self.s;
        let rows = sqlx::query(&format!(
            "WITH ready AS (
                SELECT group_name, subscription, stream_name FROM {s}.checkpoints
                WHERE group_name = $1 AND subscription = ANY($2)
                    AND stream_version > stream_position AND status <> 'failed'
                    AND process_at <= now()
                    AND (reserved_until IS NULL OR reserved_until < now())
                ORDER BY process_at
                LIMIT $3
                FOR UPDATE SKIP LOCKED
            )
            UPDATE {s}.checkpoints AS c
            SET reserved_by = gen_random_uuid(), reserved_until = now() + $4
            FROM ready
            WHERE (c.group_name, c.subscription, c.stream_name)
                = (ready.group_name, ready.subscription, ready.stream_name)
            RETURNING c.subscription, c.stream_name, c.stream_position, c.attempts, c.reserved_by"
        ))
        .bind(group)
        .bind(subscriptions)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(interval(timeout))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Reservation {
                    subscription: row.try_get("subscription")?,
                    stream: row.try_get("stream_name")?,
                    position: row.try_get("stream_position")?,
                    attempts: row.try_get("attempts")?,
                    token: row.try_get("reserved_by")?,
                })
            })
            .collect()
    }

    /// Moves a reserved checkpoint to `position`, clearing any retry state
    /// and extending the reservation; on `conn` when it must commit with a
    /// handler's writes. False when the reservation was lost.
    pub async fn advance(
        &self,
        conn: Option<&mut PgConnection>,
        group: &str,
        reservation: &Reservation,
        position: i64,
        timeout: Duration,
    ) -> Result<bool> {
        let s = &self.s;
        let sql = format!(
            "UPDATE {s}.checkpoints
             SET stream_position = $5, status = 'active', attempts = 0, last_error = NULL,
                 reserved_until = now() + $6, updated_at = now()
             WHERE group_name = $1 AND subscription = $2 AND stream_name = $3 AND reserved_by = $4"
        );
        let query = sqlx::query(&sql)
            .bind(group)
            .bind(&reservation.subscription)
            .bind(&reservation.stream)
            .bind(reservation.token)
            .bind(position)
            .bind(interval(timeout));
        let done = match conn {
            Some(conn) => query.execute(conn).await?,
            None => query.execute(&self.pool).await?,
        };
        Ok(done.rows_affected() == 1)
    }

    /// Records a failed handler call and releases the reservation.
    pub async fn fail(
        &self,
        group: &str,
        reservation: &Reservation,
        failure: &Failure,
    ) -> Result<()> {
        let s = &self.s;
        sqlx::query(&format!(
            "UPDATE {s}.checkpoints
             SET stream_position = $5, attempts = $6, last_error = $7,
                 status = CASE WHEN $8::interval IS NULL THEN 'failed' ELSE 'retry' END,
                 process_at = now() + coalesce($8::interval, interval '0'),
                 reserved_by = NULL, reserved_until = NULL, updated_at = now()
             WHERE group_name = $1 AND subscription = $2 AND stream_name = $3 AND reserved_by = $4"
        ))
        .bind(group)
        .bind(&reservation.subscription)
        .bind(&reservation.stream)
        .bind(reservation.token)
        .bind(failure.position)
        .bind(failure.attempts)
        .bind(&failure.error)
        .bind(failure.retry_in.map(interval))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Releases reservations, by token, not to be reserved again for
    /// `pause`.
    pub async fn release(&self, tokens: &[Uuid], pause: Duration) -> Result<()> {
        let s = &self.s;
        sqlx::query(&format!(
            "UPDATE {s}.checkpoints
             SET reserved_by = NULL, reserved_until = NULL,
                 process_at = greatest(process_at, now() + $2)
             WHERE reserved_by = ANY($1)"
        ))
        .bind(tokens)
        .bind(interval(pause))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Failed checkpoints, of one group or of all.
    pub async fn failed(&self, group: Option<&str>) -> Result<Vec<CheckpointInfo>> {
        let s = &self.s;
        let rows = sqlx::query(&format!(
            "SELECT group_name, subscription, stream_name, stream_version, stream_position,
                    status, attempts, last_error, process_at
             FROM {s}.checkpoints
             WHERE status = 'failed' AND ($1::text IS NULL OR group_name = $1)
             ORDER BY group_name, subscription, stream_name"
        ))
        .bind(group)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CheckpointInfo {
                    group: row.try_get("group_name")?,
                    subscription: row.try_get("subscription")?,
                    stream: row.try_get("stream_name")?,
                    stream_version: row.try_get("stream_version")?,
                    stream_position: row.try_get("stream_position")?,
                    status: row.try_get("status")?,
                    attempts: row.try_get("attempts")?,
                    last_error: row.try_get("last_error")?,
                    process_at: row.try_get("process_at")?,
                })
            })
            .collect()
    }

    /// Makes a failed checkpoint due now, from the message that failed.
    /// False when it is not failed.
    pub async fn retry(&self, group: &str, subscription: &str, stream: &str) -> Result<bool> {
        let s = &self.s;
        let done = sqlx::query(&format!(
            "UPDATE {s}.checkpoints
             SET status = 'retry', attempts = 0, process_at = now(), updated_at = now()
             WHERE group_name = $1 AND subscription = $2 AND stream_name = $3 AND status = 'failed'"
        ))
        .bind(group)
        .bind(subscription)
        .bind(stream)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves a failed checkpoint past the message that failed, recording
    /// the skip. False when it is not failed.
    pub async fn skip(&self, group: &str, subscription: &str, stream: &str) -> Result<bool> {
        let s = &self.s;
        let skipped = sqlx::query(&format!(
            "WITH skipped AS (
                UPDATE {s}.checkpoints AS c
                SET stream_position = (
                        SELECT min(m.stream_position) FROM {s}.messages AS m
                        WHERE m.stream_name = c.stream_name AND m.stream_position > c.stream_position
                    ),
                    status = 'active', attempts = 0, last_error = NULL, process_at = now(),
                    updated_at = now()
                FROM (SELECT stream_position, attempts, last_error FROM {s}.checkpoints
                      WHERE group_name = $1 AND subscription = $2 AND stream_name = $3
                        AND status = 'failed' FOR UPDATE) AS before
                WHERE c.group_name = $1 AND c.subscription = $2 AND c.stream_name = $3
                RETURNING c.stream_position, before.attempts, before.last_error
            )
            INSERT INTO {s}.skipped_messages
                (group_name, subscription, stream_name, stream_position, attempts, last_error)
            SELECT $1, $2, $3, stream_position, attempts, last_error FROM skipped"
        ))
        .bind(group)
        .bind(subscription)
        .bind(stream)
        .execute(&self.pool)
        .await?;
        Ok(skipped.rows_affected() == 1)
    }
}

/// A duration as Postgres holds it, to the microsecond.
fn interval(duration: Duration) -> PgInterval {
    PgInterval {
        months: 0,
        days: 0,
        microseconds: i64::try_from(duration.as_micros()).unwrap_or(i64::MAX),
    }
}

fn unzip3(rows: &[(String, String, i64)]) -> (Vec<&str>, Vec<&str>, Vec<i64>) {
    let mut unzipped = (Vec::new(), Vec::new(), Vec::new());
    for (a, b, c) in rows {
        unzipped.0.push(a.as_str());
        unzipped.1.push(b.as_str());
        unzipped.2.push(*c);
    }
    unzipped
}
