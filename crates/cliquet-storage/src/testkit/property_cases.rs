//! Random objects, random queries: the backend must answer exactly what
//! `cliquet-filter`'s evaluator answers.
//!
//! Each generated case fills a collection of its own (some objects then
//! deleted, leaving tombstones), then lists it with random filters (every
//! operator, on data fields, nested fields, `id` and `last_modified`),
//! sorts, a limit, the pagination rules of a token taken from a random
//! object, with or without tombstones, and counts it. A failing case is
//! shrunk to a minimal one before the test fails.
//!
//! `PROPTEST_CASES` sets the number of cases (default 64).

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

use super::support::RECORD;
use crate::Backends;
use crate::cliquet_filter::{Filter, Operator, PaginationToken, SortField, compare_objects};
use crate::storage::{Count, Create, Delete, List};

const DATA_FIELDS: [&str; 4] = ["n", "s", "l", "o"];
const FILTER_FIELDS: [&str; 5] = ["n", "s", "l", "o", "o.k"];
const IDS: [&str; 5] = ["o0", "o1", "o3", "o7", "zz"];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-2_i64..4).prop_map(Value::from),
        prop::sample::select(vec![2.5, -0.5, 1.0]).prop_map(Value::from),
        prop::sample::select(vec!["a", "B", "ab", "é", "", "A*b", "b"]).prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        5 => scalar(),
        2 => prop::collection::vec(scalar(), 0..3).prop_map(Value::from),
        2 => scalar().prop_map(|v| json!({"k": v})),
        1 => Just(json!({})),
    ]
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(prop::sample::select(DATA_FIELDS.to_vec()), value(), 0..4).prop_map(
        |fields| {
            fields
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect()
        },
    )
}

/// A filter to build once the objects (and their timestamps) exist.
#[derive(Clone, Debug)]
enum FilterSpec {
    Ready(Filter),
    /// On `last_modified`: values picked among the stored timestamps
    /// (index modulo their number) plus a small offset.
    Modified(Operator, Vec<(usize, i64)>),
}

const COMPARISONS: [Operator; 6] = [
    Operator::Eq,
    Operator::Not,
    Operator::Min,
    Operator::Max,
    Operator::Lt,
    Operator::Gt,
];

fn data_filter() -> impl Strategy<Value = FilterSpec> {
    let field = prop::sample::select(FILTER_FIELDS.to_vec());
    let comparison = (
        field.clone(),
        prop::sample::select(COMPARISONS.to_vec()),
        value(),
    )
        .prop_map(|(field, operator, value)| Filter::new(field, operator, value));
    let list = (
        field.clone(),
        prop::sample::select(vec![Operator::In, Operator::Exclude]),
        prop::collection::vec(scalar(), 0..3),
    )
        .prop_map(|(field, operator, values)| Filter::new(field, operator, values));
    let like = (
        field.clone(),
        prop::sample::select(vec!["*a*", "a*", "*b", "*", "*é*", "ab", "*a*b*", "A"]),
    )
        .prop_map(|(field, pattern)| Filter::new(field, Operator::Like, pattern));
    let has = (field.clone(), any::<bool>())
        .prop_map(|(field, present)| Filter::new(field, Operator::Has, present));
    let contains = (
        field,
        prop::sample::select(vec![Operator::Contains, Operator::ContainsAny]),
        prop::collection::vec(value(), 0..3),
    )
        .prop_map(|(field, operator, values)| Filter::new(field, operator, values));
    prop_oneof![4 => comparison, 2 => list, 1 => like, 1 => has, 2 => contains]
        .prop_map(FilterSpec::Ready)
}

fn id_filter() -> impl Strategy<Value = FilterSpec> {
    let id = prop::sample::select(IDS.to_vec());
    let comparison = (prop::sample::select(COMPARISONS.to_vec()), id.clone())
        .prop_map(|(operator, id)| Filter::new("id", operator, id));
    let list = (
        prop::sample::select(vec![Operator::In, Operator::Exclude]),
        prop::collection::vec(id, 0..3),
    )
        .prop_map(|(operator, ids)| Filter::new("id", operator, ids));
    let like = prop::sample::select(vec!["*1*", "o*", "*7"])
        .prop_map(|pattern| Filter::new("id", Operator::Like, pattern));
    prop_oneof![comparison, list, like].prop_map(FilterSpec::Ready)
}

fn modified_filter() -> impl Strategy<Value = FilterSpec> {
    let pick = (0_usize..16, -1_i64..=1);
    let single = (prop::sample::select(COMPARISONS.to_vec()), pick.clone())
        .prop_map(|(operator, pick)| FilterSpec::Modified(operator, vec![pick]));
    let list = (
        prop::sample::select(vec![Operator::In, Operator::Exclude]),
        prop::collection::vec(pick, 0..3),
    )
        .prop_map(|(operator, picks)| FilterSpec::Modified(operator, picks));
    prop_oneof![3 => single, 1 => list]
}

fn sort() -> impl Strategy<Value = Vec<SortField>> {
    let field = prop::sample::select(vec!["n", "s", "l", "o", "o.k", "id"]);
    (
        prop::collection::vec((field, any::<bool>()), 0..3),
        any::<bool>(),
    )
        .prop_map(|(fields, newest_first)| {
            let mut sort: Vec<SortField> = fields
                .into_iter()
                .map(|(field, descending)| {
                    if descending {
                        SortField::desc(field)
                    } else {
                        SortField::asc(field)
                    }
                })
                .collect();
            // `last_modified` ends every query's sort, making the order total.
            sort.push(if newest_first {
                SortField::desc("last_modified")
            } else {
                SortField::asc("last_modified")
            });
            sort
        })
}

