//! The recurring jobs page over HTTP, against a real database while the
//! engine runs: a job is listed with its schedule, run now by its button,
//! and shown handled; a failing one with its error and a link to its
//! checkpoint; a job not declared is refused by name; a read-only
//! dashboard offers no button and refuses the run.

mod common;

use beckett::dashboard::Dashboard;
use beckett::recurring::{RecurringJob, RecurringJobs, RunOutcome};
use beckett::PostgresStore;
use common::{eventually, run_groups};
use sqlx::PgPool;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// At midnight: never due while the test runs, unless run now.
#[beckett::recurring("0 0 * * *", group = "Nightly")]
async fn nightly() -> beckett::Result<()> {
    Ok(())
}

/// Fails every call, so its first occurrence fails.
#[beckett::recurring("* * * * * *", group = "Broken", max_retries = 0)]
async fn broken() -> Result<(), String> {
    Err("the printer is on fire".to_owned())
}

/// The job named `name`, as listed.
async fn listed(jobs: &RecurringJobs, name: &str) -> Option<RecurringJob> {
    let listed = jobs.list().await.unwrap();
    listed.into_iter().find(|job| job.info.name == name)
}

/// Serves `dashboard` on a free loopback port; returns where, and the
/// task serving it, to abort so that it lets go of the test's database.
async fn serve(dashboard: Dashboard) -> (SocketAddr, JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    (address, tokio::spawn(dashboard.serve(listener)))
}

/// Sends one HTTP/1.1 request, with a form as its body; returns the whole
/// answer.
async fn request(address: SocketAddr, head: &str, form: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!(
        "{head}\r\nHost: {address}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[sqlx::test(migrations = false)]
async fn a_job_is_listed_and_run_now_from_its_page(pool: PgPool) {
    beckett::migrate(&pool).await.unwrap();
    let store = PostgresStore::new(pool.clone());
    let running = run_groups(&pool, ["Nightly", "Broken"]);
    let jobs = RecurringJobs::new(store.clone());
    eventually("a job is declared and the other fails", || async {
        let failed = listed(&jobs, "broken").await.and_then(|job| job.last_run);
        listed(&jobs, "nightly").await.is_some()
            && failed.is_some_and(|run| matches!(run.outcome, RunOutcome::Failed { .. }))
    })
    .await;
    let (address, serving) = serve(Dashboard::new(store.clone())).await;

    let page = request(address, "GET /recurring HTTP/1.1", "").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    for shown in [
        ">Recurring</a>",
        ">nightly</a>",
        "<code>0 0 * * *</code>",
        " 00:00:00 UTC</li>",
        ">never<",
        "<button>Run now</button>",
        "<a href=\"/checkpoints/one?group=Broken&#38;subscription=broken&#38;stream=Recurring-Broken.broken\">\
         <span class=\"badge failed\">failed after 1 attempt</span></a>",
        "<td class=\"error\">the printer is on fire</td>",
    ] {
        assert!(page.contains(shown), "the page shows {shown}: {page}");
    }

    let ran = request(
        address,
        "POST /recurring/run HTTP/1.1",
        "group=Nightly&name=nightly",
    )
    .await;
    assert!(ran.starts_with("HTTP/1.1 303"), "{ran}");
    assert!(
        ran.contains("location: /recurring?notice=nightly+of+Nightly+runs+now"),
        "{ran}"
    );
    eventually("the run is handled", || async {
        let job = listed(&jobs, "nightly").await.unwrap();
        job.last_run
            .is_some_and(|run| run.run_now && run.outcome == RunOutcome::Handled)
    })
    .await;
    let page = request(address, "GET /recurring HTTP/1.1", "").await;
    assert!(
        page.contains("<span class=\"badge\">run now</span>")
            && page.contains("<span class=\"badge ok\">handled</span>"),
        "{page}"
    );

    let unknown = request(
        address,
        "POST /recurring/run HTTP/1.1",
        "group=Nightly&name=hourly",
    )
    .await;
    assert!(
        unknown.contains("no+recurring+job+%60hourly%60+is+declared+in+group+%60Nightly%60"),
        "{unknown}"
    );

    let (read_only, serving_read_only) = serve(Dashboard::new(store).read_only(true)).await;
    let page = request(read_only, "GET /recurring HTTP/1.1", "").await;
    assert!(page.contains(">nightly</a>"), "{page}");
    assert!(
        !page.contains("Run now"),
        "a read-only page offers a run: {page}"
    );
    let refused = request(
        read_only,
        "POST /recurring/run HTTP/1.1",
        "group=Nightly&name=nightly",
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert_eq!(
        listed(&jobs, "nightly")
            .await
            .unwrap()
            .last_run
            .unwrap()
            .position,
        1,
        "a read-only dashboard ran the job"
    );

    serving.abort();
    serving_read_only.abort();
    running.stop().await.unwrap();
}
