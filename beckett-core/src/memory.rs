//! [`MemoryStore`]: a message store in the process's memory.

use crate::error::{Error, Result};
use crate::message::NewMessage;
use crate::store::{
    encode_batch, validate_stream_name, Appended, Envelope, GlobalCursor, GlobalRead,
    MessageStorage, RawMessage,
};
use crate::version::ExpectedVersion;
use chrono::Utc;
use futures_util::stream::BoxStream;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// A message store held in memory: every message appended since it was
/// made, gone with the process.
///
/// A real [`MessageStorage`], held to the same promises as the others (it
/// passes the message store's conformance suite): appends are atomic and
/// check their expected version, and the global order is the order of the
/// appends, with no gap. Use it in tests, to run handlers against messages
/// with no database, or as the model of a store of your own. Cheap to
/// clone: clones share the messages.
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
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Messages>>,
    /// Told of every append, for [`MessageStorage::appended`].
    appends: broadcast::Sender<()>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            appends: broadcast::channel(1).0,
        }
    }
}

/// The messages, in global order, and where each stream's are.
#[derive(Debug, Default)]
struct Messages {
    all: Vec<RawMessage>,
    /// Per stream, the indexes in `all` of its messages, in stream order.
    streams: HashMap<String, Vec<usize>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn messages(&self) -> std::sync::MutexGuard<'_, Messages> {
        // A panic while the lock was held cannot leave a half-written
        // append: an append checks everything before it writes.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
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
        let encoded = encode_batch(stream, messages)?;
        let mut store = self.messages();
        let Messages { all, streams } = &mut *store;
        let version = streams.get(stream).map_or(0, |s| s.len() as i64);
        if !expected.matches(version) {
            return Err(Error::WrongExpectedVersion {
                stream: stream.to_owned(),
                expected,
                actual: version,
            });
        }
        let timestamp = Utc::now();
        let mut global_positions = Vec::with_capacity(encoded.len());
        for (position, message) in (version + 1..).zip(encoded) {
            let global_position = all.len() as i64 + 1;
            streams
                .entry(stream.to_owned())
                .or_default()
                .push(all.len());
            all.push(RawMessage {
                envelope: Envelope {
                    id: message.id,
                    stream: stream.to_owned(),
                    position,
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
        drop(store);
        // Nobody may be listening.
        let _ = self.appends.send(());
        Ok(Appended {
            stream_version: version + global_positions.len() as i64,
            global_positions,
        })
    }

    async fn read_stream_raw(
        &self,
        stream: &str,
        from: i64,
        limit: usize,
    ) -> Result<Vec<RawMessage>> {
        validate_stream_name(stream)?;
        let store = self.messages();
        let Some(indexes) = store.streams.get(stream) else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from(from.max(1) - 1).unwrap_or(usize::MAX);
        Ok(indexes
            .iter()
            .skip(skip)
            .take(limit)
            .map(|&i| store.all[i].clone())
            .collect())
    }

    async fn read_global_raw(
        &self,
        after: &GlobalCursor,
        limit: usize,
        _bodies: Option<&[&str]>,
    ) -> Result<GlobalRead<RawMessage>> {
        let store = self.messages();
        let from = usize::try_from(after.frontier().global_position).unwrap_or(0);
        let messages: Vec<RawMessage> = store.all.iter().skip(from).take(limit).cloned().collect();
        let last = messages
            .last()
            .map_or(after.frontier().global_position, |m| {
                m.envelope.global_position
            });
        Ok(GlobalRead {
            messages,
            cursor: GlobalCursor::at(last),
        })
    }

    async fn last_message(&self, stream: &str) -> Result<Option<RawMessage>> {
        validate_stream_name(stream)?;
        let store = self.messages();
        let last = store.streams.get(stream).and_then(|s| s.last());
        Ok(last.map(|&i| store.all[i].clone()))
    }

    async fn head(&self) -> Result<GlobalCursor> {
        Ok(GlobalCursor::at(self.messages().all.len() as i64))
    }

    /// Every append signals, each listener hearing of at least the last.
    fn appended(&self) -> Option<BoxStream<'static, ()>> {
        let receiver = self.appends.subscribe();
        Some(Box::pin(futures_util::stream::unfold(
            receiver,
            |mut receiver| async move {
                match receiver.recv().await {
                    Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => Some(((), receiver)),
                    Err(broadcast::error::RecvError::Closed) => None,
                }
            },
        )))
    }
}
