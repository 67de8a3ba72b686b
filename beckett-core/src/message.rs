//! Messages: the [`Message`] trait, their [`Metadata`], and [`NewMessage`],
//! a message ready to append.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A type that can be appended to and read from the message store.
///
/// Derive it: `#[derive(beckett::Message)]` gives the type a stable wire
/// name, stored with every message and used to pick the type when reading.
/// The name defaults to the type's identifier; set it with
/// `#[message(name = "...")]` so renaming the Rust type does not break stored
/// messages. The data is the type's serde JSON.
///
/// A type may also answer to former wire names, its aliases:
/// `#[message(aliases("OldName", ...))]`. Messages stored under an alias
/// decode to the type and are handed to the subscriptions that list it;
/// new messages are stored under [`NAME`](Self::NAME). `beckett::run()`
/// refuses to start when a name or alias of one type is a name or alias of
/// another.
///
/// ```
/// use beckett::Message;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Message, Serialize, Deserialize)]
/// struct OrderPlaced { order_id: u64 }
///
/// #[derive(Message, Serialize, Deserialize)]
/// #[message(name = "order_shipped", aliases("OrderShipped"))]
/// struct OrderShipped { order_id: u64 }
///
/// assert_eq!(OrderPlaced::NAME, "OrderPlaced");
/// assert_eq!(OrderShipped::NAME, "order_shipped");
/// assert_eq!(OrderShipped::ALIASES, ["OrderShipped"]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Beckett message",
    label = "not a message",
    note = "add `#[derive(beckett::Message)]` to the definition of `{Self}`"
)]
pub trait Message: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The wire name stored as the message's type.
    const NAME: &'static str;

    /// Former wire names: messages stored under them decode to this type
    /// too, and subscriptions listing it receive them. None by default; the
    /// derive sets them from `#[message(aliases(...))]`.
    ///
    /// ```
    /// use beckett::Message;
    ///
    /// /// Was `PlacedOrder`, then `OrderPlaced`, before it got a stable name.
    /// #[derive(Message, serde::Serialize, serde::Deserialize)]
    /// #[message(name = "order_placed", aliases("OrderPlaced", "PlacedOrder"))]
    /// struct OrderPlaced { order_id: u64 }
    ///
    /// assert_eq!(OrderPlaced::ALIASES, ["OrderPlaced", "PlacedOrder"]);
    /// ```
    const ALIASES: &'static [&'static str] = &[];
}

/// Whether a stored type name is a message type's wire name or one of its
/// aliases: whether the message decodes to that type. Not generic, so that
/// generated code passes `<T as Message>::NAME` and `::ALIASES` and a type
/// that is not a message gets the same error as everywhere else.
#[doc(hidden)]
pub fn is_name_or_alias(message_type: &str, name: &str, aliases: &[&str]) -> bool {
    message_type == name || aliases.contains(&message_type)
}

/// Metadata stored with every message: the ids that chain messages together,
/// trace context, and the application's own keys.
///
/// The user keys sit beside beckett's own in one JSON object, so SQL can read
/// them as `metadata->>'tenant'`.
///
/// ```
/// use beckett::Metadata;
/// use uuid::Uuid;
///
/// let mut metadata = Metadata::default();
/// metadata.correlation_id = Some(Uuid::now_v7());
/// metadata.insert("tenant", "acme")?;
/// assert_eq!(metadata.get("tenant"), Some(&"acme".into()));
/// # Ok::<(), beckett::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// The id shared by every message of one conversation or workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The id of the message whose handling caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// W3C trace context of the appender, so handlers continue its trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(flatten)]
    user: Map<String, Value>,
}

impl Metadata {
    /// Keys beckett keeps for itself; user keys must differ.
    pub const RESERVED_KEYS: [&'static str; 3] = ["correlation_id", "causation_id", "traceparent"];

    /// Sets a user key, returning its previous value.
    ///
    /// ```
    /// # use beckett::Metadata;
    /// let mut metadata = Metadata::default();
    /// assert!(metadata.insert("tenant", "acme")?.is_none());
    /// assert!(metadata.insert("traceparent", "x").is_err());
    /// # Ok::<(), beckett::Error>(())
    /// ```
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<Value>,
    ) -> Result<Option<Value>> {
        let key = key.into();
        if Self::RESERVED_KEYS.contains(&key.as_str()) {
            return Err(Error::ReservedMetadataKey { key });
        }
        Ok(self.user.insert(key, value.into()))
    }

    /// A user key's value.
    ///
    /// ```
    /// # use beckett::Metadata;
    /// assert_eq!(Metadata::default().get("tenant"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.user.get(key)
    }

    /// The user keys and their values, in key order.
    ///
    /// ```
    /// # use beckett::Metadata;
    /// let mut metadata = Metadata::default();
    /// metadata.insert("b", 2)?;
    /// metadata.insert("a", 1)?;
    /// let keys: Vec<&String> = metadata.user_entries().map(|(k, _)| k).collect();
    /// assert_eq!(keys, ["a", "b"]);
    /// # Ok::<(), beckett::Error>(())
    /// ```
    pub fn user_entries(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.user.iter()
    }
}

/// A message ready to append: its id, type name, JSON data and metadata.
///
/// ```
/// use beckett::{Message, NewMessage};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Message, Serialize, Deserialize)]
/// struct OrderPlaced { order_id: u64 }
///
/// let message = NewMessage::new(&OrderPlaced { order_id: 7 })?;
/// assert_eq!(message.message_type(), "OrderPlaced");
/// assert_eq!(message.data()["order_id"], 7);
/// # Ok::<(), beckett::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    id: Uuid,
    message_type: String,
    data: Value,
    metadata: Metadata,
}

