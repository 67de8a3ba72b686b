//! [`Checkpointer`]: copies the write-ahead log into the database file on a
//! thread of its own, so that the writer never stops to do it.
//!
//! SQLite checkpoints from the connection whose commit grows the log past
//! its limit, syncing the log and the file in the middle of that commit:
//! with commits as small as one message, those syncs cost the writer more
//! than its writes. Here the writer never checkpoints while this thread
//! keeps up. It copies what was committed since it last looked, without
//! waiting for the writer, at most every [`PAUSE`]; when the writer keeps
//! the log from being started over and it has grown past [`LARGEST_LOG`]
//! pages, it waits a moment for the writer (20 ms at most, since writers
//! wait meanwhile) to start the log over.

use crate::open;
use rusqlite::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

/// The shortest time between two checkpoints: the commits of that time are
/// copied together.
const PAUSE: Duration = Duration::from_millis(100);

/// The pages of log (4 KiB each) past which a checkpoint waits for the
/// writer to start the log over.
const LARGEST_LOG: i64 = 4096;

/// The pages of log past which the writer checkpoints by itself: only if
/// this thread falls far behind.
pub(crate) const WRITER_CHECKPOINTS_PAST: i64 = 4 * LARGEST_LOG;

/// The checkpointing thread of one store, told of the writer's commits;
/// it stops when dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Starts checkpointing the database file at `path`.
    pub fn start(path: &str) -> beckett_core::Result<Self> {
        let connection = open::checkpointer(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("beckett-sqlite-checkpointer".to_owned())
            .spawn(move || run(&connection, &stopped))
            .expect("a thread can be started");
        Ok(Self {
            thread: Some(thread),
            stop,
        })
    }

    /// A handle the writer tells of each commit.
    pub fn waker(&self) -> Thread {
        self.thread.as_ref().expect("running").thread().clone()
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Waits for a commit, checkpoints, pauses; until stopped.
fn run(connection: &Connection, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        std::thread::park();
        if stop.load(Ordering::Acquire) {
            return;
        }
        if let Err(error) = checkpoint(connection) {
            tracing::warn!(%error, "cannot checkpoint the SQLite log; the writer will");
        }
        std::thread::sleep(PAUSE);
    }
}

/// Copies what the log holds into the file without waiting for anyone;
/// then, if the log is still long, waits for the writer and readers to
/// let it start over.
fn checkpoint(connection: &Connection) -> rusqlite::Result<()> {
    let pages: i64 =
        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))?;
    if pages > LARGEST_LOG {
        connection.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(())
}
