//! Parsing a querystring with 10 filters and a sort; filtering and sorting
//! 10,000 objects in memory.
//!
//! `cargo bench -p cliquet-filter -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use cliquet_filter::{ParseOptions, Query};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

const QUERYSTRING: &str = "status=2&not_author=%22bob%22&min_size=100&max_size=900\
    &gt_rating=1.5&lt_o.depth=8&in_lang=%22en%22,%22fr%22,%22de%22&exclude_kind=3,4\
    &like_title=rust&has_url=true&_sort=-size,title&_limit=50";

fn objects(n: usize) -> Vec<Value> {
    let langs = ["en", "fr", "de", "es"];
    (0..n)
        .map(|i| {
            let mut object = json!({
                "id": format!("{i:08x}-0000-4000-8000-000000000000"),
                "last_modified": 1_700_000_000_000u64 + i as u64,
                "status": (i % 3) as u64,
                "author": if i % 5 == 0 { "bob" } else { "alice" },
                "size": (i * 7919) % 1000,
                "rating": (i % 50) as f64 / 10.0,
                "o": {"depth": i % 12},
                "lang": langs[i % langs.len()],
                "kind": i % 6,
                "title": format!("Notes on Rust, volume {i}"),
            });
            if i % 4 != 0 {
                object["url"] = json!(format!("https://example.com/{i}"));
            }
            object
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let options = ParseOptions::new();
    c.bench_function("parse 10 filters and a sort", |b| {
        b.iter(|| Query::parse(black_box(QUERYSTRING), &options).unwrap())
    });

    let objects = objects(10_000);
    let query = Query::parse(QUERYSTRING, &options).unwrap();
    let everything = Query::parse("_sort=-size,title", &options).unwrap();
    assert!(!query.apply(&objects, usize::MAX).is_empty());
    c.bench_function("filter and sort 10,000 objects (10 filters)", |b| {
        b.iter(|| query.apply(black_box(&objects), query.limit + 1).len())
    });
    c.bench_function("sort 10,000 objects (no filter, limit 10,000)", |b| {
        b.iter(|| everything.apply(black_box(&objects), usize::MAX).len())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
