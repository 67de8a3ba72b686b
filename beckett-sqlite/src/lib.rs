//! The embedded SQLite backend of beckett: [`SqliteStore`] keeps the
//! message store in one file (or in memory), with no server to run.
//!
//! SQLite lets one connection write at a time: every write of the process
//! goes through one writer thread, which commits what queued meanwhile in
//! one transaction, while reads run on connections of their own beside it
//! (WAL). The global order is the messages' row id: positions are taken
//! under the write lock, in commit order, so the order has no gap a reader
//! could pass, across processes sharing the file too.
#![deny(missing_docs)]

mod browse;
mod checkpointer;
mod checkpoints;
mod error;
mod messages;
mod minutes;
mod open;
mod readers;
mod scheduled;
mod state;
mod transaction;
mod wakeups;
mod writer;

pub use transaction::SqliteTransaction;

use beckett_core::state::Wakeup;
use beckett_core::Result;
use checkpointer::Checkpointer;
use open::Location;
use readers::Readers;
use std::sync::Arc;
use tokio::sync::broadcast;
use writer::Writer;

/// beckett's store in a SQLite database: a file, or memory.
///
/// Cheap to clone: clones share the writer and the read connections.
///
/// ```
/// use beckett::sqlite::SqliteStore;
/// use beckett::{ExpectedVersion, MessageStorage, NewMessage};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> beckett::Result<()> {
/// let store = SqliteStore::in_memory()?;
/// let ping = NewMessage::from_json("Ping", serde_json::json!({}));
/// store.append("Pinger-1", ExpectedVersion::NoStream, vec![ping]).await?;
/// assert_eq!(store.read_stream("Pinger-1", 1, 10).await?.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    location: Location,
    writer: Writer,
    readers: Readers,
    wakeups: broadcast::Sender<Wakeup>,
}

impl SqliteStore {
    /// The store in the file at `path`, created and migrated if needed.
    ///
    /// ```no_run
    /// # fn demo() -> beckett::Result<()> {
    /// let store = beckett::sqlite::SqliteStore::open("beckett.db")?;
    /// # Ok(()) }
    /// ```
    pub fn open(path: &str) -> Result<Self> {
        Self::at(Location::file(path))
    }

    /// A store in this process's memory, gone with its last clone.
    ///
    /// ```
    /// let store = beckett::sqlite::SqliteStore::in_memory()?;
    /// # Ok::<(), beckett::Error>(())
    /// ```
    pub fn in_memory() -> Result<Self> {
        Self::at(Location::memory())
    }

    /// The store a `sqlite:` URL names: `sqlite:beckett.db`,
    /// `sqlite://path/to/file.db` or `sqlite::memory:`.
    ///
    /// ```
    /// let store = beckett::sqlite::SqliteStore::connect("sqlite::memory:")?;
    /// assert!(beckett::sqlite::SqliteStore::connect("postgres://localhost/app").is_err());
    /// # Ok::<(), beckett::Error>(())
    /// ```
    pub fn connect(url: &str) -> Result<Self> {
        Self::at(Location::from_url(url)?)
    }

    fn at(location: Location) -> Result<Self> {
        let connection = open::writer(&location)?;
        let checkpointer = match location.in_memory() {
            true => None,
            false => Some(Checkpointer::start(location.as_str())?),
        };
        let (wakeups, _) = broadcast::channel(1024);
        Ok(Self {
            inner: Arc::new(Inner {
                readers: Readers::new(location.as_str()),
                writer: Writer::start(connection, checkpointer),
                wakeups,
                location,
            }),
        })
    }

    fn writer(&self) -> &Writer {
        &self.inner.writer
    }

    fn readers(&self) -> &Readers {
        &self.inner.readers
    }

    /// Tells this process's consumers what changed.
    fn wake(&self, wakeup: Wakeup) {
        let _ = self.inner.wakeups.send(wakeup);
    }

    /// What changed: in this process, as its writes commit; in others
    /// sharing the file, as a poll of the file's version finds.
    fn follow(&self) -> futures_util::stream::BoxStream<'static, Wakeup> {
        let others = (!self.inner.location.in_memory()).then(|| self.inner.location.clone());
        wakeups::follow(self.inner.wakeups.subscribe(), others)
    }
}
