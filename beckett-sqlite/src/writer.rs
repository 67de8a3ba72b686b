//! [`Writer`]: the one connection that writes, on a thread of its own.
//!
//! SQLite lets one connection write at a time. Rather than have every
//! writer wait for the lock, writes queue for one thread, which runs what
//! queued while its last transaction committed in one transaction (a group
//! commit), each write in a savepoint of its own so that one refused
//! (a wrong expected version) rolls back alone. A write's result comes
//! back once its transaction committed.

use crate::checkpointer::Checkpointer;
use crate::error::sqlite;
use beckett_core::{Error, Result};
use rusqlite::Connection;
use std::sync::mpsc;
use std::thread::Thread;
use tokio::sync::oneshot;

/// The most writes committed together.
const MOST_AT_ONCE: usize = 512;

/// The transaction's connection, or why there is no transaction.
pub(crate) type InTransaction<'a> = std::result::Result<&'a Connection, &'a Error>;

/// A write as the writer thread runs it, in the transaction or told why
/// there is none: it returns what to do once the transaction has committed
/// (`None`) or failed to.
type Work = Box<dyn FnOnce(InTransaction) -> Finish + Send>;
type Finish = Box<dyn FnOnce(Option<&Error>) + Send>;

/// What the writer thread is asked to do.
enum Job {
    /// A write, committed with whatever else queued.
    Write(Work),
    /// A transaction of its own, held while the holder sends its steps.
    Hold(mpsc::Receiver<Step>),
}

/// A step of a held transaction.
pub(crate) enum Step {
    /// Runs in the transaction, or learns why there is none.
    Run(Box<dyn FnOnce(InTransaction) + Send>),
    /// Ends it, committing or not, and says how that went.
    End {
        commit: bool,
        done: oneshot::Sender<Result<()>>,
    },
}

/// The sending side of the writer thread; the thread ends when every clone
/// is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl Writer {
    /// Starts the writer thread on `connection`, telling `checkpointer`
    /// (which it keeps while it runs) of its commits.
    pub fn start(connection: Connection, checkpointer: Option<Checkpointer>) -> Self {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("beckett-sqlite-writer".to_owned())
            .spawn(move || {
                let committed = checkpointer.as_ref().map(Checkpointer::waker);
                run(connection, queue, committed)
            })
            .expect("a thread can be started");
        Self { jobs }
    }

    /// Runs `write` in a transaction shared with the writes queued beside
    /// it, in a savepoint of its own; its result once that transaction has
    /// committed.
    pub async fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.submit(write, true).await
    }

    /// Runs `write` as [`write`](Self::write) does, without a savepoint:
    /// for a write of one statement at most, which undoes itself when it
    /// fails.
    pub async fn write_statement<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.submit(write, false).await
    }

    async fn submit<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
        savepoint: bool,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let work: Work = Box::new(move |connection| {
            let outcome = match connection {
                Ok(connection) if savepoint => in_savepoint(connection, write),
                Ok(connection) => write(connection),
                Err(error) => Err(not_begun(error)),
            };
            Box::new(move |failed: Option<&Error>| {
                let outcome = match (outcome, failed) {
                    (Ok(_), Some(error)) => Err(commit_failed(error)),
                    (outcome, _) => outcome,
                };
                let _ = reply.send(outcome);
            })
        });
        self.send(Job::Write(work))?;
        answer.await.map_err(|_| stopped())?
    }

    /// A transaction of its own: the writer runs its steps, and nothing
    /// else, until it ends.
    pub fn hold(&self) -> Result<mpsc::Sender<Step>> {
        let (steps, receiver) = mpsc::channel();
        self.send(Job::Hold(receiver))?;
        Ok(steps)
    }

    fn send(&self, job: Job) -> Result<()> {
        self.jobs.send(job).map_err(|_| stopped())
    }
}

