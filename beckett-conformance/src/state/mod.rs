//! The checks of an engine state store: what
//! [`EngineStorage`] promises of leadership, subscriptions, checkpoints and
//! their reservations, operators' actions, scheduled messages, recurring
//! jobs, wake-ups and transactions.
//!
//! Each check takes a [`Storage`]: the state store under test with the
//! message store it runs beside, whose streams the checkpoints follow. It
//! names its groups, subscriptions and streams uniquely, and panics,
//! saying what it saw, when the store breaks a promise.
//! [`state_store_tests!`](crate::state_store_tests) runs them all.
//!
//! [`scheduled_once`], [`scheduled_in_due_order`],
//! [`scheduled_listed_and_delivered_now`], [`scheduled_races`] and
//! [`taken_for_elsewhere`] read the whole schedule
//! (what is due next) and deliver or take whatever is due: they expect
//! nothing else to schedule or deliver messages in the store while they
//! run, neither a process of the application nor, on a shared store, the
//! checks that schedule ([`wakeups`], [`transactions`]) or each other.

mod checkpoints;
mod operators;
mod scheduling;
mod signals;
mod subscriptions;

pub use checkpoints::{
    checkpoints_never_move_back, created_checkpoints_are_taken, reservations_exclude_each_other,
    reservations_expire, retries_and_failures, tokens,
};
pub use operators::{minutes_add_up, operators_act_on_filters, pause_and_reset};
pub use scheduling::{
    recurring_jobs, scheduled_in_due_order, scheduled_listed_and_delivered_now, scheduled_once,
    scheduled_races, taken_for_elsewhere,
};
pub use signals::{transactions, transactions_in_the_global_order, wakeups};
pub use subscriptions::{
    from_the_end_checkpoints_start_after_the_start, leadership, subscriptions,
};

use crate::support::{accepted, ids, pings, unique, PING};
use beckett_core::state::{
    Completed, EngineStorage, Leadership, Raise, Reservation, Reserved, StartAt, Storage,
};
use beckett_core::subscription::Selection;
use beckett_core::ExpectedVersion;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// A reservation's timeout long enough to outlast any check.
const LONG: Duration = Duration::from_secs(60);

/// How many messages of its stream a reservation asks for.
const READ: usize = 10;

/// A subscription in a group of its own, selecting a category of its own,
/// with the group's lead.
struct Fixture<'a> {
    storage: &'a Storage,
    group: String,
    subscription: String,
    category: String,
    leader: Box<dyn Leadership>,
}

impl<'a> Fixture<'a> {
    /// Registers a subscription, from the start, in a new group named after
    /// `check`, and leads the group.
    async fn new(storage: &'a Storage, check: &str) -> Self {
        let group = unique(&format!("{check}-"));
        let subscription = unique("subscription-");
        let category = unique("Conformance");
        let selection = Selection {
            types: vec![PING.to_owned()],
            category: Some(category.clone()),
            stream: None,
        };
        storage
            .engine()
            .register(&group, &subscription, &StartAt::First, &selection)
            .await
            .expect("registering a subscription");
        let leader = lead(&**storage.engine(), &group).await;
        Self {
            storage,
            group,
            subscription,
            category,
            leader,
        }
    }

