//! The global consumer: per group, one process at a time follows the global
//! order and turns new messages into lagging checkpoints.

use super::engine::Engine;
use super::registry::SubscriptionDescriptor;
use super::wakeup::wait;
use crate::error::Result;
use crate::store::{GlobalCursor, MessageStorage};
use sqlx::PgConnection;
use std::collections::BTreeMap;
use std::time::Duration;

/// Leads the group whenever no other process does, until shutdown. Errors
/// (a dropped connection, a restarted database) give up the lead and try
/// again after a backoff.
pub(crate) async fn run(
    engine: &Engine,
    group: &str,
    subscriptions: &[&'static SubscriptionDescriptor],
) {
    let mut delay = Duration::from_millis(100);
    while !engine.shutdown.is_cancelled() {
        match lead(engine, group, subscriptions).await {
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
        let read = consume(engine, &mut conn, group, &mut followed).await?;
        if read < engine.config.batch_size {
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
) -> Result<usize> {
    let Some(from) = followed.iter().map(|f| f.cursor).min() else {
        return Ok(0);
    };
    let batch = engine
        .store
        .read_global(from, engine.config.batch_size)
        .await?;
    let Some(last) = batch.last().map(|m| m.cursor()) else {
        return Ok(0);
    };
    let mut versions: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for Followed {
        subscription,
        cursor,
    } in followed.iter()
    {
        for message in batch.iter().filter(|m| m.cursor() > *cursor) {
            if subscription.selects(&message.message_type, &message.stream) {
                let version = versions
                    .entry((subscription.name, &message.stream))
                    .or_default();
                *version = (*version).max(message.position);
            }
        }
    }
    let versions: Vec<(&str, &str, i64)> = versions
        .into_iter()
        .map(|((name, stream), version)| (name, stream, version))
        .collect();
    let cursors: Vec<(&str, GlobalCursor)> = followed
        .iter()
        .map(|f| (f.subscription.name, f.cursor.max(last)))
        .collect();
    engine
        .checkpoints
        .record_batch(conn, group, &versions, &cursors)
        .await?;
    for f in followed.iter_mut() {
        f.cursor = f.cursor.max(last);
    }
    Ok(batch.len())
}
