//! The heartbeat endpoints under a bare `tower::service_fn` and under an
//! axum `Router`.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::get;
use bytes::Bytes;
use cliquet_errors::{Errno, ErrorLayer};
use cliquet_heartbeat::{
    BuildInfo, CheckFuture, DEFAULT_TIMEOUT, Health, HealthCheck, HeartbeatLayer,
    HeartbeatSettings, SettingsError,
};
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tokio::sync::Barrier;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

type Body = Full<Bytes>;

/// The application behind the layer: echoes the path it was called with.
fn app()
-> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future = impl Send> + Clone
{
    service_fn(|request: Request<Body>| async move {
        let body = format!("app {}", request.uri().path());
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
    })
}

fn request(method: Method, path: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(Full::default())
        .unwrap()
}

async fn call<S>(service: S, method: Method, path: &str) -> (StatusCode, http::HeaderMap, Bytes)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let response = service.oneshot(request(method, path)).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, body)
}

fn json(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cliquet-heartbeat-tests-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn healthy_checks_answer_200_with_the_map_in_registration_order() {
    let layer = HeartbeatLayer::new()
        .check("storage", || async { true })
        .check("permission", || async { Some(true) })
        .check("cache", || async { true })
        .check("probe", || async { None::<bool> });
    let service = ServiceBuilder::new().layer(layer).service(app());

    let (status, headers, body) = call(service, Method::GET, "/v1/__heartbeat__").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    assert_eq!(
        body,
        r#"{"storage":true,"permission":true,"cache":true,"probe":null}"#
    );
}

#[tokio::test]
async fn no_check_is_an_empty_healthy_map() {
    let service = ServiceBuilder::new()
        .layer(HeartbeatLayer::new())
        .service(app());
    let (status, _, body) = call(service, Method::GET, "/v1/__heartbeat__").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "{}");
}

#[tokio::test]
async fn a_failed_check_answers_503_with_the_map_and_no_retry_after() {
    let layer = HeartbeatLayer::new()
        .check("storage", || async { false })
        .check("permission", || async { true })
        .check("cache", || async {
            Err::<bool, _>(std::io::Error::other("connection refused"))
        })
        .check("probe", || async { None::<bool> });
    let service = ServiceBuilder::new().layer(layer).service(app());

    let response = service
        .oneshot(request(Method::GET, "/v1/__heartbeat__"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get(RETRY_AFTER).is_none());
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    // A plain response, not a protocol error.
    assert!(response.extensions().get::<Errno>().is_none());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        body,
        r#"{"storage":false,"permission":true,"cache":false,"probe":null}"#
    );
}

#[tokio::test(start_paused = true)]
async fn a_check_that_never_completes_is_false_and_the_endpoint_answers_in_time() {
    let layer = HeartbeatLayer::new()
        .check("storage", std::future::pending::<bool>)
        .check("cache", || async { true });
    let service = ServiceBuilder::new().layer(layer).service(app());

    // The clock is paused: it only moves when every task waits, so the
    // bound below is exact, not a race.
    let answered = tokio::time::timeout(
        DEFAULT_TIMEOUT + Duration::from_millis(1),
        call(service, Method::GET, "/v1/__heartbeat__"),
    )
    .await;
    let (status, _, body) = answered.expect("the heartbeat outlived its timeout");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body), json!({"storage": false, "cache": true}));
}

#[tokio::test(start_paused = true)]
async fn the_timeout_is_configurable() {
    let layer = HeartbeatLayer::new()
        .timeout(Duration::from_millis(300))
        .check("slow", || async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            true
        })
        .check("slower", || async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            true
        });
    let service = ServiceBuilder::new().layer(layer).service(app());
    let (status, _, body) = call(service, Method::GET, "/v1/__heartbeat__").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, r#"{"slow":true,"slower":false}"#);
}

