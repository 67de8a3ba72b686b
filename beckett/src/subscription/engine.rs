//! What the consumers of one process share, and how they start and stop
//! along with the process's scheduler and recurring jobs.

use super::held::{self, Held};
use super::registry::{recurring_jobs, SubscriptionDescriptor};
use super::supervisor::Supervisor;
use super::wakeup::Wakeups;
use super::Selection;
use super::{checkpoint, global, queue, registered};
use crate::config::Config;
use crate::error::Result;
use crate::store::checkpoints::Checkpoints;
use crate::store::{PostgresStore, RecurringJobs};
use crate::{recurring, scheduling};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The state every consumer task of the process shares.
pub(crate) struct Engine {
    pub config: Config,
    pub store: PostgresStore,
    pub checkpoints: Checkpoints,
    pub wakeups: Wakeups,
    /// One permit per handler call allowed in flight.
    pub permits: Semaphore,
    /// Reservations this process holds, kept alive by the heartbeat and
    /// released at shutdown.
    pub held: Held,
    pub shutdown: CancellationToken,
    /// Stops the process when one of its tasks panics.
    pub supervisor: Supervisor,
}

/// Runs the groups' consumers and recurring jobs, and the scheduler, until
/// `shutdown` is cancelled, then waits for them to wind down and releases
/// what the process still holds.
pub(crate) async fn run(
    config: Config,
    store: PostgresStore,
    groups: BTreeMap<&'static str, Vec<&'static SubscriptionDescriptor>>,
    shutdown: CancellationToken,
) -> Result<()> {
    let checkpoints = Checkpoints::new(store.pool().clone(), &config.schema);
    for subscription in groups.values().flatten() {
        let from_end = subscription.start == super::Start::End;
        let selection = Selection::of(subscription);
        checkpoints
            .register(subscription.group, subscription.name, from_end, &selection)
            .await?;
    }
    for (group, subscriptions) in &groups {
        let declared: Vec<&str> = subscriptions.iter().map(|s| s.name).collect();
        registered::report_undeclared(&checkpoints, group, &declared).await?;
    }
    let jobs_table = RecurringJobs::new(store.pool().clone(), &config.schema);
    let mut firings = Vec::new();
    for (group, subscriptions) in &groups {
        let jobs = recurring_jobs(subscriptions);
        firings.extend(recurring::declare(&jobs_table, group, &jobs).await?);
    }
    let engine = Arc::new(Engine {
        permits: Semaphore::new(config.concurrency),
        wakeups: Wakeups::new(groups.keys().copied()),
        held: Held::default(),
        checkpoints,
        store,
        config,
        supervisor: Supervisor::new(shutdown.clone()),
        shutdown,
    });
    let mut tasks = tokio::task::JoinSet::new();
    {
        let engine = engine.clone();
        tasks.spawn(async move {
            let listening =
                engine
                    .wakeups
                    .listen(&engine.store, &engine.checkpoints, engine.shutdown.clone());
            engine
                .supervisor
                .watch("notification listener", listening)
                .await;
        });
    }
    {
        let engine = engine.clone();
        tasks.spawn(async move {
            let delivering = scheduling::deliverer::run(
                &engine.store,
                engine.config.batch_size,
                engine.wakeups.scheduled(),
                &engine.shutdown,
            );
            engine.supervisor.watch("scheduler", delivering).await;
        });
    }
    for firing in firings {
        let engine = engine.clone();
        tasks.spawn(async move {
            let firing = recurring::run(engine.store.clone(), firing, engine.shutdown.clone());
            engine.supervisor.watch("recurring job", firing).await;
        });
    }
    for (group, subscriptions) in groups {
        let (queue, handed) = queue::new(engine.config.prefetch, engine.config.concurrency);
        let (leader, led, handing) = (engine.clone(), subscriptions.clone(), queue.clone());
        tasks.spawn(async move {
            let leading = global::run(&leader, group, &led, &handing);
            leader.supervisor.watch("global consumer", leading).await;
        });
        let consumer = engine.clone();
        tasks.spawn(async move {
            let consuming = checkpoint::run(consumer.clone(), group, subscriptions, queue, handed);
            consumer
                .supervisor
                .watch("checkpoint consumer", consuming)
                .await;
        });
    }
    // The heartbeat outlives the consumers: handlers finishing within the
    // grace period keep their reservations.
    let beating = CancellationToken::new();
    let heartbeat = {
        let (engine, beating) = (engine.clone(), beating.clone());
        tokio::spawn(async move {
            let beat = held::heartbeat(&engine, beating);
            engine.supervisor.watch("heartbeat", beat).await;
        })
    };
    while tasks.join_next().await.is_some() {}
    beating.cancel();
    let _ = heartbeat.await;
    let held = engine.held.drain();
    let released = match held.is_empty() {
        true => Ok(()),
        false => engine.release(&held, Duration::ZERO).await,
    };
    // What stopped the process matters more than what failed after.
    engine.supervisor.fault().map_or(released, Err)
}

impl Engine {
    /// Releases reservations, not to be reserved again for `pause`,
    /// retrying a few times: after the database drops connections the pool
    /// may hand out a dead one first, and a reservation left behind holds
    /// its stream back until it expires.
    pub async fn release(&self, tokens: &[Uuid], pause: Duration) -> Result<()> {
        let mut delay = Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            match self.checkpoints.release(tokens, pause).await {
                Err(_) if attempt < 5 => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                done => return done,
            }
        }
    }
}
