//! Checkpoints: their reservations, the tokens they are held under,
//! failures, retries and the operators' actions.

use super::{assert_reads, read, Fixture, LONG, READ};
use crate::support::{eventually, joined, unique};
use beckett_core::state::{
    CheckpointFilter, CheckpointInfo, CheckpointStatus, Failure, Reservation, Reserved, StartAt,
    Storage,
};
use beckett_core::subscription::Selection;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;
use uuid::Uuid;

/// Concurrent reservers exclude each other: with 50 checkpoints lagging,
/// several tasks reserving at once, in small batches, until they find
/// nothing, reserve every checkpoint exactly once, each under a token of
/// its own, at its position, with its stream's messages after it (if the
/// store reads them) and never more than the limit per call; a checkpoint
/// of a subscription not asked for is left, and can be reserved on its
/// own.
pub async fn reservations_exclude_each_other(storage: &Storage) {
    const STREAMS: usize = 50;
    const RESERVERS: usize = 6;
    const LIMIT: usize = 4;
    const PER_STREAM: usize = 3;
    /// Fewer than a stream holds.
    const READ_FIRST: usize = 2;
    let mut fixture = Fixture::new(storage, "exclusion").await;
    let mut sent = BTreeMap::new();
    for i in 0..STREAMS {
        let stream = fixture.stream(&i.to_string());
        let ids = fixture.append(&stream, PER_STREAM).await;
        sent.insert(stream, ids);
    }
    let raises: Vec<_> = sent
        .keys()
        .map(|stream| (stream.as_str(), PER_STREAM as i64, None))
        .collect();
    fixture.raise(&raises).await;

    let other = unique("other-");
    let selection = Selection {
        types: Vec::new(),
        category: Some(fixture.category.clone()),
        stream: None,
    };
    let engine = storage.engine();
    engine
        .register(&fixture.group, &other, &StartAt::First, &selection)
        .await
        .expect("registering");
    let shared = fixture.stream("0");
    fixture
        .raise_for(&other, &[(&shared, PER_STREAM as i64, None)])
        .await;

    let barrier = Arc::new(Barrier::new(RESERVERS));
    let read_first = read(storage, READ_FIRST);
    let reservers = (0..RESERVERS).map(|_| {
        let (engine, barrier) = (engine.clone(), barrier.clone());
        let (group, subscription) = (fixture.group.clone(), fixture.subscription.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            // A store that hands out checkpoints again would never run
            // dry: more than there are is enough to tell.
            let (mut batches, mut reserved) = (Vec::new(), 0);
            while reserved <= STREAMS {
                let batch = engine
                    .reserve(&group, &[&subscription], LIMIT, read_first, LONG)
                    .await
                    .expect("reserving");
                if batch.is_empty() {
                    break;
                }
                reserved += batch.len();
                batches.push(batch);
            }
            batches
        })
    });
    let batches: Vec<Vec<Reserved>> = joined(reservers.collect())
        .await
        .into_iter()
        .flatten()
        .collect();

    let mut held: BTreeMap<&str, Vec<Uuid>> = BTreeMap::new();
    let mut tokens = HashSet::new();
    for reserved in batches.iter().flatten() {
        let reservation = &reserved.reservation;
        assert_eq!(
            reservation.subscription, fixture.subscription,
            "reserving for one subscription reserved another's checkpoint"
        );
        assert_eq!(
            (reservation.position, reservation.attempts),
            (0, 0),
            "the position and attempts of a new checkpoint reserved"
        );
        assert!(
            tokens.insert(reservation.token),
            "two reservations share the token {}",
            reservation.token
        );
        let stream = reservation.stream.as_str();
        held.entry(stream).or_default().push(reservation.token);
        let ids = sent
            .get(stream)
            .unwrap_or_else(|| panic!("reserved the checkpoint of `{stream}`, never raised"));
        assert_reads(reserved, ids, read_first);
    }
    let twice: Vec<_> = held.iter().filter(|(_, tokens)| tokens.len() > 1).collect();
    assert!(twice.is_empty(), "checkpoints reserved twice: {twice:?}");
    let missed: Vec<&String> = sent
        .keys()
        .filter(|s| !held.contains_key(s.as_str()))
        .collect();
    assert!(
        missed.is_empty(),
        "the reservers stopped with these checkpoints lagging and free: {missed:?}"
    );
    let largest = batches.iter().map(Vec::len).max().unwrap_or(0);
    assert!(
        largest <= LIMIT,
        "reserved {largest} checkpoints with a limit of {LIMIT}"
    );

    fixture
        .reserve_none("every checkpoint of the subscription is held")
        .await;
    let others = engine
        .reserve(&fixture.group, &[&other], 100, read(storage, READ), LONG)
        .await
        .expect("reserving");
    let others: Vec<(&str, &str)> = others
        .iter()
        .map(|r| (&*r.reservation.subscription, &*r.reservation.stream))
        .collect();
    assert_eq!(
        others,
        [(other.as_str(), shared.as_str())],
        "the checkpoints reserved for the other subscription"
    );
}

