//! The running engine: per group a global consumer and a checkpoint
//! consumer, and per process a scheduler, recurring jobs' firers and a
//! heartbeat; how they start, and how they stop.

mod checkpoint;
mod completer;
mod global;
mod heartbeat;
mod held;
mod queue;
mod shared;
mod signals;
mod supervisor;
mod tally;

use crate::config::Config;
use crate::error::Result;
use crate::state::{StartAt, Storage, Wakeup};
use crate::subscription::registry::{recurring_jobs, Groups};
use crate::subscription::{registered, Start};
use crate::{recurring, scheduling};
use futures_util::StreamExt;
use shared::Engine;
use signals::Signals;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use supervisor::Supervisor;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Runs the `groups`' consumers and recurring jobs, and the scheduler,
/// on `storage` until `signal` completes; then stops taking work, lets
/// in-flight handlers finish within the grace period and releases what
/// the process still holds.
///
/// Ends early, with the error, when the engine cannot start or one of its
/// tasks fails for good.
///
/// ```no_run
/// # async fn demo(storage: beckett_core::state::Storage) -> beckett::Result<()> {
/// use beckett_core::{engine, subscription, Config};
///
/// let config = Config::default();
/// let groups = subscription::linked_groups(None)?;
/// engine::run_until(config, storage, groups, tokio::signal::ctrl_c()).await
/// # }
/// ```
pub async fn run_until<T>(
    config: Config,
    storage: Storage,
    groups: Groups,
    signal: impl Future<Output = T>,
) -> Result<()> {
    let shutdown = CancellationToken::new();
    let engine = run(config, storage, groups, shutdown.clone());
    tokio::pin!(engine);
    // The engine ends early only when it cannot start or fails.
    tokio::select! {
        result = &mut engine => return result,
        _ = signal => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
    engine.await
}

/// Registers the groups' subscriptions and recurring jobs, then runs
/// until `shutdown` is cancelled, waits for every task to wind down and
/// releases what the process still holds.
async fn run(
    config: Config,
    storage: Storage,
    groups: Groups,
    shutdown: CancellationToken,
) -> Result<()> {
    let state = &**storage.engine();
    // Asked only if a subscription may start there.
    let end = match groups.values().flatten().any(|s| s.start == Start::End) {
        true => storage.end().await?,
        false => StartAt::End,
    };
    for subscription in groups.values().flatten() {
        let start = match subscription.start {
            Start::Beginning => &StartAt::First,
            Start::End => &end,
        };
        let selection = subscription.selection();
        state
            .register(subscription.group, subscription.name, start, &selection)
            .await?;
    }
    for (group, subscriptions) in &groups {
        let declared: Vec<&str> = subscriptions.iter().map(|s| s.name).collect();
        registered::report_undeclared(state, group, &declared).await?;
    }
    let mut firings = Vec::new();
    for (group, subscriptions) in &groups {
        let jobs = recurring_jobs(subscriptions);
        firings.extend(recurring::declare(state, group, &jobs).await?);
    }
    let engine = Arc::new(Engine {
        permits: Semaphore::new(config.concurrency),
        signals: Signals::new(groups.keys().copied()),
        held: held::Held::default(),
        storage,
        config,
        supervisor: Supervisor::new(shutdown.clone()),
        tally: tally::Tally::default(),
        shutdown,
    });
    let mut tasks = tokio::task::JoinSet::new();
    {
        let engine = engine.clone();
        tasks.spawn(async move {
            let wakeups = wakeups(&engine.storage);
            let listening = engine.signals.follow(wakeups, &engine.shutdown);
            engine.supervisor.watch("wake-up listener", listening).await;
        });
    }
    {
        let engine = engine.clone();
        tasks.spawn(async move {
            let delivering = scheduling::deliverer::run(
                &engine.storage,
                engine.config.batch_size,
                engine.signals.scheduled(),
                &engine.shutdown,
            );
            engine.supervisor.watch("scheduler", delivering).await;
        });
    }
    for firing in firings {
        let engine = engine.clone();
        tasks.spawn(async move {
            let firing = recurring::run(
                &**engine.storage.messages(),
                firing,
                engine.shutdown.clone(),
            );
            engine.supervisor.watch("recurring job", firing).await;
        });
    }
    #[cfg(feature = "opentelemetry")]
    {
        let engine = engine.clone();
        tasks.spawn(async move { report_lag(&engine).await });
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
    // grace period keep their reservations. The tally records what they
    // did once they are done.
    let beating = CancellationToken::new();
    let heartbeat = {
        let (engine, beating) = (engine.clone(), beating.clone());
        tokio::spawn(async move {
            let beat = heartbeat::run(&engine, beating);
            engine.supervisor.watch("heartbeat", beat).await;
        })
    };
    let tallying = {
        let (engine, beating) = (engine.clone(), beating.clone());
        tokio::spawn(async move { tally::run(&engine, beating).await })
    };
    while tasks.join_next().await.is_some() {}
    beating.cancel();
    let _ = tokio::join!(heartbeat, tallying);
    let held = engine.held.drain();
    let released = match held.is_empty() {
        true => Ok(()),
        false => engine.release(&held, Duration::ZERO).await,
    };
    // What stopped the process matters more than what failed after.
    engine.supervisor.fault().map_or(released, Err)
}

/// Records every subscription's lag as metrics, every 15 seconds, until
/// shutdown; a failed count is tried again at the next.
#[cfg(feature = "opentelemetry")]
async fn report_lag(engine: &Engine) {
    loop {
        match engine.storage.engine().subscriptions(None).await {
            Ok(listed) => {
                for s in listed {
                    crate::telemetry::lag(&s.group, &s.name, s.lagging, s.behind);
                }
            }
            Err(error) => tracing::debug!(%error, "cannot count the subscriptions' lag"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(15)) => {}
            () = engine.shutdown.cancelled() => return,
        }
    }
}

/// The state store's wake-ups, and, beside a message store elsewhere that
/// signals its appends, those.
fn wakeups(storage: &Storage) -> futures_util::stream::BoxStream<'static, Wakeup> {
    let state = storage.engine().wakeups();
    if storage.holds_together() {
        return state;
    }
    match storage.messages().appended() {
        Some(appended) => {
            let messages = appended.map(|()| Wakeup::Messages);
            Box::pin(futures_util::stream::select(state, messages))
        }
        None => state,
    }
}
