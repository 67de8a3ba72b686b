//! The checkpoint consumer: every process reserves lagging checkpoints in
//! batches, together with the first messages of their streams, hands the
//! messages to the handler in stream order, and moves the checkpoints on.

use super::completer::{self, Completions};
use super::queue::{Handed, Queue, Slots, Taken};
use super::shared::Engine;
use super::supervisor::panic_message;
use crate::backoff::Backoff;
use crate::error::Result;
use crate::state::{Completed, Failure, Reservation};
use crate::store::{Envelope, RawMessage};
use crate::subscription::context::take_transaction;
use crate::subscription::{Context, SubscriptionDescriptor};
use crate::telemetry;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant};
use tracing::Instrument;

/// The most messages read with one batch of reservations.
const MOST_READ_AT_ONCE: usize = 50_000;

/// Reserves and handles the group's lagging checkpoints, and those the
/// global consumer hands over, until shutdown; then lets in-flight handlers
/// finish within the grace period, moves on the checkpoints they finished,
/// and leaves the rest to be released.
///
/// The process holds up to `prefetch` of the group's checkpoints at a time.
/// It reserves more once half of them are done with, so reservations come
/// in batches, and holds back none it could start on soon.
pub(crate) async fn run(
    engine: Arc<Engine>,
    group: &'static str,
    subscriptions: Vec<&'static SubscriptionDescriptor>,
    queue: Queue,
    mut handed: Handed,
) {
    let names: Vec<&str> = subscriptions.iter().map(|s| s.name).collect();
    let (completions, completer) = completer::start(engine.clone(), group, queue.clone());
    let stream = |taken: &Taken| Stream {
        engine: engine.clone(),
        group,
        subscription: subscriptions
            .iter()
            .find(|s| s.name == taken.reservation.subscription)
            .copied()
            .expect("reserved only for the group's subscriptions"),
        completions: completions.clone(),
    };
    let mut handlers = JoinSet::new();
    let mut backoff = Backoff::reconnecting();
    // Set while caught up: when to look again without a notification.
    let mut idle_until: Option<Instant> = None;
    loop {
        while let Some(ended) = handlers.try_join_next() {
            watch(&engine, ended);
        }
        let mut room = tokio::select! {
            biased;
            () = engine.shutdown.cancelled() => break,
            Some((taken, slot)) = handed.next() => {
                handlers.spawn(stream(&taken).handle(taken, slot));
                continue;
            }
            () = engine.signals.checkpoints(group).notified(), if idle_until.is_some() => {
                idle_until = None;
                continue;
            }
            () = sleep_until(idle_until.unwrap_or_else(Instant::now)), if idle_until.is_some() => {
                idle_until = None;
                continue;
            }
            room = queue.room(), if idle_until.is_none() => room,
        };
        let limit = room.len();
        let asked = std::time::Instant::now();
        // Streams reserved together share one bound on the messages read
        // with them; a stream with more reads on as it is handled.
        let read = (MOST_READ_AT_ONCE / limit.max(1)).clamp(1, engine.config.batch_size);
        // A message store elsewhere is read stream by stream.
        let read_with = if engine.storage.holds_together() {
            read
        } else {
            0
        };
        let reserved = engine
            .storage
            .engine()
            .reserve(
                group,
                &names,
                limit,
                read_with,
                engine.config.reservation_timeout,
            )
            .await;
        match reserved {
            Ok(reserved) => {
                backoff.reset();
                if reserved.len() < limit {
                    idle_until = Some(Instant::now() + engine.config.poll_interval);
                }
                engine
                    .held
                    .taken(reserved.iter().map(|r| r.reservation.token), asked);
                for reserved in reserved {
                    let slot = room.take_one().expect("one slot per reservation");
                    let taken = Taken {
                        reservation: reserved.reservation,
                        messages: reserved.messages,
                        read,
                    };
                    handlers.spawn(stream(&taken).handle(taken, slot));
                }
            }
            Err(error) => {
                drop(room);
                tracing::warn!(group, %error, "cannot reserve checkpoints; retrying");
                tokio::select! {
                    () = tokio::time::sleep(backoff.next()) => {}
                    () = engine.shutdown.cancelled() => {}
                }
            }
        }
    }
    let grace = engine.config.shutdown_grace;
    if tokio::time::timeout(grace, async {
        while let Some(ended) = handlers.join_next().await {
            watch(&engine, ended);
        }
    })
    .await
    .is_err()
    {
        tracing::warn!(
            group,
            ?grace,
            "handlers still running after the grace period; stopping them"
        );
        handlers.shutdown().await;
    }
    drop(completions);
    completer.await.expect("the completer does not panic");
}

