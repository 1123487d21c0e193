//! The backend test kit: the contract of [`Storage`](crate::Storage),
//! [`Permission`](crate::Permission) and [`Cache`](crate::Cache) as one
//! suite that every backend crate runs (feature `testkit`).
//!
//! A backend provides a *factory*: an async expression giving fresh,
//! empty [`Backends`] (or `None` when the backend is not configured, e.g.
//! no database URL: the cases then print that they were skipped and pass).
//! Each case calls the factory once, so a database backend can isolate every
//! case in a schema of its own.
//!
//! # One test per case
//!
//! In the backend crate's `tests/kit.rs` (with `tokio` as a dev-dependency,
//! features `macros` and `rt-multi-thread`):
//!
//! ```ignore
//! cliquet_storage::backend_test_kit!(async { cliquet_memory::backends() });
//! ```
//!
//! This expands into one `#[tokio::test]` per case (multi-threaded runtime,
//! 4 workers), named after the case, so `cargo test` shows each and a
//! failure names the broken rule. It also expands a test checking that the
//! list of cases it knows is the kit's whole list.
//!
//! # One call
//!
//! [`run_all`] runs every case in turn and panics at the end listing the
//! cases that failed:
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread")]
//! async fn contract() {
//!     cliquet_storage::testkit::run_all(|| async { cliquet_memory::backends() }).await;
//! }
//! ```
//!
//! # What the cases check
//!
//! See [`CASES`]: storage semantics (create, get, update, delete, tombstones,
//! unicity, conditional writes, timestamps, purge, `delete_all`, parent id
//! wildcards), every filter operator and sort, pagination that stays
//! stable while objects are inserted during the walk, `_since` with
//! tombstones, transactions (commit, rollback, isolation), concurrency
//! (8 writers × 500 creates giving 4,000 distinct increasing timestamps, 16
//! concurrent conditional increments losing none, a `_since` poller seeing
//! every object 8 writers create), permissions (ACEs, user principals,
//! patterns, an application inheritance tree), the cache (TTL, expiry), and
//! a property test comparing random lists with `cliquet-filter`'s evaluator.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;

use crate::Backends;

mod cache_cases;
mod concurrency_cases;
mod list_cases;
mod permission_cases;
mod property_cases;
mod storage_cases;
mod support;
mod transaction_cases;

pub use support::KintoTree;

/// What a factory may give: [`Backends`], or `Option<Backends>` (`None`
/// skips the case).
pub trait IntoBackends {
    /// The backends, or `None` to skip.
    fn into_backends(self) -> Option<Backends>;
}

impl IntoBackends for Backends {
    fn into_backends(self) -> Option<Backends> {
        Some(self)
    }
}

impl IntoBackends for Option<Backends> {
    fn into_backends(self) -> Option<Backends> {
        self
    }
}

/// One case of the contract.
#[derive(Clone, Copy)]
pub struct Case {
    /// Its name: the test's name.
    pub name: &'static str,
    /// What it checks.
    pub description: &'static str,
    run: fn(Backends) -> LocalBoxFuture<'static, ()>,
}

impl Case {
    /// Runs the case against `backends` (it panics when the contract is
    /// broken).
    pub fn run(&self, backends: Backends) -> LocalBoxFuture<'static, ()> {
        (self.run)(backends)
    }
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("name", &self.name).finish()
    }
}

macro_rules! cases {
    ($($module:ident :: $name:ident => $description:literal,)*) => {
        /// Every case of the kit, in order.
        pub const CASES: &[Case] = &[
            $(Case {
                name: stringify!($name),
                description: $description,
                run: |backends| Box::pin($module::$name(backends)),
            },)*
        ];
    };
}

