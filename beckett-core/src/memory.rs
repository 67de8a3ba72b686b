//! Messages in the process's memory: [`MemoryStore`], a message store, and
//! the parts it is made of, for a store of one's own that keeps its
//! messages in memory too: [`MessageLog`] and [`AppendSignal`].

use crate::error::{Error, Result};
use crate::message::{Encoded, NewMessage};
use crate::store::{
    encode_batch, validate_stream_name, Appended, Envelope, GlobalCursor, GlobalRead,
    MessageStorage, RawMessage,
};
use crate::telemetry;
use crate::version::ExpectedVersion;
use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use uuid::Uuid;

/// A message store held in memory: every message appended since it was
/// made, gone with the process.
///
/// A real [`MessageStorage`], held to the same promises as the others (it
/// passes the message store's conformance suite): appends are atomic and
/// check their expected version, and the global order is the order of the
/// appends, with no gap. Use it in tests, to run handlers against messages
/// with no database (see `beckett::testing`), or as the model of a store of
/// your own. Cheap to clone: clones share the messages.
///
/// ```
/// use beckett::memory::MemoryStore;
/// use beckett::{ExpectedVersion, GlobalCursor, MessageStorage, NewMessage};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> beckett::Result<()> {
/// let store = MemoryStore::new();
/// let ping = NewMessage::from_json("Ping", serde_json::json!({ "n": 1 }));
/// store.append("Pinger-1", ExpectedVersion::NoStream, vec![ping]).await?;
/// let read = store.read_global(&GlobalCursor::START, 10).await?;
/// assert_eq!(read.messages[0].stream, "Pinger-1");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    log: Arc<Mutex<MessageLog>>,
    appends: AppendSignal,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn log(&self) -> std::sync::MutexGuard<'_, MessageLog> {
        // A panic while the lock was held cannot leave a half-written
        // append: an append checks everything before it writes.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait::async_trait]
impl MessageStorage for MemoryStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        messages: Vec<NewMessage>,
    ) -> Result<Appended> {
        let count = messages.len();
        telemetry::appending(stream, count, async {
            let encoded = encode_batch(stream, messages)?;
            let appended = {
                let mut log = self.log();
                log.check(stream, expected, &encoded)?;
                log.push(stream, encoded, Utc::now())
            };
            self.appends.signal();
            Ok(appended)
        })
        .await
    }

    async fn read_stream_raw(
        &self,
        stream: &str,
        from: i64,
        limit: usize,
    ) -> Result<Vec<RawMessage>> {
        self.log().read_stream(stream, from, limit)
    }

    async fn read_global_raw(
        &self,
        after: &GlobalCursor,
        limit: usize,
        _bodies: Option<&[&str]>,
    ) -> Result<GlobalRead<RawMessage>> {
        Ok(self.log().read_global(after, limit))
    }

    async fn last_message(&self, stream: &str) -> Result<Option<RawMessage>> {
        self.log().last(stream)
    }

    async fn message_raw(&self, id: Uuid) -> Result<Option<RawMessage>> {
        Ok(self.log().message(id))
    }

    async fn head(&self) -> Result<GlobalCursor> {
        Ok(self.log().head())
    }

    fn appended(&self) -> Option<BoxStream<'static, ()>> {
        Some(self.appends.listen())
    }
}

/// Messages in global order, indexed by stream: the reads of a
/// [`MessageStorage`] over messages held in memory, for a store that keeps
/// them there (all of them, or a copy of what it keeps elsewhere). The
/// global order is the order they were pushed in, and a message's global
/// position its place in it, from 1.
///
/// ```
/// use beckett::memory::MessageLog;
/// use beckett::{ExpectedVersion, GlobalCursor, NewMessage};
///
/// let mut log = MessageLog::default();
/// let ping = NewMessage::from_json("Ping", serde_json::json!({})).encode()?;
/// log.check("Pinger-1", ExpectedVersion::NoStream, &[ping.clone()])?;
/// let appended = log.push("Pinger-1", vec![ping.clone()], chrono::Utc::now());
/// assert_eq!(appended.global_positions, [1]);
/// assert_eq!(log.read_global(&GlobalCursor::START, 10).messages.len(), 1);
/// assert!(log.check("Pinger-1", ExpectedVersion::Any, &[ping]).is_err());
/// # Ok::<(), beckett::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct MessageLog {
    all: Vec<RawMessage>,
    /// Per stream, the indexes in `all` of its messages, in stream order.
    streams: HashMap<String, Vec<usize>>,
    /// The index in `all` of each message, by id.
    ids: HashMap<Uuid, usize>,
}

