//! The reservations a process holds.
//!
//! A reservation lasts the reservation timeout from when it was taken or
//! last extended. While the process lives, the heartbeat extends every one
//! it has held for a quarter of that, so a handler never outlives its
//! reservation, however long its stream takes; when the process dies, its
//! streams come back once the timeout passes. Should the heartbeat fail
//! (the database out of reach), a stream stops being handled while its
//! reservation still has a beat to run.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Reservation tokens held, each with when it was taken or last extended.
#[derive(Debug, Default)]
pub(crate) struct Held(Mutex<HashMap<Uuid, Instant>>);

impl Held {
    /// Counts reservations taken by a statement sent at `at` as held.
    pub fn taken(&self, tokens: impl IntoIterator<Item = Uuid>, at: Instant) {
        let mut held = self.0.lock().expect("never poisoned");
        held.extend(tokens.into_iter().map(|token| (token, at)));
    }

    /// Whether a reservation held has at least a beat of `timeout` left,
    /// by this process's count: a stream is handled on only while it has.
    pub fn alive(&self, token: &Uuid, timeout: Duration) -> bool {
        let held = self.0.lock().expect("never poisoned");
        held.get(token)
            .is_some_and(|since| since.elapsed() < timeout - beat(timeout))
    }

    /// Counts reservations as no longer held: released, completed or lost.
    pub fn let_go<'a>(&self, tokens: impl IntoIterator<Item = &'a Uuid>) {
        let mut held = self.0.lock().expect("never poisoned");
        for token in tokens {
            held.remove(token);
        }
    }

    /// Every reservation still held, no longer counted as held.
    pub fn drain(&self) -> Vec<Uuid> {
        let mut held = self.0.lock().expect("never poisoned");
        held.drain().map(|(token, _)| token).collect()
    }

    /// The reservations taken or extended before `before`.
    pub fn older_than(&self, before: Instant) -> Vec<Uuid> {
        let held = self.0.lock().expect("never poisoned");
        held.iter()
            .filter(|(_, at)| **at < before)
            .map(|(token, _)| *token)
            .collect()
    }

    /// Records reservations as extended at `at`; those let go of meanwhile
    /// stay gone.
    pub fn extended(&self, tokens: &[Uuid], at: Instant) {
        let mut held = self.0.lock().expect("never poisoned");
        for token in tokens {
            if let Some(since) = held.get_mut(token) {
                *since = at;
            }
        }
    }
}

/// How often the heartbeat beats: a quarter of the reservation timeout.
pub(crate) fn beat(timeout: Duration) -> Duration {
    timeout / 4
}
