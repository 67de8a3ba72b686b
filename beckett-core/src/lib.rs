//! The engine of beckett, free of any database driver.
//!
//! It holds what every backend shares: messages and their envelopes, the
//! storage traits ([`MessageStorage`] for the message store,
//! [`EngineStorage`](state::EngineStorage) for the engine's own state),
//! subscriptions, the consumers that run them, retries, scheduled messages
//! and recurring jobs. Applications use it through the `beckett` crate,
//! which adds the storage backends and boots it all.
#![deny(missing_docs)]

mod backoff;
mod config;
pub mod engine;
mod error;
pub mod memory;
mod message;
pub mod recurring;
pub mod scheduling;
mod selection;
pub mod state;
pub mod store;
pub mod subscription;
pub mod telemetry;
mod version;

pub use backoff::Backoff;
pub use config::{Config, Schema};
pub use error::{BoxError, DecodeError, Error, Result};
pub use message::{Encoded, Message, Metadata, NewMessage};
pub use store::{
    category, Appended, Envelope, GlobalCursor, GlobalRead, MessageStorage, RawMessage,
};
pub use subscription::{Context, MessageSet};
pub use version::ExpectedVersion;

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
