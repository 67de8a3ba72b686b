//! What the checks share: unique names, test messages, appends that must
//! succeed or fail, and waiting for an outcome.

use beckett_core::{
    category, Appended, Envelope, Error, ExpectedVersion, GlobalCursor, MessageStorage, NewMessage,
    Result,
};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The message type of the checks' messages.
pub(crate) const PING: &str = "ConformancePing";

/// How long reading the global order on to its end may take.
const READ_ON: Duration = Duration::from_secs(10);

/// How often a check polls for an outcome that comes in time.
const POLL: Duration = Duration::from_millis(50);

/// A name no other check, nor another run, uses: `prefix` and a fresh id.
/// Without a `-`, so a stream named `{unique}-{name}` has it as category.
pub(crate) fn unique(prefix: &str) -> String {
    format!("{prefix}{}", Uuid::now_v7().simple())
}

/// A test message carrying `n`.
pub(crate) fn ping(n: usize) -> NewMessage {
    NewMessage::from_json(PING, serde_json::json!({ "n": n }))
}

/// `count` test messages, carrying 0, 1, ...
pub(crate) fn pings(count: usize) -> Vec<NewMessage> {
    (0..count).map(ping).collect()
}

/// The ids of messages about to be appended.
pub(crate) fn ids(messages: &[NewMessage]) -> Vec<Uuid> {
    messages.iter().map(NewMessage::id).collect()
}

/// The ids of the messages `stream` holds, in stream order.
pub(crate) async fn stored_ids<S: MessageStorage + ?Sized>(store: &S, stream: &str) -> Vec<Uuid> {
    let stored = store.read_stream(stream, 1, 1_000).await;
    let stored = stored.unwrap_or_else(|error| panic!("reading `{stream}` failed: {error}"));
    stored.iter().map(|m| m.id).collect()
}

/// Appends `messages`, which the store must accept, reporting one global
/// position per message; returns what it reports.
pub(crate) async fn accepted<S: MessageStorage + ?Sized>(
    store: &S,
    stream: &str,
    expected: ExpectedVersion,
    messages: Vec<NewMessage>,
) -> Appended {
    let count = messages.len();
    let appended = store
        .append(stream, expected, messages)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "appending {count} message(s) to `{stream}` expecting {expected:?} failed: {error}"
            )
        });
    assert_eq!(
        appended.global_positions.len(),
        count,
        "appending {count} message(s) to `{stream}` reported {:?} as their global positions",
        appended.global_positions
    );
    appended
}

/// Asserts that an append was refused for its expected version, with the
/// stream's actual version.
pub(crate) fn assert_wrong_version(
    result: Result<Appended>,
    stream: &str,
    expected: ExpectedVersion,
    actual: i64,
) {
    match result {
        Err(Error::WrongExpectedVersion {
            stream: refused,
            expected: echoed,
            actual: reported,
        }) => {
            assert_eq!(refused, stream, "a refused append names its stream");
            assert_eq!(echoed, expected, "a refused append names what it expected");
            assert_eq!(
                reported, actual,
                "appending to `{stream}` expecting {expected:?} was refused with the wrong actual \
                 version"
            );
        }
        Err(other) => panic!(
            "appending to `{stream}` (at version {actual}) expecting {expected:?} failed with \
             {other} rather than a wrong expected version"
        ),
        Ok(appended) => panic!(
            "appending to `{stream}` (at version {actual}) expecting {expected:?} was accepted: \
             {appended:?}"
        ),
    }
}

/// Polls `probe` until it answers, for up to `within`; panics naming
/// `what` when it never does.
pub(crate) async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(answer) = probe().await {
            return answer;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(POLL).await;
    }
}

/// The outputs of tasks, in order; a task's panic is passed on.
pub(crate) async fn joined<T>(tasks: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut outputs = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(output) => outputs.push(output),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("a task of the check was cancelled: {error}"),
        }
    }
    outputs
}

/// Reads the global order on from `cursor` until a read finds nothing,
/// `limit` messages at a time, moving `cursor`; returns the messages of
/// streams in `wanted` (a category) read, in order. Panics if the end does
/// not come within a few seconds.
pub(crate) async fn read_on<S: MessageStorage + ?Sized>(
    store: &S,
    cursor: &mut GlobalCursor,
    limit: usize,
    wanted: &str,
) -> Vec<Envelope> {
    let deadline = Instant::now() + READ_ON;
    let mut ours = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "the global order did not come to an end within {READ_ON:?}: a reader that resumes \
             from each read's cursor is stuck, or reads the same messages again"
        );
        let read = store
            .read_global(cursor, limit)
            .await
            .unwrap_or_else(|e| panic!("reading the global order: {e}"));
        assert!(
            read.messages.len() <= limit,
            "a read of the global order with limit {limit} returned {}",
            read.messages.len()
        );
        *cursor = read.cursor;
        if read.messages.is_empty() {
            return ours;
        }
        let in_category = read
            .messages
            .into_iter()
            .filter(|m| category(&m.stream) == wanted);
        ours.extend(in_category);
    }
}
