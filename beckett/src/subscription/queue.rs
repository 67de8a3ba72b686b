//! A group's local queue: the checkpoints this process holds reserved,
//! whether its checkpoint consumer reserved them or its global consumer
//! handed them over as it created them.
//!
//! How many it holds follows how fast it gets through them: about what it
//! completed in the last half second, at least one per handler call allowed
//! in flight, at most the prefetch. Quick handlers get large batches and
//! the backlog stays with whoever is quickest; slow ones hold little, so
//! other processes share the backlog.

use crate::store::checkpoints::Reserved;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// How far back completions count towards how many to hold.
const WINDOW: Duration = Duration::from_millis(500);

/// One slot per checkpoint held, and the way in for handed-over ones.
#[derive(Clone)]
pub(crate) struct Queue {
    slots: Arc<Semaphore>,
    /// The number of slots, the most ever held.
    prefetch: usize,
    /// The fewest held when there is work.
    floor: usize,
    /// How many to hold now.
    target: Arc<AtomicUsize>,
    /// Recent completions: when, and how many.
    completed: Arc<Mutex<VecDeque<(Instant, usize)>>>,
    handed: mpsc::UnboundedSender<(Reserved, OwnedSemaphorePermit)>,
}

/// Where the checkpoint consumer receives the handed-over checkpoints.
pub(crate) struct Handed(mpsc::UnboundedReceiver<(Reserved, OwnedSemaphorePermit)>);

/// A queue holding between `concurrency` and `prefetch` checkpoints.
pub(crate) fn new(prefetch: usize, concurrency: usize) -> (Queue, Handed) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let floor = concurrency.min(prefetch);
    let queue = Queue {
        slots: Arc::new(Semaphore::new(prefetch)),
        prefetch,
        floor,
        target: Arc::new(AtomicUsize::new(floor)),
        completed: Arc::default(),
        handed: sender,
    };
    (queue, Handed(receiver))
}

impl Queue {
    /// Waits until half of the checkpoints to hold are free to take, then
    /// takes every free one.
    pub async fn room(&self) -> OwnedSemaphorePermit {
        let target = self.target.load(Ordering::Relaxed);
        let withheld = self.prefetch - target;
        let least = u32::try_from(withheld + target.div_ceil(2)).unwrap_or(u32::MAX);
        let mut room = (self.slots.clone().acquire_many_owned(least).await).expect("never closed");
        let more = u32::try_from(self.slots.available_permits()).unwrap_or(u32::MAX);
        if let Ok(more) = self.slots.clone().try_acquire_many_owned(more) {
            room.merge(more);
        }
        drop(room.split(withheld));
        room
    }

    /// Takes up to `most` free slots without waiting; `None` when none is.
    pub fn free(&self, most: usize) -> Option<OwnedSemaphorePermit> {
        let withheld = self.prefetch - self.target.load(Ordering::Relaxed);
        let n = self
            .slots
            .available_permits()
            .saturating_sub(withheld)
            .min(most);
        let n = u32::try_from(n).ok().filter(|n| *n > 0)?;
        self.slots.clone().try_acquire_many_owned(n).ok()
    }

    /// Counts `n` checkpoints completed, and sets how many to hold.
    pub fn completed(&self, n: usize) {
        let now = Instant::now();
        let mut completed = self.completed.lock().expect("never poisoned");
        completed.push_back((now, n));
        while completed.front().is_some_and(|(at, _)| now - *at > WINDOW) {
            completed.pop_front();
        }
        let recent: usize = completed.iter().map(|(_, n)| n).sum();
        let target = recent.clamp(self.floor, self.prefetch);
        self.target.store(target, Ordering::Relaxed);
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
