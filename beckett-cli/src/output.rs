//! What the commands print: aligned tables for people, JSON for programs.

use beckett::recurring::{RecurringJob, RunOutcome};
use beckett::state::{CheckpointInfo, ScheduledInfo, SubscriptionInfo};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// Prints as the command line asked: tables, or JSON with `--json`.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Subscriptions, with their lag.
    pub fn subscriptions(&self, subscriptions: &[SubscriptionInfo]) {
        self.list(
            subscriptions,
            &[
                "GROUP",
                "SUBSCRIPTION",
                "STATE",
                "POSITION",
                "LAGGING",
                "BEHIND",
                "RETRYING",
                "FAILED",
                "RESERVED",
            ],
            |s| {
                vec![
                    s.group.clone(),
                    s.name.clone(),
                    if s.paused { "paused" } else { "running" }.to_owned(),
                    s.cursor.frontier().global_position.to_string(),
                    s.lagging.to_string(),
                    s.behind.to_string(),
                    s.retrying.to_string(),
                    s.failed.to_string(),
                    s.reserved.to_string(),
                ]
            },
        );
    }

    /// Checkpoints, with their errors.
    pub fn checkpoints(&self, checkpoints: &[CheckpointInfo]) {
        self.list(
            checkpoints,
            &[
                "GROUP",
                "SUBSCRIPTION",
                "STREAM",
                "POSITION",
                "VERSION",
                "STATUS",
                "ATTEMPTS",
                "LAST ERROR",
            ],
            |c| {
                vec![
                    c.group.clone(),
                    c.subscription.clone(),
                    c.stream.clone(),
                    c.stream_position.to_string(),
                    c.stream_version.to_string(),
                    c.status.to_string(),
                    c.attempts.to_string(),
                    c.last_error.as_deref().map(first_line).unwrap_or_default(),
                ]
            },
        );
    }

    /// Scheduled messages.
    pub fn scheduled(&self, scheduled: &[ScheduledInfo]) {
        self.list(scheduled, &["ID", "STREAM", "TYPE", "DUE"], |s| {
            vec![
                s.id.to_string(),
                s.stream.clone(),
                s.message_type.clone(),
                time(s.deliver_at),
            ]
        });
    }

    /// Recurring jobs, with when each runs next and how its last run went.
    pub fn recurring(&self, jobs: &[RecurringJob]) {
        self.list(
            jobs,
            &[
                "GROUP",
                "NAME",
                "CRON",
                "NEXT",
                "LAST RUN",
                "OUTCOME",
                "LAST ERROR",
            ],
            |j| {
                let next = match (&j.info.removed_at, j.next.as_deref()) {
                    (Some(_), _) => "removed".to_owned(),
                    (None, Some([soonest, ..])) => time(*soonest),
                    (None, Some([])) => "never".to_owned(),
                    (None, None) => "unknown".to_owned(),
                };
                let run = j.last_run.as_ref();
                let error = run.and_then(|run| match &run.outcome {
                    RunOutcome::Retrying { error, .. } | RunOutcome::Failed { error, .. } => {
                        Some(first_line(error))
                    }
                    _ => None,
                });
                vec![
                    j.info.group.clone(),
                    j.info.name.clone(),
                    j.info.cron.clone(),
                    next,
                    run.map(|run| match run.run_now {
                        true => format!("{} (run now)", time(run.scheduled_at)),
                        false => time(run.scheduled_at),
                    })
                    .unwrap_or_else(|| "never".to_owned()),
                    run.map(|run| run.outcome.to_string()).unwrap_or_default(),
                    error.unwrap_or_default(),
                ]
            },
        );
    }

    /// What an action did, and to how many.
    pub fn done(&self, what: &str, count: u64) {
        if self.json {
            println!("{}", serde_json::json!({ what: count }));
        } else {
            println!("{what}: {count}");
        }
    }

    /// Items as JSON, or as a table of the columns `row` gives.
    fn list<T: Serialize>(&self, items: &[T], headers: &[&str], row: impl Fn(&T) -> Vec<String>) {
        if self.json {
            let json = serde_json::to_string_pretty(items).expect("records serialize");
            println!("{json}");
            return;
        }
        let rows: Vec<Vec<String>> = items.iter().map(row).collect();
        print!("{}", table(headers, &rows));
    }
}

/// Columns padded to their widest cell, the last left ragged.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(headers.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

/// The first line of a text, which may run over several.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// A time to the second, in UTC.
fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn columns_line_up() {
        let rows = vec![
            vec!["Billing".to_owned(), "7".to_owned()],
            vec!["A".to_owned(), "12345".to_owned()],
        ];
        assert_eq!(
            table(&["GROUP", "N"], &rows),
            "GROUP    N\nBilling  7\nA        12345\n"
        );
    }
}
