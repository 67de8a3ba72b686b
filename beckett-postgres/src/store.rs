//! The message store on Postgres. All of its SQL is here.

use crate::announce::Announcer;
use crate::browse::Browse;
use crate::checkpoints::Checkpoints;
use crate::error::{db, duplicate_id};
use crate::lanes::Lanes;
use crate::minutes::Minutes;
use crate::operators::Operators;
use crate::recurring_jobs::RecurringJobs;
use crate::scheduled::Scheduled;
use crate::sql::{
    end_of, limit_to_sql, raw_message, Batch, END_COLUMNS, MESSAGE_COLUMNS, NO_MESSAGE,
};
use beckett_core::scheduling::Due;
use beckett_core::store::{validate_stream_name, GlobalReader};
use beckett_core::store::{CategoryInfo, Found, MessageSearch, Pending, Place, StreamInfo};
use beckett_core::telemetry;
use beckett_core::{
    Appended, Error, ExpectedVersion, GlobalCursor, GlobalRead, MessageStorage, NewMessage,
    RawMessage, Result, Schema,
};
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::types::Json;
use sqlx::{Connection, Row};
use std::sync::Arc;
use uuid::Uuid;

/// The message store and the engine's state on Postgres, in the tables
/// [`migrate`](crate::migrate) creates.
///
/// Cheap to clone: clones share the pool. Beside the pool, the store keeps
/// up to a quarter of its size in connections of its own for appends outside
/// a transaction, and one for notifications; they are opened with the pool's
/// connect options, and its `after_connect` does not run on them.
///
/// ```no_run
/// # async fn demo() -> beckett::Result<()> {
/// use beckett::{ExpectedVersion, MessageStorage, NewMessage, PostgresStore};
///
/// let pool = beckett::connect("postgres://localhost/app").await?;
/// beckett::migrate(&pool).await?;
/// let store = PostgresStore::new(pool);
/// let ping = NewMessage::from_json("Ping", serde_json::json!({}));
/// store.append("Pinger-1", ExpectedVersion::Any, vec![ping]).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
    pub(crate) schema: Schema,
    sql: Arc<Statements>,
    pub(crate) scheduled: Scheduled,
    pub(crate) checkpoints: Checkpoints,
    pub(crate) operators: Operators,
    browse: Browse,
    pub(crate) minutes: Minutes,
    pub(crate) jobs: RecurringJobs,
    pub(crate) announcer: Announcer,
    lanes: Lanes,
}

impl PostgresStore {
    /// A store in the default schema, `beckett`.
    ///
    /// ```no_run
    /// # async fn demo(pool: sqlx::PgPool) {
    /// let store = beckett::PostgresStore::new(pool);
    /// # }
    /// ```
    pub fn new(pool: PgPool) -> Self {
        Self::with_schema(pool, &Schema::default())
    }

    /// A store in the given schema, migrated with
    /// [`migrate_schema`](crate::migrate_schema).
    ///
    /// ```no_run
    /// # async fn demo(pool: sqlx::PgPool) -> beckett::Result<()> {
    /// use beckett::{PostgresStore, Schema};
    ///
    /// let schema = Schema::new("events")?;
    /// beckett::migrate_schema(&pool, &schema).await?;
    /// let store = PostgresStore::with_schema(pool, &schema);
    /// # Ok(()) }
    /// ```
    pub fn with_schema(pool: PgPool, schema: &Schema) -> Self {
        let announcer = Announcer::new(pool.clone(), schema);
        Self {
            sql: Arc::new(Statements::new(schema)),
            scheduled: Scheduled::new(pool.clone(), schema, announcer.clone()),
            checkpoints: Checkpoints::new(pool.clone(), schema),
            operators: Operators::new(pool.clone(), schema),
            browse: Browse::new(pool.clone(), schema),
            minutes: Minutes::new(pool.clone(), schema),
            jobs: RecurringJobs::new(pool.clone(), schema),
            schema: schema.clone(),
            announcer,
            lanes: Lanes::new(pool.clone()),
            pool,
        }
    }

