//! The scenarios, each on a database of its own.

mod append;
mod jobs;
mod latency;

use crate::database::{Backend, BenchDatabase, BenchResult};

/// Every scenario, in the order `all` runs them.
pub const ALL: [&str; 6] = [
    "append",
    "jobs",
    "ordered",
    "latency",
    "processes",
    "fanout",
];

/// How many messages `jobs`, `ordered`, `processes` and `fanout` handle
/// unless told.
pub const MESSAGES: usize = 100_000;

/// Runs one scenario on a fresh database of `backend`; `messages` is how
/// many those that drain appended messages handle.
pub async fn run(backend: Backend, scenario: &str, messages: usize) -> BenchResult<()> {
    let database = BenchDatabase::create(backend, scenario).await?;
    let (jobs, ordered) = (jobs::Shape::jobs(messages), jobs::Shape::ordered(messages));
    let result = match scenario {
        "append" => append::run(&database).await,
        "jobs" => jobs::run(&database, scenario, jobs, 1).await,
        "ordered" => jobs::run(&database, scenario, ordered, 1).await,
        "processes" => jobs::run(&database, scenario, jobs, 2).await,
        "fanout" => jobs::run(&database, scenario, jobs::Shape::fanout(messages), 1).await,
        "latency" => latency::run(&database).await,
        _ => Err(format!("no scenario `{scenario}`").into()),
    };
    database.drop().await?;
    result
}
