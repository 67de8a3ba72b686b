//! The reservations a process holds, and the heartbeat that keeps them
//! alive while it works on them.
//!
//! A reservation lasts the reservation timeout from when it was taken or
//! last extended. While the process lives, the heartbeat extends every one
//! it has held for a quarter of that, so a handler never outlives its
//! reservation, however long its stream takes; when the process dies, its
//! streams come back once the timeout passes. Should the heartbeat fail
//! (the database out of reach), a stream stops being handled while its
//! reservation still has a beat to run.

use super::shared::Engine;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
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
    fn older_than(&self, before: Instant) -> Vec<Uuid> {
        let held = self.0.lock().expect("never poisoned");
        held.iter()
            .filter(|(_, at)| **at < before)
            .map(|(token, _)| *token)
            .collect()
    }

    /// Records reservations as extended at `at`; those let go of meanwhile
    /// stay gone.
    fn extended(&self, tokens: &[Uuid], at: Instant) {
        let mut held = self.0.lock().expect("never poisoned");
        for token in tokens {
            if let Some(since) = held.get_mut(token) {
                *since = at;
            }
        }
    }
}

/// How often the heartbeat beats: a quarter of the reservation timeout.
fn beat(timeout: Duration) -> Duration {
    timeout / 4
}

/// Extends the process's reservations every beat until `stop`, each that
/// was taken or extended a beat ago or more. A failed extension, or one
/// that found the checkpoint locked by another statement, is tried again
/// at the next beat.
pub(crate) async fn heartbeat(engine: &Engine, stop: CancellationToken) {
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
        match engine.storage.engine.extend(&due, timeout).await {
            Ok(extended) => engine.held.extended(&extended, now),
            Err(error) => {
                tracing::warn!(%error, reservations = due.len(),
                    "cannot extend reservations; trying again at the next beat");
            }
        }
    }
}
