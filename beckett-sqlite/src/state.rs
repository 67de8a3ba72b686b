//! The engine's state on SQLite: [`SqliteStore`] as the [`EngineStorage`],
//! beside its message store.

use crate::checkpoints::{self, now, span, Acted};
use crate::error::sqlite;
use crate::scheduled;
use crate::transaction::SqliteTransaction;
use crate::SqliteStore;
use beckett_core::scheduling::Due;
use beckett_core::state::{
    CheckpointFilter, CheckpointInfo, CheckpointKey, Completed, Cursor, DeclaredJob, Delivered,
    DueMessage, EngineStorage, Failure, KnownJob, Leadership, MinuteStats, Raise, RecurringJobInfo,
    Registered, RemovedJob, Reservation, Reserved, ResetOutcome, ScheduledInfo, StartAt,
    StateTransaction, SubscriptionInfo, Wakeup,
};
use beckett_core::subscription::Selection;
use beckett_core::{Error, NewMessage, Result};
use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use rusqlite::{params, Connection};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// How long a lead lasts unless its holder renews it, which it does at
/// every poll and every batch: a leader that died is replaced this long
/// after its last renewal.
const LEASE: Duration = Duration::from_secs(10);

#[async_trait::async_trait]
impl EngineStorage for SqliteStore {
    async fn register(
        &self,
        group: &str,
        name: &str,
        start: &StartAt,
        selection: &Selection,
    ) -> Result<()> {
        let (group, name, selection) = (group.to_owned(), name.to_owned(), selection.clone());
        let start = start.clone();
        self.writer()
            .write(move |c| checkpoints::register(c, &group, &name, &start, &selection))
            .await
    }

    async fn undeclared(&self, group: &str, declared: &[&str]) -> Result<Vec<(String, i64)>> {
        let group = group.to_owned();
        let declared: Vec<String> = declared.iter().map(|&d| d.to_owned()).collect();
        self.readers()
            .read(move |c| {
                let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
                checkpoints::undeclared(c, &group, &declared)
            })
            .await
    }

    async fn registered(&self, group: &str) -> Result<Vec<Registered>> {
        let group = group.to_owned();
        self.readers()
            .read(move |c| checkpoints::registered(c, &group))
            .await
    }

    async fn remove(&self, group: &str, name: &str) -> Result<Option<u64>> {
        let (group, name) = (group.to_owned(), name.to_owned());
        self.writer()
            .write(move |c| checkpoints::remove(c, &group, &name))
            .await
    }

    /// The lead is a lease in the `leaders` table, renewed by every call
    /// of the leadership and checked in the transaction of every record:
    /// a leader whose lease passed to another records nothing.
    async fn lead(&self, group: &str) -> Result<Option<Box<dyn Leadership>>> {
        let holder = Uuid::now_v7();
        let (owned, by) = (group.to_owned(), holder);
        let led = self.writer().write(move |c| renew(c, &owned, by)).await?;
        Ok(led.then(|| {
            Box::new(Leader {
                store: self.clone(),
                group: group.to_owned(),
                holder,
            }) as Box<dyn Leadership>
        }))
    }

    async fn reserve(
        &self,
        group: &str,
        subscriptions: &[&str],
        limit: usize,
        read: usize,
        timeout: Duration,
    ) -> Result<Vec<Reserved>> {
        let group = group.to_owned();
        let subscriptions: Vec<String> = subscriptions.iter().map(|&s| s.to_owned()).collect();
        let reservations = self
            .writer()
            .write(move |c| {
                let subscriptions: Vec<&str> = subscriptions.iter().map(String::as_str).collect();
                checkpoints::reserve(c, &group, &subscriptions, limit, timeout)
            })
            .await?;
        if read == 0 {
            let reserved = reservations.into_iter().map(|reservation| Reserved {
                reservation,
                messages: None,
            });
            return Ok(reserved.collect());
        }
        if reservations.is_empty() {
            return Ok(Vec::new());
        }
        self.readers()
            .read(move |c| checkpoints::first_messages(c, reservations, read))
            .await
    }

