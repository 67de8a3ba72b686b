//! Several worker processes on one SQLite file: each message handled, and
//! a transactional handler's writes made exactly once, while a worker is
//! killed mid-batch.

mod common;

use beckett::sqlite::SqliteStore;
use beckett::{ExpectedVersion, GlobalCursor, Message, MessageStorage, NewMessage};
use common::workers::{program, Worker};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the workers' `Relay` group appends for each message it handles.
#[derive(Debug, Message, Serialize, Deserialize)]
struct Relayed {
    n: i64,
    position: i64,
    worker: String,
}

const STREAMS: i64 = 20;
const PER_STREAM: i64 = 15;

/// A worker of the `Relay` group on the file at `path`.
fn relay(path: &str, name: &str) -> Worker {
    relay_polling(path, name, "200ms")
}

/// A worker of the `Relay` group that polls every `poll` when no wake-up
/// comes.
fn relay_polling(path: &str, name: &str, poll: &str) -> Worker {
    let mut command = Command::new(program("test_worker"));
    command
        .env("DATABASE_URL", format!("sqlite:{path}"))
        .env("WORKER_NAME", name)
        .env("BECKETT_GROUPS", "Relay")
        .env("BECKETT_POLL_INTERVAL", poll)
        .env("BECKETT_RESERVATION_TIMEOUT", "2s")
        .env("WORKER_HANDLER_DELAY_MS", "40")
        .stdout(Stdio::null());
    Worker::spawn(name, command)
}

/// What was relayed: per source stream, the positions, in the order
/// relayed; and per worker, how many.
async fn relayed(store: &SqliteStore) -> (BTreeMap<String, Vec<i64>>, BTreeMap<String, usize>) {
    let mut cursor = GlobalCursor::START;
    let (mut relayed, mut by) = (BTreeMap::<_, Vec<i64>>::new(), BTreeMap::new());
    loop {
        let read = store.read_global(&cursor, 500).await.unwrap();
        cursor = read.cursor;
        if read.messages.is_empty() {
            return (relayed, by);
        }
        for message in read.messages.iter().filter(|m| m.category() == "Relayed") {
            let message: Relayed = message.decode().unwrap();
            let source = format!("Numbers.{}", message.n / 1000);
            relayed.entry(source).or_default().push(message.position);
            *by.entry(message.worker).or_insert(0) += 1;
        }
    }
}

/// A new SQLite file in the target's temporary directory, and a store on it.
fn new_file() -> (String, Arc<SqliteStore>) {
    let name = format!("processes-{}.db", uuid::Uuid::now_v7());
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let path = path.to_str().unwrap().to_owned();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    (path, store)
}

/// Appends message `n` of `Numbers.{n / 1000}` at its position.
async fn append_number(store: &SqliteStore, n: i64) {
    let message = NewMessage::from_json("Counted", serde_json::json!({ "n": n }));
    let expected = ExpectedVersion::Exact(n % 1000 - 1);
    let stream = format!("Numbers.{}", n / 1000);
    store
        .append(&stream, expected, vec![message])
        .await
        .unwrap();
}

/// Waits until `count` messages are relayed, or 40 s have passed.
async fn until_relayed(
    store: &SqliteStore,
    count: usize,
) -> (BTreeMap<String, Vec<i64>>, BTreeMap<String, usize>) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (relayed, by) = relayed(store).await;
        if relayed.values().map(Vec::len).sum::<usize>() >= count || Instant::now() > deadline {
            return (relayed, by);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_append_by_another_process_wakes_a_worker_that_barely_polls() {
    let (path, store) = new_file();
    let _worker = relay_polling(&path, "sleeper", "60s");
    // Past its start, when it reads everything once without a wake-up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let appended = Instant::now();
    append_number(&store, 1).await;
    let (relayed, by) = until_relayed(&store, 1).await;
    assert_eq!(relayed.get("Numbers.0"), Some(&vec![1]), "{by:?}");
    assert!(
        appended.elapsed() < Duration::from_secs(10),
        "relayed only after {:?}: the worker was not woken, it polled",
        appended.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_leader_is_replaced_once_its_lease_runs_out() {
    let (path, store) = new_file();
    let mut leader = relay(&path, "leader");
    append_number(&store, 1).await;
    let (_, by) = until_relayed(&store, 1).await;
    assert_eq!(
        by.get("leader"),
        Some(&1),
        "the only worker leads and relays"
    );
    let _successor = relay(&path, "successor");
    tokio::time::sleep(Duration::from_millis(500)).await;
    leader.kill();
    for n in 2..=6 {
        append_number(&store, n).await;
    }
    let (relayed, by) = until_relayed(&store, 6).await;
    assert_eq!(
        relayed.get("Numbers.0"),
        Some(&(1..=6).collect::<Vec<_>>()),
        "the messages appended after the leader died are relayed, once each: {by:?}"
    );
    assert_eq!(by.get("successor"), Some(&5), "{by:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_on_one_file_relay_each_message_once_though_one_is_killed() {
    let (path, store) = new_file();
    let mut workers = [relay(&path, "first"), relay(&path, "second")];

    let appenders: Vec<_> = (0..STREAMS)
        .map(|stream| {
            let store = store.clone();
            tokio::spawn(async move {
                for position in 1..=PER_STREAM {
                    append_number(&store, stream * 1000 + position).await;
                }
            })
        })
        .collect();
    // Killed while it holds streams, a few handlers into them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    workers[0].kill();
    let (_, before_the_kill) = relayed(&store).await;
    for appender in appenders {
        appender.await.unwrap();
    }

    let (relayed, by) = until_relayed(&store, (STREAMS * PER_STREAM) as usize).await;
    let expected: Vec<i64> = (1..=PER_STREAM).collect();
    for stream in 0..STREAMS {
        let source = format!("Numbers.{stream}");
        assert_eq!(
            relayed.get(&source),
            Some(&expected),
            "{source} relayed exactly once each, in order"
        );
    }
    let killed = before_the_kill.get("first").copied().unwrap_or(0);
    assert!(
        killed > 0 && killed < relayed.len() * PER_STREAM as usize,
        "the first worker was killed in the middle of its work: {before_the_kill:?}"
    );
    assert!(by.get("second").is_some_and(|&n| n > 0), "{by:?}");
    workers[1].terminate(Duration::from_secs(10));
}
