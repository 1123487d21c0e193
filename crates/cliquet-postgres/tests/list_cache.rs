//! Pages kept between lists (`cliquet_postgres::list_cache`), against the
//! real database (`CLIQUET_TEST_POSTGRES_URL`): kept pages answer only
//! while the collection is unchanged, whoever changed it.

mod support;

use cliquet_filter::{Filter, Operator, SortField};
use cliquet_postgres::{Pool, PostgresStorage};
use cliquet_storage::Storage;
use cliquet_storage::model::Object;
use cliquet_storage::storage::{Create, Delete, List, PurgeDeleted, Update};
use serde_json::{Map, Value, json};
use support::{Scratch, database_url};

const PARENT: &str = "/buckets/b/collections/c";

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

async fn fill(storage: &PostgresStorage, n: usize) {
    for i in 0..n {
        let data = json!({"rank": (i * 37) % 101, "category": format!("cat-{}", i % 3)});
        storage
            .create(Create::new("record", PARENT, format!("r{i:03}"), map(data)))
            .await
            .unwrap();
    }
}

fn category(name: &str) -> List {
    List::new("record", PARENT)
        .with_filters(vec![Filter::new("category", Operator::Eq, json!(name))])
        .with_sort(vec![
            SortField::desc("rank"),
            SortField::desc("last_modified"),
        ])
        .with_limit(Some(10))
}

fn ids(objects: &[Object]) -> Vec<String> {
    objects.iter().map(|o| o.id.clone()).collect()
}

/// The page and timestamp `storage` lists, and whether a kept page
/// answered.
async fn listed(storage: &PostgresStorage, list: List) -> (i64, Vec<Object>, bool) {
    let before = storage.list_cache_stats().unwrap().hits;
    let (timestamp, objects) = storage.list_as_of(list).await.unwrap();
    let hit = storage.list_cache_stats().unwrap().hits > before;
    (timestamp, objects, hit)
}

