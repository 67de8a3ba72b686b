//! The scenarios, each on a database of its own.

mod append;
mod jobs;
mod latency;

use crate::database::{Backend, BenchDatabase, BenchResult};

/// Every scenario, in the order `all` runs them.
pub const ALL: [&str; 5] = ["append", "jobs", "ordered", "latency", "processes"];

/// Runs one scenario on a fresh database of `backend`.
pub async fn run(backend: Backend, scenario: &str) -> BenchResult<()> {
    let database = BenchDatabase::create(backend, scenario).await?;
    let result = match scenario {
        "append" => append::run(&database).await,
        "jobs" => jobs::run(&database, scenario, jobs::Shape::JOBS, 1).await,
        "ordered" => jobs::run(&database, scenario, jobs::Shape::ORDERED, 1).await,
        "processes" => jobs::run(&database, scenario, jobs::Shape::JOBS, 2).await,
        "latency" => latency::run(&database).await,
        _ => Err(format!("no scenario `{scenario}`").into()),
    };
    database.drop().await?;
    result
}