#[derive(Clone, Debug)]
struct Case {
    objects: Vec<(Map<String, Value>, bool)>,
    filters: Vec<FilterSpec>,
    sort: Vec<SortField>,
    limit: Option<usize>,
    /// Continue after the object at this index of the full ordered answer.
    after: Option<usize>,
    include_deleted: bool,
}

fn case() -> impl Strategy<Value = Case> {
    let filter = prop_oneof![6 => data_filter(), 1 => id_filter(), 1 => modified_filter()];
    (
        prop::collection::vec((object(), prop::bool::weighted(0.2)), 0..14),
        prop::collection::vec(filter, 0..3),
        sort(),
        prop::option::weighted(0.4, 1_usize..8),
        prop::option::weighted(0.3, 0_usize..14),
        any::<bool>(),
    )
        .prop_map(
            |(objects, filters, sort, limit, after, include_deleted)| Case {
                objects,
                filters,
                sort,
                limit,
                after,
                include_deleted,
            },
        )
}

static COLLECTIONS: AtomicUsize = AtomicUsize::new(0);

/// Runs one case; `Err` describes the disagreement.
async fn check(backends: &Backends, case: &Case) -> Result<(), String> {
    let storage = &backends.storage;
    let parent = format!("/property/{}", COLLECTIONS.fetch_add(1, Ordering::Relaxed));
    let mut docs = Vec::new();
    for (index, (fields, _)) in case.objects.iter().enumerate() {
        let created = storage
            .create(Create::new(
                RECORD,
                &parent,
                format!("o{index}"),
                fields.clone(),
            ))
            .await;
        docs.push(created.map_err(|error| format!("create failed: {error}"))?);
    }
    for (index, (_, deleted)) in case.objects.iter().enumerate() {
        if *deleted {
            let deletion = storage
                .delete(Delete::new(RECORD, &parent, format!("o{index}")))
                .await;
            docs[index] = deletion
                .map_err(|error| format!("delete failed: {error}"))?
                .tombstone;
        }
    }
    let docs: Vec<Value> = docs.iter().map(crate::Object::to_json).collect();
    let timestamps: Vec<i64> = docs
        .iter()
        .map(|doc| doc["last_modified"].as_i64().unwrap_or(0))
        .collect();
    let filters: Vec<Filter> = case
        .filters
        .iter()
        .map(|spec| match spec {
            FilterSpec::Ready(filter) => filter.clone(),
            FilterSpec::Modified(operator, picks) => {
                let values: Vec<i64> = picks
                    .iter()
                    .map(|(index, delta)| {
                        timestamps
                            .get(index % timestamps.len().max(1))
                            .copied()
                            .unwrap_or(1)
                            + delta
                    })
                    .collect();
                let value = if operator.takes_list() {
                    json!(values)
                } else {
                    json!(values.first().copied().unwrap_or(1))
                };
                Filter::new("last_modified", *operator, value)
            }
        })
        .collect();

    let candidates: Vec<&Value> = docs
        .iter()
        .filter(|doc| case.include_deleted || doc.get("deleted").is_none())
        .filter(|doc| filters.iter().all(|filter| filter.matches(doc)))
        .collect();
    let mut ordered = candidates.clone();
    ordered.sort_by(|a, b| compare_objects(&case.sort, a, b));
    let pagination = match case.after.and_then(|index| ordered.get(index)) {
        Some(last) => PaginationToken::new(&case.sort, last, 0).pagination_rules(&case.sort),
        None => Vec::new(),
    };
    let mut expected: Vec<Value> = ordered
        .iter()
        .filter(|doc| pagination.is_empty() || pagination.iter().any(|rule| rule.matches(doc)))
        .map(|doc| (*doc).clone())
        .collect();
    if let Some(limit) = case.limit {
        expected.truncate(limit);
    }

    let params = List::new(RECORD, &parent)
        .with_filters(filters.clone())
        .with_sort(case.sort.clone())
        .with_pagination(pagination.clone())
        .with_limit(case.limit)
        .with_include_deleted(case.include_deleted);
    let listed = storage
        .list(params)
        .await
        .map_err(|error| format!("list failed: {error}"))?;
    let actual: Vec<Value> = listed.iter().map(crate::Object::to_json).collect();
    if actual != expected {
        return Err(format!(
            "list disagrees with the evaluator\nfilters: {filters:?}\npagination: {pagination:?}\nexpected: {expected:#?}\nactual: {actual:#?}"
        ));
    }

    let count = storage
        .count(
            Count::new(RECORD, &parent)
                .with_filters(filters.clone())
                .with_include_deleted(case.include_deleted),
        )
        .await
        .map_err(|error| format!("count failed: {error}"))?;
    if count != candidates.len() as u64 {
        return Err(format!(
            "count is {count}, the evaluator counts {} (filters {filters:?})",
            candidates.len()
        ));
    }
    Ok(())
}

pub(super) async fn lists_agree_with_the_evaluator(backends: Backends) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = case();
    for _ in 0..cases {
        let mut tree = strategy
            .new_tree(&mut runner)
            .expect("the strategy generates cases");
        let Err(first) = check(&backends, &tree.current()).await else {
            continue;
        };
        // Shrink: simplify while it fails, step back towards the failure
        // when a simplification passes.
        let (mut minimal, mut reason, mut failing) = (tree.current(), first, true);
        for _ in 0..1024 {
            let moved = if failing {
                tree.simplify()
            } else {
                tree.complicate()
            };
            if !moved {
                break;
            }
            match check(&backends, &tree.current()).await {
                Err(error) => (minimal, reason, failing) = (tree.current(), error, true),
                Ok(()) => failing = false,
            }
        }
        panic!(
            "the backend disagrees with cliquet-filter's evaluator\nminimal case: {minimal:#?}\n{reason}"
        );
    }
}
