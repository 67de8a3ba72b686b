//! Subscriptions and their checkpoints on SQLite. Every statement that
//! writes runs on the writer, so none waits for a lock held by another of
//! this process, and reservations exclude each other by construction.

use crate::error::sqlite;
use crate::messages::{from_micros, head, limit_to_sql, micros, query_messages, MESSAGE_COLUMNS};
use beckett_core::state::{
    CheckpointFilter, CheckpointInfo, CheckpointKey, CheckpointStatus, Completed, Cursor, Failure,
    Raise, Registered, Reservation, Reserved, ResetOutcome, StartAt, SubscriptionInfo,
};
use beckett_core::store::Place;
use beckett_core::subscription::Selection;
use beckett_core::{GlobalCursor, RawMessage, Result};
use chrono::Utc;
use rusqlite::types::{Type, Value};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use std::collections::{BTreeSet, HashMap, HashSet};
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
    let Some((stored_types, category, stream)) = known else {
        let kept = Kept {
            message_types: (!selection.types.is_empty()).then(|| json_list(&selection.types)),
            category: selection.category.clone(),
            stream: selection.stream.clone(),
            created_at: now(),
            paused: false,
        };
        return insert(connection, group, name, start, &kept);
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

/// What a registration keeps of the one it replaces, as stored: what the
/// subscription selects, when it was created, and its pause.
struct Kept {
    message_types: Option<String>,
    category: Option<String>,
    stream: Option<String>,
    created_at: i64,
    paused: bool,
}

/// Inserts a subscription as a new registration starting where `start`
/// says: one that starts at the end keeps where it started.
fn insert(
    connection: &Connection,
    group: &str,
    name: &str,
    start: &StartAt,
    kept: &Kept,
) -> Result<()> {
    let cursor = match start {
        StartAt::First => None,
        StartAt::End => Some(head(connection)?),
        StartAt::After(cursor) => Some(cursor.clone()),
    };
    let place = cursor.as_ref().map(GlobalCursor::frontier);
    connection
        .execute(
            "INSERT INTO subscriptions (group_name, name, transaction_id, global_position,
                 pending, start_position, message_types, category, stream, created_at, paused)
             VALUES (?1, ?2, coalesce(?3, 0), coalesce(?4, 0), ?5, ?4, ?6, ?7, ?8, ?9, ?10)",
            params![
                group,
                name,
                place.map(|p| p.transaction_id),
                place.map(|p| p.global_position),
                json_list(cursor.as_ref().map_or(&[][..], GlobalCursor::pending)),
                kept.message_types,
                kept.category,
                kept.stream,
                kept.created_at,
                kept.paused
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
    delete_checkpoints(connection, group, name).map(Some)
}

/// Deletes a subscription's checkpoints; how many went.
fn delete_checkpoints(connection: &Connection, group: &str, name: &str) -> Result<u64> {
    let deleted = connection
        .execute(
            "DELETE FROM checkpoints WHERE group_name = ?1 AND subscription = ?2",
            params![group, name],
        )
        .map_err(sqlite)?;
    Ok(deleted as u64)
}

/// Removes a subscription's checkpoints and registers it again from `to`,
/// keeping what it selects, when it was created and its pause; refused
/// while processes hold any of its checkpoints.
pub(crate) fn reset(
    connection: &Connection,
    group: &str,
    name: &str,
    to: &StartAt,
) -> Result<ResetOutcome> {
    let held: Option<u64> = connection
        .query_row(
            "SELECT (SELECT count(*) FROM checkpoints
                     WHERE group_name = ?1 AND subscription = ?2 AND reserved_until > ?3)
             FROM subscriptions WHERE group_name = ?1 AND name = ?2",
            params![group, name, now()],
            |row| row.get(0),
        )
        .optional()
        .map_err(sqlite)?;
    match held {
        None => return Ok(ResetOutcome::Unregistered),
        Some(0) => {}
        Some(held) => return Ok(ResetOutcome::Reserved(held)),
    }
    delete_checkpoints(connection, group, name)?;
    // The registration is the row id, never taken twice: a new one is a
    // new row.
    let kept = connection
        .query_row(
            "DELETE FROM subscriptions WHERE group_name = ?1 AND name = ?2
             RETURNING message_types, category, stream, created_at, paused",
            params![group, name],
            |row| {
                Ok(Kept {
                    message_types: row.get(0)?,
                    category: row.get(1)?,
                    stream: row.get(2)?,
                    created_at: row.get(3)?,
                    paused: row.get(4)?,
                })
            },
        )
        .map_err(sqlite)?;
    insert(connection, group, name, to, &kept)?;
    Ok(ResetOutcome::Done)
}

/// Pauses a subscription or resumes it; false when it is not registered.
pub(crate) fn set_paused(
    connection: &Connection,
    group: &str,
    name: &str,
    paused: bool,
) -> Result<bool> {
    let changed = connection
        .execute(
            "UPDATE subscriptions SET paused = ?3 WHERE group_name = ?1 AND name = ?2",
            params![group, name, paused],
        )
        .map_err(sqlite)?;
    Ok(changed == 1)
}

/// Whether the group's subscription `name` is paused; false when it is not
/// registered.
fn paused(connection: &Connection, group: &str, name: &str) -> Result<bool> {
    connection
        .prepare_cached("SELECT paused FROM subscriptions WHERE group_name = ?1 AND name = ?2")
        .and_then(|mut s| {
            s.query_row(params![group, name], |row| row.get(0))
                .optional()
        })
        .map(|paused| paused.unwrap_or(false))
        .map_err(sqlite)
}

/// A subscription's cursor from its `global_position`, `transaction_id`
/// and `pending` columns, the row's columns from `first` on.
fn cursor(row: &Row<'_>, first: usize) -> rusqlite::Result<GlobalCursor> {
    let frontier = Place {
        global_position: row.get(first)?,
        transaction_id: row.get(first + 1)?,
    };
    let pending: String = row.get(first + 2)?;
    let pending = serde_json::from_str(&pending).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(first + 2, Type::Text, error.into())
    })?;
    Ok(GlobalCursor::new(frontier, pending))
}

