//! The evaluator against a real PostgreSQL: `jsonb` order, equality,
//! containment and `ILIKE` must give the very answers the database gives.
//!
//! Runs when `CLIQUET_TEST_POSTGRES_URL` is set (a database whose collation
//! is `C` or `C.UTF-8`, as the crate docs recommend); skipped otherwise.

use std::cmp::Ordering;

use cliquet_filter::{jsonb, like};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use tokio_postgres::NoTls;

fn leaf() -> impl Strategy<Value = Value> {
    proptest::prop_oneof![
        proptest::strategy::Just(Value::Null),
        proptest::bool::ANY.prop_map(Value::Bool),
        (-3i64..3).prop_map(|n| json!(n)),
        (-2.0f64..2.0).prop_map(|f| json!(f)),
        "[aAbé_%]{0,2}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        proptest::prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map("[ab]{1,2}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Hand-picked values at the edges, then generated ones.
fn corpus() -> Vec<Value> {
    let mut values = vec![
        json!([]),
        json!({}),
        json!(null),
        json!([null]),
        json!([[]]),
        json!({"a": []}),
        json!({"a": null}),
        json!({"b": 1, "aa": 2}),
        json!({"aa": 1, "b": 2}),
        json!([1, 2]),
        json!([2]),
        json!(1),
        json!(1.0),
        json!("1"),
        json!(true),
        json!(["a", ["b"]]),
        json!([{"a": 1, "b": 2}, 3]),
        json!(i64::MAX),
        json!(-0.5),
    ];
    let mut runner = TestRunner::deterministic();
    let strategy = value();
    for _ in 0..60 {
        values.push(strategy.new_tree(&mut runner).unwrap().current());
    }
    values
}

/// `*` is the only wildcard of `like_`: `%`, `_` and `\` are escaped.
fn ilike_pattern(pattern: &str) -> String {
    let mut out = String::new();
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[tokio::test]
async fn evaluator_agrees_with_postgresql() {
    let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
        eprintln!("skipped: CLIQUET_TEST_POSTGRES_URL is not set");
        return;
    };
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);

    let values = corpus();
    client
        .batch_execute("CREATE TEMPORARY TABLE oracle (n INT, v JSONB)")
        .await
        .unwrap();
    for (n, value) in values.iter().enumerate() {
        client
            .execute("INSERT INTO oracle VALUES ($1, $2)", &[&(n as i32), value])
            .await
            .unwrap();
    }

    let rows = client
        .query(
            "SELECT a.n, b.n, a.v < b.v, a.v = b.v, a.v @> b.v, \
                    jsonb_build_object('f', a.v) @> jsonb_build_object('f', jsonb_build_array(b.v)) \
             FROM oracle a, oracle b",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), values.len() * values.len());
    for row in rows {
        let (a, b) = (
            &values[row.get::<_, i32>(0) as usize],
            &values[row.get::<_, i32>(1) as usize],
        );
        let less: bool = row.get(2);
        let equal: bool = row.get(3);
        let contains: bool = row.get(4);
        let contains_element: bool = row.get(5);
        assert_eq!(jsonb::compare(a, b) == Ordering::Less, less, "{a} < {b}");
        assert_eq!(jsonb::equal(a, b), equal, "{a} = {b}");
        assert_eq!(jsonb::contains(a, b), contains, "{a} @> {b}");
        // What `contains_f=<b>` translates to, for a field holding `a`.
        let filter =
            cliquet_filter::Filter::new("f", cliquet_filter::Operator::Contains, json!([b]));
        assert_eq!(
            filter.matches(&json!({ "f": a })),
            contains_element,
            "contains_f={b} on {a}"
        );
    }

    // ILIKE over the string values, with our escaping of `%` and `_`.
    let texts: Vec<&str> = ["", "abc", "ABC", "a%c", "a_c", "École", "x*y", "\\"].to_vec();
    let patterns = [
        "*", "*b*", "A*", "*c", "a%c", "a_c", "*É*", "é*", "*\\*", "x*y", "*%*",
    ];
    for text in &texts {
        for pattern in patterns {
            let row = client
                .query_one(
                    "SELECT $1::text ILIKE $2::text",
                    &[text, &ilike_pattern(pattern)],
                )
                .await
                .unwrap();
            let expected: bool = row.get(0);
            assert_eq!(like(text, pattern), expected, "{text:?} like {pattern:?}");
        }
    }
}
