//! SQLite's errors as beckett's [`Error::Database`].

use beckett_core::Error;

/// A SQLite error as [`Error::Database`]. SQLite runs in the process, so
/// its answer is never lost on the way: a statement or a commit that
/// failed did nothing, and the error is a refusal.
pub(crate) fn sqlite(error: rusqlite::Error) -> Error {
    Error::Database {
        source: Box::new(error),
        refused: true,
    }
}
