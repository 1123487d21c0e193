//! The batch body: defaults merging, validation, and the subrequests it
//! describes.
//!
//! The wording of every validation message is the one Kinto's clients see
//! (Kinto validates the body with `colander`, whose messages quote values
//! as Python prints them); see [`python`] for that rendering.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use cliquet_errors::{ApiError, Location, ValidationDetail};
use http::Method;
use http::header::{HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Map, Value};

use self::python::{repr, str as py_str};

/// The methods a subrequest may use, in the order the error message lists
/// them.
const METHODS: [&str; 7] = ["GET", "HEAD", "DELETE", "TRACE", "POST", "PUT", "PATCH"];

/// The keys of a request object.
const REQUEST_KEYS: [&str; 4] = ["method", "path", "headers", "body"];

/// Characters of a subrequest path that cannot travel in a URI as they are
/// and are percent-encoded (with every non-ASCII character). `%` is kept, so
/// a path that is already encoded is not encoded twice.
const PATH_ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The part of the batch endpoint's path that makes a subrequest recursive.
const RECURSION_MARKER: &str = "/batch";

/// One validated subrequest, ready to be sent.
#[derive(Debug, Clone)]
pub(crate) struct SubrequestSpec {
    pub(crate) method: Method,
    pub(crate) path: PathAndQuery,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// The JSON body, when the request had a non-empty `body` object.
    pub(crate) body: Option<Bytes>,
}

/// What the body parser needs to know of the layer's configuration.
pub(crate) struct Limits<'a> {
    /// The version prefix prepended to paths that lack it (`""` for none).
    pub(crate) prefix: &'a str,
    /// The most subrequests a batch may hold; 0 is unlimited.
    pub(crate) max_requests: usize,
}

/// Parses and validates a batch body into its subrequests.
pub(crate) fn parse(
    body: &[u8],
    limits: &Limits<'_>,
) -> Result<Vec<SubrequestSpec>, Box<ApiError>> {
    let payload: Value =
        serde_json::from_slice(body).map_err(|e| Box::new(ApiError::invalid_json(e)))?;
    let mut errors = Errors::default();
    let requests = validate_payload(payload, limits, &mut errors);
    errors.into_result()?;
    let requests = requests.unwrap_or_default();

    // Checked once the body is valid, as Kinto does.
    if requests
        .iter()
        .any(|request| request.raw_path.contains(RECURSION_MARKER))
    {
        return Err(Box::new(ApiError::invalid_parameter(
            Location::Body,
            "requests",
            "Recursive call on /batch endpoint is forbidden.",
        )));
    }
    Ok(requests.into_iter().map(|r| r.subrequest).collect())
}

/// The validation errors found so far.
#[derive(Default)]
struct Errors(Vec<ValidationDetail>);

impl Errors {
    fn add(&mut self, name: impl Into<String>, description: impl Into<String>) {
        self.0
            .push(ValidationDetail::new(Location::Body, name, description));
    }

    fn into_result(self) -> Result<(), Box<ApiError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Box::new(ApiError::invalid_parameters(self.0)))
        }
    }
}

/// A subrequest with the path as the client wrote it, for the recursion
/// check.
struct Validated {
    raw_path: String,
    subrequest: SubrequestSpec,
}

