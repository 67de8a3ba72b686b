//! What a stream name may hold, and its category.

use crate::error::{Error, Result};

/// The longest stream name the store accepts, in bytes.
pub const MAX_STREAM_NAME_BYTES: usize = 512;

/// A stream's category: the part of its name before the first `-`.
///
/// ```
/// assert_eq!(beckett::category("Order-42"), "Order");
/// assert_eq!(beckett::category("Order-42-lines"), "Order");
/// assert_eq!(beckett::category("Settings"), "Settings");
/// ```
pub fn category(stream: &str) -> &str {
    stream
        .split_once('-')
        .map_or(stream, |(category, _)| category)
}

/// Refuses names that are empty, too long, or hold characters Postgres
/// text cannot (NUL) or that would be invisible in logs (control characters).
pub fn validate(stream: &str) -> Result<()> {
    let reason = if stream.is_empty() {
        "must not be empty".to_owned()
    } else if stream.len() > MAX_STREAM_NAME_BYTES {
        format!(
            "is {} bytes long; the limit is {MAX_STREAM_NAME_BYTES}",
            stream.len()
        )
    } else if let Some(c) = stream.chars().find(|c| c.is_control()) {
        format!("must not contain control characters (found {c:?})")
    } else {
        return Ok(());
    };
    Err(Error::InvalidStreamName {
        stream: stream.to_owned(),
        reason,
    })
}
