//! Subscriptions: where each stands, and pause, resume and reset.

use super::{done, render, Layout, Notice, Page, PageError};
use crate::base::Base;
use crate::App;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Form;
use beckett_core::state::{ResetOutcome, SubscriptionInfo};
use beckett_core::subscription::ResetTo;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "subscriptions.html")]
struct Subscriptions {
    layout: Layout,
    subscriptions: Vec<SubscriptionInfo>,
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ConfirmReset {
    layout: Layout,
    subscription: SubscriptionInfo,
}

/// One subscription, as a form names it.
#[derive(Debug, Deserialize)]
pub struct Named {
    group: String,
    name: String,
}

/// A reset, as its form asks for it.
#[derive(Debug, Deserialize)]
pub struct Reset {
    group: String,
    name: String,
    /// `start`, `end` or `after`.
    to: String,
    /// The message to reset after, with `after`.
    #[serde(default)]
    message: String,
}

/// Lists the subscriptions with their controls.
pub async fn show(State(app): State<Arc<App>>, base: Base, Query(notice): Query<Notice>) -> Page {
    render(&Subscriptions {
        layout: Layout::new(&base, "Subscriptions", "subscriptions").with(&app, notice.notice),
        subscriptions: app.subscriptions.list(None).await?,
    })
}

/// Pauses a subscription.
pub async fn pause(
    State(app): State<Arc<App>>,
    base: Base,
    Form(named): Form<Named>,
) -> Result<Response, PageError> {
    let found = app.subscriptions.pause(&named.group, &named.name).await?;
    Ok(done(
        &base,
        "/subscriptions",
        &registered(found, &named, "paused")?,
    ))
}

/// Resumes a subscription.
pub async fn resume(
    State(app): State<Arc<App>>,
    base: Base,
    Form(named): Form<Named>,
) -> Result<Response, PageError> {
    let found = app.subscriptions.resume(&named.group, &named.name).await?;
    Ok(done(
        &base,
        "/subscriptions",
        &registered(found, &named, "resumed")?,
    ))
}

/// Asks where to reset a subscription to, and to confirm.
pub async fn confirm_reset(
    State(app): State<Arc<App>>,
    base: Base,
    Query(named): Query<Named>,
) -> Page {
    let listed = app.subscriptions.list(Some(&named.group)).await?;
    let subscription = listed.into_iter().find(|s| s.name == named.name);
    let subscription = subscription.ok_or_else(|| not_registered(&named))?;
    render(&ConfirmReset {
        layout: Layout::new(&base, format!("Reset {}", named.name), "subscriptions")
            .with(&app, None),
        subscription,
    })
}

/// Resets a subscription, as confirmed.
pub async fn reset(
    State(app): State<Arc<App>>,
    base: Base,
    Form(reset): Form<Reset>,
) -> Result<Response, PageError> {
    let to = match reset.to.as_str() {
        "after" => &reset.message,
        start_or_end => start_or_end,
    };
    let to: ResetTo = to.parse().map_err(PageError::BadRequest)?;
    let named = Named {
        group: reset.group,
        name: reset.name,
    };
    let notice = match app
        .subscriptions
        .reset(&named.group, &named.name, to)
        .await?
    {
        ResetOutcome::Unregistered => return Err(not_registered(&named)),
        outcome => format!("{}: {outcome}", named.name),
    };
    Ok(done(&base, "/subscriptions", &notice))
}

/// What was done to a subscription, or why it could not be.
fn registered(found: bool, named: &Named, what: &str) -> Result<String, PageError> {
    match found {
        true => Ok(format!("{} {what}", named.name)),
        false => Err(not_registered(named)),
    }
}

fn not_registered(named: &Named) -> PageError {
    PageError::NotFound(format!(
        "no subscription `{}` is registered in group `{}`",
        named.name, named.group
    ))
}
