//! Scheduled messages and recurring jobs across worker processes: each
//! scheduled message is appended once and not early, each occurrence fires
//! once, missed occurrences fire once, and a job no longer declared stops.

mod common;

use beckett::recurring::Occurrence;
use beckett::{Envelope, ExpectedVersion, Message, MessageStorage, NewMessage, PostgresStore};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use common::workers::Worker;
use common::{eventually, store_with_connections};
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

const TICKER: &str = "Recurring-Ticker.tick";
const MINUTELY: &str = "Recurring-Minutely.minutely";

/// What the worker's `Due` subscription reads.
#[derive(Message, Serialize, serde::Deserialize)]
struct Due {
    at: DateTime<Utc>,
}

async fn setup(options: PgPoolOptions, connect: &PgConnectOptions) -> PostgresStore {
    let store = store_with_connections(options, connect.clone(), 8).await;
    for table in [
        "CREATE TABLE delivered (worker text, id uuid, due timestamptz, started timestamptz)",
        "CREATE TABLE ticks (id bigserial, worker text, stream text, position bigint)",
    ] {
        sqlx::query(table).execute(store.pool()).await.unwrap();
    }
    store
}

fn start(connect: &PgConnectOptions, count: usize, group: &str) -> Vec<Worker> {
    (1..=count)
        .map(|i| {
            Worker::start(
                connect,
                &format!("worker-{i}"),
                &[("BECKETT_GROUPS", group)],
            )
        })
        .collect()
}

fn stop(workers: &mut [Worker]) {
    for worker in workers {
        assert!(worker.terminate(Duration::from_secs(20)).success());
    }
}

async fn occurrences(store: &PostgresStore, stream: &str) -> Vec<(Envelope, Occurrence)> {
    let messages = store.read_stream(stream, 1, 10_000).await.unwrap();
    messages
        .into_iter()
        .map(|m| {
            let occurrence = m.decode::<Occurrence>().unwrap();
            (m, occurrence)
        })
        .collect()
}

async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Positions of `stream` handled, in order, repeats included.
async fn ticks(pool: &PgPool, stream: &str) -> Vec<i64> {
    sqlx::query_scalar("SELECT position FROM ticks WHERE stream = $1 ORDER BY position")
        .bind(stream)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The scheduled times, checked to be appended no earlier.
fn scheduled_times(occurrences: &[(Envelope, Occurrence)]) -> Vec<DateTime<Utc>> {
    for (message, occurrence) in occurrences {
        assert!(
            message.timestamp >= occurrence.scheduled_at,
            "fired before its time: {occurrence:?} at {}",
            message.timestamp
        );
    }
    occurrences.iter().map(|(_, o)| o.scheduled_at).collect()
}

#[sqlx::test(migrations = false)]
async fn three_processes_fire_each_second_once(options: PgPoolOptions, connect: PgConnectOptions) {
    let store = setup(options, &connect).await;
    let mut workers = start(&connect, 3, "Ticker");
    tokio::time::sleep(Duration::from_millis(5500)).await;
    stop(&mut workers);

    let times = scheduled_times(&occurrences(&store, TICKER).await);
    assert!(times.len() >= 4, "fired {} times in 5.5 s", times.len());
    for pair in times.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            TimeDelta::seconds(1),
            "each second fires once, none missed: {times:?}"
        );
    }
    // Handled once each; the last may have come as the workers stopped.
    let handled = ticks(store.pool(), TICKER).await;
    let all: Vec<i64> = (1..=times.len() as i64).collect();
    assert!(
        handled == all || handled == all[..all.len() - 1],
        "handled {handled:?} of {} occurrences",
        times.len()
    );
}

