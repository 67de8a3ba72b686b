//! Subscriptions and their checkpoints on SQLite. Every statement that
//! writes runs on the writer, so none waits for a lock held by another of
//! this process, and reservations exclude each other by construction.

use crate::error::sqlite;
use crate::messages::{head, limit_to_sql, micros, query_messages, MESSAGE_COLUMNS};
use beckett_core::state::{
    CheckpointInfo, Completed, Cursor, Failure, Raise, Registered, Reservation, Reserved, StartAt,
};
use beckett_core::store::Place;
use beckett_core::subscription::Selection;
use beckett_core::{GlobalCursor, RawMessage, Result};
use chrono::Utc;
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use uuid::Uuid;

/// The primary key's condition, on parameters 1 to 3.
const KEY: &str = "group_name = ?1 AND subscription = ?2 AND stream_name = ?3";

/// Now, as the tables keep times.
pub(crate) fn now() -> i64 {
    micros(Utc::now())
}

/// A duration as the tables add it to times.
pub(crate) fn span(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// A list as a JSON array, for `IN (SELECT value FROM json_each(?))`.
fn json_list<T: serde::Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).expect("lists of strings serialize")
}

/// Records a subscription if new, starting where `start` says; what it
/// selects widens to cover every version that declares it.
pub(crate) fn register(
    connection: &Connection,
    group: &str,
    name: &str,
    start: &StartAt,
    selection: &Selection,
) -> Result<()> {
    let known: Option<(Option<String>, Option<String>, Option<String>)> = connection
        .query_row(
            "SELECT message_types, category, stream FROM subscriptions
             WHERE group_name = ?1 AND name = ?2",
            params![group, name],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .map_err(sqlite)?;
    let types = |types: &[String]| (!types.is_empty()).then(|| json_list(types));
    let Some((stored_types, category, stream)) = known else {
        // A subscription that starts at the end keeps where it started.
        let cursor = match start {
            StartAt::First => None,
            StartAt::End => Some(head(connection)?),
            StartAt::After(cursor) => Some(cursor.clone()),
        };
        let place = cursor.as_ref().map(GlobalCursor::frontier);
        connection
            .execute(
                "INSERT INTO subscriptions (group_name, name, transaction_id, global_position,
                     pending, start_position, message_types, category, stream, created_at)
                 VALUES (?1, ?2, coalesce(?3, 0), coalesce(?4, 0), ?5, ?4, ?6, ?7, ?8, ?9)",
                params![
                    group,
                    name,
                    place.map(|p| p.transaction_id),
                    place.map(|p| p.global_position),
                    json_list(cursor.as_ref().map_or(&[][..], GlobalCursor::pending)),
                    types(&selection.types),
                    selection.category,
                    selection.stream,
                    now()
                ],
            )
            .map_err(sqlite)?;
        return Ok(());
    };
    // Every type either version selects; all, if either selects all.
    let widened = match stored_types {
        Some(stored) if !selection.types.is_empty() => {
            let mut all: Vec<String> = serde_json::from_str(&stored).unwrap_or_default();
            all.extend(selection.types.iter().cloned());
            all.sort();
            all.dedup();
            Some(json_list(&all))
        }
        _ => None,
    };
    let same = |stored: Option<String>, declared: &Option<String>| {
        stored.filter(|stored| Some(stored) == declared.as_ref())
    };
    connection
        .execute(
            "UPDATE subscriptions SET message_types = ?3, category = ?4, stream = ?5
             WHERE group_name = ?1 AND name = ?2",
            params![
                group,
                name,
                widened,
                same(category, &selection.category),
                same(stream, &selection.stream)
            ],
        )
        .map_err(sqlite)?;
    Ok(())
}

