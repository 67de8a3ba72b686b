//! The checks of a message store: what
//! [`MessageStorage`] promises of appends and reads.
//!
//! Each check takes the store in an [`Arc`], so that the concurrent ones can
//! hand it to tokio tasks, and panics, saying what it saw, when the store
//! breaks a promise. [`message_store_tests!`](crate::message_store_tests)
//! runs them all.

use crate::support::{
    accepted, assert_wrong_version, ids, joined, ping, pings, read_on, stored_ids, unique, PING,
};
use beckett_core::store::{GlobalReader, MessageSearch, MAX_STREAM_NAME_BYTES, SEARCH_SPAN};
use beckett_core::{
    category, Appended, Envelope, Error, ExpectedVersion, GlobalCursor, MessageStorage, Metadata,
    NewMessage,
};
use futures_util::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;
use uuid::Uuid;

/// How many tasks the concurrent checks run at once.
const TASKS: usize = 8;

/// How long a reader of the global order may take to catch up.
const CATCH_UP: Duration = Duration::from_secs(15);

/// Every expected version accepts exactly the stream versions it names:
/// `NoStream` (and `Exact(0)`) a stream without messages, `StreamExists` one
/// with some, `Exact(v)` one at `v`, `Any` every one. An append reports the
/// stream's new version and one global position per message, which the
/// stream then holds; a refusal is `WrongExpectedVersion` naming the
/// stream, what was expected and the actual version.
pub async fn expected_versions<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    let store = &**store;
    let stream = unique("Versions-");
    let mut written = Vec::new();
    let append = |expected, count, version| {
        let stream = &stream;
        async move {
            let messages = pings(count);
            let sent = ids(&messages);
            let appended = accepted(store, stream, expected, messages).await;
            assert_eq!(
                appended.stream_version, version,
                "appending {count} to `{stream}` expecting {expected:?} reported the wrong \
                 version"
            );
            sent.into_iter().zip(appended.global_positions)
        }
    };
    written.extend(append(ExpectedVersion::NoStream, 1, 1).await);
    let again = store
        .append(&stream, ExpectedVersion::NoStream, pings(1))
        .await;
    assert_wrong_version(again, &stream, ExpectedVersion::NoStream, 1);
    written.extend(append(ExpectedVersion::Exact(1), 2, 3).await);
    for stale in [ExpectedVersion::Exact(1), ExpectedVersion::Exact(4)] {
        let result = store.append(&stream, stale, pings(1)).await;
        assert_wrong_version(result, &stream, stale, 3);
    }
    written.extend(append(ExpectedVersion::StreamExists, 1, 4).await);
    written.extend(append(ExpectedVersion::Any, 2, 6).await);
    written.extend(append(ExpectedVersion::Exact(6), 1, 7).await);

    let stored: Vec<(Uuid, i64)> = store
        .read_stream(&stream, 1, 100)
        .await
        .expect("reading the stream")
        .iter()
        .map(|m| (m.id, m.global_position))
        .collect();
    assert_eq!(
        stored, written,
        "`{stream}` holds, in order, the messages appended and the global positions reported"
    );
    let global: BTreeSet<i64> = written.iter().map(|(_, position)| *position).collect();
    assert_eq!(global.len(), written.len(), "global positions are distinct");

    let absent = unique("Versions-");
    for expected in [ExpectedVersion::StreamExists, ExpectedVersion::Exact(1)] {
        let result = store.append(&absent, expected, pings(1)).await;
        assert_wrong_version(result, &absent, expected, 0);
    }
    accepted(store, &absent, ExpectedVersion::Exact(0), pings(1)).await;
    let any = accepted(store, &unique("Versions-"), ExpectedVersion::Any, pings(2)).await;
    assert_eq!(any.stream_version, 2, "`Any` creates a stream");
}

