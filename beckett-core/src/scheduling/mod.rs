//! Scheduled messages: appended to their stream at a later time, once,
//! by whichever process's scheduler finds them due first.
//!
//! [`EngineStorage::schedule`](crate::state::EngineStorage::schedule) (or
//! [`Context::schedule`](crate::subscription::Context::schedule) from a
//! handler) stores a message with its due time and returns the id the
//! message will have;
//! [`EngineStorage::cancel_scheduled`](crate::state::EngineStorage::cancel_scheduled)
//! takes it back while it is still waiting. Every process that runs the
//! engine also runs a scheduler, which sleeps until the nearest
//! due time (or until a new message is scheduled sooner) and then moves due
//! messages into the store in batches. Moving a message deletes it from the
//! schedule and appends it in one statement, so it is appended exactly
//! once, never before its time.
//!
//! ```no_run
//! # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
//! use beckett::NewMessage;
//! use std::time::Duration;
//!
//! let reminder = NewMessage::from_json("PaymentReminder", serde_json::json!({ "order": 42 }));
//! let id = store.schedule("Order-42", reminder, Duration::from_secs(10 * 24 * 3600)).await?;
//! // Paid after all:
//! assert!(store.cancel_scheduled(id).await?);
//! # Ok(()) }
//! ```

pub(crate) mod deliverer;

pub use deliverer::deliver_due;

use crate::error::{Error, Result, MAX_DELAY_YEARS};
use chrono::{DateTime, Utc};
use std::time::{Duration, SystemTime};

/// Seconds in a year of 365.25 days.
const SECONDS_PER_YEAR: u64 = 31_557_600;

/// When a scheduled message is due: at a time, or after a delay from
/// now (by the database's clock). A time in the past means at once.
///
/// ```
/// use beckett::scheduling::Due;
/// use std::time::Duration;
///
/// let in_an_hour: Due = Duration::from_secs(3600).into();
/// let new_year: Due = "2027-01-01T00:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap().into();
/// assert_ne!(in_an_hour, new_year);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// At this time.
    At(DateTime<Utc>),
    /// This long after the message is scheduled.
    In(Duration),
}

impl Due {
    /// This due time, if a store can count to it: a delay of 100,000
    /// years or more is [`Error::DelayTooLong`], naming `stream`.
    ///
    /// ```
    /// use beckett::scheduling::Due;
    /// use std::time::Duration;
    ///
    /// assert!(Due::In(Duration::from_secs(60)).check("Cart-7").is_ok());
    /// assert!(Due::In(Duration::MAX).check("Cart-7").is_err());
    /// ```
    pub fn check(self, stream: &str) -> Result<Self> {
        match self {
            Self::In(delay) if delay.as_secs() / SECONDS_PER_YEAR >= MAX_DELAY_YEARS => {
                Err(Error::DelayTooLong {
                    stream: stream.to_owned(),
                    delay,
                })
            }
            due => Ok(due),
        }
    }
}

impl From<DateTime<Utc>> for Due {
    fn from(at: DateTime<Utc>) -> Self {
        Self::At(at)
    }
}

impl From<SystemTime> for Due {
    fn from(at: SystemTime) -> Self {
        Self::At(at.into())
    }
}

impl From<Duration> for Due {
    fn from(delay: Duration) -> Self {
        Self::In(delay)
    }
}
