#![doc = include_str!("../../README.md")]
#![deny(missing_docs)]

mod runtime;
mod storage;
pub mod testing;

pub use beckett_core::{
    category, memory, recurring, scheduling, state, store, subscription, telemetry, Appended,
    Backoff, BoxError, Config, Context, DecodeError, Encoded, Envelope, Error, ExpectedVersion,
    GlobalCursor, GlobalRead, Message, MessageSet, MessageStorage, Metadata, NewMessage,
    RawMessage, Result, Schema,
};
pub use beckett_macros::{recurring, subscription, Message, MessageSet};
pub use beckett_postgres::{
    connect, connect_from_env, migrate, migrate_schema, migration_script, PostgresStore,
};
pub use runtime::{run, Beckett, Builder, Running};
pub use storage::{open, open_existing, open_from_env, DEFAULT_SQLITE_FILE};

/// The Postgres backend: the message store and the engine's state in
/// Postgres tables.
pub mod postgres {
    pub use beckett_postgres::*;
}

/// The operators' dashboard: an axum router to mount, or served by
/// [`run`] when `BECKETT_DASHBOARD` says where.
#[cfg(feature = "dashboard")]
pub mod dashboard {
    pub use beckett_dashboard::*;
}

/// The embedded SQLite backend: the message store in one file, or in
/// memory, with no server.
pub mod sqlite {
    pub use beckett_sqlite::*;
}

#[doc(hidden)]
pub use beckett_core::__private;
