//! Wake-ups inside the process: the state store's signals (appends,
//! lagging checkpoints, messages scheduled soon) wake the consumers and
//! the scheduler at once instead of at their next poll.

use crate::state::Wakeup;
use futures_util::stream::{BoxStream, StreamExt};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// One pair of signals per group: new messages (for its global consumer)
/// and new checkpoint work (for its checkpoint consumer); and one for the
/// scheduler.
#[derive(Debug, Default)]
pub(crate) struct Signals {
    groups: BTreeMap<String, (Notify, Notify)>,
    scheduled: Notify,
}

impl Signals {
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

    /// Passes each wake-up on to whoever it is for, until shutdown or the
    /// end of the wake-ups, after which everyone polls.
    pub async fn follow(
        &self,
        mut wakeups: BoxStream<'static, Wakeup>,
        shutdown: &CancellationToken,
    ) {
        loop {
            let wakeup = tokio::select! {
                wakeup = wakeups.next() => wakeup,
                () = shutdown.cancelled() => return,
            };
            match wakeup {
                Some(Wakeup::Messages) => {
                    for (messages, _) in self.groups.values() {
                        messages.notify_one();
                    }
                }
                Some(Wakeup::Checkpoints(group)) => {
                    if let Some((_, work)) = self.groups.get(&group) {
                        work.notify_one();
                    }
                }
                Some(Wakeup::Scheduled) => self.scheduled.notify_one(),
                Some(Wakeup::Missed) => self.wake_all(),
                None => return,
            }
        }
    }

    fn wake_all(&self) {
        for (messages, checkpoints) in self.groups.values() {
            messages.notify_one();
            checkpoints.notify_one();
        }
        self.scheduled.notify_one();
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
