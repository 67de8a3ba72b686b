//! The engine's state on Postgres: [`PostgresStore`] as the
//! [`EngineStorage`], beside its message store.

use crate::checkpoints::Checkpoints;
use crate::error::db;
use crate::listener;
use crate::store::PostgresStore;
use crate::transaction::PostgresTransaction;
use beckett_core::scheduling::Due;
use beckett_core::state::{
    CheckpointFilter, CheckpointInfo, CheckpointKey, Completed, Cursor, DeclaredJob, Delivered,
    DueMessage, EngineStorage, Failure, KnownJob, Leadership, MinuteStats, Raise, RecurringJobInfo,
    Registered, RemovedJob, Reservation, Reserved, ResetOutcome, ScheduledInfo, StartAt,
    StateTransaction, SubscriptionInfo, Wakeup,
};
use beckett_core::subscription::Selection;
use beckett_core::{NewMessage, Result};
use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use sqlx::PgConnection;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

#[async_trait::async_trait]
impl EngineStorage for PostgresStore {
    async fn register(
        &self,
        group: &str,
        name: &str,
        start: &StartAt,
        selection: &Selection,
    ) -> Result<()> {
        self.checkpoints
            .register(group, name, start, selection)
            .await
    }

    async fn undeclared(&self, group: &str, declared: &[&str]) -> Result<Vec<(String, i64)>> {
        self.checkpoints.undeclared(group, declared).await
    }

    async fn registered(&self, group: &str) -> Result<Vec<Registered>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        self.checkpoints.registered(&mut conn, group).await
    }

    async fn remove(&self, group: &str, name: &str) -> Result<Option<u64>> {
        self.checkpoints.remove(group, name).await
    }

    /// The lead is a session advisory lock, held on a connection of the
    /// leader's own: it ends with the connection, so a process that dies
    /// hands the lead on.
    async fn lead(&self, group: &str) -> Result<Option<Box<dyn Leadership>>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        if !self.checkpoints.try_lead(&mut conn, group).await? {
            return Ok(None);
        }
        Ok(Some(Box::new(Leader {
            checkpoints: self.checkpoints.clone(),
            group: group.to_owned(),
            conn: conn.detach(),
        })))
    }

    async fn reserve(
        &self,
        group: &str,
        subscriptions: &[&str],
        limit: usize,
        read: usize,
        timeout: Duration,
    ) -> Result<Vec<Reserved>> {
        self.checkpoints
            .reserve(group, subscriptions, limit, read, timeout)
            .await
    }

    async fn complete(&self, group: &str, completed: &[Completed]) -> Result<bool> {
        self.checkpoints.complete(group, completed).await
    }

    async fn advance(
        &self,
        group: &str,
        reservation: &Reservation,
        position: i64,
        keep: Option<Duration>,
    ) -> Result<bool> {
        self.checkpoints
            .advance(None, group, reservation, position, keep)
            .await
    }

    async fn fail(&self, group: &str, reservation: &Reservation, failure: &Failure) -> Result<()> {
        self.checkpoints.fail(group, reservation, failure).await
    }

    async fn extend(&self, tokens: &[Uuid], timeout: Duration) -> Result<Vec<Uuid>> {
        self.checkpoints.extend(tokens, timeout).await
    }

    async fn release(&self, tokens: &[Uuid], pause: Duration) -> Result<()> {
        self.checkpoints.release(tokens, pause).await
    }

    async fn subscriptions(&self, group: Option<&str>) -> Result<Vec<SubscriptionInfo>> {
        self.operators.subscriptions(group).await
    }

    async fn set_paused(&self, group: &str, name: &str, paused: bool) -> Result<bool> {
        self.operators.set_paused(group, name, paused).await
    }

    async fn reset(&self, group: &str, name: &str, to: &StartAt) -> Result<ResetOutcome> {
        self.operators.reset(group, name, to).await
    }

    async fn checkpoints(
        &self,
        filter: &CheckpointFilter,
        after: Option<&CheckpointKey>,
        limit: usize,
    ) -> Result<Vec<CheckpointInfo>> {
        self.operators.checkpoints(filter, after, limit).await
    }

    async fn count_checkpoints(&self, filter: &CheckpointFilter) -> Result<u64> {
        self.operators.count(filter).await
    }

    async fn retry_failed(&self, filter: &CheckpointFilter) -> Result<u64> {
        self.operators.retry_failed(filter).await
    }

    async fn skip_failed(&self, filter: &CheckpointFilter) -> Result<u64> {
        self.operators.skip_failed(filter).await
    }

    async fn release_reserved(&self, filter: &CheckpointFilter) -> Result<u64> {
        self.operators.release_reserved(filter).await
    }

    async fn record_minutes(&self, minutes: &[MinuteStats]) -> Result<()> {
        self.minutes.record(minutes).await
    }

    async fn minutes(&self, since: DateTime<Utc>) -> Result<Vec<MinuteStats>> {
        self.minutes.since(since).await
    }

    async fn schedule(&self, stream: &str, message: NewMessage, due: Due) -> Result<Uuid> {
        PostgresStore::schedule(self, stream, message, due).await
    }

    async fn cancel_scheduled(&self, id: Uuid) -> Result<bool> {
        PostgresStore::cancel_scheduled(self, id).await
    }

    async fn scheduled(
        &self,
        stream_prefix: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ScheduledInfo>> {
        self.scheduled.list(stream_prefix, limit).await
    }

    async fn deliver_now(&self, id: Uuid) -> Result<bool> {
        self.scheduled.deliver_now(id).await
    }

    async fn deliver_due(&self, limit: usize) -> Result<Delivered> {
        self.scheduled.deliver_due(limit).await
    }

    async fn take_due(&self, limit: usize, lease: Duration) -> Result<Vec<DueMessage>> {
        self.scheduled.take_due(limit, lease).await
    }

    async fn delivered(&self, ids: &[Uuid]) -> Result<()> {
        self.scheduled.delivered(ids).await
    }

    async fn next_due(&self) -> Result<Option<Duration>> {
        self.scheduled.next_due().await
    }

    async fn declare_jobs(&self, group: &str, jobs: &[DeclaredJob<'_>]) -> Result<Vec<KnownJob>> {
        self.jobs.declare(group, jobs).await
    }

    async fn remove_other_jobs(&self, group: &str, declared: &[&str]) -> Result<Vec<RemovedJob>> {
        self.jobs.remove_others(group, declared).await
    }

    async fn recurring_jobs(&self) -> Result<Vec<RecurringJobInfo>> {
        self.jobs.list().await
    }

    fn wakeups(&self) -> BoxStream<'static, Wakeup> {
        listener::wakeups(&self.pool, &self.schema)
    }

    async fn begin(&self) -> Result<Box<dyn StateTransaction>> {
        Ok(Box::new(PostgresTransaction::begin(self).await?))
    }
}

/// A group's lead: the connection that holds its lock.
struct Leader {
    checkpoints: Checkpoints,
    group: String,
    conn: PgConnection,
}

#[async_trait::async_trait]
impl Leadership for Leader {
    async fn registered(&mut self) -> Result<Vec<Registered>> {
        self.checkpoints
            .registered(&mut self.conn, &self.group)
            .await
    }

    async fn record(
        &mut self,
        raises: &[Raise<'_>],
        cursors: &[Cursor<'_>],
        timeout: Duration,
    ) -> Result<HashSet<Uuid>> {
        self.checkpoints
            .record_batch(&mut self.conn, &self.group, raises, cursors, timeout)
            .await
    }
}
