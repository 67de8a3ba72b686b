//! Scheduled messages and recurring jobs on SQLite. Due messages move into
//! the store on the writer, so each is appended once, whichever process
//! finds it due.

use crate::checkpoints::{now, span};
use crate::error::sqlite;
use crate::messages::{append, from_micros, limit_to_sql, micros};
use beckett_core::scheduling::Due;
use beckett_core::state::{
    DeclaredJob, DueMessage, KnownJob, RecurringJobInfo, RemovedJob, ScheduledInfo,
};
use beckett_core::store::validate_stream_name;
use beckett_core::{Encoded, Error, ExpectedVersion, NewMessage, Result};
use rusqlite::{params, Connection, Row};
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

/// Keeps `message` for `stream` until `due`; returns its id.
pub(crate) fn schedule(
    connection: &Connection,
    stream: &str,
    message: Encoded,
    due: Due,
) -> Result<Uuid> {
    let now = now();
    let deliver_at = match due {
        Due::At(at) => micros(at),
        Due::In(delay) => now.saturating_add(span(delay)),
    };
    connection
        .prepare_cached(
            "INSERT INTO scheduled_messages
                 (id, stream_name, type, data, metadata, deliver_at, scheduled_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut s| {
            s.execute(params![
                message.id.as_bytes(),
                stream,
                message.message_type,
                message.data.to_string(),
                message.metadata.to_string(),
                deliver_at,
                now
            ])
        })
        .map_err(sqlite)?;
    Ok(message.id)
}

/// A message to schedule, checked before it reaches the writer.
pub(crate) fn checked(stream: &str, message: NewMessage, due: Due) -> Result<(Encoded, Due)> {
    validate_stream_name(stream)?;
    Ok((message.encode()?, due.check(stream)?))
}

/// Cancels a scheduled message still waiting.
pub(crate) fn cancel(connection: &Connection, id: Uuid) -> Result<bool> {
    let deleted = connection
        .execute(
            // A message taken for a message store elsewhere may be
            // appended already.
            "DELETE FROM scheduled_messages
             WHERE id = ?1 AND (taken_until IS NULL OR taken_until < ?2)",
            params![id.as_bytes(), now()],
        )
        .map_err(sqlite)?;
    Ok(deleted > 0)
}

/// Up to `limit` scheduled messages still to deliver, of streams whose
/// names start with `stream_prefix` if given, in due order.
pub(crate) fn scheduled(
    connection: &Connection,
    stream_prefix: Option<&str>,
    limit: usize,
) -> Result<Vec<ScheduledInfo>> {
    let now = now();
    connection
        .prepare_cached(
            "SELECT id, stream_name, type, data, metadata, deliver_at, scheduled_at, taken_until
             FROM scheduled_messages
             WHERE ?1 IS NULL OR substr(stream_name, 1, length(?1)) = ?1
             ORDER BY deliver_at, sequence LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![stream_prefix, limit_to_sql(limit)], |row| {
                let taken_until: Option<i64> = row.get(7)?;
                Ok(ScheduledInfo {
                    id: Uuid::from_bytes(row.get(0)?),
                    stream: row.get(1)?,
                    message_type: row.get(2)?,
                    data: json(row, 3)?,
                    metadata: json(row, 4)?,
                    deliver_at: from_micros(row.get(5)?),
                    scheduled_at: from_micros(row.get(6)?),
                    // A lease that ended holds the message no longer.
                    taken_until: taken_until.filter(|&until| until > now).map(from_micros),
                })
            })?
            .collect()
        })
        .map_err(sqlite)
}

/// Makes a scheduled message still waiting due now; false if none was.
pub(crate) fn deliver_now(connection: &Connection, id: Uuid) -> Result<bool> {
    let moved = connection
        .prepare_cached(
            // A message taken for a message store elsewhere may be
            // appended already.
            "UPDATE scheduled_messages SET deliver_at = min(deliver_at, ?2)
             WHERE id = ?1 AND (taken_until IS NULL OR taken_until < ?2)",
        )
        .and_then(|mut s| s.execute(params![id.as_bytes(), now()]))
        .map_err(sqlite)?;
    Ok(moved > 0)
}

