//! The message store: appending messages to streams and reading them back,
//! by stream or in global order.
//!
//! [`MessageStorage`] is the seam between the engine and a backend;
//! [`PostgresStore`] is the Postgres backend.

pub(crate) mod checkpoints;
mod cursor;
mod envelope;
mod postgres;
mod recurring_jobs;
mod stream_name;

pub use cursor::GlobalCursor;
pub use envelope::Envelope;
pub(crate) use envelope::RawMessage;
pub use postgres::{connect, connect_from_env, PostgresStore};
pub(crate) use postgres::{connect_pool, raw_message, MESSAGE_COLUMNS};
pub(crate) use recurring_jobs::{DeclaredJob, RecurringJobs};
pub use stream_name::{category, MAX_STREAM_NAME_BYTES};

use crate::error::Result;
use crate::message::NewMessage;
use std::fmt;

/// What an append expects of the stream's version (the position of its
/// newest message); a mismatch writes nothing and is
/// [`Error::WrongExpectedVersion`](crate::Error::WrongExpectedVersion).
///
/// ```
/// use beckett::ExpectedVersion;
///
/// assert!(ExpectedVersion::Any.matches(0));
/// assert!(ExpectedVersion::NoStream.matches(0));
/// assert!(ExpectedVersion::StreamExists.matches(3));
/// assert!(ExpectedVersion::Exact(3).matches(3));
/// assert!(!ExpectedVersion::Exact(2).matches(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// Append whatever the stream holds, creating it if needed.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must hold at least one message.
    StreamExists,
    /// The stream must be at exactly this version; `Exact(0)` is
    /// [`NoStream`](Self::NoStream).
    Exact(i64),
}

impl ExpectedVersion {
    /// Whether a stream at `version` (0: no stream) satisfies this
    /// expectation.
    ///
    /// ```
    /// # use beckett::ExpectedVersion;
    /// assert!(!ExpectedVersion::StreamExists.matches(0));
    /// assert!(ExpectedVersion::Exact(0).matches(0));
    /// ```
    pub fn matches(self, version: i64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => version == 0,
            Self::StreamExists => version > 0,
            Self::Exact(expected) => version == expected,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any version"),
            Self::NoStream | Self::Exact(0) => f.write_str("no stream"),
            Self::StreamExists => f.write_str("an existing stream"),
            Self::Exact(version) => write!(f, "version {version}"),
        }
    }
}

/// What an append wrote.
///
/// ```
/// # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
/// use beckett::{ExpectedVersion, MessageStorage, NewMessage};
///
/// let appended = store
///     .append("Order-1", ExpectedVersion::Any, vec![NewMessage::from_json("Ping", serde_json::json!({}))])
///     .await?;
/// assert_eq!(appended.global_positions.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Appended {
    /// The stream's version after the append: the position of its last
    /// message.
    pub stream_version: i64,
    /// The appended messages' global positions, in the order given.
    pub global_positions: Vec<i64>,
}

/// A message store backend: appends to streams and reads by stream or in
/// global order.
///
/// The engine reaches storage only through this trait, so another backend
/// can replace [`PostgresStore`] without engine changes.
///
/// ```no_run
/// use beckett::{ExpectedVersion, GlobalCursor, MessageStorage, NewMessage, PostgresStore};
///
/// async fn show(store: &dyn MessageStorage) -> beckett::Result<()> {
///     let ping = NewMessage::from_json("Ping", serde_json::json!({}));
///     store.append("Pinger-1", ExpectedVersion::Any, vec![ping]).await?;
///     let read = store.read_global(&GlobalCursor::START, 100).await?;
///     for message in &read.messages {
///         println!("{} {}", message.stream, message.message_type);
///     }
///     Ok(())
/// }
/// ```
#[async_trait::async_trait]
pub trait MessageStorage: Send + Sync {
    /// Appends messages to a stream in one atomic write, if the stream's
    /// version matches `expected`.
    ///
    /// Concurrent appends to one stream never leave a gap or a duplicate
    /// position. An empty `messages` only checks `expected` and writes
    /// nothing.
    ///
    /// ```no_run
    /// # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
    /// use beckett::{Error, ExpectedVersion, MessageStorage, NewMessage};
    ///
    /// let opened = || vec![NewMessage::from_json("AccountOpened", serde_json::json!({}))];
    /// store.append("Account-9", ExpectedVersion::NoStream, opened()).await?;
    /// let again = store.append("Account-9", ExpectedVersion::NoStream, opened()).await;
    /// assert!(matches!(again, Err(Error::WrongExpectedVersion { actual: 1, .. })));
    /// # Ok(()) }
    /// ```
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        messages: Vec<NewMessage>,
    ) -> Result<Appended>;

    /// Reads up to `limit` messages of a stream, from stream position
    /// `from` (inclusive; positions start at 1), in stream order.
    ///
    /// ```no_run
    /// # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
    /// use beckett::MessageStorage;
    ///
    /// for message in store.read_stream("Order-1", 1, 100).await? {
    ///     println!("{}: {}", message.position, message.message_type);
    /// }
    /// # Ok(()) }
    /// ```
    async fn read_stream(&self, stream: &str, from: i64, limit: usize) -> Result<Vec<Envelope>>;

    /// Reads up to `limit` messages of all streams that come after `after`
    /// in the global order, and the cursor to read on from.
    ///
    /// The global order never skips and never stalls. A read returns every
    /// message committed past the cursor; a transaction still running is
    /// stepped over and remembered in the returned cursor, and its messages
    /// come in a later read once it commits. So a reader that resumes from
    /// each read's cursor sees every committed message exactly once, and a
    /// long transaction delays only the messages it writes itself. Messages
    /// come in the order of their writing transactions, then of global
    /// position within one; one stream's messages may come out of stream
    /// order when their transactions took their ids in another order.
    ///
    /// ```no_run
    /// # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
    /// use beckett::{GlobalCursor, MessageStorage};
    ///
    /// let mut cursor = GlobalCursor::START;
    /// loop {
    ///     let read = store.read_global(&cursor, 500).await?;
    ///     cursor = read.cursor;
    ///     if read.messages.is_empty() {
    ///         break;
    ///     }
    ///     // handle read.messages
    /// }
    /// # Ok(()) }
    /// ```
    async fn read_global(&self, after: &GlobalCursor, limit: usize) -> Result<GlobalRead>;
}

/// What a read of the global order returned: the messages, and where to
/// read on from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GlobalRead {
    /// The messages read, in global order.
    pub messages: Vec<Envelope>,
    /// Where the next read starts.
    pub cursor: GlobalCursor,
}
