//! Scheduled messages in one process: cancelling, the caller's
//! transaction, messages due in the past, scheduling from a handler, order
//! within a stream, and a scheduler that sleeps until it is needed.

mod common;

use beckett::{Context, Envelope, ExpectedVersion, Message, MessageStorage, NewMessage};
use chrono::{DateTime, TimeDelta, Utc};
use common::{counted, eventually, run_group, store, Counted};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Message, Serialize, Deserialize)]
struct Reminder {
    n: i64,
}

fn reminder(n: i64) -> NewMessage {
    NewMessage::new(&Reminder { n }).unwrap()
}

/// Schedules a reminder caused by each `Counted`, due at once.
#[beckett::subscription(group = "Scheduler", messages(Counted))]
async fn remind(counted: Counted, ctx: Context) -> Result<(), beckett::BoxError> {
    ctx.schedule(
        "Reminder-chained",
        Reminder { n: counted.n },
        Duration::ZERO,
    )
    .await?;
    Ok(())
}

/// Schedules a reminder in its transaction, then fails the first time:
/// the first reminder rolls back with it.
#[beckett::subscription(group = "Transactional", messages(Counted), transactional)]
async fn remind_once(counted: Counted, ctx: Context) -> Result<(), beckett::BoxError> {
    ctx.schedule("Reminder-once", Reminder { n: counted.n }, Duration::ZERO)
        .await?;
    if ctx.attempt() == 1 {
        return Err("fails the first time".into());
    }
    Ok(())
}

/// The messages of a stream, once it holds `count` of them.
async fn stream_of(store: &beckett::PostgresStore, stream: &str, count: usize) -> Vec<Envelope> {
    eventually(&format!("{stream} holds {count} messages"), || async {
        store.read_stream(stream, 1, 1000).await.unwrap().len() >= count
    })
    .await;
    store.read_stream(stream, 1, 1000).await.unwrap()
}