/// Appends up to `limit` due messages to their streams and forgets them;
/// returns how many were appended. A message whose id the store holds
/// already is dropped, with a warning.
pub(crate) fn deliver_due(connection: &Connection, limit: usize) -> Result<usize> {
    let due = due_now(connection, now(), limit)?;
    let mut delivered = 0;
    for (sequence, stream, message) in due {
        let id = message.id;
        connection
            .execute_batch("SAVEPOINT deliver")
            .map_err(sqlite)?;
        match append(connection, &stream, ExpectedVersion::Any, &[message]) {
            Ok(_) => {
                connection
                    .execute_batch("RELEASE deliver")
                    .map_err(sqlite)?;
                delivered += 1;
            }
            Err(error) => {
                connection
                    .execute_batch("ROLLBACK TO deliver; RELEASE deliver")
                    .map_err(sqlite)?;
                tracing::warn!(%id, stream, %error,
                    "dropped a scheduled message: the store refused it");
            }
        }
        connection
            .execute(
                "DELETE FROM scheduled_messages WHERE sequence = ?1",
                [sequence],
            )
            .map_err(sqlite)?;
    }
    Ok(delivered)
}

/// Takes up to `limit` due messages for a message store elsewhere, in due
/// order: they fall due again in their place, and can be cancelled, when
/// `lease` ends. A stream's later messages wait for those taken, so a
/// stream's messages are appended in due order.
pub(crate) fn take_due(
    connection: &Connection,
    limit: usize,
    lease: Duration,
) -> Result<Vec<DueMessage>> {
    let now = now();
    let until = now.saturating_add(span(lease));
    let taken = due_now(connection, now, limit)?;
    let mut lease = connection
        .prepare_cached("UPDATE scheduled_messages SET taken_until = ?2 WHERE sequence = ?1")
        .map_err(sqlite)?;
    for (sequence, ..) in &taken {
        lease.execute(params![sequence, until]).map_err(sqlite)?;
    }
    Ok(taken
        .into_iter()
        .filter_map(|(_, stream, m)| {
            DueMessage::from_stored(m.id, stream, m.message_type, m.data, m.metadata)
        })
        .collect())
}

/// Up to `limit` messages due at `now`, in due order, with their sequence
/// and stream: none taken for a message store elsewhere, nor of a stream
/// one is taken of.
fn due_now(connection: &Connection, now: i64, limit: usize) -> Result<Vec<(i64, String, Encoded)>> {
    connection
        .prepare_cached(
            "SELECT sequence, id, stream_name, type, data, metadata FROM scheduled_messages AS sm
             WHERE deliver_at <= ?1 AND (taken_until IS NULL OR taken_until < ?1)
                 AND NOT EXISTS (
                     SELECT 1 FROM scheduled_messages AS t
                     WHERE t.stream_name = sm.stream_name AND t.taken_until >= ?1)
             ORDER BY deliver_at, sequence LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![now, limit_to_sql(limit)], |row| {
                let message = Encoded {
                    id: Uuid::from_bytes(row.get(1)?),
                    message_type: row.get(3)?,
                    data: json(row, 4)?,
                    metadata: json(row, 5)?,
                };
                Ok((row.get(0)?, row.get(2)?, message))
            })?
            .collect()
        })
        .map_err(sqlite)
}