#[sqlx::test(migrations = false)]
async fn scheduled_messages_arrive_once_not_early_and_cancelled_never(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let store = setup(options, &connect).await;
    let mut workers = start(&connect, 3, "Scheduled");
    // Let the workers start before the messages fall due.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let (mut kept, mut cancelled) = (Vec::new(), Vec::new());
                for i in 0..125 {
                    // To the microsecond, as Postgres keeps it: a finer
                    // time is truncated when bound but rounded when parsed
                    // from the message, and could differ by one.
                    let at = Utc::now() + TimeDelta::seconds(1);
                    let at = DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap();
                    let message = NewMessage::new(&Due { at }).unwrap();
                    let stream = format!("Reminder-{}", (task * 125 + i) % 100);
                    let id = store.schedule(&stream, message, at).await.unwrap();
                    if (task * 125 + i) % 2 == 0 {
                        kept.push(id);
                    } else {
                        assert!(store.cancel_scheduled(id).await.unwrap(), "still waiting");
                        cancelled.push(id);
                    }
                }
                (kept, cancelled)
            })
        })
        .collect();
    let (mut kept, mut cancelled) = (HashSet::new(), HashSet::new());
    for task in tasks {
        let (k, c) = task.await.unwrap();
        kept.extend(k);
        cancelled.extend(c);
    }
    assert_eq!((kept.len(), cancelled.len()), (500, 500));

    let pool = store.pool();
    eventually("every kept message is handled", || async {
        scalar(pool, "SELECT count(*) FROM delivered").await >= 500
    })
    .await;
    // Time for a duplicate to show up. Handlers run at least once; with no
    // worker killed, that is once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(&mut workers);

    let delivered: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)> =
        sqlx::query_as("SELECT id, due, started FROM delivered")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(delivered.len(), 500, "handled once each");
    let ids: HashSet<Uuid> = delivered.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(ids, kept);
    for (id, due, started) in &delivered {
        assert!(
            started >= due,
            "{id} handled at {started}, before it was due at {due}"
        );
    }
    let stored: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, (data->>'at')::timestamptz, timestamp FROM beckett.messages WHERE type = 'Due'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(stored.len(), 500, "appended once each");
    for (id, due, appended) in &stored {
        assert!(!cancelled.contains(id), "cancelled {id} was appended");
        assert!(
            appended >= due,
            "{id} appended at {appended}, before it was due at {due}"
        );
    }
    assert_eq!(
        scalar(pool, "SELECT count(*) FROM beckett.scheduled_messages").await,
        0
    );
    let mut delays: Vec<f64> = delivered
        .iter()
        .map(|(_, due, started)| (*started - *due).as_seconds_f64() * 1000.0)
        .collect();
    delays.sort_by(f64::total_cmp);
    println!(
        "due to handler start: p50 {:.1} ms, p99 {:.1} ms",
        delays[delays.len() / 2],
        delays[delays.len() * 99 / 100]
    );
}

#[sqlx::test(migrations = false)]
async fn missed_occurrences_fire_once_after_a_restart(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let store = setup(options, &connect).await;
    let mut workers = start(&connect, 1, "Ticker");
    eventually("the job fires", || async {
        !ticks(store.pool(), TICKER).await.is_empty()
    })
    .await;
    stop(&mut workers);
    let before = scheduled_times(&occurrences(&store, TICKER).await);
    tokio::time::sleep(Duration::from_millis(3500)).await;

    let restarted_at = Utc::now();
    let mut workers = start(&connect, 1, "Ticker");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop(&mut workers);

    let times = scheduled_times(&occurrences(&store, TICKER).await);
    let last_before = *before.last().unwrap();
    let after: Vec<_> = times.iter().filter(|t| **t > last_before).collect();
    assert!(after.len() >= 2, "the schedule goes on: {times:?}");
    // Three or more occurrences were missed; only the newest of them fires,
    // whenever the restarted worker got to it.
    assert!(
        *after[0] >= last_before + TimeDelta::seconds(3)
            && *after[0] <= restarted_at + TimeDelta::seconds(2),
        "the missed occurrences fire once, as the newest: {times:?}, restarted at {restarted_at}"
    );
    for pair in after.windows(2) {
        assert_eq!(*pair[1] - *pair[0], TimeDelta::seconds(1), "{times:?}");
    }
}