/// An append of no message only checks the expected version: it reports
/// the stream's version, or refuses with it, and creates nothing.
pub async fn empty_appends_only_check<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    use ExpectedVersion::{Any, Exact, NoStream, StreamExists};
    let store = &**store;
    let stream = unique("Empty-");
    let absent = [
        (NoStream, true),
        (Exact(0), true),
        (Any, true),
        (StreamExists, false),
        (Exact(2), false),
    ];
    for (expected, accepts) in absent {
        empty_append(store, &stream, expected, 0, accepts).await;
    }
    assert_no_stream(store, &stream, "after empty appends").await;

    accepted(store, &stream, NoStream, pings(2)).await;
    let at_two = [
        (Any, true),
        (StreamExists, true),
        (Exact(2), true),
        (NoStream, false),
        (Exact(3), false),
    ];
    for (expected, accepts) in at_two {
        empty_append(store, &stream, expected, 2, accepts).await;
    }
    let held = store.read_stream(&stream, 1, 100).await.unwrap();
    assert_eq!(held.len(), 2, "empty appends wrote nothing to `{stream}`");
}

/// Appends no message to `stream`, at `version`, expecting `expected`,
/// which `accepts` or not.
async fn empty_append<S: MessageStorage + ?Sized>(
    store: &S,
    stream: &str,
    expected: ExpectedVersion,
    version: i64,
    accepts: bool,
) {
    let result = store.append(stream, expected, Vec::new()).await;
    if !accepts {
        return assert_wrong_version(result, stream, expected, version);
    }
    let appended = result.unwrap_or_else(|error| {
        panic!("an empty append to `{stream}` (at {version}) expecting {expected:?}: {error}")
    });
    let nothing = Appended {
        stream_version: version,
        global_positions: Vec::new(),
    };
    assert_eq!(
        appended, nothing,
        "an empty append to `{stream}` (at {version}) expecting {expected:?}"
    );
}

/// A refused append writes none of its messages, and creates no stream.
pub async fn mismatches_write_nothing<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    let store = &**store;
    let stream = unique("Mismatch-");
    let first = pings(2);
    let kept = ids(&first);
    accepted(store, &stream, ExpectedVersion::NoStream, first).await;
    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(0),
        ExpectedVersion::Exact(1),
        ExpectedVersion::Exact(3),
    ] {
        let result = store.append(&stream, expected, pings(3)).await;
        assert_wrong_version(result, &stream, expected, 2);
    }
    let held: Vec<Uuid> = stored_ids(store, &stream).await;
    assert_eq!(
        held, kept,
        "`{stream}` holds only what was accepted after refused appends"
    );

    let absent = unique("Mismatch-");
    for expected in [ExpectedVersion::StreamExists, ExpectedVersion::Exact(2)] {
        let result = store.append(&absent, expected, pings(2)).await;
        assert_wrong_version(result, &absent, expected, 0);
    }
    assert_no_stream(store, &absent, "after refused appends").await;
    let created = accepted(store, &absent, ExpectedVersion::NoStream, pings(1)).await;
    assert_eq!(
        created.stream_version, 1,
        "refused appends created no stream"
    );
}

/// Appenders of one stream that run at once, expecting `Any`, all land:
/// each takes consecutive positions that no other takes, and the stream
/// ends gapless, every message once, at distinct global positions.
pub async fn concurrent_appends_leave_no_gap<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    const APPENDS: usize = 10;
    let stream = unique("Crowd-");
    let barrier = Arc::new(Barrier::new(TASKS));
    let appenders = (0..TASKS).map(|_| {
        let (store, stream, barrier) = (store.clone(), stream.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            let mut appends = Vec::new();
            for i in 0..APPENDS {
                // Every third append is a batch of two.
                let messages = pings(1 + usize::from(i % 3 == 0));
                let sent = ids(&messages);
                let appended = accepted(&*store, &stream, ExpectedVersion::Any, messages).await;
                appends.push((sent, appended));
            }
            appends
        })
    });
    let appends: Vec<_> = joined(appenders.collect()).await.concat();

    let mut claimed = BTreeMap::new();
    let mut sent_at = BTreeMap::new();
    for (sent, appended) in &appends {
        let first = appended.stream_version - sent.len() as i64 + 1;
        for (offset, (id, global)) in sent.iter().zip(&appended.global_positions).enumerate() {
            let position = first + offset as i64;
            if let Some(other) = claimed.insert(position, *id) {
                panic!(
                    "two appends to `{stream}` both reported position {position}: {other} and {id}"
                );
            }
            sent_at.insert(*id, *global);
        }
    }
    let total = sent_at.len() as i64;
    let stored = store.read_stream(&stream, 1, 1_000).await.unwrap();
    let positions: Vec<i64> = stored.iter().map(|m| m.position).collect();
    assert_eq!(
        positions,
        (1..=total).collect::<Vec<_>>(),
        "`{stream}` is gapless after concurrent appends"
    );
    for message in &stored {
        assert_eq!(
            claimed.get(&message.position),
            Some(&message.id),
            "the message at position {} of `{stream}` is the one whose append reported it",
            message.position
        );
        assert_eq!(
            sent_at.get(&message.id),
            Some(&message.global_position),
            "message {} is at the global position its append reported",
            message.id
        );
    }
    let globals: BTreeSet<i64> = stored.iter().map(|m| m.global_position).collect();
    assert_eq!(globals.len(), stored.len(), "global positions are distinct");
}

