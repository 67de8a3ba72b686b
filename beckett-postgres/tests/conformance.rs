//! The storage conformance suite on Postgres: every check of
//! `beckett-conformance`, each on a database of its own, and the state
//! checks again beside the in-memory message store.

use beckett_core::memory::MemoryStore;
use beckett_core::state::Storage;
use beckett_postgres::PostgresStore;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::sync::Arc;

/// Connections per test: enough for the concurrent checks' tasks to run
/// their statements at once rather than queue for a connection.
const CONNECTIONS: u32 = 12;

/// A migrated store on the test's database.
async fn store(options: PgPoolOptions, connect: PgConnectOptions) -> PostgresStore {
    let pool = options
        .max_connections(CONNECTIONS)
        .connect_with(connect)
        .await
        .expect("connecting to the test database");
    beckett_postgres::migrate(&pool)
        .await
        .expect("migrating the test database");
    PostgresStore::new(pool)
}

beckett_conformance::message_store_tests! {
    #[sqlx::test(migrations = false)]
    async fn messages(options: PgPoolOptions, connect: PgConnectOptions) -> PostgresStore {
        store(options, connect).await
    }
}

beckett_conformance::state_store_tests! {
    #[sqlx::test(migrations = false)]
    async fn state(options: PgPoolOptions, connect: PgConnectOptions) -> Storage {
        let store = Arc::new(store(options, connect).await);
        Storage::together(store)
    }
}

beckett_conformance::state_store_tests! {
    #[sqlx::test(migrations = false)]
    async fn state_beside_memory(options: PgPoolOptions, connect: PgConnectOptions) -> Storage {
        let state = Arc::new(store(options, connect).await);
        Storage::beside(Arc::new(MemoryStore::new()), state)
    }
}
