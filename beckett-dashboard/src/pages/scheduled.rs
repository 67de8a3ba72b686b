//! Scheduled messages: what is due when, delivered now or cancelled.

use super::checkpoints::Confirm;
use super::{done, render, Layout, Page, PageError};
use crate::base::Base;
use crate::App;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Form;
use beckett_core::state::ScheduledInfo;
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

/// Scheduled messages the page shows, soonest first.
const PAGE: usize = 200;

#[derive(Template)]
#[template(path = "scheduled.html")]
struct Scheduled {
    layout: Layout,
    stream_prefix: String,
    scheduled: Vec<ScheduledInfo>,
}

/// The page's query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    stream_prefix: String,
    notice: Option<String>,
}

/// An action on one scheduled message.
#[derive(Debug, Deserialize)]
pub struct Action {
    /// `cancel` or `deliver-now`.
    action: String,
    id: Uuid,
}

/// Lists the scheduled messages still to deliver.
pub async fn show(State(app): State<Arc<App>>, base: Base, Query(query): Query<ListQuery>) -> Page {
    let prefix = Some(query.stream_prefix.trim()).filter(|p| !p.is_empty());
    let scheduled = app.storage.engine().scheduled(prefix, PAGE).await?;
    render(&Scheduled {
        layout: Layout::new(&base, "Scheduled messages", "scheduled").with(&app, query.notice),
        stream_prefix: query.stream_prefix,
        scheduled,
    })
}

/// Asks to confirm the cancelling of a scheduled message.
pub async fn confirm(
    State(app): State<Arc<App>>,
    base: Base,
    Query(action): Query<Action>,
) -> Page {
    render(&Confirm {
        layout: Layout::new(&base, "Cancel a scheduled message", "scheduled").with(&app, None),
        question: format!("Cancel the scheduled message {}?", action.id),
        warning: "It is never delivered.".to_owned(),
        action: format!("{}/scheduled/act", base.0),
        fields: vec![("action", action.action), ("id", action.id.to_string())],
        button: "Cancel it".to_owned(),
        cancel: format!("{}/scheduled", base.0),
    })
}

/// Cancels a scheduled message, or makes it due now.
pub async fn act(
    State(app): State<Arc<App>>,
    base: Base,
    Form(action): Form<Action>,
) -> Result<Response, PageError> {
    let engine = app.storage.engine();
    let (done_it, what) = match action.action.as_str() {
        "cancel" => (engine.cancel_scheduled(action.id).await?, "cancelled"),
        "deliver-now" => (engine.deliver_now(action.id).await?, "due now"),
        other => {
            return Err(PageError::BadRequest(format!(
                "no scheduled action `{other}`"
            )))
        }
    };
    let notice = match done_it {
        true => format!("{} {what}", action.id),
        false => format!(
            "{} is no longer waiting: delivered, cancelled, or being delivered",
            action.id
        ),
    };
    Ok(done(&base, "/scheduled", &notice))
}
