//! Subscriptions in one process: retries, the failed state and its retry
//! and skip, timeouts, undecodable messages, causation, and start = "end".

mod common;

use beckett::{
    Beckett, Context, Envelope, Error, ExpectedVersion, MessageStorage, Metadata, NewMessage,
    PostgresStore,
};
use common::{counted, eventually, handled, record, store, Counted, ItemAdded, Running};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

#[beckett::subscription(group = "Retries", category = "Flaky", max_retries = 2)]
async fn flaky(envelope: Envelope, ctx: Context) -> Result<(), beckett::BoxError> {
    let healed: bool = sqlx::query_scalar("SELECT EXISTS (SELECT FROM healed)")
        .fetch_one(common::pool(&ctx))
        .await?;
    if !healed && envelope.data["fail"] == true {
        return Err(format!("cannot handle {} #{}", envelope.stream, envelope.position).into());
    }
    if !healed && envelope.data["panic"] == true {
        panic!("boom at {} #{}", envelope.stream, envelope.position);
    }
    Ok(record(&ctx).await?)
}

#[beckett::subscription(group = "Slow", messages(Counted), timeout = "100ms", max_retries = 0)]
async fn slow(_: Counted) -> Result<(), beckett::BoxError> {
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(())
}

#[beckett::subscription(group = "Typed", messages(ItemAdded), max_retries = 0)]
async fn typed(_: ItemAdded, ctx: Context) -> Result<(), sqlx::Error> {
    record(&ctx).await
}

#[beckett::subscription(group = "Chain", messages(Counted))]
async fn chain(counted: Counted, ctx: Context) -> Result<(), beckett::BoxError> {
    let next = ItemAdded {
        sku: format!("sku-{}", counted.n),
        quantity: 1,
    };
    ctx.append("Chained-1", ExpectedVersion::Any, next).await?;
    Ok(())
}

#[beckett::subscription(group = "Reentrant", messages(Counted), transactional, max_retries = 0)]
async fn reentrant(counted: Counted, ctx: Context) -> Result<(), beckett::BoxError> {
    let _held = ctx.transaction();
    ctx.append("Chained-1", ExpectedVersion::Any, counted)
        .await?;
    Ok(())
}

/// Slow the first time it is called, longer than the reservation lasts.
#[beckett::subscription(group = "Stale", messages(Counted), transactional)]
async fn outlives_reservation(_: Counted, ctx: Context) -> Result<(), beckett::BoxError> {
    let calls: i64 = sqlx::query_scalar("UPDATE calls SET n = n + 1 RETURNING n")
        .fetch_one(common::pool(&ctx))
        .await?;
    if calls == 1 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
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

/// 300 ms a message.
#[beckett::subscription(group = "Patient", messages(Counted))]
async fn patient(_: Counted, ctx: Context) -> Result<(), sqlx::Error> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    record(&ctx).await
}

