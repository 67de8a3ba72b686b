//! `beckett::run` serving the dashboard itself where the settings say,
//! here read-only.

use beckett::Beckett;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[beckett::subscription(group = "Served", category = "Served")]
async fn served(_: beckett::Envelope) -> beckett::Result<()> {
    Ok(())
}

/// Sends one HTTP/1.1 request; returns the whole answer.
async fn request(address: std::net::SocketAddr, head: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request =
        format!("{head}\r\nHost: {address}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[sqlx::test(migrations = false)]
async fn run_serves_a_read_only_dashboard(pool: PgPool) {
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let engine = Beckett::builder()
        .pool(pool)
        .groups(["Served"])
        .dashboard(address, true)
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(engine.run_until(async {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(address).await.is_err() {
        assert!(Instant::now() < deadline, "the dashboard listens");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = request(address, "GET / HTTP/1.1").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("<h1>Overview</h1>") && page.contains("read-only"),
        "{page}"
    );
    // Listed once the run has registered it.
    let listed = loop {
        let listed = request(address, "GET /subscriptions HTTP/1.1").await;
        if listed.contains(">served</a>") {
            break listed;
        }
        assert!(
            Instant::now() < deadline,
            "the subscription is listed: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        !listed.contains("Pause"),
        "a read-only page offers actions: {listed}"
    );
    let refused = request(address, "POST /subscriptions/pause HTTP/1.1").await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(refused.contains("read-only"), "{refused}");
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert!(
        TcpStream::connect(address).await.is_err(),
        "the dashboard outlived its run"
    );
}
