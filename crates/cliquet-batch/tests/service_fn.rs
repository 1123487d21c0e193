//! The batch layer over a bare `tower::service_fn` that echoes what it
//! receives, and a scope hook that buffers writes until commit.

use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cliquet_batch::{AbortBatch, BatchLayer, NoScope, ScopeHook, Subrequest};
use cliquet_errors::{ApiError, Errno};
use http::request::Parts;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt, service_fn};

/// An error of the inner service.
#[derive(Debug)]
struct Broken;

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("broken")
    }
}

impl std::error::Error for Broken {}

/// The scope of the test hook: writes pending until commit.
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<Vec<String>>>);

/// A hook that records its calls and applies the pending writes on commit.
#[derive(Clone, Default)]
struct Store {
    committed: Arc<Mutex<Vec<String>>>,
    calls: Arc<Mutex<Vec<&'static str>>>,
    fail_begin: bool,
    fail_commit: bool,
}

impl Store {
    fn committed(&self) -> Vec<String> {
        self.committed.lock().unwrap().clone()
    }

    fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }
}

impl ScopeHook for Store {
    type Scope = Pending;

    async fn begin(&self, batch: &Parts) -> Result<Pending, ApiError> {
        assert_eq!(batch.uri.path(), "/v1/batch");
        self.calls.lock().unwrap().push("begin");
        if self.fail_begin {
            return Err(ApiError::backend_unavailable());
        }
        Ok(Pending::default())
    }

    async fn commit(&self, scope: Pending) -> Result<(), ApiError> {
        self.calls.lock().unwrap().push("commit");
        if self.fail_commit {
            return Err(ApiError::conflict());
        }
        let writes = std::mem::take(&mut *scope.0.lock().unwrap());
        self.committed.lock().unwrap().extend(writes);
        Ok(())
    }

    async fn rollback(&self, scope: Pending) {
        self.calls.lock().unwrap().push("rollback");
        scope.0.lock().unwrap().clear();
    }
}

/// The outer extension the echo reports, to show extensions are passed on.
#[derive(Clone)]
struct UserId(&'static str);

fn json_response(status: StatusCode, value: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

/// The inner service.
///
/// - `/v1/write/{name}`: adds `name` to the scope's pending writes;
/// - `/v1/status/{code}`: answers that status with a JSON error body;
/// - `/v1/plain/{code}`: answers that status with a text body;
/// - `/v1/abort`: a 400 marked with [`AbortBatch`];
/// - `/v1/redirect`: 307 to `/v1/target?moved=1`;
/// - `/v1/loop`: 307 to itself; `/v1/found`: 302 to `/v1/loop`;
/// - `/v1/fail`: the service fails;
/// - `/v1/panic`: the handler panics;
/// - `/v1/text`: a text 200;
/// - anything else: 200 with an echo of the request.
async fn echo(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Broken> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let path = parts.uri.path().to_owned();
    let subrequest = parts.extensions.get::<Subrequest>();
    if let Some(subrequest) = subrequest {
        let seen = subrequest.cache().get::<u32>().unwrap_or(0);
        subrequest.cache().insert(seen + 1);
    }
    if let Some(name) = path.strip_prefix("/v1/write/") {
        let pending = parts.extensions.get::<Pending>().expect("the scope");
        pending.0.lock().unwrap().push(name.to_owned());
        return Ok(json_response(
            StatusCode::CREATED,
            json!({"data": {"id": name}}),
        ));
    }
    if let Some(code) = path.strip_prefix("/v1/status/") {
        let status = StatusCode::from_bytes(code.as_bytes()).unwrap();
        let mut response = ApiError::new(status, Errno::for_status(status)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert("retry-after", "30".parse().unwrap());
        }
        return Ok(response);
    }
    if let Some(code) = path.strip_prefix("/v1/plain/") {
        let mut response = Response::new(Full::new(Bytes::from_static(b"plain text")));
        *response.status_mut() = StatusCode::from_bytes(code.as_bytes()).unwrap();
        response
            .headers_mut()
            .insert("allow", "GET, HEAD".parse().unwrap());
        return Ok(response);
    }
    match path.as_str() {
        "/v1/abort" => {
            let mut response = ApiError::bad_request("cannot go on").into_response();
            response.extensions_mut().insert(AbortBatch);
            return Ok(response);
        }
        "/v1/redirect" => {
            let mut response = Response::new(Full::default());
            *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
            response.headers_mut().insert(
                "location",
                "http://localhost/v1/target?moved=1".parse().unwrap(),
            );
            return Ok(response);
        }
        "/v1/loop" | "/v1/found" => {
            let mut response = Response::new(Full::default());
            *response.status_mut() = if path == "/v1/loop" {
                StatusCode::TEMPORARY_REDIRECT
            } else {
                StatusCode::FOUND
            };
            response
                .headers_mut()
                .insert("location", "/v1/loop".parse().unwrap());
            return Ok(response);
        }
        "/v1/fail" => return Err(Broken),
        "/v1/panic" => panic!("a bug in a handler"),
        "/v1/text" => return Ok(Response::new(Full::new(Bytes::from_static(b"hello")))),
        _ => {}
    }
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), Value::from(value.to_str().unwrap())))
        .collect();
    let mut response = json_response(
        StatusCode::OK,
        json!({
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
            "index": subrequest.map(Subrequest::index),
            "count": subrequest.map(Subrequest::count),
            "seen": subrequest.map(|s| s.cache().get::<u32>()),
            "user": parts.extensions.get::<UserId>().map(|u| u.0),
            "no_scope": parts.extensions.get::<NoScope>().is_some(),
        }),
    );
    response
        .headers_mut()
        .insert("etag", "\"42\"".parse().unwrap());
    Ok(response)
}

