//! Lists: filters, sorts, limits, counts, tombstones, `_since`, pagination.
//!
//! Expected answers come from `cliquet-filter`'s evaluator (the reference
//! semantics), and, for the cases the protocol documents, are also spelled
//! out, so that a wrong evaluator cannot hide a wrong backend.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::support::*;
use crate::cliquet_filter::{Filter, Operator, ParseOptions, Query, SortField, compare_objects};
use crate::storage::{Count, Create, Delete, List, Update};
use crate::{Backends, Object};

/// Objects with fields of every JSON type, some missing.
fn dataset() -> Vec<(&'static str, Value)> {
    vec![
        (
            "a",
            json!({"n": 1, "s": "alpha", "b": true, "tags": ["x", "y"], "o": {"k": 1}}),
        ),
        (
            "b",
            json!({"n": 5, "s": "Beta", "b": false, "tags": ["y"], "o": {"k": 2}}),
        ),
        (
            "c",
            json!({"n": null, "s": "gamma", "tags": [], "o": {"k": "1"}}),
        ),
        ("d", json!({"n": "x", "s": "delta", "b": true, "tags": "x"})),
        (
            "e",
            json!({"s": "épsilon", "tags": [{"a": 1, "b": 2}, "z"], "o": {}}),
        ),
        (
            "f",
            json!({"n": 2.5, "s": "ALPHABET", "b": false, "tags": ["x", 1], "o": {"k": [1, 2]}}),
        ),
        ("g", json!({"n": [1], "s": 7, "tags": [["x"]]})),
        (
            "h",
            json!({"n": 2, "s": "al*pha", "b": null, "tags": [{"a": 1}], "o": {"k": {"deep": true}}}),
        ),
    ]
}

async fn load(backends: &Backends, parent: &str) -> Vec<Object> {
    let mut objects = Vec::new();
    for (id, fields) in dataset() {
        objects.push(
            backends
                .storage
                .create(Create::new(RECORD, parent, id, data(fields)))
                .await
                .unwrap(),
        );
    }
    objects
}

/// The ids the evaluator selects among `objects` for `filters`.
fn expected_ids(objects: &[Object], filters: &[Filter]) -> BTreeSet<String> {
    objects
        .iter()
        .filter(|object| {
            let doc = object.to_json();
            filters.iter().all(|filter| filter.matches(&doc))
        })
        .map(|object| object.id.clone())
        .collect()
}

/// The ids the backend selects for `filters`, checked against the
/// evaluator's and returned.
async fn check_filters(
    backends: &Backends,
    objects: &[Object],
    filters: Vec<Filter>,
) -> BTreeSet<String> {
    let listed = backends
        .storage
        .list(List::new(RECORD, PARENT).with_filters(filters.clone()))
        .await
        .unwrap();
    let found = id_set(&listed);
    assert_eq!(
        found,
        expected_ids(objects, &filters),
        "filters {filters:?}"
    );
    found
}

