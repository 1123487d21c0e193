//! Invalid querystrings: 400 errno 107 with the details of the spec.

use cliquet_errors::ApiError;
use cliquet_filter::{ParseOptions, Query};
use http::StatusCode;
use serde_json::{Value, json};

const NOW: u64 = 1_700_000_000_000;

fn error_with(querystring: &str, options: &ParseOptions) -> ApiError {
    match Query::parse(querystring, options) {
        Ok(query) => panic!("{querystring} parsed: {query:?}"),
        Err(error) => error,
    }
}

fn error(querystring: &str) -> ApiError {
    error_with(querystring, &ParseOptions::new().now_ms(NOW))
}

/// Asserts the common shape and returns the first detail.
fn first_detail(error: &ApiError) -> Value {
    assert_eq!(error.code(), StatusCode::BAD_REQUEST);
    assert_eq!(error.errno().as_u16(), 107);
    error.details().unwrap()[0].clone()
}

fn assert_invalid(querystring: &str, name: &str, description: &str) {
    let error = error(querystring);
    let detail = first_detail(&error);
    assert_eq!(
        detail,
        json!({"location": "querystring", "name": name, "description": description}),
        "{querystring}"
    );
}

#[test]
fn like_needs_a_string() {
    assert_invalid("like_n=1", "like_n", "Invalid value for like_n");
    assert_invalid("like_n=[%22a%22]", "like_n", "Invalid value for like_n");
    assert_invalid("like_n=a&like_n=b", "like_n", "Invalid value for like_n");
    assert_invalid(
        "like_last_modified=1",
        "like_last_modified",
        "Invalid value for like_last_modified",
    );
}

#[test]
fn id_lists_need_strings() {
    assert_invalid("in_id=a,true", "in_id", "Invalid value for in_id");
    assert_invalid(
        "exclude_id=1.5",
        "exclude_id",
        "Invalid value for exclude_id",
    );
    assert_invalid("id=null", "id", "Invalid value for id");
}

#[test]
fn last_modified_lists_need_integers() {
    assert_invalid(
        "in_last_modified=1,a",
        "in_last_modified",
        "Invalid value for in_last_modified",
    );
    assert_invalid(
        "exclude_last_modified=1.5",
        "exclude_last_modified",
        "Invalid value for exclude_last_modified",
    );
}

#[test]
fn contains_on_id_or_last_modified() {
    let error = error("contains_id=a");
    assert_eq!(
        first_detail(&error),
        json!({"location": "querystring", "name": "contains_id", "description": "Field 'id' is not an array"})
    );
    assert_eq!(
        error.message(),
        Some("contains_id in querystring: Field 'id' is not an array")
    );
    assert_invalid(
        "contains_any_last_modified=1",
        "contains_any_last_modified",
        "Field 'last_modified' is not an array",
    );
}

#[test]
fn last_modified_filters_need_valid_timestamps() {
    assert_invalid(
        "gt_last_modified=abc",
        "gt_last_modified",
        "Invalid value for gt_last_modified",
    );
    assert_invalid(
        "min_last_modified=-1",
        "min_last_modified",
        "Invalid value for min_last_modified",
    );
    assert_invalid(
        "not_last_modified=true",
        "not_last_modified",
        "Invalid value for not_last_modified",
    );
    // Beyond now + 24 h.
    let beyond = NOW + 24 * 3600 * 1000 + 1;
    assert_invalid(
        &format!("lt_last_modified={beyond}"),
        "lt_last_modified",
        "Invalid value for lt_last_modified",
    );
    assert!(
        Query::parse(
            &format!("lt_last_modified={}", beyond - 1),
            &ParseOptions::new().now_ms(NOW)
        )
        .is_ok()
    );
}

#[test]
fn non_integers_get_colander_messages() {
    assert_invalid("_since=abc", "_since", "\"abc\" is not a number");
    assert_invalid("_before=1.5", "_before", "\"1.5\" is not a number");
    assert_invalid("_to=x", "_to", "\"x\" is not a number");
    assert_invalid("_limit=abc", "_limit", "\"abc\" is not a number");
    assert_invalid(
        "last_modified=abc",
        "last_modified",
        "\"abc\" is not a number",
    );
    assert_eq!(
        error("_since=abc").message(),
        Some("_since in querystring: \"abc\" is not a number")
    );
}

#[test]
fn negative_limit() {
    let error = error("_limit=-1");
    assert_eq!(
        error.message(),
        Some("_limit in querystring: -1 is less than minimum value 0")
    );
}

#[test]
fn since_before_out_of_range() {
    assert_invalid(
        "_before=99999999999999",
        "_before",
        "Invalid value for _before",
    );
    assert_invalid("_since=-5", "_since", "Invalid value for _since");
}

#[test]
fn nul_characters() {
    assert_invalid("a%00=1", "a\u{0}", "Invalid character 0x00");
    assert_invalid("a=x%00y", "a", "Invalid character 0x00");
    assert_invalid("_sort=a%00", "_sort", "Invalid character 0x00");
}

#[test]
fn invalid_tokens() {
    for token in ["abc", "%21%21", "e30%3D", "W10%3D"] {
        let error = error(&format!("_token={token}"));
        assert_eq!(
            first_detail(&error),
            json!({"location": "querystring", "name": null, "description": "_token has invalid content"}),
        );
        assert_eq!(
            error.message(),
            Some("querystring: _token has invalid content")
        );
    }
    // An empty token is no token.
    assert!(
        Query::parse("_token=", &ParseOptions::new())
            .unwrap()
            .token
            .is_none()
    );
}

#[test]
fn strict_schema_rejects_unknown_fields() {
    let strict = ParseOptions::new().known_fields(["title", "o"]);
    assert!(Query::parse("title=a&o.k=1&id=x&last_modified=1&deleted=true", &strict).is_ok());

    let error = error_with("bogus=1", &strict);
    assert_eq!(
        first_detail(&error),
        json!({"location": "querystring", "name": "bogus", "description": "Unknown filter field 'bogus'"})
    );
    let error = error_with("min_bogus.x=1", &strict);
    assert_eq!(
        first_detail(&error)["description"],
        json!("Unknown filter field 'bogus.x'")
    );

    let error = error_with("_sort=title,-bogus", &strict);
    assert_eq!(
        first_detail(&error),
        json!({"location": "querystring", "name": null, "description": "Unknown sort field 'bogus'"})
    );
    assert_eq!(
        error.message(),
        Some("querystring: Unknown sort field 'bogus'")
    );

    let error = error_with("_fields=title,bogus,x.y", &strict);
    assert_eq!(
        first_detail(&error),
        json!({"location": "body", "name": "Invalid _fields parameter", "description": "Fields bogus,x do not exist"})
    );
    assert_eq!(
        error.message(),
        Some("Invalid _fields parameter in body: Fields bogus,x do not exist")
    );
    let error = cliquet_filter::parse_fields("_fields=bogus", &strict).unwrap_err();
    assert_eq!(error.errno().as_u16(), 107);
}

#[test]
fn every_problem_is_reported() {
    let error = error("like_n=1&_limit=x&_since=y");
    let names: Vec<Value> = error
        .details()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].clone())
        .collect();
    assert_eq!(names, [json!("_limit"), json!("_since"), json!("like_n")]);
}

#[test]
fn not_utf8() {
    let error = Query::parse("a=%C3%28", &ParseOptions::new()).unwrap_err();
    assert_eq!(error.code(), StatusCode::BAD_REQUEST);
    assert_eq!(error.errno().as_u16(), 107);
}