fn batch_request(body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    let mut request = Request::post("/v1/batch")
        .header("content-type", "application/json")
        .header("authorization", "Basic dG9rZW46")
        .header("content-length", "1234")
        .body(Full::new(body.into()))
        .unwrap();
    request.extensions_mut().insert(UserId("alice"));
    request
}

async fn call<S>(service: S, request: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, Value)
where
    S: Service<Request<Full<Bytes>>, Response = Response<cliquet_batch::ResponseBody<Full<Bytes>>>>,
    S::Error: fmt::Debug,
{
    let response = service.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&body).into_owned()));
    (parts.status, parts.headers, value)
}

async fn batch(body: Value) -> (StatusCode, Value) {
    let service = BatchLayer::new().layer(service_fn(echo));
    let (status, _, value) = call(service, batch_request(body.to_string())).await;
    (status, value)
}

async fn batch_with(store: &Store, body: Value) -> (StatusCode, HeaderMap, Value) {
    let service = BatchLayer::new()
        .scope(store.clone())
        .layer(service_fn(echo));
    call(service, batch_request(body.to_string())).await
}

#[tokio::test]
async fn other_requests_pass_through() {
    let service = BatchLayer::new().layer(service_fn(echo));
    for path in ["/v1/articles", "/v1/batch/", "/batch", "/v2/batch"] {
        let request = Request::get(path).body(Full::default()).unwrap();
        let (status, _, body) = call(service.clone(), request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["uri"], path);
        assert_eq!(body["index"], Value::Null, "not a subrequest");
    }
}

