//! The pagination token: where the previous page ended.
//!
//! A token is the standard base64 (with padding) of the compact JSON
//! `{"last_object": {...}, "offset": n, "nonce": "pagination-token-<uuid4>"}`:
//!
//! - `last_object` holds, for each sort field, the value the last object of
//!   the previous page had, keyed by the field's dotted name; fields that
//!   object lacked are omitted (they are *missing*);
//! - `offset` is the number of objects returned so far; it is informational
//!   and never used to skip rows;
//! - `nonce` makes every token unique, so that the single-use tokens of a
//!   plural `DELETE` can be remembered in a cache and consumed.
//!
//! The next page is made of the objects strictly after `last_object` in the
//! sort order ([`PaginationToken::pagination_rules`] gives that as
//! conditions a backend translates).

use std::cmp::Ordering;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use cliquet_errors::{ApiError, Location, ValidationDetail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::jsonb;
use crate::model::{
    FieldPath, ID_FIELD, MODIFIED_FIELD, Operator, PaginationCondition, PaginationRule, SortField,
};

/// The description of the error of an invalid token.
pub const INVALID_TOKEN: &str = "_token has invalid content";

/// Encodes with padding; decodes with or without it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A decoded `_token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaginationToken {
    /// The last returned object's value of each sort field, by dotted name;
    /// a field it lacked is absent.
    pub last_object: Map<String, Value>,
    /// The number of objects returned so far (informational).
    pub offset: u64,
    /// `pagination-token-<uuid4>`, unique to this token.
    pub nonce: String,
}

impl PaginationToken {
    /// The token of the page after one ending with `last_object`, under
    /// `sort`, with a fresh nonce.
    pub fn new(sort: &[SortField], last_object: &Value, offset: u64) -> Self {
        let mut values = Map::new();
        for field in sort {
            if let Some(value) = field.field.lookup(last_object) {
                values.insert(field.field.as_str().to_owned(), value.clone());
            }
        }
        Self {
            last_object: values,
            offset,
            nonce: format!("pagination-token-{}", uuid::Uuid::new_v4()),
        }
    }

    /// The `_token` querystring value: base64 of compact JSON.
    pub fn encode(&self) -> String {
        // Serialising a map of JSON values cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        BASE64.encode(json)
    }

    /// Decodes a `_token` value. Anything that is not base64 of a JSON
    /// object with an object `last_object`, a non-negative integer `offset`
    /// and a string `nonce` is a 400 errno 107 `"querystring: _token has
    /// invalid content"`; so is a `last_object` whose `id` is not a string
    /// or whose `last_modified` is not a non-negative integer (a backend
    /// binds those to typed columns).
    pub fn decode(token: &str) -> Result<Self, ApiError> {
        Self::try_decode(token).ok_or_else(invalid_token)
    }

    fn try_decode(token: &str) -> Option<Self> {
        let bytes = BASE64.decode(token.trim().as_bytes()).ok()?;
        let token: Self = serde_json::from_slice(&bytes).ok()?;
        if let Some(id) = token.last_object.get(ID_FIELD) {
            id.as_str()?;
        }
        if let Some(ts) = token.last_object.get(MODIFIED_FIELD) {
            ts.as_u64()?;
        }
        Some(token)
    }

    /// The last object's value of `field`, `None` when it lacked it.
    pub fn last_value(&self, field: &FieldPath) -> Option<&Value> {
        self.last_object.get(field.as_str())
    }

