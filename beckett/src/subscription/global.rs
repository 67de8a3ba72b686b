//! The global consumer: per group, one process at a time follows the global
//! order and turns new messages into lagging checkpoints. Checkpoints of
//! new streams it reserves for its own process while that has room, and
//! hands them over with their messages, sparing a reservation and a read.

use super::engine::Engine;
use super::queue::{Queue, Slots};
use super::registry::SubscriptionDescriptor;
use super::wakeup::wait;
use crate::error::Result;
use crate::store::checkpoints::{Raise, Reservation, Reserved};
use crate::store::{Envelope, GlobalCursor, MessageStorage};
use sqlx::PgConnection;
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
    let mut delay = Duration::from_millis(100);
    while !engine.shutdown.is_cancelled() {
        match lead(engine, group, subscriptions, queue).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(group, %error, "global consumer stopped; retrying");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = engine.shutdown.cancelled() => return,
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Takes the group's lock on a connection of its own, then consumes until
/// shutdown. The lock ends with the connection, so a process that dies
/// hands the lead to the next one that polls.
async fn lead(
    engine: &Engine,
    group: &str,
    subscriptions: &[&'static SubscriptionDescriptor],
    queue: &Queue,
) -> Result<()> {
    let mut conn = engine.store.pool().acquire().await?.detach();
    while !engine.checkpoints.try_lead(&mut conn, group).await? {
        tokio::select! {
            () = tokio::time::sleep(engine.config.poll_interval) => {}
            () = engine.shutdown.cancelled() => return Ok(()),
        }
    }
    tracing::info!(group, "leading the group's global consumer");
    // Only the leader moves the cursors, so it reads them once and then
    // keeps them.
    let mut followed: Vec<Followed> = engine
        .checkpoints
        .cursors(&mut conn, group)
        .await?
        .into_iter()
        .filter_map(|(name, cursor)| {
            let subscription = *subscriptions.iter().find(|s| s.name == name)?;
            Some(Followed {
                subscription,
                cursor,
            })
        })
        .collect();
    while !engine.shutdown.is_cancelled() {
        let read = consume(engine, &mut conn, group, &mut followed, queue).await?;
        if read < engine.config.global_batch_size {
            wait(
                engine.wakeups.messages(group),
                engine.config.poll_interval,
                &engine.shutdown,
            )
            .await;
        }
    }
    Ok(())
}

/// A subscription and how far the global order has been read for it.
struct Followed {
    subscription: &'static SubscriptionDescriptor,
    cursor: GlobalCursor,
}

/// Reads one batch after the furthest-behind subscription's cursor and
/// records, per subscription, the newest position of each stream it
/// selects; returns how many messages were read.
async fn consume(
    engine: &Engine,
    conn: &mut PgConnection,
    group: &str,
    followed: &mut [Followed],
    queue: &Queue,
) -> Result<usize> {
    let Some(from) = followed.iter().map(|f| f.cursor).min() else {
        return Ok(0);
    };
    let batch = engine
        .store
        .read_global(from, engine.config.global_batch_size)
        .await?;
    let Some(last) = batch.last().map(|m| m.cursor()) else {
        return Ok(0);
    };
    let mut lagging = lagging(&batch, followed);
    let fresh = lagging.values().filter(|l| l.fresh().is_some()).count();
    let mut room = queue.free(fresh);
    for lag in lagging.values_mut() {
        if lag.fresh().is_some() {
            if let Some(slot) = room.as_mut().and_then(Slots::take_one) {
                lag.take = Some((Uuid::now_v7(), slot));
            }
        }
    }
    let raises: Vec<Raise> = lagging
        .values()
        .map(|l| Raise {
            subscription: l.subscription.name,
            stream: l.stream,
            version: l.version,
            take: l.take.as_ref().map(|(token, _)| *token),
        })
        .collect();
    let cursors: Vec<(&str, GlobalCursor)> = followed
        .iter()
        .map(|f| (f.subscription.name, f.cursor.max(last)))
        .collect();
    let recorded = engine
        .checkpoints
        .record_batch(
            conn,
            group,
            &raises,
            &cursors,
            engine.config.reservation_timeout,
        )
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
    for f in followed.iter_mut() {
        f.cursor = f.cursor.max(last);
    }
    hand_over(engine, queue, lagging, &taken);
    Ok(batch.len())
}

/// A checkpoint the batch makes lag: a subscription's stream, the newest
/// position of a message the subscription selects, and the batch's
/// messages of the stream after the subscription's cursor.
struct Lagging<'a> {
    subscription: &'static SubscriptionDescriptor,
    stream: &'a str,
    version: i64,
    messages: Vec<&'a Envelope>,
    /// The token and slot to reserve it under, for this process.
    take: Option<(Uuid, Slots)>,
}

impl Lagging<'_> {
    /// The stream's messages from its first on without a gap, when the
    /// batch holds its first: a checkpoint new to this batch, with every
    /// message its consumer would read at hand.
    fn fresh(&self) -> Option<impl Iterator<Item = &Envelope>> {
        (self.messages.first()?.position == 1).then(|| {
            (1..)
                .zip(&self.messages)
                .take_while(|(position, m)| m.position == *position)
                .map(|(_, m)| *m)
        })
    }
}

