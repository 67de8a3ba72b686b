//! What subscriptions did, a minute at a time, on Postgres: every process
//! adds its counts to the minute's row. All of its SQL is here.

use crate::error::db;
use beckett_core::state::MinuteStats;
use beckett_core::{Result, Schema};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;
use std::sync::Arc;

/// The statements on the schema's minutes.
#[derive(Debug, Clone)]
pub(crate) struct Minutes {
    pool: PgPool,
    sql: Arc<Statements>,
}

impl Minutes {
    /// The statements on `schema`'s tables, run on `pool`.
    pub fn new(pool: PgPool, schema: &Schema) -> Self {
        Self {
            pool,
            sql: Arc::new(Statements::new(schema)),
        }
    }

    /// Adds `minutes` to their rows, and forgets those of a day ago.
    pub async fn record(&self, minutes: &[MinuteStats]) -> Result<()> {
        let column = |get: fn(&MinuteStats) -> i64| minutes.iter().map(get).collect::<Vec<_>>();
        sqlx::query(&self.sql.record)
            .bind(minutes.iter().map(|m| m.group.as_str()).collect::<Vec<_>>())
            .bind(
                minutes
                    .iter()
                    .map(|m| m.subscription.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(minutes.iter().map(|m| m.minute).collect::<Vec<_>>())
            .bind(column(|m| count(m.handled)))
            .bind(column(|m| count(m.failed)))
            .bind(column(|m| count(m.max_lag_ms)))
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// The minutes kept from `since` on, in order of minute.
    pub async fn since(&self, since: DateTime<Utc>) -> Result<Vec<MinuteStats>> {
        let rows: Vec<(String, String, DateTime<Utc>, i64, i64, i64)> =
            sqlx::query_as(&self.sql.since)
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(
                |(group, subscription, minute, handled, failed, lag)| MinuteStats {
                    group,
                    subscription,
                    minute,
                    handled: handled.unsigned_abs(),
                    failed: failed.unsigned_abs(),
                    max_lag_ms: lag.unsigned_abs(),
                },
            )
            .collect())
    }
}

/// A count as a column holds it.
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[derive(Debug)]
struct Statements {
    record: String,
    since: String,
}

impl Statements {
    fn new(schema: &Schema) -> Self {
        let s = schema.quoted();
        Self {
            // Rows in key order, so that two processes adding to the same
            // minutes never wait on each other in a circle.
            record: format!(
                "WITH forgotten AS (
                    DELETE FROM {s}.subscription_minutes WHERE minute < now() - interval '1 day'
                )
                INSERT INTO {s}.subscription_minutes AS m
                    (group_name, subscription, minute, handled, failed, max_lag_ms)
                SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[],
                    $4::bigint[], $5::bigint[], $6::bigint[])
                    AS n (group_name, subscription, minute, handled, failed, max_lag_ms)
                ORDER BY n.group_name COLLATE \"C\", n.subscription COLLATE \"C\", n.minute
                ON CONFLICT (group_name, subscription, minute) DO UPDATE SET
                    handled = m.handled + EXCLUDED.handled,
                    failed = m.failed + EXCLUDED.failed,
                    max_lag_ms = greatest(m.max_lag_ms, EXCLUDED.max_lag_ms)"
            ),
            since: format!(
                "SELECT group_name, subscription, minute, handled, failed, max_lag_ms
                FROM {s}.subscription_minutes WHERE minute >= $1
                ORDER BY minute, group_name COLLATE \"C\", subscription COLLATE \"C\""
            ),
        }
    }
}
