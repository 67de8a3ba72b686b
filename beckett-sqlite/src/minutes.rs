//! What subscriptions did, a minute at a time, on SQLite: every process
//! adds its counts to the minute's row. All of its SQL is here.

use crate::error::sqlite;
use crate::messages::{from_micros, micros};
use beckett_core::state::MinuteStats;
use beckett_core::Result;
use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{params, Connection};

/// Adds `minutes` to their rows, and forgets those of a day ago.
pub(crate) fn record(connection: &Connection, minutes: &[MinuteStats]) -> Result<()> {
    let day_ago = micros(Utc::now() - TimeDelta::days(1));
    connection
        .prepare_cached("DELETE FROM subscription_minutes WHERE minute < ?1")
        .and_then(|mut forget| forget.execute([day_ago]))
        .map_err(sqlite)?;
    let mut add = connection
        .prepare_cached(
            "INSERT INTO subscription_minutes AS m
                (group_name, subscription, minute, handled, failed, max_lag_ms)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6)
            ON CONFLICT (group_name, subscription, minute) DO UPDATE SET
                handled = m.handled + excluded.handled,
                failed = m.failed + excluded.failed,
                max_lag_ms = max(m.max_lag_ms, excluded.max_lag_ms)",
        )
        .map_err(sqlite)?;
    for m in minutes {
        let counts =
            [m.handled, m.failed, m.max_lag_ms].map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        add.execute(params![
            m.group,
            m.subscription,
            micros(m.minute),
            counts[0],
            counts[1],
            counts[2]
        ])
        .map_err(sqlite)?;
    }
    Ok(())
}

/// The minutes kept from `since` on, in order of minute.
pub(crate) fn since(connection: &Connection, since: DateTime<Utc>) -> Result<Vec<MinuteStats>> {
    let mut statement = connection
        .prepare_cached(
            "SELECT group_name, subscription, minute, handled, failed, max_lag_ms
            FROM subscription_minutes WHERE minute >= ?1
            ORDER BY minute, group_name, subscription",
        )
        .map_err(sqlite)?;
    let rows = statement
        .query_map([micros(since)], |row| {
            Ok(MinuteStats {
                group: row.get(0)?,
                subscription: row.get(1)?,
                minute: from_micros(row.get(2)?),
                handled: row.get(3)?,
                failed: row.get(4)?,
                max_lag_ms: row.get(5)?,
            })
        })
        .map_err(sqlite)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sqlite)
}