impl NewMessage {
    /// Serializes a [`Message`], with a fresh time-ordered id and empty
    /// metadata.
    ///
    /// ```
    /// # use beckett::{Message, NewMessage};
    /// # #[derive(Message, serde::Serialize, serde::Deserialize)]
    /// # struct OrderPlaced { order_id: u64 }
    /// let message = NewMessage::new(&OrderPlaced { order_id: 7 })?;
    /// assert!(message.metadata().correlation_id.is_none());
    /// # Ok::<(), beckett::Error>(())
    /// ```
    pub fn new<M: Message>(message: &M) -> Result<Self> {
        let data = serde_json::to_value(message).map_err(|source| Error::Encode {
            message_type: M::NAME.to_owned(),
            source,
        })?;
        Ok(Self::from_json(M::NAME, data))
    }

    /// A message from a type name and JSON data, for stores fed by other
    /// programs or by messages without a Rust type.
    ///
    /// ```
    /// # use beckett::NewMessage;
    /// let message = NewMessage::from_json("OrderPlaced", serde_json::json!({ "order_id": 7 }));
    /// assert_eq!(message.message_type(), "OrderPlaced");
    /// ```
    pub fn from_json(message_type: impl Into<String>, data: Value) -> Self {
        Self {
            id: Uuid::now_v7(),
            message_type: message_type.into(),
            data,
            metadata: Metadata::default(),
        }
    }

    /// Replaces the message's id, for appends that must be recognisable
    /// when retried.
    ///
    /// ```
    /// # use beckett::NewMessage;
    /// let id = uuid::Uuid::now_v7();
    /// let message = NewMessage::from_json("Ping", serde_json::json!({})).with_id(id);
    /// assert_eq!(message.id(), id);
    /// ```
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// Replaces the message's metadata.
    ///
    /// ```
    /// # use beckett::{Metadata, NewMessage};
    /// let correlation_id = uuid::Uuid::now_v7();
    /// let mut metadata = Metadata::default();
    /// metadata.correlation_id = Some(correlation_id);
    /// let message = NewMessage::from_json("Ping", serde_json::json!({})).with_metadata(metadata);
    /// assert_eq!(message.metadata().correlation_id, Some(correlation_id));
    /// ```
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// The message's id.
    ///
    /// ```
    /// # use beckett::NewMessage;
    /// let message = NewMessage::from_json("Ping", serde_json::json!({}));
    /// assert!(!message.id().is_nil());
    /// ```
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The message's type name.
    ///
    /// ```
    /// # use beckett::NewMessage;
    /// assert_eq!(NewMessage::from_json("Ping", serde_json::json!({})).message_type(), "Ping");
    /// ```
    pub fn message_type(&self) -> &str {
        &self.message_type
    }

    /// The message's JSON data.
    ///
    /// ```
    /// # use beckett::NewMessage;
    /// let message = NewMessage::from_json("Ping", serde_json::json!({ "n": 1 }));
    /// assert_eq!(message.data()["n"], 1);
    /// ```
    pub fn data(&self) -> &Value {
        &self.data
    }

    /// The message's metadata.
    ///
    /// ```
    /// # use beckett::NewMessage;
    /// let message = NewMessage::from_json("Ping", serde_json::json!({}));
    /// assert!(message.metadata().causation_id.is_none());
    /// ```
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The metadata, for changing it in place.
    ///
    /// ```
    /// # use beckett::NewMessage;
    /// let mut message = NewMessage::from_json("Ping", serde_json::json!({}));
    /// message.metadata_mut().insert("tenant", "acme")?;
    /// assert_eq!(message.metadata().get("tenant"), Some(&"acme".into()));
    /// # Ok::<(), beckett::Error>(())
    /// ```
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The message as a store writes it: its type name checked, its
    /// metadata encoded as JSON.
    ///
    /// ```
    /// # use beckett::NewMessage;
    /// let encoded = NewMessage::from_json("Ping", serde_json::json!({ "n": 1 })).encode()?;
    /// assert_eq!(encoded.message_type, "Ping");
    /// assert_eq!(encoded.metadata, serde_json::json!({}));
    /// assert!(NewMessage::from_json("", serde_json::json!({})).encode().is_err());
    /// # Ok::<(), beckett::Error>(())
    /// ```
    pub fn encode(mut self) -> Result<Encoded> {
        validate_type_name(&self.message_type)?;
        // The span appending it, for the handlers' spans to follow.
        if self.metadata.traceparent.is_none() {
            self.metadata.traceparent = crate::telemetry::traceparent();
        }
        let metadata = serde_json::to_value(&self.metadata).map_err(|source| Error::Encode {
            message_type: self.message_type.clone(),
            source,
        })?;
        Ok(Encoded {
            id: self.id,
            message_type: self.message_type,
            data: self.data,
            metadata,
        })
    }
}

/// A new message as a store writes it; see [`NewMessage::encode`].
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// The message's id.
    pub id: Uuid,
    /// Its type name, checked.
    pub message_type: String,
    /// Its JSON data.
    pub data: Value,
    /// Its metadata as JSON.
    pub metadata: Value,
}

/// Checks a message type name before it is stored: the rules
/// `#[derive(Message)]` enforces at compile time, for names built at run
/// time.
fn validate_type_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.trim() != name {
        "must not start or end with whitespace"
    } else if name.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(Error::InvalidMessageType {
        message_type: name.to_owned(),
        reason: reason.to_owned(),
    })
}
