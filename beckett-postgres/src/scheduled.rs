//! Scheduled messages on Postgres: scheduling, cancelling, and moving due
//! messages into the store. All of their SQL is here.

use crate::announce::Announcer;
use crate::error::{db, has_code};
use crate::sql::{channel, limit_to_sql, Batch};
use beckett_core::scheduling::Due;
use beckett_core::state::{Delivered, DueMessage, ScheduledInfo};
use beckett_core::store::validate_stream_name;
use beckett_core::{Error, NewMessage, Result, Schema};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Which streams a round of delivery moves messages to.
#[derive(Debug, Clone, Copy)]
enum Streams<'a> {
    All,
    /// Those that exist already.
    Existing,
    /// This one, which did not exist when looked for.
    New(&'a str),
}

/// Whether `error` is a statement that gave up waiting for a lock
/// (`lock_not_available`).
fn waited_for_a_lock(error: &Error) -> bool {
    has_code(error, "55P03")
}

/// A scheduled message as the listing returns it.
fn scheduled_info(row: &PgRow) -> sqlx::Result<ScheduledInfo> {
    Ok(ScheduledInfo {
        id: row.try_get("id")?,
        stream: row.try_get("stream_name")?,
        message_type: row.try_get("type")?,
        data: row.try_get("data")?,
        metadata: row.try_get("metadata")?,
        deliver_at: row.try_get("deliver_at")?,
        scheduled_at: row.try_get("scheduled_at")?,
        taken_until: row.try_get("taken_until")?,
    })
}

/// Scheduled messages: kept until due, then moved into the store.
#[derive(Debug, Clone)]
pub(crate) struct Scheduled {
    pool: PgPool,
    sql: Arc<Statements>,
    announcer: Announcer,
}

impl Scheduled {
    pub fn new(pool: PgPool, schema: &Schema, announcer: Announcer) -> Self {
        Self {
            pool,
            sql: Arc::new(Statements::new(schema)),
            announcer,
        }
    }

    /// Keeps `message` for `stream` until `due`, on `conn`.
    pub async fn schedule_in(
        &self,
        conn: &mut PgConnection,
        stream: &str,
        message: NewMessage,
        due: Due,
    ) -> Result<Uuid> {
        validate_stream_name(stream)?;
        let batch = Batch::new(vec![message])?;
        let (at, delay) = match due {
            Due::At(at) => (Some(at), None),
            Due::In(delay) => (None, Some(delay.as_micros() as i64)),
        };
        sqlx::query(&self.sql.schedule)
            .bind(batch.ids[0])
            .bind(stream)
            .bind(&batch.types[0])
            .bind(&batch.data[0])
            .bind(&batch.metadata[0])
            .bind(at)
            .bind(delay)
            .execute(conn)
            .await
            .map_err(db)?;
        Ok(batch.ids[0])
    }

