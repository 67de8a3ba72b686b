//! The global order never skips a message whose transaction commits late.

mod common;

use beckett::{Envelope, ExpectedVersion, GlobalCursor, MessageStorage};
use common::{counted, read_global_until, store, store_with_connections};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::time::Duration;

fn streams(messages: &[Envelope]) -> Vec<&str> {
    messages.iter().map(|m| m.stream.as_str()).collect()
}

#[sqlx::test(migrations = false)]
async fn late_commit_is_not_skipped(pool: PgPool) {
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

    let while_open = store.read_global(GlobalCursor::START, 100).await.unwrap();
    assert!(
        while_open.is_empty(),
        "B passed open A: {:?}",
        streams(&while_open)
    );

    a.commit().await.unwrap();
    let read = read_global_until(&store, 2).await;
    assert_eq!(streams(&read), ["A-1", "B-1"]);
    assert!(read[0].global_position < read[1].global_position);
}

#[sqlx::test(migrations = false)]
async fn rolled_back_transaction_does_not_hold_the_order_back(pool: PgPool) {
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
    assert!(store
        .read_global(GlobalCursor::START, 100)
        .await
        .unwrap()
        .is_empty());

    a.rollback().await.unwrap();
    let read = read_global_until(&store, 1).await;
    assert_eq!(streams(&read), ["B-1"]);
    let after = store.read_global(read[0].cursor(), 100).await.unwrap();
    assert!(after.is_empty(), "nothing after B: {:?}", streams(&after));
}

/// Y takes its transaction id before X but its position after X's, and
/// commits first. A reader following positions alone would return Y and
/// then never go back for X; the cursor's transaction order does.
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

    let first = read_global_until(&store, 1).await;
    assert_eq!(streams(&first), ["Y-1"]);

    x.commit().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let rest = loop {
        let rest = store.read_global(first[0].cursor(), 100).await.unwrap();
        if !rest.is_empty() || std::time::Instant::now() > deadline {
            break rest;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(streams(&rest), ["X-1"]);
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
                let batch = store.read_global(cursor, 7).await.unwrap();
                if let Some(last) = batch.last() {
                    assert!(last.cursor() > cursor);
                    cursor = last.cursor();
                } else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                seen.extend(
                    batch
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
