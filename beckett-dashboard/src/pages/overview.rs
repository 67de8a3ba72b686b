//! The overview: every subscription of every group, and how its streams
//! fare, refreshed live.

use super::{render, Layout, Notice, Page};
use crate::base::Base;
use crate::App;
use askama::Template;
use axum::extract::{Query, State};
use beckett_core::state::SubscriptionInfo;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    layout: Layout,
    totals: Totals,
    groups: Vec<Group>,
}

/// Counts over every subscription.
#[derive(Default)]
struct Totals {
    subscriptions: usize,
    paused: usize,
    lagging: u64,
    retrying: u64,
    failed: u64,
    reserved: u64,
}

/// A group and its subscriptions.
struct Group {
    name: String,
    subscriptions: Vec<SubscriptionInfo>,
}

/// Shows the overview.
pub async fn show(State(app): State<Arc<App>>, base: Base, Query(notice): Query<Notice>) -> Page {
    let listed = app.subscriptions.list(None).await?;
    let mut totals = Totals::default();
    let mut groups: Vec<Group> = Vec::new();
    for s in listed {
        totals.subscriptions += 1;
        totals.paused += usize::from(s.paused);
        totals.lagging += s.lagging;
        totals.retrying += s.retrying;
        totals.failed += s.failed;
        totals.reserved += s.reserved;
        match groups.last_mut() {
            Some(group) if group.name == s.group => group.subscriptions.push(s),
            _ => groups.push(Group {
                name: s.group.clone(),
                subscriptions: vec![s],
            }),
        }
    }
    render(&Overview {
        layout: Layout::new(&base, "Overview", "overview").with(&app, notice.notice),
        totals,
        groups,
    })
}
