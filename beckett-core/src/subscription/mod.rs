//! Subscriptions: handlers registered with `#[subscription]`, what they
//! receive, and what operators do with the subscriptions and checkpoints
//! they leave in the store.

mod checkpoints;
pub(crate) mod context;
mod handler;
pub(crate) mod registered;
pub(crate) mod registry;

pub use crate::error::BoxError;
pub use crate::selection::Selection;
pub use crate::state::{
    CheckpointFilter, CheckpointInfo, CheckpointKey, CheckpointStatus, ResetOutcome,
    SubscriptionInfo,
};
pub use checkpoints::Checkpoints;
pub use context::{Context, TransactionGuard};
pub use handler::{HandlerFuture, MessageSet};
pub use registered::{ResetTo, Subscriptions};
pub use registry::{linked_groups, Groups, MessageTypeDescriptor, Start, SubscriptionDescriptor};

#[doc(hidden)]
pub use handler::{decode, same_names, unknown_type};
