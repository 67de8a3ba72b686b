//! The message store: a message by its id, a stream's messages, and the
//! search that finds either.

use super::{render, Layout, Page, PageError};
use crate::base::Base;
use crate::App;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use beckett_core::Envelope;
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

/// Messages a stream's page shows.
const PAGE: usize = 50;

#[derive(Template)]
#[template(path = "message.html")]
struct Message {
    layout: Layout,
    message: Envelope,
    data: String,
    metadata: String,
}

#[derive(Template)]
#[template(path = "stream.html")]
struct Stream {
    layout: Layout,
    name: String,
    messages: Vec<Envelope>,
    /// The first position of the next page, if there is one.
    next: Option<i64>,
}

/// Where a stream's page starts.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    name: String,
    #[serde(default = "first")]
    from: i64,
}

fn first() -> i64 {
    1
}

/// What the search box holds.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// Shows a message, by its id.
pub async fn message(State(app): State<Arc<App>>, base: Base, Path(id): Path<String>) -> Page {
    let id: Uuid = id
        .parse()
        .map_err(|_| PageError::BadRequest(format!("`{id}` is not a message id")))?;
    let found = app.storage.messages().message(id).await?;
    let message =
        found.ok_or_else(|| PageError::NotFound(format!("no message has the id {id}")))?;
    let pretty =
        |value: &serde_json::Value| serde_json::to_string_pretty(value).expect("JSON prints");
    let metadata = serde_json::to_value(&message.metadata).expect("metadata serializes");
    render(&Message {
        layout: Layout::new(&base, format!("Message {id}"), "messages").with(&app, None),
        data: pretty(&message.data),
        metadata: pretty(&metadata),
        message,
    })
}

/// Shows a stream's messages, a page at a time.
pub async fn stream(
    State(app): State<Arc<App>>,
    base: Base,
    Query(query): Query<StreamQuery>,
) -> Page {
    let from = query.from.max(1);
    let mut messages = app
        .storage
        .messages()
        .read_stream(&query.name, from, PAGE + 1)
        .await?;
    let next = (messages.len() > PAGE).then(|| {
        messages.truncate(PAGE);
        from + PAGE as i64
    });
    render(&Stream {
        layout: Layout::new(&base, format!("Stream {}", query.name), "messages").with(&app, None),
        name: query.name,
        messages,
        next,
    })
}

/// Goes to the message a search names by id, or else to the stream.
pub async fn search(base: Base, Query(query): Query<SearchQuery>) -> Response {
    let q = query.q.trim();
    match q.parse::<Uuid>() {
        Ok(id) => Redirect::to(&format!("{}/messages/{id}", base.0)).into_response(),
        Err(_) => {
            let name = serde_urlencoded::to_string([("name", q)]).expect("strings encode");
            Redirect::to(&format!("{}/stream?{name}", base.0)).into_response()
        }
    }
}
