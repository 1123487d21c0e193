//! PostgreSQL-specific behaviour of the storage backend, against the real
//! database (`CLIQUET_TEST_POSTGRES_URL`).

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use cliquet_filter::{Filter, Operator, SortField};
use cliquet_postgres::PostgresStorage;
use cliquet_storage::storage::{Create, Delete, DeleteAll, Get, List, ResourceTimestamp, Update};
use cliquet_storage::{Storage, StorageError};
use serde_json::{Map, Value, json};
use support::{Scratch, database_url};

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

const PARENT: &str = "/buckets/b/collections/c";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crud_round_trip() {
    let Some(url) = database_url("crud_round_trip") else {
        return;
    };
    let scratch = Scratch::new(&url, "crud").await;
    let storage = PostgresStorage::new(scratch.pool.clone());

    let a = storage
        .create(Create::new(
            "record",
            PARENT,
            "a",
            map(json!({"n": 1, "id": "x"})),
        ))
        .await
        .unwrap();
    assert_eq!(a.data, map(json!({"n": 1})));
    assert_eq!(
        storage.get(Get::new("record", PARENT, "a")).await.unwrap(),
        a
    );
    let err = storage
        .create(Create::new("record", PARENT, "a", map(json!({}))))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StorageError::Conflict { existing: Some(e), .. } if **e == a),
        "{err:?}"
    );

    let updated = storage
        .update(Update::new("record", PARENT, "a", map(json!({"n": 2}))))
        .await
        .unwrap();
    assert!(updated.object.last_modified > a.last_modified);
    assert_eq!(updated.previous.as_ref(), Some(&a));
    let stale = Update::new("record", PARENT, "a", map(json!({"n": 3})))
        .with_if_match(Some(a.last_modified));
    assert!(matches!(
        storage.update(stale).await,
        Err(StorageError::Modified { current: Some(_) })
    ));

    let deleted = storage
        .delete(Delete::new("record", PARENT, "a"))
        .await
        .unwrap();
    assert!(deleted.tombstone.deleted);
    assert!(deleted.tombstone.last_modified > updated.object.last_modified);
    let ts = storage
        .resource_timestamp(ResourceTimestamp::new("record", PARENT))
        .await
        .unwrap();
    assert_eq!(ts, deleted.tombstone.last_modified);
    assert!(matches!(
        storage.get(Get::new("record", PARENT, "a")).await,
        Err(StorageError::NotFound { .. })
    ));
    let all = storage
        .list(List::new("record", PARENT).with_include_deleted(true))
        .await
        .unwrap();
    assert_eq!(all, vec![deleted.tombstone.clone()]);

    for i in 0..5 {
        storage
            .create(Create::new(
                "record",
                PARENT,
                format!("r{i}"),
                map(json!({"i": i})),
            ))
            .await
            .unwrap();
    }
    let gone = storage
        .delete_all(
            DeleteAll::new("record", PARENT)
                .with_sort(vec![SortField::asc("i")])
                .with_limit(Some(3)),
        )
        .await
        .unwrap();
    let ids: Vec<&str> = gone.iter().map(|d| d.previous.id.as_str()).collect();
    assert_eq!(ids, ["r0", "r1", "r2"]);
    let stamps: Vec<i64> = gone.iter().map(|d| d.tombstone.last_modified).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    let left = storage
        .list(List::new("record", PARENT).with_filters(vec![Filter::new(
            "i",
            Operator::Gt,
            json!(0),
        )]))
        .await
        .unwrap();
    assert_eq!(left.len(), 2);
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_values_are_invalid_input() {
    let Some(url) = database_url("refused_values_are_invalid_input") else {
        return;
    };
    let scratch = Scratch::new(&url, "nul").await;
    let storage = PostgresStorage::new(scratch.pool.clone());
    let err = storage
        .create(Create::new(
            "record",
            PARENT,
            "a",
            map(json!({"s": "a\u{0000}b"})),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidInput { .. }), "{err:?}");

    let many: Vec<SortField> = (0..5000).map(|i| SortField::asc(format!("f{i}"))).collect();
    let err = storage
        .list(List::new("record", PARENT).with_sort(many))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidInput { .. }), "{err:?}");

    // Inside a transaction, the refused write fails alone.
    let tx = storage.begin().await.unwrap();
    let err = tx
        .storage()
        .create(Create::new(
            "record",
            PARENT,
            "b",
            map(json!({"s": "\u{0000}"})),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidInput { .. }), "{err:?}");
    tx.storage()
        .create(Create::new("record", PARENT, "c", map(json!({}))))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(storage.get(Get::new("record", PARENT, "c")).await.is_ok());
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_conflict_and_since_sees_all() {
    let Some(url) = database_url("concurrent_creates_never_conflict_and_since_sees_all") else {
        return;
    };
    let scratch = Scratch::new(&url, "conc").await;
    let storage: Arc<dyn Storage> = Arc::new(PostgresStorage::new(scratch.pool.clone()));
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let storage = Arc::clone(&storage);
            tokio::spawn(async move {
                let mut stamps = Vec::new();
                for i in 0..60 {
                    let object = storage
                        .create(Create::new(
                            "record",
                            PARENT,
                            format!("w{w}-{i}"),
                            map(json!({"w": w})),
                        ))
                        .await
                        .expect("no conflict");
                    stamps.push(object.last_modified);
                }
                stamps
            })
        })
        .collect();
    let poller = {
        let storage = Arc::clone(&storage);
        tokio::spawn(async move {
            let mut seen = BTreeSet::new();
            let mut since = 0;
            for _ in 0..400 {
                let page = storage
                    .list(
                        List::new("record", PARENT)
                            .with_filters(vec![Filter::new(
                                "last_modified",
                                Operator::Gt,
                                json!(since),
                            )])
                            .with_sort(vec![SortField::asc("last_modified")]),
                    )
                    .await
                    .unwrap();
                for object in page {
                    since = since.max(object.last_modified);
                    seen.insert(object.id);
                }
                if seen.len() == 16 * 60 {
                    break;
                }
                tokio::task::yield_now().await;
            }
            (seen, since)
        })
    };
    let mut all = Vec::new();
    for writer in writers {
        all.extend(writer.await.unwrap());
    }
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "timestamps are distinct");
    let (mut seen, since) = poller.await.unwrap();
    // Catch up with what was committed after the poller stopped.
    let rest = storage
        .list(List::new("record", PARENT).with_filters(vec![Filter::new(
            "last_modified",
            Operator::Gt,
            json!(since),
        )]))
        .await
        .unwrap();
    seen.extend(rest.into_iter().map(|o| o.id));
    assert_eq!(seen.len(), 16 * 60, "the poller missed objects");
    scratch.drop().await;
}

