//! Subscriptions: handlers registered with `#[subscription]`, and the
//! consumers that feed them messages in order per stream.

mod checkpoint;
mod completer;
mod context;
pub(crate) mod engine;
mod global;
mod handler;
mod held;
mod queue;
mod registered;
pub(crate) mod registry;
mod retry;
mod selection;
mod supervisor;
mod wakeup;

pub use crate::store::checkpoints::CheckpointInfo;
pub use context::{Context, TransactionGuard};
pub use handler::{BoxError, HandlerFuture, MessageSet};
pub use registered::Subscriptions;
pub use registry::{MessageTypeDescriptor, Start, SubscriptionDescriptor};
pub use retry::FailedCheckpoints;
pub(crate) use selection::Selection;

#[doc(hidden)]
pub use handler::{decode, same_names, unknown_type};
