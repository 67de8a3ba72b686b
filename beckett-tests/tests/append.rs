//! Appending: expected versions, concurrency, batches, caller transactions
//! and metadata.

mod common;

use beckett::{Error, ExpectedVersion, MessageStorage, Metadata, NewMessage, PostgresStore};
use common::{counted, store, store_with_connections, Counted};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;

const TASKS: usize = 16;

async fn positions(store: &PostgresStore, stream: &str) -> Vec<i64> {
    let messages = store.read_stream(stream, 1, 10_000).await.unwrap();
    messages.iter().map(|m| m.position).collect()
}

#[sqlx::test(migrations = false)]
async fn concurrent_exact_appends_leave_no_gap(options: PgPoolOptions, connect: PgConnectOptions) {
    const ROUNDS: i64 = 20;
    let store = store_with_connections(options, connect, TASKS as u32 + 1).await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for round in 0..ROUNDS {
                    barrier.wait().await;
                    let message = counted(task as i64 * 1000 + round);
                    let outcome = store
                        .append("Race-1", ExpectedVersion::Exact(round), vec![message])
                        .await;
                    outcomes.push(outcome);
                }
                outcomes
            })
        })
        .collect();

    let mut winners = vec![0; ROUNDS as usize];
    for task in tasks {
        for (round, outcome) in task.await.unwrap().into_iter().enumerate() {
            match outcome {
                Ok(appended) => {
                    assert_eq!(appended.stream_version, round as i64 + 1);
                    winners[round] += 1;
                }
                Err(Error::WrongExpectedVersion {
                    stream,
                    expected,
                    actual,
                }) => {
                    assert_eq!(stream, "Race-1");
                    assert_eq!(expected, ExpectedVersion::Exact(round as i64));
                    assert_eq!(actual, round as i64 + 1, "a loser sees the winner's append");
                }
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
    }
    assert_eq!(
        winners,
        vec![1; ROUNDS as usize],
        "exactly one winner per round"
    );
    assert_eq!(
        positions(&store, "Race-1").await,
        (1..=ROUNDS).collect::<Vec<_>>()
    );
}

#[sqlx::test(migrations = false)]
async fn concurrent_any_appends_all_land(options: PgPoolOptions, connect: PgConnectOptions) {
    const APPENDS: i64 = 25;
    let store = store_with_connections(options, connect, TASKS as u32 + 1).await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS as i64)
        .map(|task| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                for i in 0..APPENDS {
                    // Every fifth append is a batch of three.
                    let batch: Vec<_> = if i % 5 == 0 {
                        (0..3)
                            .map(|k| counted(task * 10_000 + i * 10 + k))
                            .collect()
                    } else {
                        vec![counted(task * 10_000 + i * 10)]
                    };
                    store
                        .append("Crowd-1", ExpectedVersion::Any, batch)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    let expected_count = TASKS as i64 * (APPENDS + 2 * (APPENDS / 5));
    let messages = store.read_stream("Crowd-1", 1, 10_000).await.unwrap();
    let positions: Vec<i64> = messages.iter().map(|m| m.position).collect();
    assert_eq!(positions, (1..=expected_count).collect::<Vec<_>>());
    let values: BTreeSet<i64> = messages
        .iter()
        .map(|m| m.decode::<Counted>().unwrap().n)
        .collect();
    assert_eq!(
        values.len() as i64,
        expected_count,
        "every message landed once"
    );
}

#[sqlx::test(migrations = false)]
async fn batch_takes_consecutive_positions_in_order(pool: PgPool) {
    let store = store(pool).await;
    store
        .append("Batch-1", ExpectedVersion::Any, vec![counted(0)])
        .await
        .unwrap();
    let batch: Vec<_> = (1..=100).map(counted).collect();
    let ids: Vec<_> = batch.iter().map(NewMessage::id).collect();

    let appended = store
        .append("Batch-1", ExpectedVersion::Exact(1), batch)
        .await
        .unwrap();

    assert_eq!(appended.stream_version, 101);
    assert_eq!(appended.global_positions.len(), 100);
    assert!(appended.global_positions.windows(2).all(|w| w[0] < w[1]));
    let read = store.read_stream("Batch-1", 2, 1000).await.unwrap();
    assert_eq!(read.iter().map(|m| m.id).collect::<Vec<_>>(), ids);
    assert_eq!(
        read.iter().map(|m| m.global_position).collect::<Vec<_>>(),
        appended.global_positions
    );
    let values: Vec<i64> = read
        .iter()
        .map(|m| m.decode::<Counted>().unwrap().n)
        .collect();
    assert_eq!(values, (1..=100).collect::<Vec<_>>());
}

#[sqlx::test(migrations = false)]
async fn each_expected_version_is_enforced(pool: PgPool) {
    let store = store(pool).await;
    let append = |expected| store.append("Account-7", expected, vec![counted(1)]);

    let missing = append(ExpectedVersion::StreamExists).await.unwrap_err();
    assert!(matches!(
        missing,
        Error::WrongExpectedVersion { actual: 0, .. }
    ));
    assert_eq!(
        missing.to_string(),
        "wrong expected version for stream `Account-7`: expected an existing stream, \
         but the stream does not exist"
    );
    assert!(matches!(
        append(ExpectedVersion::Exact(3)).await,
        Err(Error::WrongExpectedVersion { actual: 0, .. })
    ));

    append(ExpectedVersion::NoStream).await.unwrap();
    let exists = append(ExpectedVersion::NoStream).await.unwrap_err();
    assert_eq!(
        exists.to_string(),
        "wrong expected version for stream `Account-7`: expected no stream, \
         but the stream is at version 1"
    );
    assert!(matches!(
        append(ExpectedVersion::Exact(0)).await,
        Err(Error::WrongExpectedVersion { actual: 1, .. })
    ));

    assert_eq!(
        append(ExpectedVersion::StreamExists)
            .await
            .unwrap()
            .stream_version,
        2
    );
    let stale = append(ExpectedVersion::Exact(1)).await.unwrap_err();
    assert_eq!(
        stale.to_string(),
        "wrong expected version for stream `Account-7`: expected version 1, \
         but the stream is at version 2"
    );
    assert_eq!(
        append(ExpectedVersion::Exact(2))
            .await
            .unwrap()
            .stream_version,
        3
    );
    assert_eq!(
        append(ExpectedVersion::Any).await.unwrap().stream_version,
        4
    );
    assert_eq!(
        positions(&store, "Account-7").await,
        [1, 2, 3, 4],
        "refused appends wrote nothing"
    );

    let fresh = store
        .append("Account-8", ExpectedVersion::Exact(0), vec![counted(1)])
        .await;
    assert_eq!(
        fresh.unwrap().stream_version,
        1,
        "Exact(0) creates a stream"
    );
}

#[sqlx::test(migrations = false)]
async fn empty_append_only_checks_the_version(pool: PgPool) {
    let store = store(pool).await;
    let checked = store
        .append("Empty-1", ExpectedVersion::NoStream, vec![])
        .await
        .unwrap();
    assert_eq!(checked.stream_version, 0);
    assert!(checked.global_positions.is_empty());
    store
        .append("Empty-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();
    assert!(matches!(
        store
            .append("Empty-1", ExpectedVersion::NoStream, vec![])
            .await,
        Err(Error::WrongExpectedVersion { actual: 1, .. })
    ));
    assert_eq!(positions(&store, "Empty-1").await, [1]);
}

async fn create_orders_table(pool: &PgPool) {
    sqlx::query("CREATE TABLE orders (id bigint PRIMARY KEY)")
        .execute(pool)
        .await
        .unwrap();
}

async fn orders(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Opens a transaction that inserts order 1 and appends to its stream.
async fn order_placed_in_transaction(
    store: &PostgresStore,
    pool: &PgPool,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    create_orders_table(pool).await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO orders VALUES (1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let placed = vec![counted(1)];
    store
        .append_in(&mut tx, "Order-1", ExpectedVersion::NoStream, placed)
        .await
        .unwrap();
    tx
}

#[sqlx::test(migrations = false)]
async fn append_in_rolled_back_transaction_leaves_nothing(pool: PgPool) {
    let store = store(pool.clone()).await;
    let tx = order_placed_in_transaction(&store, &pool).await;
    tx.rollback().await.unwrap();

    assert_eq!(orders(&pool).await, 0);
    assert!(positions(&store, "Order-1").await.is_empty());
    let appended = store
        .append("Order-1", ExpectedVersion::NoStream, vec![counted(3)])
        .await;
    assert_eq!(
        appended.unwrap().stream_version,
        1,
        "the stream's version rolled back too"
    );
}

#[sqlx::test(migrations = false)]
async fn append_in_committed_transaction_lands_with_business_rows(pool: PgPool) {
    let store = store(pool.clone()).await;
    let mut tx = order_placed_in_transaction(&store, &pool).await;
    // A refused append does not abort the caller's transaction.
    let refused = store
        .append_in(
            &mut tx,
            "Order-1",
            ExpectedVersion::NoStream,
            vec![counted(2)],
        )
        .await;
    assert!(matches!(
        refused,
        Err(Error::WrongExpectedVersion { actual: 1, .. })
    ));
    sqlx::query("INSERT INTO orders VALUES (2)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(orders(&pool).await, 2);
    assert_eq!(positions(&store, "Order-1").await, [1]);
}

#[sqlx::test(migrations = false)]
async fn metadata_is_stored_with_every_message(pool: PgPool) {
    let store = store(pool).await;
    let (correlation, causation) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let mut metadata = Metadata::default();
    metadata.correlation_id = Some(correlation);
    metadata.causation_id = Some(causation);
    metadata.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
    metadata.insert("tenant", "acme").unwrap();
    metadata.insert("attempt", 2).unwrap();
    let messages = vec![
        counted(1).with_metadata(metadata.clone()),
        counted(2).with_metadata(metadata.clone()),
    ];
    store
        .append("Meta-1", ExpectedVersion::Any, messages)
        .await
        .unwrap();

    for message in store.read_stream("Meta-1", 1, 10).await.unwrap() {
        assert_eq!(message.metadata, metadata);
        assert_eq!(message.category(), "Meta");
    }
}

#[sqlx::test(migrations = false)]
async fn reserved_metadata_keys_are_refused(_pool: PgPool) {
    let mut metadata = Metadata::default();
    let error = metadata.insert("causation_id", "x").unwrap_err();
    assert!(matches!(error, Error::ReservedMetadataKey { ref key } if key == "causation_id"));
    assert!(
        error.to_string().contains("`causation_id` is reserved"),
        "{error}"
    );
}

#[sqlx::test(migrations = false)]
async fn invalid_stream_names_are_refused_and_write_nothing(pool: PgPool) {
    let store = store(pool.clone()).await;
    let too_long = "S".repeat(beckett::store::MAX_STREAM_NAME_BYTES + 1);
    let cases = [
        ("", "must not be empty"),
        ("Order-\u{0}1", "control characters"),
        ("Order\n-1", "control characters"),
        (too_long.as_str(), "513 bytes long; the limit is 512"),
    ];
    for (stream, reason) in cases {
        let error = store
            .append(stream, ExpectedVersion::Any, vec![counted(1)])
            .await
            .unwrap_err();
        assert!(matches!(error, Error::InvalidStreamName { .. }), "{error}");
        let text = error.to_string();
        assert!(
            text.contains(&format!("{stream:?}")) && text.contains(reason),
            "{text}"
        );
        assert!(matches!(
            store.read_stream(stream, 1, 10).await,
            Err(Error::InvalidStreamName { .. })
        ));
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM beckett.messages")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[sqlx::test(migrations = false)]
async fn invalid_message_type_names_are_refused(pool: PgPool) {
    let store = store(pool).await;
    for name in ["", " padded", "tab\there"] {
        let message = NewMessage::from_json(name, serde_json::json!({}));
        let batch = vec![counted(1), message];
        let error = store
            .append("Types-1", ExpectedVersion::Any, batch)
            .await
            .unwrap_err();
        assert!(matches!(error, Error::InvalidMessageType { .. }), "{error}");
        assert!(error.to_string().contains(&format!("{name:?}")), "{error}");
    }
    assert!(
        positions(&store, "Types-1").await.is_empty(),
        "no part of a refused batch lands"
    );
}

/// Closes the test database's connections other than the one asking, and
/// waits until they are gone.
async fn close_other_connections(pool: &PgPool) {
    let mut asking = pool.acquire().await.unwrap();
    let closed: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut *asking)
    .await
    .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid")
        .bind(&closed)
        .execute(&mut *asking)
        .await
        .unwrap();
    for _ in 0..100 {
        let open: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)")
                .bind(&closed)
                .fetch_one(&mut *asking)
                .await
                .unwrap();
        if open == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the closed connections are still open after 2 s");
}

/// A store that appended one message to `stream`, whose connections the
/// server then closed.
async fn store_whose_connections_closed(pool: &PgPool, stream: &str) -> PostgresStore {
    let store = store(pool.clone()).await;
    store
        .append(stream, ExpectedVersion::NoStream, vec![counted(1)])
        .await
        .unwrap();
    close_other_connections(pool).await;
    store
}

/// Appends outside a transaction run on connections of their own, so they
/// go through while handlers hold every connection of the pool.
#[sqlx::test(migrations = false)]
async fn appends_go_through_while_the_pool_is_busy(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let store = store_with_connections(options, connect, 4).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(store.pool().acquire().await.unwrap());
    }
    let append = store.append("Busy-1", ExpectedVersion::NoStream, vec![counted(1)]);
    let appended = tokio::time::timeout(Duration::from_secs(10), append).await;
    assert!(
        appended.is_ok_and(|appended| appended.is_ok()),
        "the append went through beside a busy pool"
    );
    drop(held);
}

/// After the server closed the store's connections (a restart, a proxy's
/// idle timeout), the next append opens a new one and succeeds.
#[sqlx::test(migrations = false)]
async fn appends_succeed_after_the_server_closed_idle_connections(pool: PgPool) {
    let store = store_whose_connections_closed(&pool, "Closed-1").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    store
        .append("Closed-1", ExpectedVersion::Exact(1), vec![counted(2)])
        .await
        .unwrap();
    assert_eq!(positions(&store, "Closed-1").await, [1, 2]);
}

/// An append on a connection the server closed a moment ago may fail; if
/// it does, it says so as a database error and writes nothing, and the next
/// append succeeds.
#[sqlx::test(migrations = false)]
async fn an_append_on_a_connection_just_closed_fails_cleanly_or_succeeds(pool: PgPool) {
    let store = store_whose_connections_closed(&pool, "Closed-2").await;
    let mut landed = vec![1];
    match store
        .append("Closed-2", ExpectedVersion::Any, vec![counted(2)])
        .await
    {
        Ok(_) => landed.push(2),
        Err(Error::Database { .. }) => {}
        Err(other) => panic!("not a database error: {other}"),
    }
    store
        .append("Closed-2", ExpectedVersion::Any, vec![counted(3)])
        .await
        .unwrap();
    landed.push(3);
    let read = store.read_stream("Closed-2", 1, 10).await.unwrap();
    let read: Vec<i64> = read
        .iter()
        .map(|m| m.decode::<Counted>().unwrap().n)
        .collect();
    assert_eq!(read, landed);
}

/// When the server refuses the store a connection of its own for appends
/// (here, the role is at its connection limit), appends run on the pool's.
#[sqlx::test(migrations = false)]
async fn appends_use_the_pool_when_no_connection_of_their_own_opens(pool: PgPool) {
    beckett::migrate(&pool).await.unwrap();
    let role: String =
        sqlx::query_scalar("SELECT 'limited_' || replace(gen_random_uuid()::text, '-', '')")
            .fetch_one(&pool)
            .await
            .unwrap();
    for statement in [
        format!("CREATE ROLE {role} LOGIN CONNECTION LIMIT 1"),
        format!("GRANT USAGE ON SCHEMA beckett TO {role}"),
        format!("GRANT ALL ON ALL TABLES IN SCHEMA beckett TO {role}"),
    ] {
        sqlx::query(&statement).execute(&pool).await.unwrap();
    }
    let limited = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(pool.connect_options().as_ref().clone().username(&role))
        .await
        .unwrap();
    let store = PostgresStore::new(limited.clone());
    let appended = store
        .append("Limited-1", ExpectedVersion::NoStream, vec![counted(1)])
        .await;
    limited.close().await;
    for statement in [format!("DROP OWNED BY {role}"), format!("DROP ROLE {role}")] {
        sqlx::query(&statement).execute(&pool).await.unwrap();
    }
    appended.unwrap();
    assert_eq!(positions(&PostgresStore::new(pool), "Limited-1").await, [1]);
}
