//! Driver errors as beckett's [`Error::Database`].

use beckett_core::Error;

/// A driver error as [`Error::Database`]: refused when the database
/// answered with an error, of unknown outcome otherwise.
pub(crate) fn db(error: sqlx::Error) -> Error {
    Error::Database {
        refused: matches!(error, sqlx::Error::Database(_)),
        source: Box::new(error),
    }
}

/// Whether `error` is the database's, with this SQLSTATE code.
pub(crate) fn has_code(error: &Error, code: &str) -> bool {
    error
        .database_error::<sqlx::Error>()
        .and_then(sqlx::Error::as_database_error)
        .is_some_and(|e| e.code().as_deref() == Some(code))
}

/// `error` as [`Error::DuplicateMessageId`] if it is the messages' unique
/// id refusing an append to `stream`.
pub(crate) fn duplicate_id(stream: &str, error: Error) -> Error {
    let constraint = error
        .database_error::<sqlx::Error>()
        .and_then(sqlx::Error::as_database_error)
        .and_then(|e| e.constraint().map(str::to_owned));
    match constraint.as_deref() {
        Some("messages_id_key") => Error::DuplicateMessageId {
            stream: stream.to_owned(),
        },
        _ => error,
    }
}
