//! Bad input of every kind, sent over a real socket: each kind gets the
//! status and errno of the protocol, in Kinto's error shape, never a 5xx,
//! and the server keeps answering. Run on memory and on PostgreSQL.
//!
//! The requests are written byte by byte on a TCP connection (see
//! [`raw`]), so that invalid UTF-8, NUL bytes and malformed headers reach
//! the server exactly as a misbehaving client would send them.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use cliquet_e2e::TestServer;
use http::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(mut env: Vec<(String, String)>) -> TestServer {
    env.push(("KINTO_CORS_ORIGINS".into(), "http://good.example".into()));
    let settings = kinto::settings(None, env).unwrap();
    TestServer::start(kinto::service(settings).await.unwrap()).await
}

fn basic(user: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:pw"))
    )
}

/// A response read off the socket.
#[derive(Debug)]
struct RawReply {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = find(body, b"\r\n") {
        let size = std::str::from_utf8(&body[..end]).expect("chunk size");
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16)
            .expect("hex chunk size");
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[end + 2..end + 2 + size]);
        body = &body[end + 2 + size + 2..];
    }
    out
}

/// Sends one HTTP/1.1 request made of exactly these bytes (plus `Host`,
/// `Content-Length` and `Connection: close`) and reads the whole answer.
/// A server that does not answer within 30 s fails the test.
async fn raw(
    address: SocketAddr,
    method: &[u8],
    target: &[u8],
    headers: &[(Vec<u8>, Vec<u8>)],
    body: &[u8],
) -> RawReply {
    let mut request = Vec::with_capacity(body.len() + 512);
    request.extend_from_slice(method);
    request.push(b' ');
    request.extend_from_slice(target);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    request.extend_from_slice(address.to_string().as_bytes());
    request.extend_from_slice(b"\r\nConnection: close\r\n");
    request.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    for (name, value) in headers {
        request.extend_from_slice(name);
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    let exchange = async {
        let stream = TcpStream::connect(address).await.expect("connect");
        let (mut reader, mut writer) = stream.into_split();
        // The server may answer (413) before the body is all sent: write
        // and read at once, and let the write fail then.
        let write = async move {
            let _ = writer.write_all(&request).await;
            writer
        };
        let read = async {
            let mut answer = Vec::new();
            let _ = reader.read_to_end(&mut answer).await;
            answer
        };
        let (_writer, answer) = tokio::join!(write, read);
        answer
    };
    let answer = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .expect("the server answers within 30 s");
    let split = find(&answer, b"\r\n\r\n").expect("a whole head");
    let head = &answer[..split];
    let mut lines = head.split(|&b| b == b'\n');
    let status_line = String::from_utf8_lossy(lines.next().unwrap()).into_owned();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {status_line:?}"));
    let headers: Vec<(String, Vec<u8>)> = lines
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            let value = &line[colon + 1..];
            let value = value.strip_prefix(b" ").unwrap_or(value);
            Some((
                String::from_utf8_lossy(&line[..colon]).into_owned(),
                value.to_vec(),
            ))
        })
        .collect();
    let mut reply = RawReply {
        status,
        headers,
        body: answer[split + 4..].to_vec(),
    };
    if reply
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case(b"chunked"))
    {
        reply.body = dechunk(&reply.body);
    }
    reply
}

/// One kind of bad input and the answer the protocol gives to it.
struct Case {
    kind: &'static str,
    method: Vec<u8>,
    target: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    status: u16,
    errno: Option<u64>,
    /// For a batch: the status and errno of its first subresponse.
    batched: Option<(u16, u64)>,
}

impl Case {
    /// A request as `alice`, who owns the test bucket.
    fn new(kind: &'static str, method: &str, target: impl Into<Vec<u8>>, alice: &str) -> Self {
        Self {
            kind,
            method: method.as_bytes().to_vec(),
            target: target.into(),
            headers: vec![(b"Authorization".to_vec(), alice.as_bytes().to_vec())],
            body: Vec::new(),
            status: 0,
            errno: None,
            batched: None,
        }
    }

    fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        let name = name.as_bytes().to_vec();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    fn anonymous(mut self) -> Self {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(b"authorization"));
        self
    }

    /// A body sent as `application/json` (unless a content type is set
    /// afterwards).
    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self.header("Content-Type", "application/json")
    }

    fn json(self, body: Value) -> Self {
        self.body(body.to_string())
    }

    fn expect(mut self, status: u16, errno: u64) -> Self {
        self.status = status;
        self.errno = Some(errno);
        self
    }

    /// A batch that answers 200 with its first subresponse in error.
    fn batched(mut self, status: u16, errno: u64) -> Self {
        self.status = 200;
        self.batched = Some((status, errno));
        self
    }

    /// A success: the input is odd but the protocol accepts it.
    fn accepted(mut self, status: u16) -> Self {
        self.status = status;
        self.errno = None;
        self
    }
}

fn nested(depth: usize) -> Vec<u8> {
    let mut body = br#"{"data": {"a": "#.to_vec();
    body.extend(std::iter::repeat_n(b'[', depth));
    body.extend(std::iter::repeat_n(b']', depth));
    body.extend_from_slice(b"}}");
    body
}

fn nested_objects(depth: usize) -> Vec<u8> {
    let mut body = br#"{"data": "#.to_vec();
    for _ in 0..depth {
        body.extend_from_slice(br#"{"a":"#);
    }
    body.extend_from_slice(b"1");
    body.extend(std::iter::repeat_n(b'}', depth));
    body.extend_from_slice(b"}");
    body
}

fn token(content: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(content)
}

fn batch_of(n: usize, path: &str) -> Value {
    let requests: Vec<Value> = (0..n).map(|_| json!({"path": path})).collect();
    json!({ "requests": requests })
}

/// Every kind of bad input, against bucket `b`, collection `c`, record
/// `r1` and group `g`, all owned by `alice`.
fn cases(run: &str, alice: &str) -> Vec<Case> {
    let bucket = format!("/v1/buckets/b{run}");
    let collection = format!("{bucket}/collections/c");
    let records = format!("{collection}/records");
    let record = format!("{records}/r1");
    let group = format!("{bucket}/groups/g");
    let sub = |path: &str| path.trim_start_matches("/v1").to_owned();
    let c = |kind, method, target: &str| Case::new(kind, method, target.as_bytes().to_vec(), alice);
    let many_filters: String = (0..3000)
        .map(|i| format!("f{i}={i}"))
        .collect::<Vec<_>>()
        .join("&");
    let long_id = "a".repeat(10_000);
    vec![
        // Bodies that are not JSON, or not the JSON expected.
        c("invalid JSON", "POST", &records)
            .body(r#"{"data": "#)
            .expect(400, 107),
        c("JSON followed by garbage", "POST", &records)
            .body(r#"{"data": {}} trailing"#)
            .expect(400, 107),
        c("empty JSON body with a JSON content type", "PATCH", &record)
            .body("")
            .expect(400, 107),
        c("arrays nested 100,000 deep", "POST", &records)
            .body(nested(100_000))
            .expect(400, 107),
        c("objects nested 100,000 deep", "PUT", &record)
            .body(nested_objects(100_000))
            .expect(400, 107),
        c("invalid UTF-8 in a JSON string", "POST", &records)
            .body(b"{\"data\": {\"a\": \"\xff\xfe\"}}".to_vec())
            .expect(400, 107),
        c("invalid UTF-8 outside strings", "POST", &records)
            .body(b"{\"data\": {\xc3\x28: 1}}".to_vec())
            .expect(400, 107),
        c("lone surrogate escape", "POST", &records)
            .body(r#"{"data": {"a": "\ud800"}}"#)
            .expect(400, 107),
        c("body is an array", "POST", &records)
            .json(json!([1, 2]))
            .expect(400, 107),
        c("body is a string", "PUT", &record)
            .json(json!("data"))
            .expect(400, 107),
        c("body is null", "PUT", &record)
            .body("null")
            .expect(400, 107),
        c("data is a string", "PUT", &record)
            .json(json!({"data": "x"}))
            .expect(400, 107),
        c("data is an array", "POST", &records)
            .json(json!({"data": [1]}))
            .expect(400, 107),
        c("data is a number", "PATCH", &record)
            .json(json!({"data": 3}))
            .expect(400, 107),
        c("permissions is an array", "PATCH", &record)
            .json(json!({"permissions": ["read"]}))
            .expect(400, 107),
        c("permissions.read is a string", "PATCH", &record)
            .json(json!({"permissions": {"read": "system.Everyone"}}))
            .expect(400, 107),
        c("permissions.read holds a number", "PATCH", &record)
            .json(json!({"permissions": {"read": [1]}}))
            .expect(400, 107),
        c("unknown permission", "PATCH", &record)
            .json(json!({"permissions": {"foo": []}}))
            .expect(400, 107),
        c("permission of another resource", "PATCH", &group)
            .json(json!({"permissions": {"group:create": []}}))
            .expect(400, 107),
        c("unknown top-level key", "PUT", &record)
            .json(json!({"data": {}, "foo": 1}))
            .expect(400, 107),
        c("PATCH with neither data nor permissions", "PATCH", &record)
            .json(json!({}))
            .expect(400, 107),
        c("members is a string", "PUT", &group)
            .json(json!({"data": {"members": "alice"}}))
            .expect(400, 107),
        c("members holds a number", "PUT", &group)
            .json(json!({"data": {"members": [1]}}))
            .expect(400, 107),
        c("members holds system.Everyone", "PUT", &group)
            .json(json!({"data": {"members": ["system.Everyone"]}}))
            .expect(400, 107),
        c("data.id does not match the URL", "PUT", &record)
            .json(json!({"data": {"id": "other"}}))
            .expect(400, 107),
        c("data.id is a number", "POST", &records)
            .json(json!({"data": {"id": 12}}))
            .expect(400, 107),
        c("data.id outside the regex", "POST", &records)
            .json(json!({"data": {"id": "a.b"}}))
            .expect(400, 107),
        c("last_modified is a string (dropped)", "PUT", &format!("{records}/lm"))
            .json(json!({"data": {"last_modified": "yesterday"}}))
            .accepted(201),
        c("JSON-patch body that is not a list", "PATCH", &record)
            .body(r#"{"op": "add"}"#)
            .header("Content-Type", "application/json-patch+json")
            .expect(400, 107),
        c("JSON-patch with an unknown op", "PATCH", &record)
            .body(r#"[{"op": "explode", "path": "/data/a"}]"#)
            .header("Content-Type", "application/json-patch+json")
            .expect(400, 107),
        // NUL characters.
        c("NUL in a record id", "PUT", &format!("{records}/a%00b"))
            .json(json!({"data": {}}))
            .expect(400, 107),
        c("NUL in data.id", "POST", &records)
            .json(json!({"data": {"id": "a\u{0}b"}}))
            .expect(400, 107),
        c("NUL in a filter value", "GET", &format!("{records}?title=a%00b")).expect(400, 107),
        c("NUL in a filter field", "GET", &format!("{records}?ti%00tle=a")).expect(400, 107),
        c("NUL in a sort field", "GET", &format!("{records}?_sort=a%00b")).expect(400, 107),
        c("NUL in a like pattern", "GET", &format!("{records}?like_title=a%00")).expect(400, 107),
        c("NUL in a data value", "PUT", &format!("{records}/nul-value"))
            .json(json!({"data": {"title": "a\u{0}b"}}))
            .expect(400, 107),
        c("NUL in a data key", "PUT", &format!("{records}/nul-key"))
            .json(json!({"data": {"a\u{0}b": 1}}))
            .expect(400, 107),
        c("NUL in a principal", "PATCH", &record)
            .json(json!({"permissions": {"read": ["a\u{0}b"]}}))
            .expect(400, 107),
        // Ids and paths.
        c("record id with a dot", "PUT", &format!("{records}/a.b")).expect(400, 107),
        c("record id starting with _", "PUT", &format!("{records}/_ab")).expect(400, 107),
        c("record id with a space", "PUT", &format!("{records}/bad%20id")).expect(400, 107),
        c("bucket id in unicode", "PUT", "/v1/buckets/%C3%A9t%C3%A9").expect(400, 107),
        Case::new(
            "raw non-ASCII bytes in the path",
            "GET",
            format!("{records}/\u{e9}t\u{e9}").into_bytes(),
            alice,
        )
        .expect(400, 107),
        c("invalid UTF-8 in the path", "GET", &format!("{records}/%FF%FE")).expect(400, 107),
        c("encoded slash in an id", "PUT", &format!("{records}/a%2Fb")).expect(400, 107),
        c("dot-dot as an id", "GET", &format!("{records}/..")).expect(400, 107),
        c("dot-dot going up", "GET", &format!("{records}/../../c")).expect(404, 111),
        c("double slash", "GET", &format!("{bucket}//collections")).expect(404, 111),
        c("unknown URL", "GET", "/v1/nothing-here").expect(404, 111),
        c("unknown API version", "GET", "/v2/buckets").expect(404, 116),
        c("10,000-character record id", "PUT", &format!("{records}/{long_id}"))
            .json(json!({"data": {}}))
            .expect(400, 107),
        // Absurd querystrings.
        c("invalid UTF-8 in the querystring", "GET", &format!("{records}?title=%FF")).expect(400, 107),
        c("3,000 filters", "GET", &format!("{records}?{many_filters}")).expect(400, 107),
        c("_limit=-1", "GET", &format!("{records}?_limit=-1")).expect(400, 107),
        c("_limit=abc", "GET", &format!("{records}?_limit=abc")).expect(400, 107),
        c("_limit beyond 64 bits (capped)", "GET", &format!("{records}?_limit=99999999999999999999999")).accepted(200),
        c("_since=abc", "GET", &format!("{records}?_since=abc")).expect(400, 107),
        c("_since beyond 64 bits", "GET", &format!("{records}?_since=99999999999999999999999")).expect(400, 107),
        c("_before far in the future", "GET", &format!("{records}?_before=99999999999999")).expect(400, 107),
        c("_token not base64", "GET", &format!("{records}?_token=%%%")).expect(400, 107),
        c("_token not JSON", "GET", &format!("{records}?_token={}", token(b"not json"))).expect(400, 107),
        c("_token a JSON array", "GET", &format!("{records}?_token={}", token(b"[1]"))).expect(400, 107),
        c("_token without its keys", "GET", &format!("{records}?_token={}", token(br#"{"a":1}"#))).expect(400, 107),
        c("like_ with a number", "GET", &format!("{records}?like_title=1")).expect(400, 107),
        c("in_last_modified not integers", "GET", &format!("{records}?in_last_modified=a,b")).expect(400, 107),
        c("gt_last_modified=abc", "GET", &format!("{records}?gt_last_modified=abc")).expect(400, 107),
        c("unknown operator prefix", "GET", &format!("{records}?zz_title=1")).accepted(200),
        c("DELETE with last_modified=abc", "DELETE", &format!("{record}?last_modified=abc")).expect(400, 107),
        // Malformed headers.
        c("If-Match without quotes", "PATCH", &record)
            .json(json!({"data": {}}))
            .header("If-Match", "1234")
            .expect(400, 107),
        c("If-Match weak ETag", "PATCH", &record)
            .json(json!({"data": {}}))
            .header("If-Match", "W/\"1234\"")
            .expect(400, 107),
        c("If-Match list of ETags", "PUT", &record)
            .json(json!({"data": {}}))
            .header("If-Match", "\"1\", \"2\"")
            .expect(400, 107),
        c("If-None-Match garbage", "GET", &record)
            .header("If-None-Match", "garbage")
            .expect(400, 107),
        c("If-None-Match with invalid UTF-8", "GET", &record)
            .header("If-None-Match", b"\"\xff\xfe\"".to_vec())
            .expect(400, 107),
        c("If-Modified-Since garbage (ignored)", "GET", &record)
            .header("If-Modified-Since", "not a date")
            .accepted(200),
        c("Basic credentials not base64", "GET", &records)
            .header("Authorization", "Basic !!!not-base64!!!")
            .expect(401, 104),
        c("Basic credentials without a colon", "GET", &records)
            .header(
                "Authorization",
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice")),
            )
            .expect(401, 104),
        c("Basic credentials in invalid UTF-8", "GET", &records)
            .header(
                "Authorization",
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(b"\xff\xfe:pw")),
            )
            .expect(401, 104),
        c("Basic credentials with an empty user", "GET", &records)
            .header(
                "Authorization",
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(":pw")),
            )
            .expect(401, 104),
        c("Authorization with an unknown scheme", "GET", &records)
            .header("Authorization", "Digest abc")
            .expect(401, 104),
        c("Authorization with invalid UTF-8", "GET", &records)
            .header("Authorization", b"Basic \xff\xfe".to_vec())
            .expect(401, 104),
        c("anonymous request to a private collection", "GET", &records)
            .anonymous()
            .expect(401, 104),
        c("Content-Type text/plain", "POST", &records)
            .json(json!({"data": {}}))
            .header("Content-Type", "text/plain")
            .expect(415, 107),
        c("Content-Type merge-patch on PUT", "PUT", &record)
            .json(json!({"data": {}}))
            .header("Content-Type", "application/merge-patch+json")
            .expect(415, 107),
        c("Content-Type with invalid UTF-8", "POST", &records)
            .json(json!({"data": {}}))
            .header("Content-Type", b"application/\xff".to_vec())
            .expect(415, 107),
        c("Accept text/html only", "GET", &records)
            .header("Accept", "text/html")
            .expect(406, 107),
        c("Origin not allowed", "GET", &records)
            .header("Origin", "http://evil.example")
            .expect(400, 107),
        c("Origin with invalid UTF-8", "GET", &records)
            .header("Origin", b"http://\xff.example".to_vec())
            .expect(400, 107),
        // Huge bodies.
        c("3 MiB body", "POST", &records)
            .json(json!({"data": {"blob": "x".repeat(3 * 1024 * 1024)}}))
            .expect(413, 113),
        c("3 MiB body inside a batch", "POST", "/v1/batch")
            .json(json!({"requests": [{"path": sub(&records), "method": "POST", "body": {"data": {"blob": "x".repeat(3 * 1024 * 1024)}}}]}))
            .batched(413, 113),
        c("60 MiB batch", "POST", "/v1/batch")
            .json(json!({"requests": [{"path": sub(&records), "method": "POST", "body": {"data": {"blob": "x".repeat(60 * 1024 * 1024)}}}]}))
            .expect(413, 113),
        // Batches.
        c("batch of 26 requests", "POST", "/v1/batch")
            .json(batch_of(26, &sub(&record)))
            .expect(400, 107),
        c("batch of 10,000 requests", "POST", "/v1/batch")
            .json(batch_of(10_000, &sub(&record)))
            .expect(400, 107),
        c("nested batch", "POST", "/v1/batch")
            .json(json!({"requests": [{"method": "POST", "path": "/batch", "body": {"requests": []}}]}))
            .expect(400, 107),
        c("batch body is an array", "POST", "/v1/batch")
            .json(json!([{"path": "/"}]))
            .expect(400, 107),
        c("batch requests is an object", "POST", "/v1/batch")
            .json(json!({"requests": {"path": "/"}}))
            .expect(400, 107),
        c("batch without requests", "POST", "/v1/batch")
            .json(json!({"defaults": {}}))
            .expect(400, 107),
        c("batch defaults is a string", "POST", "/v1/batch")
            .json(json!({"defaults": "GET", "requests": [{"path": "/"}]}))
            .expect(400, 107),
        c("batch defaults with an unknown key", "POST", "/v1/batch")
            .json(json!({"defaults": {"foo": 1}, "requests": [{"path": "/"}]}))
            .expect(400, 107),
        c("batch request without a path", "POST", "/v1/batch")
            .json(json!({"requests": [{"method": "GET"}]}))
            .expect(400, 107),
        c("batch path not starting with /", "POST", "/v1/batch")
            .json(json!({"requests": [{"path": "buckets"}]}))
            .expect(400, 107),
        c("batch method in lower case", "POST", "/v1/batch")
            .json(json!({"requests": [{"method": "get", "path": "/"}]}))
            .expect(400, 107),
        c("batch method OPTIONS", "POST", "/v1/batch")
            .json(json!({"requests": [{"method": "OPTIONS", "path": "/"}]}))
            .expect(400, 107),
        c("batch header that is not a string", "POST", "/v1/batch")
            .json(json!({"requests": [{"path": "/", "headers": {"X": 1}}]}))
            .expect(400, 107),
        c("batch body that is an array", "POST", "/v1/batch")
            .json(json!({"requests": [{"method": "POST", "path": sub(&records), "body": [1]}]}))
            .expect(400, 107),
        c("batch request with an unknown key", "POST", "/v1/batch")
            .json(json!({"requests": [{"path": "/", "foo": 1}]}))
            .expect(400, 107),
        // Wrong methods.
        c("PUT on a plural endpoint", "PUT", &records)
            .json(json!({"data": {}}))
            .expect(405, 115),
        c("POST on an object", "POST", &record)
            .json(json!({"data": {}}))
            .expect(405, 115),
        c("GET on the batch endpoint", "GET", "/v1/batch").expect(405, 115),
        c("DELETE on the hello view", "DELETE", "/v1/").expect(405, 115),
        c("unknown method", "FROB", &records).expect(405, 115),
    ]
}

/// Checks one answer; returns what is wrong with it.
fn judge(case: &Case, reply: &RawReply) -> Option<String> {
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let shown = String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)]).into_owned();
    if reply.status >= 500 {
        return Some(format!("{}: a {} ({shown})", case.kind, reply.status));
    }
    if reply.status != case.status {
        return Some(format!(
            "{}: status {} instead of {} ({shown})",
            case.kind, reply.status, case.status
        ));
    }
    if let Some((status, errno)) = case.batched {
        let first = &body["responses"][0];
        if first["status"] != json!(status) || first["body"]["errno"] != json!(errno) {
            return Some(format!(
                "{}: subresponse not a {status} errno {errno}: {shown}",
                case.kind
            ));
        }
    }
    let errno = case.errno?;
    let shape = body["code"] == json!(reply.status)
        && body["errno"] == json!(errno)
        && body["error"].is_string()
        && (body.get("message").is_none() || body["message"].is_string())
        && reply
            .header("content-type")
            .is_some_and(|v| v.starts_with(b"application/json"));
    if !shape {
        return Some(format!(
            "{}: not a Kinto error with errno {errno}: {shown}",
            case.kind
        ));
    }
    None
}

async fn sweep(server: &TestServer) {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let alice = basic(&format!("alice-{run}"));
    let auth = [("authorization", alice.as_str())];
    let bucket = format!("/v1/buckets/b{run}");
    for (path, body) in [
        (bucket.clone(), json!({})),
        (format!("{bucket}/collections/c"), json!({})),
        (
            format!("{bucket}/groups/g"),
            json!({"data": {"members": []}}),
        ),
        (
            format!("{bucket}/collections/c/records/r1"),
            json!({"data": {"title": "one"}}),
        ),
    ] {
        let reply = server.send_json(Method::PUT, &path, &auth, &body).await;
        assert_eq!(reply.status, 201, "{path}: {:?}", reply.json());
    }
    let record = format!("{bucket}/collections/c/records/r1");

    let cases = cases(&run, &alice);
    let mut kinds: Vec<&str> = cases.iter().map(|c| c.kind).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), cases.len(), "each kind once");
    assert!(cases.len() >= 60, "{} kinds", cases.len());
    eprintln!("{} kinds of bad input", cases.len());

    let mut wrong = Vec::new();
    for case in &cases {
        let reply = raw(
            server.address(),
            &case.method,
            &case.target,
            &case.headers,
            &case.body,
        )
        .await;
        if let Some(problem) = judge(case, &reply) {
            wrong.push(problem);
        }
        // The server still answers a valid request, and the record is
        // untouched.
        let check = server.get(&record, &auth).await;
        assert_eq!(check.status, 200, "after {}: {:?}", case.kind, check.json());
        assert_eq!(
            check.json()["data"]["title"],
            "one",
            "after {}: {:?}",
            case.kind,
            check.json()
        );
    }
    assert!(
        wrong.is_empty(),
        "{} of {} kinds answered wrongly:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn bad_input_on_memory() {
    let server = start(Vec::new()).await;
    sweep(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn bad_input_on_postgresql() {
    let Ok(url) = std::env::var("CLIQUET_TEST_POSTGRES_URL") else {
        eprintln!("skipped: CLIQUET_TEST_POSTGRES_URL is not set");
        return;
    };
    let server = start(vec![
        ("KINTO_STORAGE_BACKEND".into(), "postgresql".into()),
        ("KINTO_PERMISSION_BACKEND".into(), "postgresql".into()),
        ("KINTO_CACHE_BACKEND".into(), "postgresql".into()),
        ("KINTO_STORAGE_URL".into(), url),
        ("KINTO_MIGRATE_ON_START".into(), "true".into()),
    ])
    .await;
    sweep(&server).await;
    server.stop().await;
}
