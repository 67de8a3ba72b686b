//! Browsing a message store, as an operator does: its categories, the
//! streams of one, and messages found by type or conversation, newest
//! first.
//!
//! [`MessageStorage`] provides each of these by reading the whole global
//! order, so every store can be browsed; a store that indexes what they
//! ask for answers them itself.

use super::{category, GlobalCursor, MessageStorage, RawMessage};
use crate::error::Result;
use std::collections::{BTreeMap, VecDeque};
use uuid::Uuid;

/// How many global positions a search without a correlation id looks
/// through at most in Postgres and SQLite, so that one for a rare type
/// stays quick on a big store; [`Found::older`] says where to look on.
pub const SEARCH_SPAN: i64 = 50_000;

/// A category of streams: the part of their names before the first `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryInfo {
    /// The category's name.
    pub name: String,
    /// How many streams it holds.
    pub streams: u64,
    /// How many messages its streams hold.
    pub messages: u64,
}

/// A stream, and its version: the position of its newest message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// The stream's name.
    pub name: String,
    /// The position of its newest message.
    pub version: i64,
}

/// Which messages a [search](MessageStorage::search) finds: every
/// condition given must hold, and with none it finds every message.
///
/// ```no_run
/// # async fn demo(store: &dyn beckett::MessageStorage, order: uuid::Uuid) -> beckett::Result<()> {
/// use beckett::store::MessageSearch;
///
/// // The payments the order's conversation asked for, newest first.
/// let payments = MessageSearch::default()
///     .correlation_id(order)
///     .message_type("PaymentRequested");
/// let found = store.search(&payments, None, 50).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageSearch {
    /// Messages of this type.
    pub message_type: Option<String>,
    /// Messages of this conversation: the message whose id this is, and
    /// every message whose correlation id it is.
    pub correlation_id: Option<Uuid>,
}

impl MessageSearch {
    /// Only messages of type `name`.
    pub fn message_type(mut self, name: impl Into<String>) -> Self {
        self.message_type = Some(name.into());
        self
    }

    /// Only the conversation `id`: the message with that id and those
    /// correlated with it.
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.correlation_id = Some(id);
        self
    }

    /// Whether `message` is one this search finds.
    pub fn matches(&self, message: &RawMessage) -> bool {
        let envelope = &message.envelope;
        self.message_type
            .as_ref()
            .is_none_or(|name| *name == envelope.message_type)
            && self.correlation_id.is_none_or(|id| {
                envelope.id == id
                    || message
                        .metadata
                        .get("correlation_id")
                        .and_then(|v| v.as_str())
                        == Some(id.to_string().as_str())
            })
    }
}

/// A page of messages a search found, newest first, and where to search
/// on for older ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Found<M> {
    /// The messages found, newest (highest global position) first.
    pub messages: Vec<M>,
    /// Older messages may match below this global position: search again
    /// with it as `before`. `None` once the search reached the first
    /// message. A store may look through a bounded span of positions per
    /// search, so a page can hold fewer messages than asked for and still
    /// have more to search.
    pub older: Option<i64>,
}

impl Found<RawMessage> {
    /// A page a store read newest first, at most `limit` messages, having
    /// looked through global positions down to `lowest` (to the first, if
    /// `None`): older ones may match below the last message of a full
    /// page, or else below `lowest`.
    ///
    /// ```
    /// use beckett::store::Found;
    ///
    /// let nothing: Found<beckett::RawMessage> = Found::newest_first(Vec::new(), 50, Some(9_001));
    /// assert_eq!(nothing.older, Some(9_001));
    /// ```
    pub fn newest_first(messages: Vec<RawMessage>, limit: usize, lowest: Option<i64>) -> Self {
        let below = match messages.len() == limit {
            true => messages.last().map(|m| m.envelope.global_position),
            false => lowest,
        };
        Self {
            messages,
            older: below.filter(|&below| below > 1),
        }
    }
}

/// Every message of `store`, its metadata as stored, read in global order.
async fn each_message<S: MessageStorage + ?Sized>(
    store: &S,
    mut each: impl FnMut(RawMessage),
) -> Result<()> {
    let mut cursor = GlobalCursor::START;
    loop {
        let read = store.read_global_raw(&cursor, 1000, None).await?;
        if read.messages.is_empty() {
            return Ok(());
        }
        read.messages.into_iter().for_each(&mut each);
        cursor = read.cursor;
    }
}