    async fn complete(&self, group: &str, completed: &[Completed]) -> Result<bool> {
        let (group, completed) = (group.to_owned(), completed.to_vec());
        self.writer()
            .write(move |c| checkpoints::complete(c, &group, &completed))
            .await
    }

    async fn advance(
        &self,
        group: &str,
        reservation: &Reservation,
        position: i64,
        keep: Option<Duration>,
    ) -> Result<bool> {
        let (group, reservation) = (group.to_owned(), reservation.clone());
        self.writer()
            .write(move |c| {
                checkpoints::advance_heeding_pause(c, &group, &reservation, position, keep)
            })
            .await
    }

    async fn fail(&self, group: &str, reservation: &Reservation, failure: &Failure) -> Result<()> {
        let (group, reservation, failure) =
            (group.to_owned(), reservation.clone(), failure.clone());
        self.writer()
            .write(move |c| checkpoints::fail(c, &group, &reservation, &failure))
            .await
    }

    async fn extend(&self, tokens: &[Uuid], timeout: Duration) -> Result<Vec<Uuid>> {
        let tokens = tokens.to_vec();
        self.writer()
            .write(move |c| checkpoints::extend(c, &tokens, timeout))
            .await
    }

    async fn release(&self, tokens: &[Uuid], pause: Duration) -> Result<()> {
        let tokens = tokens.to_vec();
        self.writer()
            .write(move |c| checkpoints::release(c, &tokens, pause))
            .await
    }

    async fn subscriptions(&self, group: Option<&str>) -> Result<Vec<SubscriptionInfo>> {
        let group = group.map(str::to_owned);
        self.readers()
            .read(move |c| checkpoints::subscriptions(c, group.as_deref()))
            .await
    }

    async fn set_paused(&self, group: &str, name: &str, paused: bool) -> Result<bool> {
        let (owned, name) = (group.to_owned(), name.to_owned());
        let set = self
            .writer()
            .write_statement(move |c| checkpoints::set_paused(c, &owned, &name, paused))
            .await?;
        if set && !paused {
            self.wake(Wakeup::Checkpoints(group.to_owned()));
        }
        Ok(set)
    }

    async fn reset(&self, group: &str, name: &str, to: &StartAt) -> Result<ResetOutcome> {
        let (group, name, to) = (group.to_owned(), name.to_owned(), to.clone());
        self.writer()
            .write(move |c| checkpoints::reset(c, &group, &name, &to))
            .await
    }

    async fn checkpoints(
        &self,
        filter: &CheckpointFilter,
        after: Option<&CheckpointKey>,
        limit: usize,
    ) -> Result<Vec<CheckpointInfo>> {
        let (filter, after) = (filter.clone(), after.cloned());
        self.readers()
            .read(move |c| checkpoints::checkpoints(c, &filter, after.as_ref(), limit))
            .await
    }

    async fn count_checkpoints(&self, filter: &CheckpointFilter) -> Result<u64> {
        let filter = filter.clone();
        self.readers()
            .read(move |c| checkpoints::count_checkpoints(c, &filter))
            .await
    }

    async fn retry_failed(&self, filter: &CheckpointFilter) -> Result<u64> {
        self.act(filter, checkpoints::retry_failed).await
    }

    async fn skip_failed(&self, filter: &CheckpointFilter) -> Result<u64> {
        self.act(filter, checkpoints::skip_failed).await
    }

    async fn release_reserved(&self, filter: &CheckpointFilter) -> Result<u64> {
        self.act(filter, checkpoints::release_reserved).await
    }

    async fn schedule(&self, stream: &str, message: NewMessage, due: Due) -> Result<Uuid> {
        let (message, due) = scheduled::checked(stream, message, due)?;
        let stream = stream.to_owned();
        let id = self
            .writer()
            .write(move |c| scheduled::schedule(c, &stream, message, due))
            .await?;
        self.wake(Wakeup::Scheduled);
        Ok(id)
    }

