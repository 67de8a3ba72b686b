//! The message store's checks on the in-memory store, which is also the
//! model a store of one's own can follow.

use beckett_core::memory::MemoryStore;

beckett_conformance::message_store_tests! {
    #[tokio::test(flavor = "multi_thread")]
    async fn messages() -> MemoryStore {
        MemoryStore::new()
    }
}
