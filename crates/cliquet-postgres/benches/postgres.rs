//! Benchmarks against the real database named by
//! `CLIQUET_TEST_POSTGRES_URL` (skipped without it):
//!
//! - `create` and `get` of one object through the `Storage` trait, and the
//!   same statements run raw with `tokio-postgres` on the same pool (the
//!   limit the backend can reach);
//! - listing the first page (100 objects) of a 1,000-object and of a
//!   100,000-object collection: with the indexes, both cost about the same.
//!
//! Run briefly: `cargo bench -p cliquet-postgres -- --warm-up-time 1 --measurement-time 3`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cliquet_filter::SortField;
use cliquet_postgres::{Component, Pool, PostgresStorage, ScratchSchema, migrate, statements};
use cliquet_storage::Storage;
use cliquet_storage::storage::{Create, Get, List};
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::future::join4;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

const PARENT: &str = "/buckets/bench/collections/c";

fn data() -> serde_json::Map<String, Value> {
    json!({"title": "a benchmark record", "n": 42, "tags": ["x", "y"]})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

async fn fill(pool: &Pool, parent: &str, count: i64) {
    let client = pool.get().await.expect("connection");
    client
        .execute(
            "INSERT INTO objects (id, parent_id, resource_name, data, last_modified, deleted) \
             SELECT 'o' || i, $1::text, 'record', jsonb_build_object('i', i, 'title', 'object ' || i), \
                    from_epoch(1700000000000 + i), FALSE FROM generate_series(1, $2::bigint) AS i",
            &[&parent, &count],
        )
        .await
        .expect("fill");
    client
        .batch_execute("VACUUM ANALYZE objects")
        .await
        .expect("vacuum");
}

async fn raw_create(pool: &Pool, create_sql: &str, id: String) {
    let data = Value::Object(data());
    let client = pool.get().await.expect("connection");
    let lock = client
        .prepare_cached(statements::LOCK)
        .await
        .expect("prepare");
    let insert = client.prepare_cached(create_sql).await.expect("prepare");
    let resource = "record";
    let none: Option<i64> = None;
    let (begin, locked, rows, commit) = join4(
        client.batch_execute("BEGIN"),
        client.query(&lock, &[&PARENT, &resource]),
        client.query(&insert, &[&id, &PARENT, &resource, &data, &none]),
        client.batch_execute("COMMIT"),
    )
    .await;
    begin
        .and(locked.map(drop))
        .and(rows.map(drop))
        .and(commit)
        .expect("raw create");
}

async fn raw_get(pool: &Pool) {
    let client = pool.get().await.expect("connection");
    let get = client
        .prepare_cached(statements::GET)
        .await
        .expect("prepare");
    let row = client
        .query_opt(&get, &[&"target", &PARENT, &"record"])
        .await
        .expect("raw get")
        .expect("found");
    let _: (i64, Value) = (row.get(0), row.get(1));
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Runs two operations alternately, so that both see the same load, and
/// returns their median durations.
async fn paired<A, B, FA, FB>(rounds: usize, mut backend: A, mut raw: B) -> (Duration, Duration)
where
    A: FnMut(usize) -> FA,
    B: FnMut(usize) -> FB,
    FA: std::future::Future<Output = ()>,
    FB: std::future::Future<Output = ()>,
{
    let (mut ours, mut theirs) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for i in 0..rounds {
        let start = Instant::now();
        backend(i).await;
        ours.push(start.elapsed());
        let start = Instant::now();
        raw(i).await;
        theirs.push(start.elapsed());
    }
    (median(ours), median(theirs))
}

fn report_rate(name: &str, (ours, raw): (Duration, Duration)) {
    println!(
        "paired {name}: Storage trait median {ours:?}, raw statements median {raw:?}: \
         the trait reaches {:.0}% of the raw rate",
        100.0 * raw.as_secs_f64() / ours.as_secs_f64()
    );
}

fn benches(c: &mut Criterion) {
    let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
        eprintln!("skipped the PostgreSQL benchmarks: CLIQUET_TEST_POSTGRES_URL is not set");
        return;
    };
    let rt = Runtime::new().expect("runtime");
    let scratch = rt
        .block_on(ScratchSchema::create(&url, "bench"))
        .expect("schema");
    let pool = Pool::new(&scratch.settings()).expect("pool");
    rt.block_on(migrate(&pool, &[Component::Storage], false))
        .expect("migrate");
    let storage = PostgresStorage::new(pool.clone());
    let counter = AtomicU64::new(0);
    let create_sql = statements::create();

    let mut group = c.benchmark_group("create");
    group.bench_function("storage_trait", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let id = format!("t{}", counter.fetch_add(1, Ordering::Relaxed));
                    storage
                        .create(Create::new("record", PARENT, id, data()))
                        .await
                        .expect("create");
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("raw_statements", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let id = format!("r{}", counter.fetch_add(1, Ordering::Relaxed));
                    raw_create(&pool, &create_sql, id).await;
                }
                start.elapsed()
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("get");
    rt.block_on(storage.create(Create::new("record", PARENT, "target", data())))
        .expect("create");
    group.bench_function("storage_trait", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    storage
                        .get(Get::new("record", PARENT, "target"))
                        .await
                        .expect("get");
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("raw_statements", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    raw_get(&pool).await;
                }
                start.elapsed()
            })
        })
    });
    group.finish();

    rt.block_on(async {
        let create = paired(
            400,
            |i| {
                let storage = &storage;
                async move {
                    storage
                        .create(Create::new("record", PARENT, format!("pt{i}"), data()))
                        .await
                        .expect("create");
                }
            },
            |i| raw_create(&pool, &create_sql, format!("pr{i}")),
        )
        .await;
        report_rate("create", create);
        let get = paired(
            4000,
            |_| {
                let storage = &storage;
                async move {
                    storage
                        .get(Get::new("record", PARENT, "target"))
                        .await
                        .expect("get");
                }
            },
            |_| raw_get(&pool),
        )
        .await;
        report_rate("get", get);
    });

    let small = "/buckets/bench/collections/small";
    let large = "/buckets/bench/collections/large";
    rt.block_on(fill(&pool, small, 1_000));
    rt.block_on(fill(&pool, large, 100_000));
    let first_page = |parent: &'static str| {
        let storage = &storage;
        async move {
            let page = storage
                .list(
                    List::new("record", parent)
                        .with_sort(vec![SortField::desc("last_modified")])
                        .with_limit(Some(101)),
                )
                .await
                .expect("list");
            assert_eq!(page.len(), 101);
        }
    };
    let (of_large, of_small) =
        rt.block_on(paired(2000, |_| first_page(large), |_| first_page(small)));
    println!(
        "paired list: first 100 of 100,000 median {of_large:?}, of 1,000 median {of_small:?}: ratio {:.2}",
        of_large.as_secs_f64() / of_small.as_secs_f64()
    );
    let mut group = c.benchmark_group("list_first_page_of_100");
    for (name, parent) in [("of_1k", small), ("of_100k", large)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let page = storage
                            .list(
                                List::new("record", parent)
                                    .with_sort(vec![SortField::desc("last_modified")])
                                    .with_limit(Some(101)),
                            )
                            .await
                            .expect("list");
                        assert_eq!(page.len(), 101);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
    rt.block_on(scratch.drop_schema()).expect("drop schema");
}

criterion_group! {
    name = postgres;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(postgres);