/// The subscriptions registered in `group`.
pub(crate) fn registered(connection: &Connection, group: &str) -> Result<Vec<Registered>> {
    let mut statement = connection
        .prepare_cached(
            "SELECT name, registration, global_position, transaction_id, pending,
                 message_types, category, stream
             FROM subscriptions WHERE group_name = ?1",
        )
        .map_err(sqlite)?;
    let rows = statement
        .query_map([group], |row| {
            let types: Option<String> = row.get(5)?;
            Ok(Registered {
                name: row.get(0)?,
                registration: row.get(1)?,
                cursor: cursor(row, 2)?,
                selection: Some(Selection {
                    types: types
                        .map(|t| serde_json::from_str(&t).unwrap_or_default())
                        .unwrap_or_default(),
                    category: row.get(6)?,
                    stream: row.get(7)?,
                }),
            })
        })
        .map_err(sqlite)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sqlite)
}

/// Raises checkpoints of the registrations still current, creating the
/// missing ones (reserved under their `take` token unless the subscription
/// is paused), and moves cursors; returns the tokens taken, and whether
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
    // or were read already without one the subscription selects. (An
    // upsert's SELECT needs its WHERE, lest ON CONFLICT read as a join's.)
    let mut raise = connection
        .prepare_cached(
            "INSERT INTO checkpoints AS c (group_name, subscription, stream_name, stream_version,
                 stream_position, reserved_by, reserved_until, process_at, updated_at)
             SELECT ?1, ?2, ?3, ?4,
                 CASE WHEN s.start_position IS NULL THEN 0 ELSE ?5 - 1 END,
                 s.token, CASE WHEN s.token IS NOT NULL THEN ?7 + ?8 END,
                 CASE WHEN s.token IS NOT NULL THEN ?7 + ?8 ELSE ?7 END, ?7
             FROM (SELECT start_position, CASE WHEN NOT paused THEN ?6 END AS token
                   FROM subscriptions
                   WHERE group_name = ?1 AND name = ?2 AND registration = ?9) AS s
             WHERE TRUE
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
                    span(timeout),
                    r.registration
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
            // The registration was removed or reset meanwhile: nothing to
            // raise.
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
/// `subscriptions` registered and not paused, each under a token of its
/// own.
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
             WHERE group_name = ?1 AND subscription IN (
                     SELECT name FROM subscriptions
                     WHERE group_name = ?1 AND NOT paused
                         AND name IN (SELECT value FROM json_each(?2)))
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

