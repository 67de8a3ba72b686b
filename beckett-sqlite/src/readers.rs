//! [`Readers`]: connections that only read, beside the writer.
//!
//! In WAL mode readers never wait for the writer: each reads the database
//! as of its statement's start. Reads run on tokio's blocking threads.

use beckett_core::{Error, Result};
use rusqlite::Connection;
use std::sync::{Arc, Mutex};

/// Read connections, opened as needed and kept for the next read.
#[derive(Debug, Clone)]
pub(crate) struct Readers {
    path: Arc<str>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Readers {
    pub fn new(path: &str) -> Self {
        Self {
            path: path.into(),
            idle: Arc::default(),
        }
    }

    /// Runs `read` on a read connection, off the async threads.
    pub async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let readers = self.clone();
        tokio::task::spawn_blocking(move || {
            let connection = readers.take()?;
            let outcome = read(&connection);
            readers.put_back(connection);
            outcome
        })
        .await
        .map_err(|error| Error::Database {
            source: format!("a read stopped: {error}").into(),
            refused: false,
        })?
    }

    fn take(&self) -> Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(connection) => Ok(connection),
            None => crate::open::reader(&self.path),
        }
    }

    fn put_back(&self, connection: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(connection);
    }
}
