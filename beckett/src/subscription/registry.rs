//! The link-time registry: what `#[subscription]` and `#[derive(Message)]`
//! submit, and the checks `run()` makes before consuming anything.

use super::context::Context;
use super::handler::HandlerFuture;
use crate::error::{Error, Result};
use crate::store::Envelope;
use std::collections::BTreeMap;
use std::time::Duration;

/// Where a new subscription starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// From the first message in the store.
    Beginning,
    /// From messages appended after the subscription first runs.
    End,
}

/// A subscription as `#[subscription]` registers it.
#[derive(Debug)]
pub struct SubscriptionDescriptor {
    /// The group whose processes run it.
    pub group: &'static str,
    /// Its name, unique in its group.
    pub name: &'static str,
    /// The wire names of the message types it handles (empty: every type of
    /// its category).
    pub messages: &'static [&'static str],
    /// The stream category it is limited to, if any.
    pub category: Option<&'static str>,
    /// Where it starts when new.
    pub start: Start,
    /// Retries before a stream is failed, overriding the configured default.
    pub max_retries: Option<u32>,
    /// How long one call of the handler may take, overriding the default.
    pub timeout: Option<Duration>,
    /// Whether the handler shares a transaction with its checkpoint.
    pub transactional: bool,
    /// Decodes a message and calls the user's function.
    pub handler: fn(Envelope, Context) -> HandlerFuture,
    /// Where the subscription is declared, `file:line`, for error messages.
    pub location: &'static str,
}

impl SubscriptionDescriptor {
    /// Whether a message of this type in this stream is for the
    /// subscription.
    pub(crate) fn selects(&self, message_type: &str, stream: &str) -> bool {
        (self.messages.is_empty() || self.messages.contains(&message_type))
            && self
                .category
                .is_none_or(|c| crate::store::category(stream) == c)
    }
}

/// A message type as `#[derive(Message)]` registers it.
#[derive(Debug)]
pub struct MessageTypeDescriptor {
    /// Its wire name.
    pub name: &'static str,
    /// The Rust type's path, for error messages.
    pub rust_type: &'static str,
}

inventory::collect!(SubscriptionDescriptor);
inventory::collect!(MessageTypeDescriptor);

/// Subscriptions by group.
pub(crate) type Groups = BTreeMap<&'static str, Vec<&'static SubscriptionDescriptor>>;

/// The subscriptions linked into this program, by group, after checking
/// that no two share a name in a group and no two message types share a
/// wire name.
pub(crate) fn linked_groups() -> Result<Groups> {
    check_message_types(inventory::iter::<MessageTypeDescriptor>())?;
    group(inventory::iter::<SubscriptionDescriptor>())
}

fn check_message_types<'a>(
    types: impl IntoIterator<Item = &'a MessageTypeDescriptor>,
) -> Result<()> {
    let mut by_name: BTreeMap<&str, &str> = BTreeMap::new();
    for message_type in types {
        if let Some(other) = by_name.insert(message_type.name, message_type.rust_type) {
            if other != message_type.rust_type {
                return Err(Error::Registry(format!(
                    "message types `{other}` and `{}` share the wire name `{}`; give one of them \
                     another with #[message(name = \"...\")]",
                    message_type.rust_type, message_type.name
                )));
            }
        }
    }
    Ok(())
}

fn group<'a>(
    subscriptions: impl IntoIterator<Item = &'a SubscriptionDescriptor>,
) -> Result<BTreeMap<&'a str, Vec<&'a SubscriptionDescriptor>>> {
    let mut groups: BTreeMap<&str, Vec<&SubscriptionDescriptor>> = BTreeMap::new();
    for subscription in subscriptions {
        let members = groups.entry(subscription.group).or_default();
        if let Some(other) = members.iter().find(|s| s.name == subscription.name) {
            return Err(Error::Registry(format!(
                "two subscriptions are named `{}` in group `{}`: at {} and at {}; \
                 give one of them another with name = \"...\"",
                subscription.name, subscription.group, other.location, subscription.location
            )));
        }
        members.push(subscription);
    }
    for members in groups.values_mut() {
        members.sort_by_key(|s| s.name);
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(_: Envelope, _: Context) -> HandlerFuture {
        Box::pin(async { Ok(()) })
    }

    const fn subscription(
        group: &'static str,
        name: &'static str,
        location: &'static str,
    ) -> SubscriptionDescriptor {
        SubscriptionDescriptor {
            group,
            name,
            messages: &["OrderPlaced"],
            category: None,
            start: Start::Beginning,
            max_retries: None,
            timeout: None,
            transactional: false,
            handler,
            location,
        }
    }

    #[test]
    fn duplicate_subscription_names_in_a_group_are_refused_naming_both() {
        let subscriptions = [
            subscription("Billing", "invoice", "src/a.rs:3"),
            subscription("Shipping", "invoice", "src/b.rs:9"),
            subscription("Billing", "invoice", "src/c.rs:12"),
        ];
        let error = group(&subscriptions).unwrap_err().to_string();
        assert!(error.contains("`invoice` in group `Billing`"), "{error}");
        assert!(
            error.contains("src/a.rs:3") && error.contains("src/c.rs:12"),
            "{error}"
        );
    }

    #[test]
    fn one_name_in_two_groups_is_fine() {
        let subscriptions = [
            subscription("Billing", "invoice", "src/a.rs:3"),
            subscription("Shipping", "invoice", "src/b.rs:9"),
        ];
        assert_eq!(group(&subscriptions).unwrap().len(), 2);
    }

    #[test]
    fn message_types_sharing_a_wire_name_are_refused_naming_both() {
        let types = [
            MessageTypeDescriptor {
                name: "placed",
                rust_type: "shop::OrderPlaced",
            },
            MessageTypeDescriptor {
                name: "placed",
                rust_type: "crm::LeadPlaced",
            },
        ];
        let error = check_message_types(&types).unwrap_err().to_string();
        assert!(
            error.contains("shop::OrderPlaced") && error.contains("crm::LeadPlaced"),
            "{error}"
        );
    }

    #[test]
    fn selection_by_type_and_category() {
        let mut by_category = subscription("G", "s", "x");
        by_category.messages = &[];
        by_category.category = Some("Order");
        assert!(by_category.selects("Anything", "Order-1"));
        assert!(!by_category.selects("Anything", "Orders-1"));
        let by_type = subscription("G", "s", "x");
        assert!(by_type.selects("OrderPlaced", "Cart-1"));
        assert!(!by_type.selects("OrderShipped", "Cart-1"));
    }
}