/// Appenders racing with the same `Exact(v)`: exactly one wins each round,
/// at `v + 1`, and every loser is told the winner's version; the stream
/// holds the winners' messages, one per position.
pub async fn racing_exact_appends_have_one_winner<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    const ROUNDS: i64 = 8;
    let stream = unique("Race-");
    let barrier = Arc::new(Barrier::new(TASKS));
    // The racers only report: one that panicked would leave the others
    // waiting at the barrier.
    let racers = (0..TASKS).map(|_| {
        let (store, stream, barrier) = (store.clone(), stream.clone(), barrier.clone());
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for round in 0..ROUNDS {
                barrier.wait().await;
                let message = ping(round as usize);
                let id = message.id();
                let expected = ExpectedVersion::Exact(round);
                let outcome = store.append(&stream, expected, vec![message]).await;
                outcomes.push((round, id, outcome));
            }
            outcomes
        })
    });
    let mut winners: BTreeMap<i64, Vec<Uuid>> = BTreeMap::new();
    for (round, id, outcome) in joined(racers.collect()).await.into_iter().flatten() {
        let expected = ExpectedVersion::Exact(round);
        match outcome {
            Ok(appended) => {
                assert_eq!(
                    appended.stream_version,
                    round + 1,
                    "the version reported to the winner of the appends expecting {round}"
                );
                winners.entry(round).or_default().push(id);
            }
            // Nothing else appends to the stream in the round.
            refused => assert_wrong_version(refused, &stream, expected, round + 1),
        }
    }
    for round in 0..ROUNDS {
        let won = winners.get(&round).map_or(0, Vec::len);
        assert_eq!(
            won, 1,
            "appends expecting version {round} that were accepted"
        );
    }
    let stored: Vec<Uuid> = stored_ids(&**store, &stream).await;
    let expected: Vec<Uuid> = winners.values().map(|ids| ids[0]).collect();
    assert_eq!(
        stored, expected,
        "`{stream}` holds the winners' messages in order"
    );
}

/// A reader of the global order that resumes from each read's cursor sees
/// every committed message exactly once, even while appenders run: two
/// readers (one through `read_global`, one through `reader()`) follow the
/// order with a small limit from [`GlobalCursor::START`] while tasks
/// append, and must each see every appended global position once, with
/// the message appended there, and no read returns more than its limit.
pub async fn global_order_never_skips_nor_repeats<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    const APPENDS: usize = 12;
    let prefix = unique("Feed");
    let done = Arc::new(AtomicBool::new(false));
    let followers = [Follow::Store, Follow::Reader]
        .map(|how| tokio::spawn(follow(store.clone(), how, prefix.clone(), done.clone())));
    let appenders = (0..TASKS).map(|task| {
        let store = store.clone();
        let (own, shared) = (format!("{prefix}-{task}"), format!("{prefix}-shared"));
        tokio::spawn(async move {
            let mut written = Vec::new();
            for i in 0..APPENDS {
                let stream = if i % 2 == 0 { &own } else { &shared };
                // Batches larger than a reader's limit, so that reads stop
                // inside a transaction's messages.
                let messages = pings(1 + i % 5);
                let sent = ids(&messages);
                let appended = accepted(&*store, stream, ExpectedVersion::Any, messages).await;
                written.extend(appended.global_positions.into_iter().zip(sent));
            }
            written
        })
    });
    let written: BTreeMap<i64, Uuid> = joined(appenders.collect())
        .await
        .into_iter()
        .flatten()
        .collect();
    done.store(true, Ordering::SeqCst);
    for (how, seen) in [Follow::Store, Follow::Reader]
        .into_iter()
        .zip(joined(followers.into()).await)
    {
        assert_exactly_once(how, &seen, &written);
    }
}

