//! Firing recurring jobs: every process of a group wakes at each
//! occurrence and appends it to the job's stream at the version it last
//! read, so exactly one append per occurrence succeeds.

use super::schedule::{due, next};
use super::{Occurrence, RecurringDescriptor};
use crate::error::{Error, Result};
use crate::message::NewMessage;
use crate::store::{DeclaredJob, ExpectedVersion, MessageStorage, PostgresStore, RecurringJobs};
use chrono::{DateTime, Utc};
use cron::Schedule;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Records the jobs `group` declares, logging each job it no longer
/// declares: that job's schedule has stopped.
pub(crate) async fn declare(
    jobs_table: &RecurringJobs,
    group: &str,
    jobs: &[&'static RecurringDescriptor],
) -> Result<()> {
    let declared: Vec<DeclaredJob<'_>> = jobs
        .iter()
        .map(|job| DeclaredJob {
            name: job.subscription.name,
            cron: job.cron,
            stream: job.stream(),
        })
        .collect();
    for (name, cron, stream) in jobs_table.declare(group, &declared).await? {
        tracing::warn!(
            group, job = name, cron, stream,
            "recurring job is no longer declared: its schedule has stopped; its occurrences stay in its stream"
        );
    }
    Ok(())
}

/// Fires `job`'s occurrences until shutdown. Errors are logged and retried
/// after a backoff.
pub(crate) async fn run(
    store: PostgresStore,
    job: &'static RecurringDescriptor,
    schedule: Schedule,
    shutdown: CancellationToken,
) {
    let name = job.subscription.name;
    let first_seen = Utc::now();
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        let pause = match fire_due(&store, job, &schedule, first_seen).await {
            Ok(Some(next)) => {
                backoff = Duration::from_millis(100);
                (next - Utc::now()).to_std().unwrap_or_default()
            }
            Ok(None) => {
                tracing::info!(
                    job = name,
                    cron = job.cron,
                    "recurring job has no more occurrences"
                );
                return;
            }
            Err(error) => {
                tracing::warn!(job = name, %error, "cannot fire recurring job; retrying");
                backoff = (backoff * 2).min(Duration::from_secs(5));
                backoff
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

/// Fires the newest occurrence due since the last one fired (or, for a job
/// never fired, since `first_seen`), unless another process did; returns
/// when the next one is due.
async fn fire_due(
    store: &PostgresStore,
    job: &RecurringDescriptor,
    schedule: &Schedule,
    first_seen: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    loop {
        let (version, last) = last_occurrence(store, job).await?;
        let now = Utc::now();
        let since = last.unwrap_or(first_seen);
        let Some(scheduled_at) = due(schedule, since, now) else {
            return Ok(next(schedule, since.max(now)));
        };
        let occurrence = NewMessage::new(&Occurrence::new(job.subscription.name, scheduled_at))?;
        let fired = store
            .append(
                job.stream(),
                ExpectedVersion::Exact(version),
                vec![occurrence],
            )
            .await;
        match fired {
            Ok(_) => {
                tracing::debug!(job = job.subscription.name, %scheduled_at, "fired recurring job");
                return Ok(next(schedule, now));
            }
            // Another process fired it first: read again.
            Err(Error::WrongExpectedVersion { .. }) => {}
            Err(error) => return Err(error),
        }
    }
}

/// The job stream's version and the time of the occurrence fired last.
async fn last_occurrence(
    store: &PostgresStore,
    job: &RecurringDescriptor,
) -> Result<(i64, Option<DateTime<Utc>>)> {
    let Some(last) = store.last_message(job.stream()).await? else {
        return Ok((0, None));
    };
    let fired_for = match last.decode::<Occurrence>() {
        Ok(occurrence) => occurrence.scheduled_at,
        Err(error) => {
            // Something else was appended to the job's stream; its time
            // stands in for the occurrence's.
            tracing::warn!(job = job.subscription.name, %error, "the last message of a recurring job's stream is not an occurrence");
            last.timestamp
        }
    };
    Ok((last.position, Some(fired_for)))
}
