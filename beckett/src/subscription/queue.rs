//! A group's local queue: the checkpoints this process holds reserved, up
//! to the prefetch, whether its checkpoint consumer reserved them or its
//! global consumer handed them over as it created them.

use crate::store::checkpoints::Reserved;
use std::sync::Arc;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// One slot per checkpoint held, and the way in for handed-over ones.
#[derive(Clone)]
pub(crate) struct Queue {
    slots: Arc<Semaphore>,
    handed: mpsc::UnboundedSender<(Reserved, OwnedSemaphorePermit)>,
}

/// Where the checkpoint consumer receives the handed-over checkpoints.
pub(crate) struct Handed(mpsc::UnboundedReceiver<(Reserved, OwnedSemaphorePermit)>);

/// A queue of `prefetch` slots.
pub(crate) fn new(prefetch: usize) -> (Queue, Handed) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let queue = Queue {
        slots: Arc::new(Semaphore::new(prefetch)),
        handed: sender,
    };
    (queue, Handed(receiver))
}

impl Queue {
    /// Waits for at least `least` free slots, then takes every free one.
    pub async fn room(&self, least: usize) -> OwnedSemaphorePermit {
        let least = u32::try_from(least).unwrap_or(u32::MAX);
        let mut room = (self.slots.clone().acquire_many_owned(least).await).expect("never closed");
        if let Some(more) = self.free(usize::MAX) {
            room.merge(more);
        }
        room
    }

    /// Takes up to `most` free slots without waiting; `None` when none is.
    pub fn free(&self, most: usize) -> Option<OwnedSemaphorePermit> {
        let n = self.slots.available_permits().min(most);
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        (n > 0)
            .then(|| self.slots.clone().try_acquire_many_owned(n).ok())
            .flatten()
    }

    /// Hands a checkpoint reserved for this process to its consumer. When
    /// the consumer has stopped, the checkpoint stays among those the
    /// process releases at the end.
    pub fn hand(&self, reserved: Reserved, slot: OwnedSemaphorePermit) {
        let _ = self.handed.send((reserved, slot));
    }
}

impl Handed {
    /// The next handed-over checkpoint, with its slot.
    pub async fn next(&mut self) -> Option<(Reserved, OwnedSemaphorePermit)> {
        self.0.recv().await
    }
}