async fn waiting(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM beckett.scheduled_messages")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn cancel_says_whether_the_message_was_waiting(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = run_group(&pool, "Scheduler", |b| b);

    let cancelled = store
        .schedule("Reminder-1", reminder(1), Duration::from_secs(2))
        .await
        .unwrap();
    let later = store
        .schedule("Reminder-1", reminder(2), Duration::from_secs(3600))
        .await
        .unwrap();
    let marker = store
        .schedule("Reminder-1", reminder(3), Duration::from_millis(2500))
        .await
        .unwrap();
    assert!(store.cancel_scheduled(cancelled).await.unwrap());
    assert!(
        !store.cancel_scheduled(cancelled).await.unwrap(),
        "cancelled twice"
    );
    assert!(
        !store.cancel_scheduled(Uuid::now_v7()).await.unwrap(),
        "unknown id"
    );

    let appended = stream_of(&store, "Reminder-1", 1).await;
    assert_eq!(appended.len(), 1);
    assert_eq!(appended[0].id, marker, "the message keeps its scheduled id");
    assert!(
        !store.cancel_scheduled(marker).await.unwrap(),
        "already appended"
    );
    assert!(store.cancel_scheduled(later).await.unwrap());
    assert_eq!(waiting(&pool).await, 0);

    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_time_in_the_past_is_due_at_once(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = run_group(&pool, "Scheduler", |b| b);

    let an_hour_ago = Utc::now() - TimeDelta::hours(1);
    let id = store
        .schedule("Reminder-past", reminder(1), an_hour_ago)
        .await
        .unwrap();
    let appended = stream_of(&store, "Reminder-past", 1).await;
    assert_eq!(appended[0].id, id);

    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_delay_past_what_a_timestamp_holds_is_refused(pool: PgPool) {
    let store = store(pool.clone()).await;
    let error = store
        .schedule("Reminder-never", reminder(1), Duration::MAX)
        .await
        .unwrap_err();
    assert!(
        matches!(error, beckett::Error::DelayTooLong { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("`Reminder-never`"), "{error}");
    assert_eq!(waiting(&pool).await, 0);
}

#[sqlx::test(migrations = false)]
async fn scheduling_in_a_rolled_back_transaction_never_fires(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = run_group(&pool, "Scheduler", |b| b);

    let due = Utc::now() + TimeDelta::milliseconds(300);
    let mut tx = pool.begin().await.unwrap();
    let rolled_back = store
        .schedule_in(&mut tx, "Reminder-tx", reminder(1), due)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let committed = store
        .schedule_in(&mut tx, "Reminder-tx", reminder(2), due)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let appended = stream_of(&store, "Reminder-tx", 1).await;
    assert_eq!(appended[0].id, committed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let appended = store.read_stream("Reminder-tx", 1, 10).await.unwrap();
    assert_eq!(appended.len(), 1, "{appended:?}");
    assert!(!store.cancel_scheduled(rolled_back).await.unwrap());
    assert_eq!(waiting(&pool).await, 0);

    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn messages_due_together_keep_the_order_they_were_scheduled_in(pool: PgPool) {
    let store = store(pool.clone()).await;
    let due = Utc::now() + TimeDelta::milliseconds(500);
    let mut ids = Vec::new();
    for n in 0..60 {
        ids.push(
            store
                .schedule("Reminder-order", reminder(n), due)
                .await
                .unwrap(),
        );
    }
    // Four schedulers compete for them, in small batches.
    let processes: Vec<_> = (0..4)
        .map(|_| run_group(&pool, "Scheduler", |b| b.batch_size(2)))
        .collect();

    let appended = stream_of(&store, "Reminder-order", 60).await;
    let appended_ids: Vec<Uuid> = appended.iter().map(|m| m.id).collect();
    assert_eq!(appended_ids, ids);
    for message in &appended {
        assert!(
            message.timestamp >= due,
            "appended before its time: {message:?}"
        );
    }

    for (stop, running) in processes {
        stop.cancel();
        running.await.unwrap().unwrap();
    }
}

#[sqlx::test(migrations = false)]
async fn a_handler_schedules_with_causation_and_correlation(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = run_group(&pool, "Scheduler", |b| b);
    let cause = counted(7);
    let cause_id = cause.id();
    store
        .append("Counter-1", ExpectedVersion::Any, vec![cause])
        .await
        .unwrap();

    let reminder = &stream_of(&store, "Reminder-chained", 1).await[0];
    assert_eq!(reminder.decode::<Reminder>().unwrap().n, 7);
    assert_eq!(reminder.metadata.causation_id, Some(cause_id));
    assert_eq!(reminder.metadata.correlation_id, Some(cause_id));

    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_failed_transactional_handler_takes_its_scheduled_message_back(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = run_group(&pool, "Transactional", |b| b);
    store
        .append("Counter-1", ExpectedVersion::Any, vec![counted(1)])
        .await
        .unwrap();

    stream_of(&store, "Reminder-once", 1).await;
    let checkpoint: i64 = sqlx::query_scalar(
        "SELECT stream_position FROM beckett.checkpoints WHERE subscription = 'remind_once'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(checkpoint, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reminders = store.read_stream("Reminder-once", 1, 10).await.unwrap();
    assert_eq!(reminders.len(), 1, "{reminders:?}");

    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_message_whose_id_is_taken_is_dropped_without_blocking_others(pool: PgPool) {
    let store = store(pool.clone()).await;
    let taken = reminder(1);
    let id = taken.id();
    store
        .append("Reminder-taken", ExpectedVersion::Any, vec![taken])
        .await
        .unwrap();
    store
        .schedule("Reminder-taken", reminder(2).with_id(id), Duration::ZERO)
        .await
        .unwrap();
    store
        .schedule("Reminder-next", reminder(3), Duration::ZERO)
        .await
        .unwrap();
    let (stop, running) = run_group(&pool, "Scheduler", |b| b);

    stream_of(&store, "Reminder-next", 1).await;
    let taken = store.read_stream("Reminder-taken", 1, 10).await.unwrap();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].decode::<Reminder>().unwrap().n, 1);
    assert_eq!(waiting(&pool).await, 0);

    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_stream_being_appended_to_holds_back_only_its_own_messages(pool: PgPool) {
    let store = store(pool.clone()).await;
    store
        .append("Reminder-busy", ExpectedVersion::Any, vec![reminder(0)])
        .await
        .unwrap();
    let (stop, running) = run_group(&pool, "Scheduler", |b| b);
    // An open transaction holds the busy stream's row.
    let mut tx = pool.begin().await.unwrap();
    store
        .append_in(
            &mut tx,
            "Reminder-busy",
            ExpectedVersion::Any,
            vec![reminder(1)],
        )
        .await
        .unwrap();
    // More than a batch of the busy stream's messages fall due first.
    let mut held = Vec::new();
    for n in 0..150 {
        let id = store
            .schedule("Reminder-busy", reminder(2 + n), Duration::ZERO)
            .await
            .unwrap();
        held.push(id);
    }
    let free = store
        .schedule("Reminder-free", reminder(3), Duration::ZERO)
        .await
        .unwrap();

    assert_eq!(stream_of(&store, "Reminder-free", 1).await[0].id, free);
    tx.commit().await.unwrap();
    let busy = stream_of(&store, "Reminder-busy", 152).await;
    let ids: Vec<_> = busy[2..].iter().map(|m| m.id).collect();
    assert_eq!(ids, held, "in the order they fell due");
    assert_eq!(busy[2].position, 3);

    stop.cancel();
    running.await.unwrap().unwrap();
}

/// Another transaction is inserting a stream's first message: the
/// scheduler cannot tell whether the stream exists without waiting for it,
/// so it moves the other messages and comes back for that stream's.
#[sqlx::test(migrations = false)]
async fn a_stream_being_created_holds_back_only_its_own_messages(pool: PgPool) {
    let store = store(pool.clone()).await;
    let (stop, running) = run_group(&pool, "Scheduler", |b| b);
    let mut tx = pool.begin().await.unwrap();
    store
        .append_in(
            &mut tx,
            "Reminder-new",
            ExpectedVersion::NoStream,
            vec![reminder(1)],
        )
        .await
        .unwrap();
    let held = store
        .schedule("Reminder-new", reminder(2), Duration::ZERO)
        .await
        .unwrap();
    let free = store
        .schedule("Reminder-free", reminder(3), Duration::ZERO)
        .await
        .unwrap();

    assert_eq!(stream_of(&store, "Reminder-free", 1).await[0].id, free);
    tx.commit().await.unwrap();
    let created = stream_of(&store, "Reminder-new", 2).await;
    assert_eq!(created[1].id, held);

    stop.cancel();
    running.await.unwrap().unwrap();
}

/// Index and sequential scans of the schedule table so far, by the
/// statistics Postgres keeps per database.
async fn schedule_scans(pool: &PgPool) -> i64 {
    // Statistics reach the shared view at the end of other sessions'
    // transactions, at most once a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sqlx::query_scalar(
        "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables
         WHERE schemaname = 'beckett' AND relname = 'scheduled_messages'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Scans of the schedule once their count stops moving between two
/// readings: the start-up's rounds are over and counted. A scheduler that
/// polls never settles, and the count is taken after four readings.
async fn settled_schedule_scans(pool: &PgPool) -> i64 {
    let mut last = schedule_scans(pool).await;
    for _ in 0..3 {
        let now = schedule_scans(pool).await;
        if now == last {
            break;
        }
        last = now;
    }
    last
}

#[sqlx::test(migrations = false)]
async fn the_scheduler_sleeps_until_the_next_message_is_due(pool: PgPool) {
    let store = store(pool.clone()).await;
    // Due after the readings below: at most 4.4 s to settle, 2.1 s to watch.
    let due: DateTime<Utc> = Utc::now() + TimeDelta::seconds(9);
    let id = store
        .schedule("Reminder-idle", reminder(1), due)
        .await
        .unwrap();
    let (stop, running) = run_group(&pool, "Scheduler", |b| b);

    let before = settled_schedule_scans(&pool).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = schedule_scans(&pool).await - before;
    // Polling every few milliseconds would make hundreds.
    assert!(
        idle < 10,
        "{idle} scans of the schedule while nothing was due"
    );
    let appended = stream_of(&store, "Reminder-idle", 1).await;
    assert_eq!(appended[0].id, id);
    assert!(appended[0].timestamp >= due);

    stop.cancel();
    running.await.unwrap().unwrap();
}
