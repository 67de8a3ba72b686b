//! A job's own stream: its newest message, read as where the job's
//! schedule stands, and the append of the next occurrence at the version
//! read, which is how processes agree on who fires it.

use super::Occurrence;
use crate::error::{Error, Result};
use crate::message::NewMessage;
use crate::store::MessageStorage;
use crate::version::ExpectedVersion;
use chrono::{DateTime, Utc};

/// The newest message of a job's stream.
#[derive(Debug)]
pub(crate) struct Newest {
    /// Its position: the stream's version.
    pub position: i64,
    /// When it was appended.
    pub appended_at: DateTime<Utc>,
    /// The occurrence it holds; `None` when something else was appended.
    pub occurrence: Option<Occurrence>,
}

impl Newest {
    /// Where the job's schedule stands after this message: the occurrence
    /// it fired (for a run an operator asked for, the scheduled one before
    /// it), or the time something else was appended.
    pub fn since(&self) -> DateTime<Utc> {
        match &self.occurrence {
            Some(occurrence) => occurrence.run_now_after.unwrap_or(occurrence.scheduled_at),
            None => self.appended_at,
        }
    }
}

/// The newest message of the job's `stream`, if it has one.
pub(crate) async fn newest(store: &dyn MessageStorage, stream: &str) -> Result<Option<Newest>> {
    let Some(last) = store.last_message(stream).await? else {
        return Ok(None);
    };
    let last = last.decode()?;
    let occurrence = last
        .decode::<Occurrence>()
        .inspect_err(|error| {
            // Its time stands in for an occurrence's.
            tracing::warn!(stream, %error, "the last message of a recurring job's stream is not an occurrence");
        })
        .ok();
    Ok(Some(Newest {
        position: last.position,
        appended_at: last.timestamp,
        occurrence,
    }))
}

/// Appends `occurrence` to the job's `stream` if `newest` is still its
/// newest message; returns its position, or `None` when another append
/// came first and the stream must be read again.
pub(crate) async fn append_after(
    store: &dyn MessageStorage,
    stream: &str,
    newest: Option<&Newest>,
    occurrence: &Occurrence,
) -> Result<Option<i64>> {
    let version = newest.map_or(0, |newest| newest.position);
    let appended = store
        .append(
            stream,
            ExpectedVersion::Exact(version),
            vec![NewMessage::new(occurrence)?],
        )
        .await;
    match appended {
        Ok(appended) => Ok(Some(appended.stream_version)),
        Err(Error::WrongExpectedVersion { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}