fn validate_payload(
    payload: Value,
    limits: &Limits<'_>,
    errors: &mut Errors,
) -> Option<Vec<Validated>> {
    let Value::Object(mut top) = payload else {
        errors.add("", not_a_mapping(&payload));
        return None;
    };
    let defaults = top.remove("defaults");
    let requests = top.remove("requests");
    if !top.is_empty() {
        errors.add("", unrecognized_keys(&top));
    }

    if let Some(defaults) = &defaults {
        // The defaults are a request object whose path is optional.
        validate_request(defaults, Name::Defaults, false, limits, errors);
    }

    let Some(requests) = requests else {
        errors.add("requests", "Required");
        return None;
    };
    let Value::Array(requests) = requests else {
        errors.add(
            "requests",
            format!("\"{}\" is not iterable", py_str(&requests)),
        );
        return None;
    };

    // Kinto counts the requests once they are valid. Counting them first
    // spares the work (and the memory: the defaults are copied into every
    // request) of a batch that will be refused anyway.
    if limits.max_requests != 0 && requests.len() > limits.max_requests {
        errors.add(
            "requests",
            format!("Number of requests is limited to {}", limits.max_requests),
        );
        return None;
    }

    let mut validated = Vec::with_capacity(requests.len());
    for (index, mut request) in requests.into_iter().enumerate() {
        // Defaults are merged before validation, so that a default can
        // complete (or spoil) every request.
        if let (Some(Value::Object(defaults)), Value::Object(request)) = (&defaults, &mut request) {
            merge_missing(request, defaults);
        }
        let name = Name::Request(index);
        if let Some(subrequest) = validate_request(&request, name, true, limits, errors) {
            validated.push(subrequest);
        }
    }
    Some(validated)
}

/// Copies into `target` every key of `defaults` it lacks; where both hold
/// an object, merges recursively. The request's values win at every level.
fn merge_missing(target: &mut Map<String, Value>, defaults: &Map<String, Value>) {
    for (key, default) in defaults {
        match (target.get_mut(key), default) {
            (None, default) => {
                target.insert(key.clone(), default.clone());
            }
            (Some(Value::Object(target)), Value::Object(default)) => {
                merge_missing(target, default);
            }
            (Some(_), _) => {}
        }
    }
}

/// The name of a request object in validation errors. Formatted only when
/// there is an error to report.
#[derive(Clone, Copy)]
enum Name {
    Defaults,
    Request(usize),
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Name::Defaults => f.write_str("defaults"),
            Name::Request(index) => write!(f, "requests.{index}"),
        }
    }
}