/// Per subscription and stream, what the batch adds, for the streams with
/// a message the subscription selects; their messages in stream order.
fn lagging<'a>(
    batch: &'a [Envelope],
    followed: &[Followed],
) -> BTreeMap<(&'static str, &'a str), Lagging<'a>> {
    let mut lagging: BTreeMap<(&str, &str), Lagging> = BTreeMap::new();
    for Followed {
        subscription,
        cursor,
    } in followed
    {
        for message in batch.iter().filter(|m| m.cursor() > *cursor) {
            let lag = lagging
                .entry((subscription.name, &message.stream))
                .or_insert_with(|| Lagging {
                    subscription,
                    stream: &message.stream,
                    version: 0,
                    messages: Vec::new(),
                    take: None,
                });
            lag.messages.push(message);
            if subscription.selects(&message.message_type, &message.stream) {
                lag.version = lag.version.max(message.position);
            }
        }
    }
    lagging.retain(|_, lag| lag.version > 0);
    for lag in lagging.values_mut() {
        lag.messages.sort_by_key(|m| m.position);
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
        engine.held.lock().expect("never poisoned").insert(token);
        let reservation = Reservation {
            subscription: lag.subscription.name.to_owned(),
            stream: lag.stream.to_owned(),
            position: 0,
            attempts: 0,
            token,
        };
        let reserved = Reserved {
            reservation,
            messages: Ok(messages),
            at: Instant::now(),
        };
        queue.hand(reserved, slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscription::registry::test_subscription;

    static JOBS: SubscriptionDescriptor = SubscriptionDescriptor {
        messages: &["Job"],
        ..test_subscription("Jobs", "run", "here")
    };

    /// A message read from the global order, written by transaction `xid`.
    fn message(stream: &str, position: i64, message_type: &str, xid: i64) -> Envelope {
        Envelope {
            id: Uuid::now_v7(),
            stream: stream.to_owned(),
            position,
            global_position: xid,
            transaction_id: xid,
            message_type: message_type.to_owned(),
            data: serde_json::Value::Null,
            metadata: Default::default(),
            timestamp: chrono::Utc::now(),
        }
    }

    fn followed(from: i64) -> Vec<Followed> {
        let cursor = GlobalCursor {
            transaction_id: from,
            global_position: from,
        };
        vec![Followed {
            subscription: &JOBS,
            cursor,
        }]
    }

    /// Per stream: its version, and the positions a handover would carry.
    fn handed(batch: &[Envelope], from: i64) -> Vec<(&str, i64, Option<Vec<i64>>)> {
        lagging(batch, &followed(from))
            .values()
            .map(|l| {
                let run = l.fresh().map(|run| run.map(|m| m.position).collect());
                (l.stream, l.version, run)
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
        assert_eq!(handed(&batch, 0), [("A", 4, Some(vec![1, 2]))]);
    }

    #[test]
    fn a_stream_read_from_its_middle_is_not_handed_over() {
        let batch = [message("B", 2, "Job", 10), message("B", 3, "Job", 11)];
        assert_eq!(handed(&batch, 0), [("B", 3, None)]);
    }

    #[test]
    fn messages_of_other_types_keep_their_place_but_raise_nothing() {
        let batch = [
            message("C", 1, "Other", 10),
            message("C", 2, "Job", 11),
            message("D", 1, "Other", 12),
        ];
        assert_eq!(handed(&batch, 0), [("C", 2, Some(vec![1, 2]))]);
    }

    #[test]
    fn messages_up_to_the_cursor_count_for_nothing() {
        let batch = [message("E", 1, "Job", 10), message("E", 2, "Job", 11)];
        assert_eq!(handed(&batch, 10), [("E", 2, None)]);
    }
}