/// Reports a stream's handling that panicked outside its handler: the
/// engine is broken, and the process stops.
fn watch(engine: &Engine, ended: Result<(), tokio::task::JoinError>) {
    if let Err(error) = ended {
        if error.is_panic() {
            engine
                .supervisor
                .panicked("stream handling", &*error.into_panic());
        }
    }
}

/// What handling one reserved stream needs.
struct Stream {
    engine: Arc<Engine>,
    group: &'static str,
    subscription: &'static SubscriptionDescriptor,
    completions: Completions,
}

/// How handling a stream ended.
enum Ended {
    /// Handled up to this position, and caught up when read or stopped by
    /// shutdown: the checkpoint is to be moved there and released.
    Done(i64),
    /// The reservation is still held and must be released as it is.
    Held,
    /// The reservation is gone: released with a failure, or taken over by
    /// another process.
    LetGo,
}

/// What came of one message.
enum Handled {
    /// Handled (and, for a transactional handler, its checkpoint moved).
    Done,
    /// Another process holds the checkpoint now; stop.
    Lost,
    /// The handler failed with this error.
    Failed(String),
}

impl Stream {
    /// Handles one reserved checkpoint's stream until it is caught up,
    /// fails, loses its reservation or the process shuts down, then lets go
    /// of it.
    async fn handle(self, taken: Taken, slot: Slots) {
        let Taken {
            reservation,
            messages,
            read,
        } = taken;
        let token = reservation.token;
        let ended = {
            let _permit = self.engine.permits.acquire().await.expect("never closed");
            self.handle_stream(&reservation, messages, read).await
        };
        // After an error (most likely the database going away) the stream
        // pauses a moment, so a dead connection does not spin through
        // retries.
        let pause = match ended {
            Ok(Ended::Done(position)) => {
                let Reservation {
                    subscription,
                    stream,
                    ..
                } = reservation;
                let completed = Completed {
                    subscription,
                    stream,
                    token,
                    position,
                };
                self.completions.send(completed, slot);
                return;
            }
            Ok(Ended::LetGo) => None,
            Ok(Ended::Held) => Some(Duration::ZERO),
            Err(error) => {
                tracing::warn!(group = self.group, subscription = self.subscription.name,
                    stream = reservation.stream, %error,
                    "stopped handling a stream; it resumes after a pause");
                Some(Duration::from_secs(1))
            }
        };
        if let Some(pause) = pause {
            if let Err(error) = self.engine.release(&[token], pause).await {
                tracing::warn!(%error, "cannot release a reservation; it expires by itself");
            }
        }
        self.engine.held.let_go([&token]);
    }

