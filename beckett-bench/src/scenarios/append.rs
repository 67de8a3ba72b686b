//! `append`: single-message appends, then batches of 100, from 4
//! concurrent tasks, each for 10 s or 100,000 messages.

use crate::database::{BenchDatabase, BenchResult};
use crate::report;
use beckett::{ExpectedVersion, MessageStorage, NewMessage};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TASKS: usize = 4;
const MESSAGES: usize = 100_000;
const LONGEST: Duration = Duration::from_secs(10);

pub async fn run(database: &BenchDatabase) -> BenchResult<()> {
    for batch in [1, 100] {
        let (messages, elapsed) = appends(database.storage.messages(), batch).await?;
        let parameters = json!({ "tasks": TASKS, "batch": batch });
        report::emit("append", parameters, messages, elapsed, json!({}));
    }
    Ok(())
}

/// Appends batches of `batch` messages from [`TASKS`] tasks until
/// [`MESSAGES`] are appended or [`LONGEST`] has passed; returns how many
/// were appended, and in what time.
async fn appends(store: &Arc<dyn MessageStorage>, batch: usize) -> BenchResult<(usize, Duration)> {
    let appended = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (store, appended) = (store.clone(), appended.clone());
            tokio::spawn(async move {
                let mut round = 0;
                while started.elapsed() < LONGEST
                    && appended.fetch_add(batch, Ordering::Relaxed) < MESSAGES
                {
                    let stream = format!("Append{batch}-{task}.{}", round % 100);
                    let messages = (0..batch)
                        .map(|n| NewMessage::from_json("Appended", json!({ "n": n })))
                        .collect();
                    store
                        .append(&stream, ExpectedVersion::Any, messages)
                        .await?;
                    round += 1;
                }
                Ok::<_, beckett::Error>(round * batch)
            })
        })
        .collect();
    let mut messages = 0;
    for task in tasks {
        messages += task.await??;
    }
    Ok((messages, started.elapsed()))
}