/// `list_as_of` reads the timestamp and its page from one snapshot: a
/// client polling `_since` the previous answer's timestamp while writers
/// run sees each object exactly once, in pages that never overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_as_of_pages_never_overlap_nor_miss() {
    let Some(url) = database_url("list_as_of_pages_never_overlap_nor_miss") else {
        return;
    };
    let scratch = Scratch::new(&url, "asof").await;
    let storage: Arc<dyn Storage> = Arc::new(PostgresStorage::new(scratch.pool.clone()));

    // Never written: the timestamp is initialised, the page empty.
    let empty = "/buckets/b/collections/empty";
    let (ts, page) = storage
        .list_as_of(List::new("record", empty))
        .await
        .unwrap();
    assert!(ts > 0 && page.is_empty());
    assert_eq!(
        storage
            .resource_timestamp(ResourceTimestamp::new("record", empty))
            .await
            .unwrap(),
        ts
    );
    assert!(
        storage
            .list_as_of(List::new("record", "/buckets/b/collections/*"))
            .await
            .is_err()
    );

    let writers: Vec<_> = (0..8)
        .map(|w| {
            let storage = Arc::clone(&storage);
            tokio::spawn(async move {
                for i in 0..40 {
                    let id = format!("w{w}-{i}");
                    storage
                        .create(Create::new("record", PARENT, &id, map(json!({"w": w}))))
                        .await
                        .unwrap();
                    if i % 10 == 9 {
                        storage
                            .delete(Delete::new("record", PARENT, &id))
                            .await
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    // The first poll races the first writers on a collection never read.
    let mut seen: Vec<(String, bool)> = Vec::new();
    let mut since = 0;
    let mut done = false;
    loop {
        let (ts, page) = storage
            .list_as_of(
                List::new("record", PARENT)
                    .with_filters(vec![Filter::new(
                        "last_modified",
                        Operator::Gt,
                        json!(since),
                    )])
                    .with_sort(vec![SortField::asc("last_modified")])
                    .with_include_deleted(true),
            )
            .await
            .unwrap();
        assert!(ts >= since);
        for object in &page {
            assert!(object.last_modified > since && object.last_modified <= ts);
            seen.push((object.id.clone(), object.deleted));
        }
        since = ts;
        if done {
            break;
        }
        done = writers.iter().all(|w| w.is_finished());
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    // Each object once as created, the deleted ones once more as
    // tombstones, and nothing twice.
    let live = seen.iter().filter(|(_, deleted)| !deleted).count();
    let tombstones = seen.iter().filter(|(_, deleted)| *deleted).count();
    let distinct: BTreeSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "an object was seen twice");
    assert_eq!(live + tombstones, seen.len());
    let ids: BTreeSet<_> = seen.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids.len(), 8 * 40, "the poller missed objects");
    assert_eq!(tombstones, 8 * 4);
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_refuses_writes_and_unknown_timestamps() {
    let Some(url) = database_url("readonly_refuses_writes_and_unknown_timestamps") else {
        return;
    };
    let scratch = Scratch::new(&url, "readonly").await;
    let writable = PostgresStorage::new(scratch.pool.clone());
    let object = writable
        .create(Create::new("record", PARENT, "a", map(json!({"n": 1}))))
        .await
        .unwrap();
    let readonly = PostgresStorage::new(scratch.pool.clone()).with_readonly(true);
    assert_eq!(
        readonly.get(Get::new("record", PARENT, "a")).await.unwrap(),
        object
    );
    assert_eq!(
        readonly
            .resource_timestamp(ResourceTimestamp::new("record", PARENT))
            .await
            .unwrap(),
        object.last_modified
    );
    let err = readonly
        .resource_timestamp(ResourceTimestamp::new("record", "/never/seen"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Readonly), "{err:?}");
    let err = readonly
        .create(Create::new("record", PARENT, "b", map(json!({}))))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Readonly), "{err:?}");
    let err = readonly
        .delete(Delete::new("record", PARENT, "a"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Readonly), "{err:?}");
    scratch.drop().await;
}

#[tokio::test]
async fn cache_rows_are_kintos() {
    use cliquet_postgres::PostgresCache;
    use cliquet_storage::Cache;
    use std::time::Duration;

    let Some(url) = database_url("cache_rows_are_kintos") else {
        return;
    };
    let scratch = Scratch::new(&url, "cache").await;
    let cache = PostgresCache::new(scratch.pool.clone(), "prefix:");
    let client = scratch.pool.get().await.unwrap();
    // A row as Kinto's cache writes it: JSON text, expiry from `sec2ttl`.
    client
        .execute(
            "INSERT INTO cache (key, value, ttl) VALUES ('prefix:from-kinto', '{\"a\": [1, 2]}', sec2ttl(60))",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        cache.get("from-kinto").await.unwrap(),
        Some(json!({"a": [1, 2]}))
    );
    let ttl = cache.ttl("from-kinto").await.unwrap().unwrap();
    assert!(
        ttl > Duration::from_secs(50) && ttl <= Duration::from_secs(60),
        "{ttl:?}"
    );
    // Ours, read the way Kinto reads it.
    cache
        .set("ours", json!({"b": "ü"}), Duration::from_secs(90))
        .await
        .unwrap();
    let row = client
        .query_one(
            "SELECT value FROM cache WHERE key = 'prefix:ours' AND now() < ttl",
            &[],
        )
        .await
        .unwrap();
    let text: String = row.get(0);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"b": "ü"})
    );
    // Expired rows are invisible.
    client
        .execute(
            "UPDATE cache SET ttl = now() - INTERVAL '1 second' WHERE key = 'prefix:ours'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(cache.get("ours").await.unwrap(), None);
    assert_eq!(cache.delete("ours").await.unwrap(), None);
    drop(client);
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_all_stamps_each_object_once() {
    let Some(url) = database_url("delete_all_stamps_each_object_once") else {
        return;
    };
    let scratch = Scratch::new(&url, "delall").await;
    let storage = PostgresStorage::new(scratch.pool.clone());
    let mut latest = 0;
    for i in 0..300 {
        latest = storage
            .create(Create::new(
                "record",
                PARENT,
                format!("o{i:03}"),
                map(json!({"i": i})),
            ))
            .await
            .unwrap()
            .last_modified;
    }
    let gone = storage
        .delete_all(DeleteAll::new("record", PARENT).with_sort(vec![SortField::desc("i")]))
        .await
        .unwrap();
    assert_eq!(gone.len(), 300);
    let order: Vec<i64> = gone
        .iter()
        .map(|d| d.previous.data["i"].as_i64().unwrap())
        .collect();
    assert_eq!(order, (0..300).rev().collect::<Vec<_>>());
    let stamps: Vec<i64> = gone.iter().map(|d| d.tombstone.last_modified).collect();
    assert!(stamps[0] > latest);
    assert!(
        stamps.windows(2).all(|w| w[0] < w[1]),
        "tombstones are stamped in order"
    );
    let ts = storage
        .resource_timestamp(ResourceTimestamp::new("record", PARENT))
        .await
        .unwrap();
    assert_eq!(ts, *stamps.last().unwrap());
    scratch.drop().await;
}

#[tokio::test]
async fn trim_reaches_beyond_the_fetch_cap() {
    use cliquet_storage::storage::TrimObjects;

    let Some(url) = database_url("trim_reaches_beyond_the_fetch_cap") else {
        return;
    };
    let scratch = Scratch::new(&url, "trim").await;
    let storage = PostgresStorage::new(scratch.pool.clone()).with_max_fetch_size(5);
    for i in 0..12 {
        storage
            .create(Create::new(
                "history",
                PARENT,
                format!("h{i:02}"),
                map(json!({"i": i})),
            ))
            .await
            .unwrap();
    }
    let removed = storage
        .trim_objects(TrimObjects::new("history", PARENT, 3))
        .await
        .unwrap();
    assert_eq!(removed, 9);
    let left: Vec<String> = storage
        .list(List::new("history", PARENT))
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(left.len(), 3);
    assert!(
        left.iter()
            .all(|id| ["h09", "h10", "h11"].contains(&id.as_str())),
        "{left:?}"
    );
    // No tombstones are left by trimming.
    let all = storage
        .list(List::new("history", PARENT).with_include_deleted(true))
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    scratch.drop().await;
}

#[tokio::test]
async fn prepared_statements_run_generic_plans_and_value_plans_run_in_transactions() {
    let Some(url) = database_url("plans") else {
        return;
    };
    let scratch = Scratch::new(&url, "plans").await;
    let client = scratch.pool.get().await.unwrap();
    let mode: String = client
        .query_one("SHOW plan_cache_mode", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "force_generic_plan");
    drop(client);

    let storage = PostgresStorage::new(scratch.pool.clone());
    for (id, n) in [("a", 1), ("b", 2), ("c", 3)] {
        storage
            .create(Create::new("record", PARENT, id, map(json!({"n": n}))))
            .await
            .unwrap();
    }
    // Inside a transaction, a list on a data field is sent planned for its
    // values, under its savepoint: a refused value fails that list alone.
    let tx = storage.begin().await.unwrap();
    let big = List::new("record", PARENT)
        .with_filters(vec![Filter::new("n", Operator::Min, json!(2))])
        .with_sort(vec![SortField::desc("n")]);
    let ids: Vec<String> = tx
        .storage()
        .list(big.clone())
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, ["c", "b"]);
    let refused = List::new("record", PARENT).with_filters(vec![Filter::new(
        "n",
        Operator::Eq,
        json!("nul \u{0}"),
    )]);
    assert!(matches!(
        tx.storage().list(refused).await,
        Err(StorageError::InvalidInput { .. })
    ));
    tx.storage()
        .delete_all(
            DeleteAll::new("record", "/buckets/b/collections/*").with_filters(vec![Filter::new(
                "n",
                Operator::Eq,
                json!(1),
            )]),
        )
        .await
        .unwrap();
    assert_eq!(tx.storage().list(big).await.unwrap().len(), 2);
    tx.commit().await.unwrap();
    let left: Vec<String> = storage
        .list(List::new("record", "/buckets/b/*").with_sort(vec![SortField::asc("id")]))
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(left, ["b", "c"]);
    scratch.drop().await;
}
