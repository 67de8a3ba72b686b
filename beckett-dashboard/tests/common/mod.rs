//! What the dashboard's tests share: an engine running some groups on the
//! test's database, and waiting for what comes in time.

use beckett::{Beckett, Running};
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// Runs `groups` on the test's database, polling every 100 ms.
pub fn run_groups<const N: usize>(pool: &PgPool, groups: [&'static str; N]) -> Running {
    let engine = Beckett::builder()
        .pool(pool.clone())
        .groups(groups)
        .poll_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    engine.spawn()
}

/// Waits until `check` holds, for up to 20 seconds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