#[tokio::test(start_paused = true)]
async fn checks_run_concurrently() {
    // Each check waits for the other to have started: run one after the
    // other, the first would wait forever and time out.
    let barrier = Arc::new(Barrier::new(2));
    let check = |barrier: Arc<Barrier>| {
        move || {
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                true
            }
        }
    };
    let layer = HeartbeatLayer::new()
        .check("storage", check(barrier.clone()))
        .check("cache", check(barrier));
    let service = ServiceBuilder::new().layer(layer).service(app());
    let (status, _, body) = call(service, Method::GET, "/v1/__heartbeat__").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"storage":true,"cache":true}"#);
}

#[tokio::test]
async fn a_panicking_check_is_false_and_the_service_keeps_serving() {
    struct Buggy;
    impl HealthCheck for Buggy {
        fn check(&self) -> CheckFuture {
            Box::pin(async { panic!("a bug in the check") })
        }
    }
    let layer = HeartbeatLayer::new()
        .check("storage", Buggy)
        .check("cache", || async { Health::Healthy });
    let service = ServiceBuilder::new().layer(layer).service(app());

    let (status, _, body) = call(service.clone(), Method::GET, "/v1/__heartbeat__").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, r#"{"storage":false,"cache":true}"#);
    let (status, _, _) = call(service, Method::GET, "/v1/__lbheartbeat__").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_name_registered_twice_keeps_its_place_and_the_last_check() {
    let layer = HeartbeatLayer::new()
        .check("storage", || async { false })
        .check("cache", || async { true })
        .check_arc("storage", Arc::new(|| async { true }));
    let service = ServiceBuilder::new().layer(layer).service(app());
    let (status, _, body) = call(service, Method::GET, "/v1/__heartbeat__").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"storage":true,"cache":true}"#);
}

#[tokio::test]
async fn names_are_json_escaped() {
    let layer = HeartbeatLayer::new().check("a \"quoted\" name", || async { true });
    let service = ServiceBuilder::new().layer(layer).service(app());
    let (_, _, body) = call(service, Method::GET, "/v1/__heartbeat__").await;
    assert_eq!(json(&body), json!({"a \"quoted\" name": true}));
}

#[tokio::test]
async fn lbheartbeat_is_always_200_and_runs_no_check() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let layer = HeartbeatLayer::new().check("storage", move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { false }
    });
    let service = ServiceBuilder::new().layer(layer).service(app());

    let (status, headers, body) = call(service.clone(), Method::GET, "/v1/__lbheartbeat__").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    assert_eq!(body, "{}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    let (status, _, _) = call(service, Method::GET, "/v1/__heartbeat__").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn version_answers_the_file() {
    let path = temp_dir("file").join("version.json");
    std::fs::write(
        &path,
        br#"{"name": "kinto", "version": "26.5.0", "source": "https://github.com/Kinto/kinto.git", "commit": "ab8db089"}"#,
    )
    .unwrap();
    let layer = HeartbeatLayer::new()
        .version_file(&path)
        .unwrap()
        .build_info(BuildInfo::new("other", "0.0.0"));
    let service = ServiceBuilder::new().layer(layer).service(app());

    let (status, headers, body) = call(service, Method::GET, "/v1/__version__").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    assert_eq!(
        json(&body),
        json!({"name": "kinto", "version": "26.5.0",
               "source": "https://github.com/Kinto/kinto.git", "commit": "ab8db089"})
    );
}

#[tokio::test]
async fn version_answers_the_build_info_without_a_file() {
    let missing = temp_dir("missing").join("version.json");
    let layer = HeartbeatLayer::new()
        .version_file(&missing)
        .unwrap()
        .build_info(BuildInfo::new("bookmarks", "1.2.3").commit("abc"));
    let service = ServiceBuilder::new().layer(layer).service(app());
    let (status, _, body) = call(service, Method::GET, "/v1/__version__").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json(&body),
        json!({"name": "bookmarks", "version": "1.2.3", "commit": "abc"})
    );
}

