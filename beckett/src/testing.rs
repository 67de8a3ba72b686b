//! Running handlers in tests with no database server: [`TestRun`] keeps
//! the messages in a [`MemoryStore`] and the engine's state in an SQLite
//! database in memory, and runs the subscriptions linked into the test
//! binary on them, as a process of the application would.

use crate::runtime::Builder;
use beckett_core::memory::MemoryStore;
use beckett_core::state::{CheckpointFilter, CheckpointInfo, CheckpointStatus, Storage};
use beckett_core::subscription::linked_groups;
use beckett_core::{MessageStorage, Result};
use beckett_sqlite::SqliteStore;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long [`TestRun::settle`] waits for the subscriptions to catch up.
const SETTLE_WITHIN: Duration = Duration::from_secs(30);

/// How often [`TestRun::settle`] looks.
const LOOK_EVERY: Duration = Duration::from_millis(2);

/// Subscriptions running on messages held in memory, for a test: append
/// to [`store`](Self::store), wait with [`settle`](Self::settle) until
/// every subscription has handled what it selects, and look at what the
/// handlers wrote.
///
/// ```
/// use beckett::testing::TestRun;
/// use beckett::{Context, ExpectedVersion, Message, MessageStorage, NewMessage};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Message, Serialize, Deserialize)]
/// struct OrderPlaced { order_id: u64 }
/// #[derive(Message, Serialize, Deserialize)]
/// struct InvoiceRequested { order_id: u64 }
///
/// #[beckett::subscription(group = "Billing", messages(OrderPlaced))]
/// async fn request_invoice(placed: OrderPlaced, ctx: Context) -> beckett::Result<()> {
///     let invoice = InvoiceRequested { order_id: placed.order_id };
///     ctx.append(&format!("Invoice-{}", placed.order_id), ExpectedVersion::Any, invoice).await?;
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> beckett::Result<()> {
/// let run = TestRun::start(beckett::Beckett::builder().groups(["Billing"])).await?;
/// let placed = NewMessage::new(&OrderPlaced { order_id: 7 })?;
/// run.store().append("Order-7", ExpectedVersion::NoStream, vec![placed]).await?;
/// run.settle().await;
/// let invoices = run.store().read_stream("Invoice-7", 1, 10).await?;
/// assert_eq!(invoices[0].decode::<InvoiceRequested>()?.order_id, 7);
/// run.stop().await
/// # }
/// ```
#[derive(Debug)]
pub struct TestRun {
    store: MemoryStore,
    storage: Storage,
    /// The groups running, each with how many subscriptions it declares.
    groups: Vec<(&'static str, usize)>,
    stop: oneshot::Sender<()>,
    running: JoinHandle<Result<()>>,
}

impl TestRun {
    /// Starts the groups `builder` selects (all linked, by default), with
    /// its settings, on a new, empty store in memory; returns once their
    /// subscriptions are registered. A failing handler is retried with the
    /// builder's delays, which [`settle`](Self::settle) waits through: set
    /// short ones (`retry_delays`, `max_retries`) for handlers that fail.
    pub async fn start(builder: Builder) -> Result<Self> {
        let store = MemoryStore::new();
        let state = Arc::new(SqliteStore::in_memory()?);
        let storage = Storage::beside(Arc::new(store.clone()), state);
        let beckett = builder.storage(storage.clone()).build()?;
        let groups = linked_groups(beckett.config().groups.as_deref())?
            .into_iter()
            .map(|(group, subscriptions)| (group, subscriptions.len()))
            .collect();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(beckett.run_until(async {
            // Dropped or sent, either ends the run.
            let _ = stopped.await;
        }));
        let run = Self {
            store,
            storage,
            groups,
            stop,
            running,
        };
        if !run.registered().await? {
            run.stop().await?;
            unreachable!("a run ends by itself only with an error");
        }
        Ok(run)
    }

    /// Waits until the run has registered its subscriptions, so that those
    /// that start at the end take every message appended from now on;
    /// false if the run ended first.
    async fn registered(&self) -> Result<bool> {
        let state = self.storage.engine();
        for &(group, wanted) in &self.groups {
            while state.registered(group).await?.len() < wanted {
                if self.running.is_finished() {
                    return Ok(false);
                }
                tokio::time::sleep(LOOK_EVERY).await;
            }
        }
        Ok(true)
    }

    /// The message store the subscriptions follow.
    pub fn store(&self) -> &MemoryStore {
        &self.store
    }

    /// The storage the subscriptions run on, the engine's state included.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Waits until every subscription has read every message in the store
    /// and none has a message left to handle, those it failed on for good
    /// aside (see [`failed`](Self::failed)). Scheduled messages are not
    /// waited for: the scheduler appends them when due, and a later
    /// `settle` waits for their handlers.
    ///
    /// # Panics
    ///
    /// If that takes longer than 30 seconds, naming what lags, or the run
    /// stopped: a test should fail then.
    pub async fn settle(&self) {
        let deadline = Instant::now() + SETTLE_WITHIN;
        loop {
            assert!(
                !self.running.is_finished(),
                "the subscriptions stopped running: `stop` says why"
            );
            let lagging = self
                .lagging()
                .await
                .unwrap_or_else(|error| panic!("cannot read the engine's state: {error}"));
            if lagging.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the subscriptions did not catch up within {SETTLE_WITHIN:?}: {}",
                lagging.join("; ")
            );
            tokio::time::sleep(LOOK_EVERY).await;
        }
    }

    /// What lags: subscriptions that have not read every message, and
    /// those with messages left to handle. Nothing lags only if no message
    /// was appended meanwhile: a handler may append and finish between two
    /// of the reads.
    async fn lagging(&self) -> Result<Vec<String>> {
        let head = self.store.head().await?.frontier().global_position;
        let state = self.storage.engine();
        let mut lagging = Vec::new();
        for &(group, _) in &self.groups {
            for registered in state.registered(group).await? {
                let read = registered.cursor.frontier().global_position;
                if read < head {
                    let name = registered.name;
                    lagging.push(format!("{group}/{name} has read {read} of {head} messages"));
                }
            }
            // Every subscription of the group, with its lagging streams.
            for (name, streams) in state.undeclared(group, &[]).await? {
                if streams > 0 {
                    lagging.push(format!("{group}/{name} has {streams} streams to handle"));
                }
            }
        }
        let now = self.store.head().await?.frontier().global_position;
        if now != head {
            lagging.push(format!("{} messages were appended meanwhile", now - head));
        }
        Ok(lagging)
    }

    /// The checkpoints whose subscription failed on a message for good,
    /// past its retries.
    pub async fn failed(&self) -> Result<Vec<CheckpointInfo>> {
        let failed = CheckpointFilter::default().status(CheckpointStatus::Failed);
        self.storage
            .engine()
            .checkpoints(&failed, None, usize::MAX)
            .await
    }

    /// Stops the subscriptions, letting handlers in flight finish; the
    /// error that stopped them early, if one did.
    pub async fn stop(self) -> Result<()> {
        // The run may have ended already, with the error it returns.
        let _ = self.stop.send(());
        match self.running.await {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic.into_panic()),
        }
    }
}