/// How a follower reads the global order.
#[derive(Debug, Clone, Copy)]
enum Follow {
    /// Through `MessageStorage::read_global`.
    Store,
    /// Through a reader of its own, `MessageStorage::reader`.
    Reader,
}

/// Follows the global order from the start, with a small limit, until
/// `done` is set and a read then finds nothing more; returns the global
/// positions and ids of the messages of `prefix`'s category, as read.
async fn follow<S: MessageStorage + ?Sized>(
    store: Arc<S>,
    how: Follow,
    prefix: String,
    done: Arc<AtomicBool>,
) -> Vec<(i64, Uuid)> {
    const LIMIT: usize = 3;
    let mut reader: Option<Box<dyn GlobalReader + '_>> = match how {
        Follow::Store => None,
        Follow::Reader => Some(store.reader().await.expect("opening a reader")),
    };
    let deadline = Instant::now() + CATCH_UP;
    let (mut cursor, mut seen) = (GlobalCursor::START, Vec::new());
    loop {
        let finished = done.load(Ordering::SeqCst);
        let (read, next): (Vec<Envelope>, _) = match &mut reader {
            None => {
                let read = store.read_global(&cursor, LIMIT).await;
                let read = read.unwrap_or_else(|e| panic!("{how:?} reading the global order: {e}"));
                (read.messages, read.cursor)
            }
            Some(reader) => {
                let read = reader.read(&cursor, LIMIT, None).await;
                let read = read.unwrap_or_else(|e| panic!("{how:?} reading the global order: {e}"));
                let messages = read.messages.into_iter().map(|m| m.envelope).collect();
                (messages, read.cursor)
            }
        };
        assert!(
            read.len() <= LIMIT,
            "a read of the global order with limit {LIMIT} returned {}",
            read.len()
        );
        cursor = next;
        let ours = read.iter().filter(|m| category(&m.stream) == prefix);
        seen.extend(ours.map(|m| (m.global_position, m.id)));
        if read.is_empty() {
            if finished {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            Instant::now() < deadline,
            "{how:?}: the global order did not bring every message within {CATCH_UP:?}; read \
             {} of ours so far",
            seen.len()
        );
    }
}

/// Asserts that a follower saw every written message once, and nothing
/// else.
fn assert_exactly_once(how: Follow, seen: &[(i64, Uuid)], written: &BTreeMap<i64, Uuid>) {
    let mut read: BTreeMap<i64, Uuid> = BTreeMap::new();
    let mut repeated = Vec::new();
    for &(position, id) in seen {
        if read.insert(position, id).is_some() {
            repeated.push(position);
        }
    }
    assert!(
        repeated.is_empty(),
        "{how:?}: the global order repeated the messages at global positions {repeated:?}"
    );
    let skipped: Vec<i64> = written
        .keys()
        .filter(|p| !read.contains_key(p))
        .copied()
        .collect();
    assert!(
        skipped.is_empty(),
        "{how:?}: the global order skipped {} of {} messages, at global positions {skipped:?}",
        skipped.len(),
        written.len()
    );
    assert_eq!(
        &read, written,
        "{how:?}: the global order holds at each global position the message appended there, \
         and nothing more"
    );
}

