//! The benchmark harness:
//! `cargo run --release -p beckett-bench -- [--backend postgres|sqlite] [--messages N] <scenario>`.
//!
//! Each scenario creates a database of its own, runs, drops the database,
//! and prints one JSON line per measurement. On Postgres (the default) the
//! database is on the server `DATABASE_URL` points at, and handlers run in
//! worker processes: this binary started again as `beckett-bench worker`,
//! so their memory is measured apart from the harness's. On SQLite the
//! database is a file in the temporary directory, and handlers run in the
//! harness's process, on its store.

mod database;
mod handlers;
mod report;
mod scenarios;
mod workers;

use database::Backend;
use std::process::ExitCode;

const USAGE: &str = "usage: beckett-bench [--backend postgres|sqlite] [--messages N] \
    <append | jobs | ordered | latency | loaded-latency | scheduled \
    | processes | fanout | backlog | big-store | all>";

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    let (mut backend, mut messages) = (Backend::Postgres, scenarios::MESSAGES);
    while let Some(option) = args.next_if(|arg| arg.starts_with("--")) {
        let value = args.next();
        match (option.as_str(), value.as_deref()) {
            ("--backend", Some(name)) if let Some(named) = Backend::named(name) => backend = named,
            ("--messages", Some(n)) if n.parse::<usize>().is_ok_and(|n| n > 0) => {
                messages = n.parse().expect("parsed above");
            }
            _ => {
                let value = value.unwrap_or_default();
                eprintln!("`{option} {value}` is not understood\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let args: Vec<String> = args.collect();
    match args.first().map(String::as_str) {
        Some("worker") if args.len() == 1 => exit(handlers::work().await),
        Some("all") if args.len() == 1 => each_apart(backend, messages),
        Some(scenario) if args.len() == 1 && scenarios::ALL.contains(&scenario) => {
            match scenarios::run(backend, scenario, messages).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("scenario `{scenario}` failed: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Runs every scenario, each in a process of its own, so that none
/// inherits the memory another left behind (on SQLite the handlers run in
/// the harness's process, whose peak RSS each reports); stops at the first
/// that fails.
fn each_apart(backend: Backend, messages: usize) -> ExitCode {
    for scenario in scenarios::ALL {
        let status = std::env::current_exe().and_then(|harness| {
            std::process::Command::new(harness)
                .args([
                    "--backend",
                    backend.name(),
                    "--messages",
                    &messages.to_string(),
                ])
                .arg(scenario)
                .status()
        });
        match status {
            Ok(status) if status.success() => {}
            Ok(_) => return ExitCode::FAILURE,
            Err(error) => {
                eprintln!("cannot start the harness again for `{scenario}`: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn exit(result: beckett::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("worker failed: {error}");
            ExitCode::FAILURE
        }
    }
}
