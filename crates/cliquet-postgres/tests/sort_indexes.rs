//! Sort indexes made on demand (`cliquet_postgres::sort_index`), against
//! the real database (`CLIQUET_TEST_POSTGRES_URL`).

mod support;

use std::time::{Duration, Instant};

use cliquet_filter::{Filter, Operator, SortField};
use cliquet_postgres::sort_index::index_name;
use cliquet_postgres::{Pool, PostgresStorage};
use cliquet_storage::Storage;
use cliquet_storage::model::Object;
use cliquet_storage::storage::{Create, List};
use serde_json::{Map, Value, json};
use support::{Scratch, database_url};

const PARENT: &str = "/buckets/b/collections/c";
const OTHER: &str = "/buckets/b/collections/other";

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

async fn fill(storage: &PostgresStorage, parent: &str, n: usize) {
    for i in 0..n {
        // Ties on `rank`, objects without it, and the quoted field.
        let data = if i % 10 == 0 {
            json!({"category": format!("cat-{}", i % 3)})
        } else {
            json!({"rank": (i * 7919) % 251, "category": format!("cat-{}", i % 3), "it's": i % 5})
        };
        storage
            .create(Create::new("record", parent, format!("r{i:05}"), map(data)))
            .await
            .unwrap();
    }
}

fn sorted(field: &str, descending: bool) -> List {
    let sort = if descending {
        SortField::desc(field)
    } else {
        SortField::asc(field)
    };
    List::new("record", PARENT)
        .with_filters(vec![Filter::new("category", Operator::Eq, json!("cat-1"))])
        .with_sort(vec![sort, SortField::desc("last_modified")])
        .with_limit(Some(25))
}

fn ids(objects: &[Object]) -> Vec<String> {
    objects.iter().map(|o| o.id.clone()).collect()
}

async fn analyze(pool: &Pool) {
    let client = pool.get().await.unwrap();
    client.batch_execute("ANALYZE objects").await.unwrap();
}

/// `Some(valid)` when the index exists.
async fn index_state(pool: &Pool, field: &str) -> Option<bool> {
    let client = pool.get().await.unwrap();
    client
        .query_opt(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1::text)",
            &[&index_name(field)],
        )
        .await
        .unwrap()
        .map(|row| row.get(0))
}

async fn index_oid(pool: &Pool, field: &str) -> Option<u32> {
    let client = pool.get().await.unwrap();
    client
        .query_one("SELECT to_regclass($1::text)::oid", &[&index_name(field)])
        .await
        .unwrap()
        .get(0)
}

async fn index_scans(pool: &Pool, field: &str) -> i64 {
    let client = pool.get().await.unwrap();
    client
        .query_opt(
            "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelid = to_regclass($1::text)",
            &[&index_name(field)],
        )
        .await
        .unwrap()
        .map_or(0, |row| row.get(0))
}

