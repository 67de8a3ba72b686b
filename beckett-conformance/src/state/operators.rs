//! Operators' actions: listings, the actions on every checkpoint a filter
//! matches, pause and reset.

use super::subscriptions::read_to_end;
use super::{at_the_end, Fixture, LONG};
use crate::support::unique;
use beckett_core::state::{
    CheckpointFilter, CheckpointKey, CheckpointStatus, Failure, MinuteStats, Raise, ResetOutcome,
    StartAt, Storage, SubscriptionInfo,
};
use beckett_core::GlobalCursor;
use chrono::{DurationRound, TimeDelta, Utc};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// Listings page through the checkpoints in key order and count them by
/// every condition of a filter; retry, skip and release act on every
/// checkpoint a filter matches, and on no other.
pub async fn operators_act_on_filters(storage: &Storage) {
    let mut fixture = Fixture::new(storage, "operators").await;
    let engine = fixture.engine();
    let group = fixture.group.clone();
    let [a1, a2, b1, held] = ["a-1", "a-2", "b-1", "held"].map(|s| fixture.stream(s));
    for (stream, error) in [
        (&a1, "handler timed out after 5s"),
        (&a2, "connection REFUSED"),
        (&b1, "Timed Out again"),
    ] {
        fixture.lag(stream, 2).await;
        let reservation = fixture.reserve_one(stream, LONG).await;
        let failure = Failure {
            position: 0,
            attempts: 3,
            error: error.to_owned(),
            retry_in: None,
        };
        engine.fail(&group, &reservation, &failure).await.unwrap();
    }
    fixture.lag(&held, 2).await;
    let holder = fixture.reserve_one(&held, LONG).await;

    let ours = CheckpointFilter::default().group(&group);
    let list = |filter: CheckpointFilter, after: Option<CheckpointKey>, limit| async move {
        let listed = engine.checkpoints(&filter, after.as_ref(), limit).await;
        let listed = listed.unwrap_or_else(|e| panic!("listing {filter:?}: {e}"));
        listed
    };
    let first = list(ours.clone(), None, 2).await;
    let names = |page: &[beckett_core::state::CheckpointInfo]| -> Vec<String> {
        page.iter().map(|c| c.stream.clone()).collect()
    };
    assert_eq!(
        names(&first),
        [a1.clone(), a2.clone()],
        "the first page of two"
    );
    let second = list(ours.clone(), Some(first[1].key()), 2).await;
    assert_eq!(
        names(&second),
        [b1.clone(), held.clone()],
        "the page after `{a2}`"
    );
    let past = list(ours.clone(), Some(second[1].key()), 2).await;
    assert!(
        past.is_empty(),
        "a page after the last checkpoint: {past:?}"
    );
    let reserved: Vec<bool> = first
        .iter()
        .chain(&second)
        .map(|c| c.reserved_until.is_some())
        .collect();
    assert_eq!(
        reserved,
        [false, false, false, true],
        "which checkpoints are listed reserved"
    );

    let prefix = format!("{}-a-", fixture.category);
    for (filter, expected) in [
        (ours.clone(), 4),
        (ours.clone().status(CheckpointStatus::Failed), 3),
        (ours.clone().status(CheckpointStatus::Active), 1),
        (ours.clone().status(CheckpointStatus::Retry), 0),
        (ours.clone().stream_prefix(&prefix), 2),
        (ours.clone().stream(&b1), 1),
        (ours.clone().error_containing("TIMED out"), 2),
        (ours.clone().reserved(true), 1),
        (ours.clone().reserved(false), 3),
        (ours.clone().subscription(&fixture.subscription), 4),
        (ours.clone().subscription(unique("other-")), 0),
        (CheckpointFilter::default().stream(&a2), 1),
    ] {
        let counted = engine.count_checkpoints(&filter).await.unwrap();
        assert_eq!(counted, expected, "checkpoints counted by {filter:?}");
        let listed = list(filter.clone(), None, 100).await;
        assert_eq!(
            listed.len() as u64,
            expected,
            "checkpoints listed by {filter:?}"
        );
        assert!(
            listed.iter().all(|c| filter.matches(c)),
            "{filter:?} listed {listed:?}"
        );
    }
    let info = subscription_info(&fixture).await;
    assert_eq!(
        (
            info.checkpoints,
            info.lagging,
            info.retrying,
            info.failed,
            info.reserved
        ),
        (4, 1, 0, 3, 1),
        "the subscription's checkpoints, lagging, retrying, failed and reserved"
    );
    assert_eq!(info.behind, 2, "positions behind, failed checkpoints aside");

    let released = engine.release_reserved(&ours.clone().stream(&held)).await;
    assert_eq!(
        released.unwrap(),
        1,
        "releasing the reservation of `{held}`"
    );
    let again = engine.release_reserved(&ours).await.unwrap();
    assert_eq!(again, 0, "released a checkpoint no process holds");
    fixture.complete(&holder, 2).await;
    let after_release = fixture.reserve_one(&held, LONG).await;
    assert_eq!(
        after_release.position, 0,
        "the released holder's completion moved the checkpoint"
    );
    fixture.complete(&after_release, 2).await;

    let retried = engine
        .retry_failed(&ours.clone().error_containing("refused"))
        .await;
    assert_eq!(
        retried.unwrap(),
        1,
        "retrying the failed checkpoint refused"
    );
    let retry = fixture.reserve_one(&a2, LONG).await;
    assert_eq!(
        (retry.position, retry.attempts),
        (0, 0),
        "a retried checkpoint, at its failing message with no attempts"
    );
    fixture.complete(&retry, 2).await;
    let none = engine.retry_failed(&ours.clone().stream(&a2)).await;
    assert_eq!(none.unwrap(), 0, "retried a checkpoint that is not failed");

    let skipped = engine
        .skip_failed(&ours.clone().stream_prefix(&prefix))
        .await;
    assert_eq!(
        skipped.unwrap(),
        1,
        "skipping the failed checkpoints of `{prefix}`"
    );
    let rest = engine
        .skip_failed(&ours.clone().status(CheckpointStatus::Failed))
        .await;
    assert_eq!(rest.unwrap(), 1, "skipping every failed checkpoint left");
    let failed = ours.clone().status(CheckpointStatus::Failed);
    assert_eq!(engine.count_checkpoints(&failed).await.unwrap(), 0);
    let positions: BTreeMap<String, i64> = fixture
        .reserve(LONG)
        .await
        .into_iter()
        .map(|r| (r.reservation.stream, r.reservation.position))
        .collect();
    assert_eq!(
        positions,
        BTreeMap::from([(a1, 1), (b1, 1)]),
        "the skipped checkpoints reserved, past their failing messages"
    );
}

