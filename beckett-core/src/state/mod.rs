//! The engine's own state: subscriptions and their cursors, per-stream
//! checkpoints and their reservations, scheduled messages, recurring jobs,
//! wake-ups and the transactions of `transactional` handlers.
//!
//! [`EngineStorage`] is the seam between the engine and the store that
//! keeps that state: the engine calls nothing else. A backend implements it
//! beside its own message store, as `PostgresStore` does, and keeps the
//! state of a message store elsewhere too: see [`Storage::beside`].

mod records;

pub use records::{
    CheckpointFilter, CheckpointInfo, CheckpointKey, CheckpointStatus, Completed, Cursor,
    DeclaredJob, Delivered, DueMessage, Failure, KnownJob, MinuteStats, Raise, RecurringJobInfo,
    Registered, RemovedJob, Reservation, Reserved, ResetOutcome, ScheduledInfo, StartAt,
    SubscriptionInfo,
};

use crate::error::Result;
use crate::message::NewMessage;
use crate::scheduling::Due;
use crate::selection::Selection;
use crate::store::{Appended, MessageStorage};
use crate::version::ExpectedVersion;
use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The store of the engine's state.
///
/// Every method is one atomic step that several processes may take at
/// once: the store makes reservations exclude each other, moves a
/// checkpoint only for the holder of its reservation's token, and never
/// moves one back (a position below the one kept leaves it where it is).
/// The conformance suite checks each promise made here.
#[async_trait::async_trait]
pub trait EngineStorage: Any + Send + Sync {
    // Subscriptions.

    /// Records a subscription if it is new, starting where `start` says;
    /// and what it selects, widened to cover every version of the program
    /// that declares it.
    async fn register(
        &self,
        group: &str,
        name: &str,
        start: &StartAt,
        selection: &Selection,
    ) -> Result<()>;

    /// The subscriptions registered in `group` besides `declared`, each
    /// with how many of its checkpoints lag.
    async fn undeclared(&self, group: &str, declared: &[&str]) -> Result<Vec<(String, i64)>>;

    /// The subscriptions registered in `group`, with their cursors, as
    /// the group's leader reads them: what an operator or a test looks at.
    async fn registered(&self, group: &str) -> Result<Vec<Registered>>;

    /// Removes a subscription and all of its checkpoints; how many
    /// checkpoints went, or `None` if it was not registered.
    async fn remove(&self, group: &str, name: &str) -> Result<Option<u64>>;

    /// Tries to become the group's leader, which alone moves its cursors;
    /// `None` while another process leads. The lead lasts until the
    /// returned [`Leadership`] is dropped or its process dies.
    async fn lead(&self, group: &str) -> Result<Option<Box<dyn Leadership>>>;

    // Checkpoints.

    /// Reserves up to `limit` lagging, due checkpoints of the group's
    /// `subscriptions`, each under a token of its own, for `timeout`, with
    /// up to `read` messages of each one's stream after its position if
    /// the store holds them (none are read when `read` is 0).
    async fn reserve(
        &self,
        group: &str,
        subscriptions: &[&str],
        limit: usize,
        read: usize,
        timeout: Duration,
    ) -> Result<Vec<Reserved>>;

    /// Moves done-with checkpoints to their positions and releases them,
    /// clearing any retry state; checkpoints whose reservation was taken
    /// over are left as they are. True when one of them lags again.
    async fn complete(&self, group: &str, completed: &[Completed]) -> Result<bool>;

    /// Moves a reserved checkpoint to `position`, clearing any retry
    /// state, and either keeps the reservation for `keep` more or, with
    /// `None` or when the subscription is paused, releases it. False when
    /// the reservation is not held after: lost, or released for a pause.
    async fn advance(
        &self,
        group: &str,
        reservation: &Reservation,
        position: i64,
        keep: Option<Duration>,
    ) -> Result<bool>;

