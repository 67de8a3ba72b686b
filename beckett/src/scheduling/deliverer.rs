//! The scheduler every process runs: it moves due messages into the store.

use crate::store::{PostgresStore, NOTIFY_HORIZON};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long to wait when another scheduler is moving the due messages,
/// before looking again.
const OTHERS_MOVING: Duration = Duration::from_millis(50);

/// Moves due messages into the store in batches of `batch_size`, then
/// sleeps until the next one is due, `scheduled` is notified (something
/// was scheduled sooner), or [`NOTIFY_HORIZON`] passes; until shutdown.
/// Errors are logged and retried after a backoff.
pub(crate) async fn run(
    store: &PostgresStore,
    batch_size: usize,
    scheduled: &Notify,
    shutdown: &CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        let pause = match deliver(store, batch_size).await {
            Ok(pause) => {
                backoff = Duration::from_millis(100);
                pause
            }
            Err(error) => {
                tracing::warn!(%error, "cannot move scheduled messages; retrying");
                backoff = (backoff * 2).min(Duration::from_secs(5));
                backoff
            }
        };
        tokio::select! {
            () = scheduled.notified() => {}
            () = tokio::time::sleep(pause) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

/// Moves every message due now; returns how long to sleep.
async fn deliver(store: &PostgresStore, batch_size: usize) -> crate::Result<Duration> {
    let mut found_none = false;
    loop {
        let moved = store.deliver_due(batch_size).await?;
        if moved == batch_size {
            continue;
        }
        match store.next_due().await? {
            None => return Ok(NOTIFY_HORIZON),
            Some(wait) if !wait.is_zero() => return Ok(wait.min(NOTIFY_HORIZON)),
            // Due, yet twice not taken: another scheduler is moving them,
            // or a cancellation holds them.
            Some(_) if moved == 0 && found_none => return Ok(OTHERS_MOVING),
            // Fell due since the batch was taken.
            Some(_) => found_none = moved == 0,
        }
    }
}
