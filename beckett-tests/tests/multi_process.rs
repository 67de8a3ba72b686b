//! Several worker processes of one group, killed, terminated and taken
//! over: every message is handled, in stream order, and nothing is left
//! behind.

mod common;

use beckett::{Context, ExpectedVersion, MessageStorage, PostgresStore};
use common::workers::{program, Worker};
use common::{counted, eventually, store_with_connections, Counted};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// A subscription of the workers' group that only this program, a newer
/// version of the worker's, declares.
#[beckett::subscription(group = "Workers", messages(Counted))]
async fn audit(_: Counted, ctx: Context) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO audited (stream, position) VALUES ($1, $2)")
        .bind(ctx.stream())
        .bind(ctx.position())
        .execute(common::pool(&ctx))
        .await
        .map(drop)
}

/// Migrates and creates the tables the worker's handlers write.
async fn setup(options: PgPoolOptions, connect: &PgConnectOptions) -> PostgresStore {
    let store = store_with_connections(options, connect.clone(), 8).await;
    for table in ["started", "handled", "handled_once"] {
        sqlx::query(&format!(
            "CREATE TABLE {table} (id bigserial PRIMARY KEY, worker text, stream text, position bigint)"
        ))
        .execute(store.pool())
        .await
        .unwrap();
    }
    store
}