    /// The pool the store runs on.
    ///
    /// ```no_run
    /// # fn demo(store: &beckett::PostgresStore) {
    /// let connections = store.pool().size();
    /// # }
    /// ```
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Appends like [`MessageStorage::append`], on the caller's connection:
    /// inside a transaction, the messages commit or roll back with the
    /// caller's own writes.
    ///
    /// A wrong expected version returns the error without aborting the
    /// caller's transaction.
    ///
    /// ```no_run
    /// # async fn demo(store: beckett::PostgresStore) -> Result<(), beckett::BoxError> {
    /// use beckett::{ExpectedVersion, NewMessage};
    ///
    /// let mut tx = store.pool().begin().await?;
    /// sqlx::query("UPDATE orders SET placed = true WHERE id = 1").execute(&mut *tx).await?;
    /// let placed = NewMessage::from_json("OrderPlaced", serde_json::json!({ "order_id": 1 }));
    /// store.append_in(&mut tx, "Order-1", ExpectedVersion::Any, vec![placed]).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn append_in(
        &self,
        conn: &mut PgConnection,
        stream: &str,
        expected: ExpectedVersion,
        messages: Vec<NewMessage>,
    ) -> Result<Appended> {
        let appended = self.append_on(conn, stream, expected, messages).await?;
        if !appended.global_positions.is_empty() {
            // Delivered when the caller commits, and not at all on rollback.
            sqlx::query(self.announcer.statement())
                .execute(conn)
                .await
                .map_err(db)?;
        }
        Ok(appended)
    }

    /// Appends `message` to `stream` when it is [`Due`]: at a time (a
    /// `chrono::DateTime<Utc>` or `SystemTime`), or after a delay (a
    /// `Duration`). Returns the message's id, which cancels it and which it
    /// has once appended.
    ///
    /// A time in the past is due at once. The message is appended by the
    /// scheduler of a process running `beckett::run`, exactly once,
    /// not before its time. A delay of 100,000 years or more is
    /// [`Error::DelayTooLong`].
    ///
    /// ```no_run
    /// # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
    /// use beckett::NewMessage;
    /// use std::time::Duration;
    ///
    /// let expire = NewMessage::from_json("CartExpired", serde_json::json!({ "cart": 7 }));
    /// let id = store.schedule("Cart-7", expire, Duration::from_secs(30 * 60)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn schedule(
        &self,
        stream: &str,
        message: NewMessage,
        due: impl Into<Due>,
    ) -> Result<Uuid> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        self.schedule_in(&mut conn, stream, message, due).await
    }

    /// Schedules like [`schedule`](Self::schedule), on the caller's
    /// connection: inside a transaction, the message is scheduled if the
    /// transaction commits and never if it rolls back.
    ///
    /// ```no_run
    /// # async fn demo(store: beckett::PostgresStore) -> Result<(), beckett::BoxError> {
    /// use beckett::NewMessage;
    /// use std::time::Duration;
    ///
    /// let mut tx = store.pool().begin().await?;
    /// sqlx::query("INSERT INTO trials (account) VALUES (9)").execute(&mut *tx).await?;
    /// let ended = NewMessage::from_json("TrialEnded", serde_json::json!({ "account": 9 }));
    /// store.schedule_in(&mut tx, "Account-9", ended, Duration::from_secs(14 * 24 * 3600)).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn schedule_in(
        &self,
        conn: &mut PgConnection,
        stream: &str,
        message: NewMessage,
        due: impl Into<Due>,
    ) -> Result<Uuid> {
        let due = due.into().check(stream)?;
        self.scheduled.schedule_in(conn, stream, message, due).await
    }

    /// Takes back a scheduled message that is still waiting. Returns
    /// whether it was: `false` means it was appended already, cancelled
    /// already, or never scheduled.
    ///
    /// ```no_run
    /// # async fn demo(store: beckett::PostgresStore, id: uuid::Uuid) -> beckett::Result<()> {
    /// if !store.cancel_scheduled(id).await? {
    ///     println!("{id} was no longer waiting");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn cancel_scheduled(&self, id: Uuid) -> Result<bool> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        self.cancel_scheduled_in(&mut conn, id).await
    }

    /// Cancels like [`cancel_scheduled`](Self::cancel_scheduled), on the
    /// caller's connection: inside a transaction, the cancellation holds if
    /// it commits.
    ///
    /// ```no_run
    /// # async fn demo(store: beckett::PostgresStore, id: uuid::Uuid) -> Result<(), beckett::BoxError> {
    /// let mut tx = store.pool().begin().await?;
    /// let cancelled = store.cancel_scheduled_in(&mut tx, id).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn cancel_scheduled_in(&self, conn: &mut PgConnection, id: Uuid) -> Result<bool> {
        self.scheduled.cancel_in(conn, id).await
    }

    async fn append_on(
        &self,
        conn: &mut PgConnection,
        stream: &str,
        expected: ExpectedVersion,
        messages: Vec<NewMessage>,
    ) -> Result<Appended> {
        let count = messages.len();
        let append = self.write_append(conn, stream, expected, messages);
        telemetry::appending(stream, count, append).await
    }

    /// Writes an append's messages, if the expected version holds.
    async fn write_append(
        &self,
        conn: &mut PgConnection,
        stream: &str,
        expected: ExpectedVersion,
        messages: Vec<NewMessage>,
    ) -> Result<Appended> {
        validate_stream_name(stream)?;
        let batch = Batch::new(messages)?;
        if batch.len() == 0 {
            let actual = self.stream_version(conn, stream).await?;
            return check(stream, expected, actual).map(|()| Appended {
                stream_version: actual,
                global_positions: Vec::new(),
            });
        }
        let (statement, condition) = match expected {
            ExpectedVersion::Any => (&self.sql.append_creating, Condition::AllowExisting(true)),
            ExpectedVersion::NoStream | ExpectedVersion::Exact(0) => {
                (&self.sql.append_creating, Condition::AllowExisting(false))
            }
            ExpectedVersion::StreamExists => (&self.sql.append_existing, Condition::Version(None)),
            ExpectedVersion::Exact(version) => {
                (&self.sql.append_existing, Condition::Version(Some(version)))
            }
        };
        let query = sqlx::query(statement).bind(stream).bind(batch.len());
        let query = match condition {
            Condition::AllowExisting(allow) => query.bind(allow),
            Condition::Version(version) => query.bind(version),
        };
        let rows = query
            .bind(&batch.ids)
            .bind(&batch.types)
            .bind(&batch.data)
            .bind(&batch.metadata)
            .fetch_all(&mut *conn)
            .await
            .map_err(|error| duplicate_id(stream, db(error)))?;
        let Some(last) = rows.last() else {
            let actual = self.stream_version(conn, stream).await?;
            return Err(Error::WrongExpectedVersion {
                stream: stream.to_owned(),
                expected,
                actual,
            });
        };
        Ok(Appended {
            stream_version: last.try_get("stream_position").map_err(db)?,
            global_positions: rows
                .iter()
                .map(|row| row.try_get("global_position"))
                .collect::<Result<_, _>>()
                .map_err(db)?,
        })
    }

    /// Reads the global order, on `reader` if given, else on the pool.
    async fn read_feed(
        &self,
        reader: Option<&mut PgConnection>,
        after: &GlobalCursor,
        limit: usize,
        bodies: Option<&[&str]>,
    ) -> Result<GlobalRead<RawMessage>> {
        let (owed, owed_after) = after.owed();
        let query = sqlx::query(&self.sql.read_global)
            .bind(after.frontier().transaction_id)
            .bind(after.frontier().global_position)
            .bind(owed)
            .bind(owed_after)
            .bind(limit_to_sql(limit))
            .bind(bodies);
        let rows = match reader {
            Some(reader) => query.fetch_all(reader).await.map_err(db)?,
            None => query.fetch_all(&self.pool).await.map_err(db)?,
        };
        let (mut running, mut horizon) = (Vec::new(), i64::MAX);
        let mut messages = Vec::with_capacity(rows.len());
        for row in &rows {
            match row.try_get::<Option<Vec<i64>>, _>("running").map_err(db)? {
                Some(ids) => {
                    running = ids;
                    horizon = row.try_get("horizon").map_err(db)?;
                }
                None => messages.push(raw_message(row)?),
            }
        }
        // Every transaction id stored or kept was taken before the snapshot
        // was: one past it comes from a cluster whose ids ran higher.
        let newest = messages
            .iter()
            .map(|m| m.envelope.transaction_id)
            .chain([after.frontier().transaction_id])
            .max()
            .unwrap_or_default();
        if newest >= horizon {
            return Err(Error::TransactionIdsBehind {
                stored: newest,
                next: horizon,
            });
        }
        let place = |m: &RawMessage| Place {
            transaction_id: m.envelope.transaction_id,
            global_position: m.envelope.global_position,
        };
        messages.sort_by_key(place);
        let read: Vec<Place> = messages.iter().map(place).collect();
        let cursor = after.advanced(&read, messages.len() >= limit, &running);
        Ok(GlobalRead { messages, cursor })
    }

    /// A reader's connection of its own, which runs the read's generic
    /// plan, sparing a plan per read: the statement is long to plan, and
    /// read at every wake-up. Without JIT: on a big store the generic
    /// plan's estimates pass the JIT thresholds, and compiling it took
    /// 10 ms a read, ten times the read.
    async fn reader_connection(&self) -> Result<PgConnection> {
        let options = self
            .pool
            .connect_options()
            .as_ref()
            .clone()
            .options([("plan_cache_mode", "force_generic_plan"), ("jit", "off")]);
        PgConnection::connect_with(&options).await.map_err(db)
    }

    async fn stream_version(&self, conn: &mut PgConnection, stream: &str) -> Result<i64> {
        let version: Option<i64> = sqlx::query_scalar(&self.sql.stream_version)
            .bind(stream)
            .fetch_optional(conn)
            .await
            .map_err(db)?;
        Ok(version.unwrap_or(0))
    }
}

