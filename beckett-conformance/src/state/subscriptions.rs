//! Leadership of a group, and its subscriptions' registrations and cursors.

use super::{at_the_end, lead, LONG};
use crate::support::{accepted, eventually, pings, read_on, unique, PING};
use beckett_core::state::{Cursor, Leadership, Raise, Registered, StartAt, Storage};
use beckett_core::store::{Pending, Place};
use beckett_core::subscription::Selection;
use beckett_core::{ExpectedVersion, GlobalCursor, MessageStorage};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// How long a lead may outlive its dropped [`Leadership`]: the time a
/// store takes to see that a process let go.
const HAND_OVER: Duration = Duration::from_secs(5);

/// One process at a time leads a group: a second `lead` is `None` while
/// the first [`Leadership`] lives, another group is led independently,
/// and once the leadership is dropped the group can be led again (within a
/// few seconds), exclusively again.
pub async fn leadership(storage: &Storage) {
    let engine = &**storage.engine();
    let group = unique("leadership-");
    let first = lead(engine, &group).await;
    for attempt in 1..=2 {
        let second = engine.lead(&group).await.expect("trying to lead");
        assert!(
            second.is_none(),
            "attempt {attempt} to lead `{group}` succeeded while another leadership lives"
        );
    }
    let other = lead(engine, &unique("leadership-")).await;

    drop(first);
    let what = format!("leading `{group}` again once its leadership was dropped");
    let again = eventually(&what, HAND_OVER, || async {
        engine.lead(&group).await.expect("trying to lead")
    })
    .await;
    let third = engine.lead(&group).await.expect("trying to lead");
    assert!(
        third.is_none(),
        "`{group}` was led twice once its first leadership was handed over"
    );
    drop((again, other));
}

/// Registering records a subscription once, with its selection and a
/// cursor at the start (or, `from_end`, past every message committed
/// before); registering again changes neither its cursor nor its
/// registration, which anyone reads as the leader does. The leader moves
/// cursors, of the current registration only, and raises checkpoints,
/// whose lag `undeclared` counts. Removing a subscription takes its
/// checkpoints; registered again, it starts over.
pub async fn subscriptions(storage: &Storage) {
    let (engine, messages) = (&**storage.engine(), &**storage.messages());
    let group = unique("subscriptions-");
    let category = unique("Subscriptions");
    let selection = |types: &[&str]| Selection {
        types: types.iter().map(|t| (*t).to_owned()).collect(),
        category: Some(category.clone()),
        stream: None,
    };
    let register = |name: &'static str, from_end: bool, types: &'static [&'static str]| {
        let (group, selection) = (&group, selection(types));
        async move {
            let start = match from_end {
                true => at_the_end(storage).await,
                false => StartAt::First,
            };
            engine
                .register(group, name, &start, &selection)
                .await
                .unwrap_or_else(|e| panic!("registering `{name}`: {e}"));
        }
    };
    register("a", false, &[PING]).await;
    register("b", false, &[]).await;
    let mut leader = lead(engine, &group).await;
    let registered = by_name(&mut *leader).await;
    assert_eq!(
        registered.keys().collect::<Vec<_>>(),
        ["a", "b"],
        "the subscriptions registered in `{group}`"
    );
    for (name, types) in [("a", &[PING][..]), ("b", &[])] {
        let subscription = &registered[name];
        assert_eq!(
            subscription.cursor,
            GlobalCursor::START,
            "`{name}`, registered from the start, is at the start"
        );
        if let Some(known) = &subscription.selection {
            assert_eq!(known, &selection(types), "what `{name}` selects");
        }
    }

    let stream = format!("{category}-1");
    accepted(messages, &stream, ExpectedVersion::Any, pings(2)).await;
    let (moved, _) = read_to_end(messages, &GlobalCursor::START, &category).await;
    let a = registered["a"].registration;
    let cursor = |subscription, registration, cursor| Cursor {
        subscription,
        registration,
        cursor,
    };
    leader
        .record(&[], &[cursor("a", a, &moved)], LONG)
        .await
        .expect("moving a cursor");
    register("a", false, &[PING]).await;
    let now = by_name(&mut *leader).await;
    assert_eq!(now["a"].cursor, moved, "the cursor the leader moved `a` to");
    assert_eq!(
        now["a"].registration, a,
        "registering `a` again keeps its registration"
    );
    assert_eq!(now["b"].cursor, GlobalCursor::START, "`b` was not moved");
    let seen = engine
        .registered(&group)
        .await
        .expect("reading registrations");
    let seen: BTreeMap<String, (i64, GlobalCursor)> = seen
        .into_iter()
        .map(|r| (r.name, (r.registration, r.cursor)))
        .collect();
    let led: BTreeMap<String, (i64, GlobalCursor)> = now
        .into_iter()
        .map(|(name, r)| (name, (r.registration, r.cursor)))
        .collect();
    assert_eq!(
        seen, led,
        "the registrations as anyone reads them, and as the leader does"
    );

    register("late", true, &[]).await;
    let late = by_name(&mut *leader).await["late"].cursor.clone();
    let (_, before) = read_to_end(messages, &late, &category).await;
    assert!(
        before.is_empty(),
        "`late`, registered from the end, starts before {before:?}, committed before it"
    );
    let newer = accepted(messages, &stream, ExpectedVersion::Any, pings(1)).await;
    let (_, after) = read_to_end(messages, &late, &category).await;
    assert_eq!(
        after.len(),
        1,
        "`late` reads the message appended after it registered ({newer:?}), once"
    );

    let raise = Raise {
        subscription: "b",
        registration: registered["b"].registration,
        stream: &stream,
        version: 3,
        first: 1,
        take: None,
    };
    leader.record(&[raise], &[], LONG).await.expect("raising");
    assert_undeclared(engine, &group, &["a"], &[("b", 1), ("late", 0)]).await;

    let b = registered["b"].registration;
    let removed = engine.remove(&group, "b").await.expect("removing");
    assert_eq!(removed, Some(1), "removing `b` removes its one checkpoint");
    let again = engine.remove(&group, "b").await.expect("removing");
    assert_eq!(again, None, "`b` was removed already");
    register("b", false, &[]).await;
    leader
        .record(&[], &[cursor("b", b, &moved)], LONG)
        .await
        .expect("moving a stale cursor");
    let renewed = &by_name(&mut *leader).await["b"];
    assert_ne!(
        renewed.registration, b,
        "`b` registered again is a new registration"
    );
    assert_eq!(
        renewed.cursor,
        GlobalCursor::START,
        "`b` registered again starts over, and the cursor of its removed registration does not \
         move it"
    );
    let stale = Raise {
        subscription: "b",
        registration: b,
        stream: &stream,
        version: 3,
        first: 1,
        take: None,
    };
    leader
        .record(&[stale], &[], LONG)
        .await
        .expect("raising for a stale registration");
    assert_undeclared(engine, &group, &["a", "late"], &[("b", 0)]).await;

    // The cursor is opaque: one owing transactions, as a reader of
    // Postgres keeps it, comes back as it went.
    register("owes", false, &[]).await;
    let owes = by_name(&mut *leader).await["owes"].registration;
    let frontier = Place {
        transaction_id: 9,
        global_position: 40,
    };
    let owed = [(4, 0), (7, 31)].map(|(transaction_id, after)| Pending {
        transaction_id,
        after,
    });
    let owing = GlobalCursor::new(frontier, owed.to_vec());
    leader
        .record(&[], &[cursor("owes", owes, &owing)], LONG)
        .await
        .expect("moving a cursor that owes");
    let kept = &by_name(&mut *leader).await["owes"].cursor;
    assert_eq!(kept, &owing, "a cursor owing transactions, as kept");
}

