//! PostgreSQL's JSONB order, equality and containment, over
//! [`serde_json::Value`].
//!
//! These are the rules of PostgreSQL 9.4+ for `jsonb` (`<`, `=`, `@>`), the
//! reference every backend of ours agrees with:
//!
//! - Types: `null` < string < number < boolean < array < object.
//! - Objects: more pairs is greater; with as many pairs, pairs are compared
//!   in JSONB storage order (keys sorted by length, then bytes), key then
//!   value, the first difference deciding.
//! - Arrays: more elements is greater; with as many elements, element by
//!   element.
//! - Strings: by Unicode code point (PostgreSQL compares with the database
//!   collation: a database created with the `C` or `C.UTF-8` collation, as
//!   we recommend, orders exactly so; Kinto's memory backend did too).
//! - Numbers: by numeric value, so `1` equals `1.0`. Integers are compared
//!   exactly; a float against an integer as floats.
//! - Booleans: `false` < `true`.
//! - The one exception of PostgreSQL: an empty array *at the top level*
//!   sorts before every scalar (before `null`). It applies to the value of a
//!   field (what `data->'f'` yields), not inside arrays and objects.
//!
//! A *missing* field (SQL `NULL`) is not a JSON value: [`compare_optional`]
//! sorts it after every value.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

