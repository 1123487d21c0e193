//! Property tests: parsing never panics, accepts exactly the protocol's
//! forms, and evaluation follows the protocol's rules for any input.

use cliquet_timestamps::{Current, ETag, EntityMatch, LastModified, Preconditions, Rejection};
use http::header::{HeaderValue, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, Method, StatusCode};
use proptest::prelude::*;

/// The last second an HTTP date can write.
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// The protocol's definition of a valid tag, written independently of the
/// parser: one or more ASCII digits between double quotes, fitting a u64.
fn is_protocol_tag(s: &str) -> bool {
    let s = s.trim_matches([' ', '\t']);
    s.len() >= 3
        && s.starts_with('"')
        && s.ends_with('"')
        && s[1..s.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && s[1..s.len() - 1]
            .parse::<u128>()
            .is_ok_and(|n| n <= u128::from(u64::MAX))
}

/// Header values: mostly near-valid ones, and arbitrary bytes.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "\"[0-9]{1,22}\"".prop_map(String::into_bytes),
        Just(b"*".to_vec()),
        "[ \t]?(\\*|W/)?\"?[0-9*, -]{0,12}\"?[ \t]?".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..24),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::HEAD),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::PATCH),
        Just(Method::DELETE),
    ]
}

fn entity_match() -> impl Strategy<Value = Option<EntityMatch>> {
    prop_oneof![
        Just(None),
        Just(Some(EntityMatch::Any)),
        (0u64..8).prop_map(|t| Some(EntityMatch::Tag(ETag::new(t)))),
        any::<u64>().prop_map(|t| Some(EntityMatch::Tag(ETag::new(t)))),
    ]
}

fn preconditions() -> impl Strategy<Value = Preconditions> {
    (entity_match(), entity_match()).prop_map(|(if_match, if_none_match)| Preconditions {
        if_match,
        if_none_match,
        ..Preconditions::default()
    })
}

fn is_read(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

proptest! {
    #[test]
    fn etag_round_trips(timestamp in any::<u64>()) {
        let etag = ETag::new(timestamp);
        prop_assert_eq!(ETag::parse(&etag.to_string()), Ok(etag));
        prop_assert_eq!(ETag::from_header(&etag.to_header_value()), Ok(etag));
        prop_assert_eq!(etag.to_string(), format!("\"{timestamp}\""));
    }

    #[test]
    fn etag_parse_accepts_exactly_quoted_integers(s in "\\PC{0,24}|[ \t]?\"[0-9]{0,22}\"[ \t]?") {
        let parsed = ETag::parse(&s);
        prop_assert_eq!(parsed.is_ok(), is_protocol_tag(&s), "{:?}", s);
        if let Ok(etag) = parsed {
            let digits = s.trim_matches([' ', '\t']).trim_matches('"');
            prop_assert_eq!(etag.timestamp(), digits.parse::<u64>().unwrap());
        }
    }

    #[test]
    fn last_modified_round_trips(secs in 0..=MAX_HTTP_DATE_SECS) {
        let last_modified = LastModified::from_secs(secs);
        prop_assert_eq!(LastModified::parse(&last_modified.to_string()), Ok(last_modified));
        prop_assert_eq!(LastModified::from_header(&last_modified.to_header_value()), Ok(last_modified));
    }

    #[test]
    fn last_modified_of_any_timestamp_is_a_date(millis in any::<u64>()) {
        let last_modified = ETag::new(millis).last_modified();
        prop_assert!(last_modified.as_secs() <= millis / 1000);
        prop_assert_eq!(last_modified.to_string().len(), 29);
    }

    #[test]
    fn last_modified_parse_never_panics(s in "\\PC{0,40}") {
        let _ = LastModified::parse(&s);
    }

    #[test]
    fn from_headers_never_panics_and_accepts_exactly_the_protocol(
        if_match in proptest::option::of(header_value()),
        if_none_match in proptest::option::of(header_value()),
        if_modified_since in proptest::option::of(header_value()),
        if_unmodified_since in proptest::option::of(header_value()),
    ) {
        let mut headers = HeaderMap::new();
        let mut expect_ok = true;
        for (name, value) in [
            (IF_MATCH, &if_match),
            (IF_NONE_MATCH, &if_none_match),
            (IF_MODIFIED_SINCE, &if_modified_since),
            (IF_UNMODIFIED_SINCE, &if_unmodified_since),
        ] {
            let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_bytes(v).ok()) else {
                continue;
            };
            if name == IF_MATCH || name == IF_NONE_MATCH {
                let text = value.to_str().unwrap_or("\u{0}");
                expect_ok &= text.trim_matches([' ', '\t']) == "*" || is_protocol_tag(text);
            }
            headers.insert(name, value);
        }
        match Preconditions::from_headers(&headers) {
            Ok(preconditions) => {
                prop_assert!(expect_ok);
                // What was parsed renders back to an equivalent value.
                for (name, parsed) in [(IF_MATCH, preconditions.if_match), (IF_NONE_MATCH, preconditions.if_none_match)] {
                    prop_assert_eq!(parsed.is_some(), headers.contains_key(&name));
                    if let Some(parsed) = parsed {
                        let text = headers[&name].to_str().unwrap();
                        prop_assert_eq!(EntityMatch::parse(text), Ok(parsed));
                    }
                }
            }
            Err(invalid) => {
                prop_assert!(!expect_ok);
                let error = invalid.into_api_error();
                prop_assert_eq!(error.code(), StatusCode::BAD_REQUEST);
                prop_assert_eq!(error.errno().as_u16(), 107);
            }
        }
    }

    #[test]
    fn evaluation_follows_the_protocol(
        preconditions in preconditions(),
        method in method(),
        timestamp in prop_oneof![0u64..8, any::<u64>()],
        exists in any::<bool>(),
    ) {
        let object = serde_json::json!({"id": "a", "last_modified": timestamp});
        let current = if exists { Current::object(timestamp, &object) } else { Current::absent(timestamp) };
        let outcome = preconditions.evaluate(&method, current);
        let tag = EntityMatch::Tag(ETag::new(timestamp));

        // The spec's rules, in order.
        let expected_304 = is_read(&method) && exists && preconditions.if_none_match == Some(tag);
        let fails = if exists {
            preconditions.if_none_match == Some(EntityMatch::Any)
                || matches!(preconditions.if_match, Some(EntityMatch::Tag(t)) if t.timestamp() != timestamp)
        } else {
            preconditions.if_match.is_some()
        };
        let expected_412 = fails && !expected_304;

        match outcome {
            Ok(()) => prop_assert!(!expected_304 && !expected_412),
            Err(Rejection::NotModified { current }) => {
                prop_assert!(expected_304);
                prop_assert_eq!(current.timestamp(), timestamp);
            }
            Err(Rejection::PreconditionFailed { current, existing }) => {
                prop_assert!(expected_412);
                prop_assert_eq!(current.timestamp(), timestamp);
                prop_assert_eq!(existing.is_some(), exists);
            }
        }
        if preconditions.is_empty() {
            prop_assert_eq!(preconditions.evaluate(&method, current), Ok(()));
        }
    }
}