/// Lists `list` until the index of `field` is ready and used by it.
async fn until_ready(storage: &PostgresStorage, pool: &Pool, field: &str, list: impl Fn() -> List) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while index_state(pool, field).await != Some(true) {
        assert!(Instant::now() < deadline, "no valid index for {field}");
        storage.list(list()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_sorted_on_a_field_get_an_index_and_the_same_pages() {
    let Some(url) = database_url("sort_indexes") else {
        return;
    };
    let scratch = Scratch::new(&url, "sortidx").await;
    let pool = scratch.pool.clone();
    let storage = PostgresStorage::new(pool.clone()).with_sort_indexes(2, 5);
    fill(&storage, PARENT, 1500).await;
    fill(&storage, OTHER, 300).await;
    analyze(&pool).await;

    // Before the index: the pages in their reference order.
    let mut expected = Vec::new();
    for (field, descending) in [("rank", true), ("rank", false), ("it's", true)] {
        expected.push(ids(&storage.list(sorted(field, descending)).await.unwrap()));
    }
    assert_eq!(expected[0].len(), 25);
    let first = storage.list(sorted("rank", true)).await.unwrap();
    assert!(
        !first[0].data.contains_key("rank"),
        "objects without the field come first when descending"
    );
    assert_eq!(index_state(&pool, "rank").await, None, "not before 5 sorts");

    until_ready(&storage, &pool, "rank", || sorted("rank", true)).await;
    until_ready(&storage, &pool, "it's", || sorted("it's", true)).await;

    // The same pages once the SQL names the indexed field.
    let before = index_scans(&pool, "rank").await;
    for (i, (field, descending)) in [("rank", true), ("rank", false), ("it's", true)]
        .into_iter()
        .enumerate()
    {
        let page = ids(&storage.list(sorted(field, descending)).await.unwrap());
        assert_eq!(page, expected[i], "{field} descending={descending}");
    }
    // The planner walks the index (statistics reach the view within a
    // second or so).
    let deadline = Instant::now() + Duration::from_secs(10);
    while index_scans(&pool, "rank").await <= before {
        assert!(
            Instant::now() < deadline,
            "the rank index was never scanned"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // At most 2 indexes: a third field gets none, and still lists.
    for _ in 0..10 {
        let page = storage.list(sorted("category", true)).await.unwrap();
        assert_eq!(page.len(), 25);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(index_state(&pool, "category").await, None);

    // Another instance finds the existing indexes by name.
    let other = PostgresStorage::new(pool.clone()).with_sort_indexes(2, 1);
    other.list(sorted("rank", true)).await.unwrap();
    let page = ids(&other.list(sorted("rank", true)).await.unwrap());
    assert_eq!(page, expected[0]);

    drop(storage);
    drop(other);
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_leftover_is_rebuilt_and_zero_turns_them_off() {
    let Some(url) = database_url("sort_indexes_leftover") else {
        return;
    };
    let scratch = Scratch::new(&url, "sortleft").await;
    let pool = scratch.pool.clone();
    let storage = PostgresStorage::new(pool.clone()).with_sort_indexes(4, 1);
    fill(&storage, PARENT, 30).await;
    // A concurrent build that failed leaves an invalid index behind.
    let failed = pool
        .get()
        .await
        .unwrap()
        .batch_execute(&format!(
            "CREATE UNIQUE INDEX CONCURRENTLY {} ON objects ((data -> 'category'))",
            index_name("category")
        ))
        .await;
    assert!(failed.is_err(), "duplicate categories");
    assert_eq!(index_state(&pool, "category").await, Some(false));
    until_ready(&storage, &pool, "category", || sorted("category", false)).await;
    let page = storage.list(sorted("category", false)).await.unwrap();
    assert_eq!(page.len(), 10);

    let off = PostgresStorage::new(pool.clone()).with_sort_indexes(0, 1);
    for _ in 0..5 {
        off.list(sorted("rank", true)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(index_state(&pool, "rank").await, None);

    drop(storage);
    drop(off);
    scratch.drop().await;
}

/// An index another instance is still building is invalid until done: it
/// is waited for, never dropped under the builder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_being_built_elsewhere_is_left_alone() {
    let Some(url) = database_url("sort_indexes_elsewhere") else {
        return;
    };
    let scratch = Scratch::new(&url, "sortelse").await;
    let pool = scratch.pool.clone();
    let storage = PostgresStorage::new(pool.clone()).with_sort_indexes(4, 1);
    fill(&storage, PARENT, 1500).await;
    analyze(&pool).await;
    // An open snapshot holds a concurrent build in its last phase.
    let holder = pool.get().await.unwrap();
    holder
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM objects")
        .await
        .unwrap();
    let builder = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.get()
                .await
                .unwrap()
                .batch_execute(&format!(
                    "CREATE INDEX CONCURRENTLY {} ON objects (parent_id, resource_name, (data -> 'rank'))",
                    index_name("rank")
                ))
                .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while index_state(&pool, "rank").await != Some(false) {
        assert!(Instant::now() < deadline, "the build never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let oid = index_oid(&pool, "rank").await;
    for _ in 0..5 {
        storage.list(sorted("rank", true)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!builder.is_finished(), "the build was not held");
    assert_eq!(index_state(&pool, "rank").await, Some(false));
    holder.batch_execute("COMMIT").await.unwrap();
    builder.await.unwrap().expect("the other build completes");
    until_ready(&storage, &pool, "rank", || sorted("rank", true)).await;
    for _ in 0..10 {
        storage.list(sorted("rank", true)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        index_oid(&pool, "rank").await,
        oid,
        "the index built elsewhere was dropped and made again"
    );
    // And lists use it.
    let before = index_scans(&pool, "rank").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while index_scans(&pool, "rank").await <= before {
        assert!(Instant::now() < deadline, "lists never used the index");
        storage.list(sorted("rank", true)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(holder);
    drop(storage);
    scratch.drop().await;
}
