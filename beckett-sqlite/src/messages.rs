//! The message store on SQLite: appends through the writer, reads on the
//! read connections. All of its SQL is here.

use crate::browse;
use crate::error::sqlite;
use crate::SqliteStore;
use beckett_core::state::Wakeup;
use beckett_core::store::{
    encode_batch, validate_stream_name, CategoryInfo, Found, MessageSearch, StreamInfo,
};
use beckett_core::telemetry;
use beckett_core::{
    Appended, DecodeError, Encoded, Envelope, Error, ExpectedVersion, GlobalCursor, GlobalRead,
    MessageStorage, NewMessage, RawMessage, Result,
};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Row};
use uuid::Uuid;

/// The columns [`raw_message`] maps, in order.
pub(crate) const MESSAGE_COLUMNS: &str =
    "global_position, id, stream_name, stream_position, type, data, metadata, timestamp";

#[async_trait::async_trait]
impl MessageStorage for SqliteStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        messages: Vec<NewMessage>,
    ) -> Result<Appended> {
        let count = messages.len();
        telemetry::appending(stream, count, async {
            let encoded = encode_batch(stream, messages)?;
            let stream = stream.to_owned();
            let write =
                move |connection: &Connection| append(connection, &stream, expected, &encoded);
            // One message is one statement, undone by itself if it fails.
            let appended = match count == 1 {
                true => self.writer().write_statement(write).await?,
                false => self.writer().write(write).await?,
            };
            if !appended.global_positions.is_empty() {
                self.wake(Wakeup::Messages);
            }
            Ok(appended)
        })
        .await
    }

    async fn read_stream_raw(
        &self,
        stream: &str,
        from: i64,
        limit: usize,
    ) -> Result<Vec<RawMessage>> {
        validate_stream_name(stream)?;
        let stream = stream.to_owned();
        self.readers()
            .read(move |connection| {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE stream_name = ?1 AND stream_position >= ?2
                     ORDER BY stream_position LIMIT ?3"
                );
                query_messages(connection, &sql, params![stream, from, limit_to_sql(limit)])
            })
            .await
    }

    async fn read_global_raw(
        &self,
        after: &GlobalCursor,
        limit: usize,
        _bodies: Option<&[&str]>,
    ) -> Result<GlobalRead<RawMessage>> {
        let after = after.frontier().global_position;
        let messages = self
            .readers()
            .read(move |connection| {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE global_position > ?1 ORDER BY global_position LIMIT ?2"
                );
                query_messages(connection, &sql, params![after, limit_to_sql(limit)])
            })
            .await?;
        let last = messages
            .last()
            .map_or(after, |m| m.envelope.global_position);
        Ok(GlobalRead {
            messages,
            cursor: GlobalCursor::at(last),
        })
    }

    async fn last_message(&self, stream: &str) -> Result<Option<RawMessage>> {
        validate_stream_name(stream)?;
        let stream = stream.to_owned();
        self.readers()
            .read(move |connection| {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE stream_name = ?1 ORDER BY stream_position DESC LIMIT 1"
                );
                Ok(query_messages(connection, &sql, params![stream])?.pop())
            })
            .await
    }

    async fn message_raw(&self, id: Uuid) -> Result<Option<RawMessage>> {
        self.readers()
            .read(move |connection| {
                let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1");
                Ok(query_messages(connection, &sql, [id.as_bytes()])?.pop())
            })
            .await
    }

    async fn categories(&self) -> Result<Vec<CategoryInfo>> {
        self.readers().read(browse::categories).await
    }

    async fn streams(
        &self,
        category: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>> {
        let (category, after) = (category.to_owned(), after.map(str::to_owned));
        self.readers()
            .read(move |connection| browse::streams(connection, &category, after.as_deref(), limit))
            .await
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
        let search = search.clone();
        self.readers()
            .read(move |connection| browse::search(connection, &search, before, limit))
            .await
    }

    async fn head(&self) -> Result<GlobalCursor> {
        self.readers().read(head).await
    }
}

