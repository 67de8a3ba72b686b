//! Worker processes for the multi-process tests: the `test_worker` program,
//! built once, run against the test's database.

use sqlx::postgres::PgConnectOptions;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The path of a program of this package, which `cargo test` builds
/// before the tests.
pub fn program(name: &str) -> PathBuf {
    match name {
        "test_worker" => env!("CARGO_BIN_EXE_test_worker").into(),
        "test_duplicate_registrations" => env!("CARGO_BIN_EXE_test_duplicate_registrations").into(),
        other => panic!("no program {other} in this package"),
    }
}

/// The URL of the test's database, as a worker process connects to it.
pub fn database_url(connect: &PgConnectOptions, worker: &str) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests");
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(connect.get_database().expect("the test database is named"));
    url.query_pairs_mut()
        .clear()
        .append_pair("application_name", worker);
    url.into()
}

/// A running worker process.
pub struct Worker {
    pub name: String,
    child: Child,
}

impl Worker {
    /// Starts `test_worker` as `name`, with the given extra environment.
    pub fn start(connect: &PgConnectOptions, name: &str, env: &[(&str, &str)]) -> Self {
        Self::spawn(name, Self::command(connect, name, env))
    }

    /// The command that starts `test_worker` as `name`, for a test to
    /// adjust before [`spawn`](Self::spawn)ing it.
    pub fn command(connect: &PgConnectOptions, name: &str, env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(program("test_worker"));
        command
            .env("DATABASE_URL", database_url(connect, name))
            .env("WORKER_NAME", name)
            .env("BECKETT_POLL_INTERVAL", "200ms")
            .env("RUST_BACKTRACE", "1")
            .stdout(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }

    /// Runs `command` as the worker `name`.
    pub fn spawn(name: &str, mut command: Command) -> Self {
        Self {
            name: name.to_owned(),
            child: command.spawn().expect("the worker starts"),
        }
    }

    /// Kills the process at once, as a crash would.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits up to `within` for the process to exit.
    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {within:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
