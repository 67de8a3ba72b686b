//! Wake-ups, and the transactions of `transactional` handlers.

use super::{Fixture, LONG};
use crate::support::{accepted, ids, ping, pings, read_on, unique};
use beckett_core::scheduling::Due;
use beckett_core::state::{Reservation, StateTransaction, Storage, Wakeup};
use beckett_core::{ExpectedVersion, GlobalCursor, NewMessage};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a wake-up may take to come.
const SIGNAL: Duration = Duration::from_secs(10);

/// After subscribing to `wakeups()`, an append is signalled
/// (`Messages`, when the store holds the messages), a message scheduled is signalled (`Scheduled`), and new
/// lagging checkpoints of a group are signalled (`Checkpoints` of that
/// group), each within 10 s; `Missed` stands for any of them. The stream
/// must not end.
pub async fn wakeups(storage: &Storage) {
    let mut fixture = Fixture::new(storage, "wakeups").await;
    let engine = fixture.engine();
    let stream = fixture.stream("1");
    let mut wakeups = engine.wakeups();

    // A state store beside a message store elsewhere hears of its own
    // writes only.
    if storage.holds_together() {
        settle(&mut wakeups).await;
        fixture.append(&stream, 1).await;
        expect(&mut wakeups, "an append", |w| *w == Wakeup::Messages).await;
    }

    settle(&mut wakeups).await;
    let due = Due::In(Duration::from_secs(1));
    let scheduled = engine.schedule(&stream, ping(0), due).await.unwrap();
    expect(&mut wakeups, "a message scheduled", |w| {
        *w == Wakeup::Scheduled
    })
    .await;
    engine.cancel_scheduled(scheduled).await.unwrap();

    settle(&mut wakeups).await;
    let taken = fixture.raise(&[(&stream, 1, None)]).await;
    assert!(taken.is_empty(), "a raise without a token took {taken:?}");
    let group = fixture.group.clone();
    expect(&mut wakeups, "a new lagging checkpoint", |w| {
        *w == Wakeup::Checkpoints(group.clone())
    })
    .await;
}

/// Takes the wake-ups that come until none has for a moment (at most a
/// few seconds), so that the next one expected is the answer to what the
/// check does next.
async fn settle(wakeups: &mut BoxStream<'static, Wakeup>) {
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_millis(300), wakeups.next()).await {
            Err(_quiet) => return,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the wake-up stream ended"),
        }
    }
}

/// Waits for a wake-up that `signals` what the check did, or `Missed`.
async fn expect(
    wakeups: &mut BoxStream<'static, Wakeup>,
    after: &str,
    signals: impl Fn(&Wakeup) -> bool,
) {
    let deadline = tokio::time::Instant::now() + SIGNAL;
    let mut others = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, wakeups.next()).await {
            Err(_) => panic!("no wake-up after {after} within {SIGNAL:?}; only {others:?}"),
            Ok(None) => panic!("the wake-up stream ended, before signalling {after}"),
            Ok(Some(wakeup)) if signals(&wakeup) || wakeup == Wakeup::Missed => return,
            Ok(Some(other)) => others.push(other),
        }
    }
}

