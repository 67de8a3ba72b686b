//! The checks every beckett storage backend must pass.
//!
//! The engine reaches storage only through two traits:
//! [`MessageStorage`](beckett_core::MessageStorage), the message store, and
//! [`EngineStorage`](beckett_core::state::EngineStorage), the engine's own
//! state. Their documentation makes promises (appends never leave a gap, the
//! global order never skips, reservations exclude each other, a scheduled
//! message is appended once, ...); this crate turns each promise into a
//! check that panics, naming what went wrong, when a backend breaks it.
//!
//! - [`messages`] holds the checks of a message store, each an
//!   `async fn(&Arc<S>)` for any `S: MessageStorage`.
//! - [`state`] holds the checks of an engine state store, each an
//!   `async fn(&Storage)`: the state store with the message store it runs
//!   beside, since checkpoints follow streams of that store.
//!
//! # Using the suite
//!
//! A backend runs the suite from a test file of its own.
//! [`message_store_tests!`] and [`state_store_tests!`] take a test
//! attribute and a constructor of the store, and write one test per check,
//! each on a store of its own; the constructor's name names the module the
//! tests go in:
//!
//! ```rust,ignore
//! beckett_conformance::message_store_tests! {
//!     #[sqlx::test(migrations = false)]
//!     async fn messages(pool: sqlx::PgPool) -> beckett_postgres::PostgresStore {
//!         beckett_postgres::migrate(&pool).await.unwrap();
//!         beckett_postgres::PostgresStore::new(pool)
//!     }
//! }
//!
//! beckett_conformance::state_store_tests! {
//!     #[sqlx::test(migrations = false)]
//!     async fn state(pool: sqlx::PgPool) -> beckett_core::state::Storage {
//!         beckett_postgres::migrate(&pool).await.unwrap();
//!         let store = std::sync::Arc::new(beckett_postgres::PostgresStore::new(pool));
//!         beckett_core::state::Storage::together(store)
//!     }
//! }
//! ```
//!
//! This gives tests such as `messages::expected_versions` and
//! `state::reservations_exclude_each_other`. A backend without a database
//! per test uses `#[tokio::test]` and a constructor without parameters.
//!
//! The checks can also be called one by one, for a backend that runs only
//! some of them or wants its own test names:
//!
//! ```rust,ignore
//! #[tokio::test]
//! async fn appends_check_expected_versions() {
//!     let store = std::sync::Arc::new(MyStore::open().await);
//!     beckett_conformance::messages::expected_versions(&store).await;
//! }
//! ```
//!
//! # What the checks assume
//!
//! Every check names its streams, groups and subscriptions uniquely, and
//! reads what it cannot make its own (the global order, wake-ups)
//! tolerantly, passing over other streams' messages: checks may share one
//! store and run at once. The exceptions are the checks of scheduled
//! messages (such as [`state::scheduled_once`]), which read the whole schedule:
//! nothing else may schedule or deliver messages in their store while they
//! run. The macros give each check a store of its own anyway.
//!
//! A state store beside a message store elsewhere
//! ([`Storage::beside`](beckett_core::state::Storage::beside)) runs the
//! same checks: they ask of it what the engine asks in that case.
//!
//! Each check runs for a few seconds; the concurrent ones start up to a
//! dozen tokio tasks, so the store should allow that many operations in
//! flight (they may queue for connections, at the cost of less contention
//! tested).
#![deny(missing_docs)]

pub mod messages;
pub mod state;
mod support;

use std::future::Future;
use std::time::Duration;

/// How long a check may run before its test fails: far more than any
/// check takes, so that only a store that hangs reaches it.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a check, failing it if it hangs. Not a public API: the tests the
/// macros write call it.
#[doc(hidden)]
pub async fn __bounded(check: &str, run: impl Future<Output = ()>) {
    if tokio::time::timeout(CHECK_TIMEOUT, run).await.is_err() {
        panic!("the check `{check}` did not finish within {CHECK_TIMEOUT:?}: the store hangs");
    }
}