    fn engine(&self) -> &'a dyn EngineStorage {
        &**self.storage.engine()
    }

    /// A stream of the subscription's category.
    fn stream(&self, name: &str) -> String {
        format!("{}-{name}", self.category)
    }

    /// Appends `count` messages to `stream`; returns their ids.
    async fn append(&self, stream: &str, count: usize) -> Vec<Uuid> {
        let messages = pings(count);
        let sent = ids(&messages);
        accepted(
            &**self.storage.messages(),
            stream,
            ExpectedVersion::Any,
            messages,
        )
        .await;
        sent
    }

    /// Raises the subscription's checkpoints of streams to versions, as
    /// the leader does, each created one reserved under its token if it
    /// has one; returns the tokens taken.
    async fn raise(&mut self, raises: &[(&str, i64, Option<Uuid>)]) -> HashSet<Uuid> {
        let subscription = self.subscription.clone();
        self.raise_for(&subscription, raises).await
    }

    /// Raises checkpoints of another subscription of the group.
    async fn raise_for(
        &mut self,
        subscription: &str,
        raises: &[(&str, i64, Option<Uuid>)],
    ) -> HashSet<Uuid> {
        let registered = self
            .leader
            .registered()
            .await
            .expect("reading registrations");
        let registration = registered
            .iter()
            .find(|r| r.name == subscription)
            .unwrap_or_else(|| panic!("`{subscription}` is registered"))
            .registration;
        let raises: Vec<Raise<'_>> = raises
            .iter()
            .map(|&(stream, version, take)| Raise {
                subscription,
                registration,
                stream,
                version,
                first: 1,
                take,
            })
            .collect();
        self.leader
            .record(&raises, &[], LONG)
            .await
            .expect("recording raises")
    }

    /// Appends `count` messages to `stream` and raises its checkpoint to
    /// the stream's new version, as the leader does on reading them;
    /// returns their ids.
    async fn lag(&mut self, stream: &str, count: usize) -> Vec<Uuid> {
        let messages = pings(count);
        let sent = ids(&messages);
        let messages_store = &**self.storage.messages();
        let appended = accepted(messages_store, stream, ExpectedVersion::Any, messages).await;
        let version = appended.stream_version;
        let taken = self.raise(&[(stream, version, None)]).await;
        assert!(
            taken.is_empty(),
            "raising `{stream}` to {version} without a token took {taken:?}"
        );
        sent
    }

    /// Reserves the subscription's checkpoints, for `timeout`.
    async fn reserve(&self, timeout: Duration) -> Vec<Reserved> {
        self.engine()
            .reserve(
                &self.group,
                &[&self.subscription],
                100,
                read(self.storage, READ),
                timeout,
            )
            .await
            .expect("reserving checkpoints")
    }

    /// Reserves the checkpoint of `stream`, which must be the only one
    /// lagging and free.
    async fn reserve_one(&self, stream: &str, timeout: Duration) -> Reservation {
        let reserved = self.reserve(timeout).await;
        let streams: Vec<&str> = reserved
            .iter()
            .map(|r| r.reservation.stream.as_str())
            .collect();
        assert_eq!(
            streams,
            [stream],
            "the checkpoints reserved in group `{}`",
            self.group
        );
        let reservation = reserved.into_iter().next().expect("one").reservation;
        assert_eq!(reservation.subscription, self.subscription);
        reservation
    }

    /// Asserts that no checkpoint is lagging and free, `because`.
    async fn reserve_none(&self, because: &str) {
        let reserved = self.reserve(LONG).await;
        let streams: Vec<&str> = reserved
            .iter()
            .map(|r| r.reservation.stream.as_str())
            .collect();
        assert!(
            streams.is_empty(),
            "reserved the checkpoints of {streams:?}, but {because}"
        );
    }

    /// A reservation of `stream`'s checkpoint at `position`, under
    /// `token`, as a process would hold it.
    fn reservation(&self, stream: &str, position: i64, token: Uuid) -> Reservation {
        Reservation {
            subscription: self.subscription.clone(),
            stream: stream.to_owned(),
            position,
            attempts: 0,
            token,
        }
    }

    /// Completes a reservation at `position`; whether the checkpoint lags
    /// again.
    async fn complete(&self, reservation: &Reservation, position: i64) -> bool {
        let completed = Completed {
            subscription: reservation.subscription.clone(),
            stream: reservation.stream.clone(),
            token: reservation.token,
            position,
        };
        self.engine()
            .complete(&self.group, &[completed])
            .await
            .expect("completing a reservation")
    }
}

/// Leads `group`, which nobody else leads.
async fn lead(engine: &dyn EngineStorage, group: &str) -> Box<dyn Leadership> {
    engine
        .lead(group)
        .await
        .expect("leading a group")
        .unwrap_or_else(|| panic!("nobody else leads `{group}`, yet it could not be led"))
}

/// Asserts that a reservation came with the messages of its stream after
/// its position, if the store reads them: `sent` are the stream's ids from
/// position 1.
fn assert_reads(reserved: &Reserved, sent: &[Uuid], read: usize) {
    let Some(messages) = &reserved.messages else {
        return;
    };
    assert!(
        read > 0,
        "a reservation that asked for no message came with {} of them",
        messages.len()
    );
    let reservation = &reserved.reservation;
    let after = usize::try_from(reservation.position).expect("a position");
    let expected: Vec<(i64, Uuid)> = (after + 1..)
        .zip(sent.iter().skip(after).take(read))
        .map(|(position, id)| (position as i64, *id))
        .collect();
    let got: Vec<(i64, Uuid)> = messages
        .iter()
        .map(|m| (m.envelope.position, m.envelope.id))
        .collect();
    assert_eq!(
        got, expected,
        "the messages reserved with `{}` at position {} (read {read})",
        reservation.stream, reservation.position
    );
}

/// Where a subscription that starts at the end starts, as the engine
/// registers it: at the end of the store's own messages, or at the head of
/// a message store elsewhere.
async fn at_the_end(storage: &Storage) -> StartAt {
    storage.end().await.expect("reading where the end is")
}

/// How many messages to reserve with a checkpoint: `wanted` if the state
/// store holds the messages; none, as the engine asks, if it does not.
fn read(storage: &Storage, wanted: usize) -> usize {
    if storage.holds_together() {
        wanted
    } else {
        0
    }
}
