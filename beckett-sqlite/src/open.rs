//! Opening the database file: where it is, how its connections are set,
//! and its tables.

use crate::checkpointer::WRITER_CHECKPOINTS_PAST;
use crate::error::sqlite;
use beckett_core::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use std::time::Duration;

/// How long a connection waits for another process's lock before it gives
/// up with an error.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the checkpointer waits for readers and the writer before it
/// leaves the log to be started over another time.
const CHECKPOINTER_PATIENCE: Duration = Duration::from_millis(20);

/// The migrations, in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_beckett.sql"),
    include_str!("../../migrations/sqlite/0002_beside.sql"),
    include_str!("../../migrations/sqlite/0003_versions_from_messages.sql"),
    include_str!("../../migrations/sqlite/0004_operators.sql"),
    include_str!("../../migrations/sqlite/0005_dashboard.sql"),
    include_str!("../../migrations/sqlite/0006_scheduled_taken.sql"),
];

/// Where a store's database is: a file, or memory of this process alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location(String);

impl Location {
    /// The file at `path`, created if missing.
    pub fn file(path: &str) -> Self {
        Self(path.to_owned())
    }

    /// A database in memory, shared by the store's connections and gone
    /// with the last of them.
    pub fn memory() -> Self {
        Self(format!("file:/beckett-{}?vfs=memdb", uuid::Uuid::now_v7()))
    }

    /// The location a `sqlite:` URL names: `sqlite:beckett.db`,
    /// `sqlite://path/to/file.db` or `sqlite::memory:`.
    pub fn from_url(url: &str) -> Result<Self> {
        let rest = url.strip_prefix("sqlite:").ok_or_else(|| Error::Config {
            setting: "DATABASE_URL",
            reason: format!("`{url}` is not a sqlite: URL"),
        })?;
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let path = path.split_once('?').map_or(path, |(path, _)| path);
        match path {
            ":memory:" => Ok(Self::memory()),
            "" => Err(Error::Config {
                setting: "DATABASE_URL",
                reason: format!(
                    "`{url}` names no file; write sqlite:beckett.db or sqlite::memory:"
                ),
            }),
            path => Ok(Self::file(path)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn in_memory(&self) -> bool {
        self.0.ends_with("vfs=memdb")
    }
}

/// The connection that writes: WAL for a file, so readers never wait for
/// it, and the tables migrated.
pub(crate) fn writer(location: &Location) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(location.as_str(), flags)
        .map_err(|source| cannot_open(location, source))?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    if !location.in_memory() {
        // NORMAL syncs at checkpoints, not at each commit: a commit survives
        // the process's crash, and only the machine's loses the last ones.
        // Checkpoints are the checkpointer's, unless it falls far behind.
        connection
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
                 PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINTS_PAST};"
            ))
            .map_err(sqlite)?;
    }
    migrate(&connection)?;
    Ok(connection)
}

/// The connection that copies the log into the file: it writes no row.
/// While it waits to start the log over, writers wait too, so it gives up
/// after [`CHECKPOINTER_PATIENCE`].
pub(crate) fn checkpointer(path: &str) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(sqlite)?;
    connection
        .busy_timeout(CHECKPOINTER_PATIENCE)
        .map_err(sqlite)?;
    Ok(connection)
}

/// A connection that only reads.
pub(crate) fn reader(location: &str) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(location, flags).map_err(sqlite)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    Ok(connection)
}

/// Applies the migrations not applied yet, each in a transaction that
/// waits for any other process migrating the same file.
fn migrate(connection: &Connection) -> Result<()> {
    for (done, migration) in MIGRATIONS.iter().enumerate() {
        connection
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(sqlite)?;
        let applied: usize = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(sqlite)?;
        let outcome = if applied > done {
            Ok(())
        } else {
            connection
                .execute_batch(migration)
                .and_then(|()| connection.pragma_update(None, "user_version", done + 1))
        };
        let end = if outcome.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        connection.execute_batch(end).map_err(sqlite)?;
        outcome.map_err(|source| Error::Migrate {
            schema: "sqlite".to_owned(),
            source: source.into(),
        })?;
    }
    Ok(())
}

fn cannot_open(location: &Location, source: rusqlite::Error) -> Error {
    Error::Connect {
        url: format!("sqlite:{}", location.as_str()),
        source: source.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::Location;

    #[test]
    fn urls_name_a_file_or_memory() {
        let file = |url| Location::from_url(url).unwrap();
        assert_eq!(file("sqlite:beckett.db"), Location::file("beckett.db"));
        assert_eq!(file("sqlite://data/app.db"), Location::file("data/app.db"));
        assert_eq!(file("sqlite:app.db?mode=rwc"), Location::file("app.db"));
        assert!(file("sqlite::memory:").in_memory());
        assert!(Location::from_url("sqlite:").is_err());
        assert!(Location::from_url("postgres://localhost/app").is_err());
    }
}