/// A checkpoint the leader creates with a `take` token is reserved under
/// that token, which `record` returns, and which moves it; a checkpoint
/// that existed already keeps its state, and the token offered for it
/// holds nothing.
pub async fn created_checkpoints_are_taken(storage: &Storage) {
    let mut fixture = Fixture::new(storage, "taken").await;
    let (fresh, existing) = (fixture.stream("fresh"), fixture.stream("existing"));
    fixture.append(&fresh, 1).await;
    fixture.lag(&existing, 1).await;
    let (take_fresh, take_existing) = (Uuid::now_v7(), Uuid::now_v7());
    let taken = fixture
        .raise(&[
            (&fresh, 1, Some(take_fresh)),
            (&existing, 1, Some(take_existing)),
        ])
        .await;
    assert_eq!(
        taken,
        HashSet::from([take_fresh]),
        "the tokens taken: only the created checkpoint's"
    );
    let reservation = fixture.reserve_one(&existing, LONG).await;
    let engine = fixture.engine();
    let group = &fixture.group;
    let offered = fixture.reservation(&existing, 0, take_existing);
    let moved = engine.advance(group, &offered, 1, None).await.unwrap();
    assert!(
        !moved,
        "the token offered for an existing checkpoint moved it"
    );
    let own = fixture.reservation(&fresh, 0, take_fresh);
    let moved = engine.advance(group, &own, 1, None).await.unwrap();
    assert!(
        moved,
        "the token a created checkpoint was taken under does not move it"
    );
    assert!(
        !fixture.complete(&reservation, 1).await,
        "a completed checkpoint lags"
    );
    fixture
        .reserve_none("both checkpoints were moved to their streams' ends")
        .await;
}