/// `read_stream` reads from a position, inclusive, up to a limit, in
/// stream order, the messages as appended (type, data and metadata, with
/// their positions); and only that stream's, not those of a stream whose
/// name it starts.
pub async fn read_stream_from_and_limit<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    let store = &**store;
    let stream = unique("Read-");
    let mut sent = Vec::new();
    for (batch, size) in [3, 3, 4].into_iter().enumerate() {
        let messages: Vec<NewMessage> = (0..size).map(|i| tagged(batch * 10 + i)).collect();
        let appended = accepted(store, &stream, ExpectedVersion::Any, messages.clone()).await;
        sent.extend(messages.into_iter().zip(appended.global_positions));
    }
    accepted(store, &format!("{stream}0"), ExpectedVersion::Any, pings(3)).await;

    let all = store.read_stream(&stream, 1, 100).await.unwrap();
    assert_eq!(all.len(), sent.len(), "`{stream}` holds what was appended");
    for ((message, global), (read, position)) in sent.iter().zip(all.iter().zip(1..)) {
        let what = format!("the message at position {position} of `{stream}`");
        assert_eq!(read.stream, stream, "{what}: its stream");
        assert_eq!(read.position, position, "{what}: its position");
        assert_eq!(read.id, message.id(), "{what}: its id");
        assert_eq!(read.global_position, *global, "{what}: its global position");
        assert_eq!(
            read.message_type,
            message.message_type(),
            "{what}: its type"
        );
        assert_eq!(&read.data, message.data(), "{what}: its data");
        assert_eq!(&read.metadata, message.metadata(), "{what}: its metadata");
    }
    let raw = store.read_stream_raw(&stream, 2, 1).await.unwrap();
    let stored = raw.first().map(|m| &m.metadata);
    assert_eq!(
        stored.and_then(|m| m.get("tenant")),
        Some(&serde_json::json!("tenant-1")),
        "read_stream_raw returns the metadata as stored"
    );

    for (from, limit, expected) in [
        (4, 3, vec![4, 5, 6]),
        (9, 5, vec![9, 10]),
        (10, 1, vec![10]),
        (11, 5, vec![]),
        (1, 0, vec![]),
    ] {
        let read = store.read_stream(&stream, from, limit).await.unwrap();
        let positions: Vec<i64> = read.iter().map(|m| m.position).collect();
        assert_eq!(
            positions, expected,
            "read_stream(`{stream}`, from {from}, limit {limit})"
        );
    }
    let nothing = store.read_stream(&unique("Read-"), 1, 10).await.unwrap();
    assert!(nothing.is_empty(), "a stream never appended to reads empty");
}

/// A message carrying `n`, with a correlation id and a user key.
fn tagged(n: usize) -> NewMessage {
    let mut metadata = Metadata::default();
    metadata.correlation_id = Some(Uuid::now_v7());
    metadata
        .insert("tenant", format!("tenant-{n}"))
        .expect("not a reserved key");
    ping(n).with_metadata(metadata)
}

/// `last_message` is the newest message of the stream, or `None` for a
/// stream without messages; a stream whose name extends it does not count.
pub async fn last_message<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    let store = &**store;
    let stream = unique("Last-");
    assert_no_stream(store, &stream, "before any append").await;
    let mut newest = None;
    for count in [3, 2] {
        let messages = pings(count);
        newest = messages.last().cloned();
        accepted(store, &stream, ExpectedVersion::Any, messages).await;
        accepted(store, &format!("{stream}0"), ExpectedVersion::Any, pings(4)).await;
    }
    let newest = newest.expect("appended some");
    let last = store
        .last_message(&stream)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("`{stream}` has messages, but no last message"));
    let last = last.decode().expect("the last message decodes");
    assert_eq!(
        (last.stream.as_str(), last.position, last.id),
        (stream.as_str(), 5, newest.id()),
        "the last message of `{stream}`"
    );
    assert_eq!(
        (last.message_type.as_str(), &last.data),
        (PING, newest.data()),
        "the last message's type and data"
    );
}

/// A message is found by its id, as a read of its stream returns it; an id
/// the store does not hold finds nothing.
pub async fn message_by_id<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    let store = &**store;
    let stream = unique("ById-");
    accepted(store, &stream, ExpectedVersion::Any, pings(3)).await;
    accepted(store, &format!("{stream}0"), ExpectedVersion::Any, pings(2)).await;
    for read in store.read_stream(&stream, 1, 10).await.unwrap() {
        let found = store.message(read.id).await.unwrap();
        let found = found.unwrap_or_else(|| panic!("message {} of `{stream}` not found", read.id));
        assert_eq!(found, read, "message {} found by its id", read.id);
    }
    let unknown = uuid::Uuid::now_v7();
    let found = store.message(unknown).await.unwrap();
    assert!(found.is_none(), "an id never appended found {found:?}");
}

