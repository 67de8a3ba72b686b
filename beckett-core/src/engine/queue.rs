//! A group's local queue: the checkpoints this process holds reserved,
//! whether its checkpoint consumer reserved them or its global consumer
//! handed them over as it created them.
//!
//! How many it holds follows how fast it gets through them: about what it
//! completed in the last half second, at least one per handler call allowed
//! in flight, at most the prefetch. Quick handlers get large batches and
//! the backlog stays with whoever is quickest; slow ones hold little, so
//! other processes share the backlog.

use crate::state::Reservation;
use crate::store::RawMessage;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};

/// A checkpoint this process took, to handle: reserved by the checkpoint
/// consumer or handed over by the global consumer.
#[derive(Debug)]
pub(crate) struct Taken {
    pub reservation: Reservation,
    /// The stream's first messages after the checkpoint's position, if
    /// they came with it; else the consumer reads them.
    pub messages: Option<Vec<RawMessage>>,
    /// The most messages that read could bring: fewer, and the stream had
    /// no more then.
    pub read: usize,
}

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
    /// Recent completions: when, and how many.
    completed: Arc<Mutex<VecDeque<(Instant, usize)>>>,
    /// Signalled when slots are given back.
    freed: Arc<Notify>,
    handed: mpsc::UnboundedSender<(Taken, Slots)>,
}

/// Slots taken from a queue. Dropped, they go back, and whoever waits for
/// room hears of it.
pub(crate) struct Slots {
    permit: Option<OwnedSemaphorePermit>,
    freed: Arc<Notify>,
}

impl Slots {
    /// How many slots these are.
    pub fn len(&self) -> usize {
        self.permit
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits)
    }

    /// Takes one of these slots away, if any is left.
    pub fn take_one(&mut self) -> Option<Slots> {
        let one = self.permit.as_mut()?.split(1)?;
        Some(Slots {
            permit: Some(one),
            freed: self.freed.clone(),
        })
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            let any = permit.num_permits() > 0;
            drop(permit);
            if any {
                self.freed.notify_one();
            }
        }
    }
}

/// Where the checkpoint consumer receives the handed-over checkpoints.
pub(crate) struct Handed(mpsc::UnboundedReceiver<(Taken, Slots)>);

/// A queue holding between `concurrency` and `prefetch` checkpoints.
pub(crate) fn new(prefetch: usize, concurrency: usize) -> (Queue, Handed) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let floor = concurrency.min(prefetch);
    let queue = Queue {
        slots: Arc::new(Semaphore::new(prefetch)),
        prefetch,
        floor,
        completed: Arc::default(),
        freed: Arc::default(),
        handed: sender,
    };
    (queue, Handed(receiver))
}

impl Queue {
    /// Waits until half of the checkpoints to hold are free to take, then
    /// takes every free one. It waits without queueing for the slots, so
    /// that those given back meanwhile stay free for the global consumer
    /// to hand over new streams with.
    pub async fn room(&self) -> Slots {
        loop {
            let target = self.target();
            let free = self.free_slots(target);
            if free >= target.div_ceil(2) {
                if let Some(room) = self.take(free) {
                    return room;
                }
            }
            self.freed.notified().await;
        }
    }

    /// Takes up to `most` free slots without waiting; `None` when none is.
    pub fn free(&self, most: usize) -> Option<Slots> {
        self.take(self.free_slots(self.target()).min(most))
    }

    /// Slots free to take while holding `target` checkpoints.
    fn free_slots(&self, target: usize) -> usize {
        let withheld = self.prefetch - target;
        self.slots.available_permits().saturating_sub(withheld)
    }

    fn take(&self, n: usize) -> Option<Slots> {
        let n = u32::try_from(n).ok().filter(|n| *n > 0)?;
        let permit = self.slots.clone().try_acquire_many_owned(n).ok()?;
        Some(Slots {
            permit: Some(permit),
            freed: self.freed.clone(),
        })
    }

    /// Counts `n` checkpoints completed.
    pub fn completed(&self, n: usize) {
        let mut completed = self.completed.lock().expect("never poisoned");
        completed.push_back((Instant::now(), n));
    }

    /// How many to hold now: those completed within the last [`WINDOW`],
    /// between the floor and the prefetch.
    fn target(&self) -> usize {
        let now = Instant::now();
        let mut completed = self.completed.lock().expect("never poisoned");
        while completed.front().is_some_and(|(at, _)| now - *at > WINDOW) {
            completed.pop_front();
        }
        let recent: usize = completed.iter().map(|(_, n)| n).sum();
        recent.clamp(self.floor, self.prefetch)
    }

    /// Hands a checkpoint reserved for this process to its consumer. When
    /// the consumer has stopped, the checkpoint stays among those the
    /// process releases at the end.
    pub fn hand(&self, taken: Taken, slot: Slots) {
        let _ = self.handed.send((taken, slot));
    }
}

impl Handed {
    /// The next handed-over checkpoint, with its slot.
    pub async fn next(&mut self) -> Option<(Taken, Slots)> {
        self.0.recv().await
    }
}