/// A column of JSON text as stored; text that is not JSON, as a string.
fn json(row: &Row<'_>, column: usize) -> rusqlite::Result<Value> {
    let text: String = row.get(column)?;
    Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Forgets messages taken and appended elsewhere.
pub(crate) fn delivered(connection: &Connection, ids: &[Uuid]) -> Result<()> {
    let mut forget = connection
        .prepare_cached("DELETE FROM scheduled_messages WHERE id = ?1")
        .map_err(sqlite)?;
    for id in ids {
        forget.execute([id.as_bytes()]).map_err(sqlite)?;
    }
    Ok(())
}

/// How long until the next scheduled message is due (zero if one is due
/// now); `None` when none waits.
pub(crate) fn next_due(connection: &Connection) -> Result<Option<Duration>> {
    let next: Option<i64> = connection
        .query_row(
            "SELECT min(max(deliver_at, coalesce(taken_until, deliver_at)))
             FROM scheduled_messages",
            [],
            |row| row.get(0),
        )
        .map_err(sqlite)?;
    Ok(next.map(|at| Duration::from_micros(at.saturating_sub(now()).max(0).unsigned_abs())))
}

/// Records the jobs `group` declares now; a job declared again after its
/// removal counts as new.
pub(crate) fn declare_jobs(
    connection: &Connection,
    group: &str,
    jobs: &[DeclaredJob<'_>],
) -> Result<Vec<KnownJob>> {
    let now = now();
    let mut declare = connection
        .prepare_cached(
            "INSERT INTO recurring_jobs AS j
                 (group_name, name, cron, schedule, schedule_of, stream_name, declared_at)
             VALUES (?1, ?2, ?3, ?4, ?3, ?5, ?6)
             ON CONFLICT (group_name, name) DO UPDATE
             SET cron = excluded.cron, schedule = excluded.schedule,
                 schedule_of = excluded.schedule_of,
                 stream_name = excluded.stream_name, removed_at = NULL,
                 declared_at = CASE WHEN j.removed_at IS NULL THEN j.declared_at
                     ELSE excluded.declared_at END
             RETURNING declared_at",
        )
        .map_err(sqlite)?;
    jobs.iter()
        .map(|job| {
            let declared_at: i64 = declare
                .query_row(
                    params![group, job.name, job.cron, job.schedule, job.stream, now],
                    |row| row.get(0),
                )
                .map_err(sqlite)?;
            Ok(KnownJob {
                name: job.name.to_owned(),
                declared_at: crate::messages::from_micros(declared_at),
                store_now: crate::messages::from_micros(now),
            })
        })
        .collect()
}

/// Marks removed the group's jobs not among `declared`; returns them.
pub(crate) fn remove_other_jobs(
    connection: &Connection,
    group: &str,
    declared: &[&str],
) -> Result<Vec<RemovedJob>> {
    let declared = serde_json::to_string(declared).map_err(|source| Error::Encode {
        message_type: "recurring job names".to_owned(),
        source,
    })?;
    let mut remove = connection
        .prepare_cached(
            "UPDATE recurring_jobs SET removed_at = ?3
             WHERE group_name = ?1 AND removed_at IS NULL
                 AND name NOT IN (SELECT value FROM json_each(?2))
             RETURNING name, cron, stream_name",
        )
        .map_err(sqlite)?;
    let removed = remove
        .query_map(params![group, declared, now()], |row| {
            Ok(RemovedJob {
                name: row.get(0)?,
                cron: row.get(1)?,
                stream: row.get(2)?,
            })
        })
        .map_err(sqlite)?
        .collect::<rusqlite::Result<_>>()
        .map_err(sqlite)?;
    Ok(removed)
}

/// Every recurring job, removed ones too, in group and name order.
pub(crate) fn recurring_jobs(connection: &Connection) -> Result<Vec<RecurringJobInfo>> {
    connection
        .prepare_cached(
            "SELECT group_name, name, cron, CASE WHEN schedule_of = cron THEN schedule END,
                 stream_name, declared_at, removed_at
             FROM recurring_jobs ORDER BY group_name, name",
        )
        .and_then(|mut s| {
            s.query_map([], |row| {
                let removed_at: Option<i64> = row.get(6)?;
                Ok(RecurringJobInfo {
                    group: row.get(0)?,
                    name: row.get(1)?,
                    cron: row.get(2)?,
                    schedule: row.get(3)?,
                    stream: row.get(4)?,
                    declared_at: from_micros(row.get(5)?),
                    removed_at: removed_at.map(from_micros),
                })
            })?
            .collect()
        })
        .map_err(sqlite)
}