/// The subscriptions registered in `group` besides `declared`, with how
/// many of their checkpoints lag.
pub(crate) fn undeclared(
    connection: &Connection,
    group: &str,
    declared: &[&str],
) -> Result<Vec<(String, i64)>> {
    let mut statement = connection
        .prepare_cached(
            "SELECT s.name, (
                 SELECT count(*) FROM checkpoints AS c
                 WHERE c.group_name = s.group_name AND c.subscription = s.name
                     AND c.stream_version > c.stream_position AND c.status <> 'failed')
             FROM subscriptions AS s
             WHERE s.group_name = ?1 AND s.name NOT IN (SELECT value FROM json_each(?2))
             ORDER BY s.name",
        )
        .map_err(sqlite)?;
    let rows = statement
        .query_map(params![group, json_list(declared)], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .map_err(sqlite)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sqlite)
}

/// Removes a subscription and its checkpoints.
pub(crate) fn remove(connection: &Connection, group: &str, name: &str) -> Result<Option<u64>> {
    let removed = connection
        .execute(
            "DELETE FROM subscriptions WHERE group_name = ?1 AND name = ?2",
            params![group, name],
        )
        .map_err(sqlite)?;
    if removed == 0 {
        return Ok(None);
    }
    let checkpoints = connection
        .execute(
            "DELETE FROM checkpoints WHERE group_name = ?1 AND subscription = ?2",
            params![group, name],
        )
        .map_err(sqlite)?;
    Ok(Some(checkpoints as u64))
}

/// The subscriptions registered in `group`.
pub(crate) fn registered(connection: &Connection, group: &str) -> Result<Vec<Registered>> {
    let mut statement = connection
        .prepare_cached(
            "SELECT name, registration, global_position, message_types, category, stream,
                 transaction_id, pending
             FROM subscriptions WHERE group_name = ?1",
        )
        .map_err(sqlite)?;
    let rows = statement
        .query_map([group], |row| {
            let types: Option<String> = row.get(3)?;
            let pending: String = row.get(7)?;
            let frontier = Place {
                transaction_id: row.get(6)?,
                global_position: row.get(2)?,
            };
            let pending = serde_json::from_str(&pending).map_err(|error| {
                rusqlite::Error::FromSqlConversionFailure(7, Type::Text, error.into())
            })?;
            Ok(Registered {
                name: row.get(0)?,
                registration: row.get(1)?,
                cursor: GlobalCursor::new(frontier, pending),
                selection: Some(Selection {
                    types: types
                        .map(|t| serde_json::from_str(&t).unwrap_or_default())
                        .unwrap_or_default(),
                    category: row.get(4)?,
                    stream: row.get(5)?,
                }),
            })
        })
        .map_err(sqlite)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sqlite)
}

