//! The dashboard in a real browser: headless Chromium, driven through
//! chromedriver, against a dashboard on a real database while the engine
//! runs. A failed stream is shown, retried by a click and handled; the
//! failed streams left are skipped in bulk, after a confirmation; a form on
//! another site that posts to the dashboard is refused. An operator
//! browses from the store's categories to a stream, a message, and the
//! conversation it belongs to; the Live switch stops and starts the
//! refreshes of the overview, whose chart shows what the engine handled.
//!
//! Needs Debian's `chromium` and `chromium-driver`, which `scripts/test`
//! installs. With `DASHBOARD_SCREENSHOTS=dir`, saves a screenshot of each
//! page it visits there.

mod common;

use axum::response::Html;
use axum::routing::get;
use beckett::dashboard::Dashboard;
use beckett::state::{EngineStorage, MinuteStats};
use beckett::subscription::{CheckpointFilter, CheckpointStatus, Checkpoints};
use beckett::{Context, Envelope, ExpectedVersion, MessageStorage, NewMessage, PostgresStore};
use chrono::DurationRound;
use common::{eventually, run_groups};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fails on messages that say so, and hangs on those that say so, until
/// the `healed` table holds a row.
#[beckett::subscription(group = "Browser", category = "Browser", max_retries = 0)]
async fn picky(envelope: Envelope, ctx: Context) -> Result<(), beckett::BoxError> {
    let store = ctx
        .store()
        .downcast_ref::<PostgresStore>()
        .expect("on Postgres");
    let healed =
        || sqlx::query_scalar("SELECT EXISTS (SELECT FROM healed)").fetch_one(store.pool());
    if envelope.data["hang"] == true {
        while !healed().await? {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    if envelope.data["fail"] == true && !healed().await? {
        return Err(format!("card declined for {}", envelope.stream).into());
    }
    Ok(())
}

/// What the shop's handlers pass on: the order's number.
#[derive(beckett::Message, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    order: u64,
}

/// Asked for by each order.
#[derive(beckett::Message, serde::Serialize, serde::Deserialize)]
struct PaymentRequested {
    order: u64,
}

/// Sent for each payment.
#[derive(beckett::Message, serde::Serialize, serde::Deserialize)]
struct ReceiptSent {
    order: u64,
}

/// Booked for each payment.
#[derive(beckett::Message, serde::Serialize, serde::Deserialize)]
struct SaleBooked {
    order: u64,
}

/// Asks for a payment for each order, in the order's conversation.
#[beckett::subscription(group = "Shop", messages(OrderPlaced))]
async fn charge(placed: OrderPlaced, ctx: Context) -> beckett::Result<()> {
    let payment = PaymentRequested {
        order: placed.order,
    };
    let stream = format!("Payment-{}", placed.order);
    ctx.append(&stream, ExpectedVersion::Any, payment).await?;
    Ok(())
}

/// Sends a receipt and books the sale for each payment.
#[beckett::subscription(group = "Shop", messages(PaymentRequested))]
async fn receipt(paid: PaymentRequested, ctx: Context) -> beckett::Result<()> {
    let (order, sent) = (paid.order, ReceiptSent { order: paid.order });
    ctx.append(&format!("Order-{order}"), ExpectedVersion::Any, sent)
        .await?;
    let booked = SaleBooked { order };
    ctx.append("Ledger", ExpectedVersion::Any, booked).await?;
    Ok(())
}

/// Closes the shop's books once a year.
#[beckett::recurring("0 0 1 1 *", group = "Shop")]
async fn close_the_books() -> beckett::Result<()> {
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

/// Clicks what `locator` finds.
async fn click(client: &Client, locator: Locator<'_>) {
    client.find(locator).await.unwrap().click().await.unwrap();
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
    for (n, data) in [(1, "fail"), (2, "fail"), (3, "fail"), (4, "hang")]
        .map(|(n, what)| (n, json!({ what: true })))
    {
        let message = NewMessage::from_json("PaymentRequested", data);
        let stream = format!("Browser-{n}");
        store
            .append(&stream, ExpectedVersion::Any, vec![message])
            .await
            .unwrap();
    }
    let running = run_groups(&pool, ["Browser"]);
    let checkpoints = Checkpoints::new(store.clone());
    let failed = CheckpointFilter::default()
        .group("Browser")
        .status(CheckpointStatus::Failed);
    let hanging = CheckpointFilter::default().group("Browser").reserved(true);
    eventually("three streams fail and one hangs", || async {
        checkpoints.count(&failed).await.unwrap() == 3
            && checkpoints.count(&hanging).await.unwrap() == 1
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
    screenshot(&client, "overview-failures").await;

    // Only the hanging stream's reservation is counted, and released.
    client
        .goto(&format!("{dashboard}/checkpoints?group=Browser"))
        .await
        .unwrap();
    click(&client, Locator::LinkText("Release all reserved…")).await;
    let question = shown(&client, "Release 1 checkpoint").await;
    assert!(
        question.contains("Release 1 checkpoint matching group \"Browser\"?"),
        "the release's confirmation: {question}"
    );
    screenshot(&client, "release").await;
    assert_eq!(
        checkpoints.count(&hanging).await.unwrap(),
        1,
        "released before the confirmation"
    );
    click(
        &client,
        Locator::XPath("//button[text()='Release 1 checkpoint']"),
    )
    .await;
    let released = shown(&client, "Released: 1 checkpoint").await;
    assert!(released.contains("Released: 1 checkpoint"), "{released}");

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
    click(&client, Locator::LinkText("Browser-2")).await;
    let failed_one = shown(&client, "card declined for Browser-2").await;
    assert!(
        failed_one.contains("card declined for Browser-2") && failed_one.contains("\"fail\": true"),
        "a failed checkpoint shows its error and the message it failed on: {failed_one}"
    );
    screenshot(&client, "checkpoint").await;
    client.back().await.unwrap();
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
    running.stop().await.unwrap();
}

#[sqlx::test(migrations = false)]
async fn operators_browse_to_a_conversation_in_a_browser(pool: PgPool) {
    beckett::migrate(&pool).await.unwrap();
    let store = PostgresStore::new(pool.clone());
    for n in 1..=2 {
        let placed = NewMessage::new(&OrderPlaced { order: n }).unwrap();
        let stream = format!("Order-{n}");
        store
            .append(&stream, ExpectedVersion::Any, vec![placed])
            .await
            .unwrap();
    }
    let running = run_groups(&pool, ["Shop"]);
    eventually("both sales are booked", || async {
        store.read_stream("Ledger", 1, 10).await.unwrap().len() == 2
    })
    .await;
    running.stop().await.unwrap();
    let reminder = NewMessage::from_json("PaymentReminderDue", json!({ "order": 1 }));
    let in_a_day = Duration::from_secs(24 * 3600);
    store.schedule("Order-1", reminder, in_a_day).await.unwrap();

    // Counts the live parts' refreshes, which htmx marks.
    let refreshes = Arc::new(AtomicUsize::new(0));
    let counting = refreshes.clone();
    let app = axum::Router::new()
        .nest("/ops", Dashboard::new(store.clone()).router())
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                if request.headers().contains_key("hx-request") {
                    counting.fetch_add(1, Ordering::SeqCst);
                }
                next.run(request)
            },
        ));
    let dashboard = format!("http://{}/ops", serve(app).await);
    let (_driver, client) = browser().await;
    client.goto(&dashboard).await.unwrap();
    let overview = shown(&client, "4 handled").await;
    assert!(
        overview.contains("Handled per minute, last hour: 4 handled"),
        "the engine's minutes charted: {overview}"
    );
    screenshot(&client, "overview").await;

    // Paused, the overview neither asks for news nor shows any, across a
    // reload too; live again, it asks at once.
    let live = Locator::Id("live-toggle");
    click(&client, live).await;
    let paused_at = refreshes.load(Ordering::SeqCst);
    let more = MinuteStats {
        group: "Shop".into(),
        subscription: "charge".into(),
        minute: chrono::Utc::now()
            .duration_trunc(chrono::TimeDelta::minutes(1))
            .unwrap(),
        handled: 5,
        failed: 0,
        max_lag_ms: 0,
    };
    store.record_minutes(&[more]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        refreshes.load(Ordering::SeqCst),
        paused_at,
        "refreshed while paused"
    );
    let still = shown(&client, "4 handled").await;
    assert!(still.contains("4 handled"), "changed while paused: {still}");
    client.refresh().await.unwrap();
    let reloaded = shown(&client, "9 handled").await;
    assert!(reloaded.contains("9 handled"), "{reloaded}");
    let switch = client.find(live).await.unwrap();
    assert!(
        !switch.is_selected().await.unwrap(),
        "a reload forgot the pause"
    );
    switch.click().await.unwrap();
    eventually("a live overview refreshes", || async {
        refreshes.load(Ordering::SeqCst) > paused_at
    })
    .await;
    click(&client, Locator::LinkText("Scheduled")).await;
    let scheduled = shown(&client, "PaymentReminderDue").await;
    assert!(
        scheduled.contains("Order-1 PaymentReminderDue"),
        "{scheduled}"
    );
    screenshot(&client, "scheduled").await;

    click(&client, Locator::LinkText("Recurring")).await;
    let recurring = shown(&client, "close_the_books").await;
    assert!(
        recurring.contains("0 0 1 1 *"),
        "the yearly job: {recurring}"
    );
    screenshot(&client, "recurring").await;

    click(&client, Locator::LinkText("Messages")).await;
    let categories = shown(&client, "Ledger").await;
    for (category, streams, messages) in [("Ledger", 1, 2), ("Order", 2, 4), ("Payment", 2, 2)] {
        let row = format!("{category} {streams} {messages}");
        assert!(categories.contains(&row), "{row} in {categories}");
    }
    screenshot(&client, "messages").await;

    click(&client, Locator::LinkText("Order")).await;
    let streams = shown(&client, "Order-2").await;
    assert!(
        streams.contains("Order-1 2\nOrder-2 2"),
        "the streams of Order: {streams}"
    );
    click(&client, Locator::LinkText("Order-1")).await;
    let stream = shown(&client, "ReceiptSent").await;
    assert!(
        stream.contains("1 OrderPlaced") && stream.contains("2 ReceiptSent"),
        "the stream Order-1: {stream}"
    );
    screenshot(&client, "stream").await;

    let placed = store.read_stream("Order-1", 1, 1).await.unwrap().remove(0);
    click(&client, Locator::LinkText(&placed.id.to_string())).await;
    let message = shown(&client, "\"order\": 1").await;
    assert!(message.contains("OrderPlaced"), "the message: {message}");
    screenshot(&client, "message").await;

    click(
        &client,
        Locator::LinkText("What caused it, and what it caused"),
    )
    .await;
    shown(&client, "SaleBooked").await;
    let items = client.find_all(Locator::Css("ol.tree li")).await.unwrap();
    let mut tree = Vec::new();
    for item in items {
        let depth = item.attr("class").await.unwrap().unwrap_or_default();
        let text = item.text().await.unwrap();
        let message_type = text.split(' ').next().unwrap_or_default().to_owned();
        tree.push((
            message_type,
            depth.split(' ').next().unwrap_or_default().to_owned(),
        ));
    }
    let expected = [
        ("OrderPlaced", "depth-0"),
        ("PaymentRequested", "depth-1"),
        ("ReceiptSent", "depth-2"),
        ("SaleBooked", "depth-2"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(t, d)| (t.to_string(), d.to_string()))
        .collect();
    assert_eq!(tree, expected, "the conversation of order 1, as a tree");
    screenshot(&client, "conversation").await;

    client
        .goto(&format!("{dashboard}/messages/found?type=SaleBooked"))
        .await
        .unwrap();
    let found = shown(&client, "Ledger").await;
    screenshot(&client, "found").await;
    let rows = found.matches(" SaleBooked ").count();
    assert_eq!(rows, 2, "both sales found: {found}");
    client.close().await.unwrap();
}
