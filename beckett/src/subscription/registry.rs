//! The link-time registry: what `#[subscription]` and `#[derive(Message)]`
//! submit, and the checks `run()` makes before consuming anything.

use super::context::Context;
use super::handler::HandlerFuture;
use crate::error::{Error, Result};
use crate::recurring::RecurringDescriptor;
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
    /// The one stream it is limited to, if any: a recurring job's own.
    pub stream: Option<&'static str>,
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
            && self.stream.is_none_or(|s| s == stream)
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

/// The linked subscriptions (recurring jobs' included) of the groups this
/// process runs (`wanted`, or every group linked in), after checking that
/// no two share a name in a group and no two message types share a wire
/// name. Every conflict is reported at once.
pub(crate) fn linked_groups(wanted: Option<&[String]>) -> Result<Groups> {
    let mut problems = wire_name_conflicts(inventory::iter::<MessageTypeDescriptor>());
    let jobs = inventory::iter::<RecurringDescriptor>().map(|job| &job.subscription);
    let (groups, conflicts) = group(inventory::iter::<SubscriptionDescriptor>().chain(jobs));
    problems.extend(conflicts);
    if !problems.is_empty() {
        return Err(Error::Registry(format!(
            "conflicting registrations:\n  - {}",
            problems.join("\n  - ")
        )));
    }
    select(groups, wanted)
}

/// The recurring jobs whose subscriptions are among `subscriptions`.
pub(crate) fn recurring_jobs(
    subscriptions: &[&'static SubscriptionDescriptor],
) -> Vec<&'static RecurringDescriptor> {
    inventory::iter::<RecurringDescriptor>()
        .filter(|job| {
            subscriptions
                .iter()
                .any(|s| std::ptr::eq(*s, &job.subscription))
        })
        .collect()
}

/// One line per wire name that two message types share.
fn wire_name_conflicts<'a>(
    types: impl IntoIterator<Item = &'a MessageTypeDescriptor>,
) -> Vec<String> {
    let mut by_name: BTreeMap<&str, &str> = BTreeMap::new();
    let mut problems = Vec::new();
    for message_type in types {
        match by_name.insert(message_type.name, message_type.rust_type) {
            Some(other) if other != message_type.rust_type => problems.push(format!(
                "message types `{other}` and `{}` share the wire name `{}`; give one of them \
                 another with #[message(name = \"...\")]",
                message_type.rust_type, message_type.name
            )),
            _ => {}
        }
    }
    problems
}

/// The subscriptions by group, and one line per name two subscriptions of
/// a group share.
fn group<'a>(
    subscriptions: impl IntoIterator<Item = &'a SubscriptionDescriptor>,
) -> (
    BTreeMap<&'a str, Vec<&'a SubscriptionDescriptor>>,
    Vec<String>,
) {
    let mut groups: BTreeMap<&str, Vec<&SubscriptionDescriptor>> = BTreeMap::new();
    let mut problems = Vec::new();
    for subscription in subscriptions {
        let members = groups.entry(subscription.group).or_default();
        match members.iter().find(|s| s.name == subscription.name) {
            Some(other) => problems.push(format!(
                "two subscriptions are named `{}` in group `{}`: at {} and at {}; \
                 give one of them another with name = \"...\"",
                subscription.name, subscription.group, other.location, subscription.location
            )),
            None => members.push(subscription),
        }
    }
    for members in groups.values_mut() {
        members.sort_by_key(|s| s.name);
    }
    (groups, problems)
}

