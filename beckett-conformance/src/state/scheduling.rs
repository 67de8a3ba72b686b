//! Scheduled messages and recurring jobs.

use crate::support::{accepted, eventually, joined, ping, unique};
use beckett_core::scheduling::{deliver_due, Due};
use beckett_core::state::{DeclaredJob, EngineStorage, KnownJob, Storage};
use beckett_core::{Envelope, ExpectedVersion, MessageStorage, NewMessage};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use uuid::Uuid;

/// How many tasks deliver at once.
const DELIVERERS: usize = 5;

/// How many messages [`scheduled_in_due_order`] schedules to its stream:
/// each handing of the stream from one deliverer to the next is a chance
/// for a later message to overtake an earlier one.
const IN_DUE_ORDER: usize = 120;

/// How far ahead the message not yet due is scheduled.
const LATER: Duration = Duration::from_secs(3600);

/// Scheduled messages are appended once each: with messages due now (by a
/// time past or a delay of zero) to a stream that exists and to streams
/// that do not, several tasks delivering at once, as the engine's
/// schedulers do, append each to its stream exactly once, with the id `schedule` returned and its data, after the
/// messages the stream held; a cancelled
/// message is never appended (and cancels once), a delivered one no longer
/// cancels, and one due later is not appended. `next_due` is zero while
/// messages are due, and then the delay until the later one.
pub async fn scheduled_once(storage: &Storage) {
    let (engine, messages) = (&**storage.engine(), &**storage.messages());
    let category = unique("Scheduled");
    let streams = ["existing", "new", "other"].map(|name| format!("{category}-{name}"));
    // What each stream must end up holding: its messages' ids and data.
    let mut expected: BTreeMap<&str, BTreeMap<Uuid, Value>> = BTreeMap::new();
    let first = ping(0);
    let existing = expected.entry(&streams[0]).or_default();
    existing.insert(first.id(), first.data().clone());
    accepted(
        messages,
        &streams[0],
        ExpectedVersion::NoStream,
        vec![first],
    )
    .await;

    let past = Due::from(SystemTime::now() - LATER);
    for stream in &streams {
        for (n, when) in [past, Due::In(Duration::ZERO), Due::In(Duration::ZERO)]
            .into_iter()
            .enumerate()
        {
            let message = ping(n);
            let data = message.data().clone();
            let id = schedule(engine, stream, message, when).await;
            let previous = expected.entry(stream).or_default().insert(id, data);
            assert!(previous.is_none(), "`schedule` returned the id {id} twice");
        }
    }
    let cancelled = schedule(engine, &streams[0], ping(9), Due::In(Duration::ZERO)).await;
    let later = schedule(engine, &streams[1], ping(10), Due::In(LATER)).await;
    let cancel = |id| async move { engine.cancel_scheduled(id).await.expect("cancelling") };
    assert!(
        cancel(cancelled).await,
        "cancelling a message still waiting"
    );
    assert!(
        !cancel(cancelled).await,
        "cancelling a message cancelled already"
    );
    let next = engine.next_due().await.expect("asking what is due next");
    assert_eq!(
        next,
        Some(Duration::ZERO),
        "what is due next, with messages due"
    );

    let (stop, deliverers) = delivering(storage, 2, Duration::from_millis(10));
    let what = "delivering every due message";
    eventually(what, Duration::from_secs(10), || async {
        // A deliverer that failed says why when joined.
        if deliverers.iter().any(|d| d.is_finished()) {
            return Some(());
        }
        for (stream, wanted) in &expected {
            if read_all(messages, stream).await.len() < wanted.len() {
                return None;
            }
        }
        Some(())
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    joined(deliverers).await;
    deliver_due(storage, 100).await.expect("delivering again");

    for (stream, wanted) in &expected {
        let held = read_all(messages, stream).await;
        let positions: Vec<i64> = held.iter().map(|m| m.position).collect();
        let count = wanted.len() as i64;
        assert_eq!(
            positions,
            (1..=count).collect::<Vec<_>>(),
            "the positions of `{stream}`, with each due message appended once"
        );
        let appended: BTreeMap<Uuid, Value> = held.into_iter().map(|m| (m.id, m.data)).collect();
        assert_eq!(
            &appended, wanted,
            "the messages of `{stream}`: those appended and those scheduled, due"
        );
    }
    let delivered = expected[streams[1].as_str()].keys().next().copied();
    let delivered = delivered.expect("messages were scheduled");
    assert!(
        !cancel(delivered).await,
        "cancelling a message delivered already"
    );
    let next = engine.next_due().await.expect("asking what is due next");
    let near = LATER - Duration::from_secs(300);
    assert!(
        next.is_some_and(|d| d > near && d <= LATER),
        "what is due next, with one message due in {LATER:?}: {next:?}"
    );
    assert!(cancel(later).await, "cancelling the message due later");
}

/// One stream's scheduled messages are appended in the order they fall
/// due, though several tasks deliver them at once, a few at a time, as
/// the engine's schedulers do.
pub async fn scheduled_in_due_order(storage: &Storage) {
    let (engine, messages) = (&**storage.engine(), &**storage.messages());
    let stream = format!("{}-1", unique("Ordered"));
    let first = SystemTime::now() - LATER;
    let mut due_order = Vec::new();
    // Scheduled in reverse, so that the order they were scheduled in is
    // not the order they fall due in.
    for n in (0..IN_DUE_ORDER).rev() {
        let due = Due::from(first + Duration::from_millis(n as u64));
        due_order.push((n, schedule(engine, &stream, ping(n), due).await));
    }
    due_order.sort();
    let due_order: Vec<Uuid> = due_order.into_iter().map(|(_, id)| id).collect();
    let (stop, deliverers) = delivering(storage, 3, Duration::ZERO);
    eventually(
        "delivering every due message",
        Duration::from_secs(20),
        || async {
            let delivered = read_all(messages, &stream).await.len();
            (delivered == due_order.len() || deliverers.iter().any(|d| d.is_finished()))
                .then_some(())
        },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    joined(deliverers).await;
    let appended: Vec<Uuid> = read_all(messages, &stream)
        .await
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        appended, due_order,
        "the messages of `{stream}`, in the order they fell due"
    );
}

/// How many messages [`scheduled_races`] schedules, over how many streams.
const RACED: usize = 240;
const RACED_STREAMS: usize = 8;

/// Cancellations and deliveries now race the schedulers: with messages due
/// now and messages due later over a few streams, while several tasks
/// deliver a few at a time, every third message is cancelled and each
/// message due later made due now, each at a moment of its own. Each message ends
/// cancelled, and its cancellation said so, or appended exactly once,
/// never both; each stream's positions run without a gap.
pub async fn scheduled_races(storage: &Storage) {
    let (engine, messages) = (&**storage.engine(), &**storage.messages());
    let category = unique("Raced");
    let streams: Vec<String> = (0..RACED_STREAMS)
        .map(|n| format!("{category}-{n}"))
        .collect();
    let mut ids = Vec::with_capacity(RACED);
    for n in 0..RACED {
        let due = Due::In(if n % 2 == 0 { Duration::ZERO } else { LATER });
        ids.push(schedule(engine, &streams[n % RACED_STREAMS], ping(n), due).await);
    }

    let (stop, deliverers) = delivering(storage, 3, Duration::ZERO);
    // Each cancellation and each delivery now comes at a moment of its
    // own within the first tens of milliseconds of delivery, to meet
    // messages waiting, being moved and moved already.
    let racing = |id: Uuid, deliver_now: bool| {
        let storage = storage.clone();
        tokio::spawn(async move {
            let moment = Duration::from_micros((id.as_u128() % 40_000) as u64);
            tokio::time::sleep(moment).await;
            let engine = storage.engine();
            match deliver_now {
                false => engine.cancel_scheduled(id).await.expect("cancelling"),
                true => engine.deliver_now(id).await.expect("delivering now"),
            }
        })
    };
    let cancellations: Vec<_> = ids
        .iter()
        .step_by(3)
        .map(|&id| (id, racing(id, false)))
        .collect();
    let hurried: Vec<_> = ids
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&id| racing(id, true))
        .collect();
    let mut cancelled = BTreeSet::new();
    for (id, cancellation) in cancellations {
        if cancellation.await.expect("a cancelling task") {
            cancelled.insert(id);
        }
    }
    joined(hurried).await;
    let wanted = RACED - cancelled.len();
    let appended = || async {
        let mut all = Vec::new();
        for stream in &streams {
            all.push((stream, read_all(messages, stream).await));
        }
        all
    };
    eventually(
        "delivering every message not cancelled",
        Duration::from_secs(20),
        || async {
            let count: usize = appended().await.iter().map(|(_, held)| held.len()).sum();
            (count >= wanted || deliverers.iter().any(|d| d.is_finished())).then_some(())
        },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    joined(deliverers).await;
    deliver_due(storage, 100).await.expect("delivering again");

    let mut seen = BTreeSet::new();
    for (stream, held) in appended().await {
        let positions: Vec<i64> = held.iter().map(|m| m.position).collect();
        assert_eq!(
            positions,
            (1..=held.len() as i64).collect::<Vec<_>>(),
            "the positions of `{stream}`"
        );
        for message in held {
            assert!(
                !cancelled.contains(&message.id),
                "{} was appended to `{stream}` though its cancellation succeeded",
                message.id
            );
            assert!(seen.insert(message.id), "{} was appended twice", message.id);
        }
    }
    let lost: Vec<&Uuid> = ids
        .iter()
        .filter(|id| !cancelled.contains(id) && !seen.contains(id))
        .collect();
    assert!(
        lost.is_empty(),
        "messages neither cancelled nor appended: {lost:?}"
    );
}

/// Scheduled messages taken for a message store elsewhere exclude each
/// other: a message taken is neither taken again nor cancelled while its
/// lease lasts, and its stream's later messages wait for it; when the lease
/// ends, if it was not delivered, it falls due again in its place; once
/// delivered, it is gone.
pub async fn taken_for_elsewhere(storage: &Storage) {
    let engine = &**storage.engine();
    let category = unique("Taken");
    let (stream, other) = (format!("{category}-1"), format!("{category}-2"));
    let now = || Due::In(Duration::ZERO);
    let mut scheduled = Vec::new();
    for n in 0..3 {
        scheduled.push(schedule(engine, &stream, ping(n), now()).await);
    }
    let apart = schedule(engine, &other, ping(3), now()).await;
    let lease = Duration::from_secs(1);
    let category = &category;
    let take = || async move {
        let taken = engine
            .take_due(100, lease)
            .await
            .expect("taking due messages");
        let ours = taken
            .into_iter()
            .filter(|d| beckett_core::category(&d.stream) == *category);
        ours.map(|d| d.message.id()).collect::<Vec<Uuid>>()
    };
    let first: Vec<Uuid> = scheduled.iter().copied().chain([apart]).collect();
    assert_eq!(
        take().await,
        first,
        "the messages taken, in the order they fell due"
    );
    let later = schedule(engine, &stream, ping(4), now()).await;
    assert_eq!(
        take().await,
        Vec::<Uuid>::new(),
        "taken while the lease lasts, or after a message of the same stream still taken"
    );
    let cancel = |id| async move { engine.cancel_scheduled(id).await.expect("cancelling") };
    assert!(
        !cancel(scheduled[0]).await,
        "cancelled a message taken, maybe appended"
    );
    let again = eventually("the lease ending", Duration::from_secs(10), || async {
        Some(take().await).filter(|again| !again.is_empty())
    })
    .await;
    let mut expected = first.clone();
    expected.push(later);
    assert_eq!(
        again, expected,
        "the messages taken again after their lease, in due order"
    );
    engine
        .delivered(&again[..2])
        .await
        .expect("recording delivery");
    let what = "cancelling a message whose lease ended";
    eventually(what, Duration::from_secs(10), || async {
        cancel(scheduled[2]).await.then_some(())
    })
    .await;
    let rest = take().await;
    assert_eq!(
        rest,
        [apart, later],
        "taken again once delivered or cancelled"
    );
    engine.delivered(&rest).await.expect("recording delivery");
    assert_eq!(take().await, Vec::<Uuid>::new(), "taken once delivered");
}

/// Scheduled messages still to deliver are listed in due order, by stream
/// prefix, with what they hold; one delivered now is appended at the next
/// round of delivery, before the others fall due, and then no longer
/// listed. One overdue already keeps its place: delivered now, it still
/// comes before a later one overdue too.
pub async fn scheduled_listed_and_delivered_now(storage: &Storage) {
    let (engine, messages) = (&**storage.engine(), &**storage.messages());
    let category = unique("Listed");
    let [first, second] = ["1", "2"].map(|name| format!("{category}-{name}"));
    let now = SystemTime::now();
    let mut ids = Vec::new();
    for (n, stream, later) in [(0, &first, 3), (1, &second, 1), (2, &first, 2)] {
        let due = Due::from(now + LATER * later);
        ids.push((schedule(engine, stream, ping(n), due).await, stream));
    }
    let listed = |prefix: String| async move {
        let listed = engine.scheduled(Some(&prefix), 10).await;
        listed.expect("listing scheduled messages")
    };
    let all = listed(format!("{category}-")).await;
    let order: Vec<Uuid> = all.iter().map(|s| s.id).collect();
    assert_eq!(
        order,
        [ids[1].0, ids[2].0, ids[0].0],
        "the scheduled messages listed, in due order"
    );
    let one = &all[0];
    assert_eq!(
        (one.stream.as_str(), one.message_type.as_str(), &one.data),
        (second.as_str(), crate::support::PING, ping(1).data()),
        "a scheduled message as listed"
    );
    assert_eq!(one.taken_until, None, "a waiting message listed as taken");
    let of_first = listed(first.clone()).await;
    assert_eq!(of_first.len(), 2, "the messages scheduled for `{first}`");

    let (soonest_of_first, _) = ids[2];
    assert!(
        engine
            .deliver_now(soonest_of_first)
            .await
            .expect("delivering now"),
        "delivering now a message still waiting"
    );
    deliver_due(storage, 100)
        .await
        .expect("delivering due messages");
    let appended = read_all(messages, &first).await;
    let appended: Vec<Uuid> = appended.iter().map(|m| m.id).collect();
    assert_eq!(
        appended,
        [soonest_of_first],
        "`{first}` after a round of delivery"
    );
    let left: Vec<Uuid> = listed(format!("{category}-"))
        .await
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, [ids[1].0, ids[0].0], "the messages still scheduled");
    assert!(
        !engine
            .deliver_now(soonest_of_first)
            .await
            .expect("delivering now"),
        "delivering now a message delivered already"
    );

    let overdue = format!("{category}-overdue");
    let mut late = Vec::new();
    for (n, ago) in [(3, 2), (4, 1)] {
        let due = Due::from(now - Duration::from_secs(ago));
        late.push(schedule(engine, &overdue, ping(n), due).await);
    }
    assert!(engine.deliver_now(late[0]).await.expect("delivering now"));
    let listed: Vec<Uuid> = listed(overdue.clone()).await.iter().map(|s| s.id).collect();
    assert_eq!(listed, late, "overdue messages, one of them delivered now");
    deliver_due(storage, 100)
        .await
        .expect("delivering due messages");
    let appended: Vec<Uuid> = read_all(messages, &overdue)
        .await
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(appended, late, "`{overdue}` after a round of delivery");

    for (id, _) in [ids[0], ids[1]] {
        assert!(engine.cancel_scheduled(id).await.expect("cancelling"));
    }
}

/// Schedules `message` to `stream`.
async fn schedule(engine: &dyn EngineStorage, stream: &str, message: NewMessage, due: Due) -> Uuid {
    engine
        .schedule(stream, message, due)
        .await
        .unwrap_or_else(|e| panic!("scheduling a message to `{stream}`: {e}"))
}

/// [`DELIVERERS`] tasks that deliver up to `batch` due messages at a time,
/// `pause` apart, as the engine's schedulers do, until the flag returned
/// is set.
fn delivering(
    storage: &Storage,
    batch: usize,
    pause: Duration,
) -> (Arc<AtomicBool>, Vec<tokio::task::JoinHandle<()>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let deliverers = (0..DELIVERERS)
        .map(|_| {
            let (storage, stop) = (storage.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    deliver_due(&storage, batch)
                        .await
                        .expect("delivering due messages");
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
            })
        })
        .collect();
    (stop, deliverers)
}

