//! Request bodies: content negotiation, size and depth bounds, the
//! `{"data", "permissions"}` envelope.

// `ApiError` is the protocol's error everywhere; errors are the cold path.
#![allow(clippy::result_large_err)]

use std::collections::BTreeSet;

use axum::body::Body;
use bytes::Bytes;
use cliquet_errors::{ApiError, Location, ValidationDetail};
use cliquet_storage::Acl;
use http::HeaderMap;
use http::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Map, Value};

/// The JSON media type.
pub(crate) const JSON: &str = "application/json";
/// RFC 7396.
pub(crate) const MERGE_PATCH: &str = "application/merge-patch+json";
/// RFC 6902.
pub(crate) const JSON_PATCH: &str = "application/json-patch+json";

/// The flavour of a body, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    Json,
    MergePatch,
    JsonPatch,
}

/// Checks `Accept`: 406 unless it allows `application/json`.
pub(crate) fn check_accept(headers: &HeaderMap) -> Result<(), ApiError> {
    let mut values = headers.get_all(ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return Ok(());
    }
    for value in values {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let media = range.split(';').next().unwrap_or("").trim();
            if media.is_empty()
                || media.eq_ignore_ascii_case(JSON)
                || media.eq_ignore_ascii_case("application/*")
                || media == "*/*"
            {
                return Ok(());
            }
        }
    }
    Err(ApiError::not_acceptable(&[JSON]))
}

/// The flavour of a body given its `Content-Type`, among `accepted`; 415
/// otherwise. A missing `Content-Type` is JSON when the body is empty.
pub(crate) fn flavour(
    headers: &HeaderMap,
    body_is_empty: bool,
    accepted: &[&'static str],
) -> Result<Flavour, ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        if body_is_empty {
            return Ok(Flavour::Json);
        }
        return Err(ApiError::unsupported_media_type(accepted));
    };
    let media = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    for candidate in accepted {
        if media.eq_ignore_ascii_case(candidate) {
            return Ok(match *candidate {
                MERGE_PATCH => Flavour::MergePatch,
                JSON_PATCH => Flavour::JsonPatch,
                _ => Flavour::Json,
            });
        }
    }
    Err(ApiError::unsupported_media_type(accepted))
}

/// Reads the whole body, at most `limit` bytes (413 beyond).
pub(crate) async fn read(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::request_too_large())
}

/// Parses JSON, refusing (400 errno 107) documents nested deeper than
/// `max_depth` before building them: no recursion on client input.
pub(crate) fn parse_json(bytes: &[u8], max_depth: usize) -> Result<Value, ApiError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    return Err(ApiError::invalid_parameters([ValidationDetail::new(
                        Location::Body,
                        "",
                        format!("The body is nested deeper than {max_depth} levels"),
                    )]));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let value: Value = serde_json::from_slice(bytes).map_err(ApiError::invalid_json)?;
    if holds_nul(&value) {
        return Err(body_error("", "Invalid character 0x00"));
    }
    Ok(value)
}

/// Whether a string or a key anywhere in `value` holds a NUL character.
/// PostgreSQL cannot store one in `jsonb`, so bodies holding one are
/// refused on every backend alike, as filters holding one are. The depth
/// is bounded by [`parse_json`]'s check.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || holds_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A parsed `{"data": ..., "permissions": ...}` body.
#[derive(Debug, Default)]
pub(crate) struct Envelope {
    pub(crate) data: Option<Map<String, Value>>,
    /// `None` values are `null`s (merge patch: remove that permission).
    pub(crate) permissions: Option<Vec<(String, Option<BTreeSet<String>>)>>,
}

fn body_error(name: &str, description: impl Into<String>) -> ApiError {
    ApiError::invalid_parameters([ValidationDetail::new(Location::Body, name, description)])
}

/// Renders a value the way the protocol's messages quote it.
fn quoted(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        other => format!("\"{other}\""),
    }
}

/// Reads an envelope; `allowed` are the permission names of the resource.
pub(crate) fn envelope(value: Value, allowed: &[String]) -> Result<Envelope, ApiError> {
    let Value::Object(mut map) = value else {
        return Err(body_error(
            "",
            format!(
                "{} is not a mapping type: Does not implement dict-like functionality.",
                quoted(&value)
            ),
        ));
    };
    let data = map.remove("data");
    let permissions = map.remove("permissions");
    if !map.is_empty() {
        let keys: Vec<String> = map.iter().map(|(k, v)| format!("'{k}': {v}")).collect();
        return Err(body_error(
            "",
            format!("Unrecognized keys in mapping: \"{{{}}}\"", keys.join(", ")),
        ));
    }
    let data = match data {
        None => None,
        Some(Value::Object(data)) => Some(data),
        Some(other) => {
            return Err(body_error(
                "data",
                format!(
                    "{} is not a mapping type: Does not implement dict-like functionality.",
                    quoted(&other)
                ),
            ));
        }
    };
    let permissions = match permissions {
        None | Some(Value::Null) => None,
        Some(Value::Object(acl)) => {
            let mut entries = Vec::with_capacity(acl.len());
            for (name, principals) in acl {
                if !allowed.contains(&name) {
                    return Err(body_error(
                        "permissions",
                        format!("\"{name}\" is not one of {}", allowed.join(", ")),
                    ));
                }
                let principals = match principals {
                    Value::Null => None,
                    Value::Array(items) => {
                        let mut set = BTreeSet::new();
                        for item in items {
                            match item {
                                Value::String(s) => {
                                    set.insert(s);
                                }
                                other => {
                                    return Err(body_error(
                                        &format!("permissions.{name}"),
                                        format!("{} is not a string", quoted(&other)),
                                    ));
                                }
                            }
                        }
                        Some(set)
                    }
                    other => {
                        return Err(body_error(
                            &format!("permissions.{name}"),
                            format!("{} is not iterable", quoted(&other)),
                        ));
                    }
                };
                entries.push((name, principals));
            }
            Some(entries)
        }
        Some(other) => {
            return Err(body_error(
                "permissions",
                format!(
                    "{} is not a mapping type: Does not implement dict-like functionality.",
                    quoted(&other)
                ),
            ));
        }
    };
    Ok(Envelope { data, permissions })
}