impl MessageLog {
    /// The stream's version, if `expected` matches it and every one of
    /// `messages` has an id of its own; otherwise the error an append
    /// reports ([`Error::WrongExpectedVersion`] or
    /// [`Error::DuplicateMessageId`]).
    pub fn check(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        messages: &[Encoded],
    ) -> Result<i64> {
        let version = self.streams.get(stream).map_or(0, |s| s.len() as i64);
        if !expected.matches(version) {
            return Err(Error::WrongExpectedVersion {
                stream: stream.to_owned(),
                expected,
                actual: version,
            });
        }
        let mut batch = HashSet::with_capacity(messages.len());
        if messages
            .iter()
            .any(|m| self.ids.contains_key(&m.id) || !batch.insert(m.id))
        {
            return Err(Error::DuplicateMessageId {
                stream: stream.to_owned(),
            });
        }
        Ok(version)
    }

    /// Adds `messages` to the end of `stream` and of the global order,
    /// appended at `timestamp`, as [`check`](Self::check) allowed; what an
    /// append of them returns.
    pub fn push(
        &mut self,
        stream: &str,
        messages: Vec<Encoded>,
        timestamp: DateTime<Utc>,
    ) -> Appended {
        let indexes = self.streams.entry(stream.to_owned()).or_default();
        let mut global_positions = Vec::with_capacity(messages.len());
        for message in messages {
            let global_position = self.all.len() as i64 + 1;
            indexes.push(self.all.len());
            self.ids.insert(message.id, self.all.len());
            self.all.push(RawMessage {
                envelope: Envelope {
                    id: message.id,
                    stream: stream.to_owned(),
                    position: indexes.len() as i64,
                    global_position,
                    transaction_id: 0,
                    message_type: message.message_type,
                    data: message.data,
                    metadata: Default::default(),
                    timestamp,
                },
                metadata: message.metadata,
            });
            global_positions.push(global_position);
        }
        Appended {
            stream_version: indexes.len() as i64,
            global_positions,
        }
    }

    /// Up to `limit` messages of `stream` from position `from`, as
    /// [`MessageStorage::read_stream_raw`] reads them.
    pub fn read_stream(&self, stream: &str, from: i64, limit: usize) -> Result<Vec<RawMessage>> {
        validate_stream_name(stream)?;
        let Some(indexes) = self.streams.get(stream) else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from(from.max(1) - 1).unwrap_or(usize::MAX);
        let read = indexes.iter().skip(skip).take(limit);
        Ok(read.map(|&i| self.all[i].clone()).collect())
    }

    /// Up to `limit` messages after `after`, as
    /// [`MessageStorage::read_global_raw`] reads them.
    pub fn read_global(&self, after: &GlobalCursor, limit: usize) -> GlobalRead<RawMessage> {
        let from = after.frontier().global_position;
        let skip = usize::try_from(from).unwrap_or(0);
        let messages: Vec<RawMessage> = self.all.iter().skip(skip).take(limit).cloned().collect();
        let last = messages.last().map_or(from, |m| m.envelope.global_position);
        GlobalRead {
            messages,
            cursor: GlobalCursor::at(last),
        }
    }

    /// The newest message of `stream`, as
    /// [`MessageStorage::last_message`] reads it.
    pub fn last(&self, stream: &str) -> Result<Option<RawMessage>> {
        validate_stream_name(stream)?;
        let last = self.streams.get(stream).and_then(|s| s.last());
        Ok(last.map(|&i| self.all[i].clone()))
    }

    /// The message whose id is `id`, as [`MessageStorage::message_raw`]
    /// reads it.
    pub fn message(&self, id: Uuid) -> Option<RawMessage> {
        self.ids.get(&id).map(|&i| self.all[i].clone())
    }

    /// The cursor past every message, as [`MessageStorage::head`] says.
    pub fn head(&self) -> GlobalCursor {
        GlobalCursor::at(self.all.len() as i64)
    }
}

/// Tells whoever listens that messages were appended: what a store in one
/// process returns from [`MessageStorage::appended`], signalling after each
/// append. Clones signal to the same listeners.
///
/// ```
/// use beckett::memory::AppendSignal;
/// use futures_util::StreamExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let signal = AppendSignal::default();
/// let mut appended = signal.listen();
/// signal.signal();
/// assert_eq!(appended.next().await, Some(()));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AppendSignal(broadcast::Sender<()>);

impl Default for AppendSignal {
    fn default() -> Self {
        Self(broadcast::channel(1).0)
    }
}

impl AppendSignal {
    /// Signals an append to every listener.
    pub fn signal(&self) {
        // Nobody may be listening.
        let _ = self.0.send(());
    }

    /// The signals to come: each listener hears of at least the last of
    /// several sent while it was busy.
    pub fn listen(&self) -> BoxStream<'static, ()> {
        let receiver = self.0.subscribe();
        Box::pin(futures_util::stream::unfold(
            receiver,
            |mut receiver| async move {
                match receiver.recv().await {
                    Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => Some(((), receiver)),
                    Err(broadcast::error::RecvError::Closed) => None,
                }
            },
        ))
    }
}