#[tokio::test]
async fn only_post() {
    let service = BatchLayer::new().layer(service_fn(echo));
    for method in ["GET", "PUT", "DELETE", "PATCH", "HEAD"] {
        let request = Request::builder()
            .method(method)
            .uri("/v1/batch")
            .body(Full::default())
            .unwrap();
        let (status, headers, body) = call(service.clone(), request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(headers["allow"], "POST");
        assert_eq!(body["errno"], 115);
    }
}

#[tokio::test]
async fn content_type_must_be_json() {
    let service = BatchLayer::new().layer(service_fn(echo));
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = Request::post("/v1/batch");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = request
            .body(Full::new(Bytes::from_static(br#"{"requests": []}"#)))
            .unwrap();
        let (status, _, body) = call(service.clone(), request).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(body["errno"], 107);
        assert_eq!(
            body["message"],
            "Content-Type header should be one of ['application/json']"
        );
    }
    let request = Request::post("/v1/batch")
        .header("content-type", "application/json; charset=utf-8")
        .body(Full::new(Bytes::from_static(br#"{"requests": []}"#)))
        .unwrap();
    assert_eq!(call(service, request).await.0, StatusCode::OK);
}

#[tokio::test]
async fn accept_must_allow_json() {
    let service = BatchLayer::new().layer(service_fn(echo));
    let mut request = batch_request(r#"{"requests": []}"#);
    request
        .headers_mut()
        .insert("accept", "text/html".parse().unwrap());
    let (status, _, body) = call(service, request).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(body["errno"], 107);
    assert_eq!(
        body["message"],
        "Accept header should be one of ['application/json']"
    );
}

#[tokio::test]
async fn empty_batch() {
    let store = Store::default();
    let (status, headers, body) = batch_with(&store, json!({"requests": []})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body, json!({"responses": []}));
    assert!(store.calls().is_empty(), "no scope for an empty batch");
}

#[tokio::test]
async fn invalid_bodies_are_400_errno_107() {
    let service = BatchLayer::new().layer(service_fn(echo));
    for body in [
        "not json",
        "[1, 2]",
        "{}",
        r#"{"requests": {}}"#,
        r#"{"requests": [{"path": "/a", "foo": 1}]}"#,
        r#"{"requests": [{"method": "OPTIONS", "path": "/a"}]}"#,
        r#"{"requests": [{"path": "relative"}]}"#,
        r#"{"requests": [{"path": "/batch"}]}"#,
        r#"{"requests": [{"path": "/a", "headers": {"X": 1}}]}"#,
        r#"{"requests": [{"path": "/a", "body": [1]}]}"#,
    ] {
        let (status, headers, value) = call(service.clone(), batch_request(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(value["errno"], 107, "{body}");
        assert_eq!(value["error"], "Invalid parameters", "{body}");
        assert!(!value["details"].as_array().unwrap().is_empty(), "{body}");
        assert!(value["message"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn max_requests_is_configurable() {
    let requests: Vec<Value> = (0..3).map(|i| json!({"path": format!("/{i}")})).collect();
    let body = json!({"requests": requests}).to_string();

    let service = BatchLayer::new().max_requests(2).layer(service_fn(echo));
    let (status, _, value) = call(service, batch_request(body.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(value["message"], "Number of requests is limited to 2");

    let service = BatchLayer::new().max_requests(3).layer(service_fn(echo));
    assert_eq!(
        call(service, batch_request(body.clone())).await.0,
        StatusCode::OK
    );

    let many: Vec<Value> = (0..40).map(|i| json!({"path": format!("/{i}")})).collect();
    let many = json!({"requests": many}).to_string();
    let service = BatchLayer::new().layer(service_fn(echo));
    assert_eq!(
        call(service, batch_request(many.clone())).await.0,
        StatusCode::BAD_REQUEST,
        "the default is 25"
    );
    let service = BatchLayer::new().max_requests(0).layer(service_fn(echo));
    let (status, _, value) = call(service, batch_request(many)).await;
    assert_eq!(status, StatusCode::OK, "0 is unlimited");
    assert_eq!(value["responses"].as_array().unwrap().len(), 40);
}

#[tokio::test]
async fn subrequests_run_in_order_with_the_batch_headers() {
    let (status, body) = batch(json!({
        "defaults": {"headers": {"X-Default": "d", "X-Both": "default"}},
        "requests": [
            {"path": "/articles?_since=12&_limit=10"},
            {"method": "POST", "path": "/v1/articles", "headers": {"X-Both": "mine", "Authorization": "Bearer other"},
             "body": {"data": {"title": "MoFo"}}},
            {"method": "PUT", "path": "/", "headers": {"Content-Type": "text/plain"}, "body": {"data": {}}},
            {"method": "DELETE", "path": "/x", "headers": {"Content-Type": "text/plain", "Content-Length": "12"}, "body": {}},
        ]
    }))
    .await;
    assert_eq!(status, StatusCode::OK);
    let responses = body["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 4);
    let echoed: Vec<&Value> = responses.iter().map(|r| &r["body"]).collect();

    // In order, marked, and sharing one cache.
    for (i, echo) in echoed.iter().enumerate() {
        assert_eq!(echo["index"], i);
        assert_eq!(echo["count"], 4);
        assert_eq!(echo["seen"], i + 1);
        assert_eq!(
            echo["user"], "alice",
            "the batch's extensions are passed on"
        );
        assert_eq!(echo["no_scope"], true);
    }

    // Path prefixed, query string kept, method defaults to GET.
    assert_eq!(echoed[0]["method"], "GET");
    assert_eq!(echoed[0]["uri"], "/v1/articles?_since=12&_limit=10");
    assert_eq!(echoed[1]["uri"], "/v1/articles");
    assert_eq!(echoed[2]["uri"], "/v1/");

    // The batch's headers, overridden by the subrequest's; no Content-Length
    // of the batch.
    let headers = &echoed[0]["headers"];
    assert_eq!(headers["authorization"], "Basic dG9rZW46");
    assert_eq!(headers["x-default"], "d");
    assert_eq!(headers["x-both"], "default");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["content-length"], Value::Null);
    assert_eq!(echoed[0]["body"], "");
    let headers = &echoed[1]["headers"];
    assert_eq!(headers["authorization"], "Bearer other");
    assert_eq!(headers["x-both"], "mine");

    // A JSON body, with its type forced, even over the subrequest's.
    assert_eq!(echoed[1]["method"], "POST");
    assert_eq!(
        echoed[1]["headers"]["content-type"],
        "application/json; charset=utf-8"
    );
    let sent: Value = serde_json::from_str(echoed[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent, json!({"data": {"title": "MoFo"}}));
    assert_eq!(
        echoed[1]["headers"]["content-length"],
        echoed[1]["body"].as_str().unwrap().len().to_string()
    );
    assert_eq!(
        echoed[2]["headers"]["content-type"],
        "application/json; charset=utf-8"
    );
    // An empty body object sends nothing and keeps the headers' type.
    assert_eq!(echoed[3]["body"], "");
    assert_eq!(echoed[3]["headers"]["content-type"], "text/plain");
    assert_eq!(echoed[3]["headers"]["content-length"], Value::Null);
}

#[tokio::test]
async fn response_entries() {
    let (status, body) = batch(json!({"requests": [
        {"path": "/buckets/%C3%A9t%C3%A9?_limit=1"},
        {"path": "/raw/été"},
        {"path": "/text"},
        {"method": "HEAD", "path": "/articles"},
    ]}))
    .await;
    assert_eq!(status, StatusCode::OK);
    let responses = body["responses"].as_array().unwrap();

    let first = &responses[0];
    assert_eq!(first["path"], "/v1/buckets/été", "decoded, no query string");
    assert_eq!(first["status"], 200);
    assert_eq!(first["headers"]["ETag"], "\"42\"");
    assert_eq!(first["headers"]["Content-Type"], "application/json");
    assert!(first["headers"]["Content-Length"].is_string());
    assert_eq!(first["body"]["uri"], "/v1/buckets/%C3%A9t%C3%A9?_limit=1");

    // A raw non-ASCII path is percent-encoded, not a 500.
    assert_eq!(responses[1]["path"], "/v1/raw/été");
    assert_eq!(responses[1]["body"]["uri"], "/v1/raw/%C3%A9t%C3%A9");

    // Not JSON: the text.
    assert_eq!(responses[2]["body"], "hello");
    // HEAD: an empty string.
    assert_eq!(responses[3]["status"], 200);
    assert_eq!(responses[3]["body"], "");
}

#[tokio::test]
async fn client_errors_are_recorded_and_the_batch_goes_on() {
    let store = Store::default();
    let (status, _, body) = batch_with(
        &store,
        json!({"requests": [
            {"method": "PUT", "path": "/write/a"},
            {"path": "/status/404"},
            {"path": "/status/412"},
            {"path": "/status/403"},
            {"path": "/plain/405"},
            {"method": "PUT", "path": "/write/b"},
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<&Value> = body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(statuses, [201, 404, 412, 403, 405, 201]);
    assert_eq!(body["responses"][1]["body"]["errno"], 111);
    assert_eq!(store.calls(), ["begin", "commit"]);
    assert_eq!(store.committed(), ["a", "b"]);

    // An error without a JSON body is recorded as errno 999.
    let plain = &body["responses"][4];
    assert_eq!(
        plain["body"],
        json!({"code": 405, "errno": 999, "error": "Method Not Allowed"})
    );
    assert_eq!(plain["headers"]["Content-Type"], "application/json");
    assert_eq!(plain["headers"]["Allow"], "GET, HEAD");
}

#[tokio::test]
async fn server_errors_roll_back_the_whole_batch() {
    for code in [500, 503] {
        let store = Store::default();
        let (status, headers, body) = batch_with(
            &store,
            json!({"requests": [
                {"method": "PUT", "path": "/write/a"},
                {"path": format!("/status/{code}")},
                {"method": "PUT", "path": "/write/b"},
            ]}),
        )
        .await;
        assert_eq!(status.as_u16(), code);
        assert_eq!(body["code"], code, "the batch answers the subresponse");
        assert!(body.get("responses").is_none());
        if code == 503 {
            assert_eq!(body["errno"], 201);
            assert_eq!(headers["retry-after"], "30");
        }
        assert_eq!(store.calls(), ["begin", "rollback"]);
        assert!(store.committed().is_empty());
    }
}

#[tokio::test]
async fn a_conflict_rolls_back_the_whole_batch() {
    // Kinto records the 409, rolls back the writes before it and commits
    // those after it. Here the whole batch is undone and answers the 409.
    let store = Store::default();
    let (status, _, body) = batch_with(
        &store,
        json!({"requests": [
            {"method": "PUT", "path": "/write/a"},
            {"method": "PUT", "path": "/status/409"},
            {"method": "PUT", "path": "/write/c"},
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["errno"], 122);
    assert_eq!(store.calls(), ["begin", "rollback"]);
    assert!(store.committed().is_empty());
}

#[tokio::test]
async fn abort_marker_rolls_back_the_whole_batch() {
    let store = Store::default();
    let (status, _, body) = batch_with(
        &store,
        json!({"requests": [
            {"method": "PUT", "path": "/write/a"},
            {"path": "/abort"},
            {"method": "PUT", "path": "/write/b"},
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "cannot go on");
    assert_eq!(store.calls(), ["begin", "rollback"]);
    assert!(store.committed().is_empty());
}

#[tokio::test]
async fn a_failing_inner_service_fails_the_batch() {
    let store = Store::default();
    let service = BatchLayer::new()
        .scope(store.clone())
        .layer(service_fn(echo));
    let body = json!({"requests": [
        {"method": "PUT", "path": "/write/a"},
        {"path": "/fail"},
    ]});
    let result = service.oneshot(batch_request(body.to_string())).await;
    assert!(matches!(result, Err(Broken)));
    assert_eq!(store.calls(), ["begin", "rollback"]);
    assert!(store.committed().is_empty());
}

#[tokio::test]
async fn scope_failures_are_the_answer() {
    let body = json!({"requests": [{"method": "PUT", "path": "/write/a"}]});

    let store = Store {
        fail_begin: true,
        ..Store::default()
    };
    let (status, _, value) = batch_with(&store, body.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(value["errno"], 201);
    assert_eq!(store.calls(), ["begin"]);

    let store = Store {
        fail_commit: true,
        ..Store::default()
    };
    let (status, _, value) = batch_with(&store, body).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(value["errno"], 122);
    assert_eq!(store.calls(), ["begin", "commit"]);
    assert!(store.committed().is_empty());
}

#[tokio::test]
async fn redirects_are_followed_once() {
    let (status, body) = batch(json!({"requests": [
        {"method": "PUT", "path": "/redirect", "headers": {"X-Mine": "1"}, "body": {"data": {"a": 1}}},
    ]}))
    .await;
    assert_eq!(status, StatusCode::OK);
    let entry = &body["responses"][0];
    assert_eq!(entry["status"], 200);
    assert_eq!(
        entry["path"], "/v1/target",
        "the target path, no query string"
    );
    let echoed = &entry["body"];
    assert_eq!(echoed["method"], "PUT");
    assert_eq!(echoed["uri"], "/v1/target?moved=1");
    assert_eq!(echoed["headers"]["x-mine"], "1");
    let sent: Value = serde_json::from_str(echoed["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent, json!({"data": {"a": 1}}));
}

#[tokio::test]
async fn only_one_redirect_is_followed_and_only_307_308() {
    let (status, body) = batch(json!({"requests": [
        {"path": "/loop"},
        {"path": "/found"},
    ]}))
    .await;
    assert_eq!(status, StatusCode::OK);
    let looping = &body["responses"][0];
    assert_eq!(looping["status"], 307, "the second redirect is recorded");
    assert_eq!(looping["path"], "/v1/loop");
    assert_eq!(looping["headers"]["Location"], "/v1/loop");
    assert_eq!(looping["body"], "");
    let found = &body["responses"][1];
    assert_eq!(found["status"], 302, "a 302 is recorded, not followed");
    assert_eq!(found["path"], "/v1/found");
}

#[tokio::test]
async fn a_custom_prefix() {
    let service = BatchLayer::new().prefix("/v0").layer(service_fn(echo));
    let request = Request::post("/v0/batch")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(
            br#"{"requests": [{"path": "/a"}, {"path": "/v0/b"}]}"#,
        )))
        .unwrap();
    let (status, _, body) = call(service.clone(), request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["responses"][0]["body"]["uri"], "/v0/a");
    assert_eq!(body["responses"][1]["body"]["uri"], "/v0/b");
    // /v1/batch is just another path now.
    let request = Request::post("/v1/batch").body(Full::default()).unwrap();
    assert_eq!(call(service, request).await.2["uri"], "/v1/batch");
}

#[tokio::test]
async fn subrequests_keep_scheme_and_authority() {
    let service = BatchLayer::new().layer(service_fn(echo));
    let request = Request::post("https://example.com/v1/batch")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(
            br#"{"requests": [{"path": "/a?b=1"}]}"#,
        )))
        .unwrap();
    let (_, _, body) = call(service, request).await;
    assert_eq!(
        body["responses"][0]["body"]["uri"],
        "https://example.com/v1/a?b=1"
    );
}

#[tokio::test]
async fn readiness_is_respected() {
    // A service that is not ready until polled once per call.
    #[derive(Clone, Default)]
    struct Gate {
        ready: bool,
    }
    impl Service<Request<Full<Bytes>>> for Gate {
        type Response = Response<Full<Bytes>>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Self::Response, Infallible>>;

        fn poll_ready(
            &mut self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Infallible>> {
            if self.ready {
                std::task::Poll::Ready(Ok(()))
            } else {
                self.ready = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        }

        fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
            assert!(self.ready, "called before it was ready");
            self.ready = false;
            std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"{}")))))
        }
    }
    let service = BatchLayer::new().layer(Gate::default());
    let (status, _, body) = call(
        service,
        batch_request(r#"{"requests": [{"path": "/a"}, {"path": "/b"}]}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["responses"][1]["body"], json!({}));
}

#[tokio::test]
async fn a_panic_drops_the_scope_without_commit() {
    // The error layer outside turns the panic into a 500; the scope is
    // neither committed nor rolled back by the layer: dropping it must undo
    // its work.
    let store = Store::default();
    let service = cliquet_errors::ErrorLayer::new().layer(
        BatchLayer::new()
            .scope(store.clone())
            .layer(service_fn(echo)),
    );
    let body = json!({"requests": [
        {"method": "PUT", "path": "/write/a"},
        {"path": "/panic"},
    ]});
    let response = service
        .oneshot(batch_request(body.to_string()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(store.calls(), ["begin"]);
    assert!(store.committed().is_empty());
}

#[tokio::test]
async fn a_shared_hook() {
    let store = Store::default();
    let service = BatchLayer::new()
        .scope(Arc::new(store.clone()))
        .layer(service_fn(echo));
    let body = json!({"requests": [{"method": "PUT", "path": "/write/a"}]});
    let (status, _, _) = call(service, batch_request(body.to_string())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(store.calls(), ["begin", "commit"]);
    assert_eq!(store.committed(), ["a"]);
}
