//! The one error type of the crate.

use crate::version::ExpectedVersion;

/// The longest delay a message can be scheduled with, in years of 365.25
/// days: well inside what Postgres timestamps hold.
pub(crate) const MAX_DELAY_YEARS: u64 = 100_000;

/// A specialized `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Any error, boxed: what handlers return, and what a backend's driver
/// reports inside [`Error::Database`]. Anything that converts into
/// `Box<dyn std::error::Error + Send + Sync>` (`beckett::Error`,
/// `anyhow::Error`, `std::io::Error`, a `String`) fits.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in `beckett`, in variants a caller can match.
///
/// Messages name what was wrong and where: the stream, the position, the
/// message type or the setting. `Debug` prints the same message, so
/// `fn main() -> beckett::Result<()>` reports errors readably.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An append's expected version did not match the stream; nothing was
    /// written.
    #[error(
        "wrong expected version for stream `{stream}`: expected {expected}, but {}",
        describe_version(*.actual)
    )]
    WrongExpectedVersion {
        /// The stream appended to.
        stream: String,
        /// What the append expected.
        expected: ExpectedVersion,
        /// The stream's version when the append was refused (0: no stream).
        actual: i64,
    },

    /// An append held a message whose id the store holds already (or two
    /// with one id); nothing was written.
    #[error("an append to stream `{stream}` holds a message whose id is stored already")]
    DuplicateMessageId {
        /// The stream appended to.
        stream: String,
    },

    /// A stream name the store cannot hold.
    #[error("invalid stream name {stream:?}: {reason}")]
    InvalidStreamName {
        /// The name as given.
        stream: String,
        /// Why it was refused.
        reason: String,
    },

    /// A message type name the store cannot hold.
    #[error("invalid message type name {message_type:?}: {reason}")]
    InvalidMessageType {
        /// The name as given.
        message_type: String,
        /// Why it was refused.
        reason: String,
    },

    /// A user metadata key that would hide one of beckett's own keys.
    #[error("metadata key `{key}` is reserved for beckett; choose another name")]
    ReservedMetadataKey {
        /// The key as given.
        key: String,
    },

    /// A scheduled message's delay the store cannot count to.
    #[error("cannot schedule a message for stream `{stream}` in {delay:?}: the delay must be under {} years", MAX_DELAY_YEARS)]
    DelayTooLong {
        /// The stream the message was for.
        stream: String,
        /// The delay as given.
        delay: std::time::Duration,
    },

    /// A message could not be serialized to JSON.
    #[error("cannot encode message of type `{message_type}` as JSON: {source}")]
    Encode {
        /// The message's type name.
        message_type: String,
        /// What serde reported.
        source: serde_json::Error,
    },

    /// A stored message could not be decoded into the requested type.
    #[error(
        "cannot decode message at position {position} of stream `{stream}` \
         (type `{message_type}`): {source}"
    )]
    Decode {
        /// The stream holding the message.
        stream: String,
        /// The message's position in its stream.
        position: i64,
        /// The type name stored with the message.
        message_type: String,
        /// What went wrong.
        source: DecodeError,
    },

    /// A setting has a value beckett cannot use.
    #[error("invalid setting `{setting}`: {reason}")]
    Config {
        /// The setting's name, as the user writes it.
        setting: &'static str,
        /// Why the value was refused.
        reason: String,
    },

    /// The database could not be reached.
    #[error("cannot connect to the database at {url}: {source}")]
    Connect {
        /// The database URL, with any password masked.
        url: String,
        /// What the driver reported.
        source: BoxError,
    },

    /// Applying the migrations failed.
    #[error("cannot migrate schema `{schema}`: {source}")]
    Migrate {
        /// The schema being migrated.
        schema: String,
        /// What the migrator reported.
        source: BoxError,
    },

    /// The subscriptions or message types linked into the program conflict,
    /// or there are none.
    #[error("{0}")]
    Registry(String),

    /// The store holds transaction ids this database has not reached: it
    /// was restored from a dump of another cluster, whose ids ran higher.
    /// Messages appended now would sort before those already read, and
    /// never be delivered; nothing is read until the ids are moved on.
    #[error(
        "the message store holds transaction id {stored}, but this database has not yet \
         reached {next}: it was restored from a dump of another cluster, whose transaction ids \
         ran higher, and messages appended now would sort before those already read and never \
         be delivered. Move this cluster's transaction ids past {stored} before appending: see \
         \"Restoring a dump into another cluster\" in beckett's README"
    )]
    TransactionIdsBehind {
        /// The highest transaction id found in the store or a cursor.
        stored: i64,
        /// The first transaction id this database has not completed.
        next: i64,
    },

    /// A task of the running engine panicked; the process shut down.
    #[error("beckett's {task} panicked, and the process shut down: {message}")]
    TaskPanicked {
        /// The task: the global consumer, the completer, the heartbeat, ...
        task: &'static str,
        /// What the panic said.
        message: String,
    },

    /// The database reported an error.
    #[error("database error: {source}")]
    Database {
        /// What the driver reported.
        source: BoxError,
        /// Whether the database answered and refused the statement (a
        /// constraint, an aborted transaction, a conflict), as opposed to
        /// an error whose outcome is unknown, such as a broken connection.
        refused: bool,
    },
}

impl Error {
    /// Whether the database answered and refused the statement, so that
    /// nothing it asked for happened; see [`Error::Database`].
    ///
    /// ```
    /// use beckett::Error;
    ///
    /// let refused = Error::Database { source: "duplicate key".into(), refused: true };
    /// assert!(refused.is_refusal());
    /// let unknown = Error::Database { source: "connection reset".into(), refused: false };
    /// assert!(!unknown.is_refusal());
    /// ```
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Database { refused: true, .. })
    }

    /// The driver's error inside [`Error::Database`], if it is a `T`.
    ///
    /// ```
    /// use beckett::Error;
    ///
    /// let error = Error::Database { source: Box::new(std::fmt::Error), refused: false };
    /// assert!(error.database_error::<std::fmt::Error>().is_some());
    /// ```
    pub fn database_error<T: std::error::Error + 'static>(&self) -> Option<&T> {
        match self {
            Self::Database { source, .. } => source.downcast_ref(),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Every message already ends with its cause's.
        write!(f, "{self}")
    }
}

/// Why a stored message did not decode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The stored type name is not one the caller can decode.
    #[error("unknown message type; expected {}", expected.join(" or "))]
    UnknownType {
        /// The type names the caller accepts.
        expected: Vec<&'static str>,
    },
    /// The stored JSON does not fit the requested type.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

fn describe_version(version: i64) -> String {
    if version == 0 {
        "the stream does not exist".to_owned()
    } else {
        format!("the stream is at version {version}")
    }
}