/// Only the holder of a reservation's token moves or fails its
/// checkpoint: a wrong token's `advance` is false, and its `fail` and
/// `complete` change nothing. `advance` with `keep` keeps the reservation,
/// `release` frees it for a new token, after which the old one is lost.
/// `complete` moves and releases, says whether the checkpoint lags again,
/// and a later append and raise make it lag and reservable again; a
/// release with a pause keeps it from reservers.
pub async fn tokens(storage: &Storage) {
    let mut fixture = Fixture::new(storage, "tokens").await;
    let stream = fixture.stream("1");
    let mut sent = fixture.lag(&stream, 2).await;
    let engine = fixture.engine();
    let group = &fixture.group;
    let held = fixture.reserve_one(&stream, LONG).await;
    assert_eq!(held.position, 0, "a new checkpoint's position");

    let forged = Reservation {
        token: Uuid::now_v7(),
        ..held.clone()
    };
    let moved = engine.advance(group, &forged, 2, None).await.unwrap();
    assert!(!moved, "a wrong token advanced the checkpoint");
    let failure = failure(0, 1, "forged", None);
    engine.fail(group, &forged, &failure).await.unwrap();
    assert!(
        failed_in(&fixture).await.is_empty(),
        "a wrong token failed the checkpoint"
    );
    // Had it moved the checkpoint, to 1 of 2, it would lag.
    let lagging = fixture.complete(&forged, 1).await;
    assert!(!lagging, "a completion under a wrong token reported a lag");

    let moved = engine.advance(group, &held, 1, Some(LONG)).await.unwrap();
    assert!(moved, "the holder's token does not advance its checkpoint");
    fixture
        .reserve_none("the checkpoint is still held: advanced with `keep`, after a wrong token's fail and complete")
        .await;
    engine.release(&[held.token], Duration::ZERO).await.unwrap();
    let again = fixture.reserve_one(&stream, LONG).await;
    assert_eq!(again.position, 1, "the position the holder advanced to");
    assert_ne!(again.token, held.token, "a new reservation's token");
    let moved = engine.advance(group, &held, 2, None).await.unwrap();
    assert!(
        !moved,
        "a released reservation's token advanced the checkpoint"
    );

    let lagging = fixture.complete(&again, 2).await;
    assert!(!lagging, "a checkpoint completed at its stream's end lags");
    fixture
        .reserve_none("the checkpoint was completed at its stream's end")
        .await;

    sent.extend(fixture.lag(&stream, 1).await);
    let third = fixture.reserve_one(&stream, LONG).await;
    assert_eq!(third.position, 2, "the position completed at");
    sent.extend(fixture.lag(&stream, 1).await);
    let lagging = fixture.complete(&third, 3).await;
    assert!(
        lagging,
        "a checkpoint raised while reserved does not lag once completed"
    );
    let reserved = fixture.reserve(LONG).await;
    assert_eq!(
        reserved.len(),
        1,
        "the checkpoint lags again after completion"
    );
    assert_eq!(
        reserved[0].reservation.position, 3,
        "the position completed at"
    );
    assert_reads(&reserved[0], &sent, read(storage, READ));

    let paused = Duration::from_secs(60);
    let token = reserved[0].reservation.token;
    engine.release(&[token], paused).await.unwrap();
    fixture
        .reserve_none("the checkpoint was released with a pause")
        .await;
}

/// A reservation lasts its timeout, which `extend` renews for the tokens
/// it holds; once it runs out the checkpoint is reserved again under a new
/// token, and the old token moves nothing.
pub async fn reservations_expire(storage: &Storage) {
    let short = Duration::from_millis(500);
    let mut fixture = Fixture::new(storage, "expiry").await;
    let stream = fixture.stream("1");
    fixture.lag(&stream, 1).await;
    let engine = fixture.engine();
    let group = &fixture.group;

    let extended = fixture.reserve_one(&stream, short).await;
    let stranger = Uuid::now_v7();
    let what = "extending a reservation nothing else touches";
    let renewed = eventually(what, Duration::from_secs(3), || async {
        let renewed = engine.extend(&[extended.token, stranger], LONG).await;
        let renewed = renewed.expect("extending");
        (!renewed.is_empty()).then_some(renewed)
    })
    .await;
    assert_eq!(renewed, [extended.token], "the tokens extended");
    tokio::time::sleep(short * 2).await;
    fixture
        .reserve_none("the reservation was extended past its timeout")
        .await;
    engine
        .release(&[extended.token], Duration::ZERO)
        .await
        .unwrap();

    let lapsed = fixture.reserve_one(&stream, short).await;
    tokio::time::sleep(short * 2).await;
    let taken_over = fixture.reserve_one(&stream, LONG).await;
    assert_ne!(taken_over.token, lapsed.token, "a reservation taken over");
    let moved = engine.advance(group, &lapsed, 1, None).await.unwrap();
    assert!(
        !moved,
        "a lapsed reservation's token advanced the checkpoint after it was taken over"
    );
    let moved = engine.advance(group, &taken_over, 1, None).await.unwrap();
    assert!(moved, "the new holder does not advance the checkpoint");
    fixture
        .reserve_none("the checkpoint was advanced to its stream's end")
        .await;
}

