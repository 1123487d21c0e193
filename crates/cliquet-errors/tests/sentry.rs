//! Reporting to Sentry (feature `sentry`).
#![cfg(feature = "sentry")]

use std::convert::Infallible;

use bytes::Bytes;
use cliquet_errors::{ApiError, ErrorLayer};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use sentry_core::test::with_captured_events;
use tower::{Layer, ServiceExt, service_fn};

fn run(path: &'static str) -> StatusCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let service = ErrorLayer::new().layer(service_fn(|request: Request<Full<Bytes>>| async move {
        match request.uri().path() {
            "/v1/boom" => panic!("handler bug"),
            "/v1/down" => Err(ApiError::backend_unavailable()),
            "/v1/missing" => Err(ApiError::not_found()),
            _ => Ok::<_, ApiError>(Response::new(Full::default())),
        }
    }));
    let request = Request::get(path)
        .header("authorization", "Basic dG9rZW46c2VjcmV0")
        .header("cookie", "session=secret")
        .header("user-agent", "tests")
        .body(Full::default())
        .unwrap();
    runtime.block_on(async { service.oneshot(request).await.unwrap().status() })
}

#[test]
fn panics_are_reported_without_credentials() {
    let events = with_captured_events(|| {
        assert_eq!(run("/v1/boom?_limit=2"), StatusCode::INTERNAL_SERVER_ERROR);
    });
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert!(event.message.as_deref().unwrap().contains("handler bug"));
    assert_eq!(event.tags["http.method"], "GET");
    assert_eq!(event.tags["http.path"], "/v1/boom");
    let request = event.request.as_ref().unwrap();
    assert_eq!(request.method.as_deref(), Some("GET"));
    assert_eq!(request.query_string.as_deref(), Some("_limit=2"));
    assert_eq!(request.headers["authorization"], "[Filtered]");
    assert_eq!(request.headers["cookie"], "[Filtered]");
    assert_eq!(request.headers["user-agent"], "tests");
    let serialized = serde_json::to_string(event).unwrap();
    assert!(!serialized.contains("dG9rZW46c2VjcmV0"));
    assert!(!serialized.contains("session=secret"));
}

#[test]
fn client_errors_and_outages_are_not_reported() {
    let events = with_captured_events(|| {
        assert_eq!(run("/v1/missing"), StatusCode::NOT_FOUND);
        assert_eq!(run("/v1/down"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(run("/v1/fine"), StatusCode::OK);
    });
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn answered_500s_are_reported() {
    let events = with_captured_events(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let service = ErrorLayer::new().layer(service_fn(|_: Request<Full<Bytes>>| async {
            let mut response = Response::new(Full::<Bytes>::default());
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            Ok::<_, Infallible>(response)
        }));
        let request = Request::post("/v1/proxy").body(Full::default()).unwrap();
        let status = runtime.block_on(async { service.oneshot(request).await.unwrap().status() });
        assert_eq!(status, StatusCode::BAD_GATEWAY);
    });
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].tags["http.method"], "POST");
}
