//! The `beckett` command: migrates a store, and lets an operator look after
//! its subscriptions, checkpoints, scheduled messages and recurring jobs.
//!
//! ```sh
//! beckett --database-url postgres://localhost/app failed --group Billing
//! beckett retry --group Billing --error "connection refused"
//! beckett reset Billing request_invoice --to start
//! beckett subscriptions --json
//! beckett run-now Reporting hourly_report
//! ```

mod output;

use beckett::recurring::{RecurringJobs, RunNow};
use beckett::state::{CheckpointFilter, CheckpointStatus, Storage};
use beckett::subscription::{Checkpoints, ResetOutcome, ResetTo, Subscriptions};
use beckett::{Error, Schema};
use clap::{Args, Parser, Subcommand};
use output::Output;
use std::process::ExitCode;
use uuid::Uuid;

/// Migrates a beckett store, and looks after its subscriptions,
/// checkpoints, scheduled messages and recurring jobs.
#[derive(Debug, Parser)]
#[command(name = "beckett", version)]
struct Cli {
    /// The database: postgres://… or sqlite:PATH [default: the SQLite file
    /// beckett.db]
    #[arg(long, env = "DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// The Postgres schema that holds beckett's tables.
    #[arg(long, env = "BECKETT_SCHEMA", default_value = "beckett", global = true)]
    schema: String,
    /// Prints JSON rather than tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Applies beckett's migrations to the database.
    Migrate,
    /// Prints beckett's Postgres migrations as one SQL script, for another
    /// migration tool.
    MigrationScript,
    #[command(flatten)]
    Operation(Operation),
}

