//! Arbitrary field names and values thrown at the SQL translation, against
//! the real database: the answers are those of `cliquet-filter`'s
//! evaluator, field names never break the SQL (they are bound parameters),
//! and the only refusal is the database's own for a NUL character in a
//! value (400 errno 107).

mod support;

use cliquet_filter::{Filter, Operator, SortField, compare_objects};
use cliquet_postgres::PostgresStorage;
use cliquet_storage::storage::{Create, List};
use cliquet_storage::{Storage, StorageError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use support::{Scratch, database_url};

const PARENT: &str = "/buckets/b/collections/arbitrary";

/// Field names: hostile ones, dotted ones, and anything at all.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => prop::sample::select(vec!["n", "s", "a.b", "a", "tags"]).prop_map(str::to_owned),
        4 => prop::sample::select(vec![
            "n", "s", "a.b", "id", "last_modified", "'); DROP TABLE objects; --", "%", "_", "*", "$1",
            "a\\b", "\"q\"", "ü", "", "a..b", "tags", "0",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// Scalars, mostly from small pools so that filters hit stored values.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        4 => (-3i64..3).prop_map(Value::from),
        1 => (-8i32..8).prop_map(|n| json!(f64::from(n) / 4.0)),
        3 => prop::sample::select(vec!["", "a", "A", "abc", "x%y", "x_y", "*", "ü", "'", "\\"]).prop_map(Value::from),
        1 => any::<String>().prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map(field_name(), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn operator() -> impl Strategy<Value = Operator> {
    prop::sample::select(Operator::ALL.to_vec())
}

fn filter() -> impl Strategy<Value = Filter> {
    (field_name(), operator(), value()).prop_map(|(field, operator, value)| {
        let value = match operator {
            Operator::In | Operator::Exclude | Operator::Contains | Operator::ContainsAny
                if !value.is_array() =>
            {
                Value::Array(vec![value])
            }
            // The querystring only gives ASCII-ish patterns; case folding of
            // exotic letters differs between ILIKE and Unicode lowercase.
            Operator::Like => Value::from(
                value
                    .as_str()
                    .unwrap_or("*a*")
                    .chars()
                    .filter(char::is_ascii)
                    .collect::<String>(),
            ),
            _ => value,
        };
        Filter::new(field.as_str(), operator, value)
    })
}

/// Objects without NUL characters (the database cannot store them).
fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(field_name(), value(), 0..5).prop_map(|m| {
        m.into_iter()
            .filter(|(k, v)| !k.contains('\0') && !v.to_string().contains("\\u0000"))
            .collect()
    })
}

fn has_nul(filters: &[Filter]) -> bool {
    filters
        .iter()
        .any(|f| f.value.to_string().contains("\\u0000"))
}

#[test]
fn arbitrary_filters_and_sorts_agree_with_the_evaluator() {
    let Some(url) = database_url("arbitrary_filters_and_sorts_agree_with_the_evaluator") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let scratch = rt.block_on(Scratch::new(&url, "arbitrary"));
    let storage = PostgresStorage::new(scratch.pool.clone());
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(object(), 1..10),
        prop::collection::vec(filter(), 0..3),
        prop::collection::vec((field_name(), any::<bool>()), 0..3),
    );
    let result = runner.run(&strategy, |(objects, filters, sort)| {
        rt.block_on(async {
            storage
                .flush()
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut stored = Vec::new();
            for (i, data) in objects.into_iter().enumerate() {
                let object = storage
                    .create(Create::new("record", PARENT, format!("o{i}"), data))
                    .await
                    .map_err(|e| TestCaseError::fail(format!("create: {e}")))?;
                stored.push(object.to_json());
            }
            let mut sort: Vec<SortField> = sort
                .into_iter()
                .map(|(field, descending)| SortField {
                    field: field.as_str().into(),
                    descending,
                })
                .collect();
            sort.push(SortField::desc("last_modified"));
            let answer = storage
                .list(
                    List::new("record", PARENT)
                        .with_filters(filters.clone())
                        .with_sort(sort.clone()),
                )
                .await;
            let answer = match answer {
                Ok(answer) => answer,
                Err(StorageError::InvalidInput { .. }) if has_nul(&filters) => return Ok(()),
                Err(other) => {
                    return Err(TestCaseError::fail(format!("{other:?} for {filters:?}")));
                }
            };
            let mut expected: Vec<&Value> = stored
                .iter()
                .filter(|o| filters.iter().all(|f| f.matches(o)))
                .collect();
            expected.sort_by(|a, b| compare_objects(&sort, a, b));
            let got: Vec<Value> = answer.into_iter().map(|o| o.to_json()).collect();
            let expected: Vec<Value> = expected.into_iter().cloned().collect();
            prop_assert_eq!(got, expected, "filters {:?} sort {:?}", filters, sort);
            Ok(())
        })
    });
    rt.block_on(scratch.drop());
    if let Err(error) = result {
        panic!("{error}");
    }
}
