//! Property tests: tokens round-trip, the parser never panics, the
//! evaluator is consistent with itself, and pagination walks every object
//! exactly once.

use std::cmp::Ordering;

use cliquet_filter::{
    Filter, Operator, PaginationToken, ParseOptions, Query, SortField, compare_objects, jsonb,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..5).prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        (-4.0f64..4.0).prop_map(|f| json!(f)),
        "[a-cA-C_%*]{0,3}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-c]{1,2}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects with optional fields `a`, `b` and `o.k`, a unique id and a
/// unique timestamp.
fn objects() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(
        (
            prop::option::of(json_value()),
            prop::option::of(json_leaf()),
            prop::option::of(json_leaf()),
        ),
        0..24,
    )
    .prop_map(|fields| {
        fields
            .into_iter()
            .enumerate()
            .map(|(i, (a, b, k))| {
                let mut object = Map::new();
                object.insert("id".into(), json!(format!("id{i}")));
                object.insert("last_modified".into(), json!(1000 + (i * 7919) % 1009));
                if let Some(a) = a {
                    object.insert("a".into(), a);
                }
                if let Some(b) = b {
                    object.insert("b".into(), b);
                }
                if let Some(k) = k {
                    object.insert("o".into(), json!({ "k": k }));
                }
                Value::Object(object)
            })
            .collect()
    })
}

fn sort() -> impl Strategy<Value = Vec<SortField>> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["a", "b", "o.k", "id"]),
            any::<bool>(),
        ),
        0..3,
    )
    .prop_map(|fields| {
        let mut sort: Vec<SortField> = fields
            .into_iter()
            .map(|(field, descending)| SortField {
                field: field.into(),
                descending,
            })
            .collect();
        sort.push(SortField::desc("last_modified"));
        sort
    })
}

fn querystring() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just(String::new()),
        "(_since|_before|_to|_limit|_sort|_token|_fields|_x)",
        "(lt|min|max|not|eq|gt|in|exclude|like|has|contains_any|contains)_(a|o\\.k|id|last_modified|[a-z.]{0,3})",
        "[ a-z_.%0-9+]{0,8}",
    ];
    let value = prop_oneof![
        "[-0-9,.\"]{0,8}",
        "[ a-zA-Z0-9%+,*\\[\\]{}\":._-]{0,12}",
        json_value().prop_map(|v| v.to_string()),
        prop::collection::vec(any::<u8>(), 0..8)
            .prop_map(|b| b.iter().map(|b| format!("%{b:02X}")).collect::<String>()),
        any::<String>(),
    ];
    prop::collection::vec((name, value, any::<bool>()), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(n, v, with_eq)| if with_eq { format!("{n}={v}") } else { n })
            .collect::<Vec<_>>()
            .join("&")
    })
}

