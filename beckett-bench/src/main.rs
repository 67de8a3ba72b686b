//! The benchmark harness: `cargo run --release -p beckett-bench -- <scenario>`.
//!
//! Each scenario creates a database of its own on the server `DATABASE_URL`
//! points at, runs, drops the database, and prints one JSON line per
//! measurement. Handlers run in worker processes: this binary started again
//! as `beckett-bench worker`, so their memory is measured apart from the
//! harness's.

mod database;
mod handlers;
mod report;
mod scenarios;
mod workers;

use std::process::ExitCode;

const USAGE: &str = "usage: beckett-bench <append | jobs | ordered | latency | processes | all>";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scenarios: &[&str] = match args.first().map(String::as_str) {
        Some("worker") if args.len() == 1 => return exit(handlers::work().await),
        Some("all") if args.len() == 1 => &scenarios::ALL,
        Some(scenario) if args.len() == 1 && scenarios::ALL.contains(&scenario) => {
            &[args[0].as_str()]
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    for scenario in scenarios {
        if let Err(error) = scenarios::run(scenario).await {
            eprintln!("scenario `{scenario}` failed: {error}");
            return ExitCode::FAILURE;
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
