#![doc = include_str!("../../README.md")]
#![deny(missing_docs)]

mod config;
mod error;
mod message;
mod migrate;
pub mod recurring;
mod runtime;
pub mod scheduling;
pub mod store;
pub mod subscription;

pub use beckett_macros::{recurring, subscription, Message, MessageSet};
pub use config::Config;
pub use error::{DecodeError, Error, Result};
pub use message::{Message, Metadata, NewMessage};
pub use migrate::{migrate, migrate_schema, migration_script, Schema};
pub use runtime::{run, Beckett, Builder};
pub use store::{
    category, connect, connect_from_env, Appended, Envelope, ExpectedVersion, GlobalCursor,
    GlobalRead, MessageStorage, PostgresStore,
};
pub use subscription::{BoxError, Context, MessageSet};

/// What macro expansions reach the runtime through. Not a public API: it
/// changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::message::{is_name_or_alias, Message};
    pub use crate::recurring::{superseded, Occurrence, RecurringDescriptor};
    pub use crate::store::Envelope;
    pub use crate::subscription::registry::{wire_name_count, wire_names};
    pub use crate::subscription::{
        decode, same_names, unknown_type, BoxError, Context, HandlerFuture, MessageSet,
        MessageTypeDescriptor, Start, SubscriptionDescriptor,
    };
    pub use inventory;
    pub use std::boxed::Box;
    pub use std::time::Duration;
}
