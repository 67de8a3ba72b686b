//! The scheduler every process runs: it moves due messages into the store.

use crate::backoff::Backoff;
use crate::state::{Delivered, Storage};
use crate::version::ExpectedVersion;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

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
/// scheduler of every process does: in the store that holds them both
/// exactly once, and in a message store elsewhere at least once.
pub async fn deliver_due(storage: &Storage, limit: usize) -> crate::Result<Delivered> {
    match storage.holds_together() {
        true => storage.engine().deliver_due(limit).await,
        false => deliver_elsewhere(storage, limit).await,
    }
}

/// Takes up to `limit` due messages from the state store, appends them to
/// the message store elsewhere, a stream's consecutive ones together, and
/// records those appended as delivered.
async fn deliver_elsewhere(storage: &Storage, limit: usize) -> crate::Result<Delivered> {
    let due = storage.engine().take_due(limit, LEASE).await?;
    let mut delivered = Vec::with_capacity(due.len());
    let mut appended = Ok(());
    for run in due.chunk_by(|a, b| a.stream == b.stream) {
        let messages = run.iter().map(|d| d.message.clone()).collect();
        let stream = &run[0].stream;
        if let Err(error) = storage
            .messages()
            .append(stream, ExpectedVersion::Any, messages)
            .await
        {
            appended = Err(error);
            break;
        }
        delivered.extend(run.iter().map(|d| d.message.id()));
    }
    if !delivered.is_empty() {
        storage.engine().delivered(&delivered).await?;
    }
    appended?;
    Ok(Delivered {
        moved: delivered.len(),
        held_back: false,
    })
}