#[tokio::test]
async fn version_without_file_nor_build_info_is_404_errno_111() {
    let missing = temp_dir("nothing").join("version.json");
    let layer = HeartbeatLayer::new().version_file(&missing).unwrap();
    let service = ServiceBuilder::new().layer(layer).service(app());
    let (status, headers, body) = call(service, Method::GET, "/v1/__version__").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    assert_eq!(
        json(&body),
        json!({"code": 404, "errno": 111, "error": "Not Found",
               "message": "The resource you are looking for could not be found."})
    );
}

#[tokio::test]
async fn head_is_answered_like_get_without_body() {
    let layer = HeartbeatLayer::new()
        .check("storage", || async { false })
        .build_info(BuildInfo::new("app", "1.0.0"));
    let service = ServiceBuilder::new().layer(layer).service(app());

    for path in [
        "/v1/__heartbeat__",
        "/v1/__lbheartbeat__",
        "/v1/__version__",
    ] {
        let (get_status, get_headers, get_body) = call(service.clone(), Method::GET, path).await;
        let (status, headers, body) = call(service.clone(), Method::HEAD, path).await;
        assert_eq!(status, get_status, "{path}");
        assert_eq!(headers[CONTENT_TYPE], get_headers[CONTENT_TYPE], "{path}");
        assert_eq!(
            headers[CONTENT_LENGTH],
            get_body.len().to_string(),
            "{path}"
        );
        assert!(body.is_empty(), "{path}");
    }
}

#[tokio::test]
async fn other_methods_are_405_errno_115_with_allow() {
    let service = ServiceBuilder::new()
        .layer(HeartbeatLayer::new())
        .service(app());
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        for path in [
            "/v1/__heartbeat__",
            "/v1/__lbheartbeat__",
            "/v1/__version__",
        ] {
            let (status, headers, body) = call(service.clone(), method.clone(), path).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_eq!(headers[ALLOW], "GET, HEAD");
            assert_eq!(json(&body)["errno"], 115);
        }
    }
}

#[tokio::test]
async fn the_endpoints_live_under_the_prefix_only() {
    let layer = HeartbeatLayer::new().check("storage", || async { true });
    let service = ServiceBuilder::new().layer(layer).service(app());
    for path in [
        "/__heartbeat__",
        "/__lbheartbeat__",
        "/__version__",
        "/v1/__heartbeat__/",
        "/v2/__heartbeat__",
        "/v1/records",
    ] {
        let (status, _, body) = call(service.clone(), Method::GET, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, format!("app {path}"), "{path}");
    }
}

#[tokio::test]
async fn the_prefix_is_configurable() {
    let service = ServiceBuilder::new()
        .layer(HeartbeatLayer::new().prefix("v2/"))
        .service(app());
    let (_, _, body) = call(service.clone(), Method::GET, "/v2/__lbheartbeat__").await;
    assert_eq!(body, "{}");
    let (_, _, body) = call(service, Method::GET, "/v1/__lbheartbeat__").await;
    assert_eq!(body, "app /v1/__lbheartbeat__");

    let service = ServiceBuilder::new()
        .layer(HeartbeatLayer::new().prefix(""))
        .service(app());
    let (_, _, body) = call(service, Method::GET, "/__lbheartbeat__").await;
    assert_eq!(body, "{}");
}

#[test]
fn settings_have_the_protocol_defaults() {
    let settings: HeartbeatSettings = serde_json::from_str("{}").unwrap();
    assert_eq!(settings, HeartbeatSettings::default());
    assert_eq!(settings.heartbeat_timeout_seconds, 10.0);
    assert_eq!(settings.version_json_path, PathBuf::from("version.json"));
}

