//! The Postgres backend of the message store. All of its SQL is here.

use super::cursor::Place;
use super::{
    stream_name, Appended, Envelope, ExpectedVersion, GlobalCursor, GlobalRead, MessageStorage,
    RawMessage,
};
use crate::error::{Error, Result};
use crate::message::{validate_type_name, Metadata, NewMessage};
use crate::migrate::Schema;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Row};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use uuid::Uuid;

mod scheduled;

/// The announcer's states: nothing on its way, a notification on its way,
/// and one on its way with another asked for.
const IDLE: u8 = 0;
const SENDING: u8 = 1;
const SENDING_AGAIN: u8 = 2;

/// Connects a pool to the database at `url`.
///
/// A database that cannot be reached is [`Error::Connect`], naming the URL
/// with its password masked.
///
/// ```no_run
/// # async fn demo() -> beckett::Result<()> {
/// let pool = beckett::connect("postgres://app:secret@localhost/app").await?;
/// beckett::migrate(&pool).await?;
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<PgPool> {
    connect_pool(url, PgPoolOptions::new()).await
}

/// Connects a pool with `pool`'s options to the database at `url`, as
/// [`connect`] does.
pub(crate) async fn connect_pool(url: &str, pool: PgPoolOptions) -> Result<PgPool> {
    let masked = mask_password(url)?;
    let failed = |source| Error::Connect {
        url: masked.clone(),
        source,
    };
    let options: PgConnectOptions = url.parse().map_err(failed)?;
    // One direct attempt reports a database that is down at once; the pool
    // itself would retry until its acquire timeout.
    PgConnection::connect_with(&options)
        .await
        .map_err(failed)?
        .close()
        .await?;
    Ok(pool.connect_lazy_with(options))
}

/// Connects a pool to the database named by the `DATABASE_URL` environment
/// variable, as [`connect`] does.
///
/// ```no_run
/// # async fn demo() -> beckett::Result<()> {
/// let pool = beckett::connect_from_env().await?;
/// # Ok(()) }
/// ```
pub async fn connect_from_env() -> Result<PgPool> {
    let url = std::env::var("DATABASE_URL").map_err(|e| Error::Config {
        setting: "DATABASE_URL",
        reason: format!("{e}; set it to a postgres:// URL"),
    })?;
    connect(&url).await
}

/// The URL as it may be shown: any password replaced by `***`.
fn mask_password(url: &str) -> Result<String> {
    let invalid = |reason: String| Error::Config {
        setting: "DATABASE_URL",
        reason,
    };
    let mut parsed = url::Url::parse(url).map_err(|e| invalid(format!("not a valid URL ({e})")))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(invalid(format!(
            "the scheme is `{}`; expected `postgres://` or `postgresql://`",
            parsed.scheme()
        )));
    }
    if parsed.password().is_some() {
        // Only URLs that cannot hold a password refuse one.
        let _ = parsed.set_password(Some("***"));
    }
    Ok(parsed.into())
}

