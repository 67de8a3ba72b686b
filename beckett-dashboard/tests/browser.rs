//! The dashboard in a real browser: headless Chromium, driven through
//! chromedriver, against a dashboard on a real database while the engine
//! runs. A failed stream is shown, retried by a click and handled; the
//! failed streams left are skipped in bulk, after a confirmation; a form on
//! another site that posts to the dashboard is refused.
//!
//! Needs Debian's `chromium` and `chromium-driver`, which `scripts/test`
//! installs. With `DASHBOARD_SCREENSHOTS=dir`, saves a screenshot of each
//! page it visits there.

use axum::response::Html;
use axum::routing::get;
use beckett::dashboard::Dashboard;
use beckett::subscription::{CheckpointFilter, CheckpointStatus, Checkpoints};
use beckett::{
    Beckett, Context, Envelope, ExpectedVersion, MessageStorage, NewMessage, PostgresStore,
};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fails on messages that say so, until the `healed` table holds a row.
#[beckett::subscription(group = "Browser", category = "Browser", max_retries = 0)]
async fn picky(envelope: Envelope, ctx: Context) -> Result<(), beckett::BoxError> {
    let store = ctx
        .store()
        .downcast_ref::<PostgresStore>()
        .expect("on Postgres");
    let healed: bool = sqlx::query_scalar("SELECT EXISTS (SELECT FROM healed)")
        .fetch_one(store.pool())
        .await?;
    if envelope.data["fail"] == true && !healed {
        return Err(format!("card declined for {}", envelope.stream).into());
    }
    Ok(())
}

/// chromedriver, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver on a free port and connects a headless Chromium.
async fn browser() -> (Driver, Client) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs: install chromium and chromium-driver (scripts/test does)");
    let driver = Driver(child);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,800"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let connected = ClientBuilder::new(connector.clone())
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match connected {
            Ok(client) => return (driver, client),
            Err(error) if Instant::now() > deadline => panic!("no browser session: {error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Serves `router` on a free loopback port; returns where.
async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    address
}

/// Saves a screenshot of the page shown, if asked to.
async fn screenshot(client: &Client, name: &str) {
    if let Ok(dir) = std::env::var("DASHBOARD_SCREENSHOTS") {
        let png = client.screenshot().await.unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }
}

/// Waits until `check` holds, for up to 20 seconds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of the page's `main` once it shows `wanted`, or after 20
/// seconds: a click's page loads after the click returns, and the page
/// before it may still be read, or be gone while it is.
async fn shown(client: &Client, wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = match client.find(Locator::Css("main")).await {
            Ok(main) => main.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(wanted) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrations = false)]
async fn operators_retry_skip_and_are_guarded_in_a_browser(pool: PgPool) {
    beckett::migrate(&pool).await.unwrap();
    sqlx::query("CREATE TABLE healed ()")
        .execute(&pool)
        .await
        .unwrap();
    let store = PostgresStore::new(pool.clone());
    for n in 1..=3 {
        let message = NewMessage::from_json("PaymentRequested", json!({ "fail": true }));
        let stream = format!("Browser-{n}");
        store
            .append(&stream, ExpectedVersion::Any, vec![message])
            .await
            .unwrap();
    }
    let engine = Beckett::builder()
        .pool(pool.clone())
        .groups(["Browser"])
        .poll_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(engine.run_until(async {
        let _ = stopped.await;
    }));
    let checkpoints = Checkpoints::new(store.clone());
    let failed = CheckpointFilter::default()
        .group("Browser")
        .status(CheckpointStatus::Failed);
    eventually("three streams fail", || async {
        checkpoints.count(&failed).await.unwrap() == 3
    })
    .await;

    // Mounted under a prefix, as an application mounts it.
    let app = axum::Router::new().nest("/ops", Dashboard::new(store.clone()).router());
    let dashboard = format!("http://{}/ops", serve(app).await);
    let (_driver, client) = browser().await;

    client.goto(&dashboard).await.unwrap();
    let overview = shown(&client, "3\nfailed").await;
    assert!(
        overview.contains("3\nfailed"),
        "the overview shows the failures: {overview}"
    );
    screenshot(&client, "overview").await;

    client
        .goto(&format!("{dashboard}/checkpoints?status=failed"))
        .await
        .unwrap();
    let listed = shown(&client, "card declined for Browser-1").await;
    assert!(
        listed.contains("card declined for Browser-1"),
        "the failed checkpoint shows its error: {listed}"
    );
    screenshot(&client, "checkpoints").await;
    sqlx::query("INSERT INTO healed DEFAULT VALUES")
        .execute(&pool)
        .await
        .unwrap();
    let retry = "//tr[td/a[text()='Browser-1']]//button[text()='Retry']";
    client
        .find(Locator::XPath(retry))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let after = shown(&client, "Retried: 1 checkpoint").await;
    assert!(after.contains("Retried: 1 checkpoint"), "{after}");
    let one = CheckpointFilter::one("Browser", "picky", "Browser-1");
    eventually("the retried stream is handled", || async {
        let listed = checkpoints.list(&one, None, 1).await.unwrap();
        listed[0].status == CheckpointStatus::Active && listed[0].stream_position == 1
    })
    .await;

    // Another site's page whose form posts to the dashboard.
    let target = format!("{dashboard}/checkpoints/act");
    let evil = axum::Router::new().route(
        "/",
        get(move || async move {
            Html(format!(
                "<form method='post' action='{target}'>\
                 <input type='hidden' name='action' value='skip'>\
                 <input type='hidden' name='group' value='Browser'>\
                 <button id='go'>Win a prize</button></form>"
            ))
        }),
    );
    let evil = serve(evil).await;
    client
        .goto(&format!("http://localhost:{}/", evil.port()))
        .await
        .unwrap();
    client
        .find(Locator::Id("go"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the cross-site post is refused", || async {
        let shown = client.source().await.unwrap();
        shown.contains("refused: the request comes from another site")
    })
    .await;
    assert_eq!(
        checkpoints.count(&failed).await.unwrap(),
        2,
        "a cross-site post skipped failed streams"
    );

    client
        .goto(&format!(
            "{dashboard}/checkpoints?group=Browser&status=failed"
        ))
        .await
        .unwrap();
    let skip_all = Locator::LinkText("Skip all 2 failed…");
    client.find(skip_all).await.unwrap().click().await.unwrap();
    let question = shown(&client, "Skip 2 checkpoints matching").await;
    assert!(
        question.contains("Skip 2 checkpoints matching group \"Browser\", status \"failed\"?"),
        "the confirmation: {question}"
    );
    screenshot(&client, "confirm").await;
    assert_eq!(
        checkpoints.count(&failed).await.unwrap(),
        2,
        "skipped before the confirmation"
    );
    let confirm = Locator::XPath("//button[text()='Skip 2 checkpoints']");
    client.find(confirm).await.unwrap().click().await.unwrap();
    let after = shown(&client, "Skipped: 2 checkpoints").await;
    assert!(after.contains("Skipped: 2 checkpoints"), "{after}");
    assert_eq!(checkpoints.count(&failed).await.unwrap(), 0);
    let skipped: i64 = sqlx::query_scalar("SELECT count(*) FROM beckett.skipped_messages")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(skipped, 2, "the skips recorded");

    client
        .goto(&format!("{dashboard}/subscriptions"))
        .await
        .unwrap();
    screenshot(&client, "subscriptions").await;
    client.close().await.unwrap();
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}