/// A paused subscription's checkpoints are neither reserved nor taken by
/// the leader, and a batch under way is let go of at its next advance; a
/// reset waits for no process to hold a checkpoint, then starts the
/// subscription over, under a new registration, from the start, the end
/// or a place.
pub async fn pause_and_reset(storage: &Storage) {
    let mut fixture = Fixture::new(storage, "pause").await;
    let engine = fixture.engine();
    let (group, name) = (fixture.group.clone(), fixture.subscription.clone());
    let [one, two, three] = ["1", "2", "3"].map(|s| fixture.stream(s));
    fixture.lag(&one, 3).await;
    let (group, name) = (&group, &name);
    let pause = |paused| async move {
        let found = engine.set_paused(group, name, paused).await;
        found.unwrap_or_else(|e| panic!("pausing ({paused}): {e}"))
    };
    assert!(pause(true).await, "pausing a registered subscription");
    assert!(
        !engine
            .set_paused(&fixture.group, "nobody", true)
            .await
            .unwrap(),
        "pausing a subscription never registered"
    );
    assert!(subscription_info(&fixture).await.paused, "listed paused");
    fixture.reserve_none("the subscription is paused").await;
    fixture.append(&two, 2).await;
    let offered = Uuid::now_v7();
    let taken = fixture.raise(&[(&two, 2, Some(offered))]).await;
    assert!(
        taken.is_empty(),
        "the leader took a paused subscription's new checkpoint"
    );
    assert!(pause(false).await, "resuming");
    let reserved: BTreeMap<String, _> = fixture
        .reserve(LONG)
        .await
        .into_iter()
        .map(|r| (r.reservation.stream.clone(), r.reservation))
        .collect();
    assert_eq!(reserved.len(), 2, "both streams reserved once resumed");
    assert!(pause(true).await);
    let kept = engine
        .advance(&fixture.group, &reserved[&one], 1, Some(LONG))
        .await
        .unwrap();
    assert!(!kept, "a paused subscription's reservation was kept");
    assert!(pause(false).await);
    let resumed = fixture.reserve_one(&one, LONG).await;
    assert_eq!(
        resumed.position, 1,
        "the checkpoint let go of at the advance"
    );

    let reset = |to: StartAt| async move {
        let outcome = engine.reset(group, name, &to).await;
        outcome.unwrap_or_else(|e| panic!("resetting to {to:?}: {e}"))
    };
    assert_eq!(
        reset(StartAt::First).await,
        ResetOutcome::Reserved(2),
        "a reset while processes hold two checkpoints"
    );
    let tokens = [reserved[&two].token, resumed.token];
    engine.release(&tokens, Duration::ZERO).await.unwrap();
    let before = subscription_info(&fixture).await;
    assert_eq!(reset(StartAt::First).await, ResetOutcome::Done);
    let after = subscription_info(&fixture).await;
    assert_ne!(
        after.registration, before.registration,
        "a reset subscription keeps its registration"
    );
    assert_eq!(after.cursor, GlobalCursor::START, "reset to the start");
    assert_eq!(after.checkpoints, 0, "checkpoints left after a reset");
    let stale = Raise {
        subscription: &fixture.subscription,
        registration: before.registration,
        stream: &one,
        version: 3,
        first: 1,
        take: None,
    };
    fixture.leader.record(&[stale], &[], LONG).await.unwrap();
    assert_eq!(
        subscription_info(&fixture).await.checkpoints,
        0,
        "a raise for the registration before the reset made a checkpoint"
    );

    let end = at_the_end(storage).await;
    assert_eq!(reset(end).await, ResetOutcome::Done);
    let messages = &**storage.messages();
    let from_end = subscription_info(&fixture).await.cursor;
    let (_, reread) = read_to_end(messages, &from_end, &fixture.category).await;
    assert!(
        reread.is_empty(),
        "reset to the end, the subscription reads again {reread:?}"
    );

    let sent = fixture.append(&three, 3).await;
    let stream = messages.read_stream(&three, 1, 10).await.unwrap();
    let second = GlobalCursor::after(&stream[1]);
    assert_eq!(reset(StartAt::After(second)).await, ResetOutcome::Done);
    let from_place = subscription_info(&fixture).await.cursor;
    let (_, reread) = read_to_end(messages, &from_place, &fixture.category).await;
    assert_eq!(
        reread,
        sent[2..],
        "reset after the second message of `{three}`, the subscription reads"
    );
    let unknown = engine
        .reset(&fixture.group, "nobody", &StartAt::First)
        .await;
    assert_eq!(unknown.unwrap(), ResetOutcome::Unregistered);
}