/// An append holding a message whose id the store holds, or two messages
/// of one id, is `DuplicateMessageId` naming the stream, and writes
/// nothing.
pub async fn duplicate_ids_are_refused<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    let store = &**store;
    let (first, second) = (unique("Duplicate-"), unique("Duplicate-"));
    let message = ping(1);
    accepted(store, &first, ExpectedVersion::Any, vec![message.clone()]).await;
    let refused = [
        (vec![message.clone()], "a message stored already"),
        (
            vec![ping(2), message.clone()],
            "a batch holding a message stored already",
        ),
    ];
    let twice = ping(3);
    let refused = refused.into_iter().chain([(
        vec![twice.clone(), twice],
        "a batch holding one message twice",
    )]);
    for (messages, what) in refused {
        let appended = store.append(&second, ExpectedVersion::Any, messages).await;
        assert!(
            matches!(&appended, Err(Error::DuplicateMessageId { stream }) if *stream == second),
            "appending {what}: {appended:?}"
        );
        let written = stored_ids(store, &second).await;
        assert!(written.is_empty(), "appending {what} wrote {written:?}");
    }
    assert_eq!(stored_ids(store, &first).await, [message.id()]);
}

/// `head` is past every message committed when it is asked: a reader
/// starting there reads none of those, and each later one once. A store
/// that signals appends (`appended` is `Some`) signals one made after the
/// signals were asked for, within a few seconds.
pub async fn head_is_past_every_message<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    let store = &**store;
    let category = unique("Head");
    let stream = format!("{category}-1");
    accepted(store, &stream, ExpectedVersion::Any, pings(3)).await;
    let mut signals = store.appended();
    let mut cursor = store.head().await.expect("reading the head");
    let before = read_on(store, &mut cursor.clone(), 2, &category).await;
    assert_eq!(
        before.len(),
        0,
        "read {before:?} from the head, committed before it"
    );
    let later = pings(3);
    let sent = ids(&later);
    accepted(store, &stream, ExpectedVersion::Exact(3), later).await;
    let read: Vec<Uuid> = read_on(store, &mut cursor, 2, &category)
        .await
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        read, sent,
        "the messages read from the head, appended after it"
    );
    if let Some(signals) = &mut signals {
        let signalled = tokio::time::timeout(Duration::from_secs(5), signals.next()).await;
        assert!(
            matches!(signalled, Ok(Some(()))),
            "no signal of an append within 5 s: {signalled:?}"
        );
    }
}

/// Appends to an empty name, a name longer than
/// [`MAX_STREAM_NAME_BYTES`] or one holding a control character are
/// `InvalidStreamName`, and a message type that is empty is
/// `InvalidMessageType`; a name of exactly the longest length is accepted.
pub async fn invalid_names_are_refused<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    let store = &**store;
    let prefix = unique("Invalid-");
    let too_long = format!("{prefix}{}", "x".repeat(MAX_STREAM_NAME_BYTES));
    let control = format!("{prefix}\nline");
    for stream in ["", too_long.as_str(), control.as_str()] {
        let result = store.append(stream, ExpectedVersion::Any, pings(1)).await;
        assert!(
            matches!(&result, Err(Error::InvalidStreamName { stream: named, .. }) if named == stream),
            "appending to {stream:?} gave {result:?}, not an invalid stream name"
        );
        let read = store.read_stream(stream, 1, 10).await.map(|r| r.len());
        let last = store.last_message(stream).await.map(|m| m.is_some());
        for (what, refused) in [
            ("reading", read.is_err()),
            ("the last message of", last.is_err()),
        ] {
            assert!(
                refused,
                "{what} {stream:?} was not refused as an invalid stream name"
            );
        }
    }
    let longest = format!(
        "{prefix}{}",
        "x".repeat(MAX_STREAM_NAME_BYTES - prefix.len())
    );
    accepted(store, &longest, ExpectedVersion::Any, pings(1)).await;
    let read = store.read_stream(&longest, 1, 10).await.unwrap();
    assert_eq!(
        read.first().map(|m| m.stream.as_str()),
        Some(longest.as_str()),
        "a stream name of {MAX_STREAM_NAME_BYTES} bytes is kept whole"
    );

    let untyped = NewMessage::from_json("", serde_json::json!({}));
    let result = store
        .append(&prefix, ExpectedVersion::Any, vec![ping(0), untyped])
        .await;
    assert!(
        matches!(result, Err(Error::InvalidMessageType { .. })),
        "appending a message with an empty type gave {result:?}"
    );
    assert_no_stream(store, &prefix, "after a refused batch").await;
}