#[tokio::test(start_paused = true)]
async fn from_settings_uses_the_fractional_timeout_and_the_file() {
    let dir = temp_dir("settings");
    let path = dir.join("version.json");
    std::fs::write(&path, br#"{"version": "9.9.9"}"#).unwrap();
    let settings = HeartbeatSettings {
        heartbeat_timeout_seconds: 0.5,
        version_json_path: path,
    };
    let layer = HeartbeatLayer::from_settings(&settings)
        .unwrap()
        .check("slow", || async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            true
        })
        .check("fast", || async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            true
        });
    let service = ServiceBuilder::new().layer(layer).service(app());
    let (_, _, body) = call(service.clone(), Method::GET, "/v1/__heartbeat__").await;
    assert_eq!(body, r#"{"slow":false,"fast":true}"#);
    let (_, _, body) = call(service, Method::GET, "/v1/__version__").await;
    assert_eq!(body, r#"{"version":"9.9.9"}"#);
}

#[test]
fn from_settings_rejects_bad_values_naming_the_setting() {
    for seconds in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let settings = HeartbeatSettings {
            heartbeat_timeout_seconds: seconds,
            ..HeartbeatSettings::default()
        };
        let error = HeartbeatLayer::from_settings(&settings).unwrap_err();
        assert!(matches!(error, SettingsError::Timeout(_)), "{seconds}");
        assert!(error.to_string().starts_with("heartbeat_timeout_seconds"));
    }

    let path = temp_dir("invalid").join("version.json");
    std::fs::write(&path, b"not json").unwrap();
    let settings = HeartbeatSettings {
        version_json_path: path,
        ..HeartbeatSettings::default()
    };
    let error = HeartbeatLayer::from_settings(&settings).unwrap_err();
    assert!(matches!(error, SettingsError::VersionFile(_)));
    assert!(error.to_string().starts_with("version_json_path"));
}

fn router(layer: HeartbeatLayer) -> axum::Router {
    axum::Router::new()
        .route("/v1/records", get(|| async { "records" }))
        .layer(layer)
}

async fn call_router(
    router: axum::Router,
    method: Method,
    path: &str,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn under_an_axum_router() {
    let layer = HeartbeatLayer::new()
        .check("storage", || async { true })
        .check("cache", || async { None::<bool> })
        .build_info(BuildInfo::new("app", "1.0.0"));
    let app = router(layer);

    let (status, _, body) = call_router(app.clone(), Method::GET, "/v1/__heartbeat__").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"storage":true,"cache":null}"#);

    let (status, _, body) = call_router(app.clone(), Method::GET, "/v1/__lbheartbeat__").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "{}");

    let (status, _, body) = call_router(app.clone(), Method::GET, "/v1/__version__").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body), json!({"name": "app", "version": "1.0.0"}));

    let (status, _, body) = call_router(app.clone(), Method::HEAD, "/v1/__heartbeat__").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty());

    let (status, _, body) = call_router(app, Method::GET, "/v1/records").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "records");
}

#[tokio::test(start_paused = true)]
async fn under_an_axum_router_with_the_error_layer_a_hanging_check_is_a_plain_503() {
    let layer = HeartbeatLayer::new()
        .timeout(Duration::from_secs(1))
        .check("storage", || async { true })
        .check("cache", std::future::pending::<bool>);
    let app = axum::Router::new()
        .route("/v1/records", get(|| async { "records" }))
        .layer(ServiceBuilder::new().layer(ErrorLayer::new()).layer(layer));

    let answered = tokio::time::timeout(
        Duration::from_millis(1001),
        call_router(app, Method::GET, "/v1/__heartbeat__"),
    )
    .await;
    let (status, headers, body) = answered.expect("the heartbeat outlived its timeout");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.get(RETRY_AFTER).is_none());
    assert_eq!(body, r#"{"storage":true,"cache":false}"#);
}

#[tokio::test]
async fn under_an_axum_router_other_methods_are_405() {
    let app = router(HeartbeatLayer::new());
    let (status, headers, body) = call_router(app, Method::POST, "/v1/__heartbeat__").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[ALLOW], "GET, HEAD");
    assert_eq!(
        json(&body),
        json!({"code": 405, "errno": 115, "error": "Method Not Allowed",
               "message": "Method not allowed on this endpoint."})
    );
}
