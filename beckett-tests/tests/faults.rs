//! Subscriptions at the edges users reach: messages written by other
//! programs, long transactions anywhere on the server, subscriptions added
//! to a group with a large store.

mod common;

use beckett::{Context, Envelope, ExpectedVersion, MessageStorage, NewMessage};
use common::{counted, eventually, handled, record, store, Counted, ItemAdded, Running};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::time::Duration;

#[beckett::subscription(group = "Legacy", messages(ItemAdded), max_retries = 0)]
async fn items(_: ItemAdded, ctx: Context) -> Result<(), sqlx::Error> {
    record(&ctx).await
}

#[beckett::subscription(group = "Flow", messages(Counted))]
async fn flow(_: Counted, ctx: Context) -> Result<(), sqlx::Error> {
    record(&ctx).await
}

#[beckett::subscription(group = "Cohorts", category = "Live", start = "end")]
async fn live(_: Envelope, ctx: Context) -> Result<(), sqlx::Error> {
    record(&ctx).await
}

#[beckett::subscription(group = "Cohorts", category = "Backlog")]
async fn newcomer(_: Envelope) -> Result<(), beckett::BoxError> {
    Ok(())
}

/// Swallows the error of a statement that aborts its transaction, and
/// returns Ok.
#[beckett::subscription(group = "Aborted", messages(Counted), transactional, max_retries = 1)]
async fn swallows_errors(_: Counted, ctx: Context) -> Result<(), beckett::BoxError> {
    let mut guard = ctx.transaction().expect("transactional");
    let tx = common::postgres(&mut guard);
    let _ = sqlx::query("SELECT 1 / 0").execute(&mut *tx).await;
    Ok(())
}

