//! The process's tally of what its subscriptions did, a minute at a time,
//! added to the state store every few seconds for the operators' charts.

use super::shared::Engine;
use crate::state::MinuteStats;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the tally is added to the store.
const EVERY: Duration = Duration::from_secs(10);

/// Counts not yet added to the store, by group, subscription and minute.
#[derive(Debug, Default)]
pub(crate) struct Tally(Mutex<Counted>);

type Counted = HashMap<(&'static str, &'static str, DateTime<Utc>), Counts>;

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    handled: u64,
    failed: u64,
    max_lag_ms: u64,
}

impl Tally {
    /// Counts a call of `subscription`'s handler for a message appended
    /// at `appended`, now.
    pub fn count(
        &self,
        group: &'static str,
        subscription: &'static str,
        appended: DateTime<Utc>,
        ok: bool,
    ) {
        let now = Utc::now();
        let minute = now
            .duration_trunc(TimeDelta::minutes(1))
            .expect("a minute divides any time");
        let lag = (now - appended).num_milliseconds().max(0).unsigned_abs();
        let mut counts = self.0.lock().expect("no tally panics while holding it");
        let counts = counts.entry((group, subscription, minute)).or_default();
        match ok {
            true => counts.handled += 1,
            false => counts.failed += 1,
        }
        counts.max_lag_ms = counts.max_lag_ms.max(lag);
    }

    /// Takes what was counted since the last time.
    fn take(&self) -> Counted {
        std::mem::take(&mut *self.0.lock().expect("no tally panics"))
    }

    /// Puts back counts the store did not take, to add them next time,
    /// but those of minutes the store would have forgotten by then.
    fn put_back(&self, taken: Counted) {
        let forgotten = Utc::now() - TimeDelta::days(1);
        let mut counted = self.0.lock().expect("no tally panics");
        for (key, counts) in taken
            .into_iter()
            .filter(|((_, _, minute), _)| *minute > forgotten)
        {
            let kept = counted.entry(key).or_default();
            kept.handled += counts.handled;
            kept.failed += counts.failed;
            kept.max_lag_ms = kept.max_lag_ms.max(counts.max_lag_ms);
        }
    }
}

/// The counts as the store records them.
fn minutes(counted: &Counted) -> Vec<MinuteStats> {
    counted
        .iter()
        .map(|(&(group, subscription, minute), counts)| MinuteStats {
            group: group.to_owned(),
            subscription: subscription.to_owned(),
            minute,
            handled: counts.handled,
            failed: counts.failed,
            max_lag_ms: counts.max_lag_ms,
        })
        .collect()
}

/// Adds the tally to the store every few seconds, and once more when
/// `stop` is cancelled. Counts the store refused are added next time, or
/// lost if that was the last.
pub(crate) async fn run(engine: &Engine, stop: CancellationToken) {
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(EVERY) => false,
            () = stop.cancelled() => true,
        };
        let counted = engine.tally.take();
        if !counted.is_empty() {
            let recorded = minutes(&counted);
            if let Err(error) = engine.storage.engine().record_minutes(&recorded).await {
                tracing::warn!(%error, minutes = recorded.len(), last = stopping,
                    "cannot record what the subscriptions handled per minute, for the dashboard's charts");
                engine.tally.put_back(counted);
            }
        }
        if stopping {
            return;
        }
    }
}
