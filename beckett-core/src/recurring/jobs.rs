//! The recurring jobs declared in a store, as operators see them and run
//! them now.

use super::runs::LastRun;
use super::stream::{append_after, newest, Newest};
use super::Occurrence;
use crate::error::Result;
use crate::state::{CheckpointFilter, CheckpointStatus, EngineStorage, RecurringJobInfo, Storage};
use crate::store::MessageStorage;
use chrono::{DateTime, Utc};
use cron::Schedule;
use serde::Serialize;
use std::str::FromStr;
use std::sync::Arc;

/// How many of a job's next occurrences a listing gives.
const NEXT: usize = 5;

/// The recurring jobs declared in a store: when each runs next, how its
/// last run went, and a run now, out of its schedule.
///
/// ```no_run
/// # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
/// use beckett::recurring::RecurringJobs;
///
/// let jobs = RecurringJobs::new(store);
/// for job in jobs.list().await? {
///     let outcome = job.last_run.map(|run| run.outcome.to_string());
///     println!("{}/{} `{}`: {outcome:?}", job.info.group, job.info.name, job.info.cron);
/// }
/// println!("{}", jobs.run_now("Reporting", "hourly_report").await?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RecurringJobs {
    storage: Storage,
}

/// A recurring job as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecurringJob {
    /// The job as its group declared it.
    #[serde(flatten)]
    pub info: RecurringJobInfo,
    /// Its next occurrences, soonest first (empty once it is removed);
    /// `None` for a job last declared by a version that did not record its
    /// schedule.
    pub next: Option<Vec<DateTime<Utc>>>,
    /// Its newest occurrence and how its run went; `None` before its first.
    pub last_run: Option<LastRun>,
}

/// What came of a [`RecurringJobs::run_now`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunNow {
    /// An occurrence for now was appended at `position` of the job's
    /// `stream`: the job's subscription runs it at once.
    Appended {
        /// The job's stream.
        stream: String,
        /// The occurrence's position in it.
        position: i64,
    },
    /// No recurring job of that name was declared in that group.
    Unknown {
        /// The group asked for.
        group: String,
        /// The name asked for.
        name: String,
    },
    /// The job's group no longer declares it, so no process would run it.
    Removed {
        /// The job's group.
        group: String,
        /// The job's name.
        name: String,
        /// When its group stopped declaring it.
        removed_at: DateTime<Utc>,
    },
    /// The job's last run failed: its stream waits for an operator to
    /// retry or skip that run, and would hold a run asked for behind it.
    Failed {
        /// The job's group.
        group: String,
        /// The job's name.
        name: String,
    },
}

impl std::fmt::Display for RunNow {
    /// What was done, or why not, naming the job.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Appended { stream, position } => {
                write!(f, "runs now: occurrence #{position} of `{stream}`")
            }
            Self::Unknown { group, name } => write!(
                f,
                "not run: no recurring job `{name}` is declared in group `{group}`"
            ),
            Self::Removed {
                group,
                name,
                removed_at,
            } => write!(
                f,
                "not run: recurring job `{name}` of group `{group}` was removed at \
                 {removed_at}: no program of its group declares it any more, so none would run it"
            ),
            Self::Failed { group, name } => write!(
                f,
                "not run: the last run of recurring job `{name}` of group `{group}` failed, and                  its stream waits behind it: retry it (which runs the job now) or skip it first"
            ),
        }
    }
}

impl std::fmt::Debug for RecurringJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecurringJobs").finish_non_exhaustive()
    }
}

impl RecurringJobs {
    /// The recurring jobs of a store that holds both the messages and the
    /// engine's state.
    pub fn new<S: MessageStorage + EngineStorage>(store: S) -> Self {
        Self::on(Storage::together(Arc::new(store)))
    }

    /// The recurring jobs of `storage`: declared in its state store, their
    /// occurrences in its message store.
    pub fn on(storage: Storage) -> Self {
        Self { storage }
    }

    /// Every job declared, removed ones too, in group and name order, with
    /// its next occurrences and its last run.
    pub async fn list(&self) -> Result<Vec<RecurringJob>> {
        let now = Utc::now();
        let mut jobs = Vec::new();
        for info in self.storage.engine().recurring_jobs().await? {
            let next = upcoming(&info, now);
            let last_run = self.last_run(&info).await?;
            jobs.push(RecurringJob {
                info,
                next,
                last_run,
            });
        }
        Ok(jobs)
    }

    /// Runs a job now, once: appends an occurrence for now to its stream,
    /// which its subscription runs at once in a process of its group. Its
    /// schedule goes on as before: the occurrence says it was asked for,
    /// so the next scheduled one fires, once, when due. When a scheduled
    /// occurrence is appended before the subscription takes this one up,
    /// the job runs once, for the newer, as for any backlog.
    pub async fn run_now(&self, group: &str, name: &str) -> Result<RunNow> {
        let jobs = self.storage.engine().recurring_jobs().await?;
        let Some(job) = jobs
            .into_iter()
            .find(|j| j.group == group && j.name == name)
        else {
            return Ok(RunNow::Unknown {
                group: group.to_owned(),
                name: name.to_owned(),
            });
        };
        if let Some(removed_at) = job.removed_at {
            return Ok(RunNow::Removed {
                group: job.group,
                name: job.name,
                removed_at,
            });
        }
        let failed = CheckpointFilter::one(&job.group, &job.name, &job.stream)
            .status(CheckpointStatus::Failed);
        if self.storage.engine().count_checkpoints(&failed).await? > 0 {
            return Ok(RunNow::Failed {
                group: job.group,
                name: job.name,
            });
        }
        let store = &**self.storage.messages();
        loop {
            let newest = newest(store, &job.stream).await?;
            let occurrence = Occurrence {
                job: job.name.clone(),
                scheduled_at: Utc::now(),
                run_now_after: Some(newest.as_ref().map_or(job.declared_at, Newest::since)),
            };
            // `None`: an occurrence was fired meanwhile; go on from it.
            if let Some(position) =
                append_after(store, &job.stream, newest.as_ref(), &occurrence).await?
            {
                return Ok(RunNow::Appended {
                    stream: job.stream,
                    position,
                });
            }
        }
    }

    /// The job's newest occurrence, with what its subscription's checkpoint
    /// on its stream says of it.
    async fn last_run(&self, job: &RecurringJobInfo) -> Result<Option<LastRun>> {
        let Some(newest) = newest(&**self.storage.messages(), &job.stream).await? else {
            return Ok(None);
        };
        let filter = CheckpointFilter::one(&job.group, &job.name, &job.stream);
        let checkpoint = self.storage.engine().checkpoints(&filter, None, 1).await?;
        Ok(Some(LastRun::of(newest, checkpoint.first())))
    }
}

/// The job's next occurrences after `now`, by the schedule its group
/// declared: `None` for a job last declared by a version that did not
/// record it, or whose stored schedule does not read.
fn upcoming(job: &RecurringJobInfo, now: DateTime<Utc>) -> Option<Vec<DateTime<Utc>>> {
    if job.removed_at.is_some() {
        return Some(Vec::new());
    }
    let stored = job.schedule.as_deref()?;
    match Schedule::from_str(stored) {
        Ok(schedule) => Some(schedule.after(&now).take(NEXT).collect()),
        Err(error) => {
            tracing::warn!(group = job.group, job = job.name, schedule = stored, %error,
                "a recurring job's stored schedule does not read; its next occurrences are unknown");
            None
        }
    }
}
