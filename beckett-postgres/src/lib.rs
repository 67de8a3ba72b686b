//! The Postgres backend of beckett: [`PostgresStore`] keeps the message
//! store and the engine's state in the tables [`migrate`] creates.
//!
//! All of beckett's SQL for Postgres is in this crate. The global order is
//! the order of the writing transactions' ids, read past transactions still
//! running and remembered in the cursor; wake-ups travel by LISTEN/NOTIFY.
#![deny(missing_docs)]

mod announce;
mod browse;
mod checkpoints;
mod connect;
mod error;
mod lanes;
mod listener;
mod migrate;
mod minutes;
mod operators;
mod recurring_jobs;
mod scheduled;
mod sql;
mod state;
mod store;
mod transaction;

pub use connect::{connect, connect_from_env, connect_pool};
pub use migrate::{migrate, migrate_schema, migration_script};
pub use store::PostgresStore;
pub use transaction::PostgresTransaction;

/// The driver this backend runs on, for queries of the application's own
/// in the same pool or transaction, at the version beckett uses.
pub use sqlx;