/// Writes a row its deferred constraint refuses at commit.
#[beckett::subscription(group = "Deferred", messages(Counted), transactional, max_retries = 1)]
async fn breaks_a_deferred_constraint(_: Counted, ctx: Context) -> Result<(), beckett::BoxError> {
    let mut guard = ctx.transaction().expect("transactional");
    let tx = common::postgres(&mut guard);
    sqlx::query("INSERT INTO children (parent) VALUES (42)")
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Handler calls of the `Crowded` group inside at once.
static CROWD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Holds its transaction, and so a connection, until 12 calls are inside
/// at once.
#[beckett::subscription(group = "Crowded", messages(Counted), transactional, max_retries = 0)]
async fn crowded(_: Counted, ctx: Context) -> Result<(), beckett::BoxError> {
    use std::sync::atomic::Ordering;
    CROWD.fetch_add(1, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while CROWD.load(Ordering::SeqCst) < 12 {
        if std::time::Instant::now() > deadline {
            return Err("never 12 calls at once".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut guard = ctx.transaction().expect("transactional");
    let tx = common::postgres(&mut guard);
    sqlx::query("INSERT INTO handled (stream, position) VALUES ($1, $2)")
        .bind(ctx.stream())
        .bind(ctx.position())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// A handler that panics before it returns its future, as a hand-written
/// registration could.
fn panics_at_once(_: Envelope, _: Context) -> beckett::__private::HandlerFuture {
    panic!("before any future")
}

beckett::__private::inventory::submit! {
    beckett::__private::SubscriptionDescriptor {
        group: "Early",
        name: "panics_at_once",
        messages: &["Counted"],
        category: None,
        stream: None,
        start: beckett::__private::Start::Beginning,
        max_retries: Some(0),
        timeout: None,
        transactional: false,
        handler: panics_at_once,
        location: "tests/faults.rs",
    }
}

/// Runs `group` on the test's database, with a table for what is handled.
async fn start(
    pool: &PgPool,
    group: &str,
    configure: impl FnOnce(beckett::Builder) -> beckett::Builder,
) -> Running {
    common::create_handled(pool).await;
    common::run_group(pool, group, configure)
}

fn item() -> NewMessage {
    NewMessage::new(&ItemAdded {
        sku: "kb".to_owned(),
        quantity: 1,
    })
    .unwrap()
}

/// Another program wrote metadata of another shape: the message fails its
/// own checkpoint, naming it, and everything else flows.
#[sqlx::test(migrations = false)]
async fn a_message_with_foreign_metadata_fails_only_its_checkpoint(pool: PgPool) {
    let store = store(pool.clone()).await;
    let mut tx = pool.begin().await.unwrap();
    store
        .append_in(&mut tx, "Legacy-1", ExpectedVersion::Any, vec![item()])
        .await
        .unwrap();
    sqlx::query(
        "UPDATE beckett.messages SET metadata = '{\"correlation_id\": \"legacy-42\"}'
         WHERE stream_name = 'Legacy-1'",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (stop, running) = start(&pool, "Legacy", |b| b).await;
    for cart in ["Cart-1", "Cart-2"] {
        store
            .append(cart, ExpectedVersion::Any, vec![item(), item()])
            .await
            .unwrap();
    }

    eventually("the other streams are handled", || async {
        handled(&pool, "Cart-1").await == [1, 2] && handled(&pool, "Cart-2").await == [1, 2]
    })
    .await;
    let failed = common::Failed::new(&pool);
    eventually("the foreign message fails", || async {
        !failed.list(None).await.unwrap().is_empty()
    })
    .await;
    let error = failed.list(None).await.unwrap()[0]
        .last_error
        .clone()
        .unwrap();
    assert!(
        error.contains("position 1 of stream `Legacy-1` (type `item_added`)"),
        "{error}"
    );
    assert!(handled(&pool, "Legacy-1").await.is_empty());
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// Transactions holding an id in another database, or idle in this one,
/// write no message: delivery goes on while they stay open.
#[sqlx::test(migrations = false)]
async fn delivery_goes_on_while_other_transactions_stay_open(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = options.connect_with(connect.clone()).await.unwrap();
    let store = store(pool.clone()).await;
    let held = common::hold_transaction_ids(&connect).await;
    let (stop, running) = start(&pool, "Flow", |b| b.poll_interval(Duration::from_secs(60))).await;
    for n in 1..=3 {
        store
            .append("Flow-1", ExpectedVersion::Any, vec![counted(n)])
            .await
            .unwrap();
        eventually("each message is handled while they stay open", || async {
            handled(&pool, "Flow-1").await.len() == n as usize
        })
        .await;
    }
    common::end_transactions(held).await;
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// An appender's transaction that commits after later messages were
/// handled is handled too, once, in its stream's order.
#[sqlx::test(migrations = false)]
async fn a_message_that_commits_late_is_handled(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = start(&pool, "Flow", |b| b.poll_interval(Duration::from_secs(60))).await;
    let mut late = pool.begin().await.unwrap();
    store
        .append_in(
            &mut late,
            "Late-1",
            ExpectedVersion::Any,
            vec![counted(1), counted(2)],
        )
        .await
        .unwrap();
    for stream in ["Early-1", "Early-2"] {
        store
            .append(stream, ExpectedVersion::Any, vec![counted(0)])
            .await
            .unwrap();
    }
    eventually("the later messages are handled", || async {
        handled(&pool, "Early-1").await == [1] && handled(&pool, "Early-2").await == [1]
    })
    .await;
    late.commit().await.unwrap();
    store
        .append("Late-1", ExpectedVersion::Any, vec![counted(3)])
        .await
        .unwrap();
    eventually("the late messages are handled", || async {
        handled(&pool, "Late-1").await == [1, 2, 3]
    })
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// A subscription new to a group with a large store catches up on its own:
/// the group's live subscription handles a new message meanwhile.
#[sqlx::test(migrations = false)]
async fn a_new_subscription_catching_up_does_not_stall_its_group(pool: PgPool) {
    const BACKLOG: i64 = 2_000;
    let store = store(pool.clone()).await;
    for chunk in 0..BACKLOG / 500 {
        let streams: Vec<String> = (0..500)
            .map(|n| format!("Backlog-{}", chunk * 500 + n))
            .collect();
        let mut tx = pool.begin().await.unwrap();
        for stream in &streams {
            store
                .append_in(&mut tx, stream, ExpectedVersion::Any, vec![counted(0)])
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let (stop, running) = start(&pool, "Cohorts", |b| b.global_batch_size(10)).await;
    eventually("both subscriptions are registered", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM beckett.subscriptions")
            .fetch_one(&pool)
            .await
            .unwrap()
            == 2
    })
    .await;
    store
        .append("Live-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();
    eventually("the live message is handled", || async {
        handled(&pool, "Live-1").await == [1]
    })
    .await;
    let caught_up: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM beckett.checkpoints WHERE subscription = 'newcomer'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        caught_up < BACKLOG,
        "the live message waited for the newcomer to read all {BACKLOG} messages"
    );
    eventually("the newcomer catches up", || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM beckett.checkpoints
             WHERE subscription = 'newcomer' AND stream_position = 1",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
            == BACKLOG
    })
    .await;
    store
        .append("Live-2", ExpectedVersion::Any, vec![counted(2)])
        .await
        .unwrap();
    eventually("the merged group goes on", || async {
        handled(&pool, "Live-2").await == [1]
    })
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// A transactional handler whose transaction fails after it returned Ok
/// (aborted by a statement whose error it ignored, or refused at commit by
/// a deferred constraint) fails like any handler: retried, then failed,
/// with the reason, so an operator can act on it.
#[sqlx::test(migrations = false)]
async fn transactions_that_fail_at_commit_count_as_failures(pool: PgPool) {
    let store = store(pool.clone()).await;
    for table in [
        "CREATE TABLE parents (id int PRIMARY KEY)",
        "CREATE TABLE children (parent int REFERENCES parents DEFERRABLE INITIALLY DEFERRED)",
    ] {
        sqlx::query(table).execute(&pool).await.unwrap();
    }
    let aborted = start(&pool, "Aborted", |b| b).await;
    let deferred = start(&pool, "Deferred", |b| b).await;
    store
        .append("Counter-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();

    let failed = common::Failed::new(&pool);
    eventually("both checkpoints fail", || async {
        failed.list(None).await.unwrap().len() == 2
    })
    .await;
    let list = failed.list(None).await.unwrap();
    let (first, second) = (&list[0], &list[1]);
    assert_eq!((first.group.as_str(), first.attempts), ("Aborted", 2));
    assert!(
        first
            .last_error
            .as_deref()
            .unwrap()
            .contains("transaction is aborted"),
        "{first:?}"
    );
    assert_eq!((second.group.as_str(), second.attempts), ("Deferred", 2));
    assert!(
        second
            .last_error
            .as_deref()
            .unwrap()
            .contains("foreign key"),
        "{second:?}"
    );
    for (stop, running) in [aborted, deferred] {
        stop.cancel();
        running.await.unwrap().unwrap();
    }
}

/// `run()` connects a pool as large as its settings need: twelve
/// transactional handlers hold a connection each at once, with the
/// consumers' own beside them (sqlx's default pool holds ten).
#[sqlx::test(migrations = false)]
async fn the_pool_fits_the_handlers_in_flight(options: PgPoolOptions, connect: PgConnectOptions) {
    let pool = options.connect_with(connect.clone()).await.unwrap();
    let store = store(pool.clone()).await;
    common::create_handled(&pool).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let beckett = beckett::Beckett::builder()
        .database_url(common::workers::database_url(&connect, "crowded"))
        .groups(["Crowded"])
        .concurrency(12)
        .build()
        .unwrap();
    let signal = stop.clone();
    let running = tokio::spawn(async move { beckett.run_until(signal.cancelled_owned()).await });
    // In one transaction, so the leader hands all twelve over at once.
    let mut tx = pool.begin().await.unwrap();
    for n in 0..12 {
        let stream = format!("Crowd-{n}");
        store
            .append_in(&mut tx, &stream, ExpectedVersion::Any, vec![counted(n)])
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    eventually("twelve handlers are inside at once and finish", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM handled")
            .fetch_one(&pool)
            .await
            .unwrap()
            == 12
    })
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// A handler that panics before its future exists fails its message like
/// any panic, instead of taking its stream's handling down unnoticed.
#[sqlx::test(migrations = false)]
async fn a_handler_panicking_at_once_fails_its_message(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = start(&pool, "Early", |b| b).await;
    store
        .append("Early-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();
    let failed = common::Failed::new(&pool);
    eventually("the message fails", || async {
        !failed.list(None).await.unwrap().is_empty()
    })
    .await;
    let error = failed.list(None).await.unwrap()[0].last_error.clone();
    assert!(
        error
            .as_deref()
            .unwrap()
            .contains("panicked: before any future"),
        "{error:?}"
    );
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// What a test's tracing wrote, for checking the log.
#[derive(Clone, Default)]
struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A subscription the code no longer declares is reported when a process
/// of its group starts, and an operator removes it with its checkpoints;
/// its leader then stops routing for it.
#[sqlx::test(migrations = false)]
async fn a_subscription_removed_from_the_code_is_reported_and_removed(pool: PgPool) {
    let store = store(pool.clone()).await;
    sqlx::query(
        "INSERT INTO beckett.subscriptions (group_name, name, transaction_id, global_position)
         VALUES ('Flow', 'gone', 0, 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO beckett.checkpoints (group_name, subscription, stream_name, stream_version)
         SELECT 'Flow', 'gone', 'Old-' || n, 1 FROM generate_series(1, 1000) AS n",
    )
    .execute(&pool)
    .await
    .unwrap();
    let log = Log::default();
    let writer = log.clone();
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    );
    let (stop, running) = start(&pool, "Flow", |b| b).await;
    eventually("the undeclared subscription is reported", || async {
        let text = log.text();
        text.contains("subscription=\"gone\"")
            && text.contains("lagging=1000")
            && text.contains("Subscriptions::remove")
    })
    .await;

    let subscriptions =
        beckett::subscription::Subscriptions::new(beckett::PostgresStore::new(pool.clone()));
    assert_eq!(
        subscriptions.remove("Flow", "gone").await.unwrap(),
        Some(1000)
    );
    assert_eq!(subscriptions.remove("Flow", "gone").await.unwrap(), None);
    // The leader looks at what is registered every poll interval (100 ms).
    tokio::time::sleep(Duration::from_millis(500)).await;
    store
        .append("After-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();
    eventually("the declared subscription goes on", || async {
        handled(&pool, "After-1").await == [1]
    })
    .await;
    let routed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM beckett.checkpoints WHERE subscription = 'gone'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        routed, 0,
        "the leader still routes for the removed subscription"
    );
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// A dump restored into another cluster carries transaction ids the new
/// cluster has not reached: reading says so, and a process stops with the
/// error instead of delivering nothing without a word.
#[sqlx::test(migrations = false)]
async fn a_store_restored_into_another_cluster_stops_with_what_to_do(pool: PgPool) {
    let store = store(pool.clone()).await;
    store
        .append("Flow-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();
    // As a restore leaves them: ids taken far ahead of this cluster's.
    sqlx::query("UPDATE beckett.messages SET transaction_id = transaction_id + 1000000000000")
        .execute(&pool)
        .await
        .unwrap();

    let error = store
        .read_global(&beckett::GlobalCursor::START, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(error, beckett::Error::TransactionIdsBehind { .. }),
        "{error}"
    );
    let (_stop, running) = start(&pool, "Flow", |b| b).await;
    let stopped = tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("the process stops by itself")
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        stopped.contains("restored from a dump of another cluster")
            && stopped.contains("Restoring a dump into another cluster"),
        "{stopped}"
    );
}

/// A subscription removed and registered again (by a process that still
/// declares it) starts over from its start, even while a leader that read
/// its earlier cursor keeps leading: the history is handled again.
#[sqlx::test(migrations = false)]
async fn a_subscription_removed_and_registered_again_starts_over(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = start(&pool, "Flow", |b| b).await;
    store
        .append("Again-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();
    eventually("the message is handled", || async {
        handled(&pool, "Again-1").await == [1]
    })
    .await;

    let subscriptions =
        beckett::subscription::Subscriptions::new(beckett::PostgresStore::new(pool.clone()));
    assert_eq!(subscriptions.remove("Flow", "flow").await.unwrap(), Some(1));
    // Another process of the program starts, and registers it again.
    let (stop_again, running_again) = start(&pool, "Flow", |b| b).await;
    eventually("the history is handled again", || async {
        handled(&pool, "Again-1").await == [1, 1]
    })
    .await;
    for (stop, running) in [(stop, running), (stop_again, running_again)] {
        stop.cancel();
        running.await.unwrap().unwrap();
    }
}