/// The `wanted` groups of those linked, or all of them; a wanted group
/// with nothing linked, or nothing linked at all, is an error.
fn select<'a>(
    mut linked: BTreeMap<&'a str, Vec<&'a SubscriptionDescriptor>>,
    wanted: Option<&[String]>,
) -> Result<BTreeMap<&'a str, Vec<&'a SubscriptionDescriptor>>> {
    let Some(wanted) = wanted else {
        if linked.is_empty() {
            return Err(Error::Registry(
                "no subscriptions are linked into this program; mark handlers with \
                 #[beckett::subscription] or #[beckett::recurring] in a crate the program uses"
                    .to_owned(),
            ));
        }
        return Ok(linked);
    };
    let names = linked.keys().copied().collect::<Vec<_>>().join(", ");
    let mut groups = BTreeMap::new();
    for group in wanted {
        let (name, subscriptions) =
            linked
                .remove_entry(group.as_str())
                .ok_or_else(|| Error::Config {
                    setting: "BECKETT_GROUPS",
                    reason: format!(
                        "group `{group}` has no subscriptions linked into this program; \
                         linked groups: {}",
                        if names.is_empty() { "none" } else { &names }
                    ),
                })?;
        groups.insert(name, subscriptions);
    }
    Ok(groups)
}

/// A subscription to `OrderPlaced` whose handler does nothing, for tests.
#[cfg(test)]
pub(crate) const fn test_subscription(
    group: &'static str,
    name: &'static str,
    location: &'static str,
) -> SubscriptionDescriptor {
    fn handler(_: Envelope, _: Context) -> HandlerFuture {
        Box::pin(async { Ok(()) })
    }
    SubscriptionDescriptor {
        group,
        name,
        messages: &["OrderPlaced"],
        category: None,
        stream: None,
        start: Start::Beginning,
        max_retries: None,
        timeout: None,
        transactional: false,
        handler,
        location,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_subscription_names_in_a_group_are_refused_naming_both() {
        let subscriptions = [
            test_subscription("Billing", "invoice", "src/a.rs:3"),
            test_subscription("Shipping", "invoice", "src/b.rs:9"),
            test_subscription("Billing", "invoice", "src/c.rs:12"),
        ];
        let error = group(&subscriptions).1.join("; ");
        assert!(error.contains("`invoice` in group `Billing`"), "{error}");
        assert!(
            error.contains("src/a.rs:3") && error.contains("src/c.rs:12"),
            "{error}"
        );
    }

    #[test]
    fn one_name_in_two_groups_is_fine() {
        let subscriptions = [
            test_subscription("Billing", "invoice", "src/a.rs:3"),
            test_subscription("Shipping", "invoice", "src/b.rs:9"),
        ];
        let (groups, problems) = group(&subscriptions);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(groups.len(), 2);
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
        let error = wire_name_conflicts(&types).join("; ");
        assert!(
            error.contains("shop::OrderPlaced") && error.contains("crm::LeadPlaced"),
            "{error}"
        );
    }

    #[test]
    fn wanted_groups_are_selected_and_unknown_ones_named() {
        let subscriptions = [
            test_subscription("Billing", "invoice", "src/a.rs:3"),
            test_subscription("Shipping", "label", "src/b.rs:9"),
        ];
        let (linked, _) = group(&subscriptions);
        let billing = select(linked.clone(), Some(&["Billing".to_owned()])).unwrap();
        assert_eq!(billing.keys().collect::<Vec<_>>(), [&"Billing"]);
        assert_eq!(select(linked.clone(), None).unwrap().len(), 2);
        let error = select(linked, Some(&["Nope".to_owned()]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`BECKETT_GROUPS`") && error.contains("group `Nope`"),
            "{error}"
        );
        assert!(
            error.contains("linked groups: Billing, Shipping"),
            "{error}"
        );
    }

    #[test]
    fn nothing_linked_is_an_error() {
        let error = select(BTreeMap::new(), None).unwrap_err().to_string();
        assert!(error.contains("no subscriptions are linked"), "{error}");
    }

    #[test]
    fn selection_by_type_and_category() {
        let mut by_category = test_subscription("G", "s", "x");
        by_category.messages = &[];
        by_category.category = Some("Order");
        assert!(by_category.selects("Anything", "Order-1"));
        assert!(!by_category.selects("Anything", "Orders-1"));
        let by_type = test_subscription("G", "s", "x");
        assert!(by_type.selects("OrderPlaced", "Cart-1"));
        assert!(!by_type.selects("OrderShipped", "Cart-1"));
    }
}
