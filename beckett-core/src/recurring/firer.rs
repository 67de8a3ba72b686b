//! Firing recurring jobs: every process of a group wakes at each
//! occurrence and appends it to the job's stream at the version it last
//! read, so exactly one append per occurrence succeeds.

use super::schedule::{due, next, parse};
use super::stream::{append_after, newest, Newest};
use super::{Occurrence, RecurringDescriptor};
use crate::backoff::Backoff;
use crate::error::Result;
use crate::state::{DeclaredJob, EngineStorage, KnownJob};
use crate::store::MessageStorage;
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
            schedule: job.schedule,
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
        let newest = newest(store, job.stream()).await?;
        let now = clock.now();
        let since = newest.as_ref().map_or(*declared_at, Newest::since);
        let Some(scheduled_at) = due(schedule, since, now) else {
            return Ok(next(schedule, since.max(now)));
        };
        let occurrence = Occurrence::new(job.subscription.name, scheduled_at);
        // `None`: another process fired it first, so read again.
        if append_after(store, job.stream(), newest.as_ref(), &occurrence)
            .await?
            .is_some()
        {
            tracing::debug!(job = job.subscription.name, %scheduled_at, "fired recurring job");
            return Ok(next(schedule, now));
        }
    }
}