pub(super) async fn filters_every_operator(backends: Backends) {
    let objects = load(&backends, PARENT).await;
    let cases: Vec<(Filter, &[&str])> = vec![
        (Filter::new("n", Operator::Eq, 1), &["a"]),
        (Filter::new("n", Operator::Eq, 2.0), &["h"]),
        (Filter::new("n", Operator::Eq, "x"), &["d"]),
        (Filter::new("n", Operator::Eq, Value::Null), &["c"]),
        (Filter::new("n", Operator::Eq, json!([1])), &["g"]),
        (Filter::new("b", Operator::Eq, true), &["a", "d"]),
        (Filter::new("o.k", Operator::Eq, 1), &["a"]),
        (
            Filter::new("o.k", Operator::Eq, json!({"deep": true})),
            &["h"],
        ),
        (
            Filter::new("n", Operator::Not, 1),
            &["b", "c", "d", "e", "f", "g", "h"],
        ),
        (
            Filter::new("n", Operator::Min, 2),
            &["b", "e", "f", "g", "h"],
        ),
        (Filter::new("n", Operator::Max, 2), &["a", "c", "d", "h"]),
        (Filter::new("n", Operator::Lt, 2), &["a", "c", "d"]),
        (Filter::new("n", Operator::Gt, 2), &["b", "e", "f", "g"]),
        (Filter::new("s", Operator::Lt, "b"), &["a", "b", "f", "h"]),
        (
            Filter::new("n", Operator::In, json!([1, "x", 7])),
            &["a", "d"],
        ),
        (Filter::new("n", Operator::In, json!([])), &[]),
        (
            Filter::new("n", Operator::Exclude, json!([1, 5])),
            &["c", "d", "e", "f", "g", "h"],
        ),
        (
            Filter::new("n", Operator::Exclude, json!([])),
            &["a", "b", "c", "d", "e", "f", "g", "h"],
        ),
        (Filter::new("s", Operator::Like, "*alp*"), &["a", "f"]),
        (Filter::new("s", Operator::Like, "al*"), &["a", "f", "h"]),
        (Filter::new("s", Operator::Like, "*ta"), &["b", "d"]),
        (Filter::new("s", Operator::Like, "*PSI*"), &["e"]),
        (Filter::new("n", Operator::Like, "*x*"), &["d"]),
        (
            Filter::new("b", Operator::Has, true),
            &["a", "b", "d", "f", "h"],
        ),
        (Filter::new("b", Operator::Has, false), &["c", "e", "g"]),
        (
            Filter::new("o.k", Operator::Has, true),
            &["a", "b", "c", "f", "h"],
        ),
        (
            Filter::new("tags", Operator::Contains, json!(["x"])),
            &["a", "f"],
        ),
        (
            Filter::new("tags", Operator::Contains, json!(["x", "y"])),
            &["a"],
        ),
        (
            Filter::new("tags", Operator::Contains, json!([{"a": 1}])),
            &["e", "h"],
        ),
        (Filter::new("tags", Operator::Contains, json!([1])), &["f"]),
        (
            Filter::new("tags", Operator::ContainsAny, json!(["y", "z"])),
            &["a", "b", "e"],
        ),
        (
            Filter::new("tags", Operator::ContainsAny, json!([1, ["x"]])),
            &["f", "g"],
        ),
        (Filter::new("tags", Operator::ContainsAny, json!([])), &[]),
    ];
    for (filter, expected) in cases {
        let found = check_filters(&backends, &objects, vec![filter.clone()]).await;
        assert_eq!(found, set(expected), "filter {filter:?}");
    }
    let combined = vec![
        Filter::new("b", Operator::Has, true),
        Filter::new("n", Operator::Lt, 3),
    ];
    assert_eq!(
        check_filters(&backends, &objects, combined).await,
        set(&["a", "d", "f", "h"]),
        "filters are AND-ed"
    );
}

pub(super) async fn filters_on_id_and_last_modified(backends: Backends) {
    let objects = load(&backends, PARENT).await;
    let third = objects[2].last_modified;
    let cases: Vec<(Filter, Vec<&str>)> = vec![
        (Filter::new("id", Operator::Eq, "c"), vec!["c"]),
        (
            Filter::new("id", Operator::In, json!(["a", "c", "zz"])),
            vec!["a", "c"],
        ),
        (
            Filter::new("id", Operator::Exclude, json!(["a", "c"])),
            vec!["b", "d", "e", "f", "g", "h"],
        ),
        (
            Filter::new("id", Operator::Not, "a"),
            vec!["b", "c", "d", "e", "f", "g", "h"],
        ),
        (Filter::new("id", Operator::Gt, "f"), vec!["g", "h"]),
        (Filter::new("id", Operator::Like, "*b*"), vec!["b"]),
        (
            Filter::new("last_modified", Operator::Gt, third),
            vec!["d", "e", "f", "g", "h"],
        ),
        (
            Filter::new("last_modified", Operator::Min, third),
            vec!["c", "d", "e", "f", "g", "h"],
        ),
        (
            Filter::new("last_modified", Operator::Lt, third),
            vec!["a", "b"],
        ),
        (
            Filter::new("last_modified", Operator::Max, third),
            vec!["a", "b", "c"],
        ),
        (Filter::new("last_modified", Operator::Eq, third), vec!["c"]),
        (
            Filter::new(
                "last_modified",
                Operator::In,
                json!([third, objects[0].last_modified]),
            ),
            vec!["a", "c"],
        ),
    ];
    for (filter, expected) in cases {
        let found = check_filters(&backends, &objects, vec![filter.clone()]).await;
        assert_eq!(found, set(&expected), "filter {filter:?}");
    }
}