    /// Records a failed handler call and releases the reservation.
    async fn fail(&self, group: &str, reservation: &Reservation, failure: &Failure) -> Result<()>;

    /// Extends reservations, by token, to last `timeout` from now; returns
    /// the tokens extended. One busy elsewhere may be left for next time.
    async fn extend(&self, tokens: &[Uuid], timeout: Duration) -> Result<Vec<Uuid>>;

    /// Releases reservations, by token, not to be reserved again for
    /// `pause`.
    async fn release(&self, tokens: &[Uuid], pause: Duration) -> Result<()>;

    // Operators.

    /// The subscriptions registered, of one group or of all, in group and
    /// name order, with counts of their checkpoints.
    async fn subscriptions(&self, group: Option<&str>) -> Result<Vec<SubscriptionInfo>>;

    /// Pauses a subscription (no process reserves its checkpoints, so
    /// none starts a batch of them) or resumes it. False when it is not
    /// registered.
    async fn set_paused(&self, group: &str, name: &str, paused: bool) -> Result<bool>;

    /// Removes a subscription's checkpoints and moves its cursor to `to`
    /// as a new registration, so that its leader reads the global order
    /// again from there and every message after is handled again; a
    /// stream's checkpoint is created at its first message read, as for a
    /// subscription registered from `to`. Refused while processes hold any
    /// of its checkpoints. Its pause and what it selects stay.
    async fn reset(&self, group: &str, name: &str, to: &StartAt) -> Result<ResetOutcome>;

    /// Up to `limit` checkpoints matching `filter`, in key order, after
    /// `after` if given.
    async fn checkpoints(
        &self,
        filter: &CheckpointFilter,
        after: Option<&CheckpointKey>,
        limit: usize,
    ) -> Result<Vec<CheckpointInfo>>;

    /// How many checkpoints match `filter`.
    async fn count_checkpoints(&self, filter: &CheckpointFilter) -> Result<u64>;

    /// Makes the failed checkpoints matching `filter` due now, each from
    /// the message that failed, with its count of attempts back at 0;
    /// returns how many.
    async fn retry_failed(&self, filter: &CheckpointFilter) -> Result<u64>;

    /// Moves the failed checkpoints matching `filter` past the message
    /// that failed, the one after each position, recording each skip;
    /// returns how many.
    async fn skip_failed(&self, filter: &CheckpointFilter) -> Result<u64>;

    /// Ends the reservations of the checkpoints matching `filter` that a
    /// process holds, making them due now; returns how many. The holder's
    /// writes to them are refused from then on, but a handler it is running
    /// runs to its end: release only what a stuck or vanished process
    /// holds.
    async fn release_reserved(&self, filter: &CheckpointFilter) -> Result<u64>;

    // What subscriptions did, a minute at a time.

    /// Adds `minutes`, each named by when it began, to what is kept of
    /// them (keeping the longer lag of two), and forgets minutes more than
    /// a day old.
    async fn record_minutes(&self, minutes: &[MinuteStats]) -> Result<()>;

    /// What is kept of every subscription's minutes from `since` on, in
    /// order of minute.
    async fn minutes(&self, since: DateTime<Utc>) -> Result<Vec<MinuteStats>>;

    // Scheduled messages and recurring jobs.

    /// Keeps `message` to append to `stream` when it is due; returns its
    /// id.
    async fn schedule(&self, stream: &str, message: NewMessage, due: Due) -> Result<Uuid>;

    /// Cancels a scheduled message still waiting; false if it was not.
    async fn cancel_scheduled(&self, id: Uuid) -> Result<bool>;

