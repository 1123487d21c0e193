//! Listing a 10,000-object collection of the memory backend with a filter
//! and a sort, as a plural `GET` does; and single-object writes and reads.
//!
//! Run briefly with
//! `cargo bench -p cliquet-memory --bench list -- --warm-up-time 1 --measurement-time 3`.
//!
//! Criterion measures wall-clock time, which on a loaded machine includes
//! the time other processes ran. On Linux, each benchmark is therefore
//! measured twice: `wall` as usual, and `cpu`, the time the benchmark's
//! thread was on a CPU (from `/proc/thread-self/schedstat`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use cliquet_filter::{Filter, Operator, SortField};
use cliquet_memory::MemoryBackend;
use cliquet_storage::Storage;
use cliquet_storage::storage::{Count, Create, Get, List, Update};
use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use serde_json::json;

const OBJECTS: usize = 10_000;

fn filled() -> (tokio::runtime::Runtime, MemoryBackend) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let backend = MemoryBackend::new();
    runtime.block_on(async {
        for i in 0..OBJECTS {
            let data = json!({
                "title": format!("bookmark {:05}", (i * 7919) % OBJECTS),
                "url": format!("https://example.com/{i}"),
                "n": i % 100,
                "done": i % 3 == 0,
                "tags": ["web", if i % 2 == 0 { "even" } else { "odd" }],
            });
            let data = data.as_object().cloned().expect("an object");
            backend
                .create(Create::new("record", "/bench", format!("{i:05}"), data))
                .await
                .expect("created");
        }
    });
    (runtime, backend)
}

/// Nanoseconds this thread has run on a CPU, if the kernel says.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Benchmarks `routine` by wall time and, where available, by CPU time.
fn bench<O>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, mut routine: impl FnMut() -> O) {
    group.bench_function(format!("{name} (wall)"), |b| b.iter(&mut routine));
    if thread_cpu_time().is_some() {
        group.bench_function(format!("{name} (cpu)"), |b| {
            b.iter_custom(|iterations| {
                let (start, wall) = (thread_cpu_time(), Instant::now());
                for _ in 0..iterations {
                    black_box(routine());
                }
                match (start, thread_cpu_time()) {
                    (Some(start), Some(end)) => end.saturating_sub(start),
                    _ => wall.elapsed(),
                }
            })
        });
    }
}

fn list(c: &mut Criterion) {
    let (runtime, backend) = filled();
    let mut group = c.benchmark_group("memory list 10k");
    let half = || {
        List::new("record", "/bench")
            .with_filters(vec![Filter::new("n", Operator::Min, 50)])
            .with_sort(vec![
                SortField::asc("title"),
                SortField::desc("last_modified"),
            ])
    };
    bench(&mut group, "filter 50% + sort, all 5,000 returned", || {
        runtime
            .block_on(backend.list(black_box(half())))
            .expect("listed")
    });
    bench(&mut group, "filter 50% + sort, first page of 100", || {
        runtime
            .block_on(backend.list(black_box(half().with_limit(Some(101)))))
            .expect("listed")
    });
    let selective = || {
        List::new("record", "/bench")
            .with_filters(vec![
                Filter::new("done", Operator::Eq, true),
                Filter::new("n", Operator::Lt, 10),
            ])
            .with_sort(vec![
                SortField::desc("title"),
                SortField::desc("last_modified"),
            ])
    };
    bench(&mut group, "filter 3% + sort", || {
        runtime
            .block_on(backend.list(black_box(selective())))
            .expect("listed")
    });
    let newest = List::new("record", "/bench")
        .with_sort(vec![SortField::desc("last_modified")])
        .with_limit(Some(101));
    bench(&mut group, "no filter, newest first, page of 100", || {
        runtime
            .block_on(backend.list(black_box(newest.clone())))
            .expect("listed")
    });
    let contains = Count::new("record", "/bench").with_filters(vec![Filter::new(
        "tags",
        Operator::Contains,
        json!(["even"]),
    )]);
    bench(&mut group, "count with a contains filter", || {
        runtime
            .block_on(backend.count(black_box(contains.clone())))
            .expect("counted")
    });
    // The reference: cliquet-filter's evaluator alone over the same 10,000
    // documents, no storage involved.
    let docs: Vec<serde_json::Value> = runtime
        .block_on(backend.list(List::new("record", "/bench")))
        .expect("listed")
        .iter()
        .map(cliquet_storage::Object::to_json)
        .collect();
    let filter = Filter::new("n", Operator::Min, 50);
    bench(
        &mut group,
        "evaluator alone: filter 50% over 10,000 documents",
        || {
            black_box(&docs)
                .iter()
                .filter(|doc| filter.matches(doc))
                .count()
        },
    );
    group.finish();

    let mut group = c.benchmark_group("memory object");
    bench(&mut group, "get", || {
        runtime
            .block_on(backend.get(black_box(Get::new("record", "/bench", "04242"))))
            .expect("got")
    });
    let data = json!({"title": "updated", "n": 1})
        .as_object()
        .cloned()
        .expect("an object");
    bench(&mut group, "update", || {
        let params = Update::new("record", "/bench", "04242", data.clone());
        runtime
            .block_on(backend.update(black_box(params)))
            .expect("updated")
    });
    group.finish();
}

criterion_group!(benches, list);
criterion_main!(benches);