/// Every message of `stream`.
async fn read_all<S: MessageStorage + ?Sized>(store: &S, stream: &str) -> Vec<Envelope> {
    store
        .read_stream(stream, 1, 1_000)
        .await
        .unwrap_or_else(|e| panic!("reading `{stream}`: {e}"))
}

/// Declaring a group's jobs again keeps when each was first declared, and
/// updates its cron, schedule and stream, as the listing shows;
/// `remove_other_jobs` returns, once, the jobs no longer declared, as last
/// declared, and leaves other groups' alone; a job declared again after its
/// removal counts as new.
pub async fn recurring_jobs(storage: &Storage) {
    let engine = &**storage.engine();
    let (group, neighbour) = (unique("jobs-"), unique("jobs-"));
    let stream = unique("Jobs-");
    // Each as written, and as the `cron` crate reads it.
    let (hourly, daily) = (("0 * * * *", "0 0 * * * *"), ("0 0 * * *", "0 0 0 * * *"));
    let job = |name, (cron, schedule)| DeclaredJob {
        name,
        cron,
        schedule,
        stream: &stream,
    };
    let listed = || async {
        let listed = engine
            .recurring_jobs()
            .await
            .expect("listing recurring jobs");
        let ours = listed.into_iter().filter(|j| j.group == group);
        ours.map(|j| (j.name, j.cron, j.schedule, j.stream, j.removed_at.is_some()))
            .collect::<Vec<_>>()
    };
    let as_listed = |name: &str, (cron, schedule): (&str, &str), removed| {
        let (cron, schedule) = (cron.to_owned(), Some(schedule.to_owned()));
        (name.to_owned(), cron, schedule, stream.clone(), removed)
    };

    let first = declare(engine, &group, &[job("a", hourly), job("b", hourly)]).await;
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        ["a", "b"],
        "the jobs declared"
    );
    for (name, known) in &first {
        assert!(
            known.declared_at <= known.store_now,
            "job `{name}` was declared at {}, after the store's now, {}",
            known.declared_at,
            known.store_now
        );
    }
    declare(engine, &neighbour, &[job("b", hourly)]).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = declare(engine, &group, &[job("a", hourly), job("b", daily)]).await;
    for name in ["a", "b"] {
        assert_eq!(
            second[name].declared_at, first[name].declared_at,
            "job `{name}` declared again keeps when it was first declared"
        );
    }
    let expected = [as_listed("a", hourly, false), as_listed("b", daily, false)];
    assert_eq!(listed().await, expected, "the jobs of `{group}` listed");

    let removed = engine.remove_other_jobs(&group, &["a"]).await.unwrap();
    let removed: Vec<(&str, &str, &str)> = removed
        .iter()
        .map(|j| (&*j.name, &*j.cron, &*j.stream))
        .collect();
    assert_eq!(
        removed,
        [("b", daily.0, stream.as_str())],
        "the jobs of `{group}` removed, as last declared"
    );
    let expected = [as_listed("a", hourly, false), as_listed("b", daily, true)];
    assert_eq!(
        listed().await,
        expected,
        "the jobs of `{group}`, `b` removed"
    );
    let again = engine.remove_other_jobs(&group, &["a"]).await.unwrap();
    assert!(again.is_empty(), "jobs removed twice: {again:?}");
    let neighbours = engine.remove_other_jobs(&neighbour, &["b"]).await.unwrap();
    assert!(
        neighbours.is_empty(),
        "another group's job was removed with `{group}`'s"
    );

    tokio::time::sleep(Duration::from_millis(20)).await;
    let redeclared = declare(engine, &group, &[job("a", hourly), job("b", hourly)]).await;
    assert_eq!(
        redeclared["a"].declared_at, first["a"].declared_at,
        "job `a`, never removed, keeps when it was first declared"
    );
    assert!(
        redeclared["b"].declared_at > first["b"].declared_at,
        "job `b`, declared again after its removal, counts as new"
    );
}

/// Declares a group's jobs; returns them as the store knows them, by name.
async fn declare(
    engine: &dyn EngineStorage,
    group: &str,
    jobs: &[DeclaredJob<'_>],
) -> BTreeMap<String, KnownJob> {
    let known = engine.declare_jobs(group, jobs).await;
    let known = known.unwrap_or_else(|e| panic!("declaring the jobs of `{group}`: {e}"));
    known.into_iter().map(|j| (j.name.clone(), j)).collect()
}
