//! Measures append throughput: single-message appends from 4 concurrent
//! tasks, then batches of 100 from 4 concurrent tasks.
//!
//! ```sh
//! cargo run --release --example append_throughput
//! ```
//!
//! Writes to the `beckett_throughput` schema of `DATABASE_URL`, which it
//! drops first and last. A rough gauge until the benchmark harness lands.

use beckett::{ExpectedVersion, MessageStorage, NewMessage, PostgresStore, Schema};
use std::time::{Duration, Instant};

const TASKS: usize = 4;
const SINGLE_APPENDS_PER_TASK: usize = 2_500;
const BATCHES_PER_TASK: usize = 50;
const BATCH_SIZE: usize = 100;

#[tokio::main]
async fn main() -> beckett::Result<()> {
    let pool = beckett::connect_from_env().await?;
    let schema = Schema::new("beckett_throughput")?;
    let drop = "DROP SCHEMA IF EXISTS beckett_throughput CASCADE";
    sqlx::query(drop).execute(&pool).await?;
    beckett::migrate_schema(&pool, &schema).await?;
    let store = PostgresStore::with_schema(pool.clone(), &schema);

    let elapsed = run(&store, SINGLE_APPENDS_PER_TASK, 1).await?;
    report(
        "single-message appends",
        TASKS * SINGLE_APPENDS_PER_TASK,
        1,
        elapsed,
    );
    let elapsed = run(&store, BATCHES_PER_TASK, BATCH_SIZE).await?;
    report(
        "batches of 100",
        TASKS * BATCHES_PER_TASK,
        BATCH_SIZE,
        elapsed,
    );

    sqlx::query(drop).execute(&pool).await?;
    Ok(())
}

/// Runs `appends` appends of `size` messages from each of [`TASKS`] tasks,
/// each task on streams of its own.
async fn run(store: &PostgresStore, appends: usize, size: usize) -> beckett::Result<Duration> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..appends {
                    let stream = format!("Bench{size}-{task}.{}", i % 100);
                    let messages = (0..size)
                        .map(|n| {
                            NewMessage::from_json(
                                "Measured",
                                serde_json::json!({ "n": n, "task": task }),
                            )
                        })
                        .collect();
                    store
                        .append(&stream, ExpectedVersion::Any, messages)
                        .await?;
                }
                Ok::<_, beckett::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("append task panicked")?;
    }
    Ok(started.elapsed())
}

fn report(what: &str, appends: usize, size: usize, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    println!(
        "{what}: {appends} appends, {} messages in {seconds:.2} s: {:.0} appends/s, {:.0} messages/s",
        appends * size,
        appends as f64 / seconds,
        (appends * size) as f64 / seconds
    );
}