/// A transaction's writes hold if it commits, and not if it rolls back: a
/// checkpoint advanced (and released) in a rolled-back transaction stays
/// where it was and reserved, one advanced in a committed transaction
/// moves; so do the messages scheduled and (if the message store shares
/// the transaction) appended in it. A wrong token advances nothing in a
/// transaction either.
pub async fn transactions(storage: &Storage) {
    let mut fixture = Fixture::new(storage, "transactions").await;
    let stream = fixture.stream("1");
    fixture.lag(&stream, 2).await;
    let engine = fixture.engine();
    let written = fixture.stream("written");

    let held = fixture.reserve_one(&stream, LONG).await;
    let mut transaction = engine.begin().await.expect("beginning a transaction");
    let forged = Reservation {
        token: Uuid::now_v7(),
        ..held.clone()
    };
    let moved = transaction.advance(&fixture.group, &forged, 1, None).await;
    assert!(
        !moved.unwrap(),
        "a wrong token advanced a checkpoint in a transaction"
    );
    let outcome = write(storage, &mut *transaction, &fixture.group, &held, &written).await;
    transaction.rollback().await.expect("rolling back");
    fixture
        .reserve_none("the checkpoint was advanced and released in a transaction rolled back")
        .await;
    let cancelled = engine.cancel_scheduled(outcome.scheduled).await.unwrap();
    assert!(
        !cancelled,
        "a message scheduled in a transaction rolled back was scheduled"
    );
    let read = storage
        .messages()
        .read_stream(&written, 1, 10)
        .await
        .unwrap();
    assert!(
        read.is_empty(),
        "a transaction rolled back appended {read:?}"
    );
    engine.release(&[held.token], Duration::ZERO).await.unwrap();
    let again = fixture.reserve_one(&stream, LONG).await;
    assert_eq!(
        again.position, 0,
        "a checkpoint advanced in a transaction rolled back moved"
    );

    let mut transaction = engine.begin().await.expect("beginning a transaction");
    let outcome = write(storage, &mut *transaction, &fixture.group, &again, &written).await;
    transaction.commit().await.expect("committing");
    let next = fixture.reserve_one(&stream, LONG).await;
    assert_eq!(
        next.position, 1,
        "a checkpoint advanced in a committed transaction"
    );
    let cancelled = engine.cancel_scheduled(outcome.scheduled).await.unwrap();
    assert!(
        cancelled,
        "a message scheduled in a committed transaction is not scheduled"
    );
    if let Some(id) = outcome.appended {
        let read = storage
            .messages()
            .read_stream(&written, 1, 10)
            .await
            .unwrap();
        let ids: Vec<Uuid> = read.iter().map(|m| m.id).collect();
        assert_eq!(ids, [id], "what a committed transaction appended");
    }
}

/// What a transaction wrote.
struct Written {
    /// The message scheduled in it.
    scheduled: Uuid,
    /// The message appended in it, if the message store shares it.
    appended: Option<Uuid>,
}

/// Advances `reservation` by one and releases it, schedules a message for
/// later and, if the store holds the messages, appends one to `stream`, in
/// `transaction`.
async fn write(
    storage: &Storage,
    transaction: &mut dyn StateTransaction,
    group: &str,
    reservation: &Reservation,
    stream: &str,
) -> Written {
    let position = reservation.position + 1;
    let moved = transaction
        .advance(group, reservation, position, None)
        .await;
    assert!(
        moved.unwrap(),
        "the holder's token does not advance its checkpoint in a transaction"
    );
    let due = Due::In(Duration::from_secs(3600));
    let scheduled = transaction.schedule(stream, ping(0), due).await;
    let scheduled = scheduled.expect("scheduling in a transaction");
    let message = ping(1);
    let id = message.id();
    if !storage.holds_together() {
        return Written {
            scheduled,
            appended: None,
        };
    }
    let appended = transaction
        .append(stream, ExpectedVersion::NoStream, vec![message])
        .await
        .map(|result| {
            let appended = result.expect("appending in a transaction");
            assert_eq!(appended.stream_version, 1, "appending in a transaction");
            id
        });
    Written {
        scheduled,
        appended,
    }
}