#[async_trait::async_trait]
impl MessageStorage for PostgresStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        messages: Vec<NewMessage>,
    ) -> Result<Appended> {
        let mut lane = self.lanes.take().await.map_err(db)?;
        let appended = self.append_on(&mut lane, stream, expected, messages).await;
        // A driver's error leaves the connection in a state not known.
        if !matches!(appended, Err(Error::Database { .. })) {
            self.lanes.give_back(lane);
        }
        let appended = appended?;
        if !appended.global_positions.is_empty() {
            self.announcer.announce();
        }
        Ok(appended)
    }

    async fn read_stream_raw(
        &self,
        stream: &str,
        from: i64,
        limit: usize,
    ) -> Result<Vec<RawMessage>> {
        validate_stream_name(stream)?;
        let query = sqlx::query(&self.sql.read_stream)
            .bind(stream)
            .bind(from)
            .bind(limit_to_sql(limit));
        query
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(raw_message)
            .collect()
    }

    /// Only messages of the `bodies` types come with their data and
    /// metadata; the others carry what the reader routes on.
    async fn read_global_raw(
        &self,
        after: &GlobalCursor,
        limit: usize,
        bodies: Option<&[&str]>,
    ) -> Result<GlobalRead<RawMessage>> {
        self.read_feed(None, after, limit, bodies).await
    }

    async fn last_message(&self, stream: &str) -> Result<Option<RawMessage>> {
        validate_stream_name(stream)?;
        let row = sqlx::query(&self.sql.read_last)
            .bind(stream)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(raw_message).transpose()
    }

    async fn message_raw(&self, id: Uuid) -> Result<Option<RawMessage>> {
        let row = sqlx::query(&self.sql.read_by_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(raw_message).transpose()
    }

    async fn categories(&self) -> Result<Vec<CategoryInfo>> {
        self.browse.categories().await
    }

    async fn streams(
        &self,
        category: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>> {
        self.browse.streams(category, after, limit).await
    }

    /// A conversation is found through an index, whatever its size; any
    /// other search looks through at most
    /// [`SEARCH_SPAN`](beckett_core::store::SEARCH_SPAN) global positions, and
    /// says where to search on.
    async fn search_raw(
        &self,
        search: &MessageSearch,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Found<RawMessage>> {
        self.browse.search(search, before, limit).await
    }

    async fn head(&self) -> Result<GlobalCursor> {
        let (transaction_id, global_position, pending): (i64, i64, Json<Vec<Pending>>) =
            sqlx::query_as(&self.sql.head)
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        let frontier = Place {
            transaction_id,
            global_position,
        };
        Ok(GlobalCursor::new(frontier, pending.0))
    }

    async fn reader(&self) -> Result<Box<dyn GlobalReader + '_>> {
        Ok(Box::new(Reader {
            store: self,
            connection: self.reader_connection().await?,
        }))
    }
}

/// A reader of the global order on a connection of its own.
struct Reader<'a> {
    store: &'a PostgresStore,
    connection: PgConnection,
}

