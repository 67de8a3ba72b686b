//! The scenarios, each on a database of its own.

mod append;
mod backlog;
mod big_store;
mod jobs;
mod latency;
mod loaded_latency;
mod scheduled;

use crate::database::{Backend, BenchDatabase, BenchResult};
use jobs::{Drain, Shape};

/// Every scenario, in the order `all` runs them.
pub const ALL: [&str; 10] = [
    "append",
    "jobs",
    "ordered",
    "latency",
    "loaded-latency",
    "scheduled",
    "processes",
    "fanout",
    "backlog",
    "big-store",
];

/// The `N` of `--messages N` unless told: how many messages `jobs`,
/// `ordered`, `processes`, `fanout`, `scheduled` and `big-store` handle.
/// `backlog` drains 10 N, and `big-store`'s store holds 50 N messages and
/// 10 N checkpoints before its N jobs.
pub const MESSAGES: usize = 100_000;

/// Runs one scenario on fresh databases of `backend`, sized by `messages`.
pub async fn run(backend: Backend, scenario: &str, messages: usize) -> BenchResult<()> {
    match scenario {
        "backlog" => return backlog::run(backend, 10 * messages).await,
        "big-store" => return big_store::run(backend, messages).await,
        _ => {}
    }
    BenchDatabase::with(backend, scenario, async |database| match scenario {
        "append" => append::run(database).await,
        "jobs" => jobs::run(database, Shape::jobs(messages), Drain::new(scenario, 1)).await,
        "ordered" => jobs::run(database, Shape::ordered(messages), Drain::new(scenario, 1)).await,
        "processes" => jobs::run(database, Shape::jobs(messages), Drain::new(scenario, 2)).await,
        "fanout" => jobs::run(database, Shape::fanout(messages), Drain::new(scenario, 1)).await,
        "latency" => latency::run(database).await,
        "loaded-latency" => loaded_latency::run(database).await,
        "scheduled" => scheduled::run(database, messages).await,
        _ => Err(format!("no scenario `{scenario}`").into()),
    })
    .await
}