    /// Up to `limit` scheduled messages still to deliver, of streams whose
    /// names start with `stream_prefix` if given, in the order they fall
    /// due.
    async fn scheduled(
        &self,
        stream_prefix: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ScheduledInfo>>;

    /// Makes a scheduled message still waiting due now (one overdue keeps
    /// its place), and wakes the scheduler; false if it is not waiting
    /// (delivered, cancelled, or taken for delivery).
    async fn deliver_now(&self, id: Uuid) -> Result<bool>;

    /// Appends up to `limit` due scheduled messages to their streams, each
    /// exactly once, in the store's own message store.
    async fn deliver_due(&self, limit: usize) -> Result<Delivered>;

    /// Takes up to `limit` due scheduled messages for a message store
    /// elsewhere, in the order they fell due: none of them is taken again,
    /// or can be cancelled, for `lease`, nor is a later message of their
    /// streams, so that a stream's messages are appended in due order. The
    /// engine appends them and then calls [`delivered`](Self::delivered);
    /// those not delivered when the lease ends fall due again, in their
    /// place.
    async fn take_due(&self, limit: usize, lease: Duration) -> Result<Vec<DueMessage>>;

    /// Forgets scheduled messages taken and appended.
    async fn delivered(&self, ids: &[Uuid]) -> Result<()>;

    /// How long until the next scheduled message is due, if one waits.
    async fn next_due(&self) -> Result<Option<Duration>>;

    /// Records the recurring jobs `group` declares now.
    async fn declare_jobs(&self, group: &str, jobs: &[DeclaredJob<'_>]) -> Result<Vec<KnownJob>>;

    /// Marks the group's jobs not in `declared` removed; returns them.
    async fn remove_other_jobs(&self, group: &str, declared: &[&str]) -> Result<Vec<RemovedJob>>;

    /// Every recurring job declared, removed ones too, in group and name
    /// order.
    async fn recurring_jobs(&self) -> Result<Vec<RecurringJobInfo>>;

    // Wake-ups and transactions.

    /// Signals that something changed, for as long as the engine runs: a
    /// stream that ends leaves the engine to its polls.
    fn wakeups(&self) -> BoxStream<'static, Wakeup>;

    /// Begins a transaction in which a `transactional` handler's writes
    /// commit with its checkpoint.
    async fn begin(&self) -> Result<Box<dyn StateTransaction>>;
}

/// The lead of one group, held until dropped: the leader alone reads the
/// subscriptions' cursors and moves them.
#[async_trait::async_trait]
pub trait Leadership: Send {
    /// The subscriptions registered in the group.
    async fn registered(&mut self) -> Result<Vec<Registered>>;

    /// Raises checkpoints' versions, creating the missing ones, and moves
    /// subscriptions' cursors, atomically, waking every process's consumer
    /// unless this one took all the new work. A checkpoint created with a
    /// `take` token is reserved under it for `timeout`, unless its
    /// subscription is paused; returns the tokens so taken. Raises and
    /// cursors for a registration that is gone (the subscription removed
    /// or reset) change nothing.
    async fn record(
        &mut self,
        raises: &[Raise<'_>],
        cursors: &[Cursor<'_>],
        timeout: Duration,
    ) -> Result<HashSet<Uuid>>;
}

/// A transaction of the state store that a `transactional` handler writes
/// in: its writes commit with the checkpoint moved past its message, or
/// not at all.
///
/// A handler reaches the backend's own transaction by
/// [`TransactionGuard::downcast_mut`](crate::subscription::TransactionGuard::downcast_mut).
#[async_trait::async_trait]
pub trait StateTransaction: Any + Send {
    /// Moves the reserved checkpoint in this transaction, as
    /// [`EngineStorage::advance`] does, but keeps a paused subscription's
    /// reservation: the batch under way goes on to its end.
    async fn advance(
        &mut self,
        group: &str,
        reservation: &Reservation,
        position: i64,
        keep: Option<Duration>,
    ) -> Result<bool>;

    /// Appends in this transaction, when the message store shares it;
    /// `None` when it does not, and the append goes to the message store.
    /// The engine asks only when the store holds the messages (see
    /// [`Storage::together`]).
    async fn append(
        &mut self,
        stream: &str,
        expected: ExpectedVersion,
        messages: Vec<NewMessage>,
    ) -> Option<Result<Appended>>;

    /// Schedules in this transaction.
    async fn schedule(&mut self, stream: &str, message: NewMessage, due: Due) -> Result<Uuid>;

    /// Cancels a scheduled message in this transaction.
    async fn cancel_scheduled(&mut self, id: Uuid) -> Result<bool>;

    /// Commits.
    async fn commit(self: Box<Self>) -> Result<()>;

    /// Rolls back.
    async fn rollback(self: Box<Self>) -> Result<()>;
}

/// What changed, as a wake-up says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wakeup {
    /// Messages were appended.
    Messages,
    /// The group has new lagging checkpoints.
    Checkpoints(String),
    /// A message was scheduled to be due soon.
    Scheduled,
    /// Signals may have been lost (a connection dropped): look at
    /// everything.
    Missed,
}

/// What the engine runs on: a message store, and a store of its own state,
/// either one database that holds both ([`together`](Self::together)) or a
/// state store beside a message store elsewhere
/// ([`beside`](Self::beside)).
///
/// ```
/// use beckett_core::memory::MemoryStore;
/// # use beckett_core::state::{EngineStorage, Storage};
/// # use std::sync::Arc;
/// # fn demo(state: Arc<dyn EngineStorage>) {
/// // The application's messages in a store of its own, the engine's state
/// // in `state` (Postgres or SQLite).
/// let storage = Storage::beside(Arc::new(MemoryStore::new()), state);
/// assert!(!storage.holds_together());
/// # }
/// ```
#[derive(Clone)]
pub struct Storage {
    messages: Arc<dyn MessageStorage>,
    engine: Arc<dyn EngineStorage>,
    together: bool,
}

impl Storage {
    /// One store that holds the messages and the engine's state, such as
    /// Postgres or SQLite: scheduled messages are appended exactly once,
    /// and a `transactional` handler's appends commit with its checkpoint.
    pub fn together<S: MessageStorage + EngineStorage>(store: Arc<S>) -> Self {
        Self {
            messages: store.clone(),
            engine: store,
            together: true,
        }
    }

    /// The engine's state in `engine`, beside a message store elsewhere
    /// (the application's own, or another database).
    ///
    /// What that costs: the engine reads each stream's messages in a read
    /// of their own; a subscription that starts at the end starts at the
    /// message store's [`head`](MessageStorage::head), and creates each
    /// stream's checkpoint just before the first of its messages it reads,
    /// so the message store's global order must keep each stream's order;
    /// a scheduled message is appended once if the message store refuses
    /// an id it holds ([`Error::DuplicateMessageId`](crate::Error::DuplicateMessageId),
    /// as every beckett store does), and at least once otherwise (twice if
    /// a process dies between the append and recording it delivered); a
    /// `transactional` handler's appends go to the message store outside
    /// its transaction; and the engine learns of appends by other
    /// processes from its polls unless the message store signals them
    /// ([`appended`](MessageStorage::appended)).
    pub fn beside(messages: Arc<dyn MessageStorage>, engine: Arc<dyn EngineStorage>) -> Self {
        Self {
            messages,
            engine,
            together: false,
        }
    }

    /// The message store.
    pub fn messages(&self) -> &Arc<dyn MessageStorage> {
        &self.messages
    }

    /// The store of the engine's state.
    pub fn engine(&self) -> &Arc<dyn EngineStorage> {
        &self.engine
    }

    /// Whether one store holds the messages and the engine's state.
    pub fn holds_together(&self) -> bool {
        self.together
    }

    /// Where a subscription that starts at the end starts now: the end of
    /// the state store's own messages, or the head of the message store
    /// elsewhere.
    pub async fn end(&self) -> Result<StartAt> {
        Ok(match self.together {
            true => StartAt::End,
            false => StartAt::After(self.messages.head().await?),
        })
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("together", &self.together)
            .finish_non_exhaustive()
    }
}
