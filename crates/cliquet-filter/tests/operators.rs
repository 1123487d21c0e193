//! Every operator of the listing spec: how it parses and what it matches.

use cliquet_filter::{FieldPath, Filter, Operator, ParseOptions, Query, SortField};
use serde_json::{Value, json};

fn parse(querystring: &str) -> Query {
    Query::parse(querystring, &ParseOptions::new().now_ms(1_700_000_000_000))
        .unwrap_or_else(|e| panic!("{querystring}: {e}"))
}

/// The ids of `objects` a querystring selects, in order.
fn ids(querystring: &str, objects: &[Value]) -> Vec<String> {
    let query = parse(querystring);
    query
        .apply(objects, usize::MAX)
        .into_iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

fn sorted_ids(querystring: &str, objects: &[Value]) -> Vec<String> {
    let mut ids = ids(querystring, objects);
    ids.sort();
    ids
}

/// The objects of the spec's observations: `n` = 1, 5, null, "x", absent.
fn mixed() -> Vec<Value> {
    vec![
        json!({"id": "one", "last_modified": 1, "n": 1}),
        json!({"id": "five", "last_modified": 2, "n": 5}),
        json!({"id": "null", "last_modified": 3, "n": null}),
        json!({"id": "x", "last_modified": 4, "n": "x"}),
        json!({"id": "none", "last_modified": 5}),
    ]
}

fn only_filter(querystring: &str) -> Filter {
    let query = parse(querystring);
    assert_eq!(query.filters.len(), 1, "{querystring}");
    query.filters.into_iter().next().unwrap()
}

#[test]
fn equality_parses_values_with_their_json_type() {
    for (querystring, value) in [
        ("n=2", json!(2)),
        ("n=%222%22", json!("2")),
        ("n=Ben", json!("Ben")),
        ("n=true", json!(true)),
        ("n=null", json!(null)),
        ("n=[1,2]", json!([1, 2])),
        ("n=%7B%22a%22:1%7D", json!({"a": 1})),
        ("n=2.0", json!(2.0)),
        ("eq_n=2", json!(2)),
    ] {
        let filter = only_filter(querystring);
        assert_eq!(
            filter,
            Filter::new("n", Operator::Eq, value),
            "{querystring}"
        );
    }
}

#[test]
fn equality_is_typed() {
    let objects = vec![
        json!({"id": "int", "last_modified": 1, "n": 1}),
        json!({"id": "float", "last_modified": 2, "n": 1.0}),
        json!({"id": "str", "last_modified": 3, "n": "1"}),
    ];
    assert_eq!(sorted_ids("n=1", &objects), ["float", "int"]);
    assert_eq!(sorted_ids("n=%221%22", &objects), ["str"]);
    assert_eq!(sorted_ids("eq_n=1", &objects), ["float", "int"]);
    assert_eq!(sorted_ids("n=null", &mixed()), ["null"]);
}

#[test]
fn equality_never_matches_a_missing_field() {
    assert_eq!(sorted_ids("n=x", &mixed()), ["x"]);
    assert!(ids("unknown_thing=1", &mixed()).is_empty());
}

#[test]
fn equality_on_objects_and_arrays() {
    let objects = vec![
        json!({"id": "a", "last_modified": 1, "o": {"k": 1, "j": [1, 2]}}),
        json!({"id": "b", "last_modified": 2, "o": {"k": 1}}),
    ];
    assert_eq!(ids("o=%7B%22j%22:[1,2],%22k%22:1%7D", &objects), ["a"]);
    assert_eq!(ids("o.j=[1,2]", &objects), ["a"]);
    assert!(ids("o.j=[2,1]", &objects).is_empty());
}

#[test]
fn repeated_parameter_is_an_array_of_raw_strings() {
    let filter = only_filter("name=a&name=2");
    assert_eq!(filter.value, json!(["a", "2"]));
    let objects = vec![json!({"id": "a", "last_modified": 1, "name": "a"})];
    assert!(ids("name=a&name=b", &objects).is_empty());
}

#[test]
fn not_matches_missing_fields() {
    assert_eq!(only_filter("not_n=1").operator, Operator::Not);
    assert_eq!(
        sorted_ids("not_n=1", &mixed()),
        ["five", "none", "null", "x"]
    );
    assert_eq!(
        sorted_ids("not_n=null", &mixed()),
        ["five", "none", "one", "x"]
    );
}

#[test]
fn range_filters_follow_jsonb_order_and_missing_sorts_last() {
    assert_eq!(only_filter("min_n=2").operator, Operator::Min);
    assert_eq!(only_filter("max_n=2").operator, Operator::Max);
    assert_eq!(only_filter("gt_n=2").operator, Operator::Gt);
    assert_eq!(only_filter("lt_n=2").operator, Operator::Lt);
    // The observations of the spec, on memory and PostgreSQL alike.
    assert_eq!(sorted_ids("gt_n=2", &mixed()), ["five", "none"]);
    assert_eq!(sorted_ids("min_n=2", &mixed()), ["five", "none"]);
    assert_eq!(sorted_ids("lt_n=2", &mixed()), ["null", "one", "x"]);
    assert_eq!(sorted_ids("max_n=2", &mixed()), ["null", "one", "x"]);
    assert_eq!(
        sorted_ids("gt_n=null", &mixed()),
        ["five", "none", "one", "x"]
    );
    assert!(ids("lt_n=null", &mixed()).is_empty());
    // Bounds are inclusive for min_ and max_ only.
    assert_eq!(sorted_ids("min_n=5", &mixed()), ["five", "none"]);
    assert_eq!(sorted_ids("gt_n=5", &mixed()), ["none"]);
    assert_eq!(sorted_ids("max_n=1", &mixed()), ["null", "one", "x"]);
    assert_eq!(sorted_ids("lt_n=1", &mixed()), ["null", "x"]);
    // Strings sort below numbers, by code point.
    assert_eq!(
        sorted_ids("gt_n=%22a%22", &mixed()),
        ["five", "none", "one", "x"]
    );
    assert_eq!(sorted_ids("lt_n=%22a%22", &mixed()), ["null"]);
}

#[test]
fn in_splits_on_commas_then_parses_each_element() {
    assert_eq!(only_filter("in_n=1,2").value, json!([1, 2]));
    assert_eq!(only_filter("in_name=a,b").value, json!(["a", "b"]));
    assert_eq!(
        only_filter("in_n=1,%22x%22,null").value,
        json!([1, "x", null])
    );
    assert_eq!(only_filter("in_n=").value, json!([""]));
    assert_eq!(sorted_ids("in_n=1,x", &mixed()), ["one", "x"]);
    assert_eq!(sorted_ids("in_n=null,5", &mixed()), ["five", "null"]);
    assert!(ids("in_n=7", &mixed()).is_empty());
}

#[test]
fn exclude_matches_missing_fields() {
    assert_eq!(only_filter("exclude_n=1,5").operator, Operator::Exclude);
    assert_eq!(sorted_ids("exclude_n=1,5", &mixed()), ["none", "null", "x"]);
}

#[test]
fn empty_lists_built_by_hand() {
    let object = json!({"id": "a", "n": 1});
    assert!(!Filter::new("n", Operator::In, json!([])).matches(&object));
    assert!(Filter::new("n", Operator::Exclude, json!([])).matches(&object));
}

#[test]
fn like_is_a_case_insensitive_substring_or_star_pattern() {
    assert_eq!(only_filter("like_title=Rust").value, json!("*Rust*"));
    assert_eq!(only_filter("like_title=ru*").value, json!("ru*"));
    assert_eq!(only_filter("like_title=%221%22").value, json!("*1*"));
    let objects = vec![
        json!({"id": "a", "last_modified": 1, "title": "Rust in Action"}),
        json!({"id": "b", "last_modified": 2, "title": "Trusting rust"}),
        json!({"id": "c", "last_modified": 3, "title": 15}),
        json!({"id": "d", "last_modified": 4, "title": null}),
        json!({"id": "e", "last_modified": 5}),
        json!({"id": "f", "last_modified": 6, "title": ["rust"]}),
    ];
    assert_eq!(sorted_ids("like_title=RUST", &objects), ["a", "b"]);
    assert_eq!(sorted_ids("like_title=rust*", &objects), ["a"]);
    assert_eq!(sorted_ids("like_title=*rust", &objects), ["b"]);
    assert_eq!(sorted_ids("like_title=t*in*", &objects), ["b"]);
    // Non-string values never match, and never fail (Kinto's memory
    // backend answered 500 here).
    assert!(ids("like_title=%2215%22", &objects).is_empty());
    assert!(ids("like_title=*", &objects).len() == 2);
}

#[test]
fn like_percent_and_underscore_are_literal() {
    let objects = vec![
        json!({"id": "a", "last_modified": 1, "s": "50% off"}),
        json!({"id": "b", "last_modified": 2, "s": "500 off"}),
    ];
    assert_eq!(ids("like_s=50%25", &objects), ["a"]);
    assert!(ids("like_s=5_0", &objects).is_empty());
}

#[test]
fn has_is_presence_by_truthiness() {
    for (querystring, expected) in [
        ("has_n=true", true),
        ("has_n=1", true),
        ("has_n=yes", true),
        ("has_n=false", false),
        ("has_n=0", false),
        ("has_n=", false),
        ("has_n=null", false),
    ] {
        assert_eq!(
            only_filter(querystring).value,
            json!(expected),
            "{querystring}"
        );
    }
    assert_eq!(
        sorted_ids("has_n=true", &mixed()),
        ["five", "null", "one", "x"]
    );
    assert_eq!(sorted_ids("has_n=false", &mixed()), ["none"]);
}

#[test]
fn contains_requires_every_value() {
    assert_eq!(only_filter("contains_tags=%22a%22").value, json!(["a"]));
    assert_eq!(
        only_filter("contains_tags=[%22a%22,1]").value,
        json!(["a", 1])
    );
    assert_eq!(only_filter("contains_tags=a").value, json!(["a"]));
    let objects = vec![
        json!({"id": "ab", "last_modified": 1, "tags": ["a", "b"]}),
        json!({"id": "a", "last_modified": 2, "tags": ["a"]}),
        json!({"id": "str", "last_modified": 3, "tags": "a"}),
        json!({"id": "obj", "last_modified": 4, "tags": {"a": 1}}),
        json!({"id": "none", "last_modified": 5}),
        json!({"id": "objs", "last_modified": 6, "tags": [{"k": 1, "j": 2}, 3]}),
    ];
    assert_eq!(
        sorted_ids("contains_tags=[%22a%22,%22b%22]", &objects),
        ["ab"]
    );
    assert_eq!(sorted_ids("contains_tags=a", &objects), ["a", "ab"]);
    // Objects are contained by JSONB containment, as in PostgreSQL.
    assert_eq!(ids("contains_tags=%7B%22k%22:1%7D", &objects), ["objs"]);
    assert_eq!(
        ids("contains_tags=[%7B%22k%22:1,%22j%22:2%7D,3]", &objects),
        ["objs"]
    );
    // An empty list: every array field.
    assert_eq!(
        sorted_ids("contains_tags=[]", &objects),
        ["a", "ab", "objs"]
    );
}

#[test]
fn contains_any_requires_one_value() {
    assert_eq!(
        only_filter("contains_any_tags=[1,2]").operator,
        Operator::ContainsAny
    );
    let objects = vec![
        json!({"id": "ab", "last_modified": 1, "tags": ["a", "b"]}),
        json!({"id": "c", "last_modified": 2, "tags": ["c"]}),
        json!({"id": "empty", "last_modified": 3, "tags": []}),
        json!({"id": "str", "last_modified": 4, "tags": "a"}),
        json!({"id": "none", "last_modified": 5}),
        json!({"id": "obj", "last_modified": 6, "tags": [{"k": 1}]}),
    ];
    assert_eq!(
        sorted_ids("contains_any_tags=[%22a%22,%22c%22]", &objects),
        ["ab", "c"]
    );
    assert_eq!(sorted_ids("contains_any_tags=b", &objects), ["ab"]);
    assert!(ids("contains_any_tags=[]", &objects).is_empty());
    // Elements are compared with JSONB equality, not containment.
    assert_eq!(
        ids("contains_any_tags=[%7B%22k%22:1%7D]", &objects),
        ["obj"]
    );
    assert!(ids("contains_any_tags=[%7B%7D]", &objects).is_empty());
}

#[test]
fn dotted_fields_address_nested_values() {
    let objects = vec![
        json!({"id": "a", "last_modified": 1, "o": {"k": 1}}),
        json!({"id": "b", "last_modified": 2, "o": {"k": 2}}),
        json!({"id": "c", "last_modified": 3, "o": 1}),
        json!({"id": "d", "last_modified": 4, "o.k": 1}),
    ];
    assert_eq!(
        only_filter("o.k=1").field,
        FieldPath::from_segments(["o", "k"])
    );
    assert_eq!(ids("o.k=1", &objects), ["a"]);
    assert_eq!(sorted_ids("min_o.k=2", &objects), ["b", "c", "d"]);
    assert_eq!(sorted_ids("has_o.k=false", &objects), ["c", "d"]);
}

#[test]
fn id_filters_compare_strings() {
    assert_eq!(only_filter("id=12").value, json!("12"));
    assert_eq!(only_filter("in_id=1,abc").value, json!(["1", "abc"]));
    let objects = vec![
        json!({"id": "12", "last_modified": 1}),
        json!({"id": "abc", "last_modified": 2}),
    ];
    assert_eq!(ids("id=12", &objects), ["12"]);
    assert_eq!(ids("exclude_id=12", &objects), ["abc"]);
    assert_eq!(ids("like_id=B", &objects), ["abc"]);
}

#[test]
fn last_modified_filters_are_timestamps_and_include_tombstones() {
    assert_eq!(only_filter("gt_last_modified=%2212%22").value, json!(12));
    assert_eq!(only_filter("last_modified=12").value, json!(12));
    assert_eq!(only_filter("in_last_modified=1,2").value, json!([1, 2]));
    assert!(parse("last_modified=12").includes_tombstones());
    assert!(parse("has_last_modified=true").includes_tombstones());
    assert!(!parse("n=1&_sort=last_modified").includes_tombstones());
    assert_eq!(sorted_ids("min_last_modified=4", &mixed()), ["none", "x"]);
}

#[test]
fn since_before_and_to_are_last_modified_filters() {
    assert_eq!(
        only_filter("_since=12"),
        Filter::new("last_modified", Operator::Gt, 12)
    );
    assert_eq!(
        only_filter("_since=%2212%22"),
        Filter::new("last_modified", Operator::Gt, 12)
    );
    assert_eq!(
        only_filter("_before=12"),
        Filter::new("last_modified", Operator::Lt, 12)
    );
    let query = parse("_to=12");
    assert!(query.deprecated_to);
    assert_eq!(
        query.filters,
        [Filter::new("last_modified", Operator::Lt, 12)]
    );
    assert!(query.includes_tombstones());
    assert!(!parse("_since=12").deprecated_to);
    assert_eq!(sorted_ids("_since=2&_before=5", &mixed()), ["null", "x"]);
    // `null` means "not specified", as the protocol documents.
    assert!(parse("_since=null&_before=null").filters.is_empty());
    assert!(!parse("_since=null").includes_tombstones());
}

#[test]
fn unknown_reserved_parameters_are_ignored() {
    let query = parse("_whatever=1&_=2&_since_x=3");
    assert!(query.filters.is_empty());
}

#[test]
fn parameter_names_are_trimmed() {
    assert_eq!(only_filter("%20n%20=1"), Filter::new("n", Operator::Eq, 1));
    assert_eq!(parse("+_limit=3").limit, 3);
}

#[test]
fn filters_are_and_ed() {
    assert_eq!(
        sorted_ids("has_n=true&not_n=1&not_n.x=3&lt_n=5", &mixed()),
        ["null", "x"]
    );
}

#[test]
fn sort_parses_directions_and_appends_last_modified() {
    let query = parse("_sort=title,-size,+o.k");
    assert_eq!(
        query.sort,
        [
            SortField::asc("title"),
            SortField::desc("size"),
            SortField::asc("o.k"),
            SortField::desc("last_modified"),
        ]
    );
    assert_eq!(
        parse("_sort=last_modified").sort,
        [SortField::asc("last_modified")]
    );
    assert_eq!(parse("").sort, [SortField::desc("last_modified")]);
    assert_eq!(parse("_sort=").sort, [SortField::desc("last_modified")]);
    // Items that are not field names are ignored.
    assert_eq!(
        parse("_sort=a b,--x,-,+,ok, spaced ").sort,
        [
            SortField::asc("ok"),
            SortField::asc("spaced"),
            SortField::desc("last_modified")
        ]
    );
}

#[test]
fn sort_orders_mixed_types_as_postgresql() {
    assert_eq!(
        ids("_sort=n", &mixed()),
        ["null", "x", "one", "five", "none"]
    );
    assert_eq!(
        ids("_sort=-n", &mixed()),
        ["none", "five", "one", "x", "null"]
    );
    let objects = vec![
        json!({"id": "b", "last_modified": 1, "s": "b"}),
        json!({"id": "Abc", "last_modified": 2, "s": "Abc"}),
        json!({"id": "a", "last_modified": 3, "s": "a"}),
        json!({"id": "true", "last_modified": 4, "s": true}),
        json!({"id": "false", "last_modified": 5, "s": false}),
    ];
    assert_eq!(ids("_sort=s", &objects), ["Abc", "a", "b", "false", "true"]);
    // Ties fall back to the newest first.
    let ties = vec![
        json!({"id": "old", "last_modified": 1, "s": 1}),
        json!({"id": "new", "last_modified": 2, "s": 1}),
        json!({"id": "first", "last_modified": 3, "s": 0}),
    ];
    assert_eq!(ids("_sort=s", &ties), ["first", "new", "old"]);
    assert_eq!(ids("", &ties), ["first", "new", "old"]);
}

#[test]
fn fields_selection() {
    let query = parse("_fields=title,%20o.k,,");
    assert_eq!(
        query.fields,
        Some(vec![FieldPath::new("title"), FieldPath::new("o.k")])
    );
    assert_eq!(
        query.project(
            &json!({"id": "a", "last_modified": 1, "title": "t", "o": {"k": 1, "j": 2}, "x": 0})
        ),
        json!({"id": "a", "last_modified": 1, "title": "t", "o": {"k": 1}})
    );
    assert_eq!(parse("_fields=").fields, None);
    assert_eq!(
        cliquet_filter::parse_fields("n=1&_fields=a", &ParseOptions::new()).unwrap(),
        Some(vec![FieldPath::new("a")])
    );
    assert_eq!(
        cliquet_filter::parse_fields("n=1", &ParseOptions::new()).unwrap(),
        None
    );
}

#[test]
fn limits() {
    let options = |paginate_by: Option<usize>, max: usize| {
        ParseOptions::new()
            .paginate_by(paginate_by)
            .max_fetch_size(max)
    };
    let limit = |qs: &str, o: &ParseOptions| Query::parse(qs, o).unwrap().limit;
    assert_eq!(limit("", &options(None, 10_000)), 10_000);
    assert_eq!(limit("_limit=5", &options(None, 10_000)), 5);
    assert_eq!(limit("_limit=0", &options(None, 10_000)), 10_000);
    assert_eq!(limit("_limit=", &options(None, 10_000)), 10_000);
    assert_eq!(limit("_limit=20000", &options(None, 10_000)), 10_000);
    assert_eq!(limit("", &options(Some(50), 10_000)), 50);
    assert_eq!(limit("_limit=5", &options(Some(50), 10_000)), 5);
    assert_eq!(limit("_limit=500", &options(Some(50), 10_000)), 50);
    assert_eq!(limit("_limit=0", &options(Some(50), 10_000)), 50);
    assert_eq!(limit("", &options(Some(50), 20)), 20);
    assert_eq!(
        limit("_limit=99999999999999999999999", &options(None, 7)),
        7
    );
    assert_eq!(limit("_limit=3&_limit=4", &options(None, 10_000)), 4);
}
