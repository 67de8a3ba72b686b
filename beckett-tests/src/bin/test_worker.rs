//! A worker process for the multi-process tests: `beckett::run()` with
//! subscriptions and recurring jobs that record what they handle in the
//! test's database.
//!
//! `WORKER_NAME` labels its rows; `WORKER_HANDLER_DELAY_MS` makes each
//! handler call take that long; `RUST_LOG` turns on the log, on stderr.
//! Everything else is the usual `BECKETT_*` environment.

use beckett::postgres::PostgresTransaction;
use beckett::{BoxError, Context, Message, PostgresStore};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::time::Duration;

#[derive(Debug, Message, Serialize, Deserialize)]
struct Counted {
    n: i64,
}

fn worker() -> String {
    std::env::var("WORKER_NAME").unwrap_or_else(|_| "worker".to_owned())
}

/// An insert of the handled message's stream and position, labelled with
/// this worker's name, into `$table`.
macro_rules! recorded {
    ($table:literal, $ctx:expr) => {
        sqlx::query(concat!(
            "INSERT INTO ",
            $table,
            " (worker, stream, position) VALUES ($1, $2, $3)"
        ))
        .bind(worker())
        .bind($ctx.stream())
        .bind($ctx.position())
    };
}

/// The pool of the store the handler runs on.
fn pool(ctx: &Context) -> &PgPool {
    let store = ctx.store().downcast_ref::<PostgresStore>();
    store.expect("the tests run on Postgres").pool()
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
async fn record(_: Counted, ctx: Context) -> Result<(), BoxError> {
    recorded!("started", ctx).execute(pool(&ctx)).await?;
    delay().await;
    recorded!("handled", ctx).execute(pool(&ctx)).await?;
    Ok(())
}

/// Records each message in the transaction that moves its checkpoint:
/// exactly once, whatever is killed.
#[beckett::subscription(group = "Exactly", messages(Counted), transactional)]
async fn record_once(_: Counted, ctx: Context) -> Result<(), BoxError> {
    delay().await;
    let mut guard = ctx.transaction().expect("transactional");
    let tx = guard
        .downcast_mut::<PostgresTransaction>()
        .expect("on Postgres");
    recorded!("handled_once", ctx).execute(&mut **tx).await?;
    Ok(())
}

/// Relays each message to `Relayed-<its stream>`, with its position, in
/// the transaction that moves its checkpoint: exactly once, on any
/// backend whose message store shares the state store's transactions.
#[beckett::subscription(group = "Relay", messages(Counted), transactional)]
async fn relay(counted: Counted, ctx: Context) -> Result<(), BoxError> {
    delay().await;
    let relayed = Relayed {
        n: counted.n,
        position: ctx.position(),
        worker: worker(),
    };
    let stream = format!("Relayed-{}", ctx.stream());
    ctx.append(&stream, beckett::ExpectedVersion::Any, relayed)
        .await?;
    Ok(())
}

/// What the relay appends.
#[derive(Debug, Message, Serialize, Deserialize)]
struct Relayed {
    n: i64,
    position: i64,
    worker: String,
}

/// A scheduled message, carrying the time it is due.
#[derive(Debug, Message, Serialize, Deserialize)]
struct Due {
    at: chrono::DateTime<chrono::Utc>,
}

/// Records when each scheduled message was due and when its handler
/// started.
#[beckett::subscription(group = "Scheduled", messages(Due))]
async fn record_due(due: Due, ctx: Context) -> Result<(), BoxError> {
    let started = chrono::Utc::now();
    sqlx::query("INSERT INTO delivered (worker, id, due, started) VALUES ($1, $2, $3, $4)")
        .bind(worker())
        .bind(ctx.message_id())
        .bind(due.at)
        .bind(started)
        .execute(pool(&ctx))
        .await?;
    Ok(())
}

/// Every second: records each occurrence handled.
#[beckett::recurring("* * * * * *", group = "Ticker")]
async fn tick(ctx: Context) -> Result<(), BoxError> {
    record_tick(&ctx).await
}

/// At second 0 of every minute.
#[beckett::recurring("0 * * * * *", group = "Minutely")]
async fn minutely(ctx: Context) -> Result<(), BoxError> {
    record_tick(&ctx).await
}

async fn record_tick(ctx: &Context) -> Result<(), BoxError> {
    recorded!("ticks", ctx).execute(pool(ctx)).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> beckett::Result<()> {
    // Quiet unless a test asks for the log with RUST_LOG.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    beckett::run().await
}