/// Raises checkpoints, creating the missing ones (reserved under their
/// `take` token), and moves cursors; returns the tokens taken, and whether
/// any checkpoint was raised that this process did not take.
pub(crate) fn record(
    connection: &Connection,
    group: &str,
    raises: &[Raise<'_>],
    cursors: &[Cursor<'_>],
    timeout: Duration,
) -> Result<(HashSet<Uuid>, bool)> {
    let now = now();
    // A subscription that started at the end creates a stream's checkpoint
    // just before the first position read now: the global order follows
    // each stream's, so the stream's earlier messages came before the start
    // or were read already without one the subscription selects.
    let mut raise = connection
        .prepare_cached(
            "INSERT INTO checkpoints AS c (group_name, subscription, stream_name, stream_version,
                 stream_position, reserved_by, reserved_until, process_at, updated_at)
             SELECT ?1, ?2, ?3, ?4,
                 CASE WHEN s.start_position IS NULL THEN 0 ELSE ?5 - 1 END,
                 ?6, CASE WHEN ?6 IS NOT NULL THEN ?7 + ?8 END,
                 CASE WHEN ?6 IS NOT NULL THEN ?7 + ?8 ELSE ?7 END, ?7
             FROM subscriptions AS s WHERE s.group_name = ?1 AND s.name = ?2
             ON CONFLICT (group_name, subscription, stream_name) DO UPDATE
             SET stream_version = max(c.stream_version, excluded.stream_version),
                 updated_at = excluded.updated_at
             RETURNING reserved_by",
        )
        .map_err(sqlite)?;
    let (mut taken, mut others) = (HashSet::new(), false);
    for r in raises {
        let token = r.take.map(|t| *t.as_bytes());
        let holder: Option<Option<[u8; 16]>> = raise
            .query_row(
                params![
                    group,
                    r.subscription,
                    r.stream,
                    r.version,
                    r.first,
                    token,
                    now,
                    span(timeout)
                ],
                |row| row.get(0),
            )
            .optional()
            .map_err(sqlite)?;
        match (holder, token) {
            (Some(Some(holder)), Some(token)) if holder == token => {
                taken.insert(Uuid::from_bytes(token));
            }
            (Some(_), _) => others = true,
            // The subscription was removed meanwhile: nothing to raise.
            (None, _) => {}
        }
    }
    let mut moved = connection
        .prepare_cached(
            "UPDATE subscriptions SET global_position = ?4, transaction_id = ?5, pending = ?6
             WHERE group_name = ?1 AND name = ?2 AND registration = ?3",
        )
        .map_err(sqlite)?;
    for c in cursors {
        let Place {
            transaction_id,
            global_position,
        } = c.cursor.frontier();
        moved
            .execute(params![
                group,
                c.subscription,
                c.registration,
                global_position,
                transaction_id,
                json_list(c.cursor.pending())
            ])
            .map_err(sqlite)?;
    }
    Ok((taken, others))
}

/// Reserves up to `limit` lagging, due checkpoints of the group's
/// `subscriptions`, each under a token of its own.
pub(crate) fn reserve(
    connection: &Connection,
    group: &str,
    subscriptions: &[&str],
    limit: usize,
    timeout: Duration,
) -> Result<Vec<Reservation>> {
    let now = now();
    let mut ready = connection
        .prepare_cached(
            "SELECT subscription, stream_name, stream_position, attempts FROM checkpoints
             WHERE group_name = ?1 AND subscription IN (SELECT value FROM json_each(?2))
                 AND stream_version > stream_position AND status <> 'failed'
                 AND process_at <= ?3 AND (reserved_until IS NULL OR reserved_until < ?3)
             ORDER BY process_at LIMIT ?4",
        )
        .map_err(sqlite)?;
    let reservations: Vec<Reservation> = ready
        .query_map(
            params![group, json_list(subscriptions), now, limit_to_sql(limit)],
            |row| {
                Ok(Reservation {
                    subscription: row.get(0)?,
                    stream: row.get(1)?,
                    position: row.get(2)?,
                    attempts: row.get(3)?,
                    token: Uuid::now_v7(),
                })
            },
        )
        .map_err(sqlite)?
        .collect::<rusqlite::Result<_>>()
        .map_err(sqlite)?;
    let mut take = connection
        .prepare_cached(&format!(
            "UPDATE checkpoints SET reserved_by = ?4, reserved_until = ?5, process_at = ?5
             WHERE {KEY}"
        ))
        .map_err(sqlite)?;
    let until = now.saturating_add(span(timeout));
    for r in &reservations {
        take.execute(params![
            group,
            r.subscription,
            r.stream,
            r.token.as_bytes(),
            until
        ])
        .map_err(sqlite)?;
    }
    Ok(reservations)
}

/// The first `read` messages of each reserved stream after its position.
pub(crate) fn first_messages(
    connection: &Connection,
    reservations: Vec<Reservation>,
    read: usize,
) -> Result<Vec<Reserved>> {
    let wanted: Vec<(&str, i64)> = reservations
        .iter()
        .map(|r| (r.stream.as_str(), r.position))
        .collect();
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM (
             SELECT m.*, row_number() OVER (
                 PARTITION BY m.stream_name ORDER BY m.stream_position) AS n
             FROM json_each(?1) AS w
             JOIN messages AS m ON m.stream_name = w.value ->> 0
                 AND m.stream_position > w.value ->> 1)
         WHERE n <= ?2 ORDER BY stream_name, stream_position"
    );
    let read_all = query_messages(
        connection,
        &sql,
        params![json_list(&wanted), limit_to_sql(read)],
    )?;
    let mut by_stream: HashMap<String, Vec<RawMessage>> = HashMap::new();
    for message in read_all {
        by_stream
            .entry(message.envelope.stream.clone())
            .or_default()
            .push(message);
    }
    Ok(reservations
        .into_iter()
        .map(|reservation| Reserved {
            messages: Some(by_stream.remove(&reservation.stream).unwrap_or_default()),
            reservation,
        })
        .collect())
}

