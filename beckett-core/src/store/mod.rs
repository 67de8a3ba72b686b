//! The message store: appending messages to streams and reading them back,
//! by stream or in global order.
//!
//! [`MessageStorage`] is the seam between the engine and a message store.
//! A store implements the raw reads; the engine and users read through the
//! decoding methods the trait provides.

mod browse;
mod cursor;
mod envelope;
mod stream_name;

pub use browse::{CategoryInfo, Found, MessageSearch, StreamInfo, SEARCH_SPAN};
pub use cursor::{GlobalCursor, Pending, Place};
pub use envelope::{Envelope, RawMessage};
pub use stream_name::{category, validate as validate_stream_name, MAX_STREAM_NAME_BYTES};

use crate::error::Result;
use crate::message::{Encoded, NewMessage};
use crate::version::ExpectedVersion;
use futures_util::stream::BoxStream;
use std::any::Any;
use uuid::Uuid;

/// A batch to append, as a store writes it: the stream's name checked, and
/// each message's type checked and its metadata encoded. What every store
/// does first, so that bad input is refused before anything is written.
///
/// ```
/// use beckett::store::encode_batch;
/// use beckett::NewMessage;
///
/// let ping = || NewMessage::from_json("Ping", serde_json::json!({}));
/// assert_eq!(encode_batch("Pinger-1", vec![ping(), ping()])?.len(), 2);
/// assert!(encode_batch("", vec![ping()]).is_err());
/// # Ok::<(), beckett::Error>(())
/// ```
pub fn encode_batch(stream: &str, messages: Vec<NewMessage>) -> Result<Vec<Encoded>> {
    validate_stream_name(stream)?;
    messages.into_iter().map(NewMessage::encode).collect()
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
pub struct Appended {
    /// The stream's version after the append: the position of its last
    /// message.
    pub stream_version: i64,
    /// The appended messages' global positions, in the order given.
    pub global_positions: Vec<i64>,
}

/// A message store: appends to streams and reads by stream or in global
/// order.
///
/// The engine reaches the message store only through this trait: Postgres,
/// SQLite, the in-memory store and a store of the application's own are
/// interchangeable. A store implements [`append`](Self::append), the raw
/// reads and [`last_message`](Self::last_message); the decoding reads are
/// provided.
///
/// ```no_run
/// use beckett::{ExpectedVersion, GlobalCursor, MessageStorage, NewMessage};
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
pub trait MessageStorage: Any + Send + Sync {
    /// Appends messages to a stream in one atomic write, if the stream's
    /// version matches `expected`.
    ///
    /// Concurrent appends to one stream never leave a gap or a duplicate
    /// position. An empty `messages` only checks `expected` and writes
    /// nothing. A mismatch writes nothing and is
    /// [`Error::WrongExpectedVersion`](crate::Error::WrongExpectedVersion).
    ///
    /// ```no_run
    /// # async fn demo(store: &dyn beckett::MessageStorage) -> beckett::Result<()> {
    /// use beckett::{Error, ExpectedVersion, NewMessage};
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

    /// Reads up to `limit` messages of a stream from stream position `from`
    /// (inclusive; positions start at 1), in stream order, their metadata
    /// as stored.
    async fn read_stream_raw(
        &self,
        stream: &str,
        from: i64,
        limit: usize,
    ) -> Result<Vec<RawMessage>>;

    /// Reads up to `limit` messages of all streams that come after `after`
    /// in the global order, their metadata as stored, and the cursor to
    /// read on from.
    ///
    /// The global order never skips: a reader that resumes from each
    /// read's cursor sees every committed message exactly once. One
    /// stream's messages come in stream order unless the store says
    /// otherwise (Postgres orders by writing transaction, and may not).
    /// Only messages whose type `bodies` lists (all, if `None`) need their
    /// data and metadata; a store may leave the others' `Null`.
    async fn read_global_raw(
        &self,
        after: &GlobalCursor,
        limit: usize,
        bodies: Option<&[&str]>,
    ) -> Result<GlobalRead<RawMessage>>;

    /// The newest message of a stream, if it has any; an invalid stream
    /// name is [`Error::InvalidStreamName`](crate::Error::InvalidStreamName),
    /// as in every read.
    async fn last_message(&self, stream: &str) -> Result<Option<RawMessage>>;

    /// The cursor past every message committed now: a read from it returns
    /// only messages committed later. Where a subscription that starts at
    /// the end starts.
    async fn head(&self) -> Result<GlobalCursor>;

    /// Signals that messages were appended, if the store can tell: each
    /// item says something new may follow the last read. `None` (the
    /// default) leaves the engine to find new messages by polling the
    /// global order; a state store that holds the messages signals them
    /// itself, and this is asked only of a message store elsewhere.
    fn appended(&self) -> Option<BoxStream<'static, ()>> {
        None
    }

    /// The message whose id is `id`, if the store holds it, its metadata
    /// as stored. By default the global order is read from the start until
    /// it turns up: a store that indexes ids answers at once.
    async fn message_raw(&self, id: Uuid) -> Result<Option<RawMessage>> {
        let mut cursor = GlobalCursor::START;
        loop {
            let read = self.read_global_raw(&cursor, 1000, None).await?;
            if read.messages.is_empty() {
                return Ok(None);
            }
            if let Some(found) = read.messages.into_iter().find(|m| m.envelope.id == id) {
                return Ok(Some(found));
            }
            cursor = read.cursor;
        }
    }

    /// The message whose id is `id`, if the store holds it.
    ///
    /// ```no_run
    /// # async fn demo(store: &dyn beckett::MessageStorage, id: uuid::Uuid) -> beckett::Result<()> {
    /// if let Some(message) = store.message(id).await? {
    ///     println!("{} #{}: {}", message.stream, message.position, message.message_type);
    /// }
    /// # Ok(()) }
    /// ```
    async fn message(&self, id: Uuid) -> Result<Option<Envelope>> {
        self.message_raw(id)
            .await?
            .map(RawMessage::decode)
            .transpose()
    }

    /// The categories of the store's streams, by name, with how many
    /// streams and messages each holds. By default the whole global order
    /// is read: a store that keeps its streams apart answers quicker.
    ///
    /// ```no_run
    /// # async fn demo(store: &dyn beckett::MessageStorage) -> beckett::Result<()> {
    /// for category in store.categories().await? {
    ///     println!("{}: {} streams", category.name, category.streams);
    /// }
    /// # Ok(()) }
    /// ```
    async fn categories(&self) -> Result<Vec<CategoryInfo>> {
        browse::categories(self).await
    }

    /// Up to `limit` streams of `category`, in byte order of their names,
    /// after the stream named `after` if given. By default the whole
    /// global order is read.
    ///
    /// ```no_run
    /// # async fn demo(store: &dyn beckett::MessageStorage) -> beckett::Result<()> {
    /// let first = store.streams("Order", None, 50).await?;
    /// let next = store.streams("Order", first.last().map(|s| s.name.as_str()), 50).await?;
    /// # Ok(()) }
    /// ```
    async fn streams(
        &self,
        category: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>> {
        browse::streams(self, category, after, limit).await
    }

    /// Up to `limit` messages that `search` finds below global position
    /// `before` (from the newest, if `None`), newest first, their metadata
    /// as stored. By default the whole global order is read.
    async fn search_raw(
        &self,
        search: &MessageSearch,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Found<RawMessage>> {
        browse::search(self, search, before, limit).await
    }

    /// Up to `limit` messages that `search` finds below global position
    /// `before` (from the newest, if `None`), newest first, and where to
    /// search on.
    ///
    /// ```no_run
    /// # async fn demo(store: &dyn beckett::MessageStorage) -> beckett::Result<()> {
    /// use beckett::store::MessageSearch;
    ///
    /// let search = MessageSearch::default().message_type("OrderPlaced");
    /// let mut before = None;
    /// loop {
    ///     let found = store.search(&search, before, 100).await?;
    ///     for message in &found.messages {
    ///         println!("{} in {}", message.id, message.stream);
    ///     }
    ///     match found.older {
    ///         Some(older) => before = Some(older),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    async fn search(
        &self,
        search: &MessageSearch,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Found<Envelope>> {
        let Found { messages, older } = self.search_raw(search, before, limit).await?;
        Ok(Found {
            messages: messages
                .into_iter()
                .map(RawMessage::decode)
                .collect::<Result<_>>()?,
            older,
        })
    }

    /// A reader of the global order for one consumer that follows it for
    /// long; by default, the store itself. A store may keep a connection
    /// of its own for it.
    async fn reader(&self) -> Result<Box<dyn GlobalReader + '_>> {
        Ok(Box::new(SharedReader(self)))
    }

    /// Reads up to `limit` messages of a stream, from stream position
    /// `from` (inclusive; positions start at 1), in stream order.
    ///
    /// ```no_run
    /// # async fn demo(store: &dyn beckett::MessageStorage) -> beckett::Result<()> {
    /// for message in store.read_stream("Order-1", 1, 100).await? {
    ///     println!("{}: {}", message.position, message.message_type);
    /// }
    /// # Ok(()) }
    /// ```
    async fn read_stream(&self, stream: &str, from: i64, limit: usize) -> Result<Vec<Envelope>> {
        let read = self.read_stream_raw(stream, from, limit).await?;
        read.into_iter().map(RawMessage::decode).collect()
    }

    /// Reads up to `limit` messages of all streams that come after `after`
    /// in the global order, and the cursor to read on from.
    ///
    /// The global order never skips and never stalls. A read returns every
    /// message committed past the cursor; on Postgres a transaction still
    /// running is stepped over and remembered in the returned cursor, and
    /// its messages come in a later read once it commits. So a reader that
    /// resumes from each read's cursor sees every committed message exactly
    /// once, and a long transaction delays only the messages it writes
    /// itself.
    ///
    /// ```no_run
    /// # async fn demo(store: &dyn beckett::MessageStorage) -> beckett::Result<()> {
    /// use beckett::GlobalCursor;
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
    async fn read_global(&self, after: &GlobalCursor, limit: usize) -> Result<GlobalRead> {
        let GlobalRead { messages, cursor } = self.read_global_raw(after, limit, None).await?;
        Ok(GlobalRead {
            messages: messages
                .into_iter()
                .map(RawMessage::decode)
                .collect::<Result<_>>()?,
            cursor,
        })
    }
}

impl dyn MessageStorage {
    /// The store as its concrete type, if it is a `T`: what a handler
    /// needs to use a backend's own features, such as Postgres's pool.
    ///
    /// ```no_run
    /// # fn demo(ctx: &beckett::Context) {
    /// use beckett::PostgresStore;
    ///
    /// if let Some(store) = ctx.store().downcast_ref::<PostgresStore>() {
    ///     let pool = store.pool();
    /// }
    /// # }
    /// ```
    pub fn downcast_ref<T: MessageStorage>(&self) -> Option<&T> {
        (self as &dyn Any).downcast_ref()
    }
}

/// A reader of the global order that one consumer keeps while it follows
/// it; see [`MessageStorage::reader`].
#[async_trait::async_trait]
pub trait GlobalReader: Send {
    /// Reads as [`MessageStorage::read_global_raw`] does.
    async fn read(
        &mut self,
        after: &GlobalCursor,
        limit: usize,
        bodies: Option<&[&str]>,
    ) -> Result<GlobalRead<RawMessage>>;
}

/// The reader that reads through the store itself.
struct SharedReader<'a, S: ?Sized>(&'a S);

#[async_trait::async_trait]
impl<S: MessageStorage + ?Sized> GlobalReader for SharedReader<'_, S> {
    async fn read(
        &mut self,
        after: &GlobalCursor,
        limit: usize,
        bodies: Option<&[&str]>,
    ) -> Result<GlobalRead<RawMessage>> {
        self.0.read_global_raw(after, limit, bodies).await
    }
}

/// What a read of the global order returned: the messages, and where to
/// read on from.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalRead<M = Envelope> {
    /// The messages read, in global order.
    pub messages: Vec<M>,
    /// Where the next read starts.
    pub cursor: GlobalCursor,
}