    /// The continuation after this token under `sort`: rule `i` requires the
    /// first `i - 1` sort fields equal to the last object's and the `i`-th
    /// strictly after it (`>` ascending, `<` descending). The rules are
    /// OR-ed, the conditions of a rule AND-ed.
    pub fn pagination_rules(&self, sort: &[SortField]) -> Vec<PaginationRule> {
        (0..sort.len())
            .map(|i| PaginationRule {
                conditions: sort[..=i]
                    .iter()
                    .enumerate()
                    .map(|(j, field)| PaginationCondition {
                        field: field.field.clone(),
                        operator: if j < i {
                            Operator::Eq
                        } else if field.descending {
                            Operator::Lt
                        } else {
                            Operator::Gt
                        },
                        value: self.last_value(&field.field).cloned(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Whether `object` comes strictly after the last object under `sort`:
    /// the same answer as the OR of [`pagination_rules`](Self::pagination_rules),
    /// computed as one lexicographic comparison.
    pub fn is_before(&self, sort: &[SortField], object: &Value) -> bool {
        for field in sort {
            let ordering =
                jsonb::compare_optional(field.field.lookup(object), self.last_value(&field.field));
            let ordering = if field.descending {
                ordering.reverse()
            } else {
                ordering
            };
            match ordering {
                Ordering::Equal => continue,
                Ordering::Greater => return true,
                Ordering::Less => return false,
            }
        }
        false
    }
}

/// The 400 of an invalid `_token`.
pub(crate) fn invalid_token() -> ApiError {
    ApiError::invalid_parameters([ValidationDetail::unnamed(
        Location::Querystring,
        INVALID_TOKEN,
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encode_is_base64_of_compact_json() {
        let token = PaginationToken {
            last_object: json!({"last_modified": 12, "title": "a"})
                .as_object()
                .cloned()
                .unwrap(),
            offset: 2,
            nonce: "pagination-token-x".into(),
        };
        let json = BASE64.decode(token.encode()).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"last_object":{"last_modified":12,"title":"a"},"offset":2,"nonce":"pagination-token-x"}"#
        );
        assert_eq!(PaginationToken::decode(&token.encode()).unwrap(), token);
    }

    #[test]
    fn new_keeps_sort_fields_present_in_the_object() {
        let sort = [
            SortField::asc("o.k"),
            SortField::asc("absent"),
            SortField::desc("last_modified"),
        ];
        let token = PaginationToken::new(
            &sort,
            &json!({"o": {"k": 1}, "x": 2, "last_modified": 5}),
            7,
        );
        assert_eq!(
            Value::Object(token.last_object),
            json!({"o.k": 1, "last_modified": 5})
        );
        assert_eq!(token.offset, 7);
        assert!(token.nonce.starts_with("pagination-token-"));
        assert_eq!(token.nonce.len(), "pagination-token-".len() + 36);
    }

    #[test]
    fn invalid_tokens_are_400() {
        let encode = |s: &str| BASE64.encode(s);
        for bad in [
            "!!!".to_owned(),
            encode("not json"),
            encode("[1]"),
            encode(r#"{"last_object": [], "offset": 0, "nonce": "n"}"#),
            encode(r#"{"offset": 0, "nonce": "n"}"#),
            encode(r#"{"last_object": {}, "nonce": "n"}"#),
            encode(r#"{"last_object": {}, "offset": -1, "nonce": "n"}"#),
            encode(r#"{"last_object": {}, "offset": 0}"#),
            encode(r#"{"last_object": {"id": 1}, "offset": 0, "nonce": "n"}"#),
            encode(r#"{"last_object": {"last_modified": "x"}, "offset": 0, "nonce": "n"}"#),
        ] {
            let error = PaginationToken::decode(&bad).unwrap_err();
            assert_eq!(error.errno().as_u16(), 107, "{bad}");
            assert_eq!(
                error.message(),
                Some("querystring: _token has invalid content")
            );
        }
    }

    #[test]
    fn rules_follow_the_sort() {
        let token = PaginationToken {
            last_object: json!({"a": 1, "last_modified": 9})
                .as_object()
                .cloned()
                .unwrap(),
            offset: 0,
            nonce: String::new(),
        };
        let sort = [
            SortField::asc("a"),
            SortField::desc("b"),
            SortField::desc("last_modified"),
        ];
        let rules = token.pagination_rules(&sort);
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].conditions.len(), 1);
        assert_eq!(rules[0].conditions[0].operator, Operator::Gt);
        assert_eq!(rules[1].conditions[0].operator, Operator::Eq);
        assert_eq!(rules[1].conditions[1].operator, Operator::Lt);
        assert_eq!(rules[1].conditions[1].value, None);
        assert_eq!(rules[2].conditions[2].value, Some(json!(9)));
    }
}
