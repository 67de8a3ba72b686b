//! The link-time registry: what `#[subscription]` and `#[derive(Message)]`
//! submit, and the checks `run()` makes before consuming anything.

use super::context::Context;
use super::handler::HandlerFuture;
use crate::error::{Error, Result};
use crate::recurring::RecurringDescriptor;
use crate::selection::Selection;
use crate::store::Envelope;
use std::collections::BTreeMap;
use std::fmt::{self, Display};
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
    /// The wire names that select a message for it: the name, then the
    /// [aliases](crate::Message::ALIASES), of each message type it handles
    /// (empty: every type of its category).
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
    /// What the subscription selects, as its group's leader routes it.
    pub fn selection(&self) -> Selection {
        Selection {
            types: self.messages.iter().map(|&t| t.to_owned()).collect(),
            category: self.category.map(str::to_owned),
            stream: self.stream.map(str::to_owned),
        }
    }

    /// Whether a message of this type in this stream is for the
    /// subscription.
    pub(crate) fn selects(&self, message_type: &str, stream: &str) -> bool {
        crate::selection::selects(
            self.messages,
            self.category,
            self.stream,
            message_type,
            stream,
        )
    }
}

/// The wire names of several message types, each type's name followed by
/// its aliases, in one list: what a [`SubscriptionDescriptor`] selects.
/// `N` is [`wire_name_count`] of the same types. A `const fn`, so the list
/// is built when the program is compiled. For generated code.
#[doc(hidden)]
pub const fn wire_names<const N: usize>(
    types: &[(&'static str, &'static [&'static str])],
) -> [&'static str; N] {
    let mut names = [""; N];
    let (mut n, mut i) = (0, 0);
    while i < types.len() {
        let (name, aliases) = types[i];
        names[n] = name;
        n += 1;
        let mut j = 0;
        while j < aliases.len() {
            names[n] = aliases[j];
            n += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(n == N, "`N` must be the `wire_name_count` of the types");
    names
}

/// How many wire names [`wire_names`] lists for `types`. For generated
/// code.
#[doc(hidden)]
pub const fn wire_name_count(types: &[(&str, &[&str])]) -> usize {
    let (mut count, mut i) = (0, 0);
    while i < types.len() {
        count += 1 + types[i].1.len();
        i += 1;
    }
    count
}

/// A message type as `#[derive(Message)]` registers it.
#[derive(Debug)]
pub struct MessageTypeDescriptor {
    /// Its wire name.
    pub name: &'static str,
    /// Its former wire names, which decode to it too.
    pub aliases: &'static [&'static str],
    /// The Rust type's path, for error messages.
    pub rust_type: &'static str,
}

inventory::collect!(SubscriptionDescriptor);
inventory::collect!(MessageTypeDescriptor);

/// Subscriptions by group.
pub type Groups = BTreeMap<&'static str, Vec<&'static SubscriptionDescriptor>>;

/// The linked subscriptions (recurring jobs' included) of the groups this
/// process runs (`wanted`, or every group linked in), after checking that
/// no two share a name in a group and no two message types share a wire
/// name, as their names or aliases. Every conflict is reported at once.
///
/// ```
/// // No subscription is linked into this example.
/// assert!(beckett_core::subscription::linked_groups(None).is_err());
/// ```
pub fn linked_groups(wanted: Option<&[String]>) -> Result<Groups> {
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

/// A message type's claim to a wire name, as its name or as an alias.
#[derive(Clone, Copy)]
struct Claim<'a> {
    rust_type: &'a str,
    alias: bool,
}

impl Display for Claim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = if self.alias {
            "an alias"
        } else {
            "the wire name"
        };
        write!(f, "{role} of `{}`", self.rust_type)
    }
}

/// One line per wire name that two message types share, as their names or
/// aliases: a message stored under it could not tell which type it is.
fn wire_name_conflicts<'a>(
    types: impl IntoIterator<Item = &'a MessageTypeDescriptor>,
) -> Vec<String> {
    let mut claims: BTreeMap<&str, Claim> = BTreeMap::new();
    let mut problems = Vec::new();
    for message_type in types {
        let aliases = message_type.aliases.iter().map(|&alias| (alias, true));
        for (wire_name, alias) in std::iter::once((message_type.name, false)).chain(aliases) {
            let claim = Claim {
                rust_type: message_type.rust_type,
                alias,
            };
            match claims.insert(wire_name, claim) {
                Some(other) if other.rust_type == claim.rust_type => {}
                Some(other) if !other.alias && !alias => problems.push(format!(
                    "message types `{}` and `{}` share the wire name `{wire_name}`; give one \
                     of them another with #[message(name = \"...\")]",
                    other.rust_type, claim.rust_type
                )),
                Some(other) => problems.push(format!(
                    "`{wire_name}` is {other} and {claim}; a message stored under it must \
                     decode to one type, so remove an alias from #[message(aliases(...))]"
                )),
                None => {}
            }
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
                aliases: &[],
                rust_type: "shop::OrderPlaced",
            },
            MessageTypeDescriptor {
                name: "placed",
                aliases: &[],
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
    fn an_alias_of_another_types_name_or_alias_is_refused_naming_both() {
        let types = [
            MessageTypeDescriptor {
                name: "order_placed",
                aliases: &["OrderPlaced"],
                rust_type: "shop::OrderPlaced",
            },
            MessageTypeDescriptor {
                name: "lead_placed",
                aliases: &["order_placed", "OrderPlaced"],
                rust_type: "crm::LeadPlaced",
            },
            MessageTypeDescriptor {
                name: "shipped",
                aliases: &["Shipped"],
                rust_type: "shop::Shipped",
            },
        ];
        let fix = "a message stored under it must decode to one type, so remove an alias \
                   from #[message(aliases(...))]";
        assert_eq!(
            wire_name_conflicts(&types),
            [
                format!(
                    "`order_placed` is the wire name of `shop::OrderPlaced` and an alias of \
                     `crm::LeadPlaced`; {fix}"
                ),
                format!(
                    "`OrderPlaced` is an alias of `shop::OrderPlaced` and an alias of \
                     `crm::LeadPlaced`; {fix}"
                ),
            ]
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

    #[test]
    fn selection_by_a_types_name_or_aliases() {
        const TYPES: &[(&str, &[&str])] = &[
            ("order_placed", &["OrderPlaced", "PlacedOrder"]),
            ("order_shipped", &[]),
        ];
        static NAMES: [&str; wire_name_count(TYPES)] = wire_names(TYPES);
        let mut by_type = test_subscription("G", "s", "x");
        by_type.messages = &NAMES;
        for selected in [
            "order_placed",
            "OrderPlaced",
            "PlacedOrder",
            "order_shipped",
        ] {
            assert!(by_type.selects(selected, "Order-1"), "{selected}");
        }
        assert!(!by_type.selects("OrderShipped", "Order-1"));
    }
}