    /// Up to `limit` scheduled messages still to deliver, of streams
    /// starting with `stream_prefix` if given, in due order.
    pub async fn list(
        &self,
        stream_prefix: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ScheduledInfo>> {
        let rows = sqlx::query(&self.sql.list)
            .bind(stream_prefix)
            .bind(limit_to_sql(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|row| scheduled_info(row).map_err(db))
            .collect()
    }

    /// Makes a scheduled message still waiting due now, waking the
    /// schedulers; false if it is not waiting.
    pub async fn deliver_now(&self, id: Uuid) -> Result<bool> {
        let woken = sqlx::query(&self.sql.deliver_now)
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(woken.len() == 1)
    }

    /// Cancels a scheduled message still waiting, on `conn`.
    pub async fn cancel_in(&self, conn: &mut PgConnection, id: Uuid) -> Result<bool> {
        let deleted = sqlx::query(&self.sql.cancel)
            .bind(id)
            .execute(conn)
            .await
            .map_err(db)?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Moves up to `limit` due messages into the store; returns how many
    /// were moved, and whether some were held back by another writer.
    /// Messages another scheduler is moving are left to it.
    ///
    /// It never waits for another writer. A stream's row locked by an
    /// appender holds back that stream's messages only. A stream whose
    /// first message another transaction is inserting cannot be seen
    /// without waiting for it: the statement gives up on such a wait at
    /// once, and the messages of streams that already exist are moved
    /// without the new ones, which come back in a later round.
    pub async fn deliver_due(&self, limit: usize) -> Result<Delivered> {
        match self.deliver(limit, Streams::All).await {
            Err(error) if waited_for_a_lock(&error) => {}
            moved => {
                return Ok(Delivered {
                    moved: moved?,
                    held_back: false,
                })
            }
        }
        let mut moved = self.deliver(limit, Streams::Existing).await?;
        let mut held_back = false;
        let new: Vec<String> = sqlx::query_scalar(&self.sql.new_streams_due)
            .bind(limit_to_sql(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        for stream in &new {
            match self.deliver(limit, Streams::New(stream)).await {
                Err(error) if waited_for_a_lock(&error) => held_back = true,
                one => moved += one?,
            }
        }
        Ok(Delivered { moved, held_back })
    }

    /// Moves up to `limit` due messages to `streams` into the store,
    /// failing rather than waiting for a lock.
    async fn deliver(&self, limit: usize, streams: Streams<'_>) -> Result<usize> {
        let (new_streams, only) = match streams {
            Streams::All => (true, None),
            Streams::Existing => (false, None),
            Streams::New(stream) => (true, Some(stream)),
        };
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("SET LOCAL lock_timeout = '1ms'")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let rows: Vec<(Uuid, String, bool)> = sqlx::query_as(&self.sql.deliver)
            .bind(limit_to_sql(limit))
            .bind(new_streams)
            .bind(only)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let mut delivered = 0;
        for (id, stream, appended) in rows {
            if appended {
                delivered += 1;
            } else {
                tracing::warn!(
                    %id, stream,
                    "dropped a scheduled message: the store already holds a message with its id"
                );
            }
        }
        if delivered > 0 {
            self.announcer.announce();
        }
        Ok(delivered)
    }

    /// Takes up to `limit` due messages for a message store elsewhere, in
    /// due order, keeping them from other schedulers and from
    /// cancellation for `lease`.
    ///
    /// One scheduler at a time takes. Its turn is taken before the
    /// statement that takes, so that the statement's snapshot holds the
    /// leases the scheduler before it committed: taken within the
    /// statement, the turn could come after a snapshot that missed them,
    /// and the stream's later messages would be taken beside earlier ones
    /// still being appended.
    pub async fn take_due(&self, limit: usize, lease: Duration) -> Result<Vec<DueMessage>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let our_turn: bool = sqlx::query_scalar(&self.sql.take_turn)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let mut rows: Vec<(Uuid, String, String, serde_json::Value, serde_json::Value)> =
            Vec::new();
        if our_turn {
            rows = sqlx::query_as(&self.sql.take)
                .bind(limit_to_sql(limit))
                .bind(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX))
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, stream, message_type, data, metadata)| {
                DueMessage::from_stored(id, stream, message_type, data, metadata)
            })
            .collect())
    }

    /// Forgets messages taken and appended elsewhere.
    pub async fn delivered(&self, ids: &[Uuid]) -> Result<()> {
        sqlx::query(&self.sql.delivered)
            .bind(ids)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// How long until the next scheduled message is due (zero if one is
    /// due now); `None` when none is waiting.
    pub async fn next_due(&self) -> Result<Option<Duration>> {
        let micros: Option<i64> = sqlx::query_scalar(&self.sql.next_due)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(micros.map(|micros| Duration::from_micros(micros.max(0).unsigned_abs())))
    }
}

/// The scheduling statements, written once for the store's schema.
#[derive(Debug)]
pub(crate) struct Statements {
    schedule: String,
    cancel: String,
    list: String,
    deliver_now: String,
    deliver: String,
    take_turn: String,
    take: String,
    delivered: String,
    new_streams_due: String,
    next_due: String,
}

impl Statements {
    pub(crate) fn new(schema: &Schema) -> Self {
        let s = schema.quoted();
        let schema_name = schema.as_str();
        let channel = channel(schema, "scheduled");
        Self {
            // The notification wakes the schedulers when the transaction
            // commits, however long it ran; one transaction's are merged.
            schedule: format!(
                "WITH scheduled AS (
                    INSERT INTO {s}.scheduled_messages (id, stream_name, type, data, metadata, deliver_at)
                    VALUES ($1, $2, $3, $4, $5,
                        coalesce($6, clock_timestamp() + $7 * interval '1 microsecond'))
                    RETURNING deliver_at
                )
                SELECT pg_notify('{channel}', '') FROM scheduled"
            ),
            // A message taken for a message store elsewhere may be
            // appended already.
            cancel: format!(
                "DELETE FROM {s}.scheduled_messages
                 WHERE id = $1 AND (taken_until IS NULL OR taken_until < now())"
            ),
            list: format!(
                "SELECT id, stream_name, type, data, metadata, deliver_at, scheduled_at,
                     CASE WHEN taken_until > now() THEN taken_until END AS taken_until
                 FROM {s}.scheduled_messages
                 WHERE $1::text IS NULL OR starts_with(stream_name, $1)
                 ORDER BY deliver_at, sequence
                 LIMIT $2"
            ),
            deliver_now: format!(
                "WITH moved AS (
                    UPDATE {s}.scheduled_messages SET deliver_at = least(deliver_at, clock_timestamp())
                    WHERE id = $1 AND (taken_until IS NULL OR taken_until < now())
                    RETURNING id
                )
                SELECT pg_notify('{channel}', '') FROM moved"
            ),
            take_turn: format!(
                "SELECT pg_try_advisory_xact_lock(hashtextextended('beckett scheduler {schema_name}', 1))"
            ),
            // A message taken falls due again when its lease ends, if it
            // was not recorded delivered by then, in its place among the
            // others. Its stream's later messages wait for it meanwhile, and
            // one scheduler at a time takes (`take_turn`), so a stream's
            // messages are appended in due order.
            take: format!(
                "WITH taken AS (
                    SELECT id, deliver_at, sequence FROM {s}.scheduled_messages AS sm
                    WHERE deliver_at <= now() AND (taken_until IS NULL OR taken_until < now())
                        AND NOT EXISTS (
                            SELECT FROM {s}.scheduled_messages AS t
                            WHERE t.stream_name = sm.stream_name AND t.taken_until >= now())
                    ORDER BY deliver_at, sequence
                    LIMIT $1
                    FOR UPDATE SKIP LOCKED
                ), leased AS (
                    UPDATE {s}.scheduled_messages AS sm
                    SET taken_until = now() + $2 * interval '1 microsecond'
                    FROM taken
                    WHERE sm.id = taken.id
                    RETURNING sm.id, sm.stream_name, sm.type, sm.data, sm.metadata
                )
                SELECT l.* FROM leased AS l JOIN taken AS t USING (id)
                ORDER BY t.deliver_at, t.sequence"
            ),
            delivered: format!("DELETE FROM {s}.scheduled_messages WHERE id = ANY($1)"),
            // One statement takes due messages off the schedule and appends
            // them, so each is appended once or, on any error, stays
            // scheduled. One scheduler at a time moves messages (the others
            // find the lock taken and move none), so within a stream they
            // are appended in due order, and messages due together in the
            // order they were scheduled. It never waits for a lock: messages
            // whose cancellation is in flight, or whose stream another
            // transaction is appending to, wait for a later round; so do,
            // unless `$2`, messages to streams that do not exist yet. Those
            // are stepped over within the first ten batches due, so a busy
            // stream holds back only its own messages. A message
            // whose id the store already holds is taken off but not
            // appended. Every table is read through an index by the keys
            // of the messages waiting, never joined whole: a join would
            // hash the schedule, the streams or the messages each round,
            // and a burst of due messages would cost its square. The
            // messages taken are found by the row versions read; one
            // changed since is left to a later round.
            deliver: format!(
                "WITH waiting AS (
                    SELECT ctid, stream_name FROM {s}.scheduled_messages
                    WHERE deliver_at <= now() AND ($3::text IS NULL OR stream_name = $3)
                        AND (SELECT pg_try_advisory_xact_lock(
                            hashtextextended('beckett scheduler {schema_name}', 0)))
                    ORDER BY deliver_at, sequence
                    LIMIT $1 * 10
                ), existing AS (
                    SELECT stream_name FROM {s}.streams
                    WHERE stream_name = ANY(ARRAY(SELECT stream_name FROM waiting))
                ), free AS (
                    SELECT stream_name FROM {s}.streams
                    WHERE stream_name = ANY(ARRAY(SELECT stream_name FROM existing))
                    FOR UPDATE SKIP LOCKED
                ), taken AS (
                    SELECT sm.id FROM {s}.scheduled_messages AS sm
                    WHERE sm.ctid = ANY(ARRAY(
                        SELECT w.ctid FROM waiting AS w
                        WHERE w.stream_name IN (SELECT stream_name FROM free)
                            OR $2 AND w.stream_name NOT IN (SELECT stream_name FROM existing)))
                    ORDER BY sm.deliver_at, sm.sequence
                    LIMIT $1
                    FOR UPDATE SKIP LOCKED
                ), due AS (
                    DELETE FROM {s}.scheduled_messages sm
                    USING taken t
                    WHERE sm.id = t.id
                    RETURNING sm.id, sm.sequence, sm.stream_name, sm.type, sm.data, sm.metadata,
                        sm.deliver_at
                ), fresh AS (
                    SELECT * FROM due
                    WHERE id NOT IN (
                        SELECT id FROM {s}.messages WHERE id = ANY(ARRAY(SELECT id FROM due)))
                ), counts AS (
                    SELECT stream_name, count(*) AS n FROM fresh GROUP BY stream_name
                ), streams AS (
                    INSERT INTO {s}.streams AS st (stream_name, version)
                    SELECT stream_name, n FROM counts
                    ON CONFLICT (stream_name) DO UPDATE SET version = st.version + EXCLUDED.version
                    RETURNING st.stream_name, st.version
                ), appended AS (
                    INSERT INTO {s}.messages (id, stream_name, stream_position, type, data, metadata)
                    SELECT f.id, f.stream_name,
                        st.version - c.n
                            + row_number() OVER (PARTITION BY f.stream_name ORDER BY f.deliver_at, f.sequence),
                        f.type, f.data, f.metadata
                    FROM fresh f
                    JOIN counts c USING (stream_name)
                    JOIN streams st USING (stream_name)
                    ORDER BY f.deliver_at, f.sequence
                    RETURNING id
                )
                SELECT d.id, d.stream_name, EXISTS (SELECT FROM appended a WHERE a.id = d.id)
                FROM due d"
            ),
            new_streams_due: format!(
                "SELECT DISTINCT stream_name FROM {s}.scheduled_messages AS sm
                WHERE deliver_at <= now()
                    AND NOT EXISTS (
                        SELECT FROM {s}.streams st WHERE st.stream_name = sm.stream_name)
                LIMIT $1"
            ),
            // By the database's clock, which decides what is due.
            // A message taken is due again when its lease ends.
            next_due: format!(
                "SELECT (extract(epoch FROM min(greatest(deliver_at, taken_until))
                    - clock_timestamp()) * 1000000)::bigint
                FROM {s}.scheduled_messages"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Statements;
    use crate::sql::plans::rows_read;
    use beckett_core::Schema;
    use sqlx::PgPool;

    /// Messages due, and as many streams and messages beside them.
    const DUE: i64 = 20_000;
    const LIMIT: i64 = 100;

    /// On tables filled a moment ago, before any statistics, a round of
    /// delivery reads the rows of the messages it looks at, through
    /// indexes: never the whole schedule, streams or messages, which would
    /// make a burst of due messages cost its square.
    #[sqlx::test(migrations = false)]
    async fn a_delivery_reads_what_it_moves(pool: PgPool) {
        crate::migrate(&pool).await.unwrap();
        for fill in [
            "INSERT INTO beckett.scheduled_messages (id, stream_name, type, data, deliver_at)
             SELECT gen_random_uuid(), 'Due-' || k, 'Ping', '{}', now() - interval '1 s'
             FROM generate_series(1, $1) AS k",
            "INSERT INTO beckett.streams (stream_name, version)
             SELECT 'Due-' || k, 1 FROM generate_series(1, $1) AS k",
            "INSERT INTO beckett.messages (id, stream_name, stream_position, type, data)
             SELECT gen_random_uuid(), 'Due-' || k, 1, 'Ping', '{}'
             FROM generate_series(1, $1) AS k",
        ] {
            sqlx::query(fill).bind(DUE).execute(&pool).await.unwrap();
        }

        let deliver = Statements::new(&Schema::default()).deliver;
        let plan: serde_json::Value =
            sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {deliver}"))
                .bind(LIMIT)
                .bind(true)
                .bind(None::<String>)
                .fetch_one(&pool)
                .await
                .unwrap();
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM beckett.scheduled_messages")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(left, DUE - LIMIT, "the round moved its limit");
        // The round looks at ten times its limit, to step over busy
        // streams: a couple of thousand rows of a table, where a join
        // reads it all.
        for table in ["scheduled_messages", "streams", "messages"] {
            let read = rows_read(&plan, table);
            assert!(
                read <= (DUE / 4) as f64,
                "{read} rows of {table} read to deliver {LIMIT}: {plan:#}"
            );
        }
    }
}