/// Appends `per_stream` messages to each of `streams` streams, from four
/// tasks, in batches of `batch`.
async fn append(store: &PostgresStore, streams: usize, per_stream: usize, batch: usize) {
    let tasks: Vec<_> = (0..4)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for round in 0..per_stream / batch {
                    for stream in (task..streams).step_by(4) {
                        let messages = (0..batch)
                            .map(|i| counted((round * batch + i) as i64))
                            .collect();
                        store
                            .append(&format!("Load-{stream}"), ExpectedVersion::Any, messages)
                            .await
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Waits until `sql` counts at least `expected`.
async fn wait_for(pool: &PgPool, sql: &str, expected: i64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let seen = count(pool, sql).await;
        if seen >= expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sql}: {seen} of {expected} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Streams whose messages were first handled out of stream order.
async fn out_of_order_streams(pool: &PgPool, table: &str) -> i64 {
    count(
        pool,
        &format!(
            "SELECT count(*) FROM (
                SELECT stream, array_agg(position ORDER BY first) AS handled,
                       array_agg(position ORDER BY position) AS sorted
                FROM (SELECT stream, position, min(id) AS first FROM {table} GROUP BY 1, 2) AS f
                GROUP BY stream
            ) AS s WHERE handled <> sorted"
        ),
    )
    .await
}

const DISTINCT_HANDLED: &str =
    "SELECT count(*) FROM (SELECT DISTINCT stream, position FROM handled) AS d";

#[sqlx::test(migrations = false)]
async fn three_workers_handle_every_message_once_in_stream_order(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let store = setup(options, &connect).await;
    let groups = [("BECKETT_GROUPS", "Workers")];
    let mut workers: Vec<_> = (1..=3)
        .map(|i| Worker::start(&connect, &format!("worker-{i}"), &groups))
        .collect();

    append(&store, 500, 40, 10).await;
    let pool = store.pool();
    wait_for(
        pool,
        "SELECT count(*) FROM handled",
        20_000,
        Duration::from_secs(240),
    )
    .await;

    assert_eq!(
        count(pool, "SELECT count(*) FROM handled").await,
        20_000,
        "handled more than once"
    );
    assert_eq!(count(pool, DISTINCT_HANDLED).await, 20_000);
    assert_eq!(out_of_order_streams(pool, "handled").await, 0);
    assert_eq!(
        count(pool, "SELECT count(DISTINCT worker) FROM handled").await,
        3,
        "work is shared"
    );
    for worker in &mut workers {
        assert!(worker.terminate(Duration::from_secs(20)).success());
    }
}

#[sqlx::test(migrations = false)]
async fn killed_worker_streams_are_recovered(options: PgPoolOptions, connect: PgConnectOptions) {
    let store = setup(options, &connect).await;
    let env = [
        ("BECKETT_GROUPS", "Workers"),
        ("BECKETT_RESERVATION_TIMEOUT", "2s"),
        ("BECKETT_CONCURRENCY", "4"),
        ("BECKETT_PREFETCH", "8"),
        ("BECKETT_BATCH_SIZE", "10"),
        ("WORKER_HANDLER_DELAY_MS", "5"),
    ];
    let mut workers: Vec<_> = (1..=3)
        .map(|i| Worker::start(&connect, &format!("worker-{i}"), &env))
        .collect();
    append(&store, 100, 20, 10).await;
    let pool = store.pool();
    wait_for(
        pool,
        "SELECT count(*) FROM handled WHERE worker = 'worker-1'",
        50,
        Duration::from_secs(60),
    )
    .await;

    workers[0].kill();
    wait_for(pool, DISTINCT_HANDLED, 2_000, Duration::from_secs(120)).await;

    // The killed worker held at most 8 streams, handled or waiting to be
    // written, each with a batch of at most 10 messages not yet recorded as
    // handled.
    let repeats = count(pool, "SELECT count(*) FROM handled").await - 2_000;
    assert!(repeats <= 80, "{repeats} messages handled twice");
    assert_eq!(out_of_order_streams(pool, "handled").await, 0);
    for worker in &mut workers[1..] {
        assert!(worker.terminate(Duration::from_secs(20)).success());
    }
}

#[sqlx::test(migrations = false)]
async fn slow_handlers_leave_a_backlog_to_share(options: PgPoolOptions, connect: PgConnectOptions) {
    let store = setup(options, &connect).await;
    append(&store, 600, 1, 1).await;
    let pool = store.pool();
    let env = [
        ("BECKETT_GROUPS", "Workers"),
        ("BECKETT_CONCURRENCY", "4"),
        ("WORKER_HANDLER_DELAY_MS", "20"),
    ];
    let mut first = Worker::start(&connect, "worker-1", &env);
    wait_for(
        pool,
        "SELECT count(*) FROM handled",
        20,
        Duration::from_secs(60),
    )
    .await;
    let mut second = Worker::start(&connect, "worker-2", &env);
    wait_for(pool, DISTINCT_HANDLED, 600, Duration::from_secs(120)).await;

    // Alone, the first worker takes 3 s over the 600 streams. Had it
    // reserved the whole backlog at once, the second would find none of
    // it; holding what it gets through in half a second, it leaves most.
    let by_second = count(
        pool,
        "SELECT count(*) FROM handled WHERE worker = 'worker-2'",
    )
    .await;
    assert!(
        by_second >= 100,
        "the second worker handled {by_second} of 600"
    );
    for worker in [&mut first, &mut second] {
        assert!(worker.terminate(Duration::from_secs(20)).success());
    }
}

/// The worker whose connection holds the group's global consumer lock.
async fn leader(pool: &PgPool) -> Option<String> {
    sqlx::query_scalar(
        "SELECT a.application_name FROM pg_locks AS l JOIN pg_stat_activity AS a USING (pid)
         WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()",
    )
    .fetch_optional(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn killed_global_consumer_is_taken_over(options: PgPoolOptions, connect: PgConnectOptions) {
    let store = setup(options, &connect).await;
    // The killed worker may also hold checkpoints; they come back when
    // their reservations expire.
    let env = [
        ("BECKETT_GROUPS", "Workers"),
        ("BECKETT_RESERVATION_TIMEOUT", "2s"),
    ];
    let mut workers: Vec<_> = (1..=2)
        .map(|i| Worker::start(&connect, &format!("worker-{i}"), &env))
        .collect();
    append(&store, 20, 10, 10).await;
    let pool = store.pool();
    wait_for(pool, DISTINCT_HANDLED, 200, Duration::from_secs(60)).await;

    let first = leader(pool).await.expect("one worker leads");
    let index = workers.iter().position(|w| w.name == first).unwrap();
    workers[index].kill();
    append(&store, 30, 10, 10).await;
    wait_for(pool, DISTINCT_HANDLED, 500, Duration::from_secs(60)).await;

    let second = leader(pool).await.expect("another worker leads");
    assert_ne!(first, second);
    assert!(workers[1 - index]
        .terminate(Duration::from_secs(20))
        .success());
}

#[sqlx::test(migrations = false)]
async fn sigterm_lets_handlers_finish_and_releases_everything(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let store = setup(options, &connect).await;
    let env = [
        ("BECKETT_GROUPS", "Workers"),
        ("BECKETT_CONCURRENCY", "4"),
        ("BECKETT_SHUTDOWN_GRACE", "10s"),
        ("WORKER_HANDLER_DELAY_MS", "400"),
    ];
    let mut worker = Worker::start(&connect, "worker-1", &env);
    append(&store, 20, 10, 10).await;
    let pool = store.pool();
    wait_for(
        pool,
        "SELECT count(*) FROM started",
        4,
        Duration::from_secs(60),
    )
    .await;

    let status = worker.terminate(Duration::from_secs(15));

    assert!(status.success(), "{status}");
    let started = count(pool, "SELECT count(*) FROM started").await;
    assert_eq!(
        count(pool, "SELECT count(*) FROM handled").await,
        started,
        "a handler was cut off"
    );
    let reserved = "SELECT count(*) FROM beckett.checkpoints WHERE reserved_by IS NOT NULL";
    assert_eq!(count(pool, reserved).await, 0);
}

#[sqlx::test(migrations = false)]
async fn transactional_writes_are_exactly_once_across_a_kill(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let store = setup(options, &connect).await;
    let env = [
        ("BECKETT_GROUPS", "Exactly"),
        ("BECKETT_RESERVATION_TIMEOUT", "2s"),
        ("BECKETT_CONCURRENCY", "4"),
        ("WORKER_HANDLER_DELAY_MS", "5"),
    ];
    let mut first = Worker::start(&connect, "worker-1", &env);
    let mut second = Worker::start(&connect, "worker-2", &env);
    append(&store, 50, 20, 10).await;
    let pool = store.pool();
    wait_for(
        pool,
        "SELECT count(*) FROM handled_once",
        200,
        Duration::from_secs(60),
    )
    .await;

    first.kill();
    let mut third = Worker::start(&connect, "worker-3", &env);
    let all = "SELECT count(*) FROM (SELECT DISTINCT stream, position FROM handled_once) AS d";
    wait_for(pool, all, 1_000, Duration::from_secs(120)).await;
    let lagging = "SELECT count(*) FROM beckett.checkpoints WHERE stream_position < stream_version";
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(pool, lagging).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(
        count(pool, "SELECT count(*) FROM handled_once").await,
        1_000,
        "a write repeated"
    );
    assert_eq!(count(pool, lagging).await, 0);
    for worker in [&mut second, &mut third] {
        assert!(worker.terminate(Duration::from_secs(20)).success());
    }
}

#[sqlx::test(migrations = false)]
async fn duplicate_registrations_stop_start_up_naming_both(
    _options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let output = std::process::Command::new(program("test_duplicate_registrations"))
        .env(
            "DATABASE_URL",
            common::workers::database_url(&connect, "duplicates"),
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("two subscriptions are named `answer` in group `Pings`"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("duplicate_registrations.rs:").count(),
        2,
        "{stderr}"
    );
}

/// During a rolling deploy, a process of the older program leads the
/// group while a newer one declares a subscription the older does not know:
/// the leader routes for it, and the newer process handles it.
#[sqlx::test(migrations = false)]
async fn a_leader_of_an_older_version_routes_for_newer_subscriptions(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let store = setup(options, &connect).await;
    sqlx::query("CREATE TABLE audited (stream text, position bigint)")
        .execute(store.pool())
        .await
        .unwrap();
    let pool = store.pool();
    let mut older = Worker::start(&connect, "older", &[("BECKETT_GROUPS", "Workers")]);
    eventually("the older worker leads", || async {
        leader(pool).await.as_deref() == Some("older")
    })
    .await;
    let newer = common::run_group(pool, "Workers", |b| b);
    eventually("the newer process registers its subscription", || async {
        count(pool, "SELECT count(*) FROM beckett.subscriptions").await == 2
    })
    .await;
    append(&store, 4, 5, 5).await;

    eventually("the newer subscription handles every message", || async {
        count(pool, "SELECT count(*) FROM audited").await == 20
    })
    .await;
    assert_eq!(leader(pool).await.as_deref(), Some("older"));
    wait_for(pool, DISTINCT_HANDLED, 20, Duration::from_secs(20)).await;
    let (stop, running) = newer;
    stop.cancel();
    running.await.unwrap().unwrap();
    assert!(older.terminate(Duration::from_secs(20)).success());
}