/// A failure with `retry_in` hides the checkpoint from reservers until
/// then, and it comes back with its attempts; one without marks it failed,
/// listed by `failed` with what the failure recorded and never reserved.
/// `retry` makes a failed checkpoint reservable again from the failing
/// message, `skip` moves it past that message; both are false for a
/// checkpoint that is not failed.
pub async fn retries_and_failures(storage: &Storage) {
    let mut fixture = Fixture::new(storage, "failures").await;
    let (waiting, failing) = (fixture.stream("waiting"), fixture.stream("failing"));
    fixture.lag(&waiting, 3).await;
    fixture.lag(&failing, 3).await;
    let engine = fixture.engine();
    let group = &fixture.group;
    let subscription = &fixture.subscription;
    let reserved = fixture.reserve(LONG).await;
    assert_eq!(reserved.len(), 2, "both lagging checkpoints reserved");
    for reserved in &reserved {
        let reservation = &reserved.reservation;
        let retry_in = if reservation.stream == waiting {
            LONG
        } else {
            Duration::from_millis(200)
        };
        let failure = failure(1, 1, "first", Some(retry_in));
        engine.fail(group, reservation, &failure).await.unwrap();
    }
    let retried = eventually(
        "reserving a checkpoint whose retry is due",
        Duration::from_secs(5),
        || async { fixture.reserve(LONG).await.into_iter().next() },
    )
    .await
    .reservation;
    assert_eq!(
        (retried.stream.as_str(), retried.position, retried.attempts),
        (failing.as_str(), 1, 1),
        "the checkpoint reserved for its retry (not the one waiting), at the failing message, with its attempts"
    );
    assert!(
        failed_in(&fixture).await.is_empty(),
        "checkpoints waiting for a retry are listed failed"
    );

    let given_up = failure(1, 2, "second", None);
    engine.fail(group, &retried, &given_up).await.unwrap();
    let failed = failed_in(&fixture).await;
    let listed = failed.first();
    let listed = listed.expect("a checkpoint failed without a retry is not listed failed");
    let expected = CheckpointInfo {
        group: group.clone(),
        subscription: subscription.clone(),
        stream: failing.clone(),
        stream_version: 3,
        stream_position: 1,
        status: CheckpointStatus::Failed,
        attempts: 2,
        last_error: Some("second".to_owned()),
        process_at: listed.process_at,
        reserved_until: None,
    };
    assert_eq!(failed, [expected], "the failed checkpoints of the group");
    let all_failed = CheckpointFilter::default().status(CheckpointStatus::Failed);
    let everywhere = engine
        .checkpoints(&all_failed, None, usize::MAX)
        .await
        .expect("listing failed checkpoints");
    assert!(
        everywhere
            .iter()
            .any(|c| c.group == *group && c.stream == failing),
        "the failed checkpoints of all groups lack `{failing}`"
    );
    fixture
        .reserve_none("one checkpoint waits for its retry and the other failed")
        .await;

    let never = fixture.stream("never");
    for (action, stream) in [
        (Action::Retry, &waiting),
        (Action::Skip, &waiting),
        (Action::Retry, &never),
        (Action::Skip, &never),
    ] {
        let done = operate(&fixture, action, stream).await;
        assert!(
            !done,
            "{action:?} of `{stream}`, which is not failed, reported success"
        );
    }
    let retry = |stream| operate(&fixture, Action::Retry, stream);
    assert!(retry(&failing).await, "retrying a failed checkpoint");
    assert!(
        !retry(&failing).await,
        "retrying a checkpoint retried already"
    );
    let again = fixture.reserve_one(&failing, LONG).await;
    assert_eq!(
        again.position, 1,
        "a retried checkpoint resumes at the failing message"
    );
    engine.fail(group, &again, &given_up).await.unwrap();

    let skip = |stream| operate(&fixture, Action::Skip, stream);
    assert!(skip(&failing).await, "skipping a failed checkpoint");
    assert!(
        !skip(&failing).await,
        "skipping a checkpoint skipped already"
    );
    assert!(
        failed_in(&fixture).await.is_empty(),
        "a skipped checkpoint is still listed failed"
    );
    let skipped = fixture.reserve_one(&failing, LONG).await;
    assert_eq!(
        skipped.position, 2,
        "a skipped checkpoint's position: past the failing message"
    );
}

