//! What an append expects of a stream's version.

use std::fmt;

/// What an append expects of the stream's version (the position of its
/// newest message); a mismatch writes nothing and is
/// [`Error::WrongExpectedVersion`](crate::Error::WrongExpectedVersion).
///
/// ```
/// use beckett::ExpectedVersion;
///
/// assert!(ExpectedVersion::Any.matches(0));
/// assert!(ExpectedVersion::NoStream.matches(0));
/// assert!(ExpectedVersion::StreamExists.matches(3));
/// assert!(ExpectedVersion::Exact(3).matches(3));
/// assert!(!ExpectedVersion::Exact(2).matches(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// Append whatever the stream holds, creating it if needed.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must hold at least one message.
    StreamExists,
    /// The stream must be at exactly this version; `Exact(0)` is
    /// [`NoStream`](Self::NoStream).
    Exact(i64),
}

impl ExpectedVersion {
    /// Whether a stream at `version` (0: no stream) satisfies this
    /// expectation.
    ///
    /// ```
    /// # use beckett::ExpectedVersion;
    /// assert!(!ExpectedVersion::StreamExists.matches(0));
    /// assert!(ExpectedVersion::Exact(0).matches(0));
    /// ```
    pub fn matches(self, version: i64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => version == 0,
            Self::StreamExists => version > 0,
            Self::Exact(expected) => version == expected,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any version"),
            Self::NoStream | Self::Exact(0) => f.write_str("no stream"),
            Self::StreamExists => f.write_str("an existing stream"),
            Self::Exact(version) => write!(f, "version {version}"),
        }
    }
}