proptest! {
    #[test]
    fn tokens_round_trip(
        last_object in prop::collection::btree_map("[a-z.]{1,6}", json_value(), 0..4),
        id in prop::option::of(".{0,8}"),
        last_modified in prop::option::of(any::<u64>()),
        offset in any::<u64>(),
        nonce in ".{0,40}",
    ) {
        let mut last_object: Map<String, Value> = last_object.into_iter().collect();
        if let Some(id) = id {
            last_object.insert("id".into(), json!(id));
        }
        if let Some(ts) = last_modified {
            last_object.insert("last_modified".into(), json!(ts));
        }
        let token = PaginationToken { last_object, offset, nonce };
        let encoded = token.encode();
        prop_assert_eq!(PaginationToken::decode(&encoded).unwrap(), token.clone());
        // And through a querystring.
        let querystring = format!(
            "_token={}",
            form_urlencoded::byte_serialize(encoded.as_bytes()).collect::<String>()
        );
        let query = Query::parse(&querystring, &ParseOptions::new()).unwrap();
        prop_assert_eq!(query.token, Some(token));
    }

    #[test]
    fn tampered_tokens_are_rejected_or_decoded(token in "[A-Za-z0-9+/=]{0,64}") {
        match PaginationToken::decode(&token) {
            Ok(decoded) => prop_assert!(decoded.last_object.get("id").is_none_or(Value::is_string)),
            Err(error) => prop_assert_eq!(error.errno().as_u16(), 107),
        }
    }

    #[test]
    fn querystrings_parse_or_are_errno_107(querystring in querystring()) {
        let options = ParseOptions::new().paginate_by(Some(20)).max_fetch_size(100);
        match Query::parse(&querystring, &options) {
            Ok(query) => {
                prop_assert!(query.limit >= 1 && query.limit <= 20);
                prop_assert!(query.sort.iter().any(|s| s.field.is_last_modified()));
                // Evaluating whatever was parsed never panics either.
                let object = json!({"id": "x", "last_modified": 1, "a": [1, "x"], "o": {"k": null}});
                let _ = query.matches(&object);
                let _ = query.is_after_token(&object);
            }
            Err(error) => {
                prop_assert_eq!(error.code().as_u16(), 400);
                prop_assert_eq!(error.errno().as_u16(), 107);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(querystring in any::<String>()) {
        if let Err(error) = Query::parse(&querystring, &ParseOptions::new()) {
            prop_assert_eq!(error.errno().as_u16(), 107);
        }
    }

    #[test]
    fn jsonb_order_is_a_total_order(a in json_value(), b in json_value(), c in json_value()) {
        prop_assert_eq!(jsonb::compare(&a, &b), jsonb::compare(&b, &a).reverse());
        prop_assert_eq!(jsonb::compare(&a, &a), Ordering::Equal);
        if jsonb::compare(&a, &b).is_le() && jsonb::compare(&b, &c).is_le() {
            prop_assert!(jsonb::compare(&a, &c).is_le());
        }
        prop_assert_eq!(jsonb::equal(&a, &b), jsonb::compare(&a, &b).is_eq());
    }

    #[test]
    fn containment_is_reflexive(a in json_value()) {
        prop_assert!(jsonb::contains(&a, &a));
    }

    #[test]
    fn complementary_operators(object in objects(), value in json_value()) {
        for object in &object {
            for field in ["a", "b", "o.k", "missing"] {
                let m = |op: Operator, v: &Value| Filter::new(field, op, v.clone()).matches(object);
                prop_assert_ne!(m(Operator::Eq, &value), m(Operator::Not, &value));
                prop_assert_ne!(m(Operator::Lt, &value), m(Operator::Min, &value));
                prop_assert_ne!(m(Operator::Gt, &value), m(Operator::Max, &value));
                let list = json!([value.clone(), 1]);
                prop_assert_ne!(m(Operator::In, &list), m(Operator::Exclude, &list));
                prop_assert_ne!(m(Operator::Has, &json!(true)), m(Operator::Has, &json!(false)));
                // A single-element list is the equality.
                prop_assert_eq!(m(Operator::In, &json!([value.clone()])), m(Operator::Eq, &value));
                // `contains_any` with one value is implied by `contains` with it.
                if m(Operator::ContainsAny, &json!([value.clone()])) {
                    prop_assert!(m(Operator::Contains, &json!([value.clone()])));
                }
            }
        }
    }

    #[test]
    fn pagination_rules_select_what_comes_after(objects in objects(), sort in sort(), pick in any::<prop::sample::Index>()) {
        prop_assume!(!objects.is_empty());
        let last = &objects[pick.index(objects.len())];
        let token = PaginationToken::new(&sort, last, 0);
        let query = Query { sort: sort.clone(), token: Some(token.clone()), ..Query::default() };
        let rules = query.pagination_rules();
        for object in &objects {
            let by_rules = rules.iter().any(|rule| rule.matches(object));
            let after = compare_objects(&sort, object, last) == Ordering::Greater;
            prop_assert_eq!(by_rules, after);
            prop_assert_eq!(query.is_after_token(object), after);
        }
    }

    #[test]
    fn paging_walks_every_object_once_in_order(objects in objects(), sort in sort(), limit in 1usize..5) {
        let mut query = Query { sort: sort.clone(), limit, ..Query::default() };
        let mut expected: Vec<&Value> = objects.iter().collect();
        expected.sort_by(|a, b| compare_objects(&sort, a, b));

        let mut seen: Vec<&Value> = Vec::new();
        loop {
            let page = query.apply(&objects, limit + 1);
            let more = page.len() > limit;
            seen.extend(page.iter().take(limit));
            prop_assert!(seen.len() <= objects.len(), "a page repeats objects");
            if !more {
                break;
            }
            let last = page[limit - 1];
            // Through the wire, as a client follows Next-Page.
            let encoded = query.next_token(last, seen.len() as u64).encode();
            query.token = Some(PaginationToken::decode(&encoded).unwrap());
        }
        prop_assert_eq!(seen, expected);
    }

    #[test]
    fn like_star_matches_everything(text in "[a-zA-Z0-9 _%.]{0,12}", start in 0usize..12, len in 0usize..12) {
        prop_assert!(cliquet_filter::like(&text, "*"));
        // Any ASCII substring, in any case, is found by the default `*v*`.
        let start = start.min(text.len());
        let end = (start + len).min(text.len());
        let pattern = ["*", &text[start..end].to_uppercase(), "*"].concat();
        prop_assert!(cliquet_filter::like(&text, &pattern));
        let anchored = [&text[start..end], "*"].concat();
        prop_assert_eq!(
            cliquet_filter::like(&text, &anchored),
            text.to_lowercase().starts_with(&text[start..end].to_lowercase())
        );
    }
}
