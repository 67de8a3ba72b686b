//! The pages, each a module of its handlers and the views they render,
//! and what they share: the layout, errors, redirects after an action.

pub mod checkpoints;
pub mod conversation;
pub mod messages;
pub mod overview;
pub mod recurring;
pub mod scheduled;
pub mod subscriptions;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

/// What the layout around every page shows.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Where the dashboard is mounted.
    pub base: String,
    /// The page's title.
    pub title: String,
    /// The navigation entry it belongs to.
    pub section: &'static str,
    /// Whether actions are hidden.
    pub read_only: bool,
    /// What the last action did, to say at the top.
    pub notice: Option<String>,
}

impl Layout {
    pub fn new(base: &crate::base::Base, title: impl Into<String>, section: &'static str) -> Self {
        Self {
            base: base.0.clone(),
            title: title.into(),
            section,
            read_only: false,
            notice: None,
        }
    }

    /// The overview's address: the dashboard's own, which is `/` at the
    /// root.
    pub fn home(&self) -> &str {
        if self.base.is_empty() {
            "/"
        } else {
            &self.base
        }
    }

    /// With the app's read-only setting and the notice a redirect carried.
    pub fn with(mut self, app: &crate::App, notice: Option<String>) -> Self {
        self.read_only = app.read_only;
        self.notice = notice;
        self
    }
}

/// What an action's redirect says, in the page's query.
#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    pub notice: Option<String>,
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// The store failed.
    Store(beckett_core::Error),
    /// The request asked for something that cannot be.
    BadRequest(String),
    /// What it asked for is not there.
    NotFound(String),
    /// A template failed to render.
    Render(askama::Error),
}

impl From<beckett_core::Error> for PageError {
    fn from(error: beckett_core::Error) -> Self {
        Self::Store(error)
    }
}

impl From<askama::Error> for PageError {
    fn from(error: askama::Error) -> Self {
        Self::Render(error)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            Self::Store(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
            Self::BadRequest(reason) => (StatusCode::BAD_REQUEST, reason),
            Self::NotFound(what) => (StatusCode::NOT_FOUND, what),
            Self::Render(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
        };
        if status.is_server_error() {
            tracing::error!(%status, error = text, "a dashboard page failed");
        }
        (status, text).into_response()
    }
}

/// A rendered page, or why not.
pub type Page = Result<Html<String>, PageError>;

/// Renders a page's view.
pub fn render(view: &impl Template) -> Page {
    Ok(Html(view.render()?))
}

/// `back` if it is a page of the dashboard: a path starting with `/` and
/// a letter, of printable characters with no backslash. Anything else could
/// lead off the dashboard, to another site.
pub fn page_inside(back: &str) -> Option<&str> {
    let mut chars = back.chars();
    let inside = chars.next() == Some('/')
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && back.chars().all(|c| c.is_ascii_graphic() && c != '\\');
    inside.then_some(back)
}

/// After an action: back to the dashboard page `back` (a path inside the
/// dashboard, with its query), or else to the overview, saying what was
/// done.
pub fn done(base: &crate::base::Base, back: &str, notice: &str) -> Response {
    let target = match (page_inside(back), base.0.is_empty()) {
        (Some(back), _) => format!("{}{back}", base.0),
        (None, true) => "/".to_owned(),
        (None, false) => base.0.clone(),
    };
    let separator = if target.contains('?') { '&' } else { '?' };
    let notice = serde_urlencoded::to_string([("notice", notice)]).expect("strings encode");
    Redirect::to(&format!("{target}{separator}{notice}")).into_response()
}

/// `count` of `thing`, plural when not one.
pub fn count(count: u64, thing: &str) -> String {
    match count {
        1 => format!("1 {thing}"),
        n => format!("{n} {thing}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::page_inside;

    #[test]
    fn only_the_dashboards_own_pages_are_gone_back_to() {
        assert_eq!(
            page_inside("/checkpoints?group=A"),
            Some("/checkpoints?group=A")
        );
        for elsewhere in [
            "",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "https://evil.example",
            "/%09x",
            "/ok\nLocation: x",
        ] {
            assert_eq!(page_inside(elsewhere), None, "{elsewhere:?}");
        }
    }
}
