//! What the dashboard's tests share: an engine running some groups on the
//! test's database, and waiting for what comes in time.

use beckett::Beckett;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// An engine running on the test's database until stopped.
pub struct Running {
    stop: oneshot::Sender<()>,
    running: JoinHandle<beckett::Result<()>>,
}

impl Running {
    /// Runs `groups` on `pool`, polling every 100 ms.
    pub fn groups<const N: usize>(pool: &PgPool, groups: [&'static str; N]) -> Self {
        let engine = Beckett::builder()
            .pool(pool.clone())
            .groups(groups)
            .poll_interval(Duration::from_millis(100))
            .build()
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(engine.run_until(async {
            let _ = stopped.await;
        }));
        Self { stop, running }
    }

    /// Stops the engine, which must have run without an error.
    pub async fn stop(self) {
        self.stop.send(()).unwrap();
        self.running.await.unwrap().unwrap();
    }
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