/// Asserts that `stream` holds no message.
async fn assert_no_stream<S: MessageStorage + ?Sized>(store: &S, stream: &str, when: &str) {
    let read = store.read_stream(stream, 1, 10).await.unwrap();
    assert!(read.is_empty(), "`{stream}` holds {read:?} {when}");
    let last = store.last_message(stream).await.unwrap();
    assert!(last.is_none(), "`{stream}` has a last message {when}");
}

/// The categories hold their streams and messages, counted: a stream's
/// category is the part of its name before the first `-`, so `{c}` and
/// `{c}-1-x` belong to `{c}` and `{c}+a` or `{c}x-1` do not. A category's
/// streams come a page at a time, in byte order of their names.
pub async fn categories_and_their_streams<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    let store = &**store;
    let c = unique("Browse");
    let written = [
        (format!("{c}-2"), 2),
        (format!("{c}-1"), 3),
        (c.clone(), 1),
        (format!("{c}-1-x"), 1),
        (format!("{c}+a"), 1),
        (format!("{c}x-1"), 2),
    ];
    for (stream, count) in &written {
        accepted(store, stream, ExpectedVersion::Any, pings(*count)).await;
    }
    let categories = store.categories().await.unwrap();
    let counted = |name: &str| {
        let found = categories.iter().find(|found| found.name == name);
        found.map(|found| (found.streams, found.messages))
    };
    assert_eq!(
        counted(&c),
        Some((4, 7)),
        "category `{c}` in {categories:?}"
    );
    assert_eq!(
        counted(&format!("{c}+a")),
        Some((1, 1)),
        "in {categories:?}"
    );
    assert_eq!(counted(&format!("{c}x")), Some((1, 2)), "in {categories:?}");
    let names: Vec<_> = categories
        .iter()
        .map(|found| found.name.as_bytes())
        .collect();
    assert!(
        names.is_sorted(),
        "categories out of byte order: {categories:?}"
    );

    let streams = store.streams(&c, None, 10).await.unwrap();
    let listed: Vec<_> = streams
        .iter()
        .map(|s| (s.name.clone(), s.version))
        .collect();
    let expected = [
        (c.clone(), 1),
        (format!("{c}-1"), 3),
        (format!("{c}-1-x"), 1),
        (format!("{c}-2"), 2),
    ];
    assert_eq!(listed, expected, "the streams of `{c}`");
    let after = store.streams(&c, Some(&format!("{c}-1")), 2).await.unwrap();
    let after: Vec<_> = after.into_iter().map(|s| s.name).collect();
    assert_eq!(
        after,
        [format!("{c}-1-x"), format!("{c}-2")],
        "after `{c}-1`"
    );
    let none = store.streams(&unique("Empty"), None, 10).await.unwrap();
    assert!(none.is_empty(), "an unknown category lists {none:?}");
}

