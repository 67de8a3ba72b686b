//! Recurring jobs in one process: many schedulers racing for each
//! occurrence, and retries like any subscription.

mod common;

use beckett::recurring::Occurrence;
use beckett::{Context, MessageStorage};
use chrono::TimeDelta;
use common::{eventually, run_group, store};
use sqlx::PgPool;
use std::time::Duration;

#[beckett::recurring("* * * * * *", group = "Racing")]
async fn raced() -> Result<(), beckett::BoxError> {
    Ok(())
}

/// Fails every call, so its occurrences end up failed.
#[beckett::recurring(
    "* * * * * *",
    group = "Failing",
    name = "always_fails",
    max_retries = 1
)]
async fn failing(ctx: Context) -> Result<(), String> {
    Err(format!("occurrence #{} cannot run", ctx.position()))
}

/// Fails until the `healthy` table has a row, recording the positions it
/// ran for once it has.
#[beckett::recurring("* * * * * *", group = "Backlog", max_retries = 0)]
async fn catches_up(ctx: Context) -> Result<(), beckett::BoxError> {
    let pool = common::pool(&ctx);
    let healthy: bool = sqlx::query_scalar("SELECT EXISTS (SELECT FROM healthy)")
        .fetch_one(pool)
        .await?;
    if !healthy {
        return Err("not healthy yet".into());
    }
    sqlx::query("INSERT INTO ran (position) VALUES ($1)")
        .bind(ctx.position())
        .execute(pool)
        .await?;
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn many_schedulers_fire_each_occurrence_once(pool: PgPool) {
    let store = store(pool.clone()).await;
    // All wake at the same instant and read the job's stream at once: only
    // the expected version keeps them from firing an occurrence twice. Each
    // has a pool of its own, as a process would.
    let mut processes = Vec::new();
    for _ in 0..8 {
        let own = PgPool::connect_with((*pool.connect_options()).clone())
            .await
            .unwrap();
        processes.push(run_group(&own, "Racing", |b| b));
    }
    tokio::time::sleep(Duration::from_millis(3500)).await;
    for (stop, _) in &processes {
        stop.cancel();
    }
    for (_, running) in processes {
        running.await.unwrap().unwrap();
    }

    let fired = store
        .read_stream("Recurring-Racing.raced", 1, 100)
        .await
        .unwrap();
    let times: Vec<_> = fired
        .iter()
        .map(|m| m.decode::<Occurrence>().unwrap().scheduled_at)
        .collect();
    assert!(times.len() >= 2, "{times:?}");
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], TimeDelta::seconds(1), "{times:?}");
    }
}

#[sqlx::test(migrations = false)]
async fn a_failing_job_fails_like_a_subscription(pool: PgPool) {
    store(pool.clone()).await;
    let (stop, running) = run_group(&pool, "Failing", |b| b);

    let failed = common::Failed::new(&pool);
    eventually("the job's stream fails", || async {
        !failed.list(Some("Failing")).await.unwrap().is_empty()
    })
    .await;
    let checkpoint = &failed.list(Some("Failing")).await.unwrap()[0];
    assert_eq!(checkpoint.subscription, "always_fails");
    assert_eq!(checkpoint.stream, "Recurring-Failing.always_fails");
    assert_eq!(checkpoint.attempts, 2);
    let error = checkpoint.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("occurrence #1 cannot run"), "{error}");

    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_backlog_of_occurrences_runs_once(pool: PgPool) {
    let store = store(pool.clone()).await;
    for table in [
        "CREATE TABLE healthy (at timestamptz)",
        "CREATE TABLE ran (position bigint)",
    ] {
        sqlx::query(table).execute(&pool).await.unwrap();
    }
    let (stop, running) = run_group(&pool, "Backlog", |b| b);
    let failed = common::Failed::new(&pool);
    eventually("the job's stream fails", || async {
        !failed.list(Some("Backlog")).await.unwrap().is_empty()
    })
    .await;
    // Occurrences pile up behind the failed one.
    eventually("three more occurrences fire", || async {
        store
            .read_stream("Recurring-Backlog.catches_up", 1, 100)
            .await
            .unwrap()
            .len()
            >= 4
    })
    .await;
    sqlx::query("INSERT INTO healthy VALUES (now())")
        .execute(&pool)
        .await
        .unwrap();
    let fired = store
        .read_stream("Recurring-Backlog.catches_up", 1, 100)
        .await
        .unwrap()
        .len() as i64;
    let checkpoint = &failed.list(Some("Backlog")).await.unwrap()[0];
    failed
        .retry(
            &checkpoint.group,
            &checkpoint.subscription,
            &checkpoint.stream,
        )
        .await
        .unwrap();

    eventually("the job runs again", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM ran")
            .fetch_one(&pool)
            .await
            .unwrap()
            > 0
    })
    .await;
    let older: i64 = sqlx::query_scalar("SELECT count(*) FROM ran WHERE position < $1")
        .bind(fired)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(older, 0, "occurrences older than the newest of {fired} ran");

    stop.cancel();
    running.await.unwrap().unwrap();
}