/// A checkpoint never moves back: an advance, a failure or a completion
/// at a position below the one kept leaves it there, and still does what
/// else it asks (keeps, records, releases).
pub async fn checkpoints_never_move_back(storage: &Storage) {
    let mut fixture = Fixture::new(storage, "back").await;
    let stream = fixture.stream("1");
    fixture.lag(&stream, 4).await;
    let engine = fixture.engine();
    let group = &fixture.group;
    let held = fixture.reserve_one(&stream, LONG).await;
    assert!(engine.advance(group, &held, 3, Some(LONG)).await.unwrap());
    let moved = engine.advance(group, &held, 1, Some(LONG)).await.unwrap();
    assert!(
        moved,
        "the holder's advance to an older position was refused"
    );
    engine.release(&[held.token], Duration::ZERO).await.unwrap();
    let held = fixture.reserve_one(&stream, LONG).await;
    assert_eq!(
        held.position, 3,
        "an advance to an older position moved the checkpoint back"
    );

    let older = failure(2, 1, "failed behind the checkpoint", Some(Duration::ZERO));
    engine.fail(group, &held, &older).await.unwrap();
    let held = fixture.reserve_one(&stream, LONG).await;
    assert_eq!(
        held.position, 3,
        "a failure at an older position moved the checkpoint back"
    );
    assert_eq!(
        held.attempts, 1,
        "the failure was recorded and its reservation released"
    );

    let lagging = fixture.complete(&held, 2).await;
    assert!(
        lagging,
        "a completion below the stream's version leaves it lagging"
    );
    let held = fixture.reserve_one(&stream, LONG).await;
    assert_eq!(
        held.position, 3,
        "a completion at an older position moved the checkpoint back"
    );
}

/// A failure of the message after `position`, on attempt `attempts`.
fn failure(position: i64, attempts: u32, error: &str, retry_in: Option<Duration>) -> Failure {
    Failure {
        position,
        attempts,
        error: error.to_owned(),
        retry_in,
    }
}

/// The failed checkpoints of the fixture's group.
async fn failed_in(fixture: &Fixture<'_>) -> Vec<CheckpointInfo> {
    let filter = CheckpointFilter::default()
        .group(&fixture.group)
        .status(CheckpointStatus::Failed);
    let failed = fixture.engine().checkpoints(&filter, None, 100).await;
    failed.expect("listing failed checkpoints")
}

/// An operator's action on a failed checkpoint.
#[derive(Debug, Clone, Copy)]
enum Action {
    Retry,
    Skip,
}

/// Runs an operator's action on the fixture's checkpoint of `stream`;
/// whether it was failed.
async fn operate(fixture: &Fixture<'_>, action: Action, stream: &str) -> bool {
    let (engine, group, subscription) = (fixture.engine(), &fixture.group, &fixture.subscription);
    let one = CheckpointFilter::one(group, subscription, stream);
    let done = match action {
        Action::Retry => engine.retry_failed(&one).await,
        Action::Skip => engine.skip_failed(&one).await,
    };
    let done = done.unwrap_or_else(|e| panic!("{action:?} of `{stream}`: {e}"));
    assert!(
        done <= 1,
        "{action:?} of one checkpoint, `{stream}`, took {done}"
    );
    done == 1
}