/// The message store on Postgres, in the tables [`migrate`](crate::migrate)
/// creates.
///
/// Cheap to clone: clones share the pool.
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
    pool: PgPool,
    sql: Arc<Statements>,
    scheduling: Arc<scheduled::Statements>,
    announcing: Arc<AtomicU8>,
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
        Self {
            pool,
            sql: Arc::new(Statements::new(schema)),
            scheduling: Arc::new(scheduled::Statements::new(schema)),
            announcing: Arc::default(),
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
    /// # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
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
            sqlx::query(&self.sql.announce).execute(conn).await?;
        }
        Ok(appended)
    }

    /// Announces new messages to the consumers listening, after they
    /// committed. One notification is on its way at a time: an append that
    /// commits while one is sent asks for one more, sent when that one is
    /// done, so every append is followed by a notification sent after its
    /// commit, a burst of appends costs a few, and no commit waits on one.
    fn announce(&self) {
        let mut state = self.announcing.load(Ordering::Acquire);
        loop {
            let next = match state {
                IDLE => SENDING,
                SENDING => SENDING_AGAIN,
                _ => return,
            };
            match self
                .announcing
                .compare_exchange(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if state == IDLE => break,
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
        let (pool, sql, announcing) =
            (self.pool.clone(), self.sql.clone(), self.announcing.clone());
        tokio::spawn(async move {
            loop {
                if let Err(error) = sqlx::query(&sql.announce).execute(&pool).await {
                    tracing::debug!(%error, "cannot announce new messages; consumers poll for them");
                }
                let done =
                    announcing.compare_exchange(SENDING, IDLE, Ordering::AcqRel, Ordering::Acquire);
                if done.is_ok() {
                    return;
                }
                announcing.store(SENDING, Ordering::Release);
            }
        });
    }

    async fn append_on(
        &self,
        conn: &mut PgConnection,
        stream: &str,
        expected: ExpectedVersion,
        messages: Vec<NewMessage>,
    ) -> Result<Appended> {
        stream_name::validate(stream)?;
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
            .await?;
        let Some(last) = rows.last() else {
            let actual = self.stream_version(conn, stream).await?;
            return Err(Error::WrongExpectedVersion {
                stream: stream.to_owned(),
                expected,
                actual,
            });
        };
        Ok(Appended {
            stream_version: last.try_get("stream_position")?,
            global_positions: rows
                .iter()
                .map(|row| row.try_get("global_position"))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The newest message of a stream, if it has any.
    pub(crate) async fn last_message(&self, stream: &str) -> Result<Option<Envelope>> {
        let row = sqlx::query(&self.sql.read_last)
            .bind(stream)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(raw_message)
            .transpose()?
            .map(RawMessage::decode)
            .transpose()
    }

    /// Reads a stream like [`MessageStorage::read_stream`], leaving each
    /// message's metadata to be decoded by its reader.
    pub(crate) async fn read_stream_raw(
        &self,
        stream: &str,
        from: i64,
        limit: usize,
    ) -> Result<Vec<RawMessage>> {
        stream_name::validate(stream)?;
        let query = sqlx::query(&self.sql.read_stream)
            .bind(stream)
            .bind(from)
            .bind(limit_to_sql(limit));
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(raw_message)
            .collect()
    }

    /// A connection of its own for a reader that follows the global order:
    /// it runs the read's generic plan, sparing a plan per read (the
    /// statement is long to plan, and read at every wake-up).
    pub(crate) async fn reader(&self) -> Result<PgConnection> {
        let options = self
            .pool
            .connect_options()
            .as_ref()
            .clone()
            .options([("plan_cache_mode", "force_generic_plan")]);
        Ok(PgConnection::connect_with(&options).await?)
    }

    /// Reads the global order like [`MessageStorage::read_global`], on
    /// `reader` if given, else on the pool, leaving each message's
    /// metadata to be decoded by its reader: one whose metadata has another
    /// shape holds no reader back.
    ///
    /// Only messages of the `bodies` types (all, if `None`) come with their
    /// data and metadata; the others carry what the reader routes on.
    pub(crate) async fn read_feed(
        &self,
        reader: Option<&mut PgConnection>,
        after: &GlobalCursor,
        limit: usize,
        bodies: Option<&[&str]>,
    ) -> Result<(Vec<RawMessage>, GlobalCursor)> {
        let (owed, owed_after) = after.owed();
        let query = sqlx::query(&self.sql.read_global)
            .bind(after.frontier.transaction_id)
            .bind(after.frontier.global_position)
            .bind(owed)
            .bind(owed_after)
            .bind(limit_to_sql(limit))
            .bind(bodies);
        let rows = match reader {
            Some(reader) => query.fetch_all(reader).await?,
            None => query.fetch_all(&self.pool).await?,
        };
        let (mut running, mut horizon) = (Vec::new(), i64::MAX);
        let mut messages = Vec::with_capacity(rows.len());
        for row in &rows {
            match row.try_get::<Option<Vec<i64>>, _>("running")? {
                Some(ids) => {
                    running = ids;
                    horizon = row.try_get("horizon")?;
                }
                None => messages.push(raw_message(row)?),
            }
        }
        // Every transaction id stored or kept was taken before the snapshot
        // was: one past it comes from a cluster whose ids ran higher.
        let newest = messages
            .iter()
            .map(|m| m.envelope.transaction_id)
            .chain([after.frontier.transaction_id])
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
        Ok((messages, cursor))
    }

    async fn stream_version(&self, conn: &mut PgConnection, stream: &str) -> Result<i64> {
        let version: Option<i64> = sqlx::query_scalar(&self.sql.stream_version)
            .bind(stream)
            .fetch_optional(conn)
            .await?;
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
        let mut conn = self.pool.acquire().await?;
        let appended = self
            .append_on(&mut conn, stream, expected, messages)
            .await?;
        if !appended.global_positions.is_empty() {
            self.announce();
        }
        Ok(appended)
    }

    async fn read_stream(&self, stream: &str, from: i64, limit: usize) -> Result<Vec<Envelope>> {
        let read = self.read_stream_raw(stream, from, limit).await?;
        read.into_iter().map(RawMessage::decode).collect()
    }

    async fn read_global(&self, after: &GlobalCursor, limit: usize) -> Result<GlobalRead> {
        let (read, cursor) = self.read_feed(None, after, limit, None).await?;
        Ok(GlobalRead {
            messages: read
                .into_iter()
                .map(RawMessage::decode)
                .collect::<Result<_>>()?,
            cursor,
        })
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

fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A batch of messages as the columns the append statement unnests.
struct Batch {
    ids: Vec<Uuid>,
    types: Vec<String>,
    data: Vec<Value>,
    metadata: Vec<Value>,
}

impl Batch {
    fn new(messages: Vec<NewMessage>) -> Result<Self> {
        let mut batch = Self {
            ids: Vec::with_capacity(messages.len()),
            types: Vec::with_capacity(messages.len()),
            data: Vec::with_capacity(messages.len()),
            metadata: Vec::with_capacity(messages.len()),
        };
        for message in messages {
            let (id, message_type, data, metadata) = message.into_parts();
            validate_type_name(&message_type)?;
            let metadata = serde_json::to_value(&metadata).map_err(|source| Error::Encode {
                message_type: message_type.clone(),
                source,
            })?;
            batch.ids.push(id);
            batch.types.push(message_type);
            batch.data.push(data);
            batch.metadata.push(metadata);
        }
        Ok(batch)
    }

    fn len(&self) -> i64 {
        limit_to_sql(self.ids.len())
    }
}

/// The columns of `messages` that [`raw_message`] maps, in the order the
/// read statements select them.
pub(crate) const MESSAGE_COLUMNS: &str = "global_position, id, stream_name, stream_position, \
    type, data, metadata, timestamp, transaction_id";

/// As many typed nulls as [`MESSAGE_COLUMNS`] names, for a row beside them
/// that carries something else.
const NO_MESSAGE: &str = "NULL::bigint, NULL::uuid, NULL::text, NULL::bigint, NULL::text, \
    NULL::jsonb, NULL::jsonb, NULL::timestamptz, NULL::bigint";

/// Maps a row of the read statements to a message, its metadata as stored.
/// A message read without its body has null data and metadata.
pub(crate) fn raw_message(row: &PgRow) -> Result<RawMessage> {
    Ok(RawMessage {
        envelope: Envelope {
            id: row.try_get("id")?,
            stream: row.try_get("stream_name")?,
            position: row.try_get("stream_position")?,
            global_position: row.try_get("global_position")?,
            transaction_id: row.try_get("transaction_id")?,
            message_type: row.try_get("type")?,
            data: row.try_get::<Option<Value>, _>("data")?.unwrap_or_default(),
            metadata: Metadata::default(),
            timestamp: row.try_get("timestamp")?,
        },
        metadata: row
            .try_get::<Option<Value>, _>("metadata")?
            .unwrap_or_default(),
    })
}

/// The store's statements, written once for its schema.
#[derive(Debug)]
struct Statements {
    append_creating: String,
    append_existing: String,
    stream_version: String,
    announce: String,
    read_stream: String,
    read_last: String,
    read_global: String,
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
            announce: format!("NOTIFY \"{}\"", schema.channel("messages")),
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
    use super::mask_password;

    #[test]
    fn password_is_masked() {
        let masked = mask_password("postgres://app:secret@db.example:5432/app").unwrap();
        assert_eq!(masked, "postgres://app:***@db.example:5432/app");
        assert!(!masked.contains("secret"));
    }

    #[test]
    fn url_without_password_is_unchanged() {
        let masked = mask_password("postgres://app@db.example/app").unwrap();
        assert_eq!(masked, "postgres://app@db.example/app");
    }

    #[test]
    fn unparsable_url_is_not_echoed() {
        for url in [
            "not a url:secret",
            "app:secret@db.example",
            "mysql://app:secret@db",
        ] {
            let error = mask_password(url).unwrap_err().to_string();
            assert!(error.contains("DATABASE_URL"), "{error}");
            assert!(!error.contains("secret"), "{error}");
        }
    }
}
