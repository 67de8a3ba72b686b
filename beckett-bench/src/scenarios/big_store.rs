//! `big-store`: `jobs` on an empty store, then on one that already holds
//! 50 times as many messages, 5 in each of as many streams as 10 times the
//! jobs, every stream handled by the jobs' subscription: a store's
//! history, written by SQL, vacuumed and analyzed as a store in service
//! would be.

use super::jobs::{self, Drain, Shape};
use crate::database::{Backend, BenchDatabase, BenchResult};
use crate::handlers::{JOBS, NO_OP};
use crate::report;
use serde_json::json;
use std::time::Instant;

/// Messages in each stream of the history.
const HISTORY_PER_STREAM: u64 = 5;
/// The history's streams' names before `-{k}`.
const HISTORY: &str = "History";

pub async fn run(backend: Backend, messages: usize) -> BenchResult<()> {
    let empty = BenchDatabase::with(backend, "big-store", async |database| {
        let mut drain = Drain::new("big-store", 1);
        drain.extra = json!({ "history_messages": 0 });
        jobs::enqueued(database, &Shape::jobs(messages), drain).await
    })
    .await?;
    let empty_per_second = empty.per_second();
    empty.emit("big-store");

    let streams = 10 * messages as u64;
    BenchDatabase::with(backend, "big-store", async |database| {
        let building = Instant::now();
        database.fill(HISTORY, streams, HISTORY_PER_STREAM).await?;
        database
            .handled_checkpoints((JOBS, NO_OP), HISTORY, streams, HISTORY_PER_STREAM)
            .await?;
        database.caught_up(JOBS, NO_OP).await?;
        database.settle().await?;
        let history_messages = streams * HISTORY_PER_STREAM;
        let mut drain = Drain::new("big-store", 1);
        drain.handled_before = history_messages as usize;
        drain.extra = json!({
            "history_messages": history_messages,
            "history_checkpoints": streams,
            "written_by_sql_seconds": report::seconds(building.elapsed()),
        });
        let mut big = jobs::enqueued(database, &Shape::jobs(messages), drain).await?;
        big.extra["of_empty_store"] =
            json!((big.per_second() / empty_per_second * 100.0).round() / 100.0);
        big.emit("big-store");
        Ok(())
    })
    .await
}
