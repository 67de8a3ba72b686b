//! Firing recurring jobs: every process of a group wakes at each
//! occurrence and appends it to the job's stream at the version it last
//! read, so exactly one append per occurrence succeeds.

use super::schedule::{due, next, parse};
use super::{Occurrence, RecurringDescriptor};
use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::message::NewMessage;
use crate::state::{DeclaredJob, EngineStorage, KnownJob};
use crate::store::MessageStorage;
use crate::version::ExpectedVersion;
use chrono::{DateTime, TimeDelta, Utc};
use cron::Schedule;
use tokio_util::sync::CancellationToken;

/// Reads the database's time: the local clock plus the offset measured
/// when the jobs were declared, so every process fires by one clock.
#[derive(Debug, Clone, Copy)]
struct StoreClock(TimeDelta);

impl StoreClock {
    fn now(self) -> DateTime<Utc> {
        Utc::now() + self.0
    }
}

/// A declared job, ready to fire.
pub(crate) struct Firing {
    job: &'static RecurringDescriptor,
    schedule: Schedule,
    /// When the job was first declared: a job never fired fires first at
    /// the occurrence after that.
    declared_at: DateTime<Utc>,
    clock: StoreClock,
}

/// Records the jobs `group` declares and logs each job it no longer
/// declares: that job's schedule has stopped. Returns the jobs, ready to
/// fire.
pub(crate) async fn declare(
    state: &dyn EngineStorage,
    group: &str,
    jobs: &[&'static RecurringDescriptor],
) -> Result<Vec<Firing>> {
    let declared: Vec<DeclaredJob<'_>> = jobs
        .iter()
        .map(|job| DeclaredJob {
            name: job.subscription.name,
            cron: job.cron,
            stream: job.stream(),
        })
        .collect();
    let mut firings = Vec::new();
    if !declared.is_empty() {
        for KnownJob {
            name,
            declared_at,
            store_now,
        } in state.declare_jobs(group, &declared).await?
        {
            let clock = StoreClock(store_now - Utc::now());
            let job = *jobs
                .iter()
                .find(|job| job.subscription.name == name)
                .expect("the statement returns the jobs it was given");
            firings.push(Firing {
                job,
                schedule: parse(job)?,
                declared_at,
                clock,
            });
        }
    }
    let names: Vec<&str> = declared.iter().map(|job| job.name).collect();
    for removed in state.remove_other_jobs(group, &names).await? {
        tracing::warn!(
            group,
            job = removed.name,
            cron = removed.cron,
            stream = removed.stream,
            "recurring job is no longer declared: its schedule has stopped; its occurrences stay in its stream"
        );
    }
    Ok(firings)
}

/// Fires the job's occurrences until shutdown. Errors are logged and
/// retried after a backoff.
pub(crate) async fn run(store: &dyn MessageStorage, firing: Firing, shutdown: CancellationToken) {
    let name = firing.job.subscription.name;
    let mut backoff = Backoff::reconnecting();
    while !shutdown.is_cancelled() {
        let pause = match fire_due(store, &firing).await {
            Ok(Some(next)) => {
                backoff.reset();
                (next - firing.clock.now()).to_std().unwrap_or_default()
            }
            Ok(None) => {
                tracing::info!(
                    job = name,
                    cron = firing.job.cron,
                    "recurring job has no more occurrences"
                );
                return;
            }
            Err(error) => {
                tracing::warn!(job = name, %error, "cannot fire recurring job; retrying");
                backoff.next()
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

/// Fires the newest occurrence due since the last one fired (or, for a job
/// never fired, since it was declared), unless another process did;
/// returns when the next one is due.
async fn fire_due(store: &dyn MessageStorage, firing: &Firing) -> Result<Option<DateTime<Utc>>> {
    let Firing {
        job,
        schedule,
        declared_at,
        clock,
    } = firing;
    loop {
        let (version, last) = last_occurrence(store, job).await?;
        let now = clock.now();
        let since = last.unwrap_or(*declared_at);
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
    store: &dyn MessageStorage,
    job: &RecurringDescriptor,
) -> Result<(i64, Option<DateTime<Utc>>)> {
    let Some(last) = store.last_message(job.stream()).await? else {
        return Ok((0, None));
    };
    let last = last.decode()?;
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
