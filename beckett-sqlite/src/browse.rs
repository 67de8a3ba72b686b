//! Browsing the message store on SQLite: categories and streams from the
//! messages' (stream name, position) index, and searches newest first.
//! All of their SQL is here.

use crate::error::sqlite;
use crate::messages::{limit_to_sql, query_messages, MESSAGE_COLUMNS};
use beckett_core::store::{CategoryInfo, Found, MessageSearch, StreamInfo, SEARCH_SPAN};
use beckett_core::{RawMessage, Result};
use rusqlite::{params, Connection};

/// Every category, with its streams and messages counted.
pub(crate) fn categories(connection: &Connection) -> Result<Vec<CategoryInfo>> {
    let mut statement = connection
        .prepare_cached(
            "SELECT substr(stream_name, 1, instr(stream_name || '-', '-') - 1) AS category,
                count(*), sum(version)
            FROM (SELECT stream_name, max(stream_position) AS version
                FROM messages GROUP BY stream_name)
            GROUP BY category ORDER BY category",
        )
        .map_err(sqlite)?;
    let rows = statement
        .query_map([], |row| {
            Ok(CategoryInfo {
                name: row.get(0)?,
                streams: row.get(1)?,
                messages: row.get(2)?,
            })
        })
        .map_err(sqlite)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sqlite)
}

/// A page of a category's streams, in byte order of their names: the
/// stream named as the category and those named `{category}-…`, which sort
/// before `{category}.`.
pub(crate) fn streams(
    connection: &Connection,
    category: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<StreamInfo>> {
    let mut statement = connection
        .prepare_cached(
            "SELECT stream_name, max(stream_position) FROM messages
            WHERE (stream_name = ?1 OR (stream_name >= ?1 || '-' AND stream_name < ?1 || '.'))
                AND (?2 IS NULL OR stream_name > ?2)
            GROUP BY stream_name ORDER BY stream_name LIMIT ?3",
        )
        .map_err(sqlite)?;
    let rows = statement
        .query_map(params![category, after, limit_to_sql(limit)], |row| {
            Ok(StreamInfo {
                name: row.get(0)?,
                version: row.get(1)?,
            })
        })
        .map_err(sqlite)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sqlite)
}

/// A page of what `search` finds below `before`, newest first. A
/// conversation is found through its index; any other search looks
/// through at most [`SEARCH_SPAN`] positions.
pub(crate) fn search(
    connection: &Connection,
    search: &MessageSearch,
    before: Option<i64>,
    limit: usize,
) -> Result<Found<RawMessage>> {
    let before = before.unwrap_or(i64::MAX);
    let message_type = search.message_type.as_deref();
    let limit_sql = limit_to_sql(limit);
    if let Some(id) = search.correlation_id {
        // The root of a conversation carries no correlation id: its id is
        // the one the others carry. Each part follows its own index, newest
        // first, so a page reads no more than it shows.
        let sql = format!(
            "SELECT * FROM (SELECT {MESSAGE_COLUMNS} FROM messages
                WHERE (metadata ->> '$.correlation_id') = ?3 AND global_position < ?1
                    AND (?2 IS NULL OR type = ?2)
                ORDER BY global_position DESC LIMIT ?5)
            UNION ALL
            SELECT {MESSAGE_COLUMNS} FROM messages
            WHERE id = ?4 AND global_position < ?1 AND (?2 IS NULL OR type = ?2)
                AND (metadata ->> '$.correlation_id') IS NOT ?3
            ORDER BY global_position DESC LIMIT ?5"
        );
        let params = params![
            before,
            message_type,
            id.to_string(),
            id.as_bytes(),
            limit_sql
        ];
        let messages = query_messages(connection, &sql, params)?;
        return Ok(Found::newest_first(messages, limit, None));
    }
    let newest: Option<i64> = connection
        .query_row(
            "SELECT max(global_position) FROM messages WHERE global_position < ?1",
            [before],
            |row| row.get(0),
        )
        .map_err(sqlite)?;
    let Some(newest) = newest else {
        return Ok(Found::newest_first(Vec::new(), limit, None));
    };
    let lowest = newest.saturating_sub(SEARCH_SPAN) + 1;
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
        WHERE global_position < ?1 AND global_position >= ?2 AND (?3 IS NULL OR type = ?3)
        ORDER BY global_position DESC LIMIT ?4"
    );
    let messages = query_messages(
        connection,
        &sql,
        params![before, lowest, message_type, limit_sql],
    )?;
    Ok(Found::newest_first(messages, limit, Some(lowest)))
}