    /// Handles the stream from `first`, read `read` at most (or, if the
    /// reservation came without messages, from a read of that size), then
    /// from further reads.
    async fn handle_stream(
        &self,
        reservation: &Reservation,
        first: Option<Vec<RawMessage>>,
        mut read: usize,
    ) -> Result<Ended> {
        let (engine, subscription) = (&*self.engine, self.subscription);
        let config = &engine.config;
        let mut position = reservation.position;
        let mut attempts = reservation.attempts;
        let mut batch = match first {
            Some(first) => first,
            None => {
                engine
                    .storage
                    .messages()
                    .read_stream_raw(&reservation.stream, position + 1, read)
                    .await?
            }
        };
        loop {
            if batch.is_empty() {
                return Ok(Ended::Held);
            }
            let caught_up = batch.len() < read;
            let mut handled = position;
            for message in batch {
                if engine.shutdown.is_cancelled() {
                    break;
                }
                if !engine
                    .held
                    .alive(&reservation.token, config.reservation_timeout)
                {
                    tracing::warn!(
                        group = self.group,
                        subscription = subscription.name,
                        stream = reservation.stream,
                        "stopped handling a stream whose reservation could not be extended"
                    );
                    return Ok(Ended::LetGo);
                }
                let at = message.envelope.position;
                if !subscription.selects(&message.envelope.message_type, &message.envelope.stream) {
                    handled = at;
                    continue;
                }
                let outcome = match message.decode() {
                    Ok(envelope) => {
                        call(
                            engine,
                            self.group,
                            subscription,
                            reservation,
                            envelope,
                            attempts + 1,
                        )
                        .await?
                    }
                    Err(error) => Handled::Failed(error.to_string()),
                };
                match outcome {
                    Handled::Done => {
                        handled = at;
                        attempts = 0;
                    }
                    Handled::Lost => return Ok(Ended::LetGo),
                    Handled::Failed(error) => {
                        self.fail(reservation, handled, at, attempts + 1, error)
                            .await?;
                        return Ok(Ended::LetGo);
                    }
                }
            }
            // A short batch was the stream's end when read: the checkpoint
            // is moved and let go of. Messages appended since leave it
            // lagging, and it is reserved again.
            if handled == position {
                return Ok(Ended::Held);
            }
            if caught_up || engine.shutdown.is_cancelled() {
                return Ok(Ended::Done(handled));
            }
            let keep = Some(config.reservation_timeout);
            let advanced = engine
                .storage
                .engine()
                .advance(self.group, reservation, handled, keep)
                .await?;
            if !advanced {
                return Ok(Ended::LetGo);
            }
            position = handled;
            read = config.batch_size;
            batch = engine
                .storage
                .messages()
                .read_stream_raw(&reservation.stream, position + 1, read)
                .await?;
        }
    }

    /// Records a failed call of the message at `at`, to be retried after a
    /// backoff or, past the subscription's retries, marked failed.
    async fn fail(
        &self,
        reservation: &Reservation,
        handled: i64,
        at: i64,
        attempts: u32,
        error: String,
    ) -> Result<()> {
        let config = &self.engine.config;
        let max = self.subscription.max_retries.unwrap_or(config.max_retries);
        let backoff = Backoff::new(config.retry_base_delay, config.retry_max_delay);
        let retry_in = (attempts <= max).then(|| backoff.jittered(attempts));
        match retry_in {
            Some(_) => telemetry::retried(self.group, self.subscription.name),
            None => telemetry::stream_failed(self.group, self.subscription.name),
        }
        tracing::warn!(group = self.group, subscription = self.subscription.name,
            stream = reservation.stream, position = at, attempts, %error, "handler failed");
        let failure = Failure {
            position: handled,
            attempts,
            error,
            retry_in,
        };
        self.engine
            .storage
            .engine()
            .fail(self.group, reservation, &failure)
            .await
    }
}

