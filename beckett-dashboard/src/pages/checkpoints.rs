//! Checkpoints: filtered and paged, each with its error and the message it
//! failed on, and retry, skip and release, one at a time or all matching.

use super::{count, done, render, Layout, Page, PageError};
use crate::base::Base;
use crate::filter::FilterParams;
use crate::App;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Form;
use beckett_core::state::{CheckpointFilter, CheckpointInfo, CheckpointKey, CheckpointStatus};
use beckett_core::Envelope;
use serde::Deserialize;
use std::sync::Arc;

/// Checkpoints a page shows.
const PAGE: usize = 50;

#[derive(Template)]
#[template(path = "checkpoints.html")]
struct Checkpoints {
    layout: Layout,
    params: FilterParams,
    matching: u64,
    failed: u64,
    reserved: u64,
    checkpoints: Vec<CheckpointInfo>,
    /// This list, to come back to after an action.
    here: String,
    /// This page of it, to refresh.
    live: String,
    /// The query of the next page, if there is one.
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "checkpoint.html")]
struct One {
    layout: Layout,
    checkpoint: CheckpointInfo,
    /// The message after the checkpoint's position: the one it waits on.
    next_message: Option<Envelope>,
    data: String,
    here: String,
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub(crate) struct Confirm {
    pub layout: Layout,
    pub question: String,
    pub warning: String,
    pub action: String,
    pub fields: Vec<(&'static str, String)>,
    pub button: String,
    pub cancel: String,
}

/// The page's query: the filter, and where the page starts.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(flatten)]
    params: FilterParams,
    after_group: Option<String>,
    after_subscription: Option<String>,
    after_stream: Option<String>,
    notice: Option<String>,
}

/// One checkpoint, by its key.
#[derive(Debug, Deserialize)]
pub struct KeyQuery {
    group: String,
    subscription: String,
    stream: String,
    notice: Option<String>,
}

/// An action, on the checkpoints a filter matches.
#[derive(Debug, Deserialize)]
pub struct Action {
    /// `retry`, `skip` or `release`.
    action: String,
    #[serde(flatten)]
    params: FilterParams,
    /// The dashboard page to go back to.
    #[serde(default)]
    back: String,
}

/// Lists the checkpoints matching the query's filter, a page at a time.
pub async fn show(State(app): State<Arc<App>>, base: Base, Query(query): Query<ListQuery>) -> Page {
    let filter = query.params.filter().map_err(PageError::BadRequest)?;
    let after = match (
        query.after_group,
        query.after_subscription,
        query.after_stream,
    ) {
        (Some(group), Some(subscription), Some(stream)) => Some(CheckpointKey {
            group,
            subscription,
            stream,
        }),
        _ => None,
    };
    let mut checkpoints = app
        .checkpoints
        .list(&filter, after.as_ref(), PAGE + 1)
        .await?;
    let here = join("/checkpoints", &query.params.query());
    let next = (checkpoints.len() > PAGE).then(|| {
        checkpoints.truncate(PAGE);
        let last = checkpoints.last().expect("a full page").key();
        join(&here, &after_query(&last))
    });
    let live = match &after {
        Some(key) => join(&here, &after_query(key)),
        None => here.clone(),
    };
    let counted = |status: Option<CheckpointStatus>| {
        let filter = CheckpointFilter {
            status: status.or(filter.status),
            ..filter.clone()
        };
        let checkpoints = &app.checkpoints;
        async move { checkpoints.count(&filter).await }
    };
    let matching = counted(None).await?;
    let failed = match filter.status {
        None | Some(CheckpointStatus::Failed) => counted(Some(CheckpointStatus::Failed)).await?,
        Some(_) => 0,
    };
    let reserved = app
        .checkpoints
        .count(&filter.clone().reserved(true))
        .await?;
    render(&Checkpoints {
        layout: Layout::new(&base, "Checkpoints", "checkpoints").with(&app, query.notice),
        here,
        live,
        params: query.params,
        matching,
        failed,
        reserved,
        checkpoints,
        next,
    })
}

/// Shows one checkpoint, with the message it waits on.
pub async fn one(State(app): State<Arc<App>>, base: Base, Query(key): Query<KeyQuery>) -> Page {
    let filter = CheckpointFilter::one(&key.group, &key.subscription, &key.stream);
    let found = app
        .checkpoints
        .list(&filter, None, 1)
        .await?
        .into_iter()
        .next();
    let checkpoint = found.ok_or_else(|| {
        PageError::NotFound(format!(
            "no checkpoint of `{}` in `{}` for stream `{}`",
            key.subscription, key.group, key.stream
        ))
    })?;
    let messages = app.storage.messages();
    let next_message = messages
        .read_stream(&key.stream, checkpoint.stream_position + 1, 1)
        .await?
        .into_iter()
        .next();
    let data = next_message
        .as_ref()
        .map(|m| serde_json::to_string_pretty(&m.data).expect("JSON values print"))
        .unwrap_or_default();
    let here = serde_urlencoded::to_string([
        ("group", &key.group),
        ("subscription", &key.subscription),
        ("stream", &key.stream),
    ])
    .expect("strings encode");
    render(&One {
        layout: Layout::new(
            &base,
            format!("Checkpoint of {}", key.stream),
            "checkpoints",
        )
        .with(&app, key.notice),
        checkpoint,
        next_message,
        data,
        here: join("/checkpoints/one", &here),
    })
}

/// Asks to confirm an action on every checkpoint a filter matches.
pub async fn confirm(
    State(app): State<Arc<App>>,
    base: Base,
    Query(action): Query<Action>,
) -> Page {
    let filter = action.params.filter().map_err(PageError::BadRequest)?;
    let (verb, targets, warning) = described(&action.action, filter)?;
    let matching = app.checkpoints.count(&targets).await?;
    let mut fields = action.params.fields();
    fields.push(("action", action.action.clone()));
    fields.push(("back", action.back.clone()));
    render(&Confirm {
        layout: Layout::new(&base, format!("{verb} checkpoints"), "checkpoints").with(&app, None),
        question: format!(
            "{verb} {} matching {}?",
            count(matching, "checkpoint"),
            action.params.describe()
        ),
        warning: warning.to_owned(),
        action: format!("{}/checkpoints/act", base.0),
        fields,
        button: format!("{verb} {}", count(matching, "checkpoint")),
        cancel: format!("{}{}", base.0, back_or_list(&action.back)),
    })
}

/// Carries out an action on every checkpoint a filter matches.
pub async fn act(
    State(app): State<Arc<App>>,
    base: Base,
    Form(action): Form<Action>,
) -> Result<Response, PageError> {
    let filter = action.params.filter().map_err(PageError::BadRequest)?;
    let (verb, targets, _) = described(&action.action, filter)?;
    let checkpoints = &app.checkpoints;
    let acted = match action.action.as_str() {
        "retry" => checkpoints.retry(&targets).await?,
        "skip" => checkpoints.skip(&targets).await?,
        _ => checkpoints.release(&targets).await?,
    };
    let notice = format!("{}: {}", past(verb), count(acted, "checkpoint"));
    Ok(done(&base, back_or_list(&action.back), &notice))
}

/// An action's verb, the checkpoints of `filter` it acts on, and what to
/// beware of.
fn described(
    action: &str,
    filter: CheckpointFilter,
) -> Result<(&'static str, CheckpointFilter, &'static str), PageError> {
    match action {
        "retry" => Ok((
            "Retry",
            filter.status(CheckpointStatus::Failed),
            "Each failed stream is handled again from the message that failed.",
        )),
        "skip" => Ok((
            "Skip",
            filter.status(CheckpointStatus::Failed),
            "The message each failed stream stopped at is skipped for good: its handler never \
             sees it. Each skip is recorded.",
        )),
        "release" => Ok((
            "Release",
            filter.reserved(true),
            "Any process may take the streams at once, while the process that held them may \
             still be running a handler: release only what a stuck or vanished process holds.",
        )),
        other => Err(PageError::BadRequest(format!(
            "no checkpoint action `{other}`"
        ))),
    }
}

fn past(verb: &str) -> &'static str {
    match verb {
        "Retry" => "Retried",
        "Skip" => "Skipped",
        _ => "Released",
    }
}

/// Where an action goes back to: the dashboard page it came from, or the
/// list.
fn back_or_list(back: &str) -> &str {
    super::page_inside(back).unwrap_or("/checkpoints")
}

/// The query of the page after `key`.
fn after_query(key: &CheckpointKey) -> String {
    serde_urlencoded::to_string([
        ("after_group", &key.group),
        ("after_subscription", &key.subscription),
        ("after_stream", &key.stream),
    ])
    .expect("strings encode")
}

/// A path and a query, joined by `?` when the query is not empty.
fn join(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else if path.contains('?') {
        format!("{path}&{query}")
    } else {
        format!("{path}?{query}")
    }
}
