//! The engine on SQLite in memory: handlers run in a test with no database
//! server, in order per stream, and a transactional handler's writes
//! commit with its checkpoint or not at all.

mod common;

use beckett::sqlite::SqliteStore;
use beckett::state::Storage;
use beckett::{Beckett, BoxError, Context, ExpectedVersion, MessageStorage, NewMessage};
use common::{eventually, Counted};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Relays each message to `Seen-<stream>`, with its position.
#[beckett::subscription(group = "InMemory", messages(Counted))]
async fn relay(counted: Counted, ctx: Context) -> Result<(), BoxError> {
    let seen = NewMessage::from_json(
        "Seen",
        serde_json::json!({ "n": counted.n, "at": ctx.position() }),
    );
    let stream = format!("Seen-{}", ctx.stream());
    ctx.store()
        .append(&stream, ExpectedVersion::Any, vec![seen])
        .await?;
    Ok(())
}

/// Appends `Attempted` in its transaction, then fails the first attempt at
/// each message: only the second attempt's append may commit.
#[beckett::subscription(group = "Attempts", messages(Counted), transactional)]
async fn fails_once(counted: Counted, ctx: Context) -> Result<(), BoxError> {
    let message = NewMessage::from_json(
        "Attempted",
        serde_json::json!({ "n": counted.n, "attempt": ctx.attempt() }),
    );
    ctx.append_messages(
        &format!("Attempted-{}", ctx.stream()),
        ExpectedVersion::Any,
        vec![message],
    )
    .await?;
    if ctx.attempt() == 1 {
        return Err("the first attempt fails".into());
    }
    Ok(())
}

/// Runs `group` on `storage` until the returned token is cancelled.
fn run(
    storage: Storage,
    group: &str,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<beckett::Result<()>>,
) {
    let stop = CancellationToken::new();
    let beckett = Beckett::builder()
        .storage(storage)
        .groups([group])
        .poll_interval(Duration::from_millis(100))
        .retry_delays(Duration::from_millis(20), Duration::from_millis(50))
        .build()
        .unwrap();
    let signal = stop.clone();
    (
        stop,
        tokio::spawn(async move { beckett.run_until(signal.cancelled_owned()).await }),
    )
}

fn in_memory() -> (Arc<SqliteStore>, Storage) {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let storage = Storage::together(store.clone());
    (store, storage)
}

/// The `n` of each message in `stream`, in order.
async fn numbers(store: &SqliteStore, stream: &str) -> Vec<i64> {
    let read = store.read_stream(stream, 1, 1_000).await.unwrap();
    read.iter().map(|m| m.data["n"].as_i64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn handlers_run_in_a_test_with_no_database_server() {
    let (store, storage) = in_memory();
    let (stop, running) = run(storage, "InMemory");
    for n in 0..30 {
        let stream = format!("Numbers-{}", n % 3);
        let message = NewMessage::new(&Counted { n }).unwrap();
        store
            .append(&stream, ExpectedVersion::Any, vec![message])
            .await
            .unwrap();
    }
    eventually("every message is relayed", || async {
        let mut relayed = 0;
        for stream in 0..3 {
            relayed += numbers(&store, &format!("Seen-Numbers-{stream}"))
                .await
                .len();
        }
        relayed == 30
    })
    .await;
    for stream in 0..3 {
        let expected: Vec<i64> = (0..30).filter(|n| n % 3 == stream).collect();
        let seen = numbers(&store, &format!("Seen-Numbers-{stream}")).await;
        assert_eq!(
            seen, expected,
            "Numbers-{stream} relayed once each, in stream order"
        );
    }
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transactional_handler_that_fails_writes_nothing() {
    let (store, storage) = in_memory();
    let (stop, running) = run(storage, "Attempts");
    for n in 0..5 {
        let message = NewMessage::new(&Counted { n }).unwrap();
        store
            .append("Tries-1", ExpectedVersion::Any, vec![message])
            .await
            .unwrap();
    }
    eventually("every message is handled", || async {
        numbers(&store, "Attempted-Tries-1").await.len() >= 5
    })
    .await;
    let attempted = store
        .read_stream("Attempted-Tries-1", 1, 100)
        .await
        .unwrap();
    let attempts: Vec<(i64, i64)> = attempted
        .iter()
        .map(|m| {
            (
                m.data["n"].as_i64().unwrap(),
                m.data["attempt"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(i64, i64)> = (0..5).map(|n| (n, 2)).collect();
    assert_eq!(
        attempts, expected,
        "only the second attempts' appends committed"
    );
    stop.cancel();
    running.await.unwrap().unwrap();
}
