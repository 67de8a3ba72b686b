//! What operators do with subscriptions and checkpoints on Postgres:
//! listings with counts, pause, reset, and the actions on every checkpoint
//! a filter matches. All of their SQL is here.

use crate::checkpoints::attempts;
use crate::error::db;
use crate::sql::{channel, end_of, END_COLUMNS};
use beckett_core::state::{
    CheckpointFilter, CheckpointInfo, CheckpointKey, ResetOutcome, StartAt, SubscriptionInfo,
};
use beckett_core::store::{Pending, Place};
use beckett_core::{GlobalCursor, Result, Schema};
use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};
use std::sync::Arc;

/// The operators' statements on the schema's tables.
#[derive(Debug, Clone)]
pub(crate) struct Operators {
    pool: PgPool,
    sql: Arc<Statements>,
}

impl Operators {
    pub fn new(pool: PgPool, schema: &Schema) -> Self {
        Self {
            pool,
            sql: Arc::new(Statements::new(schema)),
        }
    }

    /// The subscriptions of one group or of all, with their checkpoints
    /// counted.
    pub async fn subscriptions(&self, group: Option<&str>) -> Result<Vec<SubscriptionInfo>> {
        let rows = sqlx::query(&self.sql.subscriptions)
            .bind(group)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|row| subscription_info(row).map_err(db))
            .collect()
    }

    /// Pauses or resumes a subscription; a resumed one's group is woken.
    pub async fn set_paused(&self, group: &str, name: &str, paused: bool) -> Result<bool> {
        let (changed, _woken): (i64, i64) = sqlx::query_as(&self.sql.set_paused)
            .bind(group)
            .bind(name)
            .bind(paused)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(changed == 1)
    }

    /// Resets a subscription to `to`, unless processes hold its
    /// checkpoints.
    ///
    /// The subscription's row is locked first, which waits for the
    /// leader's raise under way and holds off the next; then every one of
    /// its checkpoints, which waits for the reservations under way, so
    /// that the count of those held is exact.
    pub async fn reset(&self, group: &str, name: &str, to: &StartAt) -> Result<ResetOutcome> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let found: Option<i64> = sqlx::query_scalar(&self.sql.lock_subscription)
            .bind(group)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if found.is_none() {
            return Ok(ResetOutcome::Unregistered);
        }
        let held: i64 = sqlx::query_scalar(&self.sql.lock_checkpoints)
            .bind(group)
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if held > 0 {
            return Ok(ResetOutcome::Reserved(held.unsigned_abs()));
        }
        let after = match to {
            StartAt::After(cursor) => Some(cursor),
            StartAt::First | StartAt::End => None,
        };
        let frontier = after.map(GlobalCursor::frontier);
        sqlx::query(&self.sql.reset)
            .bind(group)
            .bind(name)
            .bind(*to == StartAt::End)
            .bind(frontier.map(|p| p.transaction_id))
            .bind(frontier.map(|p| p.global_position))
            .bind(after.map(|c| sqlx::types::Json(c.pending())))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(ResetOutcome::Done)
    }

    /// Up to `limit` checkpoints matching `filter`, after `after`.
    pub async fn checkpoints(
        &self,
        filter: &CheckpointFilter,
        after: Option<&CheckpointKey>,
        limit: usize,
    ) -> Result<Vec<CheckpointInfo>> {
        let rows = filtered(&self.sql.checkpoints, filter)
            .bind(after.map(|k| &k.group))
            .bind(after.map(|k| &k.subscription))
            .bind(after.map(|k| &k.stream))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|row| checkpoint_info(row).map_err(db))
            .collect()
    }

    /// How many checkpoints match `filter`.
    pub async fn count(&self, filter: &CheckpointFilter) -> Result<u64> {
        let row = filtered(&self.sql.count, filter)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let count: i64 = row.try_get(0).map_err(db)?;
        Ok(count.unsigned_abs())
    }

    /// Makes the failed checkpoints matching `filter` due now.
    pub async fn retry_failed(&self, filter: &CheckpointFilter) -> Result<u64> {
        self.act(&self.sql.retry_failed, filter).await
    }

    /// Moves the failed checkpoints matching `filter` past their failing
    /// message, recording each skip.
    pub async fn skip_failed(&self, filter: &CheckpointFilter) -> Result<u64> {
        self.act(&self.sql.skip_failed, filter).await
    }

    /// Ends the reservations held on the checkpoints matching `filter`.
    pub async fn release_reserved(&self, filter: &CheckpointFilter) -> Result<u64> {
        self.act(&self.sql.release_reserved, filter).await
    }

    /// Runs an action on the checkpoints `filter` matches, waking their
    /// groups; how many it took.
    async fn act(&self, sql: &str, filter: &CheckpointFilter) -> Result<u64> {
        let row = filtered(sql, filter)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let acted: i64 = row.try_get(0).map_err(db)?;
        Ok(acted.unsigned_abs())
    }
}

