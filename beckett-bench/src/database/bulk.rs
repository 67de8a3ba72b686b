//! Stores built by SQL rather than through the API: the many messages,
//! checkpoints and due times some scenarios need in place before they
//! start, written in seconds instead of minutes.

use super::{on_sqlite, BenchDatabase, BenchResult, Kind};
use crate::handlers::Job;
use beckett::Message;
use chrono::{DateTime, Utc};
use rusqlite::params;

/// How many messages one statement of [`BenchDatabase::fill`] writes.
const CHUNK: u64 = 1_000_000;

impl BenchDatabase {
    /// Writes `streams` streams named `{prefix}-{k}` of `per_stream` jobs
    /// each, stream after stream, as appends would leave them.
    pub async fn fill(&self, prefix: &str, streams: u64, per_stream: u64) -> BenchResult<()> {
        let chunk = (CHUNK / per_stream).max(1);
        for first in (0..streams).step_by(chunk as usize) {
            let end = (first + chunk).min(streams);
            self.fill_streams(prefix, first..end, per_stream).await?;
        }
        Ok(())
    }

    async fn fill_streams(
        &self,
        prefix: &str,
        streams: std::ops::Range<u64>,
        per_stream: u64,
    ) -> BenchResult<()> {
        let (first, end) = (
            (streams.start * per_stream) as i64,
            (streams.end * per_stream) as i64,
        );
        let per_stream = per_stream as i64;
        match &self.kind {
            Kind::Postgres { pool, .. } => {
                sqlx::query(
                    "INSERT INTO beckett.messages (id, stream_name, stream_position, type, data)
                     SELECT gen_random_uuid(), $1 || '-' || (i / $2), i % $2 + 1, $3,
                         jsonb_build_object('n', i)
                     FROM generate_series($4::bigint, $5::bigint - 1) AS i",
                )
                .bind(prefix)
                .bind(per_stream)
                .bind(Job::NAME)
                .bind(first)
                .bind(end)
                .execute(pool)
                .await?;
                sqlx::query(
                    "INSERT INTO beckett.streams (stream_name, version)
                     SELECT $1 || '-' || k, $2 FROM generate_series($3::bigint, $4::bigint - 1) AS k",
                )
                .bind(prefix)
                .bind(per_stream)
                .bind(streams.start as i64)
                .bind(streams.end as i64)
                .execute(pool)
                .await?;
                Ok(())
            }
            Kind::Sqlite { path } => {
                let prefix = prefix.to_owned();
                on_sqlite(path, move |connection| {
                    connection.execute(
                        "WITH RECURSIVE i(n) AS (
                             SELECT ?4 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < ?5)
                         INSERT INTO messages
                             (id, stream_name, stream_position, type, data, metadata, timestamp)
                         SELECT randomblob(16), ?1 || '-' || (n / ?2), n % ?2 + 1, ?3,
                             json_object('n', n), '{}', ?6
                         FROM i",
                        params![
                            prefix,
                            per_stream,
                            Job::NAME,
                            first,
                            end,
                            micros(Utc::now())
                        ],
                    )
                })
                .await?;
                Ok(())
            }
        }
    }

    /// Records the streams `{prefix}-0` up to `{prefix}-{streams - 1}` as
    /// handled up to `version` by `subscription` of `group`.
    pub async fn handled_checkpoints(
        &self,
        (group, subscription): (&str, &str),
        prefix: &str,
        streams: u64,
        version: u64,
    ) -> BenchResult<()> {
        let (streams, version) = (streams as i64, version as i64);
        match &self.kind {
            Kind::Postgres { pool, .. } => {
                sqlx::query(
                    "INSERT INTO beckett.checkpoints
                         (group_name, subscription, stream_name, stream_version, stream_position)
                     SELECT $1, $2, $3 || '-' || k, $4, $4
                     FROM generate_series(0, $5::bigint - 1) AS k",
                )
                .bind(group)
                .bind(subscription)
                .bind(prefix)
                .bind(version)
                .bind(streams)
                .execute(pool)
                .await?;
                Ok(())
            }
            Kind::Sqlite { path } => {
                let (group, subscription, prefix) =
                    (group.to_owned(), subscription.to_owned(), prefix.to_owned());
                on_sqlite(path, move |connection| {
                    connection.execute(
                        "WITH RECURSIVE k(n) AS (
                             SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n + 1 < ?5)
                         INSERT INTO checkpoints (group_name, subscription, stream_name,
                             stream_version, stream_position, process_at, updated_at)
                         SELECT ?1, ?2, ?3 || '-' || n, ?4, ?4, ?6, ?6 FROM k",
                        params![
                            group,
                            subscription,
                            prefix,
                            version,
                            streams,
                            micros(Utc::now())
                        ],
                    )
                })
                .await?;
                Ok(())
            }
        }
    }

    /// Registers `subscription` of `group`, selecting jobs, past every
    /// message in the store, as if it had read them all.
    pub async fn caught_up(&self, group: &str, subscription: &str) -> BenchResult<()> {
        match &self.kind {
            Kind::Postgres { pool, .. } => {
                sqlx::query(
                    "INSERT INTO beckett.subscriptions
                         (group_name, name, transaction_id, global_position, message_types)
                     SELECT $1, $2, transaction_id, global_position, ARRAY[$3]
                     FROM beckett.messages
                     ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
                )
                .bind(group)
                .bind(subscription)
                .bind(Job::NAME)
                .execute(pool)
                .await?;
                Ok(())
            }
            Kind::Sqlite { path } => {
                let (group, subscription) = (group.to_owned(), subscription.to_owned());
                on_sqlite(path, move |connection| {
                    connection.execute(
                        "INSERT INTO subscriptions (group_name, name, transaction_id,
                             global_position, pending, message_types, created_at)
                         SELECT ?1, ?2, 0, max(global_position), '[]', json_array(?3), ?4
                         FROM messages",
                        params![group, subscription, Job::NAME, micros(Utc::now())],
                    )
                })
                .await?;
                Ok(())
            }
        }
    }

    /// Makes every scheduled message due at `at`.
    pub async fn all_due_at(&self, at: DateTime<Utc>) -> BenchResult<()> {
        match &self.kind {
            Kind::Postgres { pool, .. } => {
                sqlx::query("UPDATE beckett.scheduled_messages SET deliver_at = $1")
                    .bind(at)
                    .execute(pool)
                    .await?;
                Ok(())
            }
            Kind::Sqlite { path } => {
                on_sqlite(path, move |connection| {
                    connection.execute(
                        "UPDATE scheduled_messages SET deliver_at = ?1",
                        [micros(at)],
                    )
                })
                .await?;
                Ok(())
            }
        }
    }

    /// Vacuums and analyzes the tables, as a long-lived store's
    /// maintenance would have.
    pub async fn settle(&self) -> BenchResult<()> {
        match &self.kind {
            Kind::Postgres { pool, .. } => {
                sqlx::raw_sql(
                    "VACUUM ANALYZE beckett.messages, beckett.streams, beckett.checkpoints,
                         beckett.subscriptions",
                )
                .execute(pool)
                .await?;
                Ok(())
            }
            Kind::Sqlite { path } => {
                on_sqlite(path, |connection| connection.execute("ANALYZE", [])).await?;
                Ok(())
            }
        }
    }
}

/// A time as the SQLite tables hold it: microseconds since the epoch.
fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}