    async fn record_minutes(&self, minutes: &[MinuteStats]) -> Result<()> {
        let minutes = minutes.to_vec();
        self.writer()
            .write(move |c| crate::minutes::record(c, &minutes))
            .await
    }

    async fn minutes(&self, since: DateTime<Utc>) -> Result<Vec<MinuteStats>> {
        self.readers()
            .read(move |c| crate::minutes::since(c, since))
            .await
    }

    async fn cancel_scheduled(&self, id: Uuid) -> Result<bool> {
        self.writer().write(move |c| scheduled::cancel(c, id)).await
    }

    async fn scheduled(
        &self,
        stream_prefix: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ScheduledInfo>> {
        let stream_prefix = stream_prefix.map(str::to_owned);
        self.readers()
            .read(move |c| scheduled::scheduled(c, stream_prefix.as_deref(), limit))
            .await
    }

    async fn deliver_now(&self, id: Uuid) -> Result<bool> {
        let moved = self
            .writer()
            .write_statement(move |c| scheduled::deliver_now(c, id))
            .await?;
        if moved {
            self.wake(Wakeup::Scheduled);
        }
        Ok(moved)
    }

    async fn deliver_due(&self, limit: usize) -> Result<Delivered> {
        let moved = self
            .writer()
            .write(move |c| scheduled::deliver_due(c, limit))
            .await?;
        if moved > 0 {
            self.wake(Wakeup::Messages);
        }
        Ok(Delivered {
            moved,
            held_back: false,
        })
    }

    async fn take_due(&self, limit: usize, lease: Duration) -> Result<Vec<DueMessage>> {
        self.writer()
            .write(move |c| scheduled::take_due(c, limit, lease))
            .await
    }

    async fn delivered(&self, ids: &[Uuid]) -> Result<()> {
        let ids = ids.to_vec();
        self.writer()
            .write(move |c| scheduled::delivered(c, &ids))
            .await
    }

    async fn next_due(&self) -> Result<Option<Duration>> {
        self.readers().read(scheduled::next_due).await
    }

    async fn declare_jobs(&self, group: &str, jobs: &[DeclaredJob<'_>]) -> Result<Vec<KnownJob>> {
        let group = group.to_owned();
        let jobs: Vec<[String; 4]> = jobs
            .iter()
            .map(|j| [j.name, j.cron, j.schedule, j.stream].map(str::to_owned))
            .collect();
        self.writer()
            .write(move |c| {
                let jobs: Vec<DeclaredJob> = jobs
                    .iter()
                    .map(|[name, cron, schedule, stream]| DeclaredJob {
                        name,
                        cron,
                        schedule,
                        stream,
                    })
                    .collect();
                scheduled::declare_jobs(c, &group, &jobs)
            })
            .await
    }

    async fn remove_other_jobs(&self, group: &str, declared: &[&str]) -> Result<Vec<RemovedJob>> {
        let group = group.to_owned();
        let declared: Vec<String> = declared.iter().map(|&d| d.to_owned()).collect();
        self.writer()
            .write(move |c| {
                let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
                scheduled::remove_other_jobs(c, &group, &declared)
            })
            .await
    }

    async fn recurring_jobs(&self) -> Result<Vec<RecurringJobInfo>> {
        self.readers().read(scheduled::recurring_jobs).await
    }

    fn wakeups(&self) -> BoxStream<'static, Wakeup> {
        self.follow()
    }

    async fn begin(&self) -> Result<Box<dyn StateTransaction>> {
        Ok(Box::new(SqliteTransaction::begin(self)?))
    }
}

impl SqliteStore {
    /// Runs an operator's `action` on the checkpoints matching `filter`, in
    /// one write, and wakes the consumers of the groups whose checkpoints
    /// it made due; how many it changed.
    async fn act(
        &self,
        filter: &CheckpointFilter,
        action: fn(&Connection, &CheckpointFilter) -> Result<Acted>,
    ) -> Result<u64> {
        let filter = filter.clone();
        let acted = self.writer().write(move |c| action(c, &filter)).await?;
        for group in acted.groups {
            self.wake(Wakeup::Checkpoints(group));
        }
        Ok(acted.count)
    }
}

/// Takes or renews the group's lease for `holder`; false while another
/// holds it.
fn renew(connection: &Connection, group: &str, holder: Uuid) -> Result<bool> {
    let now = now();
    let changed = connection
        .prepare_cached(
            "INSERT INTO leaders (group_name, holder, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (group_name) DO UPDATE
             SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE leaders.holder = excluded.holder OR leaders.expires_at < ?4",
        )
        .and_then(|mut s| {
            s.execute(params![
                group,
                holder.as_bytes(),
                now.saturating_add(span(LEASE)),
                now
            ])
        })
        .map_err(sqlite)?;
    Ok(changed == 1)
}

/// Renews the lease, or says it was lost.
fn hold_lead(connection: &Connection, group: &str, holder: Uuid) -> Result<()> {
    if renew(connection, group, holder)? {
        Ok(())
    } else {
        Err(Error::Database {
            source: format!("the lead of group `{group}` passed to another process").into(),
            refused: true,
        })
    }
}

/// A group's lead: a lease renewed by every call.
struct Leader {
    store: SqliteStore,
    group: String,
    holder: Uuid,
}

#[async_trait::async_trait]
impl Leadership for Leader {
    async fn registered(&mut self) -> Result<Vec<Registered>> {
        let (group, holder) = (self.group.clone(), self.holder);
        self.store
            .writer()
            .write(move |c| {
                hold_lead(c, &group, holder)?;
                checkpoints::registered(c, &group)
            })
            .await
    }

