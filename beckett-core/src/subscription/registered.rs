//! The subscriptions registered in the store, which outlive the code that
//! declared them: reported when a process starts, paused, reset and
//! removed by an operator.

use crate::error::Result;
use crate::state::{EngineStorage, ResetOutcome, StartAt, Storage, SubscriptionInfo};
use crate::store::{GlobalCursor, MessageStorage};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a reset waits for the batches under way to end.
const RESET_PATIENCE: Duration = Duration::from_secs(30);

/// The subscriptions registered in the store, and what an operator does
/// with them: pause and resume them, reset them to replay, remove those the
/// code no longer declares.
///
/// A subscription is registered when a process that declares it first
/// runs, and stays registered when the code stops declaring it: the leader
/// of its group keeps raising its checkpoints, for a process of another
/// version may still run it. Once no version declares it, remove it.
///
/// ```no_run
/// # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
/// use beckett::subscription::{ResetTo, Subscriptions};
///
/// let subscriptions = Subscriptions::new(store);
/// for s in subscriptions.list(None).await? {
///     println!("{}/{}: {} lagging, {} failed", s.group, s.name, s.lagging, s.failed);
/// }
/// // Handle every message again, from the first.
/// subscriptions.reset("Billing", "request_invoice", ResetTo::Start).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Subscriptions {
    storage: Storage,
}

/// Where a reset moves a subscription to: it handles every message after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetTo {
    /// Before the first message: a replay of all of them.
    Start,
    /// After the newest message: everything not yet handled is skipped.
    End,
    /// After a place in the global order, such as
    /// [`GlobalCursor::after`] of a message.
    After(GlobalCursor),
    /// After the message with this id, wherever it is.
    AfterMessage(Uuid),
}

impl std::str::FromStr for ResetTo {
    type Err = String;

    /// Reads `start`, `end`, or a message's id, as operators write them.
    ///
    /// ```
    /// use beckett::subscription::ResetTo;
    ///
    /// assert_eq!("start".parse(), Ok(ResetTo::Start));
    /// assert!(matches!("0193a5c4-8f3e-7cc2-9a1b-2f6e4d8c9b10".parse(), Ok(ResetTo::AfterMessage(_))));
    /// assert!("yesterday".parse::<ResetTo>().unwrap_err().contains("`yesterday`"));
    /// ```
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "start" => Ok(Self::Start),
            "end" => Ok(Self::End),
            id => id.parse().map(Self::AfterMessage).map_err(|_| {
                format!("a reset goes to start, end or after a message's id, not `{id}`")
            }),
        }
    }
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriptions").finish_non_exhaustive()
    }
}

impl Subscriptions {
    /// The subscriptions registered in a store that holds both the
    /// messages and the engine's state.
    ///
    /// ```no_run
    /// # fn demo(store: beckett::PostgresStore) {
    /// let subscriptions = beckett::subscription::Subscriptions::new(store);
    /// # }
    /// ```
    pub fn new<S: MessageStorage + EngineStorage>(store: S) -> Self {
        Self::on(Storage::together(Arc::new(store)))
    }

    /// The subscriptions registered in `storage`'s state store.
    pub fn on(storage: Storage) -> Self {
        Self { storage }
    }

    fn state(&self) -> &dyn EngineStorage {
        &**self.storage.engine()
    }

    /// The subscriptions of `group`, or of every group, with counts of
    /// their checkpoints: lagging, retrying, failed, reserved.
    pub async fn list(&self, group: Option<&str>) -> Result<Vec<SubscriptionInfo>> {
        self.state().subscriptions(group).await
    }

