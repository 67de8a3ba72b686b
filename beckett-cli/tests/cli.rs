//! The `beckett` command against real stores: each command run as a
//! process, as an operator runs it, and its effect read back through the
//! library.

use beckett::recurring::RecurringJobs;
use beckett::scheduling::Due;
use beckett::subscription::{CheckpointFilter, CheckpointStatus, Checkpoints, Subscriptions};
use beckett::{Beckett, Envelope, ExpectedVersion, MessageStorage, NewMessage, PostgresStore};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[beckett::subscription(group = "Cli", category = "Order", max_retries = 0)]
async fn orders(envelope: Envelope) -> Result<(), beckett::BoxError> {
    match envelope.data["fail"] == true {
        true => Err(format!("refused at {}", envelope.stream).into()),
        false => Ok(()),
    }
}

/// At midnight: never due while the test runs, unless run now.
#[beckett::recurring("0 0 * * *", group = "CliJobs")]
async fn nightly() -> beckett::Result<()> {
    Ok(())
}

/// Runs `beckett` with `args` on the database at `url`.
fn beckett(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_beckett"))
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .expect("the beckett command runs")
}

/// Runs `beckett`, which must succeed; returns what it printed.
fn ok(url: &str, args: &[&str]) -> String {
    let output = beckett(url, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "beckett {args:?} failed: {stderr}");
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Runs `beckett` with `--json`; returns what it printed, parsed.
fn json(url: &str, args: &[&str]) -> Value {
    let args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
    let printed = ok(url, &args);
    serde_json::from_str(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"))
}

/// Runs `beckett`, which must fail; returns what it said on stderr.
fn refused(url: &str, args: &[&str]) -> String {
    let output = beckett(url, args);
    assert!(!output.status.success(), "beckett {args:?} succeeded");
    String::from_utf8(output.stderr).expect("UTF-8 output")
}

/// The URL of the test's own database.
fn url_of(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
    let server = base
        .rsplit_once('/')
        .map_or(base.as_str(), |(server, _)| server);
    let options = pool.connect_options();
    let database = options.get_database().expect("a database");
    format!("{server}/{database}")
}

#[sqlx::test(migrations = false)]
async fn operators_commands_on_postgres(pool: PgPool) {
    let url = url_of(&pool);
    assert_eq!(json(&url, &["migrate"]), json!({ "migrated": 1 }));
    assert!(ok(&url, &["migration-script"]).contains("CREATE TABLE"));

    let store = PostgresStore::new(pool.clone());
    let order = |fail: bool| NewMessage::from_json("OrderPlaced", json!({ "fail": fail }));
    for (stream, fail) in [("Order-1", true), ("Order-2", true), ("Order-3", false)] {
        store
            .append(stream, ExpectedVersion::Any, vec![order(fail)])
            .await
            .unwrap();
    }
    let running = Beckett::builder()
        .pool(pool.clone())
        .groups(["Cli"])
        .poll_interval(Duration::from_millis(100))
        .build()
        .unwrap()
        .spawn();
    let checkpoints = Checkpoints::new(store.clone());
    let failed = CheckpointFilter::default().status(CheckpointStatus::Failed);
    let deadline = Instant::now() + Duration::from_secs(20);
    while checkpoints.count(&failed).await.unwrap() < 2 {
        assert!(Instant::now() < deadline, "two streams fail");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await.unwrap();

    let listed = json(&url, &["failed"]);
    let streams: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["stream"].as_str().unwrap())
        .collect();
    assert_eq!(streams, ["Order-1", "Order-2"]);
    assert_eq!(listed[0]["status"], "failed");
    let table = ok(&url, &["failed", "--group", "Cli"]);
    assert!(
        table.starts_with("GROUP") && table.contains("refused at Order-2"),
        "{table}"
    );

    let unnamed = refused(&url, &["retry"]);
    assert!(unnamed.contains("--all"), "{unnamed}");
    let blank = refused(&url, &["skip", "--error", ""]);
    assert!(
        blank.contains("--all"),
        "a blank filter skipped everything: {blank}"
    );
    assert_eq!(
        json(&url, &["retry", "--stream", "Order-1"]),
        json!({ "retried": 1 })
    );
    let retrying = CheckpointFilter::default().status(CheckpointStatus::Retry);
    assert_eq!(checkpoints.count(&retrying).await.unwrap(), 1);
    assert_eq!(ok(&url, &["skip", "--all"]), "skipped: 1\n");
    assert_eq!(checkpoints.count(&failed).await.unwrap(), 0);

    let subscriptions = Subscriptions::new(store.clone());
    let listed = json(&url, &["subscriptions"]);
    assert_eq!(listed[0]["name"], "orders", "{listed}");
    assert_eq!(ok(&url, &["pause", "Cli", "orders"]), "paused: 1\n");
    assert!(subscriptions.list(Some("Cli")).await.unwrap()[0].paused);
    assert_eq!(ok(&url, &["resume", "Cli", "orders"]), "resumed: 1\n");
    assert!(!subscriptions.list(Some("Cli")).await.unwrap()[0].paused);
    let unknown = refused(&url, &["pause", "Cli", "nobody"]);
    assert!(unknown.contains("no subscription `nobody`"), "{unknown}");

    assert_eq!(
        ok(&url, &["reset", "Cli", "orders", "--to", "start"]),
        "reset: 1\n"
    );
    let after_reset = &subscriptions.list(Some("Cli")).await.unwrap()[0];
    assert_eq!(after_reset.checkpoints, 0, "{after_reset:?}");
    let third = store.read_stream("Order-3", 1, 1).await.unwrap();
    let id = third[0].id.to_string();
    assert_eq!(
        ok(&url, &["reset", "Cli", "orders", "--to", &id]),
        "reset: 1\n"
    );
    let cursor = &subscriptions.list(Some("Cli")).await.unwrap()[0].cursor;
    assert_eq!(cursor.frontier().global_position, third[0].global_position);
    let bogus = refused(&url, &["reset", "Cli", "orders", "--to", "yesterday"]);
    assert!(bogus.contains("`yesterday`"), "{bogus}");
    let nowhere = uuid::Uuid::now_v7().to_string();
    let unknown = refused(&url, &["reset", "Cli", "orders", "--to", &nowhere]);
    assert!(unknown.contains("no message has the id"), "{unknown}");

    let later = NewMessage::from_json("Reminder", json!({}));
    let id = store
        .schedule("Reminder-1", later, Due::In(Duration::from_secs(3600)))
        .await
        .unwrap()
        .to_string();
    let scheduled = json(&url, &["scheduled", "--stream-prefix", "Reminder-"]);
    assert_eq!(scheduled[0]["id"], id.as_str(), "{scheduled}");
    assert_eq!(ok(&url, &["deliver-now", &id]), "due now: 1\n");
    assert_eq!(ok(&url, &["cancel", &id]), "cancelled: 1\n");
    let gone = refused(&url, &["cancel", &id]);
    assert!(gone.contains("is waiting"), "{gone}");
}

#[sqlx::test(migrations = false)]
async fn recurring_jobs_are_listed_and_run_now(pool: PgPool) {
    let url = url_of(&pool);
    ok(&url, &["migrate"]);
    let running = Beckett::builder()
        .pool(pool.clone())
        .groups(["CliJobs"])
        .poll_interval(Duration::from_millis(100))
        .build()
        .unwrap()
        .spawn();
    let jobs = RecurringJobs::new(PostgresStore::new(pool.clone()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while jobs.list().await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the job is declared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let listed = json(&url, &["recurring"]);
    let job = &listed[0];
    assert_eq!(
        (&job["group"], &job["name"], &job["cron"], &job["stream"]),
        (
            &json!("CliJobs"),
            &json!("nightly"),
            &json!("0 0 * * *"),
            &json!("Recurring-CliJobs.nightly")
        ),
        "{listed}"
    );
    // The job's schedule comes from the store: the command does not
    // declare the job.
    let next = job["next"].as_array().expect("next occurrences listed");
    let midnights = next
        .iter()
        .filter_map(Value::as_str)
        .filter(|at| at.ends_with("T00:00:00Z"));
    assert_eq!(midnights.count(), 5, "the next 5 midnights: {listed}");
    assert_eq!(job["last_run"], Value::Null, "{listed}");

    assert_eq!(ok(&url, &["run-now", "CliJobs", "nightly"]), "run now: 1\n");
    loop {
        let listed = json(&url, &["recurring"]);
        let run = &listed[0]["last_run"];
        if run["outcome"]["status"] == "handled" {
            assert_eq!(run["run_now"], true, "{listed}");
            break;
        }
        assert!(Instant::now() < deadline, "the run is handled: {listed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let table = ok(&url, &["recurring"]);
    assert!(
        table.starts_with("GROUP")
            && table.contains("0 0 * * *  20")
            && table.contains("T00:00:00Z")
            && table.contains("(run now)  handled"),
        "{table}"
    );
    let unknown = refused(&url, &["run-now", "CliJobs", "hourly"]);
    assert!(
        unknown.contains("no recurring job `hourly` is declared in group `CliJobs`"),
        "{unknown}"
    );

    running.stop().await.unwrap();
}

#[test]
fn a_sqlite_file_is_migrated_and_listed() {
    let dir = std::env::temp_dir().join(format!("beckett-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("cli.db").display());
    assert_eq!(json(&url, &["migrate"]), json!({ "migrated": 1 }));
    assert_eq!(json(&url, &["subscriptions"]), json!([]));
    assert_eq!(json(&url, &["recurring"]), json!([]));
    assert_eq!(
        ok(&url, &["failed"]),
        "GROUP  SUBSCRIPTION  STREAM  POSITION  VERSION  STATUS  ATTEMPTS  LAST ERROR\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
