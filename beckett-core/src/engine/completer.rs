//! The completer: moves on and releases, many per statement, the
//! checkpoints a group's handlers are done with.

use super::queue::{Queue, Slots};
use super::shared::Engine;
use crate::backoff::Backoff;
use crate::state::Completed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The most checkpoints completed in one statement.
const MOST_AT_ONCE: usize = 1_000;

/// Where handlers hand in the checkpoints they are done with, each with
/// its prefetch slot, freed once the checkpoint is written: until then it
/// is still reserved.
#[derive(Clone)]
pub(crate) struct Completions(mpsc::UnboundedSender<(Completed, Slots)>);

impl Completions {
    /// Hands in a checkpoint to move on and release.
    pub fn send(&self, completed: Completed, slot: Slots) {
        // The completer outlives every sender, so this cannot fail.
        let _ = self.0.send((completed, slot));
    }
}

/// Starts the group's completer. It runs until every [`Completions`] is
/// dropped and what they handed in is written.
pub(crate) fn start(
    engine: Arc<Engine>,
    group: &'static str,
    queue: Queue,
) -> (Completions, JoinHandle<()>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let completing = complete(engine.clone(), group, queue, receiver);
        engine.supervisor.watch("completer", completing).await;
    });
    (Completions(sender), task)
}

/// Writes whatever was handed in while the previous statement ran, in one
/// statement, so the batches grow with the load. A failed statement is
/// retried with a backoff; after shutdown it is given up on after a few
/// tries, leaving the reservations to be released or to expire.
async fn complete(
    engine: Arc<Engine>,
    group: &'static str,
    queue: Queue,
    mut receiver: mpsc::UnboundedReceiver<(Completed, Slots)>,
) {
    let mut received = Vec::new();
    while receiver.recv_many(&mut received, MOST_AT_ONCE).await > 0 {
        let (batch, slots): (Vec<Completed>, Vec<_>) = received.drain(..).unzip();
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        let mut tries_left_after_shutdown = 3;
        loop {
            match engine.storage.engine().complete(group, &batch).await {
                Ok(lagging) => {
                    queue.completed(batch.len());
                    if lagging {
                        engine.signals.checkpoints(group).notify_one();
                    }
                    engine.held.let_go(batch.iter().map(|c| &c.token));
                    break;
                }
                Err(error) => {
                    tracing::warn!(group, %error, checkpoints = batch.len(),
                        "cannot move handled checkpoints on; retrying");
                    if engine.shutdown.is_cancelled() {
                        tries_left_after_shutdown -= 1;
                        if tries_left_after_shutdown == 0 {
                            break;
                        }
                    }
                    tokio::time::sleep(backoff.next()).await;
                }
            }
        }
        drop(slots);
    }
}