/// Moves done-with checkpoints and releases them; true when one lags again.
pub(crate) fn complete(
    connection: &Connection,
    group: &str,
    completed: &[Completed],
) -> Result<bool> {
    let now = now();
    let mut complete = connection
        .prepare_cached(&format!(
            "UPDATE checkpoints
             SET stream_position = max(stream_position, ?5), status = 'active', attempts = 0,
                 last_error = NULL,
                 reserved_by = NULL, reserved_until = NULL, process_at = ?6, updated_at = ?6
             WHERE {KEY} AND reserved_by = ?4
             RETURNING stream_version > stream_position"
        ))
        .map_err(sqlite)?;
    let mut lagging = false;
    for c in completed {
        let lags: Option<bool> = complete
            .query_row(
                params![
                    group,
                    c.subscription,
                    c.stream,
                    c.token.as_bytes(),
                    c.position,
                    now
                ],
                |row| row.get(0),
            )
            .optional()
            .map_err(sqlite)?;
        lagging |= lags.unwrap_or(false);
    }
    Ok(lagging)
}

/// Moves a reserved checkpoint, keeping the reservation for `keep` more
/// or releasing it; false when the reservation was lost.
pub(crate) fn advance(
    connection: &Connection,
    group: &str,
    reservation: &Reservation,
    position: i64,
    keep: Option<Duration>,
) -> Result<bool> {
    let now = now();
    let changed = connection
        .prepare_cached(&format!(
            "UPDATE checkpoints
             SET stream_position = max(stream_position, ?5), status = 'active', attempts = 0,
                 last_error = NULL,
                 reserved_by = CASE WHEN ?6 IS NULL THEN NULL ELSE reserved_by END,
                 reserved_until = ?7 + ?6, process_at = ?7 + coalesce(?6, 0), updated_at = ?7
             WHERE {KEY} AND reserved_by = ?4"
        ))
        .and_then(|mut s| {
            s.execute(params![
                group,
                reservation.subscription,
                reservation.stream,
                reservation.token.as_bytes(),
                position,
                keep.map(span),
                now
            ])
        })
        .map_err(sqlite)?;
    Ok(changed == 1)
}

/// Records a failed handler call and releases the reservation; the
/// checkpoint never moves back.
pub(crate) fn fail(
    connection: &Connection,
    group: &str,
    reservation: &Reservation,
    failure: &Failure,
) -> Result<()> {
    connection
        .prepare_cached(&format!(
            "UPDATE checkpoints
             SET stream_position = max(stream_position, ?5), attempts = ?6, last_error = ?7,
                 status = CASE WHEN ?8 IS NULL THEN 'failed' ELSE 'retry' END,
                 process_at = ?9 + coalesce(?8, 0), reserved_by = NULL, reserved_until = NULL,
                 updated_at = ?9
             WHERE {KEY} AND reserved_by = ?4"
        ))
        .and_then(|mut s| {
            s.execute(params![
                group,
                reservation.subscription,
                reservation.stream,
                reservation.token.as_bytes(),
                failure.position,
                failure.attempts,
                failure.error,
                failure.retry_in.map(span),
                now()
            ])
        })
        .map_err(sqlite)?;
    Ok(())
}

/// Extends reservations by token; returns those extended.
pub(crate) fn extend(
    connection: &Connection,
    tokens: &[Uuid],
    timeout: Duration,
) -> Result<Vec<Uuid>> {
    let until = now().saturating_add(span(timeout));
    let mut extend = connection
        .prepare_cached(
            "UPDATE checkpoints SET reserved_until = ?2, process_at = ?2
             WHERE reserved_by = ?1 RETURNING reserved_by",
        )
        .map_err(sqlite)?;
    let mut extended = Vec::new();
    for token in tokens {
        let found = extend
            .query_row(params![token.as_bytes(), until], |_| Ok(()))
            .optional()
            .map_err(sqlite)?;
        if found.is_some() {
            extended.push(*token);
        }
    }
    Ok(extended)
}

