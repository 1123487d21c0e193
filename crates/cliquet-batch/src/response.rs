//! The entries of the batch response, built from subresponses.

use std::borrow::Cow;

use bytes::Bytes;
use cliquet_errors::{ApiError, Errno};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName};
use http::{HeaderMap, Method, StatusCode};
use percent_encoding::percent_decode_str;
use serde::de::IgnoredAny;

/// One entry of `{"responses": [...]}`.
#[derive(Debug)]
pub(crate) struct Entry {
    path: String,
    status: StatusCode,
    headers: Vec<(Cow<'static, str>, String)>,
    body: EntryBody,
}

#[derive(Debug)]
enum EntryBody {
    /// The subresponse's JSON (checked to be one valid JSON value), embedded
    /// as it was sent.
    Json(Bytes),
    /// A body that is not JSON, as text (`""` for `HEAD` and empty bodies).
    Text(String),
}

impl EntryBody {
    fn len(&self) -> usize {
        match self {
            EntryBody::Json(json) => json.len(),
            EntryBody::Text(text) => text.len() + 2,
        }
    }
}

impl Entry {
    /// The entry of a subresponse.
    ///
    /// `path` is the path the subrequest was finally sent to (query string
    /// included: it is dropped here). An error status whose body is not
    /// JSON is rewritten as the protocol error Kinto records for it: errno
    /// 999, the reason phrase as title, no message.
    pub(crate) fn new(
        path: &str,
        method: &Method,
        status: StatusCode,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Self {
        let path = path.split_once('?').map_or(path, |(path, _)| path);
        let path = percent_decode_str(path).decode_utf8_lossy().into_owned();
        let head = method == Method::HEAD;

        let (body, length, rewritten) = if head {
            (EntryBody::Text(String::new()), 0, false)
        } else if is_json(&body) {
            let length = body.len();
            (EntryBody::Json(body), length, false)
        } else if status.is_client_error() || status.is_server_error() {
            let error = ApiError::new(status, Errno::Undefined).to_json();
            let length = error.len();
            (EntryBody::Json(error), length, true)
        } else {
            let length = body.len();
            (
                EntryBody::Text(String::from_utf8_lossy(&body).into_owned()),
                length,
                false,
            )
        };

        let mut rendered: Vec<(Cow<'static, str>, String)> =
            Vec::with_capacity(headers.keys_len() + 2);
        for name in headers.keys() {
            if rewritten && (name == CONTENT_TYPE || name == CONTENT_LENGTH) {
                continue;
            }
            let mut value = String::new();
            for (i, part) in headers.get_all(name).iter().enumerate() {
                if i > 0 {
                    value.push_str(", ");
                }
                value.push_str(&String::from_utf8_lossy(part.as_bytes()));
            }
            rendered.push((display_name(name), value));
        }
        if rewritten {
            rendered.push((Cow::Borrowed("Content-Type"), "application/json".to_owned()));
        }
        if !head && (rewritten || !headers.contains_key(CONTENT_LENGTH)) {
            rendered.push((Cow::Borrowed("Content-Length"), length.to_string()));
        }

        Self {
            path,
            status,
            headers: rendered,
            body,
        }
    }
}

/// Header names as Kinto's web framework writes them in batch responses:
/// `Content-Type`, `ETag`, `WWW-Authenticate`.
fn display_name(name: &HeaderName) -> Cow<'static, str> {
    let known = match name.as_str() {
        "content-type" => "Content-Type",
        "content-length" => "Content-Length",
        "etag" => "ETag",
        "last-modified" => "Last-Modified",
        "www-authenticate" => "WWW-Authenticate",
        "retry-after" => "Retry-After",
        "location" => "Location",
        "allow" => "Allow",
        lower => {
            let mut out = String::with_capacity(lower.len());
            let mut upper = true;
            for c in lower.chars() {
                out.push(if upper { c.to_ascii_uppercase() } else { c });
                upper = c == '-';
            }
            return Cow::Owned(out);
        }
    };
    Cow::Borrowed(known)
}

impl Entry {
    /// Writes the entry as JSON.
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"path\":");
        write_string(out, &self.path);
        out.extend_from_slice(b",\"status\":");
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.extend_from_slice(b",\"headers\":{");
        for (i, (name, value)) in self.headers.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_string(out, name);
            out.push(b':');
            write_string(out, value);
        }
        out.extend_from_slice(b"},\"body\":");
        match &self.body {
            EntryBody::Json(json) => out.extend_from_slice(json),
            EntryBody::Text(text) => write_string(out, text),
        }
        out.push(b'}');
    }
}

/// Whether `body` is one JSON value (and UTF-8, so that it can be embedded
/// as it is in the batch response).
fn is_json(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok_and(|text| serde_json::from_str::<IgnoredAny>(text).is_ok())
}