/// Moves a reserved checkpoint as [`advance`] does, but releases the
/// reservation rather than keep it when the subscription is paused; false
/// when the reservation is not held after: lost, or released for the pause.
pub(crate) fn advance_heeding_pause(
    connection: &Connection,
    group: &str,
    reservation: &Reservation,
    position: i64,
    keep: Option<Duration>,
) -> Result<bool> {
    let paused = keep.is_some() && paused(connection, group, &reservation.subscription)?;
    let held = advance(
        connection,
        group,
        reservation,
        position,
        keep.filter(|_| !paused),
    )?;
    Ok(held && !paused)
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

/// The subscriptions registered, of `group` or of all, in group and name
/// order, with counts of their checkpoints.
pub(crate) fn subscriptions(
    connection: &Connection,
    group: Option<&str>,
) -> Result<Vec<SubscriptionInfo>> {
    let mut statement = connection
        .prepare_cached(
            "SELECT s.group_name, s.name, s.registration, s.paused,
                 s.global_position, s.transaction_id, s.pending,
                 count(c.stream_name),
                 coalesce(sum(c.status = 'active' AND c.stream_version > c.stream_position), 0),
                 coalesce(sum(c.status = 'retry'), 0),
                 coalesce(sum(c.status = 'failed'), 0),
                 coalesce(sum(c.reserved_until > ?2), 0),
                 coalesce(sum(CASE WHEN c.status <> 'failed'
                     AND c.stream_version > c.stream_position
                     THEN c.stream_version - c.stream_position END), 0)
             FROM subscriptions AS s
             LEFT JOIN checkpoints AS c
                 ON c.group_name = s.group_name AND c.subscription = s.name
             WHERE ?1 IS NULL OR s.group_name = ?1
             GROUP BY s.registration
             ORDER BY s.group_name, s.name",
        )
        .map_err(sqlite)?;
    let rows = statement
        .query_map(params![group, now()], |row| {
            Ok(SubscriptionInfo {
                group: row.get(0)?,
                name: row.get(1)?,
                registration: row.get(2)?,
                paused: row.get(3)?,
                cursor: cursor(row, 4)?,
                checkpoints: row.get(7)?,
                lagging: row.get(8)?,
                retrying: row.get(9)?,
                failed: row.get(10)?,
                reserved: row.get(11)?,
                behind: row.get(12)?,
            })
        })
        .map_err(sqlite)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sqlite)
}

/// The condition the checkpoints `filter` matches meet, on the columns of
/// `checkpoints`, as [`CheckpointFilter::matches`] tests it, `TRUE` when
/// it sets none; its values are pushed onto `values`, numbered after those
/// there already.
fn matching(filter: &CheckpointFilter, values: &mut Vec<Value>) -> String {
    // A checkpoint without an error has an empty one, as `matches` reads it.
    let conditions = [
        (filter.group.as_deref(), "group_name = ?"),
        (filter.subscription.as_deref(), "subscription = ?"),
        (filter.stream.as_deref(), "stream_name = ?"),
        (
            filter.stream_prefix.as_deref(),
            "substr(stream_name, 1, length(?)) = ?",
        ),
        (filter.status.map(CheckpointStatus::as_str), "status = ?"),
        (
            filter.error.as_deref(),
            "instr(lower(coalesce(last_error, '')), lower(?)) > 0",
        ),
    ];
    let mut set: Vec<String> = conditions
        .into_iter()
        .filter_map(|(value, condition)| {
            values.push(Value::Text(value?.to_owned()));
            Some(condition.replace('?', &format!("?{}", values.len())))
        })
        .collect();
    if let Some(reserved) = filter.reserved {
        values.push(Value::Integer(now()));
        let at = values.len();
        set.push(match reserved {
            true => format!("reserved_until > ?{at}"),
            false => format!("(reserved_until IS NULL OR reserved_until <= ?{at})"),
        });
    }
    if set.is_empty() {
        "TRUE".to_owned()
    } else {
        set.join(" AND ")
    }
}

/// The columns of a checkpoint as operators see it, as [`info`] maps them.
const INFO_COLUMNS: &str = "group_name, subscription, stream_name, stream_version,
    stream_position, status, attempts, last_error, process_at, reserved_until";

/// A row of [`INFO_COLUMNS`]: a checkpoint as operators see it at `now`.
fn info(row: &Row<'_>, now: i64) -> rusqlite::Result<CheckpointInfo> {
    let status: String = row.get(5)?;
    let reserved_until: Option<i64> = row.get(9)?;
    Ok(CheckpointInfo {
        group: row.get(0)?,
        subscription: row.get(1)?,
        stream: row.get(2)?,
        stream_version: row.get(3)?,
        stream_position: row.get(4)?,
        status: status.parse().map_err(|error: String| {
            rusqlite::Error::FromSqlConversionFailure(5, Type::Text, error.into())
        })?,
        attempts: row.get(6)?,
        last_error: row.get(7)?,
        process_at: from_micros(row.get(8)?),
        // A reservation that expired is held by no process.
        reserved_until: reserved_until.filter(|&until| until > now).map(from_micros),
    })
}