pub(super) async fn filters_mixed_types_and_missing_fields(backends: Backends) {
    // The protocol's own example: n=1, n=5, n=null, n="x", and no n.
    let storage = &backends.storage;
    let fields = [
        json!({"n": 1}),
        json!({"n": 5}),
        json!({"n": null}),
        json!({"n": "x"}),
        json!({}),
    ];
    let mut objects = Vec::new();
    for (index, fields) in fields.into_iter().enumerate() {
        objects.push(
            storage
                .create(Create::new(
                    RECORD,
                    PARENT,
                    format!("k{index}"),
                    data(fields),
                ))
                .await
                .unwrap(),
        );
    }
    let cases: Vec<(Filter, &[&str])> = vec![
        (Filter::new("n", Operator::Gt, 2), &["k1", "k4"]),
        (Filter::new("n", Operator::Min, 2), &["k1", "k4"]),
        (Filter::new("n", Operator::Lt, 2), &["k0", "k2", "k3"]),
        (Filter::new("n", Operator::Max, 2), &["k0", "k2", "k3"]),
        (
            Filter::new("n", Operator::Gt, Value::Null),
            &["k0", "k1", "k3", "k4"],
        ),
        (Filter::new("n", Operator::Lt, Value::Null), &[]),
        (Filter::new("n", Operator::Eq, "1"), &[]),
        (
            Filter::new("n", Operator::Not, 1),
            &["k1", "k2", "k3", "k4"],
        ),
        (
            Filter::new("n", Operator::Has, true),
            &["k0", "k1", "k2", "k3"],
        ),
        (Filter::new("n", Operator::Has, false), &["k4"]),
        (Filter::new("n", Operator::Like, "*"), &["k3"]),
        (Filter::new("n", Operator::Contains, json!([1])), &[]),
        (
            Filter::new("missing.deep", Operator::Not, 1),
            &["k0", "k1", "k2", "k3", "k4"],
        ),
        (Filter::new("n.deep", Operator::Eq, 1), &[]),
    ];
    for (filter, expected) in cases {
        let found = check_filters(&backends, &objects, vec![filter.clone()]).await;
        assert_eq!(found, set(expected), "filter {filter:?}");
    }
}