/// What the database answers without any kept page.
async fn fresh(pool: &Pool, list: List) -> (i64, Vec<Object>) {
    PostgresStorage::new(pool.clone())
        .with_list_cache(0)
        .list_as_of(list)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_unchanged_collection_answers_from_the_kept_page() {
    let Some(url) = database_url("list_cache") else {
        return;
    };
    let scratch = Scratch::new(&url, "listcache_hit").await;
    let storage = PostgresStorage::new(scratch.pool.clone());
    fill(&storage, 60).await;

    let (ts, first, hit) = listed(&storage, category("cat-1")).await;
    assert!(!hit);
    assert_eq!(first.len(), 10);
    let (ts_again, again, hit) = listed(&storage, category("cat-1")).await;
    assert!(
        hit,
        "the second identical list is answered from the kept page"
    );
    assert_eq!((ts_again, &again), (ts, &first));
    assert_eq!((ts, first), fresh(&scratch.pool, category("cat-1")).await);

    // Another list is another page.
    let (_, other, hit) = listed(&storage, category("cat-2")).await;
    assert!(!hit);
    assert_ne!(ids(&other), ids(&again));
    let stats = storage.list_cache_stats().unwrap();
    assert_eq!((stats.pages, stats.hits, stats.misses), (2, 1, 2));
    assert!(stats.bytes > 0);
    scratch.drop().await;
}

#[tokio::test]
async fn writes_from_anywhere_are_seen_at_once() {
    let Some(url) = database_url("list_cache") else {
        return;
    };
    let scratch = Scratch::new(&url, "listcache_writes").await;
    let storage = PostgresStorage::new(scratch.pool.clone());
    // Another server on the same database, with its own kept pages.
    let other = PostgresStorage::new(Pool::new(&scratch.schema.settings()).unwrap());
    fill(&storage, 30).await;
    let list = || category("cat-0");

    let (ts0, _, _) = listed(&storage, list()).await;
    assert!(listed(&storage, list()).await.2);

    // This backend writes: an object on top of the page.
    storage
        .create(Create::new(
            "record",
            PARENT,
            "top",
            map(json!({"rank": 1000, "category": "cat-0"})),
        ))
        .await
        .unwrap();
    let (ts1, page, hit) = listed(&storage, list()).await;
    assert!(!hit);
    assert!(ts1 > ts0);
    assert_eq!(page[0].id, "top");

    // Another instance writes: an update that takes the object off the page.
    listed(&other, list()).await;
    other
        .update(Update::new(
            "record",
            PARENT,
            "top",
            map(json!({"rank": 1000, "category": "cat-9"})),
        ))
        .await
        .unwrap();
    let (ts2, page, hit) = listed(&storage, list()).await;
    assert!(!hit);
    assert!(ts2 > ts1);
    assert!(!ids(&page).contains(&"top".to_owned()));
    assert_eq!((ts2, page), fresh(&scratch.pool, list()).await);
    let (_, page, hit) = listed(&other, list()).await;
    assert!(!hit, "the writer's own kept page is checked too");
    assert!(!ids(&page).contains(&"top".to_owned()));

    // A plain SQL write, as another program on Kinto's schema makes it:
    // the trigger stamps it, the kept page is left.
    let client = scratch.pool.get().await.unwrap();
    client
        .execute(
            "INSERT INTO objects (id, parent_id, resource_name, data, deleted) \
             VALUES ('sql', $1, 'record', '{\"rank\": 2000, \"category\": \"cat-0\"}', FALSE)",
            &[&PARENT],
        )
        .await
        .unwrap();
    let (ts3, page, hit) = listed(&storage, list()).await;
    assert!(!hit);
    assert!(ts3 > ts2);
    assert_eq!(page[0].id, "sql");

    // A delete (tombstone) of an object below the top of the page.
    let victim = page[3].id.clone();
    other
        .delete(Delete::new("record", PARENT, victim.as_str()))
        .await
        .unwrap();
    let (_, page, hit) = listed(&storage, list()).await;
    assert!(!hit);
    assert!(!ids(&page).contains(&victim));
    assert_eq!(page, fresh(&scratch.pool, list()).await.1);
    scratch.drop().await;
}

#[tokio::test]
async fn removals_without_a_new_timestamp_forget_the_kept_pages() {
    let Some(url) = database_url("list_cache") else {
        return;
    };
    let scratch = Scratch::new(&url, "listcache_removals").await;
    let storage = PostgresStorage::new(scratch.pool.clone());
    fill(&storage, 30).await;
    let since = || {
        List::new("record", PARENT)
            .with_include_deleted(true)
            .with_sort(vec![SortField::asc("last_modified")])
    };

    // An old object deleted with a tombstone, then a newer write: purging
    // the tombstone leaves the collection timestamp where it is.
    storage
        .delete(Delete::new("record", PARENT, "r001"))
        .await
        .unwrap();
    storage
        .create(Create::new("record", PARENT, "late", map(json!({}))))
        .await
        .unwrap();
    let (ts, page, _) = listed(&storage, since()).await;
    assert!(page.iter().any(|o| o.deleted));
    assert!(listed(&storage, since()).await.2);
    storage
        .purge_deleted(PurgeDeleted::new(Some("record".into()), PARENT))
        .await
        .unwrap();
    let (ts_after, page, hit) = listed(&storage, since()).await;
    assert_eq!(ts_after, ts, "purging does not move the timestamp");
    assert!(!hit, "the purge forgot the kept pages");
    assert!(page.iter().all(|o| !o.deleted));

    // A hard delete inside a transaction: forgotten again once committed,
    // even if a list kept the page meanwhile.
    assert!(listed(&storage, since()).await.2);
    let tx = storage.begin().await.unwrap();
    tx.storage()
        .delete(Delete::new("record", PARENT, "r002").with_deleted(false))
        .await
        .unwrap();
    listed(&storage, since()).await;
    tx.commit().await.unwrap();
    let (_, page, hit) = listed(&storage, since()).await;
    assert!(!hit);
    assert!(!ids(&page).contains(&"r002".to_owned()));
    assert_eq!(page, fresh(&scratch.pool, since()).await.1);
    scratch.drop().await;
}

#[tokio::test]
async fn transactions_and_an_empty_budget_read_the_database() {
    let Some(url) = database_url("list_cache") else {
        return;
    };
    let scratch = Scratch::new(&url, "listcache_tx").await;
    let storage = PostgresStorage::new(scratch.pool.clone());
    fill(&storage, 10).await;
    let all = || List::new("record", PARENT).with_sort(vec![SortField::asc("id")]);
    listed(&storage, all()).await;

    // A transaction sees its own uncommitted write, never a kept page.
    let tx = storage.begin().await.unwrap();
    tx.storage()
        .create(Create::new("record", PARENT, "mine", map(json!({}))))
        .await
        .unwrap();
    let (_, inside) = tx.storage().list_as_of(all()).await.unwrap();
    assert!(ids(&inside).contains(&"mine".to_owned()));
    let (_, outside, hit) = listed(&storage, all()).await;
    assert!(hit, "nothing committed: the kept page still answers");
    assert!(!ids(&outside).contains(&"mine".to_owned()));
    tx.rollback().await.unwrap();

    let off = PostgresStorage::new(scratch.pool.clone()).with_list_cache(0);
    assert_eq!(off.list_cache_stats(), None);
    assert_eq!(off.list_as_of(all()).await.unwrap().1, outside);
    scratch.drop().await;
}

/// Kept pages brought up to date with the objects written since answer
/// exactly what the database answers, whatever the writes: random
/// creates, updates (moving objects in and out of filters and pages) and
/// deletes, between lists of several shapes.
#[tokio::test]
async fn pages_brought_up_to_date_agree_with_the_database() {
    let Some(url) = database_url("list_cache") else {
        return;
    };
    let scratch = Scratch::new(&url, "listcache_patch").await;
    let storage = PostgresStorage::new(scratch.pool.clone());
    fill(&storage, 40).await;
    let lists = || {
        vec![
            category("cat-1"),
            List::new("record", PARENT)
                .with_filters(vec![Filter::new("rank", Operator::Lt, json!(50))])
                .with_sort(vec![SortField::asc("rank"), SortField::asc("id")])
                .with_limit(Some(5)),
            // A whole collection in one page, tombstones included.
            List::new("record", PARENT)
                .with_include_deleted(true)
                .with_sort(vec![SortField::asc("last_modified")]),
            // A small full page of the newest.
            List::new("record", PARENT)
                .with_sort(vec![SortField::desc("last_modified")])
                .with_limit(Some(3)),
            // No total order: always read again.
            List::new("record", PARENT)
                .with_sort(vec![SortField::desc("rank")])
                .with_limit(Some(4)),
        ]
    };
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..60 {
        for list in lists() {
            let (ts, page, _) = listed(&storage, list.clone()).await;
            let (fresh_ts, fresh_page) = fresh(&scratch.pool, list.clone()).await;
            assert_eq!(ts, fresh_ts, "round {round}: {list:?}");
            assert_eq!(ids(&page), ids(&fresh_page), "round {round}: {list:?}");
            assert_eq!(page, fresh_page, "round {round}: {list:?}");
        }
        // One to three writes between lists.
        for _ in 0..=next(3) {
            let id = format!("r{:03}", next(50));
            let data = json!({"rank": next(101), "category": format!("cat-{}", next(3))});
            match next(4) {
                0 => {
                    let _ = storage
                        .delete(Delete::new("record", PARENT, id.as_str()))
                        .await;
                }
                1 => {
                    // Only a field no list looks at.
                    if let Ok(current) = storage
                        .get(cliquet_storage::storage::Get::new(
                            "record",
                            PARENT,
                            id.as_str(),
                        ))
                        .await
                    {
                        let mut data = current.data.clone();
                        data.insert("note".into(), json!(round));
                        storage
                            .update(Update::new("record", PARENT, id.as_str(), data))
                            .await
                            .unwrap();
                    }
                }
                _ => {
                    storage
                        .update(Update::new("record", PARENT, id.as_str(), map(data)))
                        .await
                        .unwrap();
                }
            }
        }
    }
    let stats = storage.list_cache_stats().unwrap();
    assert!(stats.patched > 20, "{stats:?}");
    assert!(stats.misses > 20, "{stats:?}");
    scratch.drop().await;
}

/// A collection wiped by another instance (its objects removed without
/// tombstones, as when a collection is deleted) and filled again: the
/// kept page is not brought up to date with the new objects alone.
#[tokio::test]
async fn a_collection_wiped_elsewhere_is_read_again() {
    let Some(url) = database_url("list_cache") else {
        return;
    };
    let scratch = Scratch::new(&url, "listcache_wipe").await;
    let storage = PostgresStorage::new(scratch.pool.clone());
    let other = PostgresStorage::new(Pool::new(&scratch.schema.settings()).unwrap());
    fill(&storage, 12).await;
    let all = || {
        List::new("record", PARENT)
            .with_sort(vec![SortField::asc("last_modified")])
            .with_limit(Some(100))
    };
    // Read, then a write and a read again, so that the kept page knows the
    // collection's oldest object.
    listed(&storage, all()).await;
    storage
        .create(Create::new("record", PARENT, "more", map(json!({}))))
        .await
        .unwrap();
    listed(&storage, all()).await;
    assert!(listed(&storage, all()).await.2);

    other
        .delete_all(cliquet_storage::storage::DeleteAll::new("record", PARENT).with_deleted(false))
        .await
        .unwrap();
    other
        .create(Create::new("record", PARENT, "new", map(json!({}))))
        .await
        .unwrap();
    let (_, page, hit) = listed(&storage, all()).await;
    assert!(!hit);
    assert_eq!(ids(&page), ["new"]);
    assert_eq!(page, fresh(&scratch.pool, all()).await.1);
    scratch.drop().await;
}
