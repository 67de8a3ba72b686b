//! The engine's record of the recurring jobs each group declares. All of
//! its SQL is here.

use crate::error::Result;
use crate::migrate::Schema;
use sqlx::PgPool;

/// A job as its group declares it.
pub(crate) struct DeclaredJob<'a> {
    pub name: &'a str,
    pub cron: &'a str,
    pub stream: &'a str,
}

/// The `recurring_jobs` table.
#[derive(Debug, Clone)]
pub(crate) struct RecurringJobs {
    pool: PgPool,
    declare: String,
}

impl RecurringJobs {
    pub fn new(pool: PgPool, schema: &Schema) -> Self {
        let s = schema.quoted();
        Self {
            pool,
            declare: format!(
                "WITH declared AS (
                    INSERT INTO {s}.recurring_jobs (group_name, name, cron, stream_name)
                    SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[])
                    ON CONFLICT (group_name, name) DO UPDATE
                    SET cron = EXCLUDED.cron, stream_name = EXCLUDED.stream_name, removed_at = NULL
                )
                UPDATE {s}.recurring_jobs SET removed_at = now()
                WHERE group_name = $1 AND removed_at IS NULL AND name <> ALL($2)
                RETURNING name, cron, stream_name"
            ),
        }
    }

    /// Records the jobs `group` declares now, and marks removed the ones
    /// it declared before but no longer does; returns those, as `(name,
    /// cron, stream)`.
    pub async fn declare(
        &self,
        group: &str,
        jobs: &[DeclaredJob<'_>],
    ) -> Result<Vec<(String, String, String)>> {
        Ok(sqlx::query_as(&self.declare)
            .bind(group)
            .bind(jobs.iter().map(|j| j.name).collect::<Vec<_>>())
            .bind(jobs.iter().map(|j| j.cron).collect::<Vec<_>>())
            .bind(jobs.iter().map(|j| j.stream).collect::<Vec<_>>())
            .fetch_all(&self.pool)
            .await?)
    }
}