/// Up to `limit` checkpoints matching `filter`, in key order, after
/// `after` if given.
pub(crate) fn checkpoints(
    connection: &Connection,
    filter: &CheckpointFilter,
    after: Option<&CheckpointKey>,
    limit: usize,
) -> Result<Vec<CheckpointInfo>> {
    let mut values = vec![Value::Integer(limit_to_sql(limit))];
    let after = match after {
        Some(key) => {
            let key = [&key.group, &key.subscription, &key.stream];
            values.extend(key.map(|column| Value::Text(column.clone())));
            "(group_name, subscription, stream_name) > (?2, ?3, ?4)"
        }
        None => "TRUE",
    };
    let matching = matching(filter, &mut values);
    let mut statement = connection
        .prepare(&format!(
            "SELECT {INFO_COLUMNS} FROM checkpoints WHERE {after} AND {matching}
             ORDER BY group_name, subscription, stream_name LIMIT ?1"
        ))
        .map_err(sqlite)?;
    let now = now();
    let rows = statement
        .query_map(params_from_iter(&values), |row| info(row, now))
        .map_err(sqlite)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sqlite)
}

/// How many checkpoints match `filter`.
pub(crate) fn count_checkpoints(connection: &Connection, filter: &CheckpointFilter) -> Result<u64> {
    let mut values = Vec::new();
    let matching = matching(filter, &mut values);
    connection
        .query_row(
            &format!("SELECT count(*) FROM checkpoints WHERE {matching}"),
            params_from_iter(&values),
            |row| row.get(0),
        )
        .map_err(sqlite)
}

/// The checkpoints an operator's action changed: how many, and the groups
/// they are in, whose consumers have work.
#[derive(Debug, Default)]
pub(crate) struct Acted {
    pub count: u64,
    pub groups: BTreeSet<String>,
}

/// Sets `set` on the checkpoints that meet `condition`, with `values` as
/// the parameters of both.
fn act(connection: &Connection, set: &str, condition: &str, values: &[Value]) -> Result<Acted> {
    let mut statement = connection
        .prepare(&format!(
            "UPDATE checkpoints SET {set} WHERE {condition} RETURNING group_name"
        ))
        .map_err(sqlite)?;
    let groups = statement
        .query_map(params_from_iter(values), |row| row.get(0))
        .map_err(sqlite)?;
    let mut acted = Acted::default();
    for group in groups {
        acted.count += 1;
        acted.groups.insert(group.map_err(sqlite)?);
    }
    Ok(acted)
}

/// Makes the failed checkpoints matching `filter` due now, from the
/// message that failed, with no attempts counted.
pub(crate) fn retry_failed(connection: &Connection, filter: &CheckpointFilter) -> Result<Acted> {
    let mut values = vec![Value::Integer(now())];
    let failed = format!("status = 'failed' AND {}", matching(filter, &mut values));
    act(
        connection,
        "status = 'retry', attempts = 0, process_at = ?1, updated_at = ?1",
        &failed,
        &values,
    )
}

/// Moves the failed checkpoints matching `filter` past the message that
/// failed, recording each skip.
pub(crate) fn skip_failed(connection: &Connection, filter: &CheckpointFilter) -> Result<Acted> {
    let mut values = vec![Value::Integer(now())];
    let failed = format!("status = 'failed' AND {}", matching(filter, &mut values));
    // The failing message is the next: a stream's positions have no gap.
    connection
        .execute(
            &format!(
                "INSERT INTO skipped_messages (group_name, subscription, stream_name,
                     stream_position, attempts, last_error, skipped_at)
                 SELECT group_name, subscription, stream_name, stream_position + 1, attempts,
                     last_error, ?1
                 FROM checkpoints WHERE {failed}"
            ),
            params_from_iter(&values),
        )
        .map_err(sqlite)?;
    act(
        connection,
        "stream_position = stream_position + 1, status = 'active', attempts = 0,
             last_error = NULL, process_at = ?1, updated_at = ?1",
        &failed,
        &values,
    )
}

/// Ends the reservations a process holds on the checkpoints matching
/// `filter`, making them due now.
pub(crate) fn release_reserved(
    connection: &Connection,
    filter: &CheckpointFilter,
) -> Result<Acted> {
    let mut values = vec![Value::Integer(now())];
    let held = format!("reserved_until > ?1 AND {}", matching(filter, &mut values));
    act(
        connection,
        "reserved_by = NULL, reserved_until = NULL, process_at = ?1",
        &held,
        &values,
    )
}
