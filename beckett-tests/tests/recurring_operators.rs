//! Recurring jobs as operators see them: every job listed with its cron
//! expression, its next occurrences and how its last run went, failures
//! with their errors; and a job run now, once, at once, while its schedule
//! goes on firing each occurrence once.

mod common;

use beckett::recurring::{Occurrence, RecurringJob, RecurringJobs, RunNow, RunOutcome};
use beckett::sqlite::SqliteStore;
use beckett::state::{EngineStorage, Storage};
use beckett::{Beckett, Context, ExpectedVersion, MessageStorage, NewMessage, PostgresStore};
use chrono::{DateTime, DurationRound, TimeDelta, Timelike, Utc};
use common::{eventually, run_group, store};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// At minute 0 of every hour: never due while a test runs, unless run now.
/// Records each run in the `ran` table.
#[beckett::recurring("0 * * * *", group = "Operated")]
async fn hourly(occurrence: Occurrence, ctx: Context) -> Result<(), sqlx::Error> {
    ran(occurrence, &ctx).await
}

/// Every 2 seconds; records each run in the `ran` table.
#[beckett::recurring("*/2 * * * * *", group = "Paced")]
async fn paced(occurrence: Occurrence, ctx: Context) -> Result<(), sqlx::Error> {
    ran(occurrence, &ctx).await
}

/// Fails every call, so its first occurrence fails.
#[beckett::recurring("* * * * * *", group = "Failing", max_retries = 0)]
async fn always_fails(ctx: Context) -> Result<(), String> {
    Err(format!("occurrence #{} cannot run", ctx.position()))
}

const HOURLY: &str = "Recurring-Operated.hourly";
const PACED: &str = "Recurring-Paced.paced";

/// Records a run: the position it ran for and whether it was run now.
async fn ran(occurrence: Occurrence, ctx: &Context) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO ran (position, run_now) VALUES ($1, $2)")
        .bind(ctx.position())
        .bind(occurrence.run_now_after.is_some())
        .execute(common::pool(ctx))
        .await
        .map(drop)
}

