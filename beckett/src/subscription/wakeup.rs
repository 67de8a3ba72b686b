//! LISTEN/NOTIFY wake-ups: appends announce new messages, global consumers
//! announce lagging checkpoints, scheduling announces messages due soon,
//! and the consumers and the scheduler of this process wake at once instead
//! of at their next poll.

use crate::store::checkpoints::Checkpoints;
use crate::store::PostgresStore;
use sqlx::postgres::{PgListener, PgPoolOptions};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// One pair of wake-up signals per group: new messages (for its global
/// consumer) and new checkpoint work (for its checkpoint consumer); and one
/// for the scheduler.
#[derive(Debug, Default)]
pub(crate) struct Wakeups {
    groups: BTreeMap<String, (Notify, Notify)>,
    scheduled: Notify,
}

impl Wakeups {
    pub fn new<'a>(groups: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            groups: groups
                .into_iter()
                .map(|g| (g.to_owned(), Default::default()))
                .collect(),
            scheduled: Notify::new(),
        }
    }

    /// Signalled when a message was scheduled to be due soon.
    pub fn scheduled(&self) -> &Notify {
        &self.scheduled
    }

    /// Signalled when messages were appended.
    pub fn messages(&self, group: &str) -> &Notify {
        &self.groups[group].0
    }

    /// Signalled when the group has new lagging checkpoints.
    pub fn checkpoints(&self, group: &str) -> &Notify {
        &self.groups[group].1
    }

    fn wake_all(&self) {
        for (messages, checkpoints) in self.groups.values() {
            messages.notify_one();
            checkpoints.notify_one();
        }
        self.scheduled.notify_one();
    }

    /// Listens until shutdown, reconnecting after a lost connection and
    /// waking everyone then, since notifications may have been missed.
    pub async fn listen(
        &self,
        store: &PostgresStore,
        checkpoints: &Checkpoints,
        shutdown: CancellationToken,
    ) {
        let (messages_channel, checkpoints_channel, scheduled_channel) = (
            checkpoints.messages_channel(),
            checkpoints.checkpoints_channel(),
            store.scheduled_channel(),
        );
        // A listener keeps its connection for good: it gets a pool of its
        // own rather than holding one of the store's.
        let options = (*store.pool().connect_options()).clone();
        let own = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options);
        let mut delay = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            let listener = async {
                let mut listener = PgListener::connect_with(&own).await?;
                listener
                    .listen_all([messages_channel, checkpoints_channel, scheduled_channel])
                    .await?;
                self.wake_all();
                loop {
                    // `None`: the connection was lost and is being made
                    // again, with the notifications sent meanwhile lost.
                    let Some(notification) = listener.try_recv().await? else {
                        tracing::debug!("notification connection lost and remade");
                        self.wake_all();
                        continue;
                    };
                    if notification.channel() == messages_channel {
                        for (messages, _) in self.groups.values() {
                            messages.notify_one();
                        }
                    } else if notification.channel() == scheduled_channel {
                        self.scheduled.notify_one();
                    } else if let Some((_, work)) = self.groups.get(notification.payload()) {
                        work.notify_one();
                    }
                }
            };
            let result: Result<(), sqlx::Error> = tokio::select! {
                result = listener => result,
                () = shutdown.cancelled() => return,
            };
            if let Err(error) = result {
                tracing::warn!(%error, "lost the notification connection; polling until it is back");
                self.wake_all();
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => return,
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Waits for `notify`, `poll` or shutdown, whichever comes first.
pub(crate) async fn wait(notify: &Notify, poll: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        () = notify.notified() => {}
        () = tokio::time::sleep(poll) => {}
        () = shutdown.cancelled() => {}
    }
}
