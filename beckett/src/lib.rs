#![doc = include_str!("../../README.md")]
#![deny(missing_docs)]

mod error;
mod message;
mod migrate;
pub mod store;

pub use beckett_macros::Message;
pub use error::{DecodeError, Error, Result};
pub use message::{Message, Metadata, NewMessage};
pub use migrate::{migrate, migrate_schema, migration_script, Schema};
pub use store::{
    category, connect, connect_from_env, Appended, Envelope, ExpectedVersion, GlobalCursor,
    MessageStorage, PostgresStore,
};

/// What macro expansions reach the runtime through. Not a public API: it
/// changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::message::Message;
}
