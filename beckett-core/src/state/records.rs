//! The records that cross the seam between the engine and its state store.

use crate::message::NewMessage;
use crate::selection::Selection;
use crate::store::{GlobalCursor, RawMessage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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
    /// The registration the raise is for: none is made for a subscription
    /// removed or reset since.
    pub registration: i64,
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// Whether it is handled as usual, waits to retry, or failed.
    pub status: CheckpointStatus,
    /// Failed attempts at the next message.
    pub attempts: u32,
    /// The last error, for `retry` and `failed` checkpoints.
    pub last_error: Option<String>,
    /// When the checkpoint is next due: after a retry's backoff or, while
    /// it is reserved, when the reservation expires.
    pub process_at: DateTime<Utc>,
    /// Until when a process holds it, while one does.
    pub reserved_until: Option<DateTime<Utc>>,
}

impl CheckpointInfo {
    /// The checkpoint's key.
    pub fn key(&self) -> CheckpointKey {
        CheckpointKey {
            group: self.group.clone(),
            subscription: self.subscription.clone(),
            stream: self.stream.clone(),
        }
    }
}

/// What a checkpoint's status column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointStatus {
    /// Handled as usual: caught up, or lagging and due.
    Active,
    /// A handler failed on the next message, which is tried again after a
    /// backoff.
    Retry,
    /// A handler failed on the next message more often than its retries
    /// allow: the stream waits for an operator.
    Failed,
}

impl CheckpointStatus {
    /// The status as stored: `active`, `retry` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retry => "retry",
            Self::Failed => "failed",
        }
    }
}

impl std::fmt::Display for CheckpointStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CheckpointStatus {
    type Err = String;

    /// Reads `active`, `retry` or `failed`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "active" => Ok(Self::Active),
            "retry" => Ok(Self::Retry),
            "failed" => Ok(Self::Failed),
            other => Err(format!(
                "unknown checkpoint status {other:?}: expected active, retry or failed"
            )),
        }
    }
}

/// Which checkpoint: the key of the checkpoints table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CheckpointKey {
    /// The subscription's group.
    pub group: String,
    /// The subscription's name.
    pub subscription: String,
    /// The stream the checkpoint follows.
    pub stream: String,
}

/// Which checkpoints an operator lists or acts on: those that meet every
/// condition set. The default matches every checkpoint.
///
/// ```
/// use beckett_core::state::{CheckpointFilter, CheckpointStatus};
///
/// let stuck_orders = CheckpointFilter::default()
///     .group("Billing")
///     .status(CheckpointStatus::Failed)
///     .stream_prefix("Order-")
///     .error_containing("timed out");
/// assert_eq!(stuck_orders.stream_prefix.as_deref(), Some("Order-"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointFilter {
    /// Only this group's.
    pub group: Option<String>,
    /// Only this subscription's.
    pub subscription: Option<String>,
    /// Only this stream's.
    pub stream: Option<String>,
    /// Only streams whose names start with this.
    pub stream_prefix: Option<String>,
    /// Only checkpoints in this status.
    pub status: Option<CheckpointStatus>,
    /// Only checkpoints whose last error contains this text, in any case.
    pub error: Option<String>,
    /// Only checkpoints a process holds now (`true`), or none holds
    /// (`false`).
    pub reserved: Option<bool>,
}

impl CheckpointFilter {
    /// The one checkpoint of `subscription` in `group` for `stream`.
    pub fn one(group: &str, subscription: &str, stream: &str) -> Self {
        Self::default()
            .group(group)
            .subscription(subscription)
            .stream(stream)
    }

    /// Only `group`'s checkpoints.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Only `subscription`'s checkpoints.
    pub fn subscription(mut self, subscription: impl Into<String>) -> Self {
        self.subscription = Some(subscription.into());
        self
    }

    /// Only the checkpoints of `stream`.
    pub fn stream(mut self, stream: impl Into<String>) -> Self {
        self.stream = Some(stream.into());
        self
    }

    /// Only the checkpoints of streams whose names start with `prefix`.
    pub fn stream_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.stream_prefix = Some(prefix.into());
        self
    }

    /// Only checkpoints in `status`.
    pub fn status(mut self, status: CheckpointStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only checkpoints whose last error contains `text`, in any case.
    pub fn error_containing(mut self, text: impl Into<String>) -> Self {
        self.error = Some(text.into());
        self
    }

    /// Only checkpoints a process holds now, or only those none holds.
    pub fn reserved(mut self, reserved: bool) -> Self {
        self.reserved = Some(reserved);
        self
    }

    /// Whether `checkpoint` meets every condition: what the stores'
    /// statements test, for stores and tests that filter in memory.
    pub fn matches(&self, checkpoint: &CheckpointInfo) -> bool {
        let is =
            |wanted: &Option<String>, value: &str| wanted.as_deref().is_none_or(|w| w == value);
        is(&self.group, &checkpoint.group)
            && is(&self.subscription, &checkpoint.subscription)
            && is(&self.stream, &checkpoint.stream)
            && self
                .stream_prefix
                .as_deref()
                .is_none_or(|p| checkpoint.stream.starts_with(p))
            && self.status.is_none_or(|s| s == checkpoint.status)
            && self
                .reserved
                .is_none_or(|r| r == checkpoint.reserved_until.is_some())
            && self.error.as_deref().is_none_or(|text| {
                let error = checkpoint.last_error.as_deref().unwrap_or_default();
                error.to_lowercase().contains(&text.to_lowercase())
            })
    }
}

