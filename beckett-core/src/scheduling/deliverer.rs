//! The scheduler every process runs: it moves due messages into the store.

use crate::backoff::Backoff;
use crate::error::Error;
use crate::message::NewMessage;
use crate::state::{Delivered, DueMessage, Storage};
use crate::version::ExpectedVersion;
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The longest sleep without a notification: the fallback that finds
/// messages whose notification was lost.
const LONGEST_SLEEP: Duration = Duration::from_secs(60);

/// The first wait when messages are due but cannot be taken yet (another
/// scheduler is moving them, a cancellation holds them, or their stream is
/// being appended to); it doubles while that lasts, up to a second.
const HELD_BACK: Duration = Duration::from_millis(50);

/// How long a message taken for a message store elsewhere is kept from
/// the other schedulers: time enough to append it.
const LEASE: Duration = Duration::from_secs(30);

/// Moves due messages into the store in batches of `batch_size`, then
/// sleeps until the next one is due, `scheduled` is notified (something
/// was scheduled), or [`LONGEST_SLEEP`] passes; until shutdown. Errors are
/// logged and retried after a backoff.
pub(crate) async fn run(
    storage: &Storage,
    batch_size: usize,
    scheduled: &Notify,
    shutdown: &CancellationToken,
) {
    let mut backoff = Backoff::reconnecting();
    let mut held_back = Backoff::new(HELD_BACK, Duration::from_secs(1));
    while !shutdown.is_cancelled() {
        let pause = match deliver(storage, batch_size, shutdown).await {
            Ok(Next::At(pause)) => {
                backoff.reset();
                held_back.reset();
                pause
            }
            Ok(Next::HeldBack) => held_back.next(),
            Err(error) => {
                tracing::warn!(%error, "cannot move scheduled messages; retrying");
                backoff.next()
            }
        };
        tokio::select! {
            () = scheduled.notified() => {}
            () = tokio::time::sleep(pause) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

/// When to look again.
enum Next {
    /// After this long: the next message is due then, or none is waiting.
    At(Duration),
    /// Soon: messages are due that could not be taken.
    HeldBack,
}

/// Moves every message due now that can be taken.
async fn deliver(
    storage: &Storage,
    batch_size: usize,
    shutdown: &CancellationToken,
) -> crate::Result<Next> {
    let state = storage.engine();
    let mut found_none = false;
    loop {
        let Delivered { moved, held_back } = deliver_due(storage, batch_size).await?;
        if shutdown.is_cancelled() {
            return Ok(Next::At(Duration::ZERO));
        }
        if moved >= batch_size {
            continue;
        }
        if held_back {
            return Ok(Next::HeldBack);
        }
        match state.next_due().await? {
            None => return Ok(Next::At(LONGEST_SLEEP)),
            Some(wait) if !wait.is_zero() => return Ok(Next::At(wait.min(LONGEST_SLEEP))),
            Some(_) if moved == 0 && found_none => return Ok(Next::HeldBack),
            // Fell due since the batch was taken: look once more.
            Some(_) => found_none = moved == 0,
        }
    }
}

/// Appends up to `limit` due scheduled messages to their streams, as the
/// scheduler of every process does: exactly once in the store that holds
/// them both, and in a message store elsewhere once if it refuses an id it
/// holds ([`Error::DuplicateMessageId`]), at least once if not.
pub async fn deliver_due(storage: &Storage, limit: usize) -> crate::Result<Delivered> {
    match storage.holds_together() {
        true => storage.engine().deliver_due(limit).await,
        false => deliver_elsewhere(storage, limit).await,
    }
}

/// Takes up to `limit` due messages from the state store, appends them to
/// the message store elsewhere, a stream's consecutive ones together, and
/// records those appended as delivered. A stream whose append fails keeps
/// its messages taken until their lease ends, later ones included, so
/// that they come back in due order; the others are delivered.
async fn deliver_elsewhere(storage: &Storage, limit: usize) -> crate::Result<Delivered> {
    let due = storage.engine().take_due(limit, LEASE).await?;
    let mut delivered = Vec::with_capacity(due.len());
    let (mut failed, mut first_error) = (HashSet::new(), None);
    for run in due.chunk_by(|a, b| a.stream == b.stream) {
        let stream = run[0].stream.as_str();
        if failed.contains(stream) {
            continue;
        }
        let (appended, error) = append_run(storage, stream, run).await;
        delivered.extend(appended);
        if let Some(error) = error {
            failed.insert(stream);
            first_error.get_or_insert(error);
        }
    }
    if !delivered.is_empty() {
        storage.engine().delivered(&delivered).await?;
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    Ok(Delivered {
        moved: delivered.len(),
        held_back: false,
    })
}

/// Appends one stream's run of due messages in one append; the ids of
/// those appended, or found appended already, and the error that stopped
/// the others. A message the store holds already (its delivery was not
/// recorded: the process died, or its lease ran out) counts as delivered.
async fn append_run(
    storage: &Storage,
    stream: &str,
    run: &[DueMessage],
) -> (Vec<Uuid>, Option<Error>) {
    let append = |messages: Vec<NewMessage>| {
        storage
            .messages()
            .append(stream, ExpectedVersion::Any, messages)
    };
    let all = run.iter().map(|d| d.message.clone()).collect();
    match append(all).await {
        Ok(_) => return (run.iter().map(|d| d.message.id()).collect(), None),
        Err(Error::DuplicateMessageId { .. }) => {}
        Err(error) => return (Vec::new(), Some(error)),
    }
    // Some were appended before: one at a time, in order.
    let mut delivered = Vec::with_capacity(run.len());
    for due in run {
        match append(vec![due.message.clone()]).await {
            Ok(_) | Err(Error::DuplicateMessageId { .. }) => delivered.push(due.message.id()),
            Err(error) => return (delivered, Some(error)),
        }
    }
    (delivered, None)
}
