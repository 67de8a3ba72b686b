//! The engine's record of the recurring jobs each group declares. All of
//! its SQL is here.

use crate::error::db;
use beckett_core::state::{DeclaredJob, KnownJob, RecurringJobInfo, RemovedJob};
use beckett_core::{Result, Schema};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// The `recurring_jobs` table.
#[derive(Debug, Clone)]
pub(crate) struct RecurringJobs {
    pool: PgPool,
    declare: String,
    remove_others: String,
    list: String,
}

impl RecurringJobs {
    pub fn new(pool: PgPool, schema: &Schema) -> Self {
        let s = schema.quoted();
        Self {
            pool,
            // A job declared again after its removal counts as new.
            declare: format!(
                "INSERT INTO {s}.recurring_jobs AS j
                    (group_name, name, cron, schedule, schedule_of, stream_name)
                SELECT $1, n.name, n.cron, n.schedule, n.cron, n.stream
                FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
                    AS n (name, cron, schedule, stream)
                ON CONFLICT (group_name, name) DO UPDATE
                SET cron = EXCLUDED.cron, schedule = EXCLUDED.schedule,
                    schedule_of = EXCLUDED.schedule_of,
                    stream_name = EXCLUDED.stream_name, removed_at = NULL,
                    declared_at = CASE WHEN j.removed_at IS NULL THEN j.declared_at ELSE now() END
                RETURNING name, declared_at, clock_timestamp()"
            ),
            remove_others: format!(
                "UPDATE {s}.recurring_jobs SET removed_at = now()
                WHERE group_name = $1 AND removed_at IS NULL AND name <> ALL($2)
                RETURNING name, cron, stream_name"
            ),
            list: format!(
                // A schedule compiled from another expression than the one
                // an older version declared since is not the job's.
                "SELECT group_name, name, cron,
                    CASE WHEN schedule_of = cron THEN schedule END,
                    stream_name, declared_at, removed_at
                FROM {s}.recurring_jobs
                ORDER BY group_name COLLATE \"C\", name COLLATE \"C\""
            ),
        }
    }

    /// Records the jobs `group` declares now; returns, for each, when it
    /// was first declared, with the database's clock at the time of the
    /// answer.
    pub async fn declare(&self, group: &str, jobs: &[DeclaredJob<'_>]) -> Result<Vec<KnownJob>> {
        let rows: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(&self.declare)
            .bind(group)
            .bind(jobs.iter().map(|j| j.name).collect::<Vec<_>>())
            .bind(jobs.iter().map(|j| j.cron).collect::<Vec<_>>())
            .bind(jobs.iter().map(|j| j.schedule).collect::<Vec<_>>())
            .bind(jobs.iter().map(|j| j.stream).collect::<Vec<_>>())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(name, declared_at, store_now)| KnownJob {
                name,
                declared_at,
                store_now,
            })
            .collect())
    }

    /// Marks removed the jobs `group` declared before but not among
    /// `declared`, and returns them.
    pub async fn remove_others(&self, group: &str, declared: &[&str]) -> Result<Vec<RemovedJob>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(&self.remove_others)
            .bind(group)
            .bind(declared)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(name, cron, stream)| RemovedJob { name, cron, stream })
            .collect())
    }

    /// Every job, removed ones too, in group and name order.
    pub async fn list(&self) -> Result<Vec<RecurringJobInfo>> {
        type Row = (
            String,
            String,
            String,
            Option<String>,
            String,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
        );
        let rows: Vec<Row> = sqlx::query_as(&self.list)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(
                |(group, name, cron, schedule, stream, declared_at, removed_at)| RecurringJobInfo {
                    group,
                    name,
                    cron,
                    schedule,
                    stream,
                    declared_at,
                    removed_at,
                },
            )
            .collect())
    }
}
