//! A worker process for the multi-process tests: `beckett::run()` with two
//! subscriptions that record what they handle in the test's database.
//!
//! `WORKER_NAME` labels its rows; `WORKER_HANDLER_DELAY_MS` makes each
//! handler call take that long. Everything else is the usual `BECKETT_*`
//! environment.

use beckett::{Context, Message};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Message, Serialize, Deserialize)]
struct Counted {
    n: i64,
}

fn worker() -> String {
    std::env::var("WORKER_NAME").unwrap_or_else(|_| "worker".to_owned())
}

async fn delay() {
    let millis: u64 = std::env::var("WORKER_HANDLER_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

/// Records each message once handled (at least once: a kill can repeat it).
#[beckett::subscription(group = "Workers", messages(Counted))]
async fn record(_: Counted, ctx: Context) -> beckett::Result<()> {
    sqlx::query("INSERT INTO started (worker, stream, position) VALUES ($1, $2, $3)")
        .bind(worker())
        .bind(ctx.stream())
        .bind(ctx.position())
        .execute(ctx.store().pool())
        .await?;
    delay().await;
    sqlx::query("INSERT INTO handled (worker, stream, position) VALUES ($1, $2, $3)")
        .bind(worker())
        .bind(ctx.stream())
        .bind(ctx.position())
        .execute(ctx.store().pool())
        .await?;
    Ok(())
}

/// Records each message in the transaction that moves its checkpoint:
/// exactly once, whatever is killed.
#[beckett::subscription(group = "Exactly", messages(Counted), transactional)]
async fn record_once(_: Counted, ctx: Context) -> beckett::Result<()> {
    delay().await;
    let mut tx = ctx.transaction().expect("transactional");
    sqlx::query("INSERT INTO handled_once (worker, stream, position) VALUES ($1, $2, $3)")
        .bind(worker())
        .bind(ctx.stream())
        .bind(ctx.position())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> beckett::Result<()> {
    beckett::run().await
}