    /// Pauses a subscription: no process starts a batch of its
    /// checkpoints, and the batches under way end after the messages they
    /// read. Its checkpoints go on lagging as messages come. False if it is
    /// not registered.
    ///
    /// ```no_run
    /// # async fn demo(subscriptions: beckett::subscription::Subscriptions) -> beckett::Result<()> {
    /// subscriptions.pause("Billing", "request_invoice").await?;
    /// // ... mend what its handler calls ...
    /// subscriptions.resume("Billing", "request_invoice").await?;
    /// # Ok(()) }
    /// ```
    pub async fn pause(&self, group: &str, name: &str) -> Result<bool> {
        self.state().set_paused(group, name, true).await
    }

    /// Resumes a paused subscription. False if it is not registered.
    pub async fn resume(&self, group: &str, name: &str) -> Result<bool> {
        self.state().set_paused(group, name, false).await
    }

    /// Resets a subscription to `to`: its checkpoints go, and it handles
    /// every message after `to` again, each stream in order, as if it had
    /// just been registered there. Retrying and failed streams start over
    /// too.
    ///
    /// No stream is handled by two processes at once: the subscription is
    /// paused while the batches under way end (30 seconds at most; after
    /// that the reset is refused with [`ResetOutcome::Reserved`]), then
    /// reset, then resumed unless it was paused before. A reset dropped
    /// while it waits leaves the subscription paused.
    pub async fn reset(&self, group: &str, name: &str, to: ResetTo) -> Result<ResetOutcome> {
        let to = match to {
            ResetTo::Start => StartAt::First,
            ResetTo::End => self.storage.end().await?,
            ResetTo::After(cursor) => StartAt::After(cursor),
            ResetTo::AfterMessage(id) => match self.storage.messages().message(id).await? {
                Some(message) => StartAt::After(GlobalCursor::after(&message)),
                None => return Ok(ResetOutcome::UnknownMessage(id)),
            },
        };
        let Some(before) = self
            .list(Some(group))
            .await?
            .into_iter()
            .find(|s| s.name == name)
        else {
            return Ok(ResetOutcome::Unregistered);
        };
        if !before.paused {
            self.pause(group, name).await?;
        }
        let outcome = self.reset_when_free(group, name, &to).await;
        if !before.paused {
            self.resume(group, name).await?;
        }
        outcome
    }

    /// Resets once no process holds a checkpoint of the subscription, or
    /// the patience runs out.
    async fn reset_when_free(&self, group: &str, name: &str, to: &StartAt) -> Result<ResetOutcome> {
        let deadline = Instant::now() + RESET_PATIENCE;
        loop {
            match self.state().reset(group, name, to).await? {
                ResetOutcome::Reserved(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                outcome => return Ok(outcome),
            }
        }
    }

    /// Removes a subscription: where it read the global order to, and its
    /// checkpoints. Its leader stops routing for it within a poll
    /// interval, and reservations no longer step over its checkpoints. The
    /// record of messages skipped for it stays. A process that still
    /// declares it registers it again when it starts, from its `start`.
    /// Returns how many checkpoints went with it; `None` if it was not
    /// registered.
    ///
    /// ```no_run
    /// # async fn demo(subscriptions: beckett::subscription::Subscriptions) -> beckett::Result<()> {
    /// if subscriptions.remove("Billing", "send_fax").await?.is_none() {
    ///     println!("no such subscription");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn remove(&self, group: &str, name: &str) -> Result<Option<u64>> {
        self.state().remove(group, name).await
    }
}

/// Warns of the subscriptions registered in `group` that this program does
/// not declare: another version of it may run them, or they were removed
/// from the code, and their checkpoints pile up until removed.
pub(crate) async fn report_undeclared(
    state: &dyn EngineStorage,
    group: &str,
    declared: &[&str],
) -> Result<()> {
    for (name, lagging) in state.undeclared(group, declared).await? {
        tracing::warn!(
            group,
            subscription = name,
            lagging,
            "a subscription registered in this group is not declared by this program: if \
             another version of it runs the subscription, this passes with the deploy; if it \
             was removed from the code, remove it with Subscriptions::remove(group, name), \
             or its checkpoints keep piling up"
        );
    }
    Ok(())
}
