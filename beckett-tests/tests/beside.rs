//! The engine's state beside a message store elsewhere: handlers run on
//! messages held in memory, with the state in SQLite (as `TestRun` runs
//! them) or in Postgres. Appends, scheduled messages and retries reach the
//! message store; a subscription that starts at the end starts at its
//! head; a handler that fails for good leaves its checkpoint failed.

mod common;

use beckett::memory::MemoryStore;
use beckett::state::EngineStorage;
use beckett::testing::TestRun;
use beckett::{
    Beckett, BoxError, Context, Envelope, ExpectedVersion, Message, MessageStorage, NewMessage,
    PostgresStore,
};
use common::{counted, eventually, Counted, ItemAdded};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the handlers write, naming the message they handled.
#[derive(Debug, Clone, PartialEq, Message, Serialize, Deserialize)]
struct Handled {
    n: i64,
    at: i64,
}

/// Echoes each message to `Echo-<stream>` and schedules it, due now, to
/// `Later-<stream>`, in its transaction: beside a message store elsewhere
/// the echo goes to that store, and the scheduled message commits with
/// the checkpoint.
#[beckett::subscription(group = "Beside", messages(Counted), transactional)]
async fn echo(counted: Counted, ctx: Context) -> beckett::Result<()> {
    let handled = Handled {
        n: counted.n,
        at: ctx.position(),
    };
    let stream = ctx.stream().to_owned();
    ctx.append(
        &format!("Echo-{stream}"),
        ExpectedVersion::Any,
        handled.clone(),
    )
    .await?;
    ctx.schedule(&format!("Later-{stream}"), handled, Duration::ZERO)
        .await?;
    Ok(())
}

/// Records each message of the `Tail` category it is handed, from the end.
#[beckett::subscription(group = "BesideLate", category = "Tail", start = "end")]
async fn tail(message: Envelope, ctx: Context) -> beckett::Result<()> {
    let handled = Handled {
        n: message.decode::<Counted>()?.n,
        at: ctx.position(),
    };
    ctx.append(
        &format!("Tailed-{}", ctx.stream()),
        ExpectedVersion::Any,
        handled,
    )
    .await?;
    Ok(())
}

/// Fails every message, with no retry.
#[beckett::subscription(group = "BesideDoomed", messages(ItemAdded), max_retries = 0)]
async fn doomed(_item: ItemAdded) -> Result<(), BoxError> {
    Err("this handler always fails".into())
}

/// The `(n, at)` of each message of `stream`, in order.
async fn handled(store: &MemoryStore, stream: &str) -> Vec<(i64, i64)> {
    let read = store.read_stream(stream, 1, 1_000).await.unwrap();
    let decoded = read.iter().map(|m| m.decode::<Handled>().unwrap());
    decoded.map(|h| (h.n, h.at)).collect()
}

/// Appends `count` messages, numbered from 1, to `stream`, one at a time.
async fn append(store: &MemoryStore, stream: &str, count: i64) {
    for n in 1..=count {
        let appended = store.append(stream, ExpectedVersion::Any, vec![counted(n)]);
        appended.await.unwrap();
    }
}

