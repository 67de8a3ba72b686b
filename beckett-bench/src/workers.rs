//! Workers, from the harness's side: started, measured, stopped. On
//! Postgres a worker is a process of its own; on SQLite, handlers run in
//! the harness's process, on its store, as one process on one file does.

use crate::database::{Backend, BenchDatabase, BenchResult};
use crate::handlers;
use beckett::state::Storage;
use std::process::{Child, Command, Stdio};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Handlers running one group.
pub enum Worker {
    Process(Child),
    InProcess {
        stop: oneshot::Sender<()>,
        running: JoinHandle<beckett::Result<()>>,
    },
}

impl Worker {
    /// Starts handlers of `group` (or of several, comma-separated) on the
    /// database.
    pub fn start(database: &BenchDatabase, group: &str) -> BenchResult<Self> {
        match database.backend() {
            Backend::Sqlite => Ok(Self::in_process(database.storage.clone(), group)),
            Backend::Postgres => Self::process(&database.url, group),
        }
    }

    /// This binary again, as a worker of `group` on the database at `url`.
    fn process(url: &str, group: &str) -> BenchResult<Self> {
        let child = Command::new(std::env::current_exe()?)
            .arg("worker")
            .env("DATABASE_URL", url)
            .env("BECKETT_GROUPS", group)
            .stdout(Stdio::piped())
            .spawn()?;
        Ok(Self::Process(child))
    }

    /// The engine, running `group` in this process on `storage`.
    fn in_process(storage: Storage, group: &str) -> Self {
        let (stop, stopped) = oneshot::channel();
        let beckett = beckett::Beckett::builder()
            .storage(storage)
            .groups(group.split(','))
            .build();
        let running = tokio::spawn(async move {
            beckett?
                .run_until(async {
                    let _ = stopped.await;
                })
                .await
        });
        Self::InProcess { stop, running }
    }

    /// The most memory the process has held so far, in bytes (VmHWM): the
    /// worker's, or the harness's when handlers run in it.
    pub fn peak_rss(&self) -> BenchResult<u64> {
        let pid = match self {
            Self::Process(child) => child.id(),
            Self::InProcess { .. } => std::process::id(),
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| {
                value
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .ok_or("no VmHWM in /proc/PID/status")?;
        Ok(kib * 1024)
    }

    /// Stops it (SIGTERM for a process), waits for the end, and returns
    /// what it reported.
    pub async fn stop(self) -> BenchResult<String> {
        match self {
            Self::Process(child) => {
                let pid = child.id().to_string();
                Command::new("kill").args(["-TERM", &pid]).status()?;
                let output = child.wait_with_output()?;
                if !output.status.success() {
                    return Err(format!("worker {pid} ended with {}", output.status).into());
                }
                Ok(String::from_utf8(output.stdout)?)
            }
            Self::InProcess { stop, running } => {
                let _ = stop.send(());
                running.await??;
                Ok(handlers::report())
            }
        }
    }
}
