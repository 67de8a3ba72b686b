//! A recurring job's last run as operators see it: the newest occurrence in
//! its stream, and what its subscription's checkpoint on that stream says
//! came of it.

use super::stream::Newest;
use crate::state::{CheckpointInfo, CheckpointStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A job's newest occurrence, and how its run went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastRun {
    /// Its position in the job's stream.
    pub position: i64,
    /// When it was due by the schedule, or when an operator asked for it
    /// (when something else was appended to the stream, the time of that).
    pub scheduled_at: DateTime<Utc>,
    /// When it was appended to the job's stream.
    pub appended_at: DateTime<Utc>,
    /// Whether an operator asked for it ([`run_now`](super::RecurringJobs::run_now)).
    pub run_now: bool,
    /// What came of it.
    pub outcome: RunOutcome,
}

impl LastRun {
    /// The run of `newest`, as the checkpoint of the job's subscription on
    /// its stream, if there is one yet, tells.
    pub(super) fn of(newest: Newest, checkpoint: Option<&CheckpointInfo>) -> Self {
        let outcome = RunOutcome::of(newest.position, checkpoint);
        let (scheduled_at, run_now) = match newest.occurrence {
            Some(occurrence) => (occurrence.scheduled_at, occurrence.run_now_after.is_some()),
            None => (newest.appended_at, false),
        };
        Self {
            position: newest.position,
            scheduled_at,
            appended_at: newest.appended_at,
            run_now,
            outcome,
        }
    }
}

/// What came of a job's last run. A run that fails retries, then fails,
/// like any subscription's message: the operator retries or skips it from
/// its checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunOutcome {
    /// It ran, and succeeded (or gave way to a newer occurrence).
    Handled,
    /// A process is running it now.
    Running,
    /// It waits for a process of the job's group to run it.
    Waiting,
    /// It failed, and runs again at `retry_at`.
    Retrying {
        /// Failed attempts so far.
        attempts: u32,
        /// What went wrong last.
        error: String,
        /// When it is tried again.
        retry_at: DateTime<Utc>,
    },
    /// It failed more often than the job's retries allow: the job's stream
    /// waits for an operator to retry or skip it.
    Failed {
        /// Failed attempts.
        attempts: u32,
        /// What went wrong last.
        error: String,
    },
}

impl RunOutcome {
    /// The run at `position` of the job's stream, as its subscription's
    /// `checkpoint` on that stream tells; no checkpoint yet means no
    /// process has taken it up.
    fn of(position: i64, checkpoint: Option<&CheckpointInfo>) -> Self {
        let Some(checkpoint) = checkpoint else {
            return Self::Waiting;
        };
        let error = || checkpoint.last_error.clone().unwrap_or_default();
        match checkpoint.status {
            CheckpointStatus::Failed => Self::Failed {
                attempts: checkpoint.attempts,
                error: error(),
            },
            CheckpointStatus::Retry => Self::Retrying {
                attempts: checkpoint.attempts,
                error: error(),
                retry_at: checkpoint.process_at,
            },
            CheckpointStatus::Active if checkpoint.stream_position >= position => Self::Handled,
            CheckpointStatus::Active if checkpoint.reserved_until.is_some() => Self::Running,
            CheckpointStatus::Active => Self::Waiting,
        }
    }

    /// `handled`, `running`, `waiting`, `retrying` or `failed`.
    ///
    /// ```
    /// use beckett::recurring::RunOutcome;
    ///
    /// assert_eq!(RunOutcome::Handled.as_str(), "handled");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Handled => "handled",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Retrying { .. } => "retrying",
            Self::Failed { .. } => "failed",
        }
    }
}

impl std::fmt::Display for RunOutcome {
    /// The outcome's name, and for a failed run its attempts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Retrying { attempts, .. } | Self::Failed { attempts, .. } => {
                let plural = if *attempts == 1 { "" } else { "s" };
                write!(f, "{} after {attempts} attempt{plural}", self.as_str())
            }
            _ => f.write_str(self.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::CheckpointStatus::{Active, Failed, Retry};

    fn checkpoint(status: CheckpointStatus, position: i64, reserved: bool) -> CheckpointInfo {
        CheckpointInfo {
            group: "Reporting".to_owned(),
            subscription: "hourly".to_owned(),
            stream: "Recurring-Reporting.hourly".to_owned(),
            stream_version: 3,
            stream_position: position,
            status,
            attempts: 2,
            last_error: (status != Active).then(|| "disk full".to_owned()),
            process_at: DateTime::UNIX_EPOCH,
            reserved_until: reserved.then_some(DateTime::UNIX_EPOCH),
        }
    }

    #[test]
    fn the_checkpoint_on_the_jobs_stream_tells_how_its_newest_run_went() {
        let of = |checkpoint| RunOutcome::of(3, Some(&checkpoint));
        assert_eq!(RunOutcome::of(3, None), RunOutcome::Waiting);
        assert_eq!(of(checkpoint(Active, 3, false)), RunOutcome::Handled);
        assert_eq!(of(checkpoint(Active, 2, true)), RunOutcome::Running);
        assert_eq!(of(checkpoint(Active, 2, false)), RunOutcome::Waiting);
        let retrying = of(checkpoint(Retry, 2, false));
        assert_eq!(retrying.to_string(), "retrying after 2 attempts");
        assert!(matches!(retrying, RunOutcome::Retrying { error, .. } if error == "disk full"));
        let failed = of(checkpoint(Failed, 2, false));
        assert_eq!(failed.to_string(), "failed after 2 attempts");
    }
}
