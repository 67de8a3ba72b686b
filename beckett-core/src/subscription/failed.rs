//! Streams that failed for good, and what an operator can do about them.

use crate::error::Result;
use crate::state::{CheckpointInfo, EngineStorage};
use std::sync::Arc;

/// Failed checkpoints, and the operator's two ways out of them: retry the
/// failing message, or skip it.
///
/// ```no_run
/// # async fn demo(store: beckett::PostgresStore) -> beckett::Result<()> {
/// use beckett::subscription::FailedCheckpoints;
///
/// let failed = FailedCheckpoints::new(store);
/// for checkpoint in failed.list(None).await? {
///     println!("{} {}: {:?}", checkpoint.subscription, checkpoint.stream, checkpoint.last_error);
///     failed.retry(&checkpoint.group, &checkpoint.subscription, &checkpoint.stream).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FailedCheckpoints {
    state: Arc<dyn EngineStorage>,
}

impl std::fmt::Debug for FailedCheckpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailedCheckpoints").finish_non_exhaustive()
    }
}

impl FailedCheckpoints {
    /// The failed checkpoints in `state`.
    ///
    /// ```no_run
    /// # fn demo(store: beckett::PostgresStore) {
    /// let failed = beckett::subscription::FailedCheckpoints::new(store);
    /// # }
    /// ```
    pub fn new(state: impl EngineStorage) -> Self {
        Self::shared(Arc::new(state))
    }

    /// The failed checkpoints in a state store already shared.
    pub fn shared(state: Arc<dyn EngineStorage>) -> Self {
        Self { state }
    }

    /// The failed checkpoints of `group`, or of every group.
    ///
    /// ```no_run
    /// # async fn demo(failed: beckett::subscription::FailedCheckpoints) -> beckett::Result<()> {
    /// let billing = failed.list(Some("Billing")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, group: Option<&str>) -> Result<Vec<CheckpointInfo>> {
        self.state.failed(group).await
    }

    /// Makes a failed checkpoint due now: it resumes from the message that
    /// failed, with a fresh count of retries. False if it was not failed.
    ///
    /// ```no_run
    /// # async fn demo(failed: beckett::subscription::FailedCheckpoints) -> beckett::Result<()> {
    /// failed.retry("Billing", "request_invoice", "Order-42").await?;
    /// # Ok(()) }
    /// ```
    pub async fn retry(&self, group: &str, subscription: &str, stream: &str) -> Result<bool> {
        self.state.retry(group, subscription, stream).await
    }

    /// Moves a failed checkpoint past the message that failed, recording
    /// the skip with its error; the stream continues with the next message.
    /// False if it was not failed.
    ///
    /// ```no_run
    /// # async fn demo(failed: beckett::subscription::FailedCheckpoints) -> beckett::Result<()> {
    /// failed.skip("Billing", "request_invoice", "Order-42").await?;
    /// # Ok(()) }
    /// ```
    pub async fn skip(&self, group: &str, subscription: &str, stream: &str) -> Result<bool> {
        self.state.skip(group, subscription, stream).await
    }
}