/// Calls the handler for one message in its consumer span, recording how
/// it went.
async fn call(
    engine: &Engine,
    group: &str,
    subscription: &'static SubscriptionDescriptor,
    reservation: &Reservation,
    envelope: Envelope,
    attempt: u32,
) -> Result<Handled> {
    let span = telemetry::processing(group, subscription.name, &envelope);
    let (started, appended) = (Instant::now(), envelope.timestamp);
    let handled = call_handler(engine, group, subscription, reservation, envelope, attempt)
        .instrument(span.clone())
        .await;
    let ok = match &handled {
        Ok(Handled::Done) => true,
        Ok(Handled::Failed(_)) => false,
        Ok(Handled::Lost) | Err(_) => return handled,
    };
    if !ok {
        telemetry::failed(&span);
    }
    telemetry::handled(group, subscription.name, started.elapsed(), ok);
    engine
        .tally
        .count(subscription.group, subscription.name, appended, ok);
    handled
}

/// Calls the handler for one message, within its timeout, catching panics;
/// a transactional handler's transaction commits with the checkpoint moved
/// past the message, or not at all.
async fn call_handler(
    engine: &Engine,
    group: &str,
    subscription: &'static SubscriptionDescriptor,
    reservation: &Reservation,
    envelope: Envelope,
    attempt: u32,
) -> Result<Handled> {
    let timeout = subscription
        .timeout
        .unwrap_or(engine.config.handler_timeout);
    let shutdown = engine.shutdown.clone();
    if !subscription.transactional {
        let ctx = Context::new(engine.storage.clone(), &envelope, attempt, shutdown, None);
        return Ok(match invoke(subscription, envelope, ctx, timeout).await {
            Ok(()) => Handled::Done,
            Err(error) => Handled::Failed(error),
        });
    }
    let position = envelope.position;
    let shared = Arc::new(Mutex::new(Some(engine.storage.engine().begin().await?)));
    let ctx = Context::new(
        engine.storage.clone(),
        &envelope,
        attempt,
        shutdown,
        Some(shared.clone()),
    );
    let outcome = invoke(subscription, envelope, ctx, timeout).await;
    let mut tx = take_transaction(&shared).await;
    if let Err(error) = outcome {
        // A transaction that cannot even roll back is gone with its
        // connection, which rolls it back.
        let _ = tx.rollback().await;
        return Ok(Handled::Failed(error));
    }
    // The handler's writes fail here too: a statement that failed inside
    // the transaction (the advance then finds it aborted) or a deferred
    // constraint checked at commit. The database refusing them counts as
    // the handler's failure. A broken connection leaves the outcome
    // unknown: the transaction may have committed with the checkpoint, so
    // nothing is recorded, and the stream resumes from wherever it stands.
    let keep = Some(engine.config.reservation_timeout);
    let advanced = tx.advance(group, reservation, position, keep).await;
    let committed = match advanced {
        Ok(true) => tx.commit().await,
        Ok(false) => {
            let _ = tx.rollback().await;
            return Ok(Handled::Lost);
        }
        Err(error) => {
            let _ = tx.rollback().await;
            Err(error)
        }
    };
    match committed {
        Ok(()) => Ok(Handled::Done),
        Err(error) if error.is_refusal() => Ok(Handled::Failed(format!(
            "the handler returned Ok, but its transaction did not commit: {error}"
        ))),
        Err(error) => Err(error),
    }
}

/// Runs the handler, turning an error, a panic or a timeout into the text
/// the checkpoint keeps.
async fn invoke(
    subscription: &SubscriptionDescriptor,
    envelope: Envelope,
    ctx: Context,
    timeout: Duration,
) -> Result<(), String> {
    // The handler is called inside, so a panic before its future exists is
    // caught too.
    let call =
        AssertUnwindSafe(async { (subscription.handler)(envelope, ctx).await }).catch_unwind();
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(error))) => Err(error_chain(&*error)),
        Ok(Err(panic)) => Err(format!("handler panicked: {}", panic_message(&*panic))),
        Err(_) => Err(format!("handler timed out after {timeout:?}")),
    }
}

/// An error and those of its sources whose text it does not hold already,
/// joined by ": ". Many errors (beckett's own among them) end their text
/// with their source's; each cause is then said once.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(error) = source {
        let cause = error.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = error.source();
    }
    text
}