/// The fixture's subscription as operators list it.
async fn subscription_info(fixture: &Fixture<'_>) -> SubscriptionInfo {
    let listed = fixture.engine().subscriptions(Some(&fixture.group)).await;
    let listed = listed.expect("listing subscriptions");
    let info = listed.into_iter().find(|s| s.name == fixture.subscription);
    info.unwrap_or_else(|| panic!("`{}` is listed", fixture.subscription))
}

/// Minutes recorded by several processes add up: handled and failed
/// counts are summed, the longest lag is kept, and each subscription's
/// minutes are read back in order of minute from the one asked for. A
/// minute more than a day old is forgotten once more minutes come.
pub async fn minutes_add_up(storage: &Storage) {
    let state = storage.engine();
    let group = unique("Minutes");
    let now = Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap();
    let minute = |subscription: &str, ago: TimeDelta, counts: [u64; 3]| MinuteStats {
        group: group.clone(),
        subscription: subscription.to_owned(),
        minute: now - ago,
        handled: counts[0],
        failed: counts[1],
        max_lag_ms: counts[2],
    };
    let (one, two) = (TimeDelta::minutes(1), TimeDelta::minutes(2));
    let old = minute("a", TimeDelta::days(2), [1, 0, 1]);
    let first = [
        minute("a", one, [2, 0, 50]),
        minute("b", one, [1, 1, 7]),
        old,
    ];
    state.record_minutes(&first).await.unwrap();
    let second = [
        minute("a", one, [3, 1, 20]),
        minute("a", TimeDelta::zero(), [4, 0, 9]),
    ];
    state.record_minutes(&second).await.unwrap();
    let read = state.minutes(now - two).await.unwrap();
    let ours: Vec<_> = read.into_iter().filter(|m| m.group == group).collect();
    let expected = [
        minute("a", one, [5, 1, 50]),
        minute("b", one, [1, 1, 7]),
        minute("a", TimeDelta::zero(), [4, 0, 9]),
    ];
    assert_eq!(ours, expected, "the minutes of `{group}`");
    let since_old = state.minutes(now - TimeDelta::days(3)).await.unwrap();
    let forgotten = since_old
        .iter()
        .all(|m| m.group != group || m.minute > now - two);
    assert!(forgotten, "a minute two days old is kept: {since_old:?}");
}