/// A transaction that appends (when the message store shares the state
/// store's transactions) delays only its own messages in the global order.
/// In a store whose writers run at once (Postgres), while it runs a reader
/// following the order with a small limit reads the messages committed
/// after it began, and none of its own; in a store with one writer
/// (SQLite), an append beside it waits for it, and the reader reads
/// nothing meanwhile. Once it commits, the reader reads its messages, more
/// than the limit, each once; a transaction rolled back leaves nothing to
/// read and stalls nothing. Read again from the start, the order holds
/// every committed message once. Nothing to check where transactions do
/// not append, or the messages are elsewhere.
pub async fn transactions_in_the_global_order(storage: &Storage) {
    if !storage.holds_together() {
        return;
    }
    let engine = &**storage.engine();
    let mut follower = Follower::new(unique("Around"));
    let (inside, outside) = (follower.stream("inside"), follower.stream("outside"));
    let read = follower.read(storage).await;
    assert!(read.is_empty(), "messages of a new category: {read:?}");
    let mut committed = Vec::new();

    let mut transaction = engine.begin().await.expect("beginning a transaction");
    let batch = pings(5);
    let held_back = ids(&batch);
    let appending = transaction.append(&inside, ExpectedVersion::NoStream, batch);
    let Some(appended) = appending.await else {
        return transaction.rollback().await.expect("rolling back");
    };
    appended.expect("appending in a transaction");
    let batch = pings(3);
    let after = ids(&batch);
    let beside = Beside::append(storage, &outside, batch).await;
    let read = follower.read(storage).await;
    let expected = if beside.waits() { &[][..] } else { &after[..] };
    assert_eq!(
        read, expected,
        "the global order, while a transaction that appended before runs: what was committed \
         after it began, and none of its own"
    );
    transaction.commit().await.expect("committing");
    let waited = beside.finish().await;
    let mut read = follower.read(storage).await;
    let mut expected: Vec<Uuid> = held_back.clone();
    if waited {
        read.sort();
        expected.extend(&after);
        expected.sort();
    }
    assert_eq!(
        read, expected,
        "the global order, once the transaction committed: its messages, once"
    );
    committed.extend(held_back.iter().chain(&after));

    let mut transaction = engine.begin().await.expect("beginning a transaction");
    let appending = transaction.append(&inside, ExpectedVersion::Exact(5), pings(3));
    let appended = appending.await.expect("the transaction appended before");
    appended.expect("appending in a transaction");
    let batch = pings(2);
    let after = ids(&batch);
    let beside = Beside::append(storage, &outside, batch).await;
    transaction.rollback().await.expect("rolling back");
    beside.finish().await;
    let read = follower.read(storage).await;
    assert_eq!(
        read, after,
        "the global order, after a transaction rolled back: what was committed, only"
    );
    committed.extend(after);

    let mut again = Follower::new(follower.category);
    let mut read = again.read(storage).await;
    read.sort();
    committed.sort();
    assert_eq!(
        read, committed,
        "the global order read again from the start: every committed message, once"
    );
}

/// An append beside an open transaction: done at once where writers run at
/// once, waiting for the transaction where the store has one writer.
struct Beside(tokio::task::JoinHandle<()>, bool);

impl Beside {
    /// How long an append beside a transaction may take before it counts
    /// as waiting for it.
    const PATIENCE: Duration = Duration::from_secs(1);

    /// Starts appending `messages` to `stream`, and waits a while for it.
    async fn append(storage: &Storage, stream: &str, messages: Vec<NewMessage>) -> Self {
        let (store, stream) = (storage.messages().clone(), stream.to_owned());
        let mut appending = tokio::spawn(async move {
            accepted(&*store, &stream, ExpectedVersion::Any, messages).await;
        });
        match tokio::time::timeout(Self::PATIENCE, &mut appending).await {
            Ok(done) => {
                done.expect("the append beside the transaction");
                Self(appending, false)
            }
            Err(_) => Self(appending, true),
        }
    }

    /// Whether it waits for the transaction.
    fn waits(&self) -> bool {
        self.1
    }

    /// Waits for it to end, once the transaction has; whether it waited.
    async fn finish(self) -> bool {
        let Self(appending, waited) = self;
        if waited {
            appending.await.expect("the append beside the transaction");
        }
        waited
    }
}

/// A reader of the global order, with a limit below the transactions'
/// batches, that follows the messages of one category.
struct Follower {
    category: String,
    cursor: GlobalCursor,
}

impl Follower {
    /// The limit of each read.
    const LIMIT: usize = 2;

    /// A reader at the start, of `category`.
    fn new(category: String) -> Self {
        Self {
            category,
            cursor: GlobalCursor::START,
        }
    }

    /// A stream of the category.
    fn stream(&self, name: &str) -> String {
        format!("{}-{name}", self.category)
    }

    /// Reads on to the end of the order; the ids of the category's messages
    /// read.
    async fn read(&mut self, storage: &Storage) -> Vec<Uuid> {
        let messages = &**storage.messages();
        let read = read_on(messages, &mut self.cursor, Self::LIMIT, &self.category).await;
        read.iter().map(|m| m.id).collect()
    }
}
