//! The checkpointer copies committed messages from the log into the
//! database file while the store stays open, so the writer need not.

use beckett_core::{ExpectedVersion, MessageStorage, NewMessage};
use beckett_sqlite::SqliteStore;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn the_log_reaches_the_file_while_the_store_is_open() {
    let name = format!("checkpointed-{}.db", uuid::Uuid::now_v7());
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let store = SqliteStore::open(path.to_str().unwrap()).unwrap();
    let size = || std::fs::metadata(&path).unwrap().len();
    let empty = size();
    for n in 0..50 {
        let messages = (0..100)
            .map(|i| {
                NewMessage::from_json(
                    "Filler",
                    serde_json::json!({ "n": n, "i": i, "pad": "x".repeat(100) }),
                )
            })
            .collect();
        store
            .append(&format!("Filler-{n}"), ExpectedVersion::NoStream, messages)
            .await
            .unwrap();
    }
    // 5,000 messages of some 200 bytes: a megabyte, far short of the log
    // size at which the writer would checkpoint by itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    while size() < empty + 1_000_000 {
        assert!(
            Instant::now() < deadline,
            "the database file holds {} bytes, {empty} when empty, 10 s after a megabyte was committed",
            size()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
