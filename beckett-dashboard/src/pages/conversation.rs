//! A message's conversation as a tree: what caused it, and what it caused.
//!
//! A conversation is the message its correlation id names and every
//! message carrying that id; within it, each message hangs under the one
//! whose handling caused it.

use super::messages::found_message;
use super::{render, Layout, Page};
use crate::base::Base;
use crate::App;
use askama::Template;
use axum::extract::{Path, State};
use beckett_core::store::MessageSearch;
use beckett_core::Envelope;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// The most messages of a conversation shown, the newest.
const MOST: usize = 500;

/// The deepest indentation drawn; deeper messages line up with it.
const DEEPEST: usize = 8;

#[derive(Template)]
#[template(path = "conversation.html")]
struct Conversation {
    layout: Layout,
    correlation: Uuid,
    current: Uuid,
    nodes: Vec<Node>,
    /// Whether older messages were left out.
    cut: bool,
}

/// A message in the tree.
#[derive(Debug)]
struct Node {
    message: Envelope,
    depth: usize,
    /// It names a cause the conversation does not hold (or not among the
    /// messages shown).
    orphan: bool,
}

impl Node {
    fn indent(&self) -> usize {
        self.depth.min(DEEPEST)
    }
}

/// Shows the conversation of the message `id`.
pub async fn show(State(app): State<Arc<App>>, base: Base, Path(id): Path<String>) -> Page {
    let message = found_message(&app, &id).await?;
    let correlation = message.metadata.correlation_id.unwrap_or(message.id);
    let search = MessageSearch::default().correlation_id(correlation);
    let messages = app.storage.messages();
    let mut found = messages.search(&search, None, MOST + 1).await?;
    let cut = found.messages.len() > MOST;
    found.messages.truncate(MOST);
    let title = format!("Conversation of {}", message.message_type);
    render(&Conversation {
        layout: Layout::new(&base, title, "messages").with(&app, None),
        correlation,
        current: message.id,
        cut,
        nodes: tree(found.messages),
    })
}

/// The messages depth first: each under the message that caused it,
/// siblings in global order. One whose cause is not among them (or that
/// a cycle of causes holds) starts a tree of its own.
fn tree(mut messages: Vec<Envelope>) -> Vec<Node> {
    messages.sort_by_key(|m| m.global_position);
    let ids: HashSet<Uuid> = messages.iter().map(|m| m.id).collect();
    let mut children: HashMap<Uuid, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let cause = message.metadata.causation_id;
        match cause.filter(|cause| ids.contains(cause) && *cause != message.id) {
            Some(cause) => children.entry(cause).or_default().push(i),
            None => roots.push(i),
        }
    }
    let mut left: Vec<Option<Envelope>> = messages.into_iter().map(Some).collect();
    let mut nodes = Vec::with_capacity(left.len());
    let starts = roots.into_iter().chain(0..left.len());
    for start in starts {
        let mut stack = vec![(start, 0)];
        while let Some((i, depth)) = stack.pop() {
            let Some(message) = left[i].take() else {
                continue;
            };
            let below = children.get(&message.id).into_iter().flatten().rev();
            stack.extend(below.map(|&child| (child, depth + 1)));
            let cause = message.metadata.causation_id;
            let orphan = cause.is_some_and(|cause| !ids.contains(&cause));
            nodes.push(Node {
                message,
                depth,
                orphan,
            });
        }
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::tree;
    use beckett_core::{Envelope, Metadata};
    use uuid::Uuid;

    fn message(global_position: i64, cause: Option<Uuid>) -> Envelope {
        let mut metadata = Metadata::default();
        metadata.causation_id = cause;
        Envelope {
            id: Uuid::now_v7(),
            stream: "Order-1".into(),
            position: global_position,
            global_position,
            transaction_id: 0,
            message_type: "Ping".into(),
            data: serde_json::Value::Null,
            metadata,
            timestamp: chrono::Utc::now(),
        }
    }

    #[test]
    fn each_message_hangs_under_its_cause_in_global_order() {
        let root = message(1, None);
        let first = message(2, Some(root.id));
        let second = message(4, Some(root.id));
        let under_first = message(3, Some(first.id));
        let orphan = message(5, Some(Uuid::now_v7()));
        let ids = [&root, &first, &under_first, &second, &orphan].map(|m| m.id);
        let shuffled = vec![orphan, second, under_first, root, first];
        let nodes = tree(shuffled);
        let shown: Vec<_> = nodes
            .iter()
            .map(|n| (n.message.id, n.depth, n.orphan))
            .collect();
        let expected = [
            (ids[0], 0, false),
            (ids[1], 1, false),
            (ids[2], 2, false),
            (ids[3], 1, false),
            (ids[4], 0, true),
        ];
        assert_eq!(shown, expected);
    }

    #[test]
    fn a_cycle_of_causes_is_shown_once() {
        let mut a = message(1, None);
        let b = message(2, Some(a.id));
        a.metadata.causation_id = Some(b.id);
        let nodes = tree(vec![a, b]);
        let shown: Vec<_> = nodes.iter().map(|n| (n.depth, n.orphan)).collect();
        assert_eq!(shown, [(0, false), (1, false)]);
    }
}