/// A search finds messages newest first, a page at a time: by type, by
/// conversation (the message whose id is the correlation id, and those
/// carrying it), by both, and with no condition every message; paging on
/// from each page's `older` finds each match once.
pub async fn searches_newest_first<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    let store = &**store;
    let stream = format!("{}-1", unique("Search"));
    let kind = unique("Found");
    let typed = |n| NewMessage::from_json(kind.clone(), serde_json::json!({ "n": n }));
    let root = typed(0);
    let in_conversation = |message: NewMessage, cause: Uuid| {
        let mut metadata = Metadata::default();
        metadata.correlation_id = Some(root.id());
        metadata.causation_id = Some(cause);
        message.with_metadata(metadata)
    };
    let child = in_conversation(ping(1), root.id());
    let grandchild = in_conversation(typed(2), child.id());
    let conversation = [root.id(), child.id(), grandchild.id()];
    let batch = vec![root, ping(9), child, typed(3), grandchild, typed(4)];
    let appended = accepted(store, &stream, ExpectedVersion::Any, batch).await;
    let positions = &appended.global_positions;

    fn newest_first<T>(mut oldest_first: Vec<T>) -> Vec<T> {
        oldest_first.reverse();
        oldest_first
    }
    let found = store
        .search(
            &MessageSearch::default().correlation_id(conversation[0]),
            None,
            10,
        )
        .await
        .unwrap();
    let found_ids: Vec<_> = found.messages.iter().map(|m| m.id).collect();
    assert_eq!(
        found_ids,
        newest_first(conversation.to_vec()),
        "the conversation"
    );
    assert_eq!(found.older, None, "nothing older in the conversation");
    let decoded = &found.messages[0];
    assert_eq!(
        decoded.metadata.causation_id,
        Some(conversation[1]),
        "decoded metadata"
    );

    let by_both = MessageSearch::default()
        .correlation_id(conversation[0])
        .message_type(kind.clone());
    let found = store.search(&by_both, None, 10).await.unwrap();
    let found_ids: Vec<_> = found.messages.iter().map(|m| m.id).collect();
    assert_eq!(
        found_ids,
        [conversation[2], conversation[0]],
        "the conversation's `{kind}`"
    );

    let by_type = MessageSearch::default().message_type(kind.clone());
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let found = store.search(&by_type, before, 2).await.unwrap();
        assert!(
            found.messages.len() <= 2,
            "a page of 2 held {:?}",
            found.messages
        );
        pages.extend(found.messages.iter().map(|m| m.global_position));
        match found.older {
            Some(older) => before = Some(older),
            None => break,
        }
        assert!(
            pages.len() <= 4,
            "paging by type found {pages:?} and goes on"
        );
    }
    let typed_positions = [positions[0], positions[3], positions[4], positions[5]];
    assert_eq!(
        pages,
        newest_first(typed_positions.to_vec()),
        "`{kind}` in pages of 2"
    );

    let newest = store
        .search(&MessageSearch::default(), None, 3)
        .await
        .unwrap();
    let newest: Vec<_> = newest.messages.iter().map(|m| m.global_position).collect();
    assert!(
        newest.len() == 3 && newest.is_sorted_by(|a, b| a > b),
        "newest {newest:?}"
    );
    assert!(
        newest[0] >= positions[5],
        "the newest {newest:?} of every message"
    );
}

/// A search pages through the whole global order, finding each match
/// once, newest first, however far apart: the matches just below, at and
/// just above where a store's bounded look ([`SEARCH_SPAN`]) ends included.
pub async fn searches_page_through_the_whole_order<S: MessageStorage + ?Sized>(store: &Arc<S>) {
    let store = &**store;
    let stream = format!("{}-1", unique("Spans"));
    let kind = unique("Rare");
    let total = usize::try_from(SEARCH_SPAN).expect("a span fits") + 5;
    let marked = [0, 4, 5, 6, total - 1];
    let mut positions = Vec::with_capacity(total);
    for first in (0..total).step_by(1_000) {
        let batch = (first..total.min(first + 1_000))
            .map(|i| match marked.contains(&i) {
                true => NewMessage::from_json(kind.clone(), serde_json::json!({ "i": i })),
                false => ping(i),
            })
            .collect();
        let appended = accepted(store, &stream, ExpectedVersion::Any, batch).await;
        positions.extend(appended.global_positions);
    }
    let expected: Vec<i64> = marked.iter().rev().map(|&i| positions[i]).collect();
    let search = MessageSearch::default().message_type(kind.clone());
    for limit in [2, 10] {
        let (mut found, mut before, mut pages) = (Vec::new(), None, 0);
        loop {
            let page = store.search(&search, before, limit).await.unwrap();
            found.extend(page.messages.iter().map(|m| m.global_position));
            pages += 1;
            assert!(pages <= 10, "pages of {limit} `{kind}` go on: {found:?}");
            match page.older {
                Some(older) => before = Some(older),
                None => break,
            }
        }
        assert_eq!(found, expected, "`{kind}` in pages of {limit}");
    }
}
