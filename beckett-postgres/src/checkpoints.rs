//! The engine's own state on Postgres: subscriptions' global cursors and
//! their per-stream checkpoints. All of its SQL is here.

use crate::error::db;
use crate::sql::{channel, end_of, raw_message, END_COLUMNS, MESSAGE_COLUMNS};
use beckett_core::state::{
    Completed, Cursor, Failure, Raise, Registered, Reservation, Reserved, StartAt,
};
use beckett_core::store::{Pending, Place};
use beckett_core::subscription::Selection;
use beckett_core::{GlobalCursor, Result, Schema};
use sqlx::postgres::types::PgInterval;
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::Row;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Subscription and checkpoint state, in the schema's tables.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoints {
    pool: PgPool,
    sql: Arc<Statements>,
}

impl Checkpoints {
    pub fn new(pool: PgPool, schema: &Schema) -> Self {
        Self {
            pool,
            sql: Arc::new(Statements::new(schema)),
        }
    }

    /// Records a subscription if it is new, starting where `start` says;
    /// and what it selects, new or not.
    pub async fn register(
        &self,
        group: &str,
        name: &str,
        start: &StartAt,
        selection: &Selection,
    ) -> Result<()> {
        let types = (!selection.types.is_empty()).then_some(&selection.types);
        let after = match start {
            StartAt::After(cursor) => Some(cursor),
            StartAt::First | StartAt::End => None,
        };
        sqlx::query(&self.sql.register)
            .bind(group)
            .bind(name)
            .bind(*start == StartAt::End)
            .bind(types)
            .bind(&selection.category)
            .bind(&selection.stream)
            .bind(after.map(|c| c.frontier().transaction_id))
            .bind(after.map(|c| c.frontier().global_position))
            .bind(after.map(|c| sqlx::types::Json(c.pending())))
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// The subscriptions registered in `group` besides `declared`, each
    /// with how many of its checkpoints lag.
    pub async fn undeclared(&self, group: &str, declared: &[&str]) -> Result<Vec<(String, i64)>> {
        sqlx::query_as(&self.sql.undeclared)
            .bind(group)
            .bind(declared)
            .fetch_all(&self.pool)
            .await
            .map_err(db)
    }

    /// Removes a subscription and its checkpoints; how many checkpoints
    /// went, or `None` if it was not registered.
    ///
    /// The subscription goes first, waiting for any leader's statement
    /// raising its checkpoints; then its checkpoints, all of them.
    pub async fn remove(&self, group: &str, name: &str) -> Result<Option<u64>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let removed = sqlx::query(&self.sql.remove)
            .bind(group)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if removed.rows_affected() == 0 {
            return Ok(None);
        }
        let checkpoints = sqlx::query(&self.sql.remove_checkpoints)
            .bind(group)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Some(checkpoints.rows_affected()))
    }

    /// Tries to become the group's global consumer, on a connection of its
    /// own: the lock lasts as long as that connection.
    pub async fn try_lead(&self, conn: &mut PgConnection, group: &str) -> Result<bool> {
        sqlx::query_scalar(&self.sql.try_lead)
            .bind(group)
            .fetch_one(conn)
            .await
            .map_err(db)
    }

    /// The subscriptions registered in a group: their cursors and what
    /// they select.
    pub async fn registered(
        &self,
        conn: &mut PgConnection,
        group: &str,
    ) -> Result<Vec<Registered>> {
        let rows = sqlx::query(&self.sql.registered)
            .bind(group)
            .fetch_all(conn)
            .await
            .map_err(db)?;
        rows.iter().map(|row| registered(row).map_err(db)).collect()
    }

    /// Raises checkpoints' versions, creating the missing ones, and moves
    /// subscriptions' cursors, in one statement, announcing the group's new
    /// work to every process unless this one took all of it. A checkpoint
    /// created with a `take` token is reserved under it for `timeout`;
    /// returns the tokens so taken.
    pub async fn record_batch(
        &self,
        conn: &mut PgConnection,
        group: &str,
        raises: &[Raise<'_>],
        cursors: &[Cursor<'_>],
        timeout: Duration,
    ) -> Result<HashSet<Uuid>> {
        let subscriptions: Vec<&str> = raises.iter().map(|r| r.subscription).collect();
        let streams: Vec<&str> = raises.iter().map(|r| r.stream).collect();
        let versions: Vec<i64> = raises.iter().map(|r| r.version).collect();
        let firsts: Vec<i64> = raises.iter().map(|r| r.first).collect();
        let tokens: Vec<Option<Uuid>> = raises.iter().map(|r| r.take).collect();
        let raised_registrations: Vec<i64> = raises.iter().map(|r| r.registration).collect();
        let names: Vec<&str> = cursors.iter().map(|c| c.subscription).collect();
        let registrations: Vec<i64> = cursors.iter().map(|c| c.registration).collect();
        let transactions: Vec<i64> = cursors
            .iter()
            .map(|c| c.cursor.frontier().transaction_id)
            .collect();
        let positions: Vec<i64> = cursors
            .iter()
            .map(|c| c.cursor.frontier().global_position)
            .collect();
        let pending: Vec<sqlx::types::Json<&[Pending]>> = cursors
            .iter()
            .map(|c| sqlx::types::Json(c.cursor.pending()))
            .collect();
        let (taken, _announced): (Vec<Uuid>, i64) = sqlx::query_as(&self.sql.record_batch)
            .bind(group)
            .bind(subscriptions)
            .bind(streams)
            .bind(versions)
            .bind(tokens)
            .bind(interval(timeout))
            .bind(names)
            .bind(transactions)
            .bind(positions)
            .bind(pending)
            .bind(registrations)
            .bind(firsts)
            .bind(raised_registrations)
            .fetch_one(conn)
            .await
            .map_err(db)?;
        Ok(taken.into_iter().collect())
    }

    /// Reserves up to `limit` lagging, due checkpoints of the group's
    /// `subscriptions`, each under a token of its own, for `timeout`, and
    /// reads up to `read` messages of each one's stream after its position,
    /// all in one statement.
    pub async fn reserve(
        &self,
        group: &str,
        subscriptions: &[&str],
        limit: usize,
        read: usize,
        timeout: Duration,
    ) -> Result<Vec<Reserved>> {
        let rows = sqlx::query(&self.sql.reserve)
            .bind(group)
            .bind(subscriptions)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(interval(timeout))
            .bind(i64::try_from(read).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut reserved: Vec<(Reservation, Vec<_>)> = Vec::new();
        for row in &rows {
            let token: Uuid = row.try_get("reserved_by").map_err(db)?;
            let same = reserved.last().filter(|(r, _)| r.token == token);
            if same.is_none() {
                reserved.push((reservation(row).map_err(db)?, Vec::new()));
            }
            let (_, messages) = reserved.last_mut().expect("pushed above");
            // A reservation whose stream had nothing to read comes with no
            // message.
            if row.try_get::<Option<Uuid>, _>("id").map_err(db)?.is_some() {
                messages.push(raw_message(row)?);
            }
        }
        Ok(reserved
            .into_iter()
            .map(|(reservation, messages)| Reserved {
                reservation,
                messages: (read > 0).then_some(messages),
            })
            .collect())
    }

    /// Moves done-with checkpoints to their positions and releases them,
    /// clearing any retry state. Checkpoints whose reservation was taken
    /// over are left as they are. True when one of them lags again: its
    /// stream had new messages meanwhile.
    ///
    /// The rows are locked by key first, in the byte order of the key as
    /// the global consumer locks them, so the two cannot deadlock, then
    /// updated by the row versions locked, in a second statement that sees
    /// them. One statement joining on the key
    /// is at the planner's mercy: on a young table it hashes every
    /// checkpoint of the group to update a few hundred.
    pub async fn complete(&self, group: &str, completed: &[Completed]) -> Result<bool> {
        let mut completed: Vec<&Completed> = completed.iter().collect();
        completed.sort_by(|a, b| (&a.subscription, &a.stream).cmp(&(&b.subscription, &b.stream)));
        let subscriptions: Vec<&str> = completed.iter().map(|c| &*c.subscription).collect();
        let streams: Vec<&str> = completed.iter().map(|c| &*c.stream).collect();
        let tokens: Vec<Uuid> = completed.iter().map(|c| c.token).collect();
        let positions: Vec<i64> = completed.iter().map(|c| c.position).collect();
        let mut tx = self.pool.begin().await.map_err(db)?;
        let locked: Vec<(String, i64)> = sqlx::query_as(&self.sql.lock_completed)
            .bind(group)
            .bind(subscriptions)
            .bind(streams)
            .bind(tokens)
            .bind(positions)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        let (rows, positions): (Vec<String>, Vec<i64>) = locked.into_iter().unzip();
        let lagging = sqlx::query_scalar(&self.sql.complete)
            .bind(rows)
            .bind(positions)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(lagging)
    }

    /// Moves a reserved checkpoint to `position`, clearing any retry state,
    /// and either keeps the reservation for `keep` more or, with `None`,
    /// releases it; on `conn` when it must commit with a handler's writes.
    /// On the pool, a paused subscription's reservation is released rather
    /// than kept. False when the reservation is not held after (lost, or
    /// released for a pause) though it was to be kept, or was lost.
    pub async fn advance(
        &self,
        conn: Option<&mut PgConnection>,
        group: &str,
        reservation: &Reservation,
        position: i64,
        keep: Option<Duration>,
    ) -> Result<bool> {
        let query = sqlx::query_scalar(&self.sql.advance)
            .bind(group)
            .bind(&reservation.subscription)
            .bind(&reservation.stream)
            .bind(reservation.token)
            .bind(position)
            .bind(keep.map(interval))
            .bind(conn.is_none());
        let held = match conn {
            Some(conn) => query.fetch_optional(conn).await,
            None => query.fetch_optional(&self.pool).await,
        };
        Ok(held.map_err(db)?.unwrap_or(false))
    }

    /// Records a failed handler call and releases the reservation.
    pub async fn fail(
        &self,
        group: &str,
        reservation: &Reservation,
        failure: &Failure,
    ) -> Result<()> {
        sqlx::query(&self.sql.fail)
            .bind(group)
            .bind(&reservation.subscription)
            .bind(&reservation.stream)
            .bind(reservation.token)
            .bind(failure.position)
            .bind(i32::try_from(failure.attempts).unwrap_or(i32::MAX))
            .bind(&failure.error)
            .bind(failure.retry_in.map(interval))
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Extends reservations, by token, to last `timeout` from now; returns
    /// the tokens extended. Checkpoints another statement has locked (a
    /// completion, a raise) are left for the next time rather than waited
    /// for, so this never deadlocks with those, which lock in key order.
    pub async fn extend(&self, tokens: &[Uuid], timeout: Duration) -> Result<Vec<Uuid>> {
        sqlx::query_scalar(&self.sql.extend)
            .bind(tokens)
            .bind(interval(timeout))
            .fetch_all(&self.pool)
            .await
            .map_err(db)
    }

    /// Releases reservations, by token, not to be reserved again for
    /// `pause`.
    pub async fn release(&self, tokens: &[Uuid], pause: Duration) -> Result<()> {
        sqlx::query(&self.sql.release)
            .bind(tokens)
            .bind(interval(pause))
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}

/// A subscription as the registered statement returns it.
fn registered(row: &PgRow) -> sqlx::Result<Registered> {
    let known: bool = row.try_get("selection_known")?;
    let selection = known
        .then(|| -> sqlx::Result<Selection> {
            Ok(Selection {
                types: row
                    .try_get::<Option<Vec<String>>, _>("message_types")?
                    .unwrap_or_default(),
                category: row.try_get("category")?,
                stream: row.try_get("stream")?,
            })
        })
        .transpose()?;
    let pending: sqlx::types::Json<Vec<Pending>> = row.try_get("pending")?;
    Ok(Registered {
        name: row.try_get("name")?,
        registration: row.try_get("registration")?,
        cursor: GlobalCursor::new(
            Place {
                transaction_id: row.try_get("transaction_id")?,
                global_position: row.try_get("global_position")?,
            },
            pending.0,
        ),
        selection,
    })
}

/// A reservation as the reserve statement returns it.
fn reservation(row: &PgRow) -> sqlx::Result<Reservation> {
    Ok(Reservation {
        subscription: row.try_get("subscription")?,
        stream: row.try_get("reserved_stream")?,
        position: row.try_get("reserved_position")?,
        attempts: attempts(row)?,
        token: row.try_get("reserved_by")?,
    })
}

/// A row's count of attempts, kept as an `integer`.
pub(crate) fn attempts(row: &PgRow) -> sqlx::Result<u32> {
    let attempts: i32 = row.try_get("attempts")?;
    Ok(attempts.try_into().unwrap_or_default())
}

/// A duration as Postgres holds it, to the microsecond.
pub(crate) fn interval(duration: Duration) -> PgInterval {
    PgInterval {
        months: 0,
        days: 0,
        microseconds: i64::try_from(duration.as_micros()).unwrap_or(i64::MAX),
    }
}

/// The statements, written once for the schema.
#[derive(Debug)]
struct Statements {
    register: String,
    try_lead: String,
    registered: String,
    undeclared: String,
    remove: String,
    remove_checkpoints: String,
    record_batch: String,
    reserve: String,
    lock_completed: String,
    complete: String,
    advance: String,
    fail: String,
    extend: String,
    release: String,
}

impl Statements {
    fn new(schema: &Schema) -> Self {
        let s = schema.quoted();
        let key = "group_name = $1 AND subscription = $2 AND stream_name = $3";
        let checkpoints_channel = channel(schema, "checkpoints");
        let end = end_of(&s);
        Self {
            // From the end ($3): past the newest message the snapshot
            // shows committed, owing the transactions it shows running
            // below it, and keeping the snapshot to tell history from new
            // messages. After a message store elsewhere's head ($7 to $9):
            // there, with no snapshot. What it selects grows to cover
            // every version that declares it: while two versions run, the
            // leader routes for both.
            register: format!(
                "INSERT INTO {s}.subscriptions AS s
                    (group_name, name, transaction_id, global_position, pending, start_snapshot,
                     message_types, category, stream, selection_known, from_first_read)
                 SELECT $1, $2, {END_COLUMNS},
                     pg_current_snapshot(), $4, $5, $6, true, false
                 FROM {end}
                 WHERE $3
                 UNION ALL
                 SELECT $1, $2, coalesce($7::bigint, 0), coalesce($8::bigint, 0),
                     coalesce($9::jsonb, '[]'), NULL, $4, $5, $6, true, $8::bigint IS NOT NULL
                 WHERE NOT $3
                 ON CONFLICT (group_name, name) DO UPDATE
                 SET message_types = CASE
                         WHEN NOT s.selection_known THEN EXCLUDED.message_types
                         WHEN s.message_types IS NULL OR EXCLUDED.message_types IS NULL THEN NULL
                         ELSE ARRAY(
                             SELECT DISTINCT t
                             FROM unnest(s.message_types || EXCLUDED.message_types) AS t
                             ORDER BY t)
                         END,
                     category = CASE WHEN NOT s.selection_known
                         OR s.category IS NOT DISTINCT FROM EXCLUDED.category
                         THEN EXCLUDED.category END,
                     stream = CASE WHEN NOT s.selection_known
                         OR s.stream IS NOT DISTINCT FROM EXCLUDED.stream
                         THEN EXCLUDED.stream END,
                     selection_known = true"
            ),
            try_lead: format!(
                "SELECT pg_try_advisory_lock(hashtextextended('beckett global {} ' || $1, 0))",
                schema.as_str()
            ),
            undeclared: format!(
                "SELECT s.name, (
                     SELECT count(*) FROM {s}.checkpoints AS c
                     WHERE c.group_name = s.group_name AND c.subscription = s.name
                         AND c.stream_version > c.stream_position AND c.status <> 'failed')
                 FROM {s}.subscriptions AS s
                 WHERE s.group_name = $1 AND s.name <> ALL($2)
                 ORDER BY s.name"
            ),
            remove: format!("DELETE FROM {s}.subscriptions WHERE group_name = $1 AND name = $2"),
            remove_checkpoints: format!(
                "DELETE FROM {s}.checkpoints WHERE group_name = $1 AND subscription = $2"
            ),
            registered: format!(
                "SELECT name, registration, transaction_id, global_position, pending,
                     selection_known, message_types, category, stream
                 FROM {s}.subscriptions WHERE group_name = $1"
            ),
            // An existing checkpoint keeps its holder: only a created one
            // is reserved under the token offered. Every process is told
            // of the rest. A subscription that started at the end creates
            // a stream's checkpoint past the messages its starting snapshot
            // showed committed: those are a prefix of the stream, since
            // appenders of one stream wait for each other, and end before
            // the first position read now, which is new. One that started
            // at the head of a message store elsewhere, whose global order
            // keeps each stream's, creates it just before that position. The
            // subscriptions raised for are locked against removal until
            // this commits, so a removal takes every checkpoint with it, and
            // a raise for a registration removed or reset meanwhile makes
            // nothing. A paused subscription's checkpoints are not taken.
            record_batch: format!(
                "WITH raised AS (
                    INSERT INTO {s}.checkpoints AS c
                        (group_name, subscription, stream_name, stream_version, stream_position,
                         reserved_by, reserved_until, process_at)
                    SELECT $1, v.subscription, v.stream, v.version,
                        CASE WHEN s.from_first_read AND v.first > 1 AND NOT EXISTS (
                            SELECT FROM {s}.checkpoints AS e
                            WHERE e.group_name = $1 AND e.subscription = v.subscription
                                AND e.stream_name = v.stream)
                        THEN v.first - 1
                        WHEN s.start_snapshot IS NULL OR v.first = 1 OR EXISTS (
                            SELECT FROM {s}.checkpoints AS e
                            WHERE e.group_name = $1 AND e.subscription = v.subscription
                                AND e.stream_name = v.stream)
                        THEN 0
                        ELSE coalesce((
                            SELECT m.stream_position FROM {s}.messages AS m
                            WHERE m.stream_name = v.stream AND m.stream_position < v.first
                                AND pg_visible_in_snapshot(
                                    m.transaction_id::text::xid8, s.start_snapshot)
                            ORDER BY m.stream_position DESC LIMIT 1), 0)
                        END,
                        t.token,
                        CASE WHEN t.token IS NOT NULL THEN now() + $6::interval END,
                        now() + CASE WHEN t.token IS NOT NULL THEN $6::interval ELSE '0' END
                    FROM unnest($2::text[], $3::text[], $4::bigint[], $5::uuid[], $12::bigint[],
                            $13::bigint[])
                        AS v (subscription, stream, version, token, first, registration)
                    JOIN {s}.subscriptions AS s ON s.group_name = $1 AND s.name = v.subscription
                        AND s.registration = v.registration
                    CROSS JOIN LATERAL (
                        SELECT CASE WHEN s.paused THEN NULL ELSE v.token END AS token) AS t
                    ORDER BY v.subscription COLLATE \"C\", v.stream COLLATE \"C\"
                    FOR KEY SHARE OF s
                    ON CONFLICT (group_name, subscription, stream_name) DO UPDATE
                    SET stream_version = greatest(c.stream_version, EXCLUDED.stream_version),
                        updated_at = now()
                    RETURNING c.reserved_by
                ), moved AS (
                    UPDATE {s}.subscriptions AS s
                    SET transaction_id = m.t, global_position = m.p, pending = m.pending
                    FROM unnest(
                        $7::text[], $8::bigint[], $9::bigint[], $10::jsonb[], $11::bigint[])
                        AS m (name, t, p, pending, registration)
                    WHERE s.group_name = $1 AND s.name = m.name
                        AND s.registration = m.registration
                ), taken AS (
                    SELECT reserved_by FROM raised WHERE reserved_by = ANY($5)
                ), announced AS (
                    SELECT pg_notify('{checkpoints_channel}', $1)
                    WHERE (SELECT count(*) FROM raised) > (SELECT count(*) FROM taken)
                )
                SELECT ARRAY(SELECT reserved_by FROM taken), (SELECT count(*) FROM announced)"
            ),
            // The update finds the rows by the row versions locked: a join
            // on the key would hash the whole table. A row changed and
            // committed after the statement's snapshot is locked in its new
            // version, which the update cannot see: it stays unreserved, to
            // be taken by a later round. Messages and checkpoints come from
            // one snapshot: a checkpoint raised by a transaction that
            // committed after it was taken reads fewer messages than it lags
            // by, and is reserved again once released.
            //
            // Each subscription's ready checkpoints are read by a scan of
            // their own, in due order, through the ready index: the one
            // plan that never reads more than it takes, whatever the
            // table's statistics say. Rows a scan locks beyond those
            // reserved are free again at commit.
            reserve: format!(
                "WITH ready AS (
                    SELECT c.ctid FROM {s}.subscriptions AS p
                    CROSS JOIN LATERAL (
                        SELECT ctid, process_at FROM {s}.checkpoints
                        WHERE group_name = $1 AND subscription = p.name
                            AND stream_version > stream_position AND status <> 'failed'
                            AND process_at <= now()
                            AND (reserved_until IS NULL OR reserved_until < now())
                        ORDER BY process_at
                        LIMIT $3
                        FOR UPDATE SKIP LOCKED
                    ) AS c
                    WHERE p.group_name = $1 AND p.name = ANY($2) AND NOT p.paused
                    ORDER BY c.process_at
                    LIMIT $3
                ), reserved AS (
                    UPDATE {s}.checkpoints AS c
                    SET reserved_by = gen_random_uuid(), reserved_until = now() + $4,
                        process_at = now() + $4
                    WHERE c.ctid = ANY(ARRAY(SELECT ctid FROM ready))
                    RETURNING c.subscription, c.stream_name AS reserved_stream,
                        c.stream_position AS reserved_position, c.attempts, c.reserved_by
                )
                SELECT r.*, {MESSAGE_COLUMNS}
                FROM reserved AS r
                LEFT JOIN LATERAL (
                    SELECT {MESSAGE_COLUMNS} FROM {s}.messages
                    WHERE stream_name = r.reserved_stream
                        AND stream_position > r.reserved_position
                    ORDER BY stream_position LIMIT $5
                ) AS m ON true
                ORDER BY r.reserved_by, m.stream_position"
            ),
            lock_completed: format!(
                "SELECT k.ctid::text, d.position
                 FROM unnest($2::text[], $3::text[], $4::uuid[], $5::bigint[])
                     AS d (subscription, stream, token, position)
                 CROSS JOIN LATERAL (
                     SELECT ctid FROM {s}.checkpoints
                     WHERE group_name = $1 AND subscription = d.subscription
                         AND stream_name = d.stream AND reserved_by = d.token
                     FOR UPDATE
                 ) AS k"
            ),
            complete: format!(
                "WITH completed AS (
                    UPDATE {s}.checkpoints AS c
                    SET stream_position = greatest(c.stream_position, d.position), status = 'active', attempts = 0,
                        last_error = NULL, reserved_by = NULL, reserved_until = NULL,
                        process_at = now(), updated_at = now()
                    FROM unnest($1::text[]::tid[], $2::bigint[]) AS d (row, position)
                    WHERE c.ctid = ANY($1::text[]::tid[]) AND c.ctid = d.row
                    RETURNING c.stream_version > c.stream_position AS lagging
                )
                SELECT coalesce(bool_or(lagging), false) FROM completed"
            ),
            // Only the holder of the reservation's token moves the
            // checkpoint: a process whose reservation expired and was taken
            // over matches no row. The pause is looked at when $7 says so.
            advance: format!(
                "UPDATE {s}.checkpoints
                 SET stream_position = greatest(stream_position, $5), status = 'active', attempts = 0,
                     last_error = NULL,
                     reserved_by = CASE WHEN $6::interval IS NULL OR p.paused THEN NULL
                         ELSE reserved_by END,
                     reserved_until = CASE WHEN NOT p.paused THEN now() + $6::interval END,
                     process_at = now() + CASE WHEN p.paused THEN interval '0'
                         ELSE coalesce($6::interval, interval '0') END,
                     updated_at = now()
                 FROM (SELECT $7 AND coalesce((
                     SELECT paused FROM {s}.subscriptions WHERE group_name = $1 AND name = $2
                 ), false) AS paused) AS p
                 WHERE {key} AND reserved_by = $4
                 RETURNING reserved_by IS NOT NULL OR $6::interval IS NULL"
            ),
            fail: format!(
                "UPDATE {s}.checkpoints
                 SET stream_position = greatest(stream_position, $5), attempts = $6, last_error = $7,
                     status = CASE WHEN $8::interval IS NULL THEN 'failed' ELSE 'retry' END,
                     process_at = now() + coalesce($8::interval, interval '0'),
                     reserved_by = NULL, reserved_until = NULL, updated_at = now()
                 WHERE {key} AND reserved_by = $4"
            ),
            extend: format!(
                "WITH held AS (
                    SELECT ctid FROM {s}.checkpoints WHERE reserved_by = ANY($1)
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE {s}.checkpoints
                SET reserved_until = now() + $2, process_at = now() + $2
                WHERE ctid = ANY(ARRAY(SELECT ctid FROM held)) AND reserved_by = ANY($1)
                RETURNING reserved_by"
            ),
            release: format!(
                "UPDATE {s}.checkpoints
                 SET reserved_by = NULL, reserved_until = NULL,
                     process_at = now() + $2
                 WHERE reserved_by = ANY($1)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{interval, Statements};
    use crate::sql::plans::rows_read;
    use beckett_core::Schema;
    use sqlx::PgPool;
    use std::time::Duration;

    /// Ready checkpoints of each of two subscriptions of the group.
    const READY: i64 = 20_000;
    const LIMIT: i64 = 100;

    /// On a table filled a moment ago, before any statistics, a
    /// reservation reads about as many checkpoints as it takes: the
    /// subscription's ready ones in due order, through the ready index,
    /// never every ready one of the group sorted. (Each row taken shows in
    /// three nodes: the scan, the lock and the update.)
    #[sqlx::test(migrations = false)]
    async fn a_reservation_reads_what_it_takes(pool: PgPool) {
        crate::migrate(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO beckett.subscriptions (group_name, name, transaction_id, global_position)
             VALUES ('Plans', 'taken', 0, 0), ('Plans', 'other', 0, 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO beckett.checkpoints
                 (group_name, subscription, stream_name, stream_version, process_at)
             SELECT 'Plans', subscription, 'Plan-' || k, 1, now() - k * interval '1 ms'
             FROM generate_series(1, $1) AS k, unnest(ARRAY['taken', 'other']) AS subscription",
        )
        .bind(READY)
        .execute(&pool)
        .await
        .unwrap();

        let reserve = Statements::new(&Schema::default()).reserve;
        let plan: serde_json::Value =
            sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {reserve}"))
                .bind("Plans")
                .bind(vec!["taken"])
                .bind(LIMIT)
                .bind(interval(Duration::from_secs(30)))
                .bind(10_i64)
                .fetch_one(&pool)
                .await
                .unwrap();
        let reserved: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM beckett.checkpoints WHERE reserved_by IS NOT NULL",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(reserved, LIMIT, "the reservation took its limit");
        let read = rows_read(&plan, "checkpoints");
        assert!(
            read <= (5 * LIMIT) as f64,
            "{read} checkpoints read to reserve {LIMIT}: {plan:#}"
        );
    }
}
