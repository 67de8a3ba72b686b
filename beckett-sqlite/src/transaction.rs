//! [`SqliteTransaction`]: a `transactional` handler's transaction.

use crate::checkpoints;
use crate::error::sqlite;
use crate::messages::append;
use crate::scheduled;
use crate::writer::{in_savepoint, InTransaction, Step};
use crate::SqliteStore;
use beckett_core::scheduling::Due;
use beckett_core::state::{Reservation, StateTransaction, Wakeup};
use beckett_core::store::encode_batch;
use beckett_core::telemetry;
use beckett_core::{Appended, Error, ExpectedVersion, NewMessage, Result};
use rusqlite::Connection;
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::oneshot;
use uuid::Uuid;

/// The transaction a `transactional` handler shares with its checkpoint,
/// on the store's one writer.
///
/// It takes the writer at its first statement and holds it until it ends,
/// so the process's other writes wait meanwhile: do the slow work of a
/// handler before writing in its transaction, and write through the
/// context (`ctx.append`, `ctx.schedule`), which joins it, rather than
/// through the store, whose writes would wait for the transaction to end.
///
/// ```no_run
/// # async fn demo(ctx: beckett::Context) -> Result<(), beckett::BoxError> {
/// use beckett::sqlite::SqliteTransaction;
///
/// let mut guard = ctx.transaction().expect("a transactional subscription");
/// let tx = guard.downcast_mut::<SqliteTransaction>().expect("on SQLite");
/// tx.run(|c| c.execute("UPDATE stock SET reserved = reserved + 1", [])).await?;
/// # Ok(()) }
/// ```
pub struct SqliteTransaction {
    store: SqliteStore,
    /// The held transaction's steps, once it has begun.
    steps: Option<mpsc::Sender<Step>>,
    /// What its commit tells the process's consumers.
    wakeups: Vec<Wakeup>,
}

impl SqliteTransaction {
    pub(crate) fn begin(store: &SqliteStore) -> Result<Self> {
        Ok(Self {
            store: store.clone(),
            steps: None,
            wakeups: Vec::new(),
        })
    }

    /// Runs `statements` in the transaction; an error rolls back what they
    /// wrote, and leaves the transaction open.
    ///
    /// ```no_run
    /// # async fn demo(tx: &mut beckett::sqlite::SqliteTransaction) -> beckett::Result<()> {
    /// let stock: i64 = tx
    ///     .run(|c| c.query_row("SELECT count(*) FROM stock", [], |row| row.get(0)))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn run<T: Send + 'static>(
        &mut self,
        statements: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        self.step(move |c| statements(c).map_err(sqlite)).await
    }

    /// Runs `write` in the transaction, in a savepoint of its own.
    async fn step<T: Send + 'static>(
        &mut self,
        write: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let run = Box::new(move |connection: InTransaction| {
            let outcome = match connection {
                Ok(connection) => in_savepoint(connection, write),
                Err(error) => Err(crate::writer::not_begun(error)),
            };
            let _ = reply.send(outcome);
        });
        self.steps()?.send(Step::Run(run)).map_err(|_| ended())?;
        answer.await.map_err(|_| ended())?
    }

    /// The held transaction, begun at the first step.
    fn steps(&mut self) -> Result<&mpsc::Sender<Step>> {
        if self.steps.is_none() {
            self.steps = Some(self.store.writer().hold()?);
        }
        Ok(self.steps.as_ref().expect("set above"))
    }

    async fn end(mut self: Box<Self>, commit: bool) -> Result<()> {
        let Some(steps) = self.steps.take() else {
            // Nothing was written: nothing to commit.
            return Ok(());
        };
        let (done, outcome) = oneshot::channel();
        steps
            .send(Step::End { commit, done })
            .map_err(|_| ended())?;
        outcome.await.map_err(|_| ended())?
    }
}

#[async_trait::async_trait]
impl StateTransaction for SqliteTransaction {
    async fn advance(
        &mut self,
        group: &str,
        reservation: &Reservation,
        position: i64,
        keep: Option<Duration>,
    ) -> Result<bool> {
        let (group, reservation) = (group.to_owned(), reservation.clone());
        self.step(move |c| checkpoints::advance(c, &group, &reservation, position, keep))
            .await
    }

    async fn append(
        &mut self,
        stream: &str,
        expected: ExpectedVersion,
        messages: Vec<NewMessage>,
    ) -> Option<Result<Appended>> {
        let count = messages.len();
        let appended = telemetry::appending(stream, count, async {
            let encoded = encode_batch(stream, messages)?;
            let stream = stream.to_owned();
            self.step(move |c| append(c, &stream, expected, &encoded))
                .await
        })
        .await;
        if appended
            .as_ref()
            .is_ok_and(|a| !a.global_positions.is_empty())
        {
            self.wakeups.push(Wakeup::Messages);
        }
        Some(appended)
    }

    async fn schedule(&mut self, stream: &str, message: NewMessage, due: Due) -> Result<Uuid> {
        let (message, due) = scheduled::checked(stream, message, due)?;
        let stream = stream.to_owned();
        let id = self
            .step(move |c| scheduled::schedule(c, &stream, message, due))
            .await?;
        self.wakeups.push(Wakeup::Scheduled);
        Ok(id)
    }

    async fn cancel_scheduled(&mut self, id: Uuid) -> Result<bool> {
        self.step(move |c| scheduled::cancel(c, id)).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let (store, wakeups) = (self.store.clone(), self.wakeups.clone());
        self.end(true).await?;
        for wakeup in wakeups {
            store.wake(wakeup);
        }
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.end(false).await
    }
}

/// The writer went away with the transaction open: it rolled back.
fn ended() -> Error {
    Error::Database {
        source: "the SQLite writer stopped; the transaction rolled back".into(),
        refused: true,
    }
}