/// A subscription as an operator sees it: where it stands, and how its
/// checkpoints fare.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriptionInfo {
    /// Its group.
    pub group: String,
    /// Its name.
    pub name: String,
    /// Tells this registration from an earlier one of the same name; a
    /// reset makes a new one.
    pub registration: i64,
    /// Whether it is paused: no process reserves its checkpoints.
    pub paused: bool,
    /// Where its group's leader has read the global order to for it.
    pub cursor: GlobalCursor,
    /// Its checkpoints: one per stream it has had a message for.
    pub checkpoints: u64,
    /// Checkpoints with messages to handle, neither retrying nor failed.
    pub lagging: u64,
    /// Checkpoints waiting to retry a message.
    pub retrying: u64,
    /// Checkpoints failed, waiting for an operator.
    pub failed: u64,
    /// Checkpoints a process holds now.
    pub reserved: u64,
    /// Stream positions between each checkpoint not failed and its stream's
    /// newest message for the subscription, summed: how far it is behind.
    pub behind: i64,
}

/// What came of a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetOutcome {
    /// Done: the subscription's checkpoints are gone, and its leader reads
    /// the global order again from where it was reset to, as a new
    /// registration.
    Done,
    /// Refused: processes hold this many of its checkpoints still, and a
    /// reset now would let two handle a stream at once. Pause it and wait
    /// for them to finish.
    Reserved(u64),
    /// No such subscription is registered.
    Unregistered,
    /// No message has the id a reset was to go after.
    UnknownMessage(Uuid),
}

impl std::fmt::Display for ResetOutcome {
    /// What came of it, as an operator reads it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Done => f.write_str("reset"),
            Self::Reserved(held) => write!(
                f,
                "not reset: processes still hold {held} of its streams after 30 seconds"
            ),
            Self::Unregistered => f.write_str("not reset: no such subscription is registered"),
            Self::UnknownMessage(id) => write!(f, "not reset: no message has the id {id}"),
        }
    }
}

/// A recurring job as its group declares it.
#[derive(Debug, Clone)]
pub struct DeclaredJob<'a> {
    /// The job's name: its subscription's.
    pub name: &'a str,
    /// Its cron expression.
    pub cron: &'a str,
    /// The expression as the `cron` crate reads it.
    pub schedule: &'a str,
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

/// A recurring job as the state store keeps it: declared by the programs
/// of its group, and marked removed once none declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecurringJobInfo {
    /// The job's group.
    pub group: String,
    /// The job's name: its subscription's.
    pub name: String,
    /// Its cron expression, as written.
    pub cron: String,
    /// The expression as the `cron` crate reads it; `None` when the job
    /// was last declared by a version that does not record it (an older
    /// one), whatever a newer one recorded before.
    pub schedule: Option<String>,
    /// The stream its occurrences are appended to.
    pub stream: String,
    /// When it was first declared (again, after a removal).
    pub declared_at: DateTime<Utc>,
    /// When its group stopped declaring it, if it has: its schedule stopped
    /// then.
    pub removed_at: Option<DateTime<Utc>>,
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

/// A scheduled message as an operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduledInfo {
    /// Its id, which the appended message keeps.
    pub id: Uuid,
    /// The stream it is to be appended to.
    pub stream: String,
    /// Its type.
    pub message_type: String,
    /// Its data.
    pub data: Value,
    /// Its metadata, as stored.
    pub metadata: Value,
    /// When it falls due.
    pub deliver_at: DateTime<Utc>,
    /// When it was scheduled.
    pub scheduled_at: DateTime<Utc>,
    /// Until when a process delivering it to a message store elsewhere has
    /// it, while one does.
    pub taken_until: Option<DateTime<Utc>>,
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

/// What one subscription did in one minute, added up over every process
/// that ran it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinuteStats {
    /// The subscription's group.
    pub group: String,
    /// The subscription's name.
    pub subscription: String,
    /// When the minute began.
    pub minute: DateTime<Utc>,
    /// Messages handled.
    pub handled: u64,
    /// Handler calls that failed.
    pub failed: u64,
    /// The longest a message handled in the minute waited from its append
    /// to its handling, in milliseconds.
    pub max_lag_ms: u64,
}