#[sqlx::test(migrations = false)]
async fn an_hour_of_missed_minutes_fires_once(options: PgPoolOptions, connect: PgConnectOptions) {
    let store = setup(options, &connect).await;
    let an_hour_ago =
        Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap() - TimeDelta::hours(1);
    let seed = NewMessage::new(&Occurrence::new("minutely", an_hour_ago)).unwrap();
    store
        .append(MINUTELY, ExpectedVersion::NoStream, vec![seed])
        .await
        .unwrap();

    let started_at = Utc::now();
    let mut workers = start(&connect, 1, "Minutely");
    // The seeded occurrence is handled too: the subscription is new.
    eventually("the missed occurrence is handled", || async {
        ticks(store.pool(), MINUTELY).await.contains(&2)
    })
    .await;
    stop(&mut workers);

    let times = scheduled_times(&occurrences(&store, MINUTELY).await);
    let minute = TimeDelta::minutes(1);
    assert!(
        times[1] >= started_at.duration_trunc(minute).unwrap() && times[1] <= Utc::now(),
        "sixty missed minutes fire once, as the newest: {times:?}, started at {started_at}"
    );
    for pair in times[1..].windows(2) {
        assert_eq!(pair[1] - pair[0], minute, "{times:?}");
    }
}

#[sqlx::test(migrations = false)]
async fn a_job_never_fired_counts_from_its_declaration(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let store = setup(options, &connect).await;
    // Declared an hour ago by a process that stopped before the job's first
    // occurrence.
    sqlx::query(
        "INSERT INTO beckett.recurring_jobs (group_name, name, cron, stream_name, declared_at)
         VALUES ('Minutely', 'minutely', '0 * * * * *', $1, now() - interval '1 hour')",
    )
    .bind(MINUTELY)
    .execute(store.pool())
    .await
    .unwrap();

    let started_at = Utc::now();
    let mut workers = start(&connect, 1, "Minutely");
    eventually("the missed occurrence is handled", || async {
        ticks(store.pool(), MINUTELY).await.contains(&1)
    })
    .await;
    stop(&mut workers);

    let times = scheduled_times(&occurrences(&store, MINUTELY).await);
    assert!(
        times[0] <= started_at,
        "the occurrences missed since the job was declared fire once at start: {times:?}"
    );
}

#[sqlx::test(migrations = false)]
async fn a_job_no_longer_declared_stops_and_says_so(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let store = setup(options, &connect).await;
    let pool = store.pool();
    sqlx::query(
        "INSERT INTO beckett.recurring_jobs (group_name, name, cron, stream_name)
         VALUES ('Ticker', 'retired', '* * * * * *', 'Recurring-Ticker.retired')",
    )
    .execute(pool)
    .await
    .unwrap();
    let history = NewMessage::new(&Occurrence::new("retired", Utc::now())).unwrap();
    store
        .append(
            "Recurring-Ticker.retired",
            ExpectedVersion::NoStream,
            vec![history],
        )
        .await
        .unwrap();
    let log = std::env::temp_dir().join(format!("beckett-retired-{}.log", Uuid::now_v7()));
    let mut command = Worker::command(&connect, "worker-1", &[("BECKETT_GROUPS", "Ticker")]);
    command
        .env("RUST_LOG", "beckett=warn")
        .stderr(std::fs::File::create(&log).unwrap());
    let mut worker = Worker::spawn("worker-1", command);
    eventually("the declared job fires", || async {
        !ticks(pool, TICKER).await.is_empty()
    })
    .await;
    worker.terminate(Duration::from_secs(20));

    let removed: bool = sqlx::query_scalar(
        "SELECT removed_at IS NOT NULL FROM beckett.recurring_jobs WHERE name = 'retired'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(removed);
    let history = store.read_stream("Recurring-Ticker.retired", 1, 10).await;
    assert_eq!(history.unwrap().len(), 1, "kept, and not fired again");
    let logged = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).unwrap();
    assert!(
        logged.contains("recurring job is no longer declared") && logged.contains("retired"),
        "{logged}"
    );
}
