//! The in-memory evaluation of filters and pagination conditions: the
//! semantics of Kinto's PostgreSQL backend, reproduced over JSON values.
//!
//! Where Kinto's two backends disagreed, this follows PostgreSQL, and it
//! never fails: a comparison of unrelated types is decided by the JSONB
//! type order, an operator that needs an array or a string simply does not
//! match other values.

use std::cmp::Ordering;

use serde_json::Value;

use crate::jsonb;
use crate::model::{Filter, Operator, PaginationCondition};

pub(crate) fn filter_matches(filter: &Filter, object: &Value) -> bool {
    let field = filter.field.lookup(object);
    let value = &filter.value;
    let Some(field) = field else {
        // A missing field is SQL NULL: `f IS NULL OR …` for these operators,
        // a NULL (not true) comparison for the others.
        return match filter.operator {
            Operator::Has => !truthy(value),
            op => op.matches_missing(),
        };
    };
    match filter.operator {
        Operator::Eq => jsonb::equal(field, value),
        Operator::Not => !jsonb::equal(field, value),
        Operator::Min => jsonb::compare(field, value) != Ordering::Less,
        Operator::Max => jsonb::compare(field, value) != Ordering::Greater,
        Operator::Lt => jsonb::compare(field, value) == Ordering::Less,
        Operator::Gt => jsonb::compare(field, value) == Ordering::Greater,
        Operator::In => as_list(value).iter().any(|v| jsonb::equal(field, v)),
        Operator::Exclude => !as_list(value).iter().any(|v| jsonb::equal(field, v)),
        // Only string values are matched: PostgreSQL's `->>` would render
        // numbers and objects as text and match that text, which Kinto's
        // memory backend never did (it failed); we keep the documented
        // behaviour, strings only, and backends add a type check.
        Operator::Like => match (field, value) {
            (Value::String(text), Value::String(pattern)) => like(text, pattern),
            _ => false,
        },
        Operator::Has => truthy(value),
        Operator::Contains => {
            field.is_array()
                && as_list(value)
                    .iter()
                    .all(|v| jsonb::contains(field, &Value::Array(vec![v.clone()])))
        }
        Operator::ContainsAny => match field {
            Value::Array(items) => as_list(value)
                .iter()
                .any(|v| items.iter().any(|item| jsonb::equal(item, v))),
            _ => false,
        },
    }
}

/// The filter's alternatives: its array, or the value alone when a filter
/// was built by hand with a scalar.
fn as_list(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    }
}

/// Python's truthiness, which Kinto applies to `has_` values: `false`,
/// `null`, `0`, `""`, `[]` and `{}` are false, everything else true.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Case-insensitive match of `text` against `pattern`, where `*` matches
/// any run of characters (possibly empty) and every other character stands
/// for itself. Case is folded by Unicode lowercase mapping, character by
/// character, as PostgreSQL's `ILIKE` does in a UTF-8 database.
///
/// Kinto's PostgreSQL backend passed `%` and `_` through to `ILIKE`, where
/// they are wildcards too; the protocol names `*` alone, so here (and in our
/// SQL translations, which escape them) they are ordinary characters.
pub fn like(text: &str, pattern: &str) -> bool {
    if text.is_ascii() && pattern.is_ascii() {
        return glob(text.as_bytes(), pattern.as_bytes(), b'*', |a, b| {
            a.eq_ignore_ascii_case(&b)
        });
    }
    let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let pattern: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    glob(&text, &pattern, '*', |a, b| a == b)
}

/// Greedy matching with backtracking to the last star: linear in most
/// cases, O(n·m) at worst, never recursive.
fn glob<T: Copy + PartialEq>(
    text: &[T],
    pattern: &[T],
    star: T,
    eq: impl Fn(T, T) -> bool,
) -> bool {
    let (mut t, mut p) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == star {
            last_star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && eq(pattern[p], text[t]) {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = last_star {
            p = sp + 1;
            t = st + 1;
            last_star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == star)
}

pub(crate) fn pagination_condition_matches(
    condition: &PaginationCondition,
    object: &Value,
) -> bool {
    match &condition.value {
        Some(value) => filter_matches(
            &Filter {
                field: condition.field.clone(),
                operator: condition.operator,
                value: value.clone(),
            },
            object,
        ),
        None => {
            let present = condition.field.lookup(object).is_some();
            // A missing value sorts after every value: `= missing` and
            // `>= missing` are `IS NULL`, `< missing` and `!= missing` are
            // `IS NOT NULL`, `<= missing` is always true, `> missing` never.
            match condition.operator {
                Operator::Eq | Operator::Min => !present,
                Operator::Lt | Operator::Not => present,
                Operator::Max => true,
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn like_wildcards() {
        assert!(like("Hello World", "*world*"));
        assert!(like("Hello World", "hello*"));
        assert!(!like("Hello World", "world*"));
        assert!(like("", "*"));
        assert!(like("abc", "a*b*c"));
        assert!(like("aXbYc", "a*b*c"));
        assert!(!like("abd", "a*c"));
        assert!(like("ÉCOLE", "*école*"));
        assert!(like("a_b", "*a_b*"));
        assert!(!like("axb", "*a_b*"));
        assert!(!like("axb", "*a%b*"));
        assert!(like("aaab", "*aab"));
    }

    #[test]
    fn truthiness_is_python_truthiness() {
        for falsy in [
            json!(false),
            json!(null),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!truthy(&falsy), "{falsy}");
        }
        for truthy_value in [
            json!(true),
            json!(1),
            json!("x"),
            json!("false"),
            json!([0]),
            json!({"a": 0}),
        ] {
            assert!(truthy(&truthy_value), "{truthy_value}");
        }
    }
}