/// Writes one test per check of [`messages`], each on a store the given
/// constructor makes.
///
/// The constructor is an `async fn` whose attributes (the test attribute,
/// such as `#[tokio::test]` or `#[sqlx::test(...)]`) every test gets, whose
/// parameters every test takes (what the test attribute provides, such as a
/// pool), and whose body makes the store. Its name names the module that
/// holds the tests; its return type is the store's, which must implement
/// [`MessageStorage`](beckett_core::MessageStorage).
///
/// ```rust,ignore
/// beckett_conformance::message_store_tests! {
///     #[sqlx::test(migrations = false)]
///     async fn messages(pool: sqlx::PgPool) -> beckett_postgres::PostgresStore {
///         beckett_postgres::migrate(&pool).await.unwrap();
///         beckett_postgres::PostgresStore::new(pool)
///     }
/// }
/// ```
///
/// expands to a module `messages` holding, for each check,
///
/// ```rust,ignore
/// #[sqlx::test(migrations = false)]
/// async fn expected_versions(pool: sqlx::PgPool) {
///     let store: beckett_postgres::PostgresStore = async move { /* the body */ }.await;
///     beckett_conformance::messages::expected_versions(&std::sync::Arc::new(store)).await;
/// }
/// ```
///
/// (each check bounded by a timeout of a minute, which only a store that
/// hangs reaches; the runtime must have tokio's timers enabled, as
/// `#[tokio::test]`'s and `#[sqlx::test]`'s have).
#[macro_export]
macro_rules! message_store_tests {
    (
        $(#[$attr:meta])*
        async fn $suite:ident $params:tt -> $store:ty $body:block
    ) => {
        $crate::__suite! {
            messages [
                expected_versions,
                empty_appends_only_check,
                mismatches_write_nothing,
                concurrent_appends_leave_no_gap,
                racing_exact_appends_have_one_winner,
                global_order_never_skips_nor_repeats,
                read_stream_from_and_limit,
                last_message,
                message_by_id,
                categories_and_their_streams,
                searches_newest_first,
                searches_page_through_the_whole_order,
                duplicate_ids_are_refused,
                head_is_past_every_message,
                invalid_names_are_refused,
            ]
            $suite [$(#[$attr])*] $params $store $body
        }
    };
}

/// Writes one test per check of [`state`], each on the
/// [`Storage`](beckett_core::state::Storage) the given constructor makes.
///
/// The constructor is written as for [`message_store_tests!`], and returns
/// a `Storage`: the engine state store under test, with the message store
/// it runs beside.
///
/// ```rust,ignore
/// beckett_conformance::state_store_tests! {
///     #[sqlx::test(migrations = false)]
///     async fn state(pool: sqlx::PgPool) -> beckett_core::state::Storage {
///         beckett_postgres::migrate(&pool).await.unwrap();
///         let store = std::sync::Arc::new(beckett_postgres::PostgresStore::new(pool));
///         beckett_core::state::Storage::together(store)
///     }
/// }
/// ```
///
/// expands to a module `state` holding, for each check,
///
/// ```rust,ignore
/// #[sqlx::test(migrations = false)]
/// async fn leadership(pool: sqlx::PgPool) {
///     let storage: beckett_core::state::Storage = async move { /* the body */ }.await;
///     beckett_conformance::state::leadership(&storage).await;
/// }
/// ```
///
/// (each check bounded by a timeout, as with [`message_store_tests!`]).
#[macro_export]
macro_rules! state_store_tests {
    (
        $(#[$attr:meta])*
        async fn $suite:ident $params:tt -> $storage:ty $body:block
    ) => {
        $crate::__suite! {
            state [
                leadership,
                subscriptions,
                from_the_end_checkpoints_start_after_the_start,
                reservations_exclude_each_other,
                created_checkpoints_are_taken,
                tokens,
                checkpoints_never_move_back,
                reservations_expire,
                retries_and_failures,
                operators_act_on_filters,
                pause_and_reset,
                minutes_add_up,
                scheduled_once,
                scheduled_in_due_order,
                scheduled_listed_and_delivered_now,
                scheduled_races,
                taken_for_elsewhere,
                recurring_jobs,
                wakeups,
                transactions,
                transactions_in_the_global_order,
            ]
            $suite [$(#[$attr])*] $params $storage $body
        }
    };
}

/// The module of a suite's tests. Not a public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite {
    (
        $kind:ident [$($check:ident),* $(,)?]
        $suite:ident $attrs:tt $params:tt $store:ty $body:block
    ) => {
        mod $suite {
            #[allow(unused_imports)]
            use super::*;

            $($crate::__check! { $kind $check $attrs $params $store $body })*
        }
    };
}

/// One test of a suite. Not a public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __check {
    (
        messages $check:ident [$(#[$attr:meta])*]
        ($($param:ident : $ty:ty),* $(,)?) $store:ty $body:block
    ) => {
        $(#[$attr])*
        async fn $check($($param: $ty),*) {
            let store: $store = async move $body.await;
            let store = ::std::sync::Arc::new(store);
            $crate::__bounded(stringify!($check), $crate::messages::$check(&store)).await;
        }
    };
    (
        state $check:ident [$(#[$attr:meta])*]
        ($($param:ident : $ty:ty),* $(,)?) $storage:ty $body:block
    ) => {
        $(#[$attr])*
        async fn $check($($param: $ty),*) {
            let storage: $storage = async move $body.await;
            $crate::__bounded(stringify!($check), $crate::state::$check(&storage)).await;
        }
    };
}