/// `sql` with the filter's conditions bound to `$1` to `$7`, as
/// [`FILTER`] reads them.
fn filtered<'q>(sql: &'q str, filter: &'q CheckpointFilter) -> Query<'q, Postgres, PgArguments> {
    sqlx::query(sql)
        .bind(&filter.group)
        .bind(&filter.subscription)
        .bind(&filter.stream)
        .bind(&filter.stream_prefix)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(&filter.error)
        .bind(filter.reserved)
}

/// The conditions of a [`CheckpointFilter`] on the checkpoints' columns,
/// each one met when its parameter is null.
const FILTER: &str = "($1::text IS NULL OR group_name = $1)
    AND ($2::text IS NULL OR subscription = $2)
    AND ($3::text IS NULL OR stream_name = $3)
    AND ($4::text IS NULL OR starts_with(stream_name, $4))
    AND ($5::text IS NULL OR status = $5)
    AND ($6::text IS NULL OR strpos(lower(coalesce(last_error, '')), lower($6)) > 0)
    AND ($7::boolean IS NULL OR coalesce(reserved_until > now(), false) = $7)";

/// The order the engine locks checkpoints in: their keys' bytes.
const KEY_ORDER: &str =
    "group_name COLLATE \"C\", subscription COLLATE \"C\", stream_name COLLATE \"C\"";

/// A checkpoint as the listing returns it.
fn checkpoint_info(row: &PgRow) -> sqlx::Result<CheckpointInfo> {
    let status: String = row.try_get("status")?;
    Ok(CheckpointInfo {
        group: row.try_get("group_name")?,
        subscription: row.try_get("subscription")?,
        stream: row.try_get("stream_name")?,
        stream_version: row.try_get("stream_version")?,
        stream_position: row.try_get("stream_position")?,
        status: status
            .parse()
            .map_err(|error: String| sqlx::Error::ColumnDecode {
                index: "status".to_owned(),
                source: error.into(),
            })?,
        attempts: attempts(row)?,
        last_error: row.try_get("last_error")?,
        process_at: row.try_get("process_at")?,
        reserved_until: row.try_get("reserved_until")?,
    })
}

/// A subscription as the listing returns it.
fn subscription_info(row: &PgRow) -> sqlx::Result<SubscriptionInfo> {
    let count =
        |column: &str| -> sqlx::Result<u64> { Ok(row.try_get::<i64, _>(column)?.unsigned_abs()) };
    let pending: sqlx::types::Json<Vec<Pending>> = row.try_get("pending")?;
    Ok(SubscriptionInfo {
        group: row.try_get("group_name")?,
        name: row.try_get("name")?,
        registration: row.try_get("registration")?,
        paused: row.try_get("paused")?,
        cursor: GlobalCursor::new(
            Place {
                transaction_id: row.try_get("transaction_id")?,
                global_position: row.try_get("global_position")?,
            },
            pending.0,
        ),
        checkpoints: count("checkpoints")?,
        lagging: count("lagging")?,
        retrying: count("retrying")?,
        failed: count("failed")?,
        reserved: count("reserved")?,
        behind: row.try_get("behind")?,
    })
}

