//! A message store of the application's own: every message one line of
//! JSON in an append-only file, written and synced before the append
//! returns, and read back into memory when the file is opened.
//!
//! One process owns the file at a time. The global order is the order of
//! the lines, which appends write under one lock: it has no gap, and each
//! stream's messages come in stream order, as the engine needs of a
//! message store beside its state.

use beckett::memory::{AppendSignal, MessageLog};
use beckett::store::encode_batch;
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
use std::sync::{Arc, Mutex, MutexGuard};
use uuid::Uuid;

/// The messages of one file, kept in memory too. Cheap to clone: clones
/// share the file.
#[derive(Clone)]
pub struct JsonLinesStore {
    file: Arc<Mutex<Lines>>,
    appends: AppendSignal,
}

/// The open file, and its messages.
struct Lines {
    path: PathBuf,
    file: File,
    log: MessageLog,
}

/// A message as one line of the file holds it; its positions follow from
/// the lines before it.
#[derive(Serialize, Deserialize)]
struct Line {
    stream: String,
    id: Uuid,
    #[serde(rename = "type")]
    message_type: String,
    data: Value,
    metadata: Value,
    timestamp: DateTime<Utc>,
}

impl JsonLinesStore {
    /// Opens the file at `path`, creating it if missing. A last line cut
    /// short by a crash (never acknowledged: an append returns after the
    /// sync) is dropped; any other line that is not a message is an error
    /// naming it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        let io = |error| failure(&path, error);
        let mut file = Lines {
            file: OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&path)
                .map_err(io)?,
            path: path.clone(),
            log: MessageLog::default(),
        };
        let mut lines = BufReader::new(File::open(&path).map_err(io)?).lines();
        let (mut number, mut kept) = (0, 0);
        while let Some(text) = lines.next() {
            let text = text.map_err(io)?;
            number += 1;
            match serde_json::from_str::<Line>(&text) {
                Ok(line) => file.index(line),
                Err(error) if error.is_eof() && lines.next().is_none() => break,
                Err(error) => {
                    let error = format!("line {number} is not a message: {error}");
                    return Err(failure(&path, std::io::Error::other(error)));
                }
            }
            kept += text.len() as u64 + 1;
        }
        file.file.set_len(kept).map_err(io)?;
        Ok(Self {
            file: Arc::new(Mutex::new(file)),
            appends: AppendSignal::default(),
        })
    }

    fn lines(&self) -> MutexGuard<'_, Lines> {
        // A failed append leaves the messages in memory as they were.
        self.file.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Lines {
    /// Adds a message read from the file to the messages in memory.
    fn index(&mut self, line: Line) {
        let message = Encoded {
            id: line.id,
            message_type: line.message_type,
            data: line.data,
            metadata: line.metadata,
        };
        self.log.push(&line.stream, vec![message], line.timestamp);
    }

    /// Writes `messages` to the end of `stream` if its version matches
    /// `expected`, syncs the file, then adds them to the messages in
    /// memory.
    fn append(
        &mut self,
        stream: &str,
        expected: ExpectedVersion,
        messages: Vec<Encoded>,
    ) -> Result<Appended> {
        self.log.check(stream, expected, &messages)?;
        let timestamp = Utc::now();
        let mut text = String::new();
        for message in &messages {
            let line = Line {
                stream: stream.to_owned(),
                id: message.id,
                message_type: message.message_type.clone(),
                data: message.data.clone(),
                metadata: message.metadata.clone(),
                timestamp,
            };
            let json = serde_json::to_string(&line).map_err(|source| Error::Encode {
                message_type: line.message_type.clone(),
                source,
            })?;
            text.push_str(&json);
            text.push('\n');
        }
        let io = |error| failure(&self.path, error);
        self.file.write_all(text.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        Ok(self.log.push(stream, messages, timestamp))
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
        let messages = encode_batch(stream, messages)?;
        let (file, stream) = (self.file.clone(), stream.to_owned());
        // The file is written and synced off the async threads, under the
        // lock that makes the version check and the write one step.
        let appended = tokio::task::spawn_blocking(move || {
            let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
            file.append(&stream, expected, messages)
        })
        .await
        .expect("an append does not panic")?;
        self.appends.signal();
        Ok(appended)
    }

    async fn read_stream_raw(
        &self,
        stream: &str,
        from: i64,
        limit: usize,
    ) -> Result<Vec<RawMessage>> {
        self.lines().log.read_stream(stream, from, limit)
    }

    async fn read_global_raw(
        &self,
        after: &GlobalCursor,
        limit: usize,
        _bodies: Option<&[&str]>,
    ) -> Result<GlobalRead<RawMessage>> {
        Ok(self.lines().log.read_global(after, limit))
    }

    async fn last_message(&self, stream: &str) -> Result<Option<RawMessage>> {
        self.lines().log.last(stream)
    }

    async fn head(&self) -> Result<GlobalCursor> {
        Ok(self.lines().log.head())
    }

    fn appended(&self) -> Option<BoxStream<'static, ()>> {
        Some(self.appends.listen())
    }
}