    async fn record(
        &mut self,
        raises: &[Raise<'_>],
        cursors: &[Cursor<'_>],
        timeout: Duration,
    ) -> Result<HashSet<Uuid>> {
        let owned_raises: Vec<_> = raises
            .iter()
            .map(|r| {
                (
                    r.subscription.to_owned(),
                    r.stream.to_owned(),
                    r.registration,
                    r.version,
                    r.first,
                    r.take,
                )
            })
            .collect();
        let owned_cursors: Vec<_> = cursors
            .iter()
            .map(|c| (c.subscription.to_owned(), c.registration, c.cursor.clone()))
            .collect();
        let (group, holder) = (self.group.clone(), self.holder);
        let (taken, others) = self
            .store
            .writer()
            .write(move |c| {
                hold_lead(c, &group, holder)?;
                let raises: Vec<Raise> = owned_raises
                    .iter()
                    .map(
                        |(subscription, stream, registration, version, first, take)| Raise {
                            subscription,
                            stream,
                            registration: *registration,
                            version: *version,
                            first: *first,
                            take: *take,
                        },
                    )
                    .collect();
                let cursors: Vec<Cursor> = owned_cursors
                    .iter()
                    .map(|(subscription, registration, cursor)| Cursor {
                        subscription,
                        registration: *registration,
                        cursor,
                    })
                    .collect();
                checkpoints::record(c, &group, &raises, &cursors, timeout)
            })
            .await?;
        if others {
            self.store.wake(Wakeup::Checkpoints(self.group.clone()));
        }
        Ok(taken)
    }
}

impl Drop for Leader {
    /// Gives the lead up at once, rather than when its lease runs out.
    fn drop(&mut self) {
        let (group, holder) = (std::mem::take(&mut self.group), self.holder);
        let writer = self.store.writer().clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = writer
                    .write(move |c| {
                        c.execute(
                            "DELETE FROM leaders WHERE group_name = ?1 AND holder = ?2",
                            params![group, holder.as_bytes()],
                        )
                        .map_err(sqlite)
                    })
                    .await;
            });
        }
    }
}