/// The statements, written once for the schema.
#[derive(Debug)]
struct Statements {
    subscriptions: String,
    set_paused: String,
    lock_subscription: String,
    lock_checkpoints: String,
    reset: String,
    checkpoints: String,
    count: String,
    retry_failed: String,
    skip_failed: String,
    release_reserved: String,
}

impl Statements {
    fn new(schema: &Schema) -> Self {
        let s = schema.quoted();
        let checkpoints_channel = channel(schema, "checkpoints");
        // After an action, the groups of the checkpoints it made due are
        // woken, as the leader wakes them when it raises; and how many it
        // took is told.
        let woken = format!(
            ", woken AS (
                SELECT pg_notify('{checkpoints_channel}', group_name)
                FROM (SELECT DISTINCT group_name FROM acted) AS groups
            )
            SELECT (SELECT count(*) FROM acted), (SELECT count(*) FROM woken)"
        );
        // The failed checkpoints a filter matches, locked in the order of
        // their keys' bytes, as the leader's raise locks them, so that the
        // two never deadlock; the update then finds the rows by the versions
        // locked.
        let locked_failed = format!(
            "SELECT ctid, attempts, last_error FROM {s}.checkpoints
             WHERE {FILTER} AND status = 'failed'
             ORDER BY {KEY_ORDER}
             FOR UPDATE"
        );
        let end = end_of(&s);
        Self {
            subscriptions: format!(
                "SELECT s.group_name, s.name, s.registration, s.paused, s.transaction_id,
                     s.global_position, s.pending,
                     count(c.stream_name) AS checkpoints,
                     count(*) FILTER (WHERE c.status = 'active'
                         AND c.stream_version > c.stream_position) AS lagging,
                     count(*) FILTER (WHERE c.status = 'retry') AS retrying,
                     count(*) FILTER (WHERE c.status = 'failed') AS failed,
                     count(*) FILTER (WHERE c.reserved_until > now()) AS reserved,
                     coalesce(sum(c.stream_version - c.stream_position) FILTER (
                         WHERE c.status <> 'failed' AND c.stream_version > c.stream_position),
                         0)::bigint AS behind
                 FROM {s}.subscriptions AS s
                 LEFT JOIN {s}.checkpoints AS c
                     ON c.group_name = s.group_name AND c.subscription = s.name
                 WHERE $1::text IS NULL OR s.group_name = $1
                 GROUP BY s.group_name, s.name
                 ORDER BY s.group_name, s.name"
            ),
            set_paused: format!(
                "WITH changed AS (
                    UPDATE {s}.subscriptions SET paused = $3
                    WHERE group_name = $1 AND name = $2
                    RETURNING 1
                ), woken AS (
                    SELECT pg_notify('{checkpoints_channel}', $1)
                    WHERE NOT $3 AND EXISTS (SELECT FROM changed)
                )
                SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM woken)"
            ),
            lock_subscription: format!(
                "SELECT registration FROM {s}.subscriptions
                 WHERE group_name = $1 AND name = $2 FOR UPDATE"
            ),
            lock_checkpoints: format!(
                "SELECT count(*) FILTER (WHERE reserved_until > now()) FROM (
                    SELECT reserved_until FROM {s}.checkpoints
                    WHERE group_name = $1 AND subscription = $2
                    ORDER BY {KEY_ORDER}
                    FOR UPDATE) AS locked"
            ),
            // As registered from the start, from the end ($3) or after a
            // place ($4 to $6), under a new registration, so that the
            // leader starts it over; after a place, owing also the
            // transactions running below it now, whose messages come after.
            reset: format!(
                "WITH gone AS (
                    DELETE FROM {s}.checkpoints WHERE group_name = $1 AND subscription = $2
                ), place (transaction_id, global_position, pending, start_snapshot,
                        from_first_read) AS (
                    SELECT {END_COLUMNS}, pg_current_snapshot(), false
                    FROM {end}
                    WHERE $3
                    UNION ALL
                    SELECT coalesce($4::bigint, 0), coalesce($5::bigint, 0), (
                        SELECT coalesce(jsonb_agg(p ORDER BY (p ->> 'transaction_id')::bigint),
                            '[]')
                        FROM (
                            SELECT p FROM jsonb_array_elements(coalesce($6::jsonb, '[]')) AS p
                            UNION
                            SELECT jsonb_build_object(
                                'transaction_id', id::text::bigint, 'after', 0)
                            FROM pg_snapshot_xip(pg_current_snapshot()) AS id
                            WHERE id::text::bigint < $4::bigint AND NOT EXISTS (
                                SELECT FROM jsonb_array_elements(coalesce($6::jsonb, '[]')) AS o
                                WHERE (o ->> 'transaction_id')::bigint = id::text::bigint)
                        ) AS owed),
                        NULL::pg_snapshot, $5::bigint IS NOT NULL
                    WHERE NOT $3
                )
                UPDATE {s}.subscriptions AS s
                SET registration = DEFAULT, transaction_id = place.transaction_id,
                    global_position = place.global_position, pending = place.pending,
                    start_snapshot = place.start_snapshot, from_first_read = place.from_first_read
                FROM place
                WHERE s.group_name = $1 AND s.name = $2"
            ),
            checkpoints: format!(
                "SELECT group_name, subscription, stream_name, stream_version, stream_position,
                     status, attempts, last_error, process_at,
                     CASE WHEN reserved_until > now() THEN reserved_until END AS reserved_until
                 FROM {s}.checkpoints
                 WHERE {FILTER}
                     AND ($8::text IS NULL
                         OR ({KEY_ORDER}) > ($8, $9::text, $10::text))
                 ORDER BY {KEY_ORDER}
                 LIMIT $11"
            ),
            count: format!("SELECT count(*) FROM {s}.checkpoints WHERE {FILTER}"),
            retry_failed: format!(
                "WITH locked AS ({locked_failed}), acted AS (
                    UPDATE {s}.checkpoints
                    SET status = 'retry', attempts = 0, process_at = now(), updated_at = now()
                    WHERE ctid = ANY(ARRAY(SELECT ctid FROM locked)) AND status = 'failed'
                    RETURNING group_name
                ){woken}"
            ),
            // The failing message is the one after each checkpoint's
            // position: a stream's positions have no gap, and the position
            // handled is moved past messages not selected.
            skip_failed: format!(
                "WITH acted AS (
                    UPDATE {s}.checkpoints AS c
                    SET stream_position = c.stream_position + 1, status = 'active',
                        attempts = 0, last_error = NULL, process_at = now(), updated_at = now()
                    FROM ({locked_failed}) AS f
                    WHERE c.ctid = f.ctid AND c.status = 'failed'
                    RETURNING c.group_name, c.subscription, c.stream_name, c.stream_position,
                        f.attempts, f.last_error
                ), recorded AS (
                    INSERT INTO {s}.skipped_messages
                        (group_name, subscription, stream_name, stream_position, attempts,
                         last_error)
                    SELECT * FROM acted
                ){woken}"
            ),
            release_reserved: format!(
                "WITH locked AS (
                    SELECT ctid FROM {s}.checkpoints
                    WHERE {FILTER} AND reserved_until > now()
                    ORDER BY {KEY_ORDER}
                    FOR UPDATE
                ), acted AS (
                    UPDATE {s}.checkpoints
                    SET reserved_by = NULL, reserved_until = NULL, process_at = now(),
                        updated_at = now()
                    WHERE ctid = ANY(ARRAY(SELECT ctid FROM locked)) AND reserved_until > now()
                    RETURNING group_name
                ){woken}"
            ),
        }
    }
}
