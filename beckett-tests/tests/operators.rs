//! Operators' control of running subscriptions: pause and resume, replay
//! from the start and a reset to the end, retry and skip of every failed
//! stream a filter matches, and the release of a stuck reservation.

mod common;

use beckett::subscription::{
    CheckpointFilter, CheckpointStatus, Checkpoints, ResetOutcome, ResetTo, Subscriptions,
};
use beckett::{Context, ExpectedVersion, MessageStorage, PostgresStore};
use common::{counted, eventually, handled, record, store, Counted};
use sqlx::PgPool;
use std::time::Duration;

#[beckett::subscription(group = "Replayed", messages(Counted))]
async fn replayed(_: Counted, ctx: Context) -> Result<(), sqlx::Error> {
    record(&ctx).await
}

/// 5 ms a message.
#[beckett::subscription(group = "Paused", messages(Counted))]
async fn paused(_: Counted, ctx: Context) -> Result<(), sqlx::Error> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    record(&ctx).await
}

/// Refuses negative numbers, and times out on 0, until healed.
#[beckett::subscription(group = "Bulk", messages(Counted), max_retries = 0)]
async fn picky(counted: Counted, ctx: Context) -> Result<(), beckett::BoxError> {
    let healed: bool = sqlx::query_scalar("SELECT EXISTS (SELECT FROM healed)")
        .fetch_one(common::pool(&ctx))
        .await?;
    match counted.n {
        n if n < 0 && !healed => Err(format!("{n} refused").into()),
        0 if !healed => Err("timed out on 0".into()),
        _ => Ok(record(&ctx).await?),
    }
}