/// Validates one request object; records its errors under `name`.
fn validate_request(
    request: &Value,
    name: Name,
    path_required: bool,
    limits: &Limits<'_>,
    errors: &mut Errors,
) -> Option<Validated> {
    let Value::Object(fields) = request else {
        errors.add(name.to_string(), not_a_mapping(request));
        return None;
    };
    let before = errors.0.len();

    let unknown: Map<String, Value> = fields
        .iter()
        .filter(|(key, _)| !REQUEST_KEYS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if !unknown.is_empty() {
        errors.add(name.to_string(), unrecognized_keys(&unknown));
    }

    let method = match fields.get("method").and_then(colander_string) {
        None => Some(Method::GET),
        Some(method) if METHODS.contains(&method.as_str()) => {
            Method::from_bytes(method.as_bytes()).ok()
        }
        Some(method) => {
            errors.add(
                format!("{name}.method"),
                format!("\"{method}\" is not one of {}", METHODS.join(", ")),
            );
            None
        }
    };

    let path = match fields.get("path").and_then(colander_string) {
        None => {
            if path_required {
                errors.add(format!("{name}.path"), "Required");
            }
            None
        }
        Some(path) if !path.starts_with('/') => {
            errors.add(
                format!("{name}.path"),
                "String does not match expected pattern",
            );
            None
        }
        Some(path) => match subrequest_path(&path, limits.prefix) {
            Some(uri_path) => Some((path, uri_path)),
            None => {
                errors.add(format!("{name}.path"), "Invalid URL path.");
                None
            }
        },
    };

    let headers = match fields.get("headers") {
        None => Vec::new(),
        Some(headers) => validate_headers(headers, name, errors),
    };

    let body = match fields.get("body") {
        None => None,
        Some(Value::Object(body)) if body.is_empty() => None,
        Some(body @ Value::Object(_)) => serde_json::to_vec(body).ok().map(Bytes::from),
        Some(other) => {
            errors.add(format!("{name}.body"), not_a_mapping(other));
            None
        }
    };

    if errors.0.len() != before {
        return None;
    }
    let (method, (raw_path, path)) = (method?, path?);
    Some(Validated {
        raw_path,
        subrequest: SubrequestSpec {
            method,
            path,
            headers,
            body,
        },
    })
}

/// Validates the `headers` of the request object `request` (its errors are
/// named `{request}.headers`).
fn validate_headers(
    headers: &Value,
    request: Name,
    errors: &mut Errors,
) -> Vec<(HeaderName, HeaderValue)> {
    let name = || format!("{request}.headers");
    let Value::Object(map) = headers else {
        errors.add(name(), not_a_mapping(headers));
        return Vec::new();
    };
    if map.values().any(|value| !value.is_string()) {
        errors.add(
            name(),
            format!("{} contains non string value", repr(headers)),
        );
        return Vec::new();
    }
    let mut valid = Vec::with_capacity(map.len());
    for (key, value) in map {
        let value = value.as_str().unwrap_or_default();
        let Ok(header_name) = HeaderName::from_bytes(key.as_bytes()) else {
            errors.add(name(), format!("'{key}' is not a valid header name"));
            continue;
        };
        let Ok(header_value) = HeaderValue::from_str(value) else {
            errors.add(
                name(),
                format!(
                    "{} is not a valid value for header '{key}'",
                    repr(&Value::from(value))
                ),
            );
            continue;
        };
        valid.push((header_name, header_value));
    }
    valid
}

/// The path the subrequest is sent to: the version prefix prepended when
/// the path does not start with it, and the characters a URI cannot carry
/// percent-encoded. `None` when even then it is not a valid URI path.
fn subrequest_path(path: &str, prefix: &str) -> Option<PathAndQuery> {
    let encoded: Cow<'_, str> = utf8_percent_encode(path, PATH_ENCODE).into();
    if encoded.starts_with(prefix) {
        PathAndQuery::try_from(encoded.as_ref()).ok()
    } else {
        PathAndQuery::try_from(format!("{prefix}{encoded}")).ok()
    }
}

/// What `colander.String` makes of a value: falsy values are absent;
/// strings are themselves; anything else is its Python `str`.
fn colander_string(value: &Value) -> Option<String> {
    match value {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::Array(a) if a.is_empty() => None,
        Value::Object(o) if o.is_empty() => None,
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        Value::String(s) => Some(s.clone()),
        other => Some(py_str(other)),
    }
}

fn not_a_mapping(value: &Value) -> String {
    format!(
        "\"{}\" is not a mapping type: Does not implement dict-like functionality.",
        py_str(value)
    )
}

fn unrecognized_keys(unknown: &Map<String, Value>) -> String {
    format!(
        "Unrecognized keys in mapping: \"{}\"",
        repr(&Value::Object(unknown.clone()))
    )
}

/// JSON values written as Python writes them, since Kinto's messages quote
/// values that way (`{'foo': 1}`, `None`, `True`).
pub(crate) mod python {
    use std::fmt::Write;

    use serde_json::Value;

    /// Python's `repr`.
    pub(crate) fn repr(value: &Value) -> String {
        let mut out = String::new();
        write_repr(&mut out, value);
        out
    }

    /// Python's `str`: strings as they are, everything else as `repr`.
    pub(crate) fn str(value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            other => repr(other),
        }
    }

    fn write_repr(out: &mut String, value: &Value) {
        match value {
            Value::Null => out.push_str("None"),
            Value::Bool(true) => out.push_str("True"),
            Value::Bool(false) => out.push_str("False"),
            Value::Number(n) => {
                let _ = write!(out, "{n}");
            }
            Value::String(s) => write_str(out, s),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(out, item);
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                for (i, (key, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_str(out, key);
                    out.push_str(": ");
                    write_repr(out, item);
                }
                out.push('}');
            }
        }
    }

    fn write_str(out: &mut String, s: &str) {
        // Python quotes with ' unless the string holds ' and no ".
        let quote = if s.contains('\'') && !s.contains('"') {
            '"'
        } else {
            '\''
        };
        out.push(quote);
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c == quote => {
                    out.push('\\');
                    out.push(c);
                }
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push(quote);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliquet_errors::Errno;
    use serde_json::json;

    const LIMITS: Limits<'static> = Limits {
        prefix: "/v1",
        max_requests: 25,
    };

    fn parse_value(body: Value) -> Result<Vec<SubrequestSpec>, Box<ApiError>> {
        parse(body.to_string().as_bytes(), &LIMITS)
    }

    fn details(error: &ApiError) -> Vec<(String, String)> {
        error
            .details()
            .and_then(Value::as_array)
            .expect("validation details")
            .iter()
            .map(|d| {
                (
                    d["name"].as_str().unwrap_or("null").to_owned(),
                    d["description"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    fn single_error(body: Value) -> (String, String) {
        let error = parse_value(body).expect_err("invalid body");
        assert_eq!(error.code(), http::StatusCode::BAD_REQUEST);
        assert_eq!(error.errno(), Errno::InvalidParameters);
        let mut details = details(&error);
        assert_eq!(details.len(), 1, "{details:?}");
        details.remove(0)
    }

    #[test]
    fn python_rendering() {
        assert_eq!(repr(&json!({"foo": 1})), "{'foo': 1}");
        assert_eq!(repr(&json!([1, 2])), "[1, 2]");
        assert_eq!(
            repr(&json!([null, true, false, "it's"])),
            "[None, True, False, \"it's\"]"
        );
        assert_eq!(repr(&json!("a'\"\n")), "'a\\'\"\\n'");
        assert_eq!(py_str(&json!("abc")), "abc");
    }

    #[test]
    fn method_defaults_to_get_and_body_is_json() {
        let requests = parse_value(json!({"requests": [
            {"path": "/a"},
            {"method": "POST", "path": "/v1/b?x=1", "body": {"data": {"k": 1}}},
            {"method": "PUT", "path": "/c", "body": {}},
        ]}))
        .unwrap();
        assert_eq!(requests[0].method, Method::GET);
        assert_eq!(requests[0].path, "/v1/a");
        assert_eq!(requests[0].body, None);
        assert_eq!(requests[1].path, "/v1/b?x=1");
        assert_eq!(
            requests[1].body.as_deref(),
            Some(&b"{\"data\":{\"k\":1}}"[..])
        );
        // An empty body object sends no body.
        assert_eq!(requests[2].body, None);
    }

    #[test]
    fn defaults_are_merged_recursively_request_values_win() {
        let requests = parse_value(json!({
            "defaults": {
                "method": "POST",
                "path": "/articles",
                "headers": {"Response-Behavior": "light", "X-A": "default"},
                "body": {"data": {"a": 1, "b": 1}, "permissions": {"read": ["x"]}},
            },
            "requests": [
                {"headers": {"X-A": "mine"}, "body": {"data": {"b": 2}}},
                {"method": "GET", "path": "/other"},
            ]
        }))
        .unwrap();
        let first = &requests[0];
        assert_eq!(first.method, Method::POST);
        assert_eq!(first.path, "/v1/articles");
        let headers: Vec<(&str, &str)> = first
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert!(headers.contains(&("response-behavior", "light")));
        assert!(headers.contains(&("x-a", "mine")));
        let body: Value = serde_json::from_slice(first.body.as_ref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"data": {"a": 1, "b": 2}, "permissions": {"read": ["x"]}})
        );
        assert_eq!(requests[1].method, Method::GET);
        assert_eq!(requests[1].path, "/v1/other");
    }

    #[test]
    fn defaults_path_is_optional_but_request_path_is_required() {
        let (name, description) = single_error(json!({
            "defaults": {"method": "GET"},
            "requests": [{}],
        }));
        assert_eq!(
            (name.as_str(), description.as_str()),
            ("requests.0.path", "Required")
        );
    }

    #[test]
    fn invalid_defaults_are_reported() {
        let error = parse_value(json!({
            "defaults": {"method": "get", "path": "relative"},
            "requests": [{"path": "/a"}],
        }))
        .unwrap_err();
        let details = details(&error);
        assert!(details.contains(&(
            "defaults.method".into(),
            "\"get\" is not one of GET, HEAD, DELETE, TRACE, POST, PUT, PATCH".into()
        )));
        assert!(details.contains(&(
            "defaults.path".into(),
            "String does not match expected pattern".into()
        )));
        // The merged request inherits the bad method.
        assert!(details.iter().any(|(name, _)| name == "requests.0.method"));
    }

    #[test]
    fn requests_is_required() {
        assert_eq!(
            single_error(json!({})),
            ("requests".into(), "Required".into())
        );
        let error = parse_value(json!({})).unwrap_err();
        assert_eq!(error.message(), Some("requests in body: Required"));
    }

    #[test]
    fn requests_must_be_a_list() {
        assert_eq!(
            single_error(json!({"requests": {"path": "/a"}})),
            (
                "requests".into(),
                "\"{'path': '/a'}\" is not iterable".into()
            )
        );
    }

    #[test]
    fn empty_requests_are_valid() {
        assert!(parse_value(json!({"requests": []})).unwrap().is_empty());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert_eq!(
            single_error(json!({"requests": [{"path": "/a", "foo": 1}]})),
            (
                "requests.0".into(),
                "Unrecognized keys in mapping: \"{'foo': 1}\"".into()
            )
        );
        let error = parse_value(json!({"requests": [{"path": "/a", "foo": 1}]})).unwrap_err();
        assert_eq!(
            error.message(),
            Some("requests.0 in body: Unrecognized keys in mapping: \"{'foo': 1}\"")
        );
        assert_eq!(
            single_error(json!({"requests": [], "foo": 1})),
            (
                "".into(),
                "Unrecognized keys in mapping: \"{'foo': 1}\"".into()
            )
        );
    }

    #[test]
    fn methods_are_upper_case_and_listed() {
        for method in METHODS {
            let requests =
                parse_value(json!({"requests": [{"method": method, "path": "/a"}]})).unwrap();
            assert_eq!(requests[0].method.as_str(), method);
        }
        for method in ["OPTIONS", "get", "CONNECT", "FOO"] {
            let (name, description) =
                single_error(json!({"requests": [{"method": method, "path": "/a"}]}));
            assert_eq!(name, "requests.0.method");
            assert_eq!(
                description,
                format!("\"{method}\" is not one of GET, HEAD, DELETE, TRACE, POST, PUT, PATCH")
            );
        }
        // Colander turns numbers into strings before checking them.
        assert_eq!(
            single_error(json!({"requests": [{"method": 1, "path": "/a"}]})).1,
            "\"1\" is not one of GET, HEAD, DELETE, TRACE, POST, PUT, PATCH"
        );
    }

    #[test]
    fn paths_must_start_with_a_slash() {
        for path in [json!("a"), json!("http://x/v1/a"), json!(12)] {
            assert_eq!(
                single_error(json!({"requests": [{"path": path}]})),
                (
                    "requests.0.path".into(),
                    "String does not match expected pattern".into()
                )
            );
        }
        assert_eq!(
            single_error(json!({"requests": [{"path": ""}]})),
            ("requests.0.path".into(), "Required".into())
        );
    }

    #[test]
    fn paths_are_prefixed_and_encoded() {
        let requests = parse_value(json!({"requests": [
            {"path": "/"},
            {"path": "/v1/articles"},
            {"path": "/articles?_since=12&_limit=10"},
            {"path": "/buckets/été"},
            {"path": "/buckets/%C3%A9t%C3%A9"},
            {"path": "/a b{c}"},
        ]}))
        .unwrap();
        let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/v1/",
                "/v1/articles",
                "/v1/articles?_since=12&_limit=10",
                "/v1/buckets/%C3%A9t%C3%A9",
                "/v1/buckets/%C3%A9t%C3%A9",
                "/v1/a%20b%7Bc%7D",
            ]
        );
        let no_prefix = Limits {
            prefix: "",
            max_requests: 0,
        };
        let requests = parse(br#"{"requests": [{"path": "/a"}]}"#, &no_prefix).unwrap();
        assert_eq!(requests[0].path, "/a");
    }

    #[test]
    fn headers_must_be_strings_and_valid() {
        assert_eq!(
            single_error(json!({"requests": [{"path": "/a", "headers": {"X": 1}}]})),
            (
                "requests.0.headers".into(),
                "{'X': 1} contains non string value".into()
            )
        );
        assert_eq!(
            single_error(json!({"requests": [{"path": "/a", "headers": ["X"]}]})).1,
            "\"['X']\" is not a mapping type: Does not implement dict-like functionality."
        );
        assert_eq!(
            single_error(json!({"requests": [{"path": "/a", "headers": {"Bad Name": "x"}}]})).1,
            "'Bad Name' is not a valid header name"
        );
        assert_eq!(
            single_error(json!({"requests": [{"path": "/a", "headers": {"X": "a\nb"}}]})).1,
            "'a\\nb' is not a valid value for header 'X'"
        );
    }

    #[test]
    fn body_must_be_an_object() {
        assert_eq!(
            single_error(json!({"requests": [{"path": "/a", "body": [1, 2]}]})),
            (
                "requests.0.body".into(),
                "\"[1, 2]\" is not a mapping type: Does not implement dict-like functionality."
                    .into()
            )
        );
        assert_eq!(
            single_error(json!({"requests": [{"path": "/a", "body": "text"}]})).1,
            "\"text\" is not a mapping type: Does not implement dict-like functionality."
        );
    }

    #[test]
    fn top_level_must_be_an_object() {
        assert_eq!(
            single_error(json!([1, 2])),
            (
                "".into(),
                "\"[1, 2]\" is not a mapping type: Does not implement dict-like functionality."
                    .into()
            )
        );
        let error = parse_value(json!([1, 2])).unwrap_err();
        assert_eq!(
            error.message(),
            Some("\"[1, 2]\" is not a mapping type: Does not implement dict-like functionality.")
        );
    }

    #[test]
    fn invalid_json() {
        let error = parse(b"{not json", &LIMITS).unwrap_err();
        assert_eq!(error.errno(), Errno::InvalidParameters);
        assert!(error.message().unwrap().starts_with("Invalid JSON: "));
        assert_eq!(details(&error).len(), 2);
    }

    #[test]
    fn every_error_is_reported() {
        let error = parse_value(json!({"requests": [
            {"method": "OPTIONS", "path": "/a"},
            {"path": "a"},
            "not an object",
        ]}))
        .unwrap_err();
        let names: Vec<String> = details(&error).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["requests.0.method", "requests.1.path", "requests.2"]
        );
    }

    #[test]
    fn too_many_requests() {
        let requests: Vec<Value> = (0..26).map(|i| json!({"path": format!("/{i}")})).collect();
        let (name, description) = single_error(json!({"requests": requests}));
        assert_eq!(name, "requests");
        assert_eq!(description, "Number of requests is limited to 25");
        let error = parse_value(json!({"requests": requests})).unwrap_err();
        assert_eq!(
            error.message(),
            // "requests" is in the description, so it is the message as it is.
            Some("Number of requests is limited to 25")
        );
        // Counted before the requests are validated.
        let invalid: Vec<Value> = (0..26).map(|_| json!({"method": "get"})).collect();
        assert_eq!(
            single_error(json!({"requests": invalid})),
            (
                "requests".into(),
                "Number of requests is limited to 25".into()
            )
        );
        // Exactly the limit passes; 0 is unlimited.
        assert_eq!(
            parse_value(json!({"requests": requests[..25]}))
                .unwrap()
                .len(),
            25
        );
        let unlimited = Limits {
            prefix: "/v1",
            max_requests: 0,
        };
        let body = json!({"requests": requests}).to_string();
        assert_eq!(parse(body.as_bytes(), &unlimited).unwrap().len(), 26);
    }

    #[test]
    fn recursive_batches_are_refused() {
        for path in ["/batch", "/v1/batch", "/articles?next=/batch", "/batches"] {
            let error =
                parse_value(json!({"requests": [{"path": "/a"}, {"path": path}]})).unwrap_err();
            assert_eq!(
                error.message(),
                Some("requests in body: Recursive call on /batch endpoint is forbidden."),
                "{path}"
            );
        }
        // Through the defaults too.
        assert!(parse_value(json!({"defaults": {"path": "/batch"}, "requests": [{}]})).is_err());
    }
}
