//! The message store: its categories, a category's streams, a stream's
//! messages, a message by its id, and searches by type or conversation.

use super::{render, Layout, Page, PageError};
use crate::base::Base;
use crate::App;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use beckett_core::store::{category, CategoryInfo, MessageSearch, StreamInfo};
use beckett_core::Envelope;
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

/// Messages or streams a page shows.
const PAGE: usize = 50;

#[derive(Template)]
#[template(path = "messages.html")]
struct Categories {
    layout: Layout,
    categories: Vec<CategoryInfo>,
}

#[derive(Template)]
#[template(path = "category.html")]
struct Category {
    layout: Layout,
    name: String,
    streams: Vec<StreamInfo>,
    /// The last stream shown, if another page follows.
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "found.html")]
struct Found {
    layout: Layout,
    message_type: String,
    correlation: String,
    searched_below: Option<i64>,
    messages: Vec<Envelope>,
    older: Option<i64>,
}

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
    category: String,
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

/// Which page of a category's streams.
#[derive(Debug, Deserialize)]
pub struct CategoryQuery {
    name: String,
    after: Option<String>,
}

/// What a search of messages asks for; blank fields ask nothing.
#[derive(Debug, Deserialize)]
pub struct FoundQuery {
    #[serde(default, rename = "type")]
    message_type: String,
    #[serde(default)]
    correlation: String,
    before: Option<i64>,
}

/// What the search box holds.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// The message whose id `id` reads as, or the page saying why there is
/// none.
pub(super) async fn found_message(app: &App, id: &str) -> Result<Envelope, PageError> {
    let id: Uuid = id.parse().map_err(|_| {
        PageError::BadRequest(format!("`{id}` is not a message id: a UUID is expected"))
    })?;
    let found = app.storage.messages().message(id).await?;
    found.ok_or_else(|| PageError::NotFound(format!("no message has the id {id}")))
}

/// Shows a message, by its id.
pub async fn message(State(app): State<Arc<App>>, base: Base, Path(id): Path<String>) -> Page {
    let message = found_message(&app, &id).await?;
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
        category: category(&query.name).to_owned(),
        name: query.name,
        messages,
        next,
    })
}

/// Shows the store's categories, and the search of messages.
pub async fn categories(State(app): State<Arc<App>>, base: Base) -> Page {
    render(&Categories {
        layout: Layout::new(&base, "Messages", "messages").with(&app, None),
        categories: app.storage.messages().categories().await?,
    })
}

/// Shows a category's streams, a page at a time.
pub async fn category_streams(
    State(app): State<Arc<App>>,
    base: Base,
    Query(query): Query<CategoryQuery>,
) -> Page {
    let messages = app.storage.messages();
    let mut streams = messages
        .streams(&query.name, query.after.as_deref(), PAGE + 1)
        .await?;
    let next = (streams.len() > PAGE).then(|| {
        streams.truncate(PAGE);
        streams[PAGE - 1].name.clone()
    });
    render(&Category {
        layout: Layout::new(&base, format!("Category {}", query.name), "messages").with(&app, None),
        name: query.name,
        streams,
        next,
    })
}

/// Shows the messages a search finds, newest first, a page at a time.
pub async fn found(
    State(app): State<Arc<App>>,
    base: Base,
    Query(query): Query<FoundQuery>,
) -> Page {
    let mut search = MessageSearch::default();
    let message_type = query.message_type.trim();
    if !message_type.is_empty() {
        search = search.message_type(message_type);
    }
    let correlation = query.correlation.trim();
    if !correlation.is_empty() {
        let id = correlation.parse().map_err(|_| {
            PageError::BadRequest(format!(
                "`{correlation}` is not a correlation id: a UUID is expected"
            ))
        })?;
        search = search.correlation_id(id);
    }
    let found = app
        .storage
        .messages()
        .search(&search, query.before, PAGE)
        .await?;
    let title = match (message_type, correlation) {
        ("", "") => "Newest messages".to_owned(),
        (message_type, "") => format!("Messages of type {message_type}"),
        ("", correlation) => format!("Conversation {correlation}"),
        (message_type, correlation) => format!("{message_type} in conversation {correlation}"),
    };
    render(&Found {
        layout: Layout::new(&base, title, "messages").with(&app, None),
        message_type: message_type.to_owned(),
        correlation: correlation.to_owned(),
        searched_below: query.before,
        messages: found.messages,
        older: found.older,
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