/// Hangs on its first call, for longer than the test.
#[beckett::subscription(group = "Stuck", messages(Counted))]
async fn stuck(_: Counted, ctx: Context) -> Result<(), beckett::BoxError> {
    let calls: i64 = sqlx::query_scalar("UPDATE calls SET n = n + 1 RETURNING n")
        .fetch_one(common::pool(&ctx))
        .await?;
    if calls == 1 {
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
    Ok(record(&ctx).await?)
}

/// Runs `group` with the test's tables in place.
async fn start(
    pool: &PgPool,
    group: &str,
    configure: impl FnOnce(beckett::Builder) -> beckett::Builder,
) -> common::Running {
    common::create_handled(pool).await;
    for table in [
        "CREATE TABLE IF NOT EXISTS healed ()",
        "CREATE TABLE IF NOT EXISTS calls AS SELECT 0::bigint AS n",
    ] {
        sqlx::query(table).execute(pool).await.unwrap();
    }
    let running = common::run_group(pool, group, configure);
    // Registered once the subscription is listed.
    let subscriptions = Subscriptions::new(PostgresStore::new(pool.clone()));
    eventually("the subscription is registered", || async {
        !subscriptions.list(Some(group)).await.unwrap().is_empty()
    })
    .await;
    running
}

async fn append(store: &PostgresStore, stream: &str, numbers: impl IntoIterator<Item = i64>) {
    let messages = numbers.into_iter().map(counted).collect();
    store
        .append(stream, ExpectedVersion::Any, messages)
        .await
        .unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_reset_to_the_start_handles_every_message_again(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = start(&pool, "Replayed", |b| b).await;
    let streams = ["Replay-1", "Replay-2", "Replay-3"];
    for stream in streams {
        append(&store, stream, 1..=4).await;
    }
    let all_handled = |count: usize| {
        let pool = pool.clone();
        async move {
            let mut total = 0;
            for stream in streams {
                total += handled(&pool, stream).await.len();
            }
            total == count
        }
    };
    eventually("every message is handled", || all_handled(12)).await;

    let subscriptions = Subscriptions::new(store.clone());
    let outcome = subscriptions
        .reset("Replayed", "replayed", ResetTo::Start)
        .await
        .unwrap();
    assert_eq!(outcome, ResetOutcome::Done);
    eventually("every message is handled again", || all_handled(24)).await;
    for stream in streams {
        assert_eq!(
            handled(&pool, stream).await,
            [1, 2, 3, 4, 1, 2, 3, 4],
            "{stream}, handled and replayed in order"
        );
    }
    let listed = subscriptions.list(Some("Replayed")).await.unwrap();
    assert!(
        !listed[0].paused,
        "the subscription resumed after its reset"
    );

    let outcome = subscriptions
        .reset("Replayed", "replayed", ResetTo::End)
        .await
        .unwrap();
    assert_eq!(outcome, ResetOutcome::Done);
    append(&store, "Replay-1", [5]).await;
    append(&store, "Replay-4", [1]).await;
    eventually("the messages after the reset are handled", || async {
        handled(&pool, "Replay-4").await == [1] && handled(&pool, "Replay-1").await.len() == 9
    })
    .await;
    assert_eq!(
        handled(&pool, "Replay-1").await,
        [1, 2, 3, 4, 1, 2, 3, 4, 5],
        "reset to the end, only the message after"
    );
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_paused_subscription_stops_after_its_batch_and_resumes(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = start(&pool, "Paused", |b| b.batch_size(10)).await;
    let subscriptions = Subscriptions::new(store.clone());
    append(&store, "Deep-1", 1..=400).await;
    eventually("handling has begun", || async {
        !handled(&pool, "Deep-1").await.is_empty()
    })
    .await;
    assert!(subscriptions.pause("Paused", "paused").await.unwrap());
    // Once the batch under way ends, nothing more is handled: the count
    // holds still for a while.
    let mut seen = usize::MAX;
    for _ in 0..40 {
        let now = handled(&pool, "Deep-1").await.len();
        if now == seen {
            break;
        }
        seen = now;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped = handled(&pool, "Deep-1").await.len();
    assert_eq!(stopped, seen, "handling went on after the pause");
    assert!(
        stopped < 400,
        "a paused subscription handled all 400 messages"
    );
    let listed = &subscriptions.list(Some("Paused")).await.unwrap()[0];
    assert!(listed.paused && listed.lagging == 1, "listed: {listed:?}");

    assert!(subscriptions.resume("Paused", "paused").await.unwrap());
    eventually("the rest is handled once resumed", || async {
        handled(&pool, "Deep-1").await.len() >= 400
    })
    .await;
    assert_eq!(
        handled(&pool, "Deep-1").await,
        (1..=400).collect::<Vec<_>>(),
        "handled once each, in order, across the pause"
    );
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn failed_streams_are_retried_and_skipped_by_filter(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = start(&pool, "Bulk", |b| b).await;
    append(&store, "Order-1", [-1, 1]).await;
    append(&store, "Order-2", [0, 1]).await;
    append(&store, "Invoice-1", [-2, 1]).await;
    append(&store, "Order-3", [5]).await;
    let checkpoints = Checkpoints::new(store.clone());
    let failed = CheckpointFilter::default()
        .group("Bulk")
        .status(CheckpointStatus::Failed);
    eventually("three streams fail", || async {
        checkpoints.count(&failed).await.unwrap() == 3
    })
    .await;
    assert_eq!(handled(&pool, "Order-3").await, [1]);
    let refused_orders = failed
        .clone()
        .stream_prefix("Order-")
        .error_containing("REFUSED");
    assert_eq!(checkpoints.count(&refused_orders).await.unwrap(), 1);
    sqlx::query("INSERT INTO healed DEFAULT VALUES")
        .execute(&pool)
        .await
        .unwrap();

    assert_eq!(checkpoints.retry(&refused_orders).await.unwrap(), 1);
    eventually("the retried stream is handled", || async {
        handled(&pool, "Order-1").await == [1, 2]
    })
    .await;
    assert_eq!(
        checkpoints.count(&failed).await.unwrap(),
        2,
        "a retry reached beyond its filter"
    );

    assert_eq!(checkpoints.skip(&failed).await.unwrap(), 2);
    eventually("the skipped streams go on", || async {
        handled(&pool, "Order-2").await == [2] && handled(&pool, "Invoice-1").await == [2]
    })
    .await;
    let skipped: Vec<(String, i64)> = sqlx::query_as(
        "SELECT stream_name, stream_position FROM beckett.skipped_messages ORDER BY stream_name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        skipped,
        [("Invoice-1".to_owned(), 1), ("Order-2".to_owned(), 1)],
        "the skips recorded"
    );
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_released_reservation_is_handled_elsewhere(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = start(&pool, "Stuck", |b| {
        b.reservation_timeout(Duration::from_secs(600))
            .shutdown_grace(Duration::from_millis(100))
    })
    .await;
    append(&store, "Stuck-1", [1]).await;
    let checkpoints = Checkpoints::new(store.clone());
    let held = CheckpointFilter::default().group("Stuck").stream("Stuck-1");
    eventually("the stream is held", || async {
        let listed = checkpoints.list(&held, None, 1).await.unwrap();
        listed.first().is_some_and(|c| c.reserved_until.is_some())
    })
    .await;
    assert_eq!(checkpoints.release(&held).await.unwrap(), 1);
    eventually(
        "the released stream is handled by a second call",
        || async { handled(&pool, "Stuck-1").await == [1] },
    )
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// A bulk action locks its checkpoints in the order of their keys' bytes,
/// as the leader's raise does, so neither holds a row the other waits for
/// while waiting itself: the two never deadlock, whatever order the rows
/// were written in.
#[sqlx::test(migrations = false)]
async fn bulk_actions_lock_in_the_leaders_order(pool: PgPool) {
    let store = store(pool.clone()).await;
    // Written in the opposite order to their keys'.
    sqlx::query(
        "INSERT INTO beckett.checkpoints
             (group_name, subscription, stream_name, stream_version, status, last_error)
         VALUES ('Locks', 'held', 'Lock-b', 1, 'failed', 'x'),
                ('Locks', 'held', 'Lock-a', 1, 'failed', 'x')",
    )
    .execute(&pool)
    .await
    .unwrap();
    // A raise under way: it has locked the first key and goes on to the next.
    let mut raise = pool.begin().await.unwrap();
    let lock = |stream: &'static str| {
        sqlx::query(
            "SELECT FROM beckett.checkpoints
             WHERE group_name = 'Locks' AND stream_name = $1 FOR UPDATE",
        )
        .bind(stream)
    };
    lock("Lock-a").execute(&mut *raise).await.unwrap();
    let checkpoints = Checkpoints::new(store.clone());
    let retrying = tokio::spawn(async move {
        let failed = CheckpointFilter::default()
            .group("Locks")
            .status(CheckpointStatus::Failed);
        checkpoints.retry(&failed).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("SET LOCAL lock_timeout = '5s'")
        .execute(&mut *raise)
        .await
        .unwrap();
    lock("Lock-b")
        .execute(&mut *raise)
        .await
        .expect("the bulk retry holds the next key while it waits for the first");
    raise.commit().await.unwrap();
    assert_eq!(retrying.await.unwrap().unwrap(), 2, "both retried");
}

/// A retry wakes the group's consumers, as new messages do: with polls a
/// minute apart, the retried stream is handled at once.
#[sqlx::test(migrations = false)]
async fn a_retry_wakes_the_consumers(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = start(&pool, "Bulk", |b| b.poll_interval(Duration::from_secs(60))).await;
    append(&store, "Order-9", [-9]).await;
    let checkpoints = Checkpoints::new(store.clone());
    let failed = CheckpointFilter::default()
        .group("Bulk")
        .status(CheckpointStatus::Failed);
    eventually("the stream fails", || async {
        checkpoints.count(&failed).await.unwrap() == 1
    })
    .await;
    sqlx::query("INSERT INTO healed DEFAULT VALUES")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(checkpoints.retry(&failed).await.unwrap(), 1);
    eventually(
        "the retried stream is handled before the next poll",
        || async { handled(&pool, "Order-9").await == [1] },
    )
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
}