/// Quick for numbers below 1000, 600 ms for the others.
#[beckett::subscription(group = "Waiting", messages(Counted))]
async fn quick_then_slow(counted: Counted, ctx: Context) -> Result<(), sqlx::Error> {
    if counted.n >= 1000 {
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    record(&ctx).await
}

#[beckett::subscription(group = "Survivor", messages(ItemAdded))]
async fn survivor(_: ItemAdded, ctx: Context) -> Result<(), sqlx::Error> {
    record(&ctx).await
}

#[beckett::subscription(group = "Late", category = "Late", start = "end")]
async fn late(_: Envelope, ctx: Context) -> Result<(), sqlx::Error> {
    record(&ctx).await
}

/// A process running `group` on the test's database until the returned
/// token is cancelled.
async fn start(pool: &PgPool, group: &str) -> Running {
    start_with(pool, group, |builder| builder).await
}

/// [`start`], with settings of the test's own on top.
async fn start_with(
    pool: &PgPool,
    group: &str,
    configure: impl FnOnce(beckett::Builder) -> beckett::Builder,
) -> Running {
    common::create_handled(pool).await;
    sqlx::query("CREATE TABLE IF NOT EXISTS healed (at timestamptz)")
        .execute(pool)
        .await
        .unwrap();
    common::run_group(pool, group, configure)
}

async fn append_json(store: &PostgresStore, stream: &str, data: &[serde_json::Value]) {
    let messages = data
        .iter()
        .map(|d| NewMessage::from_json("Step", d.clone()))
        .collect();
    store
        .append(stream, ExpectedVersion::Any, messages)
        .await
        .unwrap();
}

#[sqlx::test(migrations = false)]
async fn failing_stream_retries_then_fails_while_others_finish(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = start(&pool, "Retries").await;
    for i in 0..5 {
        append_json(
            &store,
            &format!("Flaky-ok{i}"),
            &[json!({}), json!({}), json!({})],
        )
        .await;
    }
    append_json(
        &store,
        "Flaky-bad",
        &[json!({}), json!({ "fail": true }), json!({})],
    )
    .await;
    append_json(
        &store,
        "Flaky-panic",
        &[json!({}), json!({ "panic": true }), json!({})],
    )
    .await;

    let failed = common::Failed::new(&pool);
    eventually("two streams fail", || async {
        failed.list(Some("Retries")).await.unwrap().len() == 2
    })
    .await;
    let list = failed.list(None).await.unwrap();
    let (bad, panicked) = (&list[0], &list[1]);
    assert_eq!(
        (bad.stream.as_str(), bad.stream_position, bad.attempts),
        ("Flaky-bad", 1, 3)
    );
    assert!(
        bad.last_error
            .as_deref()
            .unwrap()
            .contains("cannot handle Flaky-bad #2"),
        "{bad:?}"
    );
    assert_eq!(
        (panicked.stream.as_str(), panicked.attempts),
        ("Flaky-panic", 3)
    );
    assert!(panicked
        .last_error
        .as_deref()
        .unwrap()
        .contains("panicked: boom at Flaky-panic #2"));
    for i in 0..5 {
        assert_eq!(
            handled(&pool, &format!("Flaky-ok{i}")).await,
            [1, 2, 3],
            "other streams finish"
        );
    }
    assert_eq!(handled(&pool, "Flaky-bad").await, [1]);

    sqlx::query("INSERT INTO healed VALUES (now())")
        .execute(&pool)
        .await
        .unwrap();
    assert!(failed.retry("Retries", "flaky", "Flaky-bad").await.unwrap());
    eventually("the retried stream continues", || async {
        handled(&pool, "Flaky-bad").await == [1, 2, 3]
    })
    .await;

    assert!(failed
        .skip("Retries", "flaky", "Flaky-panic")
        .await
        .unwrap());
    eventually("the skipped stream continues", || async {
        handled(&pool, "Flaky-panic").await == [1, 3]
    })
    .await;
    let skipped: (String, i64, i32) = sqlx::query_as(
        "SELECT stream_name, stream_position, attempts FROM beckett.skipped_messages",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(skipped, ("Flaky-panic".to_owned(), 2, 3));
    assert!(failed.list(None).await.unwrap().is_empty());
    assert!(
        !failed.retry("Retries", "flaky", "Flaky-ok0").await.unwrap(),
        "only failed ones"
    );

    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn handler_that_times_out_fails(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = start(&pool, "Slow").await;
    store
        .append("Slow-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();

    let failed = common::Failed::new(&pool);
    eventually("the slow stream fails", || async {
        !failed.list(Some("Slow")).await.unwrap().is_empty()
    })
    .await;
    let error = failed.list(None).await.unwrap()[0]
        .last_error
        .clone()
        .unwrap();
    assert_eq!(error, "handler timed out after 100ms");
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn undecodable_message_fails_its_stream_only(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = start(&pool, "Typed").await;
    let good = || {
        NewMessage::new(&ItemAdded {
            sku: "kb".to_owned(),
            quantity: 1,
        })
        .unwrap()
    };
    let changed_shape = NewMessage::from_json("item_added", json!({ "sku": 7 }));
    store
        .append("Cart-2", ExpectedVersion::Any, vec![changed_shape, good()])
        .await
        .unwrap();
    store
        .append("Cart-1", ExpectedVersion::Any, vec![good(), good()])
        .await
        .unwrap();

    let failed = common::Failed::new(&pool);
    eventually("Cart-2 fails", || async {
        !failed.list(Some("Typed")).await.unwrap().is_empty()
    })
    .await;
    eventually("Cart-1 is handled", || async {
        handled(&pool, "Cart-1").await == [1, 2]
    })
    .await;
    let error = failed.list(None).await.unwrap()[0]
        .last_error
        .clone()
        .unwrap();
    assert!(
        error.contains("position 1 of stream `Cart-2` (type `item_added`)"),
        "{error}"
    );
    assert_eq!(
        error.matches("invalid type").count(),
        1,
        "said once: {error}"
    );
    assert!(handled(&pool, "Cart-2").await.is_empty());
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn context_appends_carry_causation_and_correlation(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = start(&pool, "Chain").await;
    let correlation = uuid::Uuid::now_v7();
    let mut metadata = Metadata::default();
    metadata.correlation_id = Some(correlation);
    let cause = counted(1).with_metadata(metadata);
    let cause_id = cause.id();
    store
        .append("Cause-1", ExpectedVersion::Any, vec![cause])
        .await
        .unwrap();

    eventually("the handler appends", || async {
        !store
            .read_stream("Chained-1", 1, 10)
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    let chained = &store.read_stream("Chained-1", 1, 10).await.unwrap()[0];
    assert_eq!(chained.metadata.causation_id, Some(cause_id));
    assert_eq!(chained.metadata.correlation_id, Some(correlation));
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn appending_while_holding_the_transaction_fails_instead_of_hanging(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = start(&pool, "Reentrant").await;
    store
        .append("Cause-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();

    let failed = common::Failed::new(&pool);
    eventually("the stream fails", || async {
        !failed.list(Some("Reentrant")).await.unwrap().is_empty()
    })
    .await;
    let error = failed.list(None).await.unwrap()[0]
        .last_error
        .clone()
        .unwrap();
    assert!(error.contains("transaction is still in use"), "{error}");
    assert!(store
        .read_stream("Chained-1", 1, 10)
        .await
        .unwrap()
        .is_empty());
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// The first call loses its reservation while it runs (taken over, as
/// after its process was cut off from the database for longer than the
/// reservation lasts), so the checkpoint is reserved again and handled by
/// a second call; the first call's commit must then find the checkpoint no
/// longer its own and roll back.
#[sqlx::test(migrations = false)]
async fn handler_that_lost_its_reservation_cannot_commit(pool: PgPool) {
    let store = store(pool.clone()).await;
    sqlx::query("CREATE TABLE calls AS SELECT 0::bigint AS n")
        .execute(&pool)
        .await
        .unwrap();
    let (stop, running) = start(&pool, "Stale").await;
    store
        .append("Stale-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();

    let calls = || async {
        sqlx::query_scalar::<_, i64>("SELECT n FROM calls")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    eventually("the first call runs", || async { calls().await == 1 }).await;
    sqlx::query(
        "UPDATE beckett.checkpoints
         SET reserved_by = gen_random_uuid(), reserved_until = now(), process_at = now()",
    )
    .execute(&pool)
    .await
    .unwrap();
    eventually("a second call handles the message", || async {
        handled(&pool, "Stale-1").await == [1]
    })
    .await;
    eventually("the first call ends", || async { calls().await >= 2 }).await;
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(
        handled(&pool, "Stale-1").await,
        [1],
        "the stale call committed too"
    );
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// A process that got through quick messages holds many checkpoints; when
/// the handler turns slow, the ones still waiting for it would outlive
/// their reservations, and another process would handle their streams at
/// the same time, if the heartbeat did not keep them.
#[sqlx::test(migrations = false)]
async fn checkpoints_waiting_for_a_busy_handler_are_handled_once(pool: PgPool) {
    let store = store(pool.clone()).await;
    let settings = |builder: beckett::Builder| {
        builder
            .concurrency(1)
            .reservation_timeout(Duration::from_secs(2))
            .poll_interval(Duration::from_millis(100))
    };
    let processes = [
        start_with(&pool, "Waiting", settings).await,
        start_with(&pool, "Waiting", settings).await,
    ];
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    for n in 0..200 {
        store
            .append(
                &format!("Quick-{n}"),
                ExpectedVersion::Any,
                vec![counted(n)],
            )
            .await
            .unwrap();
    }
    eventually("the quick messages are handled", || async {
        count("SELECT count(*) FROM handled").await >= 200
    })
    .await;
    for n in 0..5 {
        store
            .append(
                &format!("Slow-{n}"),
                ExpectedVersion::Any,
                vec![counted(1000 + n)],
            )
            .await
            .unwrap();
    }
    eventually("the slow messages are handled", || async {
        count("SELECT count(DISTINCT stream) FROM handled WHERE stream LIKE 'Slow-%'").await >= 5
    })
    .await;
    // Time for a second handling of a stream whose reservation ran out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        count("SELECT count(*) FROM handled WHERE stream LIKE 'Slow-%'").await,
        5,
        "a slow stream was handled twice"
    );
    for (stop, running) in processes {
        stop.cancel();
        running.await.unwrap().unwrap();
    }
}

/// A message appended while its stream is being handled leaves the
/// checkpoint lagging once the handled one is written; the process hears
/// of it then, not at its next poll.
#[sqlx::test(migrations = false)]
async fn a_message_appended_during_handling_is_handled_without_a_poll(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = start_with(&pool, "Waiting", |builder| {
        builder.poll_interval(Duration::from_secs(60))
    })
    .await;
    store
        .append("Relag-1", ExpectedVersion::Any, vec![counted(1000)])
        .await
        .unwrap();
    // The slow handler of the first message is running.
    tokio::time::sleep(Duration::from_millis(200)).await;
    store
        .append("Relag-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();
    eventually("both messages are handled", || async {
        handled(&pool, "Relag-1").await == [1, 2]
    })
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn subscription_starting_at_end_handles_only_new_messages(pool: PgPool) {
    let store = store(pool.clone()).await;
    store
        .append("Late-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();
    common::read_global_until(&store, 1).await;
    let (stop, running) = start(&pool, "Late").await;
    eventually("the subscription is registered", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM beckett.subscriptions")
            .fetch_one(&pool)
            .await
            .unwrap()
            == 1
    })
    .await;
    store
        .append("Late-2", ExpectedVersion::Any, vec![counted(2)])
        .await
        .unwrap();
    // A stream with history: only its new message is handled.
    store
        .append("Late-1", ExpectedVersion::Any, vec![counted(3)])
        .await
        .unwrap();

    eventually("Late-2 is handled", || async {
        handled(&pool, "Late-2").await == [1]
    })
    .await;
    eventually("Late-1's new message is handled", || async {
        !handled(&pool, "Late-1").await.is_empty()
    })
    .await;
    assert_eq!(
        handled(&pool, "Late-1").await,
        [2],
        "history is not handed over"
    );
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn unknown_group_stops_start_up_naming_the_setting(pool: PgPool) {
    let error = Beckett::builder()
        .pool(pool)
        .groups(["Nope"])
        .build()
        .unwrap()
        .run_until(std::future::ready(()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Config {
                setting: "BECKETT_GROUPS",
                ..
            }
        ),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("group `Nope`") && text.contains("Retries"),
        "{text}"
    );
}

#[sqlx::test(migrations = false)]
async fn killed_connections_are_survived_without_skipping(
    options: sqlx::postgres::PgPoolOptions,
    connect: sqlx::postgres::PgConnectOptions,
) {
    let pool = options.connect_with(connect.clone()).await.unwrap();
    let store = store(pool.clone()).await;
    // The engine gets a pool of its own, so only its connections are killed.
    let engine_pool = sqlx::postgres::PgPoolOptions::new()
        .connect_with(connect.application_name("engine"))
        .await
        .unwrap();
    // A handler call cut off by the kill fails like any other, and is
    // retried.
    let (stop, running) = start_with(&engine_pool, "Survivor", |builder| {
        builder.retry_delays(Duration::from_millis(10), Duration::from_millis(100))
    })
    .await;
    let good = || {
        NewMessage::new(&ItemAdded {
            sku: "kb".to_owned(),
            quantity: 1,
        })
        .unwrap()
    };
    for round in 0..4 {
        for cart in 0..5 {
            let stream = format!("Cart-{cart}");
            store
                .append(&stream, ExpectedVersion::Any, vec![good(), good()])
                .await
                .unwrap();
        }
        if round == 0 {
            // Start-up (migration, registration) fails on a lost connection
            // like any start-up error; the kills aim at a running engine.
            eventually("the engine handles its first message", || async {
                !handled(&pool, "Cart-0").await.is_empty()
            })
            .await;
        }
        let killed: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'engine'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(
            round > 0 || killed > 0,
            "the engine's connections were found"
        );
    }

    for cart in 0..5 {
        let stream = format!("Cart-{cart}");
        eventually("every cart is handled", || async {
            let mut positions = handled(&pool, &stream).await;
            positions.dedup();
            positions.sort_unstable();
            positions.dedup();
            positions == (1..=8).collect::<Vec<_>>()
        })
        .await;
        let positions = handled(&pool, &stream).await;
        let first_seen: Vec<i64> = positions.iter().fold(Vec::new(), |mut seen, p| {
            if !seen.contains(p) {
                seen.push(*p);
            }
            seen
        });
        assert_eq!(
            first_seen,
            (1..=8).collect::<Vec<_>>(),
            "{stream} handled out of order"
        );
    }
    assert!(common::Failed::new(&pool)
        .list(None)
        .await
        .unwrap()
        .is_empty());
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// A stream whose batch takes longer than a reservation lasts is handled
/// by its first holder to the end, once, while another process looks for
/// work: the heartbeat keeps the reservation.
#[sqlx::test(migrations = false)]
async fn a_batch_longer_than_a_reservation_is_handled_once(pool: PgPool) {
    let store = store(pool.clone()).await;
    let settings = |builder: beckett::Builder| {
        builder
            .reservation_timeout(Duration::from_secs(1))
            .poll_interval(Duration::from_millis(50))
    };
    let processes = [
        start_with(&pool, "Patient", settings).await,
        start_with(&pool, "Patient", settings).await,
    ];
    store
        .append(
            "Long-1",
            ExpectedVersion::Any,
            (0..8).map(counted).collect(),
        )
        .await
        .unwrap();
    eventually("the stream is handled", || async {
        handled(&pool, "Long-1").await.len() >= 8
    })
    .await;
    // Time for a second holder to finish what it took over.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(handled(&pool, "Long-1").await, (1..=8).collect::<Vec<_>>());
    for (stop, running) in processes {
        stop.cancel();
        running.await.unwrap().unwrap();
    }
}
