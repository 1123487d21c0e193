//! The layer under a bare `service_fn` and under an axum `Router`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use cliquet_errors::{ApiError, Errno};
use http::header::{ALLOW, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

use crate::{BackoffLayer, BackoffSettings};

type Body = Full<Bytes>;

/// An inner service answering each path with one kind of response, and
/// counting the requests that reach it.
fn app(
    calls: Arc<AtomicUsize>,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
    service_fn(move |request: Request<Body>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            let response = match request.uri().path() {
                "/not-modified" => status(StatusCode::NOT_MODIFIED),
                "/redirect" => {
                    let mut response = status(StatusCode::TEMPORARY_REDIRECT);
                    response
                        .headers_mut()
                        .insert(LOCATION, "/v1/".parse().unwrap());
                    response
                }
                "/missing" => ApiError::not_found().into_response(),
                "/bug" => ApiError::internal().into_response(),
                "/backend" => ApiError::backend_unavailable().into_response(),
                "/unavailable" => status(StatusCode::SERVICE_UNAVAILABLE),
                "/heartbeat" => {
                    let mut response = Response::new(Body::from(r#"{"storage":false}"#));
                    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    response
                        .headers_mut()
                        .insert(CONTENT_TYPE, "application/json".parse().unwrap());
                    response
                }
                "/own-retry-after" => {
                    let mut response = ApiError::backend_unavailable().into_response::<Body>();
                    response
                        .headers_mut()
                        .insert(RETRY_AFTER, "120".parse().unwrap());
                    response
                }
                "/too-many" => status(StatusCode::TOO_MANY_REQUESTS),
                "/conflict" => ApiError::conflict().into_response(),
                "/other-conflict" => {
                    ApiError::new(StatusCode::CONFLICT, Errno::Undefined).into_response()
                }
                _ => Response::new(Body::from("{}")),
            };
            Ok(response)
        }
    })
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = code;
    response
}

fn request(method: Method, path: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(Body::default())
        .unwrap()
}

async fn json_body(response: Response<Body>) -> Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

async fn get(layer: &BackoffLayer, path: &str) -> Response<Body> {
    let calls = Arc::new(AtomicUsize::new(0));
    ServiceBuilder::new()
        .layer(layer.clone())
        .service(app(calls))
        .oneshot(request(Method::GET, path))
        .await
        .unwrap()
}

const EVERY_KIND: [&str; 7] = [
    "/",
    "/not-modified",
    "/redirect",
    "/missing",
    "/bug",
    "/backend",
    "/heartbeat",
];

#[tokio::test]
async fn no_backoff_header_by_default() {
    let layer = BackoffLayer::from_settings(&BackoffSettings::default()).unwrap();
    for path in EVERY_KIND {
        let response = get(&layer, path).await;
        assert!(response.headers().get("backoff").is_none(), "{path}");
    }
}

#[tokio::test]
async fn backoff_on_every_response_when_set() {
    let layer = BackoffLayer::new().backoff(10);
    for path in EVERY_KIND {
        let response = get(&layer, path).await;
        assert_eq!(response.headers()["backoff"], "10", "{path}");
    }
}

#[tokio::test]
async fn backoff_percentage_follows_the_draw() {
    // The header is sent when the draw is below percentage / 100.
    let layer = BackoffLayer::new().backoff(10).percentage(50.0);
    let below = layer.clone().sampler(|| 0.49);
    let above = layer.clone().sampler(|| 0.5);
    assert_eq!(get(&below, "/").await.headers()["backoff"], "10");
    assert!(get(&above, "/").await.headers().get("backoff").is_none());

    let never = BackoffLayer::new()
        .backoff(10)
        .percentage(0.0)
        .sampler(|| 0.0);
    assert!(get(&never, "/").await.headers().get("backoff").is_none());
    let always = BackoffLayer::new()
        .backoff(10)
        .percentage(100.0)
        .sampler(|| 0.999_999);
    assert_eq!(get(&always, "/").await.headers()["backoff"], "10");
}

#[tokio::test]
async fn backoff_percentage_with_the_real_draw_sends_a_share() {
    let settings: BackoffSettings =
        serde_json::from_value(json!({"backoff": 5, "backoff_percentage": 30})).unwrap();
    let layer = BackoffLayer::from_settings(&settings).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut service = ServiceBuilder::new().layer(layer).service(app(calls));
    let mut with_header = 0;
    for _ in 0..2_000 {
        let response = service
            .ready()
            .await
            .unwrap()
            .call(request(Method::GET, "/"))
            .await
            .unwrap();
        if response.headers().contains_key("backoff") {
            with_header += 1;
        }
    }
    // 600 expected; the bounds are more than 8 standard deviations away.
    assert!((420..780).contains(&with_header), "{with_header}");
}

#[tokio::test]
async fn the_handle_switches_backoff_at_run_time() {
    let layer = BackoffLayer::new();
    let handle = layer.handle();
    let calls = Arc::new(AtomicUsize::new(0));
    let service = ServiceBuilder::new().layer(layer).service(app(calls));

    let response = service
        .clone()
        .oneshot(request(Method::GET, "/"))
        .await
        .unwrap();
    assert!(response.headers().get("backoff").is_none());

    handle.clone().set_backoff(Some(42));
    let response = service
        .clone()
        .oneshot(request(Method::GET, "/"))
        .await
        .unwrap();
    assert_eq!(response.headers()["backoff"], "42");

    handle.set_percentage(Some(0.0)).unwrap();
    let response = service
        .clone()
        .oneshot(request(Method::GET, "/"))
        .await
        .unwrap();
    assert!(response.headers().get("backoff").is_none());

    handle.set_percentage(None).unwrap();
    handle.set_backoff(None);
    let response = service
        .clone()
        .oneshot(request(Method::GET, "/"))
        .await
        .unwrap();
    assert!(response.headers().get("backoff").is_none());
}

#[tokio::test]
async fn retry_after_on_503_429_and_integrity_conflicts() {
    let layer = BackoffLayer::from_settings(&BackoffSettings {
        retry_after_seconds: 3,
        ..BackoffSettings::default()
    })
    .unwrap();
    for path in ["/backend", "/unavailable", "/too-many", "/conflict"] {
        let response = get(&layer, path).await;
        assert_eq!(response.headers()[RETRY_AFTER], "3", "{path}");
    }
    let response = get(&BackoffLayer::new(), "/backend").await;
    assert_eq!(response.headers()[RETRY_AFTER], "30");
}

#[tokio::test]
async fn no_retry_after_elsewhere() {
    let layer = BackoffLayer::new().backoff(1);
    for path in ["/", "/bug", "/missing", "/heartbeat", "/other-conflict"] {
        let response = get(&layer, path).await;
        assert!(response.headers().get(RETRY_AFTER).is_none(), "{path}");
    }
    // An inner `Retry-After` is kept.
    let response = get(&layer, "/own-retry-after").await;
    assert_eq!(response.headers()[RETRY_AFTER], "120");
}

#[tokio::test]
async fn readonly_refuses_writes_without_reaching_the_inner_service() {
    let settings: BackoffSettings =
        serde_json::from_value(json!({"readonly": true, "backoff": 10})).unwrap();
    let layer = BackoffLayer::from_settings(&settings).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(app(calls.clone()));

    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        for path in ["/v1/buckets", "/v1/batch", "/v1/plugin/endpoint"] {
            let response = service
                .clone()
                .oneshot(request(method.clone(), path))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert!(response.headers().get(ALLOW).is_none());
            assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
            assert_eq!(response.headers()["backoff"], "10");
            assert_eq!(
                response.extensions().get::<Errno>(),
                Some(&Errno::MethodNotAllowed)
            );
            assert_eq!(
                json_body(response).await,
                json!({"code": 405, "errno": 115, "error": "Method Not Allowed",
                       "message": "Method not allowed on this endpoint."})
            );
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
        let response = service
            .clone()
            .oneshot(request(method, "/v1/buckets"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_handle_switches_readonly_at_run_time() {
    let layer = BackoffLayer::new();
    let handle = layer.handle();
    let calls = Arc::new(AtomicUsize::new(0));
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(app(calls.clone()));

    let post = || request(Method::POST, "/v1/buckets");
    assert_eq!(
        service.clone().oneshot(post()).await.unwrap().status(),
        StatusCode::OK
    );
    handle.set_readonly(true);
    assert_eq!(
        service.clone().oneshot(post()).await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    handle.set_readonly(false);
    assert_eq!(
        service.clone().oneshot(post()).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn inner_errors_pass_through() {
    let service = ServiceBuilder::new()
        .layer(BackoffLayer::new().backoff(1))
        .service(service_fn(|_: Request<Body>| async {
            Err::<Response<Body>, _>("broken")
        }));
    let error = service
        .oneshot(request(Method::GET, "/"))
        .await
        .unwrap_err();
    assert_eq!(error, "broken");
}

mod axum_router {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;

    use super::*;

    fn router(layer: BackoffLayer) -> Router {
        Router::new()
            .route("/v1/", get(|| async { "hello" }))
            .route(
                "/v1/buckets",
                get(|| async { "[]" }).post(|| async { (StatusCode::CREATED, "{}") }),
            )
            .route(
                "/v1/backend",
                get(|| async { ApiError::backend_unavailable().into_response::<Body>() }),
            )
            .layer(layer)
    }

    fn request(method: Method, path: &str) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn backoff_on_routed_and_unrouted_responses() {
        let app = router(BackoffLayer::new().backoff(10));
        for (path, code) in [
            ("/v1/", StatusCode::OK),
            ("/v1/unknown", StatusCode::NOT_FOUND),
            ("/v1/backend", StatusCode::SERVICE_UNAVAILABLE),
        ] {
            let response = app
                .clone()
                .oneshot(request(Method::GET, path))
                .await
                .unwrap();
            assert_eq!(response.status(), code);
            assert_eq!(response.headers()["backoff"], "10", "{path}");
        }
        let response = app
            .clone()
            .oneshot(request(Method::GET, "/v1/backend"))
            .await
            .unwrap();
        assert_eq!(response.headers()[RETRY_AFTER], "30");
    }

    #[tokio::test]
    async fn readonly_in_a_router() {
        let layer = BackoffLayer::new().readonly(true);
        let handle = layer.handle();
        let app = router(layer);
        let response = app
            .clone()
            .oneshot(request(Method::POST, "/v1/buckets"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(response.headers().get(ALLOW).is_none());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["errno"], 115);

        let response = app
            .clone()
            .oneshot(request(Method::GET, "/v1/buckets"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);

        handle.set_readonly(false);
        let response = app
            .oneshot(request(Method::POST, "/v1/buckets"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
}
