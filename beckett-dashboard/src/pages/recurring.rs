//! Recurring jobs: when each runs next, how its last run went, and a run
//! now, out of its schedule.

use super::{done, render, Layout, Notice, Page, PageError};
use crate::base::Base;
use crate::App;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Form;
use beckett_core::recurring::{RecurringJob, RunNow, RunOutcome};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "recurring.html")]
struct Recurring {
    layout: Layout,
    jobs: Vec<RecurringJob>,
}

impl Recurring {
    /// The page of the checkpoint that holds `job`'s runs, where an
    /// operator retries or skips a failed one.
    fn checkpoint(&self, job: &RecurringJob) -> String {
        let key = serde_urlencoded::to_string([
            ("group", &job.info.group),
            ("subscription", &job.info.name),
            ("stream", &job.info.stream),
        ])
        .expect("strings encode");
        format!("{}/checkpoints/one?{key}", self.layout.base)
    }
}

/// One job, as its form names it.
#[derive(Debug, Deserialize)]
pub struct Job {
    group: String,
    name: String,
}

/// Lists the recurring jobs with their schedules and last runs.
pub async fn show(State(app): State<Arc<App>>, base: Base, Query(notice): Query<Notice>) -> Page {
    render(&Recurring {
        layout: Layout::new(&base, "Recurring jobs", "recurring").with(&app, notice.notice),
        jobs: app.recurring.list().await?,
    })
}

/// Runs a job now, once.
pub async fn run(
    State(app): State<Arc<App>>,
    base: Base,
    Form(job): Form<Job>,
) -> Result<Response, PageError> {
    let notice = match app.recurring.run_now(&job.group, &job.name).await? {
        RunNow::Appended { .. } => format!("{} of {} runs now", job.name, job.group),
        refused => refused.to_string(),
    };
    Ok(done(&base, "/recurring", &notice))
}