/// The positions the jobs ran for, in the order they ran.
async fn runs(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar("SELECT position FROM ran ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Migrates, and creates the `ran` table.
async fn prepared(pool: &PgPool) -> PostgresStore {
    let store = store(pool.clone()).await;
    sqlx::query("CREATE TABLE ran (id bigserial, position bigint, run_now bool)")
        .execute(pool)
        .await
        .unwrap();
    store
}

/// The job of `group` named `name`, as listed.
async fn listed(jobs: &RecurringJobs, group: &str, name: &str) -> Option<RecurringJob> {
    let listed = jobs.list().await.unwrap();
    listed
        .into_iter()
        .find(|job| job.info.group == group && job.info.name == name)
}

/// Runs `group` until the job named `name` is declared.
async fn declared(pool: &PgPool, jobs: &RecurringJobs, group: &str, name: &str) -> common::Running {
    let running = run_group(pool, group, |b| b);
    eventually("the job is declared", || async {
        listed(jobs, group, name).await.is_some()
    })
    .await;
    running
}

async fn stop((stop, running): common::Running) {
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// The occurrences in a job's stream.
async fn occurrences(store: &impl MessageStorage, stream: &str) -> Vec<Occurrence> {
    let read = store.read_stream(stream, 1, 1000).await.unwrap();
    read.iter().map(|m| m.decode().unwrap()).collect()
}

/// Whether `job` failed on its first occurrence with its error.
fn failed_with_its_error(job: &RecurringJob) -> bool {
    let outcome = job.last_run.as_ref().map(|run| &run.outcome);
    matches!(outcome, Some(RunOutcome::Failed { attempts: 1, error })
        if error.contains("occurrence #1 cannot run"))
}

#[sqlx::test(migrations = false)]
async fn jobs_are_listed_with_their_schedules_and_last_runs(pool: PgPool) {
    let store = prepared(&pool).await;
    let jobs = RecurringJobs::new(store.clone());
    let operated = declared(&pool, &jobs, "Operated", "hourly").await;
    let failing = declared(&pool, &jobs, "Failing", "always_fails").await;
    eventually("the failing job fails", || async {
        failed_with_its_error(&listed(&jobs, "Failing", "always_fails").await.unwrap())
    })
    .await;

    let hourly = listed(&jobs, "Operated", "hourly").await.unwrap();
    assert_eq!(hourly.info.cron, "0 * * * *");
    assert_eq!(hourly.info.stream, HOURLY);
    assert_eq!(hourly.info.removed_at, None);
    assert_eq!(hourly.last_run, None, "a new job fired before its time");
    let next = hourly.next.expect("this program declares the job");
    let now = Utc::now();
    assert_eq!(next.len(), 5);
    assert!(next[0] > now - TimeDelta::seconds(5) && next[0] <= now + TimeDelta::hours(1));
    assert!(
        next.iter().all(|at| at.minute() == 0 && at.second() == 0),
        "{next:?}"
    );
    for pair in next.windows(2) {
        assert_eq!(pair[1] - pair[0], TimeDelta::hours(1), "{next:?}");
    }

    let failed = listed(&jobs, "Failing", "always_fails").await.unwrap();
    let run = failed.last_run.as_ref().unwrap();
    assert!(!run.run_now);
    assert_eq!(run.scheduled_at.timestamp_subsec_nanos(), 0, "{run:?}");
    assert!(run
        .outcome
        .to_string()
        .starts_with("failed after 1 attempt"));
    let held_back = jobs.run_now("Failing", "always_fails").await.unwrap();
    let failing_job = ("Failing".to_owned(), "always_fails".to_owned());
    assert!(
        matches!(&held_back, RunNow::Failed { group, name } if (group.clone(), name.clone()) == failing_job),
        "a run asked for behind a failed one: {held_back:?}"
    );
    assert!(held_back.to_string().contains("retry it"), "{held_back}");
    stop(operated).await;
    stop(failing).await;

    // What a version that records no schedule does when it declares the
    // job anew with another expression: the schedule stored no longer
    // tells the job's occurrences.
    sqlx::query("UPDATE beckett.recurring_jobs SET cron = '30 * * * *' WHERE name = 'hourly'")
        .execute(&pool)
        .await
        .unwrap();
    let redeclared = listed(&jobs, "Operated", "hourly").await.unwrap();
    assert_eq!(redeclared.info.cron, "30 * * * *");
    assert_eq!(redeclared.info.schedule, None, "{redeclared:?}");
    assert_eq!(redeclared.next, None, "{redeclared:?}");

    // What a process declaring no job of the group does at start.
    let removed = store.remove_other_jobs("Operated", &[]).await.unwrap();
    assert_eq!(removed.len(), 1);
    let hourly = listed(&jobs, "Operated", "hourly").await.unwrap();
    let removed_at = hourly.info.removed_at.expect("removed");
    assert_eq!(hourly.next, Some(Vec::new()));
    let refused = jobs.run_now("Operated", "hourly").await.unwrap();
    assert_eq!(
        refused,
        RunNow::Removed {
            group: "Operated".to_owned(),
            name: "hourly".to_owned(),
            removed_at,
        }
    );
    assert!(
        refused
            .to_string()
            .contains("`hourly` of group `Operated` was removed"),
        "{refused}"
    );
    let unknown = jobs
        .run_now("Operated", "nightly")
        .await
        .unwrap()
        .to_string();
    assert!(
        unknown.contains("no recurring job `nightly` is declared in group `Operated`"),
        "{unknown}"
    );
    assert!(occurrences(&store, HOURLY).await.is_empty());
}

#[sqlx::test(migrations = false)]
async fn a_job_run_now_runs_once_at_once(pool: PgPool) {
    let store = prepared(&pool).await;
    let jobs = RecurringJobs::new(store.clone());
    let running = declared(&pool, &jobs, "Operated", "hourly").await;

    let asked = Utc::now();
    let outcome = jobs.run_now("Operated", "hourly").await.unwrap();
    assert_eq!(
        outcome,
        RunNow::Appended {
            stream: HOURLY.to_owned(),
            position: 1
        }
    );
    eventually("the job runs", || async { runs(&pool).await == [1] }).await;
    let hourly = listed(&jobs, "Operated", "hourly").await.unwrap();
    let run = hourly.last_run.unwrap();
    assert!(run.run_now);
    assert_eq!(run.outcome, RunOutcome::Handled);
    assert!(run.scheduled_at >= asked && run.scheduled_at <= Utc::now());

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(runs(&pool).await, [1], "the job ran more than once");
    assert_eq!(
        occurrences(&store, HOURLY).await.len(),
        1,
        "an occurrence fired early"
    );
    stop(running).await;
}

#[sqlx::test(migrations = false)]
async fn a_run_now_takes_no_scheduled_occurrences_place(pool: PgPool) {
    let store = prepared(&pool).await;
    let jobs = RecurringJobs::new(store.clone());
    stop(declared(&pool, &jobs, "Operated", "hourly").await).await;
    // The occurrence of three hours ago was the last fired; the processes
    // stopped then, so the newest since is due. An operator runs the job
    // now while none runs.
    let hour = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap();
    let fired = hour - TimeDelta::hours(3);
    let occurrence = NewMessage::new(&Occurrence::new("hourly", fired)).unwrap();
    store
        .append(HOURLY, ExpectedVersion::NoStream, vec![occurrence])
        .await
        .unwrap();
    let outcome = jobs.run_now("Operated", "hourly").await.unwrap();
    assert!(
        matches!(outcome, RunNow::Appended { position: 2, .. }),
        "{outcome:?}"
    );

    let running = run_group(&pool, "Operated", |b| b);
    eventually("the missed occurrence fires", || async {
        occurrences(&store, HOURLY).await.len() == 3
    })
    .await;
    let stream = occurrences(&store, HOURLY).await;
    assert_eq!(stream[1].run_now_after, Some(fired), "{stream:?}");
    let missed = &stream[2];
    assert_eq!(missed.run_now_after, None);
    assert!(
        missed.scheduled_at > fired && missed.scheduled_at >= hour,
        "the newest missed occurrence fires: {stream:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(occurrences(&store, HOURLY).await.len(), 3, "it fired twice");
    stop(running).await;
}

#[sqlx::test(migrations = false)]
async fn the_schedule_fires_each_occurrence_once_around_a_run_now(pool: PgPool) {
    let store = prepared(&pool).await;
    let jobs = RecurringJobs::new(store.clone());
    let running = run_group(&pool, "Paced", |b| b);
    eventually("the job fires", || async {
        !occurrences(&store, PACED).await.is_empty()
    })
    .await;
    let RunNow::Appended { position, .. } = jobs.run_now("Paced", "paced").await.unwrap() else {
        panic!("the job is declared");
    };
    let scheduled_after = || async {
        let stream = occurrences(&store, PACED).await;
        stream[position as usize..]
            .iter()
            .filter(|o| o.run_now_after.is_none())
            .count()
    };
    eventually("two scheduled occurrences follow", || async {
        scheduled_after().await >= 2
    })
    .await;
    stop(running).await;

    let stream = occurrences(&store, PACED).await;
    let asked = &stream[position as usize - 1];
    let before = &stream[position as usize - 2];
    assert_eq!(asked.run_now_after, Some(before.scheduled_at), "{stream:?}");
    let scheduled: Vec<DateTime<Utc>> = stream
        .iter()
        .filter(|o| o.run_now_after.is_none())
        .map(|o| o.scheduled_at)
        .collect();
    // Every 2 seconds, each once; a process held up past an occurrence
    // fires only the newest it missed, so a gap may span several.
    for pair in scheduled.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap > TimeDelta::zero() && gap.num_milliseconds() % 2_000 == 0,
            "{stream:?}"
        );
    }
    // A scheduled occurrence appended before the run asked for was taken
    // up stands in for it: a backlog runs once, for the newest.
    let ran = runs(&pool).await;
    assert!(
        ran.contains(&position) || ran.contains(&(position + 1)),
        "neither the run asked for nor the occurrence after it ran: {ran:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_are_listed_on_sqlite() {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let storage = Storage::together(store.clone());
    let jobs = RecurringJobs::on(storage.clone());
    let stop = CancellationToken::new();
    let engine = Beckett::builder()
        .storage(storage)
        .groups(["Failing"])
        .poll_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let signal = stop.clone();
    let running = tokio::spawn(async move { engine.run_until(signal.cancelled_owned()).await });
    eventually("the failing job fails", || async {
        listed(&jobs, "Failing", "always_fails")
            .await
            .is_some_and(|job| failed_with_its_error(&job))
    })
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();

    let job = listed(&jobs, "Failing", "always_fails").await.unwrap();
    assert_eq!(job.info.cron, "* * * * * *");
    assert_eq!(job.info.stream, "Recurring-Failing.always_fails");
    assert_eq!(job.next.map(|next| next.len()), Some(5));
    store.remove_other_jobs("Failing", &[]).await.unwrap();
    let job = listed(&jobs, "Failing", "always_fails").await.unwrap();
    assert!(job
        .info
        .removed_at
        .is_some_and(|at| at >= job.info.declared_at));
}
