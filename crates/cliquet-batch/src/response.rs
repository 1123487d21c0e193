//! The entries of the batch response, built from subresponses.

use std::borrow::Cow;

use bytes::Bytes;
use cliquet_errors::{ApiError, Errno};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName};
use http::{HeaderMap, Method, StatusCode};
use percent_encoding::percent_decode_str;
use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use serde_json::value::RawValue;

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
    /// The subresponse's JSON, embedded as it was sent.
    Json(Box<RawValue>),
    /// A body that is not JSON, as text (`""` for `HEAD` and empty bodies).
    Text(String),
}

impl EntryBody {
    fn len(&self) -> usize {
        match self {
            EntryBody::Json(json) => json.get().len(),
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

        let json = if head {
            None
        } else {
            serde_json::from_slice::<Box<RawValue>>(&body).ok()
        };
        let (body, length, rewritten) = match json {
            Some(json) => (EntryBody::Json(json), body.len(), false),
            None if !head && (status.is_client_error() || status.is_server_error()) => {
                let error = ApiError::new(status, Errno::Undefined).to_json();
                let length = error.len();
                let body = match serde_json::from_slice::<Box<RawValue>>(&error) {
                    Ok(json) => EntryBody::Json(json),
                    Err(_) => EntryBody::Text(String::from_utf8_lossy(&error).into_owned()),
                };
                (body, length, true)
            }
            None if head => (EntryBody::Text(String::new()), 0, false),
            None => (
                EntryBody::Text(String::from_utf8_lossy(&body).into_owned()),
                body.len(),
                false,
            ),
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

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entry = serializer.serialize_struct("Entry", 4)?;
        entry.serialize_field("path", &self.path)?;
        entry.serialize_field("status", &self.status.as_u16())?;
        entry.serialize_field("headers", &Headers(&self.headers))?;
        match &self.body {
            EntryBody::Json(json) => entry.serialize_field("body", json)?,
            EntryBody::Text(text) => entry.serialize_field("body", text)?,
        }
        entry.end()
    }
}

struct Headers<'a>(&'a [(Cow<'static, str>, String)]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name.as_ref(), value)?;
        }
        map.end()
    }
}

/// The body of the batch response.
pub(crate) fn render(entries: &[Entry]) -> Bytes {
    #[derive(serde::Serialize)]
    struct Answer<'a> {
        responses: &'a [Entry],
    }
    // Room for the bodies and a little more: one allocation in most cases.
    let capacity = entries
        .iter()
        .map(|entry| entry.body.len() + 48 * entry.headers.len() + entry.path.len() + 64)
        .sum::<usize>()
        + 16;
    let mut out = Vec::with_capacity(capacity);
    // Strings, integers and embedded JSON always serialise.
    match serde_json::to_writer(&mut out, &Answer { responses: entries }) {
        Ok(()) => Bytes::from(out),
        Err(_) => Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::{Value, json};

    fn to_value(entry: &Entry) -> Value {
        serde_json::to_value(entry).unwrap()
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
            to_value(&entry),
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
        assert_eq!(to_value(&entry)["body"], "hello");
        let entry = Entry::new(
            "/v1/x",
            &Method::HEAD,
            StatusCode::OK,
            &headers,
            "{}".into(),
        );
        assert_eq!(to_value(&entry)["body"], "");
        assert_eq!(to_value(&entry)["headers"], json!({}));
        let entry = Entry::new(
            "/v1/x",
            &Method::DELETE,
            StatusCode::NO_CONTENT,
            &headers,
            Bytes::new(),
        );
        assert_eq!(to_value(&entry)["body"], "");
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
        let value = to_value(&entry);
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
}