/// The rank of a JSON type in JSONB order.
fn type_rank(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::String(_) => 1,
        Value::Number(_) => 2,
        Value::Bool(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// The JSONB order of two top-level values (the values of two fields).
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        // PostgreSQL's historical exception: a top-level empty array is a
        // pseudo-array of no element, smaller than a scalar's one-element
        // pseudo-array.
        (Value::Array(x), y) if x.is_empty() && is_scalar(y) => Ordering::Less,
        (x, Value::Array(y)) if y.is_empty() && is_scalar(x) => Ordering::Greater,
        _ => compare_nested(a, b),
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

/// The JSONB order of two values inside arrays or objects.
fn compare_nested(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter()
                .zip(y)
                .map(|(a, b)| compare_nested(a, b))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        }),
        (Value::Object(x), Value::Object(y)) => compare_objects(x, y),
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

/// The order of keys in JSONB storage: shorter first, then bytewise.
fn storage_order(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn compare_objects(x: &Map<String, Value>, y: &Map<String, Value>) -> Ordering {
    match x.len().cmp(&y.len()) {
        Ordering::Equal => {}
        other => return other,
    }
    let mut xs: Vec<(&String, &Value)> = x.iter().collect();
    let mut ys: Vec<(&String, &Value)> = y.iter().collect();
    xs.sort_by(|a, b| storage_order(a.0, b.0));
    ys.sort_by(|a, b| storage_order(a.0, b.0));
    for ((kx, vx), (ky, vy)) in xs.into_iter().zip(ys) {
        match kx.cmp(ky).then_with(|| compare_nested(vx, vy)) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

fn compare_numbers(x: &Number, y: &Number) -> Ordering {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a.cmp(&b);
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a.cmp(&b);
    }
    // One is a float, or one is a negative i64 and the other a u64 beyond
    // i64: compare as floats, which orders the latter case right too.
    let a = x.as_f64().unwrap_or(0.0);
    let b = y.as_f64().unwrap_or(0.0);
    a.total_cmp(&b)
}

/// The order of two field values where `None` is a missing field, sorted
/// after every value (PostgreSQL's `NULLS LAST` of an ascending order).
pub fn compare_optional(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => compare(a, b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// JSONB equality (`=`): the order says equal. `1` equals `1.0`; objects
/// equal whatever the order of their keys.
pub fn equal(a: &Value, b: &Value) -> bool {
    compare(a, b).is_eq()
}

/// JSONB containment of top-level values (`a @> b`).
///
/// Scalars contain equal scalars; an array contains an array whose every
/// element is contained by some element of it; an object contains an
/// object whose every pair has a key of it with a contained value. As in
/// PostgreSQL, a top-level array also contains a scalar it has as an
/// element; deeper, a scalar is never contained by an array.
pub fn contains(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(items), scalar) if is_scalar(scalar) => {
            items.iter().any(|item| contains_nested(item, scalar))
        }
        _ => contains_nested(a, b),
    }
}

fn contains_nested(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => y
            .iter()
            .all(|(k, vy)| x.get(k).is_some_and(|vx| contains_nested(vx, vy))),
        (Value::Array(x), Value::Array(y)) => y.iter().all(|vy| {
            x.iter().any(|vx| match (vx, vy) {
                // Inside arrays, containers must match containers and
                // scalars scalars.
                (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => {
                    contains_nested(vx, vy)
                }
                _ => is_scalar(vx) && is_scalar(vy) && equal(vx, vy),
            })
        }),
        (x, y) if is_scalar(x) && is_scalar(y) => equal(x, y),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The order PostgreSQL 15 gave for `ORDER BY v` on these values.
    #[test]
    fn order_of_mixed_values_is_postgresql_order() {
        let expected = [
            json!([]),
            json!(null),
            json!("B"),
            json!("a"),
            json!(1),
            json!(false),
            json!(true),
            json!([null]),
            json!([1]),
            json!([[]]),
            json!({}),
            json!({"a": 1}),
            json!({"aa": 0}),
            json!({"b": 1}),
            json!({"b": 0, "aa": 5}),
        ];
        let mut shuffled: Vec<Value> = expected.iter().rev().cloned().collect();
        shuffled.swap(0, 7);
        shuffled.swap(3, 11);
        shuffled.sort_by(compare);
        assert_eq!(shuffled, expected);
    }

    #[test]
    fn arrays_compare_by_length_first() {
        assert_eq!(compare(&json!([5]), &json!([1, 2])), Ordering::Less);
        assert_eq!(compare(&json!([1, 2]), &json!([1, 3])), Ordering::Less);
    }

    #[test]
    fn empty_array_exception_is_top_level_only() {
        assert_eq!(compare(&json!([]), &json!(null)), Ordering::Less);
        assert_eq!(compare(&json!([]), &json!(false)), Ordering::Less);
        assert_eq!(compare(&json!([[]]), &json!([null])), Ordering::Greater);
        assert_eq!(
            compare(&json!({"b": []}), &json!({"b": null})),
            Ordering::Greater
        );
        assert_eq!(compare(&json!([]), &json!({})), Ordering::Less);
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(equal(&json!(1), &json!(1.0)));
        assert_eq!(compare(&json!(-1), &json!(u64::MAX)), Ordering::Less);
        assert_eq!(compare(&json!(2.5), &json!(2)), Ordering::Greater);
        assert!(!equal(&json!(1), &json!("1")));
    }

    #[test]
    fn objects_are_equal_whatever_the_key_order() {
        let a: Value = serde_json::from_str(r#"{"x": 1, "yy": [1, {"z": true}]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"yy": [1, {"z": true}], "x": 1.0}"#).unwrap();
        assert!(equal(&a, &b));
    }

    #[test]
    fn missing_sorts_last() {
        assert_eq!(compare_optional(Some(&json!({})), None), Ordering::Less);
        assert_eq!(
            compare_optional(None, Some(&json!(null))),
            Ordering::Greater
        );
        assert_eq!(compare_optional(None, None), Ordering::Equal);
    }

    /// The answers PostgreSQL 15 gave for these `@>`.
    #[test]
    fn containment_is_postgresql_containment() {
        assert!(!contains(&json!({"a": ["x"]}), &json!({"a": "x"})));
        assert!(contains(
            &json!({"a": [{"k": 1, "j": 2}]}),
            &json!({"a": [{"k": 1}]})
        ));
        assert!(contains(&json!({"a": [[1, 2]]}), &json!({"a": [[1]]})));
        assert!(contains(&json!({"a": [1]}), &json!({"a": []})));
        assert!(!contains(&json!({"a": 1}), &json!({"a": []})));
        assert!(!contains(&json!({"a": {"x": 1}}), &json!({"a": []})));
        assert!(contains(&json!(["foo", "bar"]), &json!("foo")));
        assert!(!contains(&json!([["foo"]]), &json!(["foo"])));
        assert!(contains(&json!([1, 2]), &json!([2.0])));
    }
}
