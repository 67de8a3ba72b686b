//! When a failing message is tried again, and what an operator can do
//! about a stream that failed for good.

use crate::error::Result;
use crate::migrate::Schema;
use crate::store::checkpoints::{CheckpointInfo, Checkpoints};
use rand::Rng;
use sqlx::PgPool;
use std::time::Duration;

/// The delay before retry number `attempt` (1 for the first): doubling from
/// `base`, capped at `max`, then drawn at random from its upper half so
/// streams that failed together do not retry in step.
pub(crate) fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let doubled = base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
    let delay = doubled.min(max);
    delay.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// Failed checkpoints, and the operator's two ways out of them: retry the
/// failing message, or skip it.
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) -> beckett::Result<()> {
/// use beckett::subscription::FailedCheckpoints;
///
/// let failed = FailedCheckpoints::new(pool);
/// for checkpoint in failed.list(None).await? {
///     println!("{} {}: {:?}", checkpoint.subscription, checkpoint.stream, checkpoint.last_error);
///     failed.retry(&checkpoint.group, &checkpoint.subscription, &checkpoint.stream).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FailedCheckpoints {
    checkpoints: Checkpoints,
}

impl FailedCheckpoints {
    /// Failed checkpoints in the default schema.
    ///
    /// ```no_run
    /// # fn demo(pool: sqlx::PgPool) {
    /// let failed = beckett::subscription::FailedCheckpoints::new(pool);
    /// # }
    /// ```
    pub fn new(pool: PgPool) -> Self {
        Self::with_schema(pool, &Schema::default())
    }

    /// Failed checkpoints in `schema`.
    ///
    /// ```no_run
    /// # fn demo(pool: sqlx::PgPool) -> beckett::Result<()> {
    /// let schema = beckett::Schema::new("events")?;
    /// let failed = beckett::subscription::FailedCheckpoints::with_schema(pool, &schema);
    /// # Ok(()) }
    /// ```
    pub fn with_schema(pool: PgPool, schema: &Schema) -> Self {
        Self {
            checkpoints: Checkpoints::new(pool, schema),
        }
    }

    /// The failed checkpoints of `group`, or of every group.
    ///
    /// ```no_run
    /// # async fn demo(failed: beckett::subscription::FailedCheckpoints) -> beckett::Result<()> {
    /// let billing = failed.list(Some("Billing")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, group: Option<&str>) -> Result<Vec<CheckpointInfo>> {
        self.checkpoints.failed(group).await
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
        self.checkpoints.retry(group, subscription, stream).await
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
        self.checkpoints.skip(group, subscription, stream).await
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(60));
        for attempt in 1..=10u32 {
            let full = Duration::from_secs(2u64.pow(attempt - 1)).min(max);
            let delay = backoff(attempt, base, max);
            assert!(
                delay >= full / 2 && delay <= full,
                "attempt {attempt}: {delay:?}"
            );
        }
        assert!(backoff(u32::MAX, base, max) <= max);
    }
}
