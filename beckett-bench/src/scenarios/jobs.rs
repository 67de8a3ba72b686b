//! `jobs`, `ordered`, `processes` and `fanout`: messages appended first
//! (timed apart), then the time from the workers' start until the last is
//! handled by every subscription that selects it; and that drain, for the
//! scenarios that fill the store otherwise.

use crate::database::{BenchDatabase, BenchResult};
use crate::handlers::{self, Fan, Job, Step};
use crate::report::{self, Measurement};
use crate::workers::Worker;
use beckett::{ExpectedVersion, MessageStorage, NewMessage};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the messages lie in streams, and which group handles them.
pub struct Shape {
    streams: usize,
    per_stream: usize,
    group: &'static str,
    /// How many of the group's subscriptions handle each message.
    subscriptions: usize,
}

/// The streams' names before `-{k}`.
pub const PREFIX: &str = "Bench";

/// How many streams `ordered` spreads its messages over.
const ORDERED_STREAMS: usize = 1_000;

impl Shape {
    /// `messages`, each in a stream of its own, for a no-op handler.
    pub fn jobs(messages: usize) -> Self {
        Self {
            streams: messages,
            per_stream: 1,
            group: handlers::JOBS,
            subscriptions: 1,
        }
    }

    /// `messages`, each in a stream of its own, each for
    /// [`handlers::FANNED`] no-op subscriptions of one group.
    pub fn fanout(messages: usize) -> Self {
        Self {
            streams: messages,
            per_stream: 1,
            group: handlers::FANOUT,
            subscriptions: handlers::FANNED,
        }
    }

    /// `messages` over 1,000 streams (rounded up to fill each alike),
    /// checked to arrive in order.
    pub fn ordered(messages: usize) -> Self {
        Self {
            streams: ORDERED_STREAMS,
            per_stream: messages.div_ceil(ORDERED_STREAMS),
            group: handlers::ORDERED,
            subscriptions: 1,
        }
    }

    fn messages(&self) -> usize {
        self.streams * self.per_stream
    }

    /// Handler calls: each message once per subscription.
    fn calls(&self) -> usize {
        self.messages() * self.subscriptions
    }
}

/// Tasks appending the messages before the workers start.
const APPENDERS: usize = 8;
/// How long the workers may take before the run counts as failed.
const LONGEST: Duration = Duration::from_secs(300);

/// Appends `shape`'s messages through the API, drains them, and reports.
pub async fn run(database: &BenchDatabase, shape: Shape, drain: Drain<'_>) -> BenchResult<()> {
    let scenario = drain.scenario;
    enqueued(database, &shape, drain).await?.emit(scenario);
    Ok(())
}

/// Appends `shape`'s messages through the API, then drains them.
pub async fn enqueued(
    database: &BenchDatabase,
    shape: &Shape,
    mut drain: Drain<'_>,
) -> BenchResult<Measurement> {
    let enqueue_started = Instant::now();
    enqueue(database.storage.messages(), shape).await?;
    drain.extra["enqueue_seconds"] = json!(report::seconds(enqueue_started.elapsed()));
    drain.run(database, shape).await
}

/// Workers handling what is in the store, timed from their start until the
/// last message of a shape is handled.
pub struct Drain<'a> {
    /// The scenario measured.
    pub scenario: &'a str,
    /// How many worker processes run the group.
    pub workers: usize,
    /// Messages the group's checkpoints counted handled before.
    pub handled_before: usize,
    /// Further fields of the result line.
    pub extra: serde_json::Value,
}

impl<'a> Drain<'a> {
    /// `scenario`'s drain by `workers` processes of a group that has
    /// handled nothing yet.
    pub fn new(scenario: &'a str, workers: usize) -> Self {
        Self {
            scenario,
            workers,
            handled_before: 0,
            extra: json!({}),
        }
    }

    /// Starts the workers, waits until they have handled `shape`, and
    /// stops them.
    pub async fn run(self, database: &BenchDatabase, shape: &Shape) -> BenchResult<Measurement> {
        let started_at: DateTime<Utc> = database.now().await?;
        let running = (0..self.workers)
            .map(|_| Worker::start(database, shape.group))
            .collect::<BenchResult<Vec<_>>>()?;
        let calls = self.handled_before + shape.calls();
        wait_until_handled(database, shape.group, calls).await?;
        let finished_at = database.finished_at(shape.group).await?;

        let mut peak_rss = Vec::new();
        let mut out_of_order = 0;
        for worker in running {
            peak_rss.push(worker.peak_rss()? / (1024 * 1024));
            out_of_order += worker
                .stop()
                .await?
                .lines()
                .find_map(reported_out_of_order)
                .unwrap_or(0);
        }
        let mut extra = self.extra;
        extra["peak_rss_mib"] = json!(peak_rss);
        if shape.group == handlers::ORDERED {
            extra["out_of_order"] = json!(out_of_order);
        }
        Ok(Measurement {
            parameters: json!({
                "streams": shape.streams,
                "messages_per_stream": shape.per_stream,
                "subscriptions": shape.subscriptions,
                "workers": self.workers,
            }),
            messages: shape.calls(),
            elapsed: (finished_at - started_at).to_std()?,
            extra,
        })
    }
}

/// Appends the messages one at a time from [`APPENDERS`] tasks, each owning
/// its streams, round by round, so streams fill side by side.
async fn enqueue(store: &Arc<dyn MessageStorage>, shape: &Shape) -> BenchResult<()> {
    let (streams, per_stream, group) = (shape.streams, shape.per_stream, shape.group);
    let tasks: Vec<_> = (0..APPENDERS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..per_stream as u64 {
                    for stream in (task..streams).step_by(APPENDERS) {
                        let message = match group {
                            handlers::ORDERED => NewMessage::new(&Step { n })?,
                            handlers::FANOUT => NewMessage::new(&Fan { n: stream as u64 })?,
                            _ => NewMessage::new(&Job { n: stream as u64 })?,
                        };
                        store
                            .append(
                                &format!("{PREFIX}-{stream}"),
                                ExpectedVersion::Any,
                                vec![message],
                            )
                            .await?;
                    }
                }
                Ok::<_, beckett::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// Waits until the group's checkpoints account for `messages` handled.
pub async fn wait_until_handled(
    database: &BenchDatabase,
    group: &str,
    messages: usize,
) -> BenchResult<()> {
    let deadline = Instant::now() + LONGEST;
    loop {
        if database.handled(group).await?.unwrap_or(0) >= messages as i64 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not all of {messages} handled after {LONGEST:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn reported_out_of_order(line: &str) -> Option<u64> {
    line.strip_prefix("out_of_order ")?.parse().ok()
}