/// Appends `messages` to `stream` if its version matches `expected`, in
/// the writer's transaction. The version is checked and bumped in one
/// statement, which yields no row when the expectation fails.
pub(crate) fn append(
    connection: &Connection,
    stream: &str,
    expected: ExpectedVersion,
    messages: &[Encoded],
) -> Result<Appended> {
    // Appends run one at a time, under the database's write lock: the
    // version read here is the one the messages follow.
    let version = version(connection, stream)?;
    check(stream, expected, version)?;
    let mut insert = connection
        .prepare_cached(
            "INSERT INTO messages (id, stream_name, stream_position, type, data, metadata, timestamp)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(sqlite)?;
    let now = micros(Utc::now());
    let mut global_positions = Vec::with_capacity(messages.len());
    for (position, message) in (version + 1..).zip(messages) {
        insert
            .execute(params![
                message.id.as_bytes(),
                stream,
                position,
                message.message_type,
                message.data.to_string(),
                message.metadata.to_string(),
                now,
            ])
            .map_err(|error| match &error {
                rusqlite::Error::SqliteFailure(failure, Some(text))
                    if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        && text.ends_with("messages.id") =>
                {
                    Error::DuplicateMessageId {
                        stream: stream.to_owned(),
                    }
                }
                _ => sqlite(error),
            })?;
        global_positions.push(connection.last_insert_rowid());
    }
    Ok(Appended {
        stream_version: version + messages.len() as i64,
        global_positions,
    })
}

/// The cursor past every message committed.
pub(crate) fn head(connection: &Connection) -> Result<GlobalCursor> {
    let last = connection
        .query_row(
            "SELECT coalesce(max(global_position), 0) FROM messages",
            [],
            |row| row.get(0),
        )
        .map_err(sqlite)?;
    Ok(GlobalCursor::at(last))
}

/// The stream's version: the position of its newest message, 0 if none.
fn version(connection: &Connection, stream: &str) -> Result<i64> {
    connection
        .prepare_cached(
            "SELECT coalesce(max(stream_position), 0) FROM messages WHERE stream_name = ?1",
        )
        .and_then(|mut s| s.query_row([stream], |row| row.get(0)))
        .map_err(sqlite)
}

/// Whether a stream at `version` satisfies `expected`.
fn check(stream: &str, expected: ExpectedVersion, version: i64) -> Result<()> {
    if expected.matches(version) {
        Ok(())
    } else {
        Err(Error::WrongExpectedVersion {
            stream: stream.to_owned(),
            expected,
            actual: version,
        })
    }
}

/// Runs a query of [`MESSAGE_COLUMNS`].
pub(crate) fn query_messages(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<RawMessage>> {
    let mut statement = connection.prepare_cached(sql).map_err(sqlite)?;
    let mut rows = statement.query(params).map_err(sqlite)?;
    let mut messages = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite)? {
        messages.push(raw_message(row)?);
    }
    Ok(messages)
}

/// Maps a row of [`MESSAGE_COLUMNS`]; data or metadata that is not JSON is
/// a decode error naming the message.
pub(crate) fn raw_message(row: &Row<'_>) -> Result<RawMessage> {
    let id: [u8; 16] = row.get(1).map_err(sqlite)?;
    let envelope = Envelope {
        id: Uuid::from_bytes(id),
        stream: row.get(2).map_err(sqlite)?,
        position: row.get(3).map_err(sqlite)?,
        global_position: row.get(0).map_err(sqlite)?,
        transaction_id: 0,
        message_type: row.get(4).map_err(sqlite)?,
        data: serde_json::Value::Null,
        metadata: Default::default(),
        timestamp: from_micros(row.get(7).map_err(sqlite)?),
    };
    let json = |column: usize| -> Result<serde_json::Value> {
        let text: String = row.get(column).map_err(sqlite)?;
        serde_json::from_str(&text).map_err(|e| envelope.decode_error(DecodeError::Json(e)))
    };
    let (data, metadata) = (json(5)?, json(6)?);
    Ok(RawMessage {
        envelope: Envelope { data, ..envelope },
        metadata,
    })
}

/// A time as the tables keep it: microseconds since the Unix epoch.
pub(crate) fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

/// A time the tables kept.
pub(crate) fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// A limit as SQLite takes it.
pub(crate) fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