cases! {
    storage_cases::create_returns_the_stored_object => "create assigns a timestamp and get returns the same object",
    storage_cases::create_strips_reserved_fields => "id and last_modified inside data are not stored as data",
    storage_cases::create_existing_id_is_a_conflict => "create with the id of a live object fails with Conflict carrying it",
    storage_cases::create_replaces_a_tombstone => "create with the id of a tombstone succeeds",
    storage_cases::get_missing_is_not_found => "get of a missing or deleted object is NotFound",
    storage_cases::collections_are_isolated => "objects of other parents and resources are invisible",
    storage_cases::update_creates_then_replaces => "update is an upsert returning the previous object",
    storage_cases::update_if_match => "update with if_match writes only over that timestamp",
    storage_cases::delete_leaves_a_tombstone => "delete returns the tombstone and the collection timestamp becomes its",
    storage_cases::delete_missing_is_not_found => "delete of a missing object or a tombstone is NotFound",
    storage_cases::delete_if_match => "delete with if_match deletes only that version",
    storage_cases::delete_without_tombstone => "delete with with_deleted false leaves no trace",
    storage_cases::delete_all_deletes_matching => "delete_all deletes the matching objects, each with its own timestamp",
    storage_cases::delete_all_limit_and_order => "delete_all honours sort and limit",
    storage_cases::timestamps_strictly_increase => "every write gets a timestamp greater than the previous",
    storage_cases::requested_timestamps => "a requested future timestamp is kept, a past one is replaced",
    storage_cases::delete_requested_timestamp => "a tombstone takes a requested future timestamp",
    storage_cases::resource_timestamp_of_empty_collection => "an empty collection's timestamp is stored and stays the same",
    storage_cases::resource_timestamp_follows_writes => "the collection timestamp is the latest write's",
    storage_cases::list_as_of_agrees_with_the_timestamp => "a list as of the timestamp shows the objects up to it",
    storage_cases::all_resources_timestamps => "the timestamps of every parent of a resource",
    storage_cases::purge_deleted => "purge removes tombstones, before a timestamp or beyond a number kept",
    storage_cases::trim_objects_keeps_the_newest => "trim keeps the newest matching objects and removes the others",
    storage_cases::parent_id_wildcards => "list, count and delete_all accept * in parent ids",
    storage_cases::flush_empties_everything => "flush removes objects, tombstones and timestamps",
    storage_cases::healthcheck => "healthcheck answers",
    list_cases::filters_every_operator => "each filter operator selects what the evaluator selects",
    list_cases::filters_on_id_and_last_modified => "filters on id and last_modified",
    list_cases::filters_mixed_types_and_missing_fields => "filters over mixed types and missing fields follow JSONB order",
    list_cases::sorts => "sorting on one and several fields, nested fields, mixed types",
    list_cases::limit => "limit returns the first objects",
    list_cases::count_matches_list => "count agrees with list and ignores limit",
    list_cases::tombstones_only_when_asked => "lists include tombstones only with include_deleted",
    list_cases::since_returns_changes_and_tombstones => "a _since query returns changes and tombstones after a timestamp",
    list_cases::pagination_walks_everything => "walking pages with tokens returns every object once",
    list_cases::pagination_stable_under_inserts => "pages walked while objects are inserted return every original object once",
    transaction_cases::commit_makes_writes_visible => "a transaction's writes are visible to others after commit",
    transaction_cases::rollback_discards_writes => "a rolled back transaction leaves no object, tombstone or ACE",
    transaction_cases::drop_rolls_back => "a transaction dropped without commit is rolled back",
    transaction_cases::reads_see_own_writes => "a transaction reads its own writes, others do not",
    transaction_cases::conflicts_inside_transactions => "errors inside a transaction leave it usable",
    concurrency_cases::concurrent_creates_get_distinct_timestamps => "8 tasks × 500 creates give 4,000 distinct strictly increasing timestamps",
    concurrency_cases::concurrent_conditional_increments => "16 concurrent read-modify-conditional-write increments lose none",
    concurrency_cases::since_poller_sees_every_object => "a _since poller sees every object created by 8 concurrent writers",
    concurrency_cases::concurrent_creates_same_id => "of concurrent creates with one id, exactly one succeeds",
    concurrency_cases::concurrent_transactions => "concurrent transactions commit or roll back as wholes",
    permission_cases::ace_add_remove => "adding and removing principals of an ACE",
    permission_cases::user_principals => "user principals, including those of system.Authenticated",
    permission_cases::object_permissions => "ACLs of one and several objects, restricted to some permissions",
    permission_cases::replace_object_permissions => "replacing some ACEs of an object",
    permission_cases::delete_object_permissions_with_patterns => "deleting ACLs by id and by pattern",
    permission_cases::authorized_principals_and_check => "authorized principals and checks over bound permissions",
    permission_cases::accessible_objects_with_patterns => "accessible objects by principal, with patterns and with_children",
    permission_cases::inheritance_tree => "permissions through an application's inheritance tree",
    permission_cases::flush_permissions => "flush removes ACEs and user principals",
    cache_cases::set_get_delete => "set, get, delete, overwrite",
    cache_cases::ttl_and_expiry => "keys expire after their TTL; ttl and expire",
    cache_cases::flush_cache => "flush removes every key",
    property_cases::lists_agree_with_the_evaluator => "random objects and queries: the backend answers as cliquet-filter's evaluator",
}

