//! The subscriptions registered in the store, which outlive the code that
//! declared them: reported when a process starts, removed by an operator.

use crate::error::Result;
use crate::state::EngineStorage;
use std::sync::Arc;

/// The subscriptions registered in the store, and the operator's way to
/// remove one that the code no longer declares.
///
/// A subscription is registered when a process that declares it first
/// runs, and stays registered when the code stops declaring it: the leader
/// of its group keeps raising its checkpoints, for a process of another
/// version may still run it. Once no version declares it, remove it.
///
/// ```no_run
/// # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
/// use beckett::subscription::Subscriptions;
///
/// let subscriptions = Subscriptions::new(store);
/// if let Some(checkpoints) = subscriptions.remove("Billing", "send_fax").await? {
///     println!("removed with {checkpoints} checkpoints");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Subscriptions {
    state: Arc<dyn EngineStorage>,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriptions").finish_non_exhaustive()
    }
}

impl Subscriptions {
    /// The subscriptions registered in `state`.
    ///
    /// ```no_run
    /// # fn demo(store: beckett::PostgresStore) {
    /// let subscriptions = beckett::subscription::Subscriptions::new(store);
    /// # }
    /// ```
    pub fn new(state: impl EngineStorage) -> Self {
        Self::shared(Arc::new(state))
    }

    /// The subscriptions registered in a state store already shared.
    pub fn shared(state: Arc<dyn EngineStorage>) -> Self {
        Self { state }
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
        self.state.remove(group, name).await
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
