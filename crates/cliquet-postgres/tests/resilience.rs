//! A database that is down, or that drops its connections, gives backend
//! errors (503 errno 201), never a panic, and the pool recovers by itself.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use cliquet_errors::ApiError;
use cliquet_postgres::{Pool, PoolSettings, PostgresCache, PostgresPermission, PostgresStorage};
use cliquet_storage::storage::{Create, Get, List};
use cliquet_storage::{Cache, Permission, Storage, StorageError};
use serde_json::json;
use support::{Scratch, database_url};

#[tokio::test]
async fn no_server_is_a_backend_error() {
    // Port 1 on localhost: connection refused at once.
    let mut settings = PoolSettings::new("postgres://postgres@127.0.0.1:1/postgres");
    settings.pool_timeout = 2.0;
    let pool = Pool::new(&settings).expect("a pool builds without connecting");
    let storage = PostgresStorage::new(pool.clone());
    let err = storage
        .get(Get::new("record", "/b", "a"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Backend { .. }), "{err:?}");
    let api = ApiError::from(err);
    assert_eq!((api.code().as_u16(), api.errno().as_u16()), (503, 201));
    let err = PostgresPermission::new(pool.clone())
        .get_user_principals("u")
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Backend { .. }), "{err:?}");
    let err = PostgresCache::new(pool, "").get("k").await.unwrap_err();
    assert!(matches!(err, StorageError::Backend { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pool_recovers_after_connections_are_killed() {
    let Some(url) = database_url("pool_recovers_after_connections_are_killed") else {
        return;
    };
    let scratch = Scratch::new(&url, "recover").await;
    let storage: Arc<dyn Storage> = Arc::new(PostgresStorage::new(scratch.pool.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let successes = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    // A client loop writing and reading while the server drops every
    // connection of this test several times.
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (storage, stop, successes, failures) = (
                Arc::clone(&storage),
                Arc::clone(&stop),
                Arc::clone(&successes),
                Arc::clone(&failures),
            );
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let data = json!({"i": i}).as_object().cloned().unwrap();
                    let result = storage
                        .create(Create::new("record", "/p", format!("c{c}-{i}"), data))
                        .await;
                    match result {
                        Ok(_) => successes.fetch_add(1, Ordering::Relaxed),
                        Err(StorageError::Backend { .. }) => {
                            failures.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(other) => panic!("unexpected error {other:?}"),
                    };
                }
            })
        })
        .collect();
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // The pool's connections carry the schema name as application name.
    let schema = scratch.schema.name().to_owned();
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                &[&schema],
            )
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let before = successes.load(Ordering::Relaxed);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    // Writes went on after the last kill: the pool reconnected by itself.
    assert!(
        successes.load(Ordering::Relaxed) > before,
        "no success after the connections were killed"
    );
    let listed = storage.list(List::new("record", "/p")).await.unwrap();
    // A write whose answer was lost with its connection may have committed.
    assert!(listed.len() >= successes.load(Ordering::Relaxed));
    eprintln!(
        "{} writes, {} backend errors while connections were killed ({schema})",
        successes.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed)
    );
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_database_and_exhausted_pool_are_backend_errors() {
    let Some(url) = database_url("slow_database_and_exhausted_pool_are_backend_errors") else {
        return;
    };
    let scratch = Scratch::new(&url, "slow").await;
    let mut settings = scratch.schema.settings();
    settings.pool_size = 1;
    settings.pool_timeout = 0.5;
    settings.max_backlog = 0;
    let pool = Pool::new(&settings).unwrap();
    let storage = PostgresStorage::new(pool.clone());

    // Another transaction holds the collection's lock: our write waits at
    // most `pool_timeout`, then the server cancels it.
    let tx = PostgresStorage::new(scratch.pool.clone())
        .begin()
        .await
        .unwrap();
    let data = json!({}).as_object().cloned().unwrap();
    tx.storage()
        .create(Create::new("record", "/p", "held", data.clone()))
        .await
        .unwrap();
    let err = storage
        .create(Create::new("record", "/p", "waiting", data.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Backend { .. }), "{err:?}");
    tx.rollback().await.unwrap();
    storage
        .create(Create::new("record", "/p", "after", data))
        .await
        .unwrap();

    // The only connection is taken and no one may wait for it.
    let held = pool.get().await.unwrap();
    let err = storage
        .get(Get::new("record", "/p", "after"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Backend { .. }), "{err:?}");
    drop(held);
    storage
        .get(Get::new("record", "/p", "after"))
        .await
        .unwrap();
    scratch.drop().await;
}

/// Two transactions each writing one collection, then the other's: the
/// database aborts one with a deadlock (40P01), which is a
/// `TransactionConflict` that the loser's transaction remembers; the winner
/// commits, and the loser's work, run again, succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deadlock_is_a_transaction_conflict() {
    let Some(url) = database_url("a_deadlock_is_a_transaction_conflict") else {
        return;
    };
    let scratch = Scratch::new(&url, "deadlock").await;
    let storage: Arc<dyn Storage> = Arc::new(PostgresStorage::new(scratch.pool.clone()));
    let create = |parent: &str, id: &str| Create::new("record", parent, id, Default::default());

    let first = storage.begin().await.unwrap();
    let second = storage.begin().await.unwrap();
    first.storage().create(create("/a", "1")).await.unwrap();
    second.storage().create(create("/b", "2")).await.unwrap();
    let first = Arc::new(first);
    let second = Arc::new(second);
    // Each now waits for the other's collection.
    let crossing = |tx: Arc<Box<dyn cliquet_storage::Transaction>>, parent: &'static str| {
        tokio::spawn(async move {
            let result = tx.storage().create(create(parent, "x")).await;
            (tx, result)
        })
    };
    let mut one = crossing(first, "/b");
    let mut two = crossing(second, "/a");
    // The first to answer is the victim; the other waits for its locks
    // until it rolls back.
    let ((loser, loss), pending) = tokio::select! {
        done = &mut one => (done.unwrap(), two),
        done = &mut two => (done.unwrap(), one),
    };
    let loss = loss.unwrap_err();
    assert!(loss.is_transaction_conflict(), "{loss:?}");
    assert!(loss.is_retryable());
    let api = ApiError::from(loss);
    assert_eq!((api.code().as_u16(), api.errno().as_u16()), (503, 201));
    // The transaction remembers it lost.
    assert!(loser.conflicted());
    Arc::into_inner(loser).unwrap().rollback().await.unwrap();
    let (winner, won) = pending.await.unwrap();
    won.unwrap();
    assert!(!winner.conflicted());
    Arc::into_inner(winner).unwrap().commit().await.unwrap();
    // Run again, the work succeeds; the loser left nothing behind.
    let again = storage.begin().await.unwrap();
    assert!(!again.conflicted());
    again.storage().create(create("/a", "y")).await.unwrap();
    again.storage().create(create("/b", "y")).await.unwrap();
    again.commit().await.unwrap();
    for parent in ["/a", "/b"] {
        let ids: Vec<String> = storage
            .list(List::new("record", parent))
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.id)
            .collect();
        // The winner's record and the new one: nothing of the loser.
        assert_eq!(ids.len(), 2, "{parent}: {ids:?}");
        assert!(ids.contains(&"y".to_owned()), "{parent}: {ids:?}");
    }
    scratch.drop().await;
}
