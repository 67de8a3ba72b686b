//! The example's message store of the application's own, a file of JSON
//! lines, holds to every promise of a message store, and keeps its
//! messages across reopening, dropping only a last append cut short.

#[path = "../../examples/own_message_store/json_lines.rs"]
mod json_lines;

use beckett::{Error, ExpectedVersion, MessageStorage, NewMessage};
use json_lines::JsonLinesStore;
use std::io::Write;
use std::path::PathBuf;

/// A path for a new file in the target's temporary directory.
fn new_file() -> PathBuf {
    let name = format!("own-store-{}.jsonl", uuid::Uuid::now_v7());
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

beckett_conformance::message_store_tests! {
    #[tokio::test(flavor = "multi_thread")]
    async fn messages() -> JsonLinesStore {
        JsonLinesStore::open(new_file()).unwrap()
    }
}

fn ping(n: i64) -> NewMessage {
    NewMessage::from_json("Ping", serde_json::json!({ "n": n }))
}

#[tokio::test]
async fn reopened_it_holds_what_was_appended() {
    let path = new_file();
    let store = JsonLinesStore::open(&path).unwrap();
    let first = store.append("Ping-1", ExpectedVersion::NoStream, vec![ping(1), ping(2)]);
    first.await.unwrap();
    store
        .append("Ping-2", ExpectedVersion::NoStream, vec![ping(3)])
        .await
        .unwrap();
    let before = store
        .read_global(&beckett::GlobalCursor::START, 10)
        .await
        .unwrap();
    drop(store);

    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(br#"{"stream":"Ping-1","timestamp":"#)
        .unwrap();
    let store = JsonLinesStore::open(&path).unwrap();
    let after = store
        .read_global(&beckett::GlobalCursor::START, 10)
        .await
        .unwrap();
    assert_eq!(
        after, before,
        "the messages read back, the line cut short dropped"
    );
    let again = store
        .append("Ping-1", ExpectedVersion::Exact(2), vec![ping(4)])
        .await
        .unwrap();
    assert_eq!(again.stream_version, 3);
    assert_eq!(again.global_positions, [4]);
    drop(store);
    let store = JsonLinesStore::open(&path).unwrap();
    let reopened = store
        .read_global(&beckett::GlobalCursor::START, 10)
        .await
        .unwrap();
    assert_eq!(
        reopened.messages.len(),
        4,
        "the messages after an append past a cut line"
    );
    drop(store);

    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replacen("\"Ping-2\"", "7", 1);
    std::fs::write(&path, broken).unwrap();
    let refused = JsonLinesStore::open(&path).map(|_| ()).unwrap_err();
    assert!(
        matches!(&refused, Error::Database { .. }) && refused.to_string().contains("line 2"),
        "opening a file with a bad line: {refused}"
    );
}