/// An ACL as the protocol shows it: `{perm: [principals]}`.
pub(crate) fn acl_json(acl: &Acl) -> Value {
    Value::Object(
        acl.iter()
            .map(|(name, principals)| {
                (
                    name.clone(),
                    Value::Array(principals.iter().cloned().map(Value::String).collect()),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_is_bounded_without_recursion() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let error = parse_json(deep.as_bytes(), 64).unwrap_err();
        assert_eq!(error.code(), 400);
        assert_eq!(error.errno().as_u16(), 107);
        let ok = "[".repeat(64) + &"]".repeat(64);
        assert!(parse_json(ok.as_bytes(), 64).is_ok());
        // Brackets inside strings do not count.
        let string = format!("{{\"a\": \"{}\"}}", "[".repeat(1000));
        assert!(parse_json(string.as_bytes(), 64).is_ok());
        let escaped = format!("{{\"a\": \"\\\"{}\"}}", "{".repeat(1000));
        assert!(parse_json(escaped.as_bytes(), 64).is_ok());
    }

    #[test]
    fn nul_characters_are_refused() {
        for body in [
            r#"{"data": {"a": "x\u0000y"}}"#,
            r#"{"data": {"a\u0000": 1}}"#,
            r#"{"data": {"a": [{"b": ["\u0000"]}]}}"#,
            r#"{"permissions": {"read": ["a\u0000b"]}}"#,
        ] {
            let error = parse_json(body.as_bytes(), 64).unwrap_err();
            assert_eq!(
                (error.code().as_u16(), error.errno().as_u16()),
                (400, 107),
                "{body}"
            );
            assert_eq!(error.message(), Some("Invalid character 0x00"));
        }
        // An escaped backslash followed by a zero is no NUL.
        assert!(parse_json(br#"{"a": "\\u0000"}"#, 64).is_ok());
    }

    #[test]
    fn envelope_errors() {
        let allowed = vec!["read".to_owned(), "write".to_owned()];
        let error = envelope(json!([1, 2]), &allowed).unwrap_err();
        assert!(error.message().unwrap().contains("is not a mapping type"));
        let error = envelope(json!({"data": {}, "foo": 1}), &allowed).unwrap_err();
        assert!(
            error
                .message()
                .unwrap()
                .starts_with("Unrecognized keys in mapping")
        );
        let error = envelope(json!({"permissions": {"foo": []}}), &allowed).unwrap_err();
        assert_eq!(
            error.message(),
            Some("permissions in body: \"foo\" is not one of read, write")
        );
        let error = envelope(json!({"permissions": {"read": "a"}}), &allowed).unwrap_err();
        assert_eq!(
            error.message(),
            Some("permissions.read in body: \"a\" is not iterable")
        );
        let ok = envelope(
            json!({"data": {"a": 1}, "permissions": {"read": ["x"], "write": null}}),
            &allowed,
        )
        .unwrap();
        assert_eq!(ok.data.unwrap()["a"], 1);
        assert_eq!(ok.permissions.unwrap().len(), 2);
    }

    #[test]
    fn negotiation() {
        let mut headers = HeaderMap::new();
        assert!(check_accept(&headers).is_ok());
        headers.insert(ACCEPT, "text/html".parse().unwrap());
        assert_eq!(check_accept(&headers).unwrap_err().code(), 406);
        headers.insert(ACCEPT, "application/json, text/plain".parse().unwrap());
        assert!(check_accept(&headers).is_ok());
        let mut headers = HeaderMap::new();
        assert_eq!(flavour(&headers, true, &[JSON]).unwrap(), Flavour::Json);
        assert_eq!(flavour(&headers, false, &[JSON]).unwrap_err().code(), 415);
        headers.insert(
            CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert_eq!(flavour(&headers, false, &[JSON]).unwrap(), Flavour::Json);
        headers.insert(CONTENT_TYPE, MERGE_PATCH.parse().unwrap());
        assert_eq!(flavour(&headers, false, &[JSON]).unwrap_err().code(), 415);
        assert_eq!(
            flavour(&headers, false, &[JSON, MERGE_PATCH, JSON_PATCH]).unwrap(),
            Flavour::MergePatch
        );
    }
}
