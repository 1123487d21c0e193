//! A batch whose subresponse carries `RetryBatch` is rolled back and run
//! again, a bounded number of times, and only its last attempt is seen.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cliquet_batch::{BatchLayer, Retry, RetryBatch, ScopeHook};
use cliquet_errors::ApiError;
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt, service_fn};

/// Writes pending until commit.
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<Vec<String>>>);

/// A hook that records its calls and applies pending writes on commit.
#[derive(Clone, Default)]
struct Store {
    committed: Arc<Mutex<Vec<String>>>,
    calls: Arc<Mutex<Vec<&'static str>>>,
}

impl ScopeHook for Store {
    type Scope = Pending;

    async fn begin(&self, _batch: &Parts) -> Result<Pending, ApiError> {
        self.calls.lock().unwrap().push("begin");
        Ok(Pending::default())
    }

    async fn commit(&self, scope: Pending) -> Result<(), ApiError> {
        self.calls.lock().unwrap().push("commit");
        let writes = std::mem::take(&mut *scope.0.lock().unwrap());
        self.committed.lock().unwrap().extend(writes);
        Ok(())
    }

    async fn rollback(&self, scope: Pending) {
        self.calls.lock().unwrap().push("rollback");
        scope.0.lock().unwrap().clear();
    }
}

/// Runs a two-subrequest batch (`/a` then `/b`) against an inner service
/// where `/b` loses to a concurrent transaction `conflicts` times.
/// Returns the status, the body, the store and how many calls the inner
/// service got.
async fn run(retry: Option<Retry>, conflicts: u32) -> (StatusCode, Value, Store, u32) {
    let store = Store::default();
    let remaining = Arc::new(AtomicU32::new(conflicts));
    let served = Arc::new(AtomicU32::new(0));
    let inner = {
        let remaining = remaining.clone();
        let served = served.clone();
        service_fn(move |request: Request<Full<Bytes>>| {
            let remaining = remaining.clone();
            let served = served.clone();
            async move {
                let call = served.fetch_add(1, Ordering::SeqCst) + 1;
                let path = request.uri().path().to_owned();
                let body = request.into_body().collect().await.unwrap().to_bytes();
                let lost = path == "/v1/b"
                    && remaining
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                let mut response = if lost {
                    let mut response = Response::new(Full::new(Bytes::from(
                        json!({"code": 503, "errno": 201, "error": "Service Unavailable"})
                            .to_string(),
                    )));
                    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    response.extensions_mut().insert(RetryBatch);
                    response
                } else {
                    let echo = json!({
                        "path": path,
                        "call": call,
                        "body": serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
                    });
                    Response::new(Full::new(Bytes::from(echo.to_string())))
                };
                response.headers_mut().insert(
                    "content-type",
                    http::HeaderValue::from_static("application/json"),
                );
                Ok::<_, Infallible>(response)
            }
        })
    };
    // The inner service writes through the scope it finds in extensions.
    let writing = service_fn(move |request: Request<Full<Bytes>>| {
        let inner = inner.clone();
        async move {
            let pending = request.extensions().get::<Pending>().cloned();
            let path = request.uri().path().to_owned();
            let response = inner.oneshot(request).await?;
            if response.status().is_success()
                && let Some(pending) = pending
            {
                pending.0.lock().unwrap().push(path);
            }
            Ok::<_, Infallible>(response)
        }
    });
    let mut layer = BatchLayer::new().scope(store.clone());
    if let Some(retry) = retry {
        layer = layer.retry(retry);
    }
    let service = layer.layer(writing);
    let batch = json!({"requests": [
        {"method": "PUT", "path": "/a", "body": {"data": {"n": 1}}},
        {"method": "PUT", "path": "/b", "body": {"data": {"n": 2}}},
    ]});
    let request = Request::post("/v1/batch")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(batch.to_string())))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap();
    (status, body, store, served.load(Ordering::SeqCst))
}

#[tokio::test]
async fn a_conflict_reruns_the_whole_batch_and_only_the_last_attempt_shows() {
    let (status, body, store, served) = run(None, 2).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Attempts 1 and 2: /a then a lost /b; attempt 3: /a and /b.
    assert_eq!(served, 6);
    assert_eq!(
        *store.calls.lock().unwrap(),
        ["begin", "rollback", "begin", "rollback", "begin", "commit"]
    );
    // Each write committed once: earlier attempts were rolled back.
    assert_eq!(*store.committed.lock().unwrap(), ["/v1/a", "/v1/b"]);
    let responses = body["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 2);
    // The subresponses are those of the last attempt, bodies replayed.
    assert_eq!(responses[0]["status"], 200);
    assert_eq!(responses[0]["body"]["call"], 5);
    assert_eq!(responses[0]["body"]["body"], json!({"data": {"n": 1}}));
    assert_eq!(responses[1]["body"]["call"], 6);
    assert_eq!(responses[1]["body"]["body"], json!({"data": {"n": 2}}));
}

#[tokio::test]
async fn attempts_are_bounded_and_the_last_conflict_is_the_answer() {
    let (status, body, store, served) = run(None, u32::MAX).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["errno"], 201);
    // Exactly the default number of attempts.
    assert_eq!(served, 2 * Retry::DEFAULT_ATTEMPTS);
    let calls = store.calls.lock().unwrap().clone();
    assert_eq!(calls.iter().filter(|c| **c == "begin").count(), 3);
    assert_eq!(calls.iter().filter(|c| **c == "rollback").count(), 3);
    assert!(!calls.contains(&"commit"));
    assert!(store.committed.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_bound_is_configurable() {
    let (status, _, _, served) = run(Some(Retry::never()), 1).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(served, 2);

    let five = Retry::new(5).base_delay(Duration::ZERO);
    let (status, _, store, served) = run(Some(five), 4).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served, 10);
    assert_eq!(*store.committed.lock().unwrap(), ["/v1/a", "/v1/b"]);

    let (status, _, _, served) = run(Some(five), 5).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(served, 10);
}

#[tokio::test]
async fn no_conflict_runs_once() {
    let (status, _, store, served) = run(None, 0).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served, 2);
    assert_eq!(*store.calls.lock().unwrap(), ["begin", "commit"]);
}
