//! When a recurring job's occurrences fall due.

use super::RecurringDescriptor;
use crate::error::{Error, Result};
use chrono::{DateTime, TimeDelta, Utc};
use cron::Schedule;
use std::str::FromStr;

/// The job's schedule. `#[recurring]` checked the expression when it
/// compiled, so an error here means the descriptor was not made by it.
pub(crate) fn parse(job: &RecurringDescriptor) -> Result<Schedule> {
    Schedule::from_str(job.schedule).map_err(|e| {
        Error::Registry(format!(
            "recurring job `{}` of group `{}` at {}: cron expression `{}` is not valid: {e}",
            job.subscription.name, job.subscription.group, job.subscription.location, job.cron
        ))
    })
}

/// The newest occurrence after `since` and not after `now`: the one to
/// fire, however many came between.
pub(crate) fn due(
    schedule: &Schedule,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    // Both directions of the iterator exclude the instant they start from.
    let newest = schedule
        .after(&(now + TimeDelta::nanoseconds(1)))
        .next_back()?;
    (newest > since).then_some(newest)
}

/// The first occurrence after `after`; `None` if the schedule has ended.
pub(crate) fn next(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule.after(&after).next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, s).unwrap()
    }

    #[test]
    fn the_newest_missed_occurrence_is_due_once() {
        let hourly = Schedule::from_str("0 0 * * * *").unwrap();
        assert_eq!(due(&hourly, at(9, 0, 0), at(12, 30, 0)), Some(at(12, 0, 0)));
        assert_eq!(due(&hourly, at(12, 0, 0), at(12, 30, 0)), None);
        assert_eq!(due(&hourly, at(11, 0, 0), at(12, 0, 0)), Some(at(12, 0, 0)));
    }

    #[test]
    fn next_is_strictly_after() {
        let secondly = Schedule::from_str("* * * * * *").unwrap();
        assert_eq!(next(&secondly, at(12, 0, 0)), Some(at(12, 0, 1)));
        let ended = Schedule::from_str("0 0 0 1 1 * 2001").unwrap();
        assert_eq!(next(&ended, at(12, 0, 0)), None);
    }
}