/// Writes a JSON string.
fn write_string(out: &mut Vec<u8>, text: &str) {
    // Writing into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// The body of the batch response: `{"responses": [...]}`.
pub(crate) fn render(entries: &[Entry]) -> Bytes {
    // Room for the bodies and a little more: one allocation in most cases.
    let capacity = entries
        .iter()
        .map(|entry| entry.body.len() + 48 * entry.headers.len() + entry.path.len() + 64)
        .sum::<usize>()
        + 16;
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(b"{\"responses\":[");
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        entry.write(&mut out);
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::{Value, json};

    fn to_value(entry: Entry) -> Value {
        let rendered: Value = serde_json::from_slice(&render(&[entry])).unwrap();
        rendered["responses"][0].clone()
    }

    #[test]
    fn json_body_headers_and_decoded_path() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert("etag", HeaderValue::from_static("\"12\""));
        headers.append("vary", HeaderValue::from_static("Origin"));
        headers.append("vary", HeaderValue::from_static("Accept"));
        let entry = Entry::new(
            "/v1/buckets/%C3%A9t%C3%A9?_limit=2",
            &Method::GET,
            StatusCode::OK,
            &headers,
            Bytes::from_static(br#"{"data": [1]}"#),
        );
        assert_eq!(
            to_value(entry),
            json!({
                "path": "/v1/buckets/été",
                "status": 200,
                "headers": {
                    "Content-Type": "application/json",
                    "ETag": "\"12\"",
                    "Vary": "Origin, Accept",
                    "Content-Length": "13",
                },
                "body": {"data": [1]},
            })
        );
    }

    #[test]
    fn text_and_head_bodies() {
        let headers = HeaderMap::new();
        let entry = Entry::new(
            "/v1/x",
            &Method::GET,
            StatusCode::OK,
            &headers,
            "hello".into(),
        );
        assert_eq!(to_value(entry)["body"], "hello");
        let entry = Entry::new(
            "/v1/x",
            &Method::HEAD,
            StatusCode::OK,
            &headers,
            "{}".into(),
        );
        let value = to_value(entry);
        assert_eq!(value["body"], "");
        assert_eq!(value["headers"], json!({}));
        let entry = Entry::new(
            "/v1/x",
            &Method::DELETE,
            StatusCode::NO_CONTENT,
            &headers,
            Bytes::new(),
        );
        assert_eq!(to_value(entry)["body"], "");
    }

    #[test]
    fn errors_without_json_get_errno_999() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("9"));
        headers.insert("allow", HeaderValue::from_static("GET"));
        let entry = Entry::new(
            "/v1/x",
            &Method::POST,
            StatusCode::FORBIDDEN,
            &headers,
            "forbidden".into(),
        );
        let value = to_value(entry);
        assert_eq!(
            value["body"],
            json!({"code": 403, "errno": 999, "error": "Forbidden"})
        );
        assert_eq!(
            value["headers"],
            json!({
                "Allow": "GET",
                "Content-Type": "application/json",
                "Content-Length": r#"{"code":403,"errno":999,"error":"Forbidden"}"#.len().to_string(),
            })
        );
    }

    #[test]
    fn rendering_keeps_embedded_json() {
        let entry = Entry::new(
            "/v1/x",
            &Method::GET,
            StatusCode::OK,
            &HeaderMap::new(),
            "[1,2]".into(),
        );
        assert_eq!(
            render(&[entry]),
            r#"{"responses":[{"path":"/v1/x","status":200,"headers":{"Content-Length":"5"},"body":[1,2]}]}"#
        );
    }

    #[test]
    fn only_single_valid_json_values_are_embedded() {
        for (body, expected) in [
            (&b" {\"a\" :\n 1 } "[..], json!({"a": 1})),
            (b"\"text\"", json!("text")),
            (b"{} {}", json!("{} {}")),
            (b"{\"a\": 1", json!("{\"a\": 1")),
            (b"\xff\xfe", json!("\u{fffd}\u{fffd}")),
            (b"\"\xff\"", json!("\"\u{fffd}\"")),
            (b"", json!("")),
        ] {
            let entry = Entry::new(
                "/v1/x",
                &Method::GET,
                StatusCode::OK,
                &HeaderMap::new(),
                Bytes::copy_from_slice(body),
            );
            assert_eq!(to_value(entry)["body"], expected, "{body:?}");
        }
    }

    #[test]
    fn strings_are_escaped() {
        let mut headers = HeaderMap::new();
        headers.insert("x-quote", HeaderValue::from_static("a \"b\" \\ c"));
        headers.insert(
            "x-bytes",
            HeaderValue::from_bytes(b"caf\xc3\xa9 \xff").unwrap(),
        );
        let entry = Entry::new(
            "/v1/%22q%22%0A",
            &Method::GET,
            StatusCode::OK,
            &headers,
            Bytes::new(),
        );
        let value = to_value(entry);
        assert_eq!(value["path"], "/v1/\"q\"\n");
        assert_eq!(value["headers"]["X-Quote"], "a \"b\" \\ c");
        assert_eq!(value["headers"]["X-Bytes"], "café \u{fffd}");
    }
}
