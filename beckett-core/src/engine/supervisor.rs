//! Watching the engine's tasks: one that panics stops the process with an
//! error naming it, instead of leaving the others running without it.

use crate::error::Error;
use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Records the first task that panicked, and begins the shutdown then.
#[derive(Debug)]
pub(crate) struct Supervisor {
    shutdown: CancellationToken,
    fault: Mutex<Option<Error>>,
}

impl Supervisor {
    pub fn new(shutdown: CancellationToken) -> Self {
        Self {
            shutdown,
            fault: Mutex::default(),
        }
    }

    /// Runs `task`; if it panics, records it and shuts the process down.
    pub async fn watch(&self, task: &'static str, run: impl Future<Output = ()>) {
        if let Err(panic) = AssertUnwindSafe(run).catch_unwind().await {
            self.panicked(task, &*panic);
        }
    }

    /// Records that `task` panicked with `panic`, and shuts the process
    /// down.
    pub fn panicked(&self, task: &'static str, panic: &(dyn std::any::Any + Send)) {
        let message = panic_message(panic).to_owned();
        self.fail(Error::TaskPanicked { task, message });
    }

    /// Records an error no task can get past, and shuts the process down;
    /// the process ends with the first such error.
    pub fn fail(&self, error: Error) {
        tracing::error!(%error, "shutting down");
        self.fault
            .lock()
            .expect("never poisoned")
            .get_or_insert(error);
        self.shutdown.cancel();
    }

    /// The error of the first task that panicked, if one did.
    pub fn fault(&self) -> Option<Error> {
        self.fault.lock().expect("never poisoned").take()
    }
}

/// The text a panic carries.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-text panic payload")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_shuts_down_and_is_reported() {
        let shutdown = CancellationToken::new();
        let supervisor = Supervisor::new(shutdown.clone());
        supervisor.watch("quiet", async {}).await;
        assert!(!shutdown.is_cancelled());
        assert!(supervisor.fault().is_none());

        supervisor
            .watch("completer", async { panic!("lost count") })
            .await;
        supervisor
            .watch("heartbeat", async { panic!("later") })
            .await;
        assert!(shutdown.is_cancelled());
        let error = supervisor.fault().expect("recorded").to_string();
        assert!(
            error.contains("completer") && error.contains("lost count"),
            "{error}"
        );
    }
}
