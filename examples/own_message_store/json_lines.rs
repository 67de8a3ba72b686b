//! A message store of the application's own: every append one line of
//! JSON in an append-only file, written and synced before the append
//! returns, and read back into memory when the file is opened.
//!
//! One process owns the file at a time. The global order is the order of
//! the lines, which appends write under one lock: it has no gap, and each
//! stream's messages come in stream order, as the engine needs of a
//! message store beside its state.

use beckett::memory::{AppendSignal, MessageLog};
use beckett::store::encode_batch;
use beckett::telemetry;
use beckett::{
    Appended, Encoded, Error, ExpectedVersion, GlobalCursor, GlobalRead, MessageStorage,
    NewMessage, RawMessage, Result,
};
use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use uuid::Uuid;

/// The messages of one file, kept in memory too. Cheap to clone: clones
/// share the file.
#[derive(Clone)]
pub struct JsonLinesStore {
    /// The file, locked by one append at a time for its check and write.
    file: Arc<Mutex<Appender>>,
    /// The messages, read without waiting for a write to the file.
    log: Arc<RwLock<MessageLog>>,
    appends: AppendSignal,
}

/// The open file, and how long it is.
struct Appender {
    path: PathBuf,
    file: File,
    len: u64,
}

/// One append as one line of the file: all of its messages or, if the
/// line was cut short, none. Positions follow from the lines before.
#[derive(Serialize, Deserialize)]
struct Line {
    stream: String,
    timestamp: DateTime<Utc>,
    messages: Vec<Stored>,
}

/// A message as a line holds it.
#[derive(Serialize, Deserialize)]
struct Stored {
    id: Uuid,
    #[serde(rename = "type")]
    message_type: String,
    data: Value,
    metadata: Value,
}

impl JsonLinesStore {
    /// Opens the file at `path`, creating it if missing. A last line cut
    /// short by a crash (never acknowledged: an append returns after the
    /// sync) is dropped; any other line that is not an append is an error
    /// naming it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        let io = |error| failure(&path, error);
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let mut log = MessageLog::default();
        let mut reader = BufReader::new(File::open(&path).map_err(io)?);
        let (mut number, mut len, mut text) = (0, 0, Vec::new());
        loop {
            text.clear();
            let read = reader.read_until(b'\n', &mut text).map_err(io)?;
            if read == 0 || text.last() != Some(&b'\n') {
                break;
            }
            number += 1;
            let line: Line = serde_json::from_slice(&text).map_err(|error| {
                let error = format!("line {number} is not an append: {error}");
                failure(&path, std::io::Error::other(error))
            })?;
            let messages = line
                .messages
                .into_iter()
                .map(Stored::into_encoded)
                .collect();
            log.push(&line.stream, messages, line.timestamp);
            len += read as u64;
        }
        file.set_len(len).map_err(io)?;
        Ok(Self {
            file: Arc::new(Mutex::new(Appender { path, file, len })),
            log: Arc::new(RwLock::new(log)),
            appends: AppendSignal::default(),
        })
    }

    fn log(&self) -> RwLockReadGuard<'_, MessageLog> {
        // A failed append leaves the messages in memory as they were.
        self.log.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks an append, writes it as one line and syncs it, then adds its
    /// messages to those in memory; a write that fails is cut off again.
    fn append_now(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        messages: Vec<Encoded>,
    ) -> Result<Appended> {
        let mut appender = self.file.lock().unwrap_or_else(|e| e.into_inner());
        self.log().check(stream, expected, &messages)?;
        let timestamp = Utc::now();
        let line = Line {
            stream: stream.to_owned(),
            timestamp,
            messages: messages.iter().map(Stored::from_encoded).collect(),
        };
        let mut text = serde_json::to_vec(&line).map_err(|source| Error::Encode {
            message_type: "an append".to_owned(),
            source,
        })?;
        text.push(b'\n');
        let Appender { path, file, len } = &mut *appender;
        let written = file.write_all(&text).and_then(|()| file.sync_data());
        if let Err(error) = written {
            // Nothing acknowledged may stay behind, to be read back later.
            let _ = file.set_len(*len);
            return Err(failure(path, error));
        }
        *len += text.len() as u64;
        let mut log = self.log.write().unwrap_or_else(|e| e.into_inner());
        Ok(log.push(stream, messages, timestamp))
    }
}

impl Stored {
    fn from_encoded(message: &Encoded) -> Self {
        Self {
            id: message.id,
            message_type: message.message_type.clone(),
            data: message.data.clone(),
            metadata: message.metadata.clone(),
        }
    }

    fn into_encoded(self) -> Encoded {
        Encoded {
            id: self.id,
            message_type: self.message_type,
            data: self.data,
            metadata: self.metadata,
        }
    }
}

/// An I/O error of the file at `path`, as beckett reports a store's.
fn failure(path: &Path, error: std::io::Error) -> Error {
    Error::Database {
        source: format!("{}: {error}", path.display()).into(),
        refused: false,
    }
}

#[async_trait::async_trait]
impl MessageStorage for JsonLinesStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        messages: Vec<NewMessage>,
    ) -> Result<Appended> {
        // In a producer span, whose trace context the messages then carry.
        telemetry::appending(stream, messages.len(), async {
            let messages = encode_batch(stream, messages)?;
            let (store, stream) = (self.clone(), stream.to_owned());
            // The file is written and synced off the async threads.
            let appended =
                tokio::task::spawn_blocking(move || store.append_now(&stream, expected, messages))
                    .await
                    .expect("an append does not panic")?;
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

    async fn head(&self) -> Result<GlobalCursor> {
        Ok(self.log().head())
    }

    fn appended(&self) -> Option<BoxStream<'static, ()>> {
        Some(self.appends.listen())
    }
}