/// What an operator does on a store already migrated.
#[derive(Debug, Subcommand)]
enum Operation {
    /// Lists the subscriptions with their lag: streams lagging, retrying,
    /// failed and reserved, and positions behind.
    #[command(alias = "lag")]
    Subscriptions {
        /// Only this group's.
        #[arg(long)]
        group: Option<String>,
    },
    /// Pauses a subscription: no process starts a batch of its streams.
    Pause(Named),
    /// Resumes a paused subscription.
    Resume(Named),
    /// Resets a subscription: it handles every message after a place again.
    Reset {
        #[command(flatten)]
        named: Named,
        /// `start`, `end`, or the id of the message after which to handle
        /// every message again.
        #[arg(long)]
        to: String,
    },
    /// Lists the checkpoints a filter matches.
    Checkpoints {
        #[command(flatten)]
        filter: Filter,
        /// Only checkpoints in this status: active, retry or failed.
        #[arg(long)]
        status: Option<CheckpointStatus>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Lists the failed checkpoints a filter matches.
    Failed {
        #[command(flatten)]
        filter: Filter,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Retries the failed checkpoints a filter matches, each from the
    /// message that failed.
    Retry(Bulk),
    /// Skips the message that failed, in every failed checkpoint a filter
    /// matches.
    Skip(Bulk),
    /// Ends the reservations held on the checkpoints a filter matches: for
    /// streams a stuck or vanished process holds.
    Release(Bulk),
    /// Lists the scheduled messages still to deliver, soonest first.
    Scheduled {
        /// Only those for streams whose names start with this.
        #[arg(long)]
        stream_prefix: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Cancels a scheduled message still waiting.
    Cancel {
        /// The scheduled message's id.
        id: Uuid,
    },
    /// Makes a scheduled message still waiting due now.
    DeliverNow {
        /// The scheduled message's id.
        id: Uuid,
    },
    /// Lists the recurring jobs: their cron expressions, when each runs
    /// next, and how its last run went.
    Recurring,
    /// Runs a recurring job now, once; its schedule goes on as before.
    RunNow {
        /// The job's group.
        group: String,
        /// The job's name.
        name: String,
    },
}

/// One subscription.
#[derive(Debug, Args)]
struct Named {
    /// The subscription's group.
    group: String,
    /// The subscription's name.
    subscription: String,
}

/// Which checkpoints: those that meet every condition given.
#[derive(Debug, Args)]
struct Filter {
    /// Only this group's.
    #[arg(long)]
    group: Option<String>,
    /// Only this subscription's.
    #[arg(long)]
    subscription: Option<String>,
    /// Only this stream's.
    #[arg(long)]
    stream: Option<String>,
    /// Only streams whose names start with this.
    #[arg(long)]
    stream_prefix: Option<String>,
    /// Only checkpoints whose last error contains this, in any case.
    #[arg(long)]
    error: Option<String>,
}

/// An action on every checkpoint a filter matches.
#[derive(Debug, Args)]
struct Bulk {
    #[command(flatten)]
    filter: Filter,
    /// Acts on every checkpoint, when no filter is given.
    #[arg(long)]
    all: bool,
}

impl Filter {
    /// The filter; a blank value sets no condition, as it would match
    /// everything.
    fn checkpoints(self) -> CheckpointFilter {
        let set = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        CheckpointFilter {
            group: set(self.group),
            subscription: set(self.subscription),
            stream: set(self.stream),
            stream_prefix: set(self.stream_prefix),
            status: None,
            error: set(self.error),
            reserved: None,
        }
    }
}

impl Bulk {
    /// The checkpoints to act on: a filter, or `--all` said outright.
    fn checkpoints(self) -> Result<CheckpointFilter, Failure> {
        let filter = self.filter.checkpoints();
        if filter == CheckpointFilter::default() && !self.all {
            return Err(usage(
                "name the checkpoints with --group, --subscription, --stream, --stream-prefix \
                 or --error, or pass --all to act on every one",
            ));
        }
        Ok(filter)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.json);
    match run(cli, &out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, out: &Output) -> Result<(), Failure> {
    let schema = Schema::new(cli.schema.as_str())?;
    let url = cli.database_url.as_deref();
    match cli.command {
        Command::Migrate => {
            beckett::open(url, &schema, 1).await?;
            out.done("migrated", 1);
        }
        Command::MigrationScript => print!("{}", beckett::migration_script(&schema)),
        Command::Operation(operation) => {
            // An operator's command leaves the schema as it is.
            let storage = beckett::open_existing(url, &schema, 2).await?;
            operate(operation, &storage, out).await?;
        }
    }
    Ok(())
}

/// Carries out an operator's command on `storage`.
async fn operate(operation: Operation, storage: &Storage, out: &Output) -> Result<(), Failure> {
    let subscriptions = Subscriptions::on(storage.clone());
    let checkpoints = Checkpoints::shared(storage.engine().clone());
    match operation {
        Operation::Subscriptions { group } => {
            out.subscriptions(&subscriptions.list(group.as_deref()).await?);
        }
        Operation::Pause(named) => {
            let found = subscriptions
                .pause(&named.group, &named.subscription)
                .await?;
            out.done("paused", registered(found, &named)?);
        }
        Operation::Resume(named) => {
            let found = subscriptions
                .resume(&named.group, &named.subscription)
                .await?;
            out.done("resumed", registered(found, &named)?);
        }
        Operation::Reset { named, to } => {
            let to: ResetTo = to.parse().map_err(|reason: String| usage(&reason))?;
            let outcome = subscriptions
                .reset(&named.group, &named.subscription, to)
                .await?;
            match outcome {
                ResetOutcome::Done => out.done("reset", 1),
                ResetOutcome::Unregistered => {
                    registered(false, &named)?;
                }
                refused => return Err(usage(&refused.to_string())),
            }
        }
        Operation::Checkpoints {
            filter,
            status,
            limit,
        } => {
            let mut filter = filter.checkpoints();
            filter.status = status;
            out.checkpoints(&checkpoints.list(&filter, None, limit).await?);
        }
        Operation::Failed { filter, limit } => {
            let filter = filter.checkpoints().status(CheckpointStatus::Failed);
            out.checkpoints(&checkpoints.list(&filter, None, limit).await?);
        }
        Operation::Retry(bulk) => {
            out.done("retried", checkpoints.retry(&bulk.checkpoints()?).await?)
        }
        Operation::Skip(bulk) => out.done("skipped", checkpoints.skip(&bulk.checkpoints()?).await?),
        Operation::Release(bulk) => {
            out.done("released", checkpoints.release(&bulk.checkpoints()?).await?);
        }
        Operation::Scheduled {
            stream_prefix,
            limit,
        } => {
            let scheduled = storage
                .engine()
                .scheduled(stream_prefix.as_deref(), limit)
                .await?;
            out.scheduled(&scheduled);
        }
        Operation::Cancel { id } => {
            let cancelled = storage.engine().cancel_scheduled(id).await?;
            out.done("cancelled", waiting(cancelled, id)?);
        }
        Operation::DeliverNow { id } => {
            let moved = storage.engine().deliver_now(id).await?;
            out.done("due now", waiting(moved, id)?);
        }
        Operation::Recurring => {
            out.recurring(&RecurringJobs::on(storage.clone()).list().await?);
        }
        Operation::RunNow { group, name } => {
            match RecurringJobs::on(storage.clone())
                .run_now(&group, &name)
                .await?
            {
                RunNow::Appended { .. } => out.done("run now", 1),
                refused => return Err(usage(&refused.to_string())),
            }
        }
    }
    Ok(())
}

/// One, if the subscription was found; an error naming it if not.
fn registered(found: bool, named: &Named) -> Result<u64, Failure> {
    match found {
        true => Ok(1),
        false => Err(usage(&format!(
            "no subscription `{}` is registered in group `{}`",
            named.subscription, named.group
        ))),
    }
}

/// One, if the scheduled message was waiting; an error naming it if not.
fn waiting(found: bool, id: Uuid) -> Result<u64, Failure> {
    match found {
        true => Ok(1),
        false => Err(usage(&format!(
            "no scheduled message {id} is waiting: delivered, cancelled, or being delivered"
        ))),
    }
}

/// Why a command failed.
#[derive(Debug)]
enum Failure {
    /// The store refused, or could not be reached.
    Store(Error),
    /// What the command was asked to do cannot be done.
    Refused(String),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Store(error)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store(error) => error.fmt(f),
            Self::Refused(reason) => f.write_str(reason),
        }
    }
}

/// A refusal, saying why.
fn usage(reason: &str) -> Failure {
    Failure::Refused(reason.to_owned())
}
