//! What the statements share: the columns a message is read from, the
//! batch an append unnests, and the names of the notification channels.

use crate::error::db;
use beckett_core::{Envelope, Metadata, NewMessage, RawMessage, Result, Schema};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

/// The place past the newest message the statement's snapshot shows
/// committed, owing the transactions it shows running below it, as three
/// columns (transaction id, global position, the owed transactions as a
/// cursor keeps them) of a `SELECT` from [`end_of`].
pub(crate) const END_COLUMNS: &str = "coalesce(last.transaction_id, 0),
    coalesce(last.global_position, 0),
    coalesce((
        SELECT jsonb_agg(jsonb_build_object(
            'transaction_id', id::text::bigint, 'after', 0) ORDER BY id)
        FROM pg_snapshot_xip(pg_current_snapshot()) AS id
        WHERE id::text::bigint < last.transaction_id), '[]')";

/// The rows [`END_COLUMNS`] are read from: the newest message in the
/// global order, if any.
pub(crate) fn end_of(s: &str) -> String {
    format!(
        "(SELECT) AS now
         LEFT JOIN LATERAL (
             SELECT transaction_id, global_position FROM {s}.messages
             ORDER BY transaction_id DESC, global_position DESC LIMIT 1) AS last ON true"
    )
}

/// The notification channel for `topic`, unique to `schema`.
pub(crate) fn channel(schema: &Schema, topic: &str) -> String {
    format!("{}_{topic}", schema.as_str())
}

pub(crate) fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A batch of messages as the columns the append statement unnests.
pub(crate) struct Batch {
    pub ids: Vec<Uuid>,
    pub types: Vec<String>,
    pub data: Vec<Value>,
    pub metadata: Vec<Value>,
}

impl Batch {
    pub fn new(messages: Vec<NewMessage>) -> Result<Self> {
        let mut batch = Self {
            ids: Vec::with_capacity(messages.len()),
            types: Vec::with_capacity(messages.len()),
            data: Vec::with_capacity(messages.len()),
            metadata: Vec::with_capacity(messages.len()),
        };
        for message in messages {
            let encoded = message.encode()?;
            batch.ids.push(encoded.id);
            batch.types.push(encoded.message_type);
            batch.data.push(encoded.data);
            batch.metadata.push(encoded.metadata);
        }
        Ok(batch)
    }

    pub fn len(&self) -> i64 {
        limit_to_sql(self.ids.len())
    }
}

/// The columns of `messages` that [`raw_message`] maps, in the order the
/// read statements select them.
pub(crate) const MESSAGE_COLUMNS: &str = "global_position, id, stream_name, stream_position, \
    type, data, metadata, timestamp, transaction_id";

/// As many typed nulls as [`MESSAGE_COLUMNS`] names, for a row beside them
/// that carries something else.
pub(crate) const NO_MESSAGE: &str =
    "NULL::bigint, NULL::uuid, NULL::text, NULL::bigint, NULL::text, \
    NULL::jsonb, NULL::jsonb, NULL::timestamptz, NULL::bigint";

/// Maps a row of the read statements to a message, its metadata as stored.
/// A message read without its body has null data and metadata.
pub(crate) fn raw_message(row: &PgRow) -> Result<RawMessage> {
    Ok(RawMessage {
        envelope: Envelope {
            id: row.try_get("id").map_err(db)?,
            stream: row.try_get("stream_name").map_err(db)?,
            position: row.try_get("stream_position").map_err(db)?,
            global_position: row.try_get("global_position").map_err(db)?,
            transaction_id: row.try_get("transaction_id").map_err(db)?,
            message_type: row.try_get("type").map_err(db)?,
            data: row
                .try_get::<Option<Value>, _>("data")
                .map_err(db)?
                .unwrap_or_default(),
            metadata: Metadata::default(),
            timestamp: row.try_get("timestamp").map_err(db)?,
        },
        metadata: row
            .try_get::<Option<Value>, _>("metadata")
            .map_err(db)?
            .unwrap_or_default(),
    })
}

/// Reading query plans in tests.
#[cfg(test)]
pub(crate) mod plans {
    use serde_json::Value;

    /// The rows the nodes of `plan` (the output of `EXPLAIN (ANALYZE,
    /// FORMAT JSON)`) read from `relation`: those each node returned, over
    /// all its loops, and those its filters removed.
    pub fn rows_read(plan: &Value, relation: &str) -> f64 {
        let mut nodes: Vec<&Value> = plan
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| &p["Plan"])
            .collect();
        let mut read = 0.0;
        while let Some(node) = nodes.pop() {
            if node["Relation Name"] == relation {
                let number = |key: &str| node[key].as_f64().unwrap_or(0.0);
                read += (number("Actual Rows") + number("Rows Removed by Filter"))
                    * number("Actual Loops");
            }
            nodes.extend(node["Plans"].as_array().into_iter().flatten());
        }
        read
    }
}