/// The group's subscriptions as its leader reads them, by name.
async fn by_name(leader: &mut dyn Leadership) -> BTreeMap<String, Registered> {
    let registered = leader.registered().await.expect("reading registrations");
    registered
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect()
}

/// Reads the global order from `from` to its end; returns the cursor past
/// it and the ids of the messages of `category` read.
pub(super) async fn read_to_end<S: MessageStorage + ?Sized>(
    store: &S,
    from: &GlobalCursor,
    category: &str,
) -> (GlobalCursor, Vec<Uuid>) {
    let mut cursor = from.clone();
    let ours = read_on(store, &mut cursor, 1_000, category).await;
    (cursor, ours.into_iter().map(|m| m.id).collect())
}

/// Asserts what `undeclared` reports of `group` besides `declared`.
async fn assert_undeclared(
    engine: &dyn beckett_core::state::EngineStorage,
    group: &str,
    declared: &[&str],
    expected: &[(&str, i64)],
) {
    let mut undeclared = engine
        .undeclared(group, declared)
        .await
        .expect("listing undeclared subscriptions");
    undeclared.sort();
    let expected: Vec<(String, i64)> = expected
        .iter()
        .map(|(name, lag)| ((*name).to_owned(), *lag))
        .collect();
    assert_eq!(
        undeclared, expected,
        "the subscriptions of `{group}` besides {declared:?}, with their lagging checkpoints"
    );
}

/// A subscription that starts at the end creates a stream's checkpoint
/// just before the first message read after its start: a stream written
/// before the start resumes after what it held then, and a stream new
/// since starts at its beginning.
pub async fn from_the_end_checkpoints_start_after_the_start(storage: &Storage) {
    let (engine, messages) = (&**storage.engine(), &**storage.messages());
    let group = unique("late-");
    let (old, new) = (unique("Late-old"), unique("Late-new"));
    accepted(messages, &old, ExpectedVersion::NoStream, pings(3)).await;
    let everything = Selection {
        types: Vec::new(),
        category: None,
        stream: None,
    };
    let end = at_the_end(storage).await;
    let registered = engine.register(&group, "late", &end, &everything).await;
    registered.expect("registering from the end");
    let mut leader = lead(engine, &group).await;
    accepted(messages, &old, ExpectedVersion::Exact(3), pings(2)).await;
    accepted(messages, &new, ExpectedVersion::NoStream, pings(2)).await;
    let late = by_name(&mut *leader).await["late"].registration;
    let raise = |stream, version, first| Raise {
        subscription: "late",
        registration: late,
        stream,
        version,
        first,
        take: None,
    };
    let raises = [raise(&old, 5, 4), raise(&new, 2, 1)];
    leader.record(&raises, &[], LONG).await.expect("raising");
    let reserved = engine.reserve(&group, &["late"], 10, 0, LONG).await;
    let positions: BTreeMap<String, i64> = reserved
        .expect("reserving")
        .into_iter()
        .map(|r| (r.reservation.stream, r.reservation.position))
        .collect();
    assert_eq!(
        positions.get(&old),
        Some(&3),
        "the checkpoint of a stream that held 3 messages at the start"
    );
    assert_eq!(
        positions.get(&new),
        Some(&0),
        "the checkpoint of a stream new since the start"
    );
}
