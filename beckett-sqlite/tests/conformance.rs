//! The storage conformance suite on SQLite: every check, each on a
//! database of its own, in a file and in memory, and the state checks
//! beside the in-memory message store.

use beckett_sqlite::SqliteStore;

/// A store in a new file of the target's temporary directory.
fn in_a_file() -> SqliteStore {
    let name = format!("conformance-{}.db", uuid::Uuid::now_v7());
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    SqliteStore::open(path.to_str().expect("a UTF-8 path")).expect("opening the store")
}

beckett_conformance::message_store_tests! {
    #[tokio::test(flavor = "multi_thread")]
    async fn messages() -> SqliteStore {
        in_a_file()
    }
}

beckett_conformance::message_store_tests! {
    #[tokio::test(flavor = "multi_thread")]
    async fn messages_in_memory() -> SqliteStore {
        SqliteStore::in_memory().expect("opening the store")
    }
}

beckett_conformance::state_store_tests! {
    #[tokio::test(flavor = "multi_thread")]
    async fn state() -> beckett_core::state::Storage {
        let store = std::sync::Arc::new(in_a_file());
        beckett_core::state::Storage::together(store)
    }
}

beckett_conformance::state_store_tests! {
    #[tokio::test(flavor = "multi_thread")]
    async fn state_beside_memory() -> beckett_core::state::Storage {
        let messages = std::sync::Arc::new(beckett_core::memory::MemoryStore::new());
        let state = std::sync::Arc::new(in_a_file());
        beckett_core::state::Storage::beside(messages, state)
    }
}
