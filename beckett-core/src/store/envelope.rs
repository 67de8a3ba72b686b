//! Messages as read back from the store.

use crate::error::{DecodeError, Error, Result};
use crate::message::{is_name_or_alias, Message, Metadata};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// A stored message: its place in its stream and in the global order, its
/// type name, raw JSON data and metadata.
///
/// Decode the data into a [`Message`] type with [`decode`](Self::decode), or
/// work with it raw.
///
/// ```no_run
/// # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
/// use beckett::{Message, MessageStorage};
///
/// #[derive(Message, serde::Serialize, serde::Deserialize)]
/// struct OrderPlaced { order_id: u64 }
///
/// for envelope in store.read_stream("Order-1", 1, 10).await? {
///     if envelope.message_type == OrderPlaced::NAME {
///         let placed: OrderPlaced = envelope.decode()?;
///         println!("order {} at {}", placed.order_id, envelope.timestamp);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The message's id.
    pub id: Uuid,
    /// The stream holding the message.
    pub stream: String,
    /// The message's position in its stream, from 1.
    pub position: i64,
    /// The message's position among all messages, in order of insertion.
    pub global_position: i64,
    /// The id of the transaction that wrote the message, in stores that
    /// order the global feed by it (Postgres); 0 in the others.
    pub transaction_id: i64,
    /// The message's type name.
    pub message_type: String,
    /// The message's JSON data.
    pub data: Value,
    /// The message's metadata.
    pub metadata: Metadata,
    /// When the message was appended (its transaction's start).
    pub timestamp: DateTime<Utc>,
}

impl Envelope {
    /// Decodes the data into `M`, checking that the stored type name is
    /// `M`'s wire name or one of its [aliases](Message::ALIASES).
    ///
    /// Errors are [`Error::Decode`] naming the stream, position and stored
    /// type: [`DecodeError::UnknownType`] when the name differs,
    /// [`DecodeError::Json`] when the data does not fit `M`.
    ///
    /// ```no_run
    /// # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
    /// # use beckett::MessageStorage;
    /// #[derive(beckett::Message, serde::Serialize, serde::Deserialize)]
    /// struct OrderPlaced { order_id: u64 }
    ///
    /// let first = &store.read_stream("Order-1", 1, 1).await?[0];
    /// let placed: OrderPlaced = first.decode()?;
    /// # Ok(()) }
    /// ```
    pub fn decode<M: Message>(&self) -> Result<M> {
        if !is_name_or_alias(&self.message_type, M::NAME, M::ALIASES) {
            return Err(self.decode_error(DecodeError::UnknownType {
                expected: vec![M::NAME],
            }));
        }
        M::deserialize(&self.data).map_err(|e| self.decode_error(e.into()))
    }

    /// A decode error for this message, naming its stream, position and type.
    ///
    /// ```
    /// # fn demo(envelope: &beckett::Envelope) {
    /// use beckett::{DecodeError, Error};
    ///
    /// let error = envelope.decode_error(DecodeError::UnknownType { expected: vec!["OrderPlaced"] });
    /// assert!(matches!(error, Error::Decode { .. }));
    /// # }
    /// ```
    pub fn decode_error(&self, source: DecodeError) -> Error {
        Error::Decode {
            stream: self.stream.clone(),
            position: self.position,
            message_type: self.message_type.clone(),
            source,
        }
    }

    /// The stream's category: the part of its name before the first `-`.
    ///
    /// ```
    /// # fn demo(envelope: &beckett::Envelope) {
    /// // for a message of stream "Order-42"
    /// assert_eq!(envelope.category(), "Order");
    /// # }
    /// ```
    pub fn category(&self) -> &str {
        super::category(&self.stream)
    }
}

/// A message as a store reads it, its metadata not yet decoded, so that a
/// message whose metadata has another shape fails only whoever handles it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawMessage {
    /// The message, with empty metadata.
    pub envelope: Envelope,
    /// The metadata as stored.
    pub metadata: Value,
}

impl RawMessage {
    /// The message with its metadata decoded; metadata that does not fit
    /// [`Metadata`] is a decode error naming the message.
    ///
    /// ```
    /// use beckett::{Envelope, RawMessage};
    ///
    /// # fn demo(envelope: Envelope) -> beckett::Result<()> {
    /// let raw = RawMessage { envelope, metadata: serde_json::json!({ "tenant": "acme" }) };
    /// assert_eq!(raw.decode()?.metadata.get("tenant"), Some(&"acme".into()));
    /// # Ok(()) }
    /// ```
    pub fn decode(self) -> Result<Envelope> {
        let Self {
            mut envelope,
            metadata,
        } = self;
        envelope.metadata = serde_json::from_value(metadata)
            .map_err(|e| envelope.decode_error(DecodeError::Json(e)))?;
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct OrderPlaced {
        order_id: u64,
    }

    impl Message for OrderPlaced {
        const NAME: &'static str = "order_placed";
        const ALIASES: &'static [&'static str] = &["OrderPlaced", "PlacedOrder"];
    }

    fn stored(message_type: &str) -> Envelope {
        Envelope {
            id: Uuid::now_v7(),
            stream: "Order-1".to_owned(),
            position: 1,
            global_position: 1,
            transaction_id: 1,
            message_type: message_type.to_owned(),
            data: serde_json::json!({ "order_id": 7 }),
            metadata: Metadata::default(),
            timestamp: Utc::now(),
        }
    }

    #[test]
    fn decode_accepts_the_name_and_each_alias_only() {
        for name in ["order_placed", "OrderPlaced", "PlacedOrder"] {
            let placed = stored(name).decode::<OrderPlaced>().unwrap();
            assert_eq!(placed, OrderPlaced { order_id: 7 }, "{name}");
        }
        let error = stored("OrderShipped").decode::<OrderPlaced>().unwrap_err();
        assert!(
            matches!(
                error,
                Error::Decode { source: DecodeError::UnknownType { ref expected }, .. }
                    if expected == &["order_placed"]
            ),
            "{error}"
        );
    }
}
