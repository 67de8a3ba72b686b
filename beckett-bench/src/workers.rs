//! Worker processes, from the harness's side: started, measured, stopped.

use crate::database::BenchResult;
use std::process::{Child, Command, Stdio};

/// A worker process running one group.
pub struct Worker {
    child: Child,
}

impl Worker {
    /// Starts this binary as a worker of `group` on the database at `url`.
    pub fn start(url: &str, group: &str) -> BenchResult<Self> {
        let child = Command::new(std::env::current_exe()?)
            .arg("worker")
            .env("DATABASE_URL", url)
            .env("BECKETT_GROUPS", group)
            .stdout(Stdio::piped())
            .spawn()?;
        Ok(Self { child })
    }

    /// The most memory the process has held so far, in bytes (VmHWM).
    pub fn peak_rss(&self) -> BenchResult<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
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

    /// Sends SIGTERM, waits for the exit, and returns what it printed.
    pub fn stop(self) -> BenchResult<String> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let output = self.child.wait_with_output()?;
        if !output.status.success() {
            return Err(format!("worker {pid} ended with {}", output.status).into());
        }
        Ok(String::from_utf8(output.stdout)?)
    }
}
