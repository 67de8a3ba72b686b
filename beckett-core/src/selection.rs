//! Which messages a subscription takes, as the leader routes them.

/// The messages a subscription selects: by type, category and stream.
/// Stored with the subscription when a program registers it, so that the
/// leader of its group routes for it even when the leader's program does
/// not declare it (another version, during a deploy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Wire names; empty: every type.
    pub types: Vec<String>,
    /// The category its streams are in, if limited to one.
    pub category: Option<String>,
    /// The one stream it reads, if limited to one.
    pub stream: Option<String>,
}

impl Selection {
    /// Whether a message of this type in this stream is selected.
    pub fn selects(&self, message_type: &str, stream: &str) -> bool {
        selects(
            &self.types,
            self.category.as_deref(),
            self.stream.as_deref(),
            message_type,
            stream,
        )
    }
}

/// Whether a message of `message_type` in `stream` is among `types` (all,
/// if empty), in `category` and in `only`, where those are given: the one
/// rule of selection, for declared and stored subscriptions alike.
pub(crate) fn selects(
    types: &[impl AsRef<str>],
    category: Option<&str>,
    only: Option<&str>,
    message_type: &str,
    stream: &str,
) -> bool {
    (types.is_empty() || types.iter().any(|t| t.as_ref() == message_type))
        && category.is_none_or(|c| crate::store::category(stream) == c)
        && only.is_none_or(|s| s == stream)
}