/// Runs one statement of transaction control, prepared once per
/// connection: they run around every write.
pub(crate) fn control(connection: &Connection, statement: &str) -> Result<()> {
    connection
        .prepare_cached(statement)
        .and_then(|mut s| s.execute([]))
        .map(drop)
        .map_err(sqlite)
}

/// Runs `write` between a savepoint and its release, rolling back to the
/// savepoint if it fails.
pub(crate) fn in_savepoint<T>(
    connection: &Connection,
    write: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    control(connection, "SAVEPOINT write")?;
    let outcome = write(connection);
    if outcome.is_err() {
        control(connection, "ROLLBACK TO write")?;
    }
    control(connection, "RELEASE write")?;
    outcome
}

/// The writer thread: takes what queued, runs it in one transaction,
/// commits, answers, and wakes the checkpointer; holds a transaction for
/// whoever asked for one.
fn run(connection: Connection, queue: mpsc::Receiver<Job>, committed: Option<Thread>) {
    let mut next = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match next_job(&queue) {
                Some(job) => job,
                None => return,
            },
        };
        match job {
            Job::Hold(steps) => hold(&connection, steps),
            Job::Write(work) => {
                let mut finishes = Vec::new();
                let began = control(&connection, "BEGIN IMMEDIATE");
                if let Err(error) = began {
                    work(Err(&error))(None);
                    continue;
                }
                finishes.push(work(Ok(&connection)));
                while finishes.len() < MOST_AT_ONCE {
                    match queue.try_recv() {
                        Ok(Job::Write(work)) => finishes.push(work(Ok(&connection))),
                        Ok(hold) => {
                            next = Some(hold);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let commit = control(&connection, "COMMIT");
                if commit.is_err() {
                    let _ = control(&connection, "ROLLBACK");
                }
                let failed = commit.as_ref().err();
                for finish in finishes {
                    finish(failed);
                }
            }
        }
        if let Some(checkpointer) = &committed {
            checkpointer.unpark();
        }
    }
}

/// How long the writer looks for the next write before it sleeps: the
/// writers it just answered send their next write about this soon, and
/// waking a sleeping thread costs them more.
const LINGER: std::time::Duration = std::time::Duration::from_micros(50);

/// The next job: one already queued or sent within [`LINGER`], else the
/// next to come; `None` once every sender is gone.
fn next_job(queue: &mpsc::Receiver<Job>) -> Option<Job> {
    let since = std::time::Instant::now();
    while since.elapsed() < LINGER {
        match queue.try_recv() {
            Ok(job) => return Some(job),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    queue.recv().ok()
}

/// Runs a held transaction's steps until it ends, or its holder goes away
/// (which rolls it back).
fn hold(connection: &Connection, steps: mpsc::Receiver<Step>) {
    let began = control(connection, "BEGIN IMMEDIATE");
    while let Ok(step) = steps.recv() {
        match step {
            Step::Run(run) => run(began.as_ref().map(|()| connection)),
            Step::End { commit, done } => {
                let outcome = match &began {
                    Err(error) => Err(not_begun(error)),
                    Ok(()) if commit => control(connection, "COMMIT"),
                    Ok(()) => control(connection, "ROLLBACK"),
                };
                if began.is_ok() && outcome.is_err() {
                    let _ = control(connection, "ROLLBACK");
                }
                let _ = done.send(outcome);
                return;
            }
        }
    }
    if began.is_ok() {
        let _ = control(connection, "ROLLBACK");
    }
}

/// The writer thread is gone: the store was dropped, or the thread died.
fn stopped() -> Error {
    Error::Database {
        source: "the SQLite writer has stopped".into(),
        refused: false,
    }
}

/// A transaction that could not begin, so nothing of it was written.
pub(crate) fn not_begun(error: &Error) -> Error {
    Error::Database {
        source: format!("the transaction did not begin: {error}").into(),
        refused: true,
    }
}

/// A write that succeeded in a transaction that then failed to commit.
fn commit_failed(error: &Error) -> Error {
    Error::Database {
        source: format!("the write's transaction did not commit: {error}").into(),
        refused: error.is_refusal(),
    }
}
