//! The global consumer: per group, one process at a time follows the global
//! order and turns new messages into lagging checkpoints. Checkpoints of
//! new streams it reserves for its own process while that has room, and
//! hands them over with their messages, sparing a reservation and a read.

use super::queue::{Queue, Slots, Taken};
use super::shared::Engine;
use super::signals::wait;
use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::state::{Cursor, Leadership, Raise, Registered, Reservation};
use crate::store::{GlobalCursor, GlobalRead, GlobalReader, RawMessage};
use crate::subscription::{Selection, SubscriptionDescriptor};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Leads the group whenever no other process does, until shutdown. Errors
/// (a dropped connection, a restarted database) give up the lead and try
/// again after a backoff.
pub(crate) async fn run(
    engine: &Engine,
    group: &str,
    subscriptions: &[&'static SubscriptionDescriptor],
    queue: &Queue,
) {
    let mut backoff = Backoff::reconnecting();
    while !engine.shutdown.is_cancelled() {
        match lead(engine, group, subscriptions, queue).await {
            Ok(()) => return,
            Err(error @ Error::TransactionIdsBehind { .. }) => {
                engine.supervisor.fail(error);
                return;
            }
            Err(error) => {
                tracing::warn!(group, %error, "global consumer stopped; retrying");
                tokio::select! {
                    () = tokio::time::sleep(backoff.next()) => {}
                    () = engine.shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// Takes the group's lead, then consumes until shutdown. The lead ends
/// with its process, so a process that dies hands it to the next one that
/// polls.
async fn lead(
    engine: &Engine,
    group: &str,
    subscriptions: &[&'static SubscriptionDescriptor],
    queue: &Queue,
) -> Result<()> {
    let mut leadership = loop {
        if let Some(leadership) = engine.storage.engine().lead(group).await? {
            break leadership;
        }
        tokio::select! {
            () = tokio::time::sleep(engine.config.poll_interval) => {}
            () = engine.shutdown.cancelled() => return Ok(()),
        }
    };
    let mut reader = engine.storage.messages().reader().await?;
    tracing::info!(group, "leading the group's global consumer");
    let mut cohorts: Vec<Cohort> = Vec::new();
    let mut refreshed: Option<Instant> = None;
    while !engine.shutdown.is_cancelled() {
        // Other programs register subscriptions, and operators remove them,
        // while this one leads.
        if refreshed.is_none_or(|at| at.elapsed() >= engine.config.poll_interval) {
            let registered = leadership.registered().await?;
            Cohort::follow(&mut cohorts, group, registered, subscriptions);
            refreshed = Some(Instant::now());
        }
        // The subscriptions furthest ahead read first: a batch for one
        // catching up comes after theirs.
        cohorts.sort_by_key(|c| std::cmp::Reverse(c.cursor.frontier()));
        let mut behind = false;
        for cohort in &mut cohorts {
            let read = consume(engine, &mut *leadership, &mut *reader, cohort, queue).await?;
            cohort.caught_up = read < engine.config.global_batch_size;
            behind |= !cohort.caught_up;
        }
        Cohort::merge_caught_up(&mut cohorts);
        if !behind {
            wait(
                engine.signals.messages(group),
                engine.config.poll_interval,
                &engine.shutdown,
            )
            .await;
        }
    }
    Ok(())
}

/// A subscription the leader routes for: every one registered in the
/// group, declared by this program or by another version of it.
struct Route {
    name: String,
    /// Which registration of the name it is.
    registration: i64,
    selection: Selection,
    /// Whether this process runs it, so it may take its new checkpoints.
    here: bool,
}

/// Subscriptions of the group that stand at one place in the global order
/// and read it together. A subscription behind the others (new, or from
/// the start) reads in a cohort of its own, so the others keep their pace
/// while it catches up, and joins them once it has.
struct Cohort {
    routes: Vec<Route>,
    cursor: GlobalCursor,
    /// Whether its last read reached the end of the global order.
    caught_up: bool,
}

impl Cohort {
    /// Follows the subscriptions registered in the group: new ones join
    /// the cohort at their cursor, or start one; removed ones leave, and
    /// one removed and registered again starts over; what each selects is
    /// as registered, or as declared here while not yet known. Only the
    /// leader moves cursors, so the cursors of those already followed stay
    /// as kept.
    fn follow(
        cohorts: &mut Vec<Self>,
        group: &str,
        registered: Vec<Registered>,
        declared: &[&'static SubscriptionDescriptor],
    ) {
        for cohort in cohorts.iter_mut() {
            cohort.routes.retain(|route| {
                registered
                    .iter()
                    .any(|r| r.name == route.name && r.registration == route.registration)
            });
        }
        cohorts.retain(|cohort| !cohort.routes.is_empty());
        for Registered {
            name,
            registration,
            cursor,
            selection,
        } in registered
        {
            let here = declared.iter().find(|s| s.name == name);
            let Some(selection) = selection.or_else(|| here.map(|s| s.selection())) else {
                // Registered before selections were kept, and not declared
                // here: what it selects is unknown until a program that
                // declares it starts.
                continue;
            };
            let followed = cohorts
                .iter_mut()
                .flat_map(|c| c.routes.iter_mut())
                .find(|route| route.name == name);
            if let Some(route) = followed {
                route.selection = selection;
                continue;
            }
            let here = here.is_some();
            if !here {
                tracing::info!(
                    group,
                    subscription = name,
                    "routing messages for a subscription this program does not declare: \
                     another version of it runs the subscription"
                );
            }
            let route = Route {
                name,
                registration,
                selection,
                here,
            };
            match cohorts.iter_mut().find(|c| c.cursor == cursor) {
                Some(cohort) => cohort.routes.push(route),
                None => cohorts.push(Self {
                    routes: vec![route],
                    cursor,
                    caught_up: false,
                }),
            }
        }
    }

    /// Makes the cohorts that reached the end of the global order one, at
    /// the place behind all of them: its members ahead read a few messages
    /// again, which raises nothing twice, and none misses one.
    fn merge_caught_up(cohorts: &mut Vec<Self>) {
        let (mut caught_up, behind): (Vec<Self>, Vec<Self>) =
            cohorts.drain(..).partition(|c| c.caught_up);
        if let Some(mut merged) = caught_up.pop() {
            for cohort in caught_up {
                merged.cursor = merged.cursor.meet(&cohort.cursor);
                merged.routes.extend(cohort.routes);
            }
            cohorts.push(merged);
        }
        cohorts.extend(behind);
    }
}

/// Reads one batch of the global order after the cohort's cursor and
/// records, per subscription, the newest position of each stream it
/// selects; returns how many messages were read.
async fn consume(
    engine: &Engine,
    leadership: &mut dyn Leadership,
    reader: &mut dyn GlobalReader,
    cohort: &mut Cohort,
    queue: &Queue,
) -> Result<usize> {
    // Bodies are read only for the messages this process may be handed.
    let here: Vec<&Selection> = cohort
        .routes
        .iter()
        .filter(|r| r.here)
        .map(|r| &r.selection)
        .collect();
    let bodies: Option<Vec<&str>> = (!here.iter().any(|s| s.types.is_empty())).then(|| {
        here.iter()
            .flat_map(|s| s.types.iter().map(String::as_str))
            .collect()
    });
    let GlobalRead {
        messages: batch,
        cursor: next,
    } = reader
        .read(
            &cohort.cursor,
            engine.config.global_batch_size,
            bodies.as_deref(),
        )
        .await?;
    if batch.is_empty() {
        // Only transactions owed may have ended without writing: nothing
        // to record, and a restart would merely look for them again.
        cohort.cursor = next;
        return Ok(0);
    }
    let mut lagging = lagging(&batch, &cohort.routes);
    let fresh = lagging.values().filter(|l| l.can_hand_over()).count();
    let mut room = queue.free(fresh);
    for lag in lagging.values_mut() {
        if lag.can_hand_over() {
            if let Some(slot) = room.as_mut().and_then(Slots::take_one) {
                lag.take = Some((Uuid::now_v7(), slot));
            }
        }
    }
    let raises: Vec<Raise> = lagging
        .values()
        .map(|l| Raise {
            subscription: &l.route.name,
            registration: l.route.registration,
            stream: l.stream,
            version: l.version,
            first: l.messages.first().map_or(1, |m| m.envelope.position),
            take: l.take.as_ref().map(|(token, _)| *token),
        })
        .collect();
    let cursors: Vec<Cursor> = cohort
        .routes
        .iter()
        .map(|r| Cursor {
            subscription: &r.name,
            registration: r.registration,
            cursor: &next,
        })
        .collect();
    let asked = Instant::now();
    let recorded = leadership
        .record(&raises, &cursors, engine.config.reservation_timeout)
        .await;
    let taken = match recorded {
        Ok(taken) => taken,
        Err(error) => {
            // The statement may have committed with its answer lost: the
            // checkpoints it would have reserved for this process must not
            // wait for their reservations to run out. A release of tokens
            // nothing holds changes nothing.
            let offered: Vec<Uuid> = raises.iter().filter_map(|r| r.take).collect();
            if !offered.is_empty() {
                if let Err(error) = engine.release(&offered, Duration::ZERO).await {
                    tracing::warn!(%error, "cannot release the checkpoints offered; they expire by themselves");
                }
            }
            return Err(error);
        }
    };
    cohort.cursor = next;
    hand_over(engine, queue, lagging, &taken, asked);
    Ok(batch.len())
}

/// A checkpoint the batch makes lag: a subscription's stream, the newest
/// position of a message the subscription selects, and the batch's
/// messages of the stream after the subscription's cursor.
struct Lagging<'a> {
    route: &'a Route,
    stream: &'a str,
    version: i64,
    messages: Vec<&'a RawMessage>,
    /// The token and slot to reserve it under, for this process.
    take: Option<(Uuid, Slots)>,
}

impl Lagging<'_> {
    /// Whether this process may take the checkpoint with its messages: it
    /// runs the subscription, the checkpoint is new to the batch, and each
    /// message the subscription selects came with its body.
    fn can_hand_over(&self) -> bool {
        let selection = &self.route.selection;
        self.route.here
            && self.fresh().is_some_and(|mut run| {
                run.all(|m| {
                    let selected = selection.selects(&m.envelope.message_type, self.stream);
                    !selected || m.metadata.is_object()
                })
            })
    }

    /// The stream's messages from its first on without a gap, when the
    /// batch holds its first: a checkpoint new to this batch, with every
    /// message its consumer would read at hand.
    fn fresh(&self) -> Option<impl Iterator<Item = &RawMessage>> {
        (self.messages.first()?.envelope.position == 1).then(|| {
            (1..)
                .zip(&self.messages)
                .take_while(|(position, m)| m.envelope.position == *position)
                .map(|(_, m)| *m)
        })
    }
}

/// Per subscription and stream, what the batch adds, for the streams with
/// a message the subscription selects; their messages in stream order.
fn lagging<'a>(
    batch: &'a [RawMessage],
    routes: &'a [Route],
) -> BTreeMap<(&'a str, &'a str), Lagging<'a>> {
    let mut lagging: BTreeMap<(&str, &str), Lagging> = BTreeMap::new();
    for route in routes {
        for raw in batch {
            let message = &raw.envelope;
            let lag = lagging
                .entry((&route.name, &message.stream))
                .or_insert_with(|| Lagging {
                    route,
                    stream: &message.stream,
                    version: 0,
                    messages: Vec::new(),
                    take: None,
                });
            lag.messages.push(raw);
            if route
                .selection
                .selects(&message.message_type, &message.stream)
            {
                lag.version = lag.version.max(message.position);
            }
        }
    }
    lagging.retain(|_, lag| lag.version > 0);
    for lag in lagging.values_mut() {
        lag.messages.sort_by_key(|m| m.envelope.position);
    }
    lagging
}

/// Hands the checkpoints reserved for this process to its consumer, with
/// their messages; the slots of the others go back.
fn hand_over(
    engine: &Engine,
    queue: &Queue,
    lagging: BTreeMap<(&str, &str), Lagging>,
    taken: &HashSet<Uuid>,
    asked: Instant,
) {
    for mut lag in lagging.into_values() {
        let Some((token, slot)) = lag.take.take() else {
            continue;
        };
        if !taken.contains(&token) {
            continue;
        }
        let messages = lag
            .fresh()
            .expect("taken only when fresh")
            .take(engine.config.batch_size)
            .cloned()
            .collect();
        engine.held.taken([token], asked);
        let reservation = Reservation {
            subscription: lag.route.name.clone(),
            stream: lag.stream.to_owned(),
            position: 0,
            attempts: 0,
            token,
        };
        let taken = Taken {
            reservation,
            messages: Some(messages),
            read: engine.config.batch_size,
        };
        queue.hand(taken, slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscription::registry::test_subscription;

    fn jobs() -> Route {
        let descriptor = SubscriptionDescriptor {
            messages: &["Job"],
            ..test_subscription("Jobs", "run", "here")
        };
        Route {
            name: "run".to_owned(),
            registration: 1,
            selection: descriptor.selection(),
            here: true,
        }
    }

    /// A message read from the global order, written by transaction `xid`.
    fn message(stream: &str, position: i64, message_type: &str, xid: i64) -> RawMessage {
        RawMessage {
            envelope: crate::Envelope {
                id: Uuid::now_v7(),
                stream: stream.to_owned(),
                position,
                global_position: xid,
                transaction_id: xid,
                message_type: message_type.to_owned(),
                data: serde_json::Value::Null,
                metadata: Default::default(),
                timestamp: chrono::Utc::now(),
            },
            metadata: serde_json::json!({}),
        }
    }

    /// Per stream: its version, and the positions a handover would carry.
    fn handed(batch: &[RawMessage]) -> Vec<(String, i64, Option<Vec<i64>>)> {
        let routes = [jobs()];
        lagging(batch, &routes)
            .values()
            .map(|l| {
                let run = l
                    .fresh()
                    .map(|run| run.map(|m| m.envelope.position).collect());
                (l.stream.to_owned(), l.version, run)
            })
            .collect()
    }

    #[test]
    fn a_new_stream_is_handed_over_in_stream_order_up_to_its_first_gap() {
        // Transaction ids need not follow stream order: position 2 may be
        // read before position 1, and position 4 before position 3.
        let batch = [
            message("A", 2, "Job", 10),
            message("A", 1, "Job", 11),
            message("A", 4, "Job", 12),
        ];
        assert_eq!(handed(&batch), [("A".to_owned(), 4, Some(vec![1, 2]))]);
    }

    #[test]
    fn a_stream_read_from_its_middle_is_not_handed_over() {
        let batch = [message("B", 2, "Job", 10), message("B", 3, "Job", 11)];
        assert_eq!(handed(&batch), [("B".to_owned(), 3, None)]);
    }

    #[test]
    fn messages_of_other_types_keep_their_place_but_raise_nothing() {
        let batch = [
            message("C", 1, "Other", 10),
            message("C", 2, "Job", 11),
            message("D", 1, "Other", 12),
        ];
        assert_eq!(handed(&batch), [("C".to_owned(), 2, Some(vec![1, 2]))]);
    }
}