/// Runs the case named `name` with backends from `factory`; prints that it
/// was skipped when the factory gives none. Used by [`backend_test_kit!`].
///
/// # Panics
///
/// When the case fails, or when no case has that name.
///
/// [`backend_test_kit!`]: crate::backend_test_kit
pub async fn run_case<B: IntoBackends>(name: &str, factory: impl Future<Output = B>) {
    let case = CASES
        .iter()
        .find(|case| case.name == name)
        .unwrap_or_else(|| panic!("no test kit case named {name}"));
    match factory.await.into_backends() {
        Some(backends) => case.run(backends).await,
        None => eprintln!("skipped {name}: the backend is not configured"),
    }
}

/// Runs every case, each with fresh backends from `factory`, and panics at
/// the end naming the cases that failed.
pub async fn run_all<F, Fut, B>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = B>,
    B: IntoBackends,
{
    let mut failed = Vec::new();
    for case in CASES {
        let Some(backends) = factory().await.into_backends() else {
            eprintln!("skipped the backend test kit: the backend is not configured");
            return;
        };
        if AssertUnwindSafe(case.run(backends))
            .catch_unwind()
            .await
            .is_err()
        {
            failed.push(case.name);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} test kit cases failed: {failed:?}",
        failed.len(),
        CASES.len()
    );
}

/// Expands into one `#[tokio::test]` per case of the test kit, each getting
/// its backends from the factory expression (a future giving
/// [`Backends`] or `Option<Backends>`), evaluated anew for every case.
///
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread`
/// features.
#[macro_export]
macro_rules! backend_test_kit {
    ($factory:expr $(,)?) => {
        $crate::__backend_test_kit_cases! { ($factory)
            create_returns_the_stored_object
            create_strips_reserved_fields
            create_existing_id_is_a_conflict
            create_replaces_a_tombstone
            get_missing_is_not_found
            collections_are_isolated
            update_creates_then_replaces
            update_if_match
            delete_leaves_a_tombstone
            delete_missing_is_not_found
            delete_if_match
            delete_without_tombstone
            delete_all_deletes_matching
            delete_all_limit_and_order
            timestamps_strictly_increase
            requested_timestamps
            delete_requested_timestamp
            resource_timestamp_of_empty_collection
            resource_timestamp_follows_writes
            list_as_of_agrees_with_the_timestamp
            all_resources_timestamps
            purge_deleted
            trim_objects_keeps_the_newest
            parent_id_wildcards
            flush_empties_everything
            healthcheck
            filters_every_operator
            filters_on_id_and_last_modified
            filters_mixed_types_and_missing_fields
            sorts
            limit
            count_matches_list
            tombstones_only_when_asked
            since_returns_changes_and_tombstones
            pagination_walks_everything
            pagination_stable_under_inserts
            commit_makes_writes_visible
            rollback_discards_writes
            drop_rolls_back
            reads_see_own_writes
            conflicts_inside_transactions
            concurrent_creates_get_distinct_timestamps
            concurrent_conditional_increments
            since_poller_sees_every_object
            concurrent_creates_same_id
            concurrent_transactions
            ace_add_remove
            user_principals
            object_permissions
            replace_object_permissions
            delete_object_permissions_with_patterns
            authorized_principals_and_check
            accessible_objects_with_patterns
            inheritance_tree
            flush_permissions
            set_get_delete
            ttl_and_expiry
            flush_cache
            lists_agree_with_the_evaluator
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __backend_test_kit_cases {
    (($factory:expr) $($case:ident)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::testkit::run_case(stringify!($case), $factory).await;
            }
        )*

        #[test]
        fn test_kit_runs_every_case() {
            let expanded: &[&str] = &[$(stringify!($case)),*];
            let all: Vec<&str> = $crate::testkit::CASES.iter().map(|case| case.name).collect();
            assert_eq!(expanded, all.as_slice());
        }
    };
}
