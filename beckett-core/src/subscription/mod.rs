//! Subscriptions: handlers registered with `#[subscription]`, what they
//! receive, and what operators do with the subscriptions and checkpoints
//! they leave in the store.

pub(crate) mod context;
mod failed;
mod handler;
pub(crate) mod registered;
pub(crate) mod registry;

pub use crate::error::BoxError;
pub use crate::selection::Selection;
pub use crate::state::CheckpointInfo;
pub use context::{Context, TransactionGuard};
pub use failed::FailedCheckpoints;
pub use handler::{HandlerFuture, MessageSet};
pub use registered::Subscriptions;
pub use registry::{linked_groups, Groups, MessageTypeDescriptor, Start, SubscriptionDescriptor};

#[doc(hidden)]
pub use handler::{decode, same_names, unknown_type};
