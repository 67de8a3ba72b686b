//! What a handler receives and returns: its input ([`Message`],
//! [`MessageSet`] or [`Envelope`]), the [`Context`], and errors.

use crate::error::{BoxError, DecodeError, Result};
use crate::message::Message;
use crate::store::Envelope;
use std::future::Future;
use std::pin::Pin;

/// The future a registered handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'static>>;

/// Several message types handled by one subscription, as an enum whose
/// variants each wrap one [`Message`] type.
///
/// Derive it; the subscription that takes it checks that the enum covers
/// exactly the types it lists.
///
/// ```
/// use beckett::{Message, MessageSet};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Message, Serialize, Deserialize)]
/// struct OrderPlaced { order_id: u64 }
/// #[derive(Message, Serialize, Deserialize)]
/// struct OrderShipped { order_id: u64 }
///
/// #[derive(MessageSet)]
/// enum OrderEvent {
///     Placed(OrderPlaced),
///     Shipped(OrderShipped),
/// }
///
/// assert_eq!(OrderEvent::NAMES, ["OrderPlaced", "OrderShipped"]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Beckett message set",
    label = "not a message set",
    note = "a handler of several messages takes an enum with `#[derive(beckett::MessageSet)]` whose variants wrap the listed types"
)]
pub trait MessageSet: Sized + Send + 'static {
    /// The wire names of the wrapped message types, in variant order.
    const NAMES: &'static [&'static str];

    /// Decodes a stored message into the variant whose type has the stored
    /// type name as its name or one of its [aliases](Message::ALIASES).
    ///
    /// Any other type name is [`DecodeError::UnknownType`], expecting
    /// [`NAMES`](Self::NAMES).
    fn decode(envelope: &Envelope) -> Result<Self>;
}

/// Decodes the data of `envelope` as `M`, for generated code.
#[doc(hidden)]
pub fn decode<M: Message>(envelope: &Envelope) -> Result<M> {
    envelope.decode()
}

/// The error for a message whose type no variant of a set names, for
/// generated code.
#[doc(hidden)]
pub fn unknown_type(envelope: &Envelope, expected: &[&'static str]) -> crate::Error {
    envelope.decode_error(DecodeError::UnknownType {
        expected: expected.to_vec(),
    })
}

/// Whether two lists of names hold the same names, ignoring order; usable
/// in constants, so a subscription can check its message set at compile
/// time.
#[doc(hidden)]
pub const fn same_names(a: &[&str], b: &[&str]) -> bool {
    const fn contains(list: &[&str], name: &str) -> bool {
        let mut i = 0;
        while i < list.len() {
            if str_eq(list[i], name) {
                return true;
            }
            i += 1;
        }
        false
    }
    const fn str_eq(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
    let mut i = 0;
    while i < a.len() {
        if !contains(b, a[i]) {
            return false;
        }
        i += 1;
    }
    let mut j = 0;
    while j < b.len() {
        if !contains(a, b[j]) {
            return false;
        }
        j += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::same_names;

    #[test]
    fn same_names_ignores_order_only() {
        assert!(same_names(&["a", "b"], &["b", "a"]));
        assert!(!same_names(&["a", "b"], &["a"]));
        assert!(!same_names(&["a"], &["a", "c"]));
        assert!(!same_names(&["ab"], &["a"]));
    }
}