/// Releases reservations by token, not to be reserved again for `pause`.
pub(crate) fn release(connection: &Connection, tokens: &[Uuid], pause: Duration) -> Result<()> {
    let at = now().saturating_add(span(pause));
    let mut release = connection
        .prepare_cached(
            "UPDATE checkpoints SET reserved_by = NULL, reserved_until = NULL, process_at = ?2
             WHERE reserved_by = ?1",
        )
        .map_err(sqlite)?;
    for token in tokens {
        release
            .execute(params![token.as_bytes(), at])
            .map_err(sqlite)?;
    }
    Ok(())
}

/// Failed checkpoints, of one group or of all.
pub(crate) fn failed(connection: &Connection, group: Option<&str>) -> Result<Vec<CheckpointInfo>> {
    let mut statement = connection
        .prepare_cached(
            "SELECT group_name, subscription, stream_name, stream_version, stream_position,
                 status, attempts, last_error, process_at
             FROM checkpoints WHERE status = 'failed' AND (?1 IS NULL OR group_name = ?1)
             ORDER BY group_name, subscription, stream_name",
        )
        .map_err(sqlite)?;
    let rows = statement.query_map([group], info).map_err(sqlite)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sqlite)
}

/// A checkpoint as operators see it.
fn info(row: &Row<'_>) -> rusqlite::Result<CheckpointInfo> {
    Ok(CheckpointInfo {
        group: row.get(0)?,
        subscription: row.get(1)?,
        stream: row.get(2)?,
        stream_version: row.get(3)?,
        stream_position: row.get(4)?,
        status: row.get(5)?,
        attempts: row.get(6)?,
        last_error: row.get(7)?,
        process_at: crate::messages::from_micros(row.get(8)?),
    })
}

/// Makes a failed checkpoint due now; false when it is not failed.
pub(crate) fn retry(
    connection: &Connection,
    group: &str,
    subscription: &str,
    stream: &str,
) -> Result<bool> {
    let changed = connection
        .execute(
            &format!(
                "UPDATE checkpoints SET status = 'retry', attempts = 0, process_at = ?4,
                     updated_at = ?4
                 WHERE {KEY} AND status = 'failed'"
            ),
            params![group, subscription, stream, now()],
        )
        .map_err(sqlite)?;
    Ok(changed == 1)
}

/// Moves a failed checkpoint past the message that failed, recording the
/// skip; false when it is not failed.
pub(crate) fn skip(
    connection: &Connection,
    group: &str,
    subscription: &str,
    stream: &str,
) -> Result<bool> {
    let failed: Option<(i64, i64, Option<String>)> = connection
        .query_row(
            &format!(
                "SELECT stream_position, attempts, last_error FROM checkpoints
                 WHERE {KEY} AND status = 'failed'"
            ),
            params![group, subscription, stream],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .map_err(sqlite)?;
    let Some((handled, attempts, error)) = failed else {
        return Ok(false);
    };
    let now = now();
    // The failing message is the next: a stream's positions have no gap.
    let skipped = handled + 1;
    connection
        .execute(
            &format!(
                "UPDATE checkpoints SET stream_position = ?4, status = 'active', attempts = 0,
                     last_error = NULL, process_at = ?5, updated_at = ?5
                 WHERE {KEY}"
            ),
            params![group, subscription, stream, skipped, now],
        )
        .map_err(sqlite)?;
    connection
        .execute(
            "INSERT INTO skipped_messages (group_name, subscription, stream_name, stream_position,
                 attempts, last_error, skipped_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![group, subscription, stream, skipped, attempts, error, now],
        )
        .map_err(sqlite)?;
    Ok(true)
}
