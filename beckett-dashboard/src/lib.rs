//! The operators' dashboard of beckett: subscriptions and their lag,
//! checkpoints with their errors and the actions on them, messages,
//! streams and conversations, scheduled messages, and recurring jobs, as
//! an axum [`Router`] an application mounts under any prefix.
//!
//! ```no_run
//! # async fn demo(store: beckett::PostgresStore) -> std::io::Result<()> {
//! use beckett::dashboard::Dashboard;
//!
//! let app = axum::Router::new().nest("/ops", Dashboard::new(store).router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! Every page is rendered on the server and works without scripts; htmx,
//! embedded like every other asset, refreshes the live parts. Every change
//! is a `POST`, refused when a browser says it comes from another site
//! (`Sec-Fetch-Site`, or else `Origin`), and refused altogether in a
//! [read-only](Dashboard::read_only) dashboard. Pages carry a content
//! security policy that allows nothing from elsewhere. The router takes the
//! application's own authentication as a layer:
//! `Dashboard::new(store).router().layer(auth)`.
#![deny(missing_docs)]

mod assets;
mod base;
mod filter;
mod pages;
mod security;

use axum::routing::{get, post};
use axum::Router;
use beckett_core::recurring::RecurringJobs;
use beckett_core::state::{EngineStorage, Storage};
use beckett_core::subscription::{Checkpoints, Subscriptions};
use beckett_core::MessageStorage;
use std::sync::Arc;

/// The dashboard of one store, to turn into a [`Router`].
#[derive(Debug, Clone)]
pub struct Dashboard {
    storage: Storage,
    read_only: bool,
}

impl Dashboard {
    /// The dashboard of a store that holds both the messages and the
    /// engine's state.
    pub fn new<S: MessageStorage + EngineStorage>(store: S) -> Self {
        Self::on(Storage::together(Arc::new(store)))
    }

    /// The dashboard of `storage`.
    pub fn on(storage: Storage) -> Self {
        Self {
            storage,
            read_only: false,
        }
    }

    /// Shows everything and changes nothing: every action is hidden, and
    /// refused if asked for.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Serves the dashboard alone, at the root, on `listener`, until the
    /// task is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// The routes of the dashboard, relative to where it is mounted.
    pub fn router(self) -> Router {
        let app = Arc::new(App {
            subscriptions: Subscriptions::on(self.storage.clone()),
            checkpoints: Checkpoints::shared(self.storage.engine().clone()),
            recurring: RecurringJobs::on(self.storage.clone()),
            storage: self.storage,
            read_only: self.read_only,
        });
        Router::new()
            .route("/", get(pages::overview::show))
            .route("/subscriptions", get(pages::subscriptions::show))
            .route("/subscriptions/pause", post(pages::subscriptions::pause))
            .route("/subscriptions/resume", post(pages::subscriptions::resume))
            .route(
                "/subscriptions/reset",
                get(pages::subscriptions::confirm_reset).post(pages::subscriptions::reset),
            )
            .route("/checkpoints", get(pages::checkpoints::show))
            .route("/checkpoints/one", get(pages::checkpoints::one))
            .route("/checkpoints/confirm", get(pages::checkpoints::confirm))
            .route("/checkpoints/act", post(pages::checkpoints::act))
            .route("/messages", get(pages::messages::categories))
            .route("/messages/found", get(pages::messages::found))
            .route("/messages/{id}", get(pages::messages::message))
            .route(
                "/messages/{id}/conversation",
                get(pages::conversation::show),
            )
            .route("/category", get(pages::messages::category_streams))
            .route("/stream", get(pages::messages::stream))
            .route("/search", get(pages::messages::search))
            .route("/scheduled", get(pages::scheduled::show))
            .route("/scheduled/confirm", get(pages::scheduled::confirm))
            .route("/scheduled/act", post(pages::scheduled::act))
            .route("/recurring", get(pages::recurring::show))
            .route("/recurring/run", post(pages::recurring::run))
            .route("/assets/{file}", get(assets::serve))
            .layer(axum::middleware::from_fn_with_state(
                app.read_only,
                security::guard,
            ))
            .with_state(app)
    }
}

/// What every page reaches.
#[derive(Debug)]
struct App {
    storage: Storage,
    subscriptions: Subscriptions,
    checkpoints: Checkpoints,
    recurring: RecurringJobs,
    read_only: bool,
}
