//! The records that cross the seam between the engine and its state store.

use crate::message::NewMessage;
use crate::selection::Selection;
use crate::store::{GlobalCursor, RawMessage};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

/// A checkpoint reserved for handling: which stream, from where, by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The subscription whose checkpoint it is.
    pub subscription: String,
    /// The stream the checkpoint follows.
    pub stream: String,
    /// The newest position handled.
    pub position: i64,
    /// Failed attempts at the next message.
    pub attempts: u32,
    /// The token the reservation is held under.
    pub token: Uuid,
}

/// A reservation with the first messages of its stream after the
/// checkpoint's position.
#[derive(Debug)]
pub struct Reserved {
    /// What was reserved.
    pub reservation: Reservation,
    /// The stream's messages after the checkpoint's position, in stream
    /// order, as many as the reservation asked for at most; `None` from a
    /// state store that does not hold the messages, and the engine reads
    /// them from the message store.
    pub messages: Option<Vec<RawMessage>>,
}

/// A subscription as registered: where it has read the global order to,
/// and what it selects, if known.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The subscription's name.
    pub name: String,
    /// Tells this registration from an earlier one of the same name.
    pub registration: i64,
    /// Where it has read the global order to.
    pub cursor: GlobalCursor,
    /// What it selects; `None` if registered before selections were kept.
    pub selection: Option<Selection>,
}

/// Where a registered subscription has read the global order to.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    /// The subscription's name.
    pub subscription: &'a str,
    /// The registration the cursor belongs to: a subscription removed and
    /// registered again keeps its new cursor.
    pub registration: i64,
    /// Where it has read to.
    pub cursor: &'a GlobalCursor,
}

/// A checkpoint to raise to `version`, created if missing; reserved under
/// `take` if it is created.
#[derive(Debug, Clone)]
pub struct Raise<'a> {
    /// The subscription whose checkpoint it is.
    pub subscription: &'a str,
    /// The stream the checkpoint follows.
    pub stream: &'a str,
    /// The newest position of a message the subscription selects.
    pub version: i64,
    /// The first position of the stream read with this raise: a
    /// subscription that started at the end creates a stream's checkpoint
    /// just before it, unless the stream had messages past its start
    /// before.
    pub first: i64,
    /// The token to reserve a created checkpoint under, for the leader's
    /// own process.
    pub take: Option<Uuid>,
}

/// A reserved checkpoint done with: to move to `position` and release.
#[derive(Debug, Clone)]
pub struct Completed {
    /// The subscription whose checkpoint it is.
    pub subscription: String,
    /// The stream the checkpoint follows.
    pub stream: String,
    /// The token the reservation is held under.
    pub token: Uuid,
    /// The newest position handled.
    pub position: i64,
}

/// The outcome recorded for a failed handler call.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The position handled last, before the failing message.
    pub position: i64,
    /// Failed attempts at the failing message.
    pub attempts: u32,
    /// What went wrong.
    pub error: String,
    /// When to try again; `None` marks the checkpoint failed.
    pub retry_in: Option<Duration>,
}

/// A checkpoint as an operator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointInfo {
    /// The subscription's group.
    pub group: String,
    /// The subscription's name.
    pub subscription: String,
    /// The stream the checkpoint follows.
    pub stream: String,
    /// The newest position of a message for the subscription in the stream.
    pub stream_version: i64,
    /// The newest position handled.
    pub stream_position: i64,
    /// `active`, `retry` or `failed`.
    pub status: String,
    /// Failed attempts at the next message.
    pub attempts: u32,
    /// The last error, for `retry` and `failed` checkpoints.
    pub last_error: Option<String>,
    /// When the checkpoint is next due: after a retry's backoff or, while
    /// it is reserved, when the reservation expires.
    pub process_at: DateTime<Utc>,
}

/// A recurring job as its group declares it.
#[derive(Debug, Clone)]
pub struct DeclaredJob<'a> {
    /// The job's name: its subscription's.
    pub name: &'a str,
    /// Its cron expression.
    pub cron: &'a str,
    /// The stream its occurrences are appended to.
    pub stream: &'a str,
}

/// A declared job as the state store knows it.
#[derive(Debug, Clone)]
pub struct KnownJob {
    /// The job's name.
    pub name: String,
    /// When it was first declared (again, after a removal): its first
    /// occurrence comes after.
    pub declared_at: DateTime<Utc>,
    /// The store's clock when it answered, which the firers of every
    /// process share.
    pub store_now: DateTime<Utc>,
}

/// A recurring job that its group no longer declares.
#[derive(Debug, Clone)]
pub struct RemovedJob {
    /// The job's name.
    pub name: String,
    /// Its cron expression.
    pub cron: String,
    /// The stream its occurrences were appended to.
    pub stream: String,
}

/// What a round of scheduled delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Messages appended.
    pub moved: usize,
    /// Whether due messages were left for another process that holds
    /// their streams: look again soon.
    pub held_back: bool,
}

/// Where a new subscription starts reading the global order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartAt {
    /// At the first message.
    First,
    /// After the last message the state store's own message store holds
    /// committed now.
    End,
    /// After `cursor`, the head of a message store elsewhere: each
    /// stream's checkpoint is created just before the first of its
    /// messages read, the earlier ones being history.
    After(GlobalCursor),
}

/// A scheduled message taken for delivery to a message store elsewhere.
#[derive(Debug, Clone)]
pub struct DueMessage {
    /// The stream to append it to.
    pub stream: String,
    /// The message, with the id it was scheduled under.
    pub message: NewMessage,
}

impl DueMessage {
    /// A scheduled message as a state store keeps it: its id, stream,
    /// type, data, and metadata as [`NewMessage::encode`] wrote it. `None`,
    /// with an error logged, when the metadata is not of that shape: the
    /// message stays taken and comes back after each lease, holding back
    /// no other, until it is mended or cancelled.
    pub fn from_stored(
        id: Uuid,
        stream: String,
        message_type: String,
        data: Value,
        metadata: Value,
    ) -> Option<Self> {
        match serde_json::from_value(metadata) {
            Ok(metadata) => {
                let message = NewMessage::from_json(message_type, data)
                    .with_id(id)
                    .with_metadata(metadata);
                Some(Self { stream, message })
            }
            Err(error) => {
                tracing::error!(%id, stream, %error,
                    "a scheduled message's metadata is unreadable; it is not delivered");
                None
            }
        }
    }
}