/// What `echo` must have written for `count` messages of `stream`: each
/// echoed and delivered once, in order.
async fn assert_echoed(store: &MemoryStore, stream: &str, count: i64) {
    let expected: Vec<(i64, i64)> = (1..=count).map(|n| (n, n)).collect();
    let echoed = handled(store, &format!("Echo-{stream}")).await;
    assert_eq!(echoed, expected, "the echoes of `{stream}`");
    let mut delivered = handled(store, &format!("Later-{stream}")).await;
    delivered.sort();
    assert_eq!(
        delivered, expected,
        "the messages scheduled by `{stream}`'s handler"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn handlers_run_in_a_test_on_messages_in_memory() {
    let builder = Beckett::builder()
        .groups(["Beside", "BesideLate", "BesideDoomed"])
        .retry_delays(Duration::from_millis(10), Duration::from_millis(50));
    let run = TestRun::start(builder).await.unwrap();
    let store = run.store();
    append(store, "Order-1", 5).await;
    append(store, "Order-2", 3).await;
    append(store, "Tail-1", 2).await;
    let item = ItemAdded {
        sku: "lamp".to_owned(),
        quantity: 1,
    };
    let item = NewMessage::new(&item).unwrap();
    store
        .append("Cart-1", ExpectedVersion::NoStream, vec![item])
        .await
        .unwrap();
    run.settle().await;
    // Delivered by the scheduler, which settling does not wait for.
    eventually("the scheduled messages are delivered", || async {
        let delivered = store.read_stream("Later-Order-1", 1, 10).await.unwrap();
        delivered.len() == 5
    })
    .await;

    assert_echoed(store, "Order-1", 5).await;
    assert_echoed(store, "Order-2", 3).await;
    let tailed = handled(store, "Tailed-Tail-1").await;
    assert_eq!(
        tailed,
        [(1, 1), (2, 2)],
        "the tail of a stream new since the start"
    );
    let failed = run.failed().await.unwrap();
    let failed: Vec<(&str, &str, i64)> = failed
        .iter()
        .map(|f| (f.group.as_str(), f.stream.as_str(), f.stream_position))
        .collect();
    assert_eq!(
        failed,
        [("BesideDoomed", "Cart-1", 0)],
        "the failed checkpoints"
    );
    run.stop().await.unwrap();
}

#[sqlx::test(migrations = false)]
async fn the_state_in_postgres_follows_a_message_store_elsewhere(pool: PgPool) {
    let store = MemoryStore::new();
    append(&store, "Tail-1", 3).await;
    let stop = CancellationToken::new();
    let beckett = Beckett::builder()
        .pool(pool)
        .message_store(Arc::new(store.clone()))
        .groups(["Beside", "BesideLate"])
        .poll_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let running = tokio::spawn(beckett.run_until(stop.clone().cancelled_owned()));
    append(&store, "Order-1", 4).await;
    // The subscription from the end registers as the run starts: a stream
    // new since then starts at its beginning, and one written before after
    // what it held.
    eventually("the subscriptions are registered", || async {
        let echoed = handled(&store, "Echo-Order-1").await;
        echoed.len() == 4
    })
    .await;
    append(&store, "Tail-1", 2).await;
    append(&store, "Tail-2", 1).await;
    eventually("every message is handled", || async {
        let later = store.read_stream("Later-Order-1", 1, 10).await.unwrap();
        let tailed = store.read_stream("Tailed-Tail-2", 1, 10).await.unwrap();
        let tailed_old = store.read_stream("Tailed-Tail-1", 1, 10).await.unwrap();
        later.len() == 4 && tailed.len() == 1 && tailed_old.len() == 2
    })
    .await;

    assert_echoed(&store, "Order-1", 4).await;
    let tailed = handled(&store, "Tailed-Tail-1").await;
    let numbers: Vec<i64> = tailed.iter().map(|(_, at)| *at).collect();
    assert_eq!(
        numbers,
        [4, 5],
        "the positions of a stream written before the start"
    );
    assert_eq!(handled(&store, "Tailed-Tail-2").await, [(1, 1)]);
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_scheduled_message_with_unreadable_metadata_holds_back_no_other(pool: PgPool) {
    beckett::migrate(&pool).await.unwrap();
    let state = PostgresStore::new(pool.clone());
    let schedule = |n| {
        let due = beckett::scheduling::Due::In(Duration::ZERO);
        EngineStorage::schedule(&state, "Later-1", counted(n), due)
    };
    let broken = schedule(1).await.unwrap();
    let sound = schedule(2).await.unwrap();
    sqlx::query("UPDATE beckett.scheduled_messages SET metadata = '[1]' WHERE id = $1")
        .bind(broken)
        .execute(&pool)
        .await
        .unwrap();
    let taken = state.take_due(10, Duration::from_secs(60)).await.unwrap();
    let ids: Vec<_> = taken.iter().map(|d| d.message.id()).collect();
    assert_eq!(
        ids,
        [sound],
        "the messages taken beside one with unreadable metadata"
    );
}

#[sqlx::test(migrations = false)]
async fn a_scheduled_message_appended_but_not_recorded_is_delivered_once(pool: PgPool) {
    beckett::migrate(&pool).await.unwrap();
    let store = MemoryStore::new();
    let state = Arc::new(PostgresStore::new(pool));
    let storage = beckett::state::Storage::beside(Arc::new(store.clone()), state.clone());
    let due = || beckett::scheduling::Due::In(Duration::ZERO);
    let first = EngineStorage::schedule(&*state, "Later-1", counted(1), due())
        .await
        .unwrap();
    let second = EngineStorage::schedule(&*state, "Later-1", counted(2), due())
        .await
        .unwrap();
    // A scheduler takes both, appends the first, and dies.
    let taken = state.take_due(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(taken.len(), 2);
    let appended = vec![taken[0].message.clone()];
    store
        .append("Later-1", ExpectedVersion::Any, appended)
        .await
        .unwrap();

    eventually("the lease ends and both are delivered", || async {
        beckett::scheduling::deliver_due(&storage, 10)
            .await
            .unwrap()
            .moved
            == 2
    })
    .await;
    let ids: Vec<_> = store
        .read_stream("Later-1", 1, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        ids,
        [first, second],
        "each scheduled message appended once, in order"
    );
    assert_eq!(
        state.next_due().await.unwrap(),
        None,
        "nothing left scheduled"
    );
}

/// What `reply` appends for each message.
#[derive(Debug, Clone, PartialEq, Message, Serialize, Deserialize)]
struct Replied {
    n: i64,
}

/// Replies to each message, for `acknowledge` to handle in turn.
#[beckett::subscription(group = "SettleReply", messages(Counted))]
async fn reply(counted: Counted, ctx: Context) -> beckett::Result<()> {
    let replied = Replied { n: counted.n };
    ctx.append(
        &format!("Reply-{}", counted.n),
        ExpectedVersion::Any,
        replied,
    )
    .await?;
    Ok(())
}

/// Acknowledges each reply.
#[beckett::subscription(group = "SettleAcknowledge", messages(Replied))]
async fn acknowledge(replied: Replied, ctx: Context) -> beckett::Result<()> {
    let handled = Handled {
        n: replied.n,
        at: ctx.position(),
    };
    ctx.append(&format!("Ack-{}", replied.n), ExpectedVersion::Any, handled)
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn settling_waits_for_what_handlers_append() {
    // A handler's append may land between settling's reads; many runs
    // give that race its chances.
    for run in 0..40 {
        let builder = Beckett::builder().groups(["SettleReply", "SettleAcknowledge"]);
        let test = TestRun::start(builder).await.unwrap();
        append(test.store(), "Ping-1", 1).await;
        test.settle().await;
        let acks = test.store().read_stream("Ack-1", 1, 10).await.unwrap();
        assert_eq!(
            acks.len(),
            1,
            "the acknowledgement after settling, in run {run}"
        );
        test.stop().await.unwrap();
    }
}
