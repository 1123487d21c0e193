//! Listing a 10,000-object collection of the memory backend with a filter
//! and a sort, as a plural `GET` does; and single-object writes and reads.
//!
//! Run briefly with
//! `cargo bench -p cliquet-memory -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use cliquet_filter::{Filter, Operator, SortField};
use cliquet_memory::MemoryBackend;
use cliquet_storage::Storage;
use cliquet_storage::storage::{Count, Create, Get, List, Update};
use criterion::{Criterion, criterion_group, criterion_main};
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
    group.bench_function("filter 50% + sort, all 5,000 returned", |b| {
        b.iter(|| {
            runtime
                .block_on(backend.list(black_box(half())))
                .expect("listed")
        })
    });
    group.bench_function("filter 50% + sort, first page of 100", |b| {
        b.iter(|| {
            runtime
                .block_on(backend.list(black_box(half().with_limit(Some(101)))))
                .expect("listed")
        })
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
    group.bench_function("filter 3% + sort", |b| {
        b.iter(|| {
            runtime
                .block_on(backend.list(black_box(selective())))
                .expect("listed")
        })
    });
    group.bench_function("no filter, default sort, page of 100", |b| {
        let params = List::new("record", "/bench")
            .with_sort(vec![SortField::desc("last_modified")])
            .with_limit(Some(101));
        b.iter(|| {
            runtime
                .block_on(backend.list(black_box(params.clone())))
                .expect("listed")
        })
    });
    group.bench_function("count with filter", |b| {
        let params = Count::new("record", "/bench").with_filters(vec![Filter::new(
            "tags",
            Operator::Contains,
            json!(["even"]),
        )]);
        b.iter(|| {
            runtime
                .block_on(backend.count(black_box(params.clone())))
                .expect("counted")
        })
    });
    group.finish();

    let mut group = c.benchmark_group("memory object");
    group.bench_function("get", |b| {
        b.iter(|| {
            runtime
                .block_on(backend.get(black_box(Get::new("record", "/bench", "04242"))))
                .expect("got")
        })
    });
    let data = json!({"title": "updated", "n": 1})
        .as_object()
        .cloned()
        .expect("an object");
    group.bench_function("update", |b| {
        b.iter(|| {
            let params = Update::new("record", "/bench", "04242", data.clone());
            runtime
                .block_on(backend.update(black_box(params)))
                .expect("updated")
        })
    });
    group.finish();
}

criterion_group!(benches, list);
criterion_main!(benches);
