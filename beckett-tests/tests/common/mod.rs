//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test file uses its own subset

pub mod workers;

use beckett::postgres::PostgresTransaction;
use beckett::subscription::{CheckpointFilter, CheckpointStatus, TransactionGuard};
use beckett::{
    Beckett, Context, Envelope, GlobalCursor, Message, MessageStorage, NewMessage, PostgresStore,
};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A message type for tests.
#[derive(Debug, Clone, PartialEq, Message, Serialize, Deserialize)]
pub struct Counted {
    pub n: i64,
}

/// A second message type, with a wire name that differs from its ident.
#[derive(Debug, Clone, PartialEq, Message, Serialize, Deserialize)]
#[message(name = "item_added")]
pub struct ItemAdded {
    pub sku: String,
    pub quantity: i32,
}

pub fn counted(n: i64) -> NewMessage {
    NewMessage::new(&Counted { n }).unwrap()
}

/// Migrates the test's database and opens the store on it.
pub async fn store(pool: PgPool) -> PostgresStore {
    beckett::migrate(&pool).await.unwrap();
    PostgresStore::new(pool)
}

/// A store whose pool holds `connections` connections, for tests that need
/// that many statements in flight at once.
pub async fn store_with_connections(
    options: PgPoolOptions,
    connect: PgConnectOptions,
    connections: u32,
) -> PostgresStore {
    let pool = options
        .max_connections(connections)
        .connect_with(connect)
        .await
        .unwrap();
    store(pool).await
}

/// Reads the global order from the start until it holds `count` messages,
/// for up to 30 seconds.
pub async fn read_global_until(store: &PostgresStore, count: usize) -> Vec<Envelope> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut read = Vec::new();
    let mut cursor = GlobalCursor::START;
    loop {
        let batch = store.read_global(&cursor, 1000).await.unwrap();
        cursor = batch.cursor;
        read.extend(batch.messages);
        if read.len() >= count {
            return read;
        }
        assert!(
            Instant::now() < deadline,
            "read {} of {count} messages before the deadline",
            read.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Opens two transactions that hold a transaction id and write nothing,
/// one in another database of the server and one in the test's, as
/// sessions left idle in transaction do; end them with
/// [`end_transactions`].
pub async fn hold_transaction_ids(connect: &PgConnectOptions) -> Vec<PgConnection> {
    let mut held = Vec::new();
    for options in [connect.clone().database("postgres"), connect.clone()] {
        let mut conn = PgConnection::connect_with(&options).await.unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut conn)
            .await
            .unwrap();
        held.push(conn);
    }
    held
}

/// Rolls back the transactions [`hold_transaction_ids`] opened.
pub async fn end_transactions(held: Vec<PgConnection>) {
    for mut conn in held {
        sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
    }
}

/// A process running in the test: cancel the token to stop it, then await
/// its end.
pub type Running = (
    CancellationToken,
    tokio::task::JoinHandle<beckett::Result<()>>,
);

/// Runs `group` in this process on the test's database, with short polls
/// and retry delays and the test's own settings on top, until the returned
/// token is cancelled.
pub fn run_group(
    pool: &PgPool,
    group: &str,
    configure: impl FnOnce(beckett::Builder) -> beckett::Builder,
) -> Running {
    let stop = CancellationToken::new();
    let builder = Beckett::builder()
        .pool(pool.clone())
        .groups([group])
        .poll_interval(Duration::from_millis(100))
        .retry_delays(Duration::from_millis(50), Duration::from_millis(200));
    let beckett = configure(builder).build().unwrap();
    let signal = stop.clone();
    let running = tokio::spawn(async move { beckett.run_until(signal.cancelled_owned()).await });
    (stop, running)
}

/// Creates the `handled` table [`record`] writes to, if it is missing.
pub async fn create_handled(pool: &PgPool) {
    sqlx::query("CREATE TABLE IF NOT EXISTS handled (id bigserial, stream text, position bigint)")
        .execute(pool)
        .await
        .unwrap();
}

/// The pool of the Postgres store a handler runs on.
pub fn pool(ctx: &Context) -> &PgPool {
    let store = ctx.store().downcast_ref::<PostgresStore>();
    store.expect("the tests run on Postgres").pool()
}

/// The connection of a `transactional` handler's Postgres transaction.
pub fn postgres(guard: &mut TransactionGuard) -> &mut PgConnection {
    let tx = guard.downcast_mut::<PostgresTransaction>();
    tx.expect("the tests run on Postgres")
}

/// Records the message being handled, its stream and position, in the
/// test's `handled` table.
pub async fn record(ctx: &Context) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO handled (stream, position) VALUES ($1, $2)")
        .bind(ctx.stream())
        .bind(ctx.position())
        .execute(pool(ctx))
        .await
        .map(drop)
}

/// The positions of `stream` recorded as handled, in the order handled.
pub async fn handled(pool: &PgPool, stream: &str) -> Vec<i64> {
    sqlx::query_scalar("SELECT position FROM handled WHERE stream = $1 ORDER BY id")
        .bind(stream)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Polls `check` until it holds, for up to 20 seconds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The failed checkpoints of the test's database, as the tests look at
/// them: a group's, or all.
pub struct Failed(beckett::subscription::Checkpoints);

impl Failed {
    pub fn new(pool: &PgPool) -> Self {
        Self(beckett::subscription::Checkpoints::new(PostgresStore::new(
            pool.clone(),
        )))
    }

    pub async fn list(
        &self,
        group: Option<&str>,
    ) -> beckett::Result<Vec<beckett::subscription::CheckpointInfo>> {
        let mut filter = CheckpointFilter::default().status(CheckpointStatus::Failed);
        filter.group = group.map(str::to_owned);
        self.0.list(&filter, None, 1000).await
    }

    /// Retries one failed checkpoint; whether it was failed.
    pub async fn retry(
        &self,
        group: &str,
        subscription: &str,
        stream: &str,
    ) -> beckett::Result<bool> {
        let one = CheckpointFilter::one(group, subscription, stream);
        Ok(self.0.retry(&one).await? == 1)
    }

    /// Skips one failed checkpoint's message; whether it was failed.
    pub async fn skip(
        &self,
        group: &str,
        subscription: &str,
        stream: &str,
    ) -> beckett::Result<bool> {
        let one = CheckpointFilter::one(group, subscription, stream);
        Ok(self.0.skip(&one).await? == 1)
    }
}
