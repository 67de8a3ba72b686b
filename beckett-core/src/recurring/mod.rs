//! Recurring jobs: async fns marked `#[recurring("<cron>", group = ...)]`,
//! run once per occurrence of their schedule across every process of their
//! group.
//!
//! Each occurrence is fired by appending an [`Occurrence`] to the job's own
//! stream, `Recurring-{group}.{name}`, with the stream's expected version,
//! so when several processes reach the same occurrence one append wins and
//! the others see it. A subscription of the job's group and name reads that
//! stream and calls the function, so a job gets retries, the failed state
//! and an operator's retry or skip like any subscription.
//!
//! Occurrences missed while no process of the group ran fire once when one
//! starts again: the newest missed one is fired, the older ones are not.
//! Likewise a job runs once for a backlog of occurrences (after its stream
//! failed and was retried, or when it runs longer than its period), for the
//! newest. A new job fires first at the occurrence after it was first
//! declared. Processes fire by the database's clock. When a job is no
//! longer declared, its schedule stops, the start-up log says so, and its
//! stream keeps its history.
//!
//! [`RecurringJobs`] shows operators every job declared, when it runs next
//! and how its last run went, and runs one now, out of its schedule.
//!
//! The expression has 5 fields (minute, hour, day of month, month, day of
//! week), or 6 or 7 (seconds first, then those five, then an optional
//! year), and is read in UTC. Days of week are numbered as in crontab: 0 or
//! 7 is Sunday, 1 is Monday; `SUN`–`SAT` work too. An expression that is
//! not valid, or that restricts both the day of month and the day of week,
//! does not compile.
//!
//! ```no_run
//! use beckett::Context;
//!
//! /// At minute 0 of every hour.
//! #[beckett::recurring("0 * * * *", group = "Reporting")]
//! async fn hourly_report(ctx: Context) -> beckett::Result<()> {
//!     println!("report for {} (#{})", ctx.stream(), ctx.position());
//!     Ok(())
//! }
//!
//! /// At 09:30:15 on weekdays, retried up to 3 times.
//! #[beckett::recurring("15 30 9 * * MON-FRI", group = "Reporting", name = "digest", max_retries = 3)]
//! async fn weekday_digest() -> Result<(), std::io::Error> {
//!     Ok(())
//! }
//! ```

mod firer;
mod jobs;
mod runs;
mod schedule;
mod stream;

pub(crate) use firer::{declare, run};
pub use jobs::{RecurringJob, RecurringJobs, RunNow};
pub use runs::{LastRun, RunOutcome};

use crate::error::Result;
use crate::message::Message;
use crate::store::Envelope;
use crate::subscription::{Context, SubscriptionDescriptor};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What firing a recurring job appends to its stream: which job, and the
/// time of the occurrence it stands for. An operator's
/// [run now](RecurringJobs::run_now) appends one too, which says so.
///
/// ```no_run
/// # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
/// use beckett::recurring::Occurrence;
/// use beckett::MessageStorage;
///
/// for message in store.read_stream("Recurring-Reporting.hourly_report", 1, 24).await? {
///     let occurrence: Occurrence = message.decode()?;
///     println!("{} fired for {}", occurrence.job, occurrence.scheduled_at);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Occurrence {
    /// The job's name.
    pub job: String,
    /// When the occurrence was due by the job's schedule; for a run an
    /// operator asked for, when they asked.
    pub scheduled_at: DateTime<Utc>,
    /// Set for a run an operator asked for: when the scheduled occurrence
    /// before it was due (or the job declared, if none was yet), which the
    /// schedule goes on from, so the run takes no scheduled occurrence's
    /// place. `None` for an occurrence of the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_now_after: Option<DateTime<Utc>>,
}

impl Occurrence {
    /// The occurrence of `job` due at `scheduled_at`.
    ///
    /// ```
    /// use beckett::recurring::Occurrence;
    ///
    /// let occurrence = Occurrence::new("hourly_report", chrono::Utc::now());
    /// assert_eq!(occurrence.job, "hourly_report");
    /// ```
    pub fn new(job: impl Into<String>, scheduled_at: DateTime<Utc>) -> Self {
        Self {
            job: job.into(),
            scheduled_at,
            run_now_after: None,
        }
    }
}

#[diagnostic::do_not_recommend]
impl Message for Occurrence {
    const NAME: &'static str = "beckett.RecurringOccurrence";
}

/// A recurring job as `#[recurring]` registers it.
#[derive(Debug)]
pub struct RecurringDescriptor {
    /// The cron expression as written.
    pub cron: &'static str,
    /// The same schedule as the `cron` crate reads it: seconds first, days
    /// of week numbered from 1 (Sunday) to 7.
    pub schedule: &'static str,
    /// The subscription that runs the job's occurrences: its group and name
    /// are the job's, it selects [`Occurrence`]s, and its stream is the
    /// job's own.
    pub subscription: SubscriptionDescriptor,
}

impl RecurringDescriptor {
    /// The job's own stream, where its occurrences are appended.
    pub(crate) fn stream(&self) -> &'static str {
        self.subscription
            .stream
            .expect("a recurring job's subscription names its stream")
    }
}

inventory::collect!(RecurringDescriptor);

/// Whether a newer occurrence follows the one in `envelope` in its job's
/// stream, for generated code: a job runs once for a backlog of
/// occurrences (after its stream failed and was retried, or when it runs
/// longer than its period), for the newest.
#[doc(hidden)]
pub async fn superseded(envelope: &Envelope, ctx: &Context) -> Result<bool> {
    let newest = ctx.store().last_message(&envelope.stream).await?;
    Ok(newest.is_some_and(|newest| newest.envelope.position > envelope.position))
}
