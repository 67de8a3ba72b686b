//! The global order never skips a message whose transaction commits late,
//! and never waits for a transaction that writes nothing.

mod common;

use beckett::{Envelope, ExpectedVersion, GlobalCursor, GlobalRead, MessageStorage, PostgresStore};
use common::{counted, store, store_with_connections};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::time::Duration;

fn streams(messages: &[Envelope]) -> Vec<&str> {
    messages.iter().map(|m| m.stream.as_str()).collect()
}

async fn read(store: &PostgresStore, cursor: &GlobalCursor) -> GlobalRead {
    store.read_global(cursor, 100).await.unwrap()
}

#[sqlx::test(migrations = false)]
async fn late_commit_is_read_after_what_passed_it(pool: PgPool) {
    let store = store(pool.clone()).await;

    let mut a = pool.begin().await.unwrap();
    let a_appended = store
        .append_in(&mut a, "A-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();
    let b_appended = store
        .append("B-1", ExpectedVersion::Any, vec![counted(2)])
        .await
        .unwrap();
    assert!(a_appended.global_positions[0] < b_appended.global_positions[0]);

    let while_open = read(&store, &GlobalCursor::START).await;
    assert_eq!(
        streams(&while_open.messages),
        ["B-1"],
        "B waits for nothing"
    );
    let still_open = read(&store, &while_open.cursor).await;
    assert!(still_open.messages.is_empty());

    a.commit().await.unwrap();
    let after = read(&store, &still_open.cursor).await;
    assert_eq!(streams(&after.messages), ["A-1"], "A is not skipped");
    assert!(read(&store, &after.cursor).await.messages.is_empty());
}

#[sqlx::test(migrations = false)]
async fn rolled_back_transaction_is_owed_nothing(pool: PgPool) {
    let store = store(pool.clone()).await;

    let mut a = pool.begin().await.unwrap();
    store
        .append_in(&mut a, "A-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();
    store
        .append("B-1", ExpectedVersion::Any, vec![counted(2)])
        .await
        .unwrap();
    let first = read(&store, &GlobalCursor::START).await;
    assert_eq!(streams(&first.messages), ["B-1"]);

    a.rollback().await.unwrap();
    let after = read(&store, &first.cursor).await;
    assert!(
        after.messages.is_empty(),
        "nothing after B: {:?}",
        streams(&after.messages)
    );
    store
        .append("C-1", ExpectedVersion::Any, vec![counted(3)])
        .await
        .unwrap();
    assert_eq!(
        streams(&read(&store, &after.cursor).await.messages),
        ["C-1"]
    );
}

/// Y takes its transaction id before X but its position after X's, and
/// commits first. A reader following positions alone would return Y and
/// then never go back for X; the cursor owes X until it ends.
#[sqlx::test(migrations = false)]
async fn position_taken_before_an_older_transaction_is_not_skipped(pool: PgPool) {
    let store = store(pool.clone()).await;
    sqlx::query("CREATE TABLE side (id int)")
        .execute(&pool)
        .await
        .unwrap();

    let mut y = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO side VALUES (1)")
        .execute(&mut *y)
        .await
        .unwrap();
    let mut x = pool.begin().await.unwrap();
    let x_appended = store
        .append_in(&mut x, "X-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();
    let y_appended = store
        .append_in(&mut y, "Y-1", ExpectedVersion::Any, vec![counted(2)])
        .await
        .unwrap();
    assert!(x_appended.global_positions[0] < y_appended.global_positions[0]);
    y.commit().await.unwrap();

    let first = read(&store, &GlobalCursor::START).await;
    assert_eq!(streams(&first.messages), ["Y-1"]);

    x.commit().await.unwrap();
    let rest = read(&store, &first.cursor).await;
    assert_eq!(streams(&rest.messages), ["X-1"]);
}

/// Transactions that hold an id and write no message, in another database
/// and in this one, idle in transaction: readers do not wait for them.
#[sqlx::test(migrations = false)]
async fn transactions_that_write_no_message_delay_nothing(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let store = store(options.connect_with(connect.clone()).await.unwrap()).await;
    let held = common::hold_transaction_ids(&connect).await;

    store
        .append("Flowing-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();
    let first = read(&store, &GlobalCursor::START).await;
    assert_eq!(streams(&first.messages), ["Flowing-1"]);
    store
        .append("Flowing-1", ExpectedVersion::Any, vec![counted(2)])
        .await
        .unwrap();
    let second = read(&store, &first.cursor).await;
    assert_eq!(streams(&second.messages), ["Flowing-1"]);

    common::end_transactions(held).await;
}

/// A transaction that appended many messages and commits late is read
/// through across several reads, from where each stopped.
#[sqlx::test(migrations = false)]
async fn a_late_transaction_is_read_through_in_batches(pool: PgPool) {
    let store = store(pool.clone()).await;
    let mut late = pool.begin().await.unwrap();
    let messages = (0..25).map(counted).collect();
    store
        .append_in(&mut late, "Late-1", ExpectedVersion::Any, messages)
        .await
        .unwrap();
    store
        .append("Early-1", ExpectedVersion::Any, vec![counted(100)])
        .await
        .unwrap();
    let mut cursor = read(&store, &GlobalCursor::START).await.cursor;
    late.commit().await.unwrap();

    let mut seen = Vec::new();
    loop {
        let batch = store.read_global(&cursor, 10).await.unwrap();
        cursor = batch.cursor;
        if batch.messages.is_empty() {
            break;
        }
        seen.extend(batch.messages.iter().map(|m| m.position));
    }
    assert_eq!(seen, (1..=25).collect::<Vec<_>>());
}

/// Appenders commit and roll back at random moments while a reader follows
/// the global order: it sees every committed message once and no other.
#[sqlx::test(migrations = false)]
async fn concurrent_reader_sees_every_committed_message_once(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    const WRITERS: i64 = 8;
    const APPENDS: i64 = 40;
    let store = store_with_connections(options, connect, WRITERS as u32 + 2).await;

    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut committed = Vec::new();
                for i in 0..APPENDS {
                    let n = writer * 1000 + i;
                    let stream = format!("Writer{}-{}", writer, i % 3);
                    let mut tx = store.pool().begin().await.unwrap();
                    store
                        .append_in(&mut tx, &stream, ExpectedVersion::Any, vec![counted(n)])
                        .await
                        .unwrap();
                    // Hold some transactions open so others commit past them.
                    tokio::time::sleep(Duration::from_millis(((n * 7919) % 13) as u64)).await;
                    if n % 5 == 0 {
                        tx.rollback().await.unwrap();
                    } else {
                        tx.commit().await.unwrap();
                        committed.push(n);
                    }
                }
                committed
            })
        })
        .collect();

    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut cursor = GlobalCursor::START;
            let total = WRITERS * APPENDS * 4 / 5;
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while (seen.len() as i64) < total && std::time::Instant::now() < deadline {
                let batch = store.read_global(&cursor, 7).await.unwrap();
                cursor = batch.cursor;
                if batch.messages.is_empty() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                seen.extend(
                    batch
                        .messages
                        .iter()
                        .map(|m| m.decode::<common::Counted>().unwrap().n),
                );
            }
            seen
        })
    };

    let mut committed = BTreeSet::new();
    for writer in writers {
        committed.extend(writer.await.unwrap());
    }
    let seen = reader.await.unwrap();
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a message was read twice");
    assert_eq!(unique, committed, "read set differs from committed set");
}
