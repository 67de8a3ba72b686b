//! Browsing the message store on Postgres: categories and streams from the
//! streams' table, and searches newest first. All of their SQL is here.

use crate::error::db;
use crate::sql::{limit_to_sql, raw_message, MESSAGE_COLUMNS};
use beckett_core::store::{CategoryInfo, Found, MessageSearch, StreamInfo, SEARCH_SPAN};
use beckett_core::{RawMessage, Result, Schema};
use sqlx::postgres::PgPool;
use std::sync::Arc;

/// The browsing statements on the schema's tables.
#[derive(Debug, Clone)]
pub(crate) struct Browse {
    pool: PgPool,
    sql: Arc<Statements>,
}

impl Browse {
    /// The statements on `schema`'s tables, run on `pool`.
    pub fn new(pool: PgPool, schema: &Schema) -> Self {
        Self {
            pool,
            sql: Arc::new(Statements::new(schema)),
        }
    }

    /// Every category, with its streams and messages counted.
    pub async fn categories(&self) -> Result<Vec<CategoryInfo>> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(&self.sql.categories)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(name, streams, messages)| CategoryInfo {
                name,
                streams: streams.unsigned_abs(),
                messages: messages.unsigned_abs(),
            })
            .collect())
    }

    /// A page of a category's streams, in byte order of their names.
    pub async fn streams(
        &self,
        category: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(&self.sql.streams)
            .bind(category)
            .bind(after)
            .bind(limit_to_sql(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(name, version)| StreamInfo { name, version })
            .collect())
    }

    /// A conversation is found through its index, whatever its size; any
    /// other search looks through at most [`SEARCH_SPAN`] positions.
    pub async fn search(
        &self,
        search: &MessageSearch,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Found<RawMessage>> {
        let before = before.unwrap_or(i64::MAX);
        let message_type = search.message_type.as_deref();
        let (rows, lowest) = match search.correlation_id {
            Some(id) => {
                let rows = sqlx::query(&self.sql.conversation)
                    .bind(before)
                    .bind(message_type)
                    .bind(id.to_string())
                    .bind(id)
                    .bind(limit_to_sql(limit))
                    .fetch_all(&self.pool)
                    .await;
                (rows, None)
            }
            None => {
                let Some(newest) = self.newest_below(before).await? else {
                    return Ok(Found {
                        messages: Vec::new(),
                        older: None,
                    });
                };
                let lowest = newest.saturating_sub(SEARCH_SPAN) + 1;
                let rows = sqlx::query(&self.sql.search)
                    .bind(before)
                    .bind(lowest)
                    .bind(message_type)
                    .bind(limit_to_sql(limit))
                    .fetch_all(&self.pool)
                    .await;
                (rows, Some(lowest))
            }
        };
        let messages = rows
            .map_err(db)?
            .iter()
            .map(raw_message)
            .collect::<Result<Vec<_>>>()?;
        Ok(Found::newest_first(messages, limit, lowest))
    }

    /// The newest global position below `position`, if a message has one.
    async fn newest_below(&self, position: i64) -> Result<Option<i64>> {
        sqlx::query_scalar(&self.sql.newest_below)
            .bind(position)
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }
}
#[derive(Debug)]
struct Statements {
    categories: String,
    streams: String,
    newest_below: String,
    search: String,
    conversation: String,
}

impl Statements {
    fn new(schema: &Schema) -> Self {
        let s = schema.quoted();
        let columns = MESSAGE_COLUMNS;
        Self {
            categories: format!(
                "SELECT split_part(stream_name, '-', 1) AS category, count(*), sum(version)::bigint
                FROM {s}.streams GROUP BY 1 ORDER BY split_part(stream_name, '-', 1) COLLATE \"C\""
            ),
            streams: format!(
                // The stream named as the category, and those named
                // `{category}-…`, which sort before `{category}.`: a range
                // of the streams' index in byte order.
                "SELECT stream_name, version FROM {s}.streams
                WHERE (stream_name COLLATE \"C\" = $1
                        OR (stream_name COLLATE \"C\" >= $1 || '-'
                            AND stream_name COLLATE \"C\" < $1 || '.'))
                    AND ($2::text IS NULL OR stream_name COLLATE \"C\" > $2)
                ORDER BY stream_name COLLATE \"C\" LIMIT $3"
            ),
            newest_below: format!(
                "SELECT max(global_position) FROM {s}.messages WHERE global_position < $1"
            ),
            search: format!(
                "SELECT {columns} FROM {s}.messages
                WHERE global_position < $1 AND global_position >= $2
                    AND ($3::text IS NULL OR type = $3)
                ORDER BY global_position DESC LIMIT $4"
            ),
            // The root of a conversation carries no correlation id: its id
            // is the one the others carry. Each part follows its own
            // index, newest first, so a page reads no more than it shows.
            conversation: format!(
                "(SELECT {columns} FROM {s}.messages
                    WHERE (metadata ->> 'correlation_id') = $3 AND global_position < $1
                        AND ($2::text IS NULL OR type = $2)
                    ORDER BY global_position DESC LIMIT $5)
                UNION ALL
                (SELECT {columns} FROM {s}.messages
                    WHERE id = $4 AND global_position < $1 AND ($2::text IS NULL OR type = $2)
                        AND (metadata ->> 'correlation_id') IS DISTINCT FROM $3)
                ORDER BY global_position DESC LIMIT $5"
            ),
        }
    }
}
