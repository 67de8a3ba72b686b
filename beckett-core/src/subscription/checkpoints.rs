//! Checkpoints as operators see them, and what they can do about the ones
//! that failed or are stuck: one at a time, or all that match a filter.

use crate::error::Result;
use crate::state::{CheckpointFilter, CheckpointInfo, CheckpointKey, EngineStorage};
use std::sync::Arc;

/// The checkpoints in a state store, and the operator's ways out of a
/// failed one (retry the failing message, or skip it) or a stuck one
/// (release its reservation). Every action takes a [`CheckpointFilter`]:
/// [`CheckpointFilter::one`] for one checkpoint, any other for all that
/// match it, however many.
///
/// ```no_run
/// # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
/// use beckett::subscription::{CheckpointFilter, CheckpointStatus, Checkpoints};
///
/// let checkpoints = Checkpoints::new(store);
/// let failed = CheckpointFilter::default().status(CheckpointStatus::Failed);
/// for checkpoint in checkpoints.list(&failed, None, 100).await? {
///     println!("{} {}: {:?}", checkpoint.subscription, checkpoint.stream, checkpoint.last_error);
/// }
/// let retried = checkpoints.retry(&failed.error_containing("connection refused")).await?;
/// println!("{retried} streams retry");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Checkpoints {
    state: Arc<dyn EngineStorage>,
}

impl std::fmt::Debug for Checkpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoints").finish_non_exhaustive()
    }
}

impl Checkpoints {
    /// The checkpoints in `state`.
    ///
    /// ```no_run
    /// # fn demo(store: beckett::PostgresStore) {
    /// let checkpoints = beckett::subscription::Checkpoints::new(store);
    /// # }
    /// ```
    pub fn new(state: impl EngineStorage) -> Self {
        Self::shared(Arc::new(state))
    }

    /// The checkpoints in a state store already shared.
    pub fn shared(state: Arc<dyn EngineStorage>) -> Self {
        Self { state }
    }

    /// Up to `limit` checkpoints matching `filter`, in key order (group,
    /// subscription, stream), after `after` when given: the key of the last
    /// one of the page before.
    ///
    /// ```no_run
    /// # async fn demo(checkpoints: beckett::subscription::Checkpoints) -> beckett::Result<()> {
    /// use beckett::subscription::CheckpointFilter;
    ///
    /// let billing = CheckpointFilter::default().group("Billing");
    /// let mut after = None;
    /// loop {
    ///     let page = checkpoints.list(&billing, after.as_ref(), 500).await?;
    ///     let Some(last) = page.last() else { break };
    ///     after = Some(last.key());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list(
        &self,
        filter: &CheckpointFilter,
        after: Option<&CheckpointKey>,
        limit: usize,
    ) -> Result<Vec<CheckpointInfo>> {
        self.state.checkpoints(filter, after, limit).await
    }

    /// How many checkpoints match `filter`: what a bulk action would take.
    pub async fn count(&self, filter: &CheckpointFilter) -> Result<u64> {
        self.state.count_checkpoints(filter).await
    }

    /// Makes the failed checkpoints matching `filter` due now: each resumes
    /// from the message that failed, with a fresh count of retries. Returns
    /// how many; checkpoints not failed are left alone.
    ///
    /// ```no_run
    /// # async fn demo(checkpoints: beckett::subscription::Checkpoints) -> beckett::Result<()> {
    /// use beckett::subscription::CheckpointFilter;
    ///
    /// checkpoints.retry(&CheckpointFilter::one("Billing", "request_invoice", "Order-42")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn retry(&self, filter: &CheckpointFilter) -> Result<u64> {
        self.state.retry_failed(filter).await
    }

    /// Moves the failed checkpoints matching `filter` past the message that
    /// failed, recording each skip with its error; each stream continues
    /// with its next message. Returns how many; checkpoints not failed are
    /// left alone.
    pub async fn skip(&self, filter: &CheckpointFilter) -> Result<u64> {
        self.state.skip_failed(filter).await
    }

    /// Ends the reservations a process holds on the checkpoints matching
    /// `filter`, making them due now for any process; returns how many. The
    /// holder's writes to them are refused from then on, but a handler it
    /// is running goes on to its end, so release only what a stuck or
    /// vanished process holds.
    pub async fn release(&self, filter: &CheckpointFilter) -> Result<u64> {
        self.state.release_reserved(filter).await
    }
}