/// Every stream of `store` and its version, by name.
async fn versions<S: MessageStorage + ?Sized>(store: &S) -> Result<BTreeMap<String, i64>> {
    let mut versions = BTreeMap::new();
    each_message(store, |message| {
        let version = versions.entry(message.envelope.stream).or_insert(0);
        *version = message.envelope.position.max(*version);
    })
    .await?;
    Ok(versions)
}

/// [`MessageStorage::categories`] by reading every message.
pub(super) async fn categories<S: MessageStorage + ?Sized>(store: &S) -> Result<Vec<CategoryInfo>> {
    let mut categories: BTreeMap<String, CategoryInfo> = BTreeMap::new();
    for (stream, version) in versions(store).await? {
        let name = category(&stream);
        let info = categories
            .entry(name.to_owned())
            .or_insert_with(|| CategoryInfo {
                name: name.to_owned(),
                streams: 0,
                messages: 0,
            });
        info.streams += 1;
        info.messages += version.unsigned_abs();
    }
    Ok(categories.into_values().collect())
}

/// [`MessageStorage::streams`] by reading every message.
pub(super) async fn streams<S: MessageStorage + ?Sized>(
    store: &S,
    of: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<StreamInfo>> {
    Ok(versions(store)
        .await?
        .into_iter()
        .filter(|(name, _)| category(name) == of && after.is_none_or(|after| name.as_str() > after))
        .take(limit)
        .map(|(name, version)| StreamInfo { name, version })
        .collect())
}

/// [`MessageStorage::search_raw`] by reading every message.
pub(super) async fn search<S: MessageStorage + ?Sized>(
    store: &S,
    search: &MessageSearch,
    before: Option<i64>,
    limit: usize,
) -> Result<Found<RawMessage>> {
    let mut newest = VecDeque::with_capacity(limit.min(1000));
    each_message(store, |message| {
        let position = message.envelope.global_position;
        if before.is_none_or(|before| position < before) && search.matches(&message) {
            newest.push_front(message);
            newest.truncate(limit);
        }
    })
    .await?;
    Ok(Found::newest_first(newest.into(), limit, None))
}

#[cfg(test)]
mod tests {
    use super::{Found, MessageSearch};
    use crate::store::{Envelope, RawMessage};

    fn at(global_position: i64) -> RawMessage {
        RawMessage {
            envelope: Envelope {
                id: uuid::Uuid::now_v7(),
                stream: "Order-1".into(),
                position: global_position,
                global_position,
                transaction_id: 0,
                message_type: "Ping".into(),
                data: serde_json::Value::Null,
                metadata: Default::default(),
                timestamp: chrono::Utc::now(),
            },
            metadata: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_search_matches_its_conversation_and_type() {
        let root = at(1);
        let mut caused = at(2);
        caused.metadata = serde_json::json!({ "correlation_id": root.envelope.id });
        caused.envelope.message_type = "Pong".into();
        let conversation = MessageSearch::default().correlation_id(root.envelope.id);
        assert!(conversation.matches(&root) && conversation.matches(&caused));
        assert!(!conversation.matches(&at(3)), "another conversation");
        let pongs = conversation.message_type("Pong");
        assert!(pongs.matches(&caused) && !pongs.matches(&root));
        assert!(MessageSearch::default().matches(&at(4)), "no condition");
    }

    #[test]
    fn older_ones_are_sought_below_a_full_page_or_else_below_the_span() {
        let full = Found::newest_first(vec![at(9), at(7)], 2, Some(5));
        assert_eq!(full.older, Some(7), "below the last of a full page");
        let short = Found::newest_first(vec![at(9)], 2, Some(5));
        assert_eq!(short.older, Some(5), "below what the span looked through");
        let whole = Found::newest_first(vec![at(9)], 2, None);
        assert_eq!(whole.older, None, "the whole order looked through");
        let first = Found::newest_first(vec![at(3), at(1)], 2, None);
        assert_eq!(first.older, None, "nothing below the first position");
    }
}
