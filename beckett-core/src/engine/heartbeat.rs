//! The heartbeat: it keeps the process's reservations alive while the
//! process works on them.

use super::held::beat;
use super::shared::Engine;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Extends the process's reservations every beat until `stop`, each that
/// was taken or extended a beat ago or more. A failed extension, or one
/// that found the checkpoint locked by another statement, is tried again
/// at the next beat.
pub(crate) async fn run(engine: &Engine, stop: CancellationToken) {
    let timeout = engine.config.reservation_timeout;
    let beat = beat(timeout);
    loop {
        tokio::select! {
            () = tokio::time::sleep(beat) => {}
            () = stop.cancelled() => return,
        }
        let now = Instant::now();
        let Some(before) = now.checked_sub(beat) else {
            continue;
        };
        let due = engine.held.older_than(before);
        if due.is_empty() {
            continue;
        }
        match engine.storage.engine().extend(&due, timeout).await {
            Ok(extended) => engine.held.extended(&extended, now),
            Err(error) => {
                tracing::warn!(%error, reservations = due.len(),
                    "cannot extend reservations; trying again at the next beat");
            }
        }
    }
}