#[async_trait::async_trait]
impl GlobalReader for Reader<'_> {
    async fn read(
        &mut self,
        after: &GlobalCursor,
        limit: usize,
        bodies: Option<&[&str]>,
    ) -> Result<GlobalRead<RawMessage>> {
        let reader = Some(&mut self.connection);
        self.store.read_feed(reader, after, limit, bodies).await
    }
}

/// How an append statement checks the stream's version.
enum Condition {
    /// The stream may be created; may it already exist?
    AllowExisting(bool),
    /// The stream must exist, at this version if one is given.
    Version(Option<i64>),
}

fn check(stream: &str, expected: ExpectedVersion, actual: i64) -> Result<()> {
    if expected.matches(actual) {
        Ok(())
    } else {
        Err(Error::WrongExpectedVersion {
            stream: stream.to_owned(),
            expected,
            actual,
        })
    }
}

/// The store's statements, written once for its schema.
#[derive(Debug)]
struct Statements {
    append_creating: String,
    append_existing: String,
    stream_version: String,
    read_stream: String,
    read_last: String,
    read_by_id: String,
    read_global: String,
    head: String,
}

impl Statements {
    fn new(schema: &Schema) -> Self {
        let s = schema.quoted();
        // Both appends lock the stream's row while they bump its version, so
        // concurrent appenders of one stream queue there and each sees the
        // version its predecessor committed. The messages take positions
        // below the new version; when the version check fails the stream CTE
        // yields no row and nothing is inserted.
        let insert_messages = format!(
            "appended AS (
                INSERT INTO {s}.messages (id, stream_name, stream_position, type, data, metadata)
                SELECT m.id, $1, stream.version - $2 + m.ordinality, m.type, m.data, m.metadata
                FROM stream,
                    unnest($4::uuid[], $5::text[], $6::jsonb[], $7::jsonb[])
                        WITH ORDINALITY AS m (id, type, data, metadata, ordinality)
                ORDER BY m.ordinality
                RETURNING stream_position, global_position
            )
            SELECT stream_position, global_position FROM appended ORDER BY stream_position"
        );
        let columns = MESSAGE_COLUMNS;
        Self {
            append_creating: format!(
                "WITH stream AS (
                    INSERT INTO {s}.streams AS s (stream_name, version) VALUES ($1, $2)
                    ON CONFLICT (stream_name) DO UPDATE SET version = s.version + EXCLUDED.version
                    WHERE $3
                    RETURNING s.version
                ), {insert_messages}"
            ),
            append_existing: format!(
                "WITH stream AS (
                    UPDATE {s}.streams SET version = version + $2
                    WHERE stream_name = $1 AND ($3::bigint IS NULL OR version = $3)
                    RETURNING version
                ), {insert_messages}"
            ),
            stream_version: format!("SELECT version FROM {s}.streams WHERE stream_name = $1"),
            read_stream: format!(
                "SELECT {columns} FROM {s}.messages
                WHERE stream_name = $1 AND stream_position >= $2
                ORDER BY stream_position LIMIT $3"
            ),
            read_last: format!(
                "SELECT {columns} FROM {s}.messages
                WHERE stream_name = $1
                ORDER BY stream_position DESC LIMIT 1"
            ),
            read_by_id: format!("SELECT {columns} FROM {s}.messages WHERE id = $1"),
            head: format!("SELECT {END_COLUMNS} FROM {}", end_of(&s)),
            // One statement, so one snapshot: the messages it shows
            // committed past the cursor, those of the transactions the
            // cursor owes that it shows ended, and, in a row of its own,
            // the transactions it shows running. Both parts follow the
            // global order's index whatever the cursor, so its generic plan
            // serves every read, and a reader can skip planning it.
            read_global: format!(
                "WITH late AS (
                    SELECT m.* FROM unnest($3::bigint[], $4::bigint[]) AS p (transaction_id, after)
                    CROSS JOIN LATERAL (
                        SELECT {columns} FROM {s}.messages
                        WHERE (transaction_id, global_position) > (p.transaction_id, p.after)
                            AND transaction_id = p.transaction_id
                        ORDER BY transaction_id, global_position LIMIT $5
                    ) AS m
                ), new AS (
                    SELECT {columns} FROM {s}.messages
                    WHERE (transaction_id, global_position) > ($1, $2)
                    ORDER BY transaction_id, global_position LIMIT $5
                ), read AS (
                    SELECT * FROM late UNION ALL SELECT * FROM new
                    ORDER BY transaction_id, global_position LIMIT $5
                )
                SELECT global_position, id, stream_name, stream_position, type,
                    CASE WHEN $6::text[] IS NULL OR type = ANY($6) THEN data END AS data,
                    CASE WHEN $6::text[] IS NULL OR type = ANY($6) THEN metadata END AS metadata,
                    timestamp, transaction_id, NULL::bigint[] AS running, NULL::bigint AS horizon
                FROM read
                UNION ALL
                SELECT {NO_MESSAGE}, ARRAY(
                        SELECT id::text::bigint FROM pg_snapshot_xip(pg_current_snapshot()) AS id),
                    pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PostgresStore;
    use sqlx::PgPool;

    /// The reader's connection runs generic plans, and never compiles
    /// them: a generic plan on a big store passes the JIT thresholds.
    #[sqlx::test(migrations = false)]
    async fn the_reader_plans_once_and_never_compiles(pool: PgPool) {
        let mut reader = PostgresStore::new(pool).reader_connection().await.unwrap();
        for (setting, wanted) in [("plan_cache_mode", "force_generic_plan"), ("jit", "off")] {
            let value: String = sqlx::query_scalar(&format!("SHOW {setting}"))
                .fetch_one(&mut reader)
                .await
                .unwrap();
            assert_eq!(value, wanted, "the reader's {setting}");
        }
    }
}