/// Checks that the backend's order is the evaluator's; returns the ids.
async fn check_sort(backends: &Backends, objects: &[Object], sort: Vec<SortField>) -> Vec<String> {
    let listed = backends
        .storage
        .list(List::new(RECORD, PARENT).with_sort(sort.clone()))
        .await
        .unwrap();
    let mut expected: Vec<Value> = objects.iter().map(Object::to_json).collect();
    expected.sort_by(|a, b| compare_objects(&sort, a, b));
    let expected_ids: Vec<String> = expected
        .iter()
        .map(|doc| doc["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids(&listed), expected_ids, "sort {sort:?}");
    assert_eq!(
        listed.iter().map(Object::to_json).collect::<Vec<_>>(),
        expected,
        "the objects as stored"
    );
    ids(&listed)
}

pub(super) async fn sorts(backends: Backends) {
    let objects = load(&backends, PARENT).await;
    let by = |fields: &[(&str, bool)]| -> Vec<SortField> {
        let mut sort: Vec<SortField> = fields
            .iter()
            .map(|(field, descending)| {
                if *descending {
                    SortField::desc(*field)
                } else {
                    SortField::asc(*field)
                }
            })
            .collect();
        sort.push(SortField::desc("last_modified"));
        sort
    };
    // JSONB order: null < string < number < boolean < array < object; missing last.
    let ascending = check_sort(&backends, &objects, by(&[("n", false)])).await;
    assert_eq!(
        ascending,
        strings(&["c", "d", "a", "h", "f", "b", "g", "e"])
    );
    let descending = check_sort(&backends, &objects, by(&[("n", true)])).await;
    assert_eq!(
        descending,
        strings(&["e", "g", "b", "f", "h", "a", "d", "c"])
    );
    // Strings by code point: upper case first.
    let strings_order = check_sort(&backends, &objects, by(&[("s", false)])).await;
    assert_eq!(
        strings_order,
        strings(&["f", "b", "h", "a", "d", "c", "e", "g"])
    );
    check_sort(&backends, &objects, by(&[("b", false), ("n", true)])).await;
    check_sort(&backends, &objects, by(&[("o.k", false)])).await;
    check_sort(&backends, &objects, by(&[("tags", true), ("s", false)])).await;
    check_sort(&backends, &objects, by(&[("id", true)])).await;
    let oldest_first = check_sort(&backends, &objects, vec![SortField::asc("last_modified")]).await;
    assert_eq!(
        oldest_first,
        strings(&["a", "b", "c", "d", "e", "f", "g", "h"])
    );
    let default = check_sort(&backends, &objects, Query::default().sort).await;
    assert_eq!(
        default,
        strings(&["h", "g", "f", "e", "d", "c", "b", "a"]),
        "newest first by default"
    );
}

pub(super) async fn limit(backends: Backends) {
    let objects = load(&backends, PARENT).await;
    let sort = vec![SortField::asc("n"), SortField::desc("last_modified")];
    for limit in [1, 3, 8, 20] {
        let listed = backends
            .storage
            .list(
                List::new(RECORD, PARENT)
                    .with_sort(sort.clone())
                    .with_limit(Some(limit)),
            )
            .await
            .unwrap();
        let mut expected: Vec<Value> = objects.iter().map(Object::to_json).collect();
        expected.sort_by(|a, b| compare_objects(&sort, a, b));
        expected.truncate(limit);
        assert_eq!(
            listed.iter().map(Object::to_json).collect::<Vec<_>>(),
            expected,
            "limit {limit}"
        );
    }
    let filtered = List::new(RECORD, PARENT)
        .with_filters(vec![Filter::new("b", Operator::Has, true)])
        .with_sort(sort)
        .with_limit(Some(2));
    assert_eq!(
        ids(&backends.storage.list(filtered).await.unwrap()),
        strings(&["d", "a"])
    );
}

pub(super) async fn count_matches_list(backends: Backends) {
    let objects = load(&backends, PARENT).await;
    let storage = &backends.storage;
    let filter_sets = vec![
        vec![],
        vec![Filter::new("b", Operator::Has, true)],
        vec![
            Filter::new("n", Operator::Gt, 1),
            Filter::new("s", Operator::Like, "*a*"),
        ],
        vec![Filter::new("n", Operator::Eq, 42)],
    ];
    for filters in filter_sets {
        let expected = expected_ids(&objects, &filters).len() as u64;
        let count = storage
            .count(Count::new(RECORD, PARENT).with_filters(filters.clone()))
            .await
            .unwrap();
        assert_eq!(count, expected, "filters {filters:?}");
    }
    storage
        .delete(Delete::new(RECORD, PARENT, "a"))
        .await
        .unwrap();
    assert_eq!(storage.count(Count::new(RECORD, PARENT)).await.unwrap(), 7);
    assert_eq!(
        storage
            .count(Count::new(RECORD, PARENT).with_include_deleted(true))
            .await
            .unwrap(),
        8
    );
    assert_eq!(
        storage
            .count(Count::new(RECORD, "/elsewhere"))
            .await
            .unwrap(),
        0
    );
}

pub(super) async fn tombstones_only_when_asked(backends: Backends) {
    let storage = &backends.storage;
    load(&backends, PARENT).await;
    let deleted = storage
        .delete(Delete::new(RECORD, PARENT, "b"))
        .await
        .unwrap();
    let live = storage.list(List::new(RECORD, PARENT)).await.unwrap();
    assert_eq!(live.len(), 7);
    assert!(live.iter().all(|object| !object.deleted));
    let all = storage
        .list(List::new(RECORD, PARENT).with_include_deleted(true))
        .await
        .unwrap();
    assert_eq!(all.len(), 8);
    assert!(all.contains(&deleted.tombstone));
    // Tombstones are filtered in their protocol form: no data fields...
    let by_field = List::new(RECORD, PARENT)
        .with_include_deleted(true)
        .with_filters(vec![Filter::new("s", Operator::Like, "*e*")]);
    assert!(!ids(&storage.list(by_field).await.unwrap()).contains(&"b".to_owned()));
    // ... but a `deleted: true` field.
    let by_deleted = List::new(RECORD, PARENT)
        .with_include_deleted(true)
        .with_filters(vec![Filter::new("deleted", Operator::Eq, true)]);
    assert_eq!(
        storage.list(by_deleted).await.unwrap(),
        vec![deleted.tombstone]
    );
}

pub(super) async fn since_returns_changes_and_tombstones(backends: Backends) {
    let storage = &backends.storage;
    let a = storage
        .create(Create::new(RECORD, PARENT, "a", data(json!({"v": 1}))))
        .await
        .unwrap();
    let b = storage
        .create(Create::new(RECORD, PARENT, "b", data(json!({"v": 1}))))
        .await
        .unwrap();
    storage
        .create(Create::new(RECORD, PARENT, "c", data(json!({"v": 1}))))
        .await
        .unwrap();
    let updated = storage
        .update(Update::new(RECORD, PARENT, "a", data(json!({"v": 2}))))
        .await
        .unwrap()
        .object;
    let deleted = storage
        .delete(Delete::new(RECORD, PARENT, "c"))
        .await
        .unwrap()
        .tombstone;
    assert!(a.last_modified < b.last_modified);

    let querystring = format!("_since={}&_sort=last_modified", b.last_modified);
    let query = Query::parse(&querystring, &ParseOptions::new()).unwrap();
    let params = List::from_query(RECORD, PARENT, &query);
    assert!(
        params.include_deleted,
        "a filter on last_modified includes tombstones"
    );
    let changes = storage.list(params).await.unwrap();
    assert_eq!(changes, vec![updated, deleted.clone()]);

    let quoted = Query::parse(
        &format!("_since=\"{}\"", deleted.last_modified),
        &ParseOptions::new(),
    )
    .unwrap();
    assert!(
        storage
            .list(List::from_query(RECORD, PARENT, &quoted))
            .await
            .unwrap()
            .is_empty()
    );

    let before = Query::parse(
        &format!("_before={}", b.last_modified),
        &ParseOptions::new(),
    )
    .unwrap();
    assert_eq!(
        ids(&storage
            .list(List::from_query(RECORD, PARENT, &before))
            .await
            .unwrap()),
        Vec::<String>::new()
    );
    let before_c = Query::parse(
        &format!("_before={}", deleted.last_modified),
        &ParseOptions::new(),
    )
    .unwrap();
    let listed = storage
        .list(List::from_query(RECORD, PARENT, &before_c))
        .await
        .unwrap();
    assert_eq!(
        ids(&listed),
        strings(&["a", "b"]),
        "newest first: the updated a, then b"
    );
}

/// Walks every page of `query` (with page size `query.limit`), calling
/// `between` after each page; returns the objects in the order seen.
async fn walk<F, Fut>(backends: &Backends, mut query: Query, mut between: F) -> Vec<Object>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut seen = Vec::new();
    for page in 0.. {
        assert!(page < 1_000, "pagination does not end");
        let params = List::from_query(RECORD, PARENT, &query).with_limit(Some(query.limit + 1));
        let mut objects = backends.storage.list(params).await.unwrap();
        let more = objects.len() > query.limit;
        objects.truncate(query.limit);
        seen.extend(objects.iter().cloned());
        if !more {
            break;
        }
        let last = objects
            .last()
            .expect("a page before the last is not empty")
            .to_json();
        query.token = Some(query.next_token(&last, seen.len() as u64));
        between(page).await;
    }
    seen
}

pub(super) async fn pagination_walks_everything(backends: Backends) {
    let storage = &backends.storage;
    let mut docs = Vec::new();
    for i in 0..23 {
        let fields = if i % 7 == 3 {
            json!({"w": i})
        } else {
            json!({"n": i % 4, "w": i})
        };
        docs.push(
            storage
                .create(Create::new(
                    RECORD,
                    PARENT,
                    format!("o{i:02}"),
                    data(fields),
                ))
                .await
                .unwrap()
                .to_json(),
        );
    }
    for querystring in [
        "_limit=4&_sort=n",
        "_limit=5&_sort=-n,w",
        "_limit=3",
        "_limit=6&_sort=last_modified",
        "_limit=1&gt_w=15&_sort=-n",
    ] {
        let query = Query::parse(querystring, &ParseOptions::new()).unwrap();
        let seen = walk(&backends, query.clone(), |_| async {}).await;
        let mut expected: Vec<&Value> = docs.iter().filter(|doc| query.matches(doc)).collect();
        expected.sort_by(|a, b| query.compare(a, b));
        let expected_ids: Vec<&str> = expected
            .iter()
            .map(|doc| doc["id"].as_str().unwrap())
            .collect();
        let seen_ids: Vec<&str> = seen.iter().map(|object| object.id.as_str()).collect();
        assert_eq!(seen_ids, expected_ids, "pages of {querystring}");
    }
}

pub(super) async fn pagination_stable_under_inserts(backends: Backends) {
    let storage = backends.storage.clone();
    let mut originals = BTreeSet::new();
    for i in 0..20 {
        let object = storage
            .create(Create::new(
                RECORD,
                PARENT,
                format!("o{i:02}"),
                data(json!({"n": i % 6})),
            ))
            .await
            .unwrap();
        originals.insert(object.id);
    }
    for querystring in ["_limit=3", "_limit=4&_sort=n", "_limit=5&_sort=-n"] {
        let query = Query::parse(querystring, &ParseOptions::new()).unwrap();
        let counter = std::sync::atomic::AtomicUsize::new(0);
        let seen = walk(&backends, query, |page| {
            let storage = storage.clone();
            let serial = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async move {
                // New objects arrive during the walk, with sort values before,
                // among and after those already seen.
                for k in 0..2 {
                    let id = format!("new-{querystring}-{serial}-{k}");
                    let fields = data(json!({"n": (page + k * 3) % 7}));
                    storage
                        .create(Create::new(RECORD, PARENT, id, fields))
                        .await
                        .unwrap();
                }
            }
        })
        .await;
        let seen_ids: Vec<String> = ids(&seen);
        let unique: BTreeSet<String> = seen_ids.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            seen_ids.len(),
            "no object is returned twice ({querystring})"
        );
        assert!(
            originals.is_subset(&unique),
            "every original object is returned ({querystring})"
        );
    }
}
