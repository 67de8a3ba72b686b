//! `backlog`: jobs, each in a stream of its own, written by SQL before any
//! worker starts, then drained by one worker process and, on a fresh store,
//! by two; throughput and each worker's peak memory.

use super::jobs::{Drain, Shape, PREFIX};
use crate::database::{Backend, BenchDatabase, BenchResult};
use crate::report;
use serde_json::json;
use std::time::Instant;

pub async fn run(backend: Backend, messages: usize) -> BenchResult<()> {
    for workers in [1, 2] {
        BenchDatabase::with(backend, "backlog", async |database| {
            let shape = Shape::jobs(messages);
            let filling = Instant::now();
            database.fill(PREFIX, messages as u64, 1).await?;
            let mut drain = Drain::new("backlog", workers);
            drain.extra = json!({ "written_by_sql_seconds": report::seconds(filling.elapsed()) });
            drain.run(database, &shape).await?.emit("backlog");
            Ok(())
        })
        .await?;
    }
    Ok(())
}
