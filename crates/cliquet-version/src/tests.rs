//! The layers under a bare `service_fn` and under an axum `Router`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cliquet_errors::{ApiError, Errno};
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, EXPIRES, LAST_MODIFIED, LOCATION, PRAGMA,
    X_CONTENT_TYPE_OPTIONS,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

use crate::{EosLayer, SecurityHeadersLayer, VersionLayer, VersionSettings};

type Body = Full<Bytes>;

/// 2023-11-14T22:13:20Z.
const NOW: u64 = 1_700_000_000;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

/// An application with a few routes under `/v1`, counting the requests
/// that reach it; other paths get a framework's bare 404.
fn app(
    calls: Arc<AtomicUsize>,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
    service_fn(move |request: Request<Body>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            let response = match request.uri().path() {
                "/v1/" | "/v1/buckets" | "/v1/with-slash/" | "/v1/__heartbeat__" | "/v1/batch" => {
                    Response::new(Body::from("{}"))
                }
                "/v1/records/abc/" => ApiError::object_not_found("abc", "record").into_response(),
                "/v1/protocol-404/" => ApiError::not_found().into_response(),
                "/v1/own-json-404/" => {
                    let mut response = Response::new(Body::from(r#"{"missing":true}"#));
                    *response.status_mut() = StatusCode::NOT_FOUND;
                    response
                        .headers_mut()
                        .insert(CONTENT_TYPE, "application/json".parse().unwrap());
                    response
                }
                "/v1/deprecated-param" => {
                    let mut response = Response::new(Body::from("[]"));
                    response.headers_mut().insert(
                        "alert",
                        r#"{"code":"soft-eol","message":"_to is now deprecated, you should use _before instead","url":"https://kinto.readthedocs.io/"}"#
                            .parse()
                            .unwrap(),
                    );
                    response
                }
                "/unversioned-route" => Response::new(Body::from("served")),
                _ => {
                    let mut response = Response::new(Body::default());
                    *response.status_mut() = StatusCode::NOT_FOUND;
                    response
                }
            };
            Ok(response)
        }
    })
}

fn settings(json: Value) -> VersionSettings {
    let mut base = json!({"http_api_version": "1.23"});
    for (key, value) in json.as_object().unwrap() {
        base[key] = value.clone();
    }
    serde_json::from_value(base).unwrap()
}

fn version_layer(json: Value) -> VersionLayer {
    VersionLayer::from_settings(&settings(json))
        .unwrap()
        .clock(now)
}

fn request(method: Method, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "localhost:8888")
        .body(Body::default())
        .unwrap()
}

async fn send(layer: VersionLayer, request: Request<Body>) -> (Response<Body>, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let response = ServiceBuilder::new()
        .layer(layer)
        .service(app(calls.clone()))
        .oneshot(request)
        .await
        .unwrap();
    (response, calls.load(Ordering::SeqCst))
}

async fn get(layer: VersionLayer, uri: &str) -> Response<Body> {
    send(layer, request(Method::GET, uri)).await.0
}

async fn body(response: Response<Body>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

async fn json_body(response: Response<Body>) -> Value {
    serde_json::from_slice(&body(response).await).unwrap()
}

fn version_not_available() -> Value {
    json!({"code": 404, "errno": 116, "error": "Not Found",
           "message": "The requested API version is not available on this server."})
}

fn missing_resource() -> Value {
    json!({"code": 404, "errno": 111, "error": "Not Found",
           "message": "The resource you are looking for could not be found."})
}

fn no_cache_headers(response: &Response<Body>) -> bool {
    [CACHE_CONTROL, EXPIRES, LAST_MODIFIED, PRAGMA]
        .iter()
        .all(|name| !response.headers().contains_key(name))
}

// Version prefix redirect (versioning.md §2.1).

#[tokio::test]
async fn unprefixed_urls_are_redirected_under_the_prefix() {
    let layer = version_layer(json!({}));
    let (response, calls) = send(layer.clone(), request(Method::GET, "/")).await;
    assert_eq!(calls, 0);
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(response.headers()[LOCATION], "http://localhost:8888/v1/");
    assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=UTF-8");
    assert!(no_cache_headers(&response));
    let page = body(response).await;
    assert!(String::from_utf8_lossy(&page).contains("<title>307 Temporary Redirect</title>"));

    let response = get(layer.clone(), "/mushrooms?_since=42&a=%20b").await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        response.headers()[LOCATION],
        "http://localhost:8888/v1/mushrooms?_since=42&a=%20b"
    );
}

#[tokio::test]
async fn every_method_is_redirected_but_options() {
    let layer = version_layer(json!({}));
    for method in [
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
    ] {
        let (response, calls) = send(layer.clone(), request(method.clone(), "/batch")).await;
        assert_eq!(
            response.status(),
            StatusCode::TEMPORARY_REDIRECT,
            "{method}"
        );
        assert_eq!(
            response.headers()[LOCATION],
            "http://localhost:8888/v1/batch"
        );
        assert_eq!(calls, 0);
    }
    let (response, calls) = send(layer, request(Method::OPTIONS, "/batch")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(LOCATION).is_none());
    assert_eq!(calls, 0);
    assert!(body(response).await.is_empty());
}

#[tokio::test]
async fn line_breaks_are_not_redirected_but_unicode_is() {
    let layer = version_layer(json!({}));
    let (response, calls) = send(
        layer.clone(),
        request(Method::GET, "/crlf%0D%0ASet-Cookie:%20a=b"),
    )
    .await;
    assert_eq!(calls, 1);
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().get(LOCATION).is_none());
    assert_eq!(json_body(response).await, version_not_available());

    let response = get(layer, "/crlftest%E5%98%8A/").await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        response.headers()[LOCATION],
        "http://localhost:8888/v1/crlftest%E5%98%8A/"
    );
}

#[tokio::test]
async fn version_redirect_cache_headers() {
    let response = get(
        version_layer(json!({"version_prefix_redirect_ttl_seconds": 60})),
        "/",
    )
    .await;
    assert_eq!(response.headers()[CACHE_CONTROL], "max-age=60");
    assert_eq!(response.headers()[EXPIRES], "Tue, 14 Nov 2023 22:14:20 GMT");
    assert!(response.headers().get(PRAGMA).is_none());

    let response = get(
        version_layer(json!({"version_prefix_redirect_ttl_seconds": 0})),
        "/",
    )
    .await;
    assert_eq!(
        response.headers()[CACHE_CONTROL],
        "max-age=0, must-revalidate, no-cache, no-store"
    );
    assert_eq!(response.headers()[EXPIRES], "Tue, 14 Nov 2023 22:13:20 GMT");
    assert_eq!(
        response.headers()[LAST_MODIFIED],
        "Tue, 14 Nov 2023 22:13:20 GMT"
    );
    assert_eq!(response.headers()[PRAGMA], "no-cache");

    let response = get(
        version_layer(json!({"version_prefix_redirect_ttl_seconds": -5})),
        "/",
    )
    .await;
    assert!(no_cache_headers(&response));
}

#[tokio::test]
async fn other_versions_get_errno_116() {
    let layer = version_layer(json!({}));
    for path in ["/v2/buckets", "/v0/", "/v10/buckets"] {
        let (response, calls) = send(layer.clone(), request(Method::GET, path)).await;
        assert_eq!(calls, 1, "{path}");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.extensions().get::<Errno>(),
            Some(&Errno::VersionNotAvailable)
        );
        assert_eq!(json_body(response).await, version_not_available(), "{path}");
    }
}

#[tokio::test]
async fn disabled_version_redirect_gives_errno_116() {
    let layer = version_layer(json!({"version_prefix_redirect_enabled": false}));
    let (response, calls) = send(layer.clone(), request(Method::GET, "/mushrooms")).await;
    assert_eq!(calls, 1);
    assert_eq!(json_body(response).await, version_not_available());
    // A route the application serves outside the prefix is still served.
    let response = get(layer, "/unversioned-route").await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn locations_use_http_scheme_and_http_host() {
    let layer = version_layer(json!({"http_scheme": "https", "http_host": "kinto.example.com"}));
    let response = get(layer, "/buckets?x=1").await;
    assert_eq!(
        response.headers()[LOCATION],
        "https://kinto.example.com/v1/buckets?x=1"
    );

    let layer = version_layer(json!({}));
    let response = get(layer.clone(), "https://secure.example.com/buckets").await;
    assert_eq!(
        response.headers()[LOCATION],
        "https://secure.example.com/v1/buckets"
    );

    let request = Request::get("/buckets").body(Body::default()).unwrap();
    let (response, _) = send(layer, request).await;
    assert_eq!(response.headers()[LOCATION], "/v1/buckets");
}

// Trailing slash redirect (versioning.md §2.2).

#[tokio::test]
async fn unmatched_trailing_slashes_are_stripped() {
    let layer = version_layer(json!({}));
    let (response, calls) = send(layer.clone(), request(Method::GET, "/v1/mushrooms/?a=1")).await;
    assert_eq!(calls, 1);
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        response.headers()[LOCATION],
        "http://localhost:8888/v1/mushrooms?a=1"
    );
    assert_eq!(response.headers()[CACHE_CONTROL], "max-age=3600");
    assert_eq!(response.headers()[EXPIRES], "Tue, 14 Nov 2023 23:13:20 GMT");

    let response = get(layer.clone(), "/v1/mushrooms///").await;
    assert_eq!(
        response.headers()[LOCATION],
        "http://localhost:8888/v1/mushrooms"
    );

    let (response, _) = send(layer, request(Method::POST, "/v1/buckets/")).await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        response.headers()[LOCATION],
        "http://localhost:8888/v1/buckets"
    );
}

#[tokio::test]
async fn the_bare_prefix_is_redirected_to_the_hello_view() {
    let response = get(version_layer(json!({})), "/v1?x=y").await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        response.headers()[LOCATION],
        "http://localhost:8888/v1/?x=y"
    );
}

#[tokio::test]
async fn existing_routes_with_a_trailing_slash_are_served() {
    let layer = version_layer(json!({}));
    assert_eq!(
        get(layer.clone(), "/v1/with-slash/").await.status(),
        StatusCode::OK
    );
    assert_eq!(get(layer, "/v1/").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn trailing_slash_cache_headers() {
    let layer = version_layer(json!({"trailing_slash_redirect_ttl_seconds": -1}));
    assert!(no_cache_headers(&get(layer, "/v1/buckets/").await));

    let layer = version_layer(json!({"trailing_slash_redirect_ttl_seconds": 0}));
    let response = get(layer, "/v1/buckets/").await;
    assert_eq!(
        response.headers()[CACHE_CONTROL],
        "max-age=0, must-revalidate, no-cache, no-store"
    );
    assert_eq!(response.headers()[PRAGMA], "no-cache");
    assert_eq!(
        response.headers()[LAST_MODIFIED],
        "Tue, 14 Nov 2023 22:13:20 GMT"
    );
}

#[tokio::test]
async fn disabled_trailing_slash_redirect_gives_errno_111() {
    let layer = version_layer(json!({"trailing_slash_redirect_enabled": "false"}));
    for path in ["/v1/mushrooms/", "/v1"] {
        let response = get(layer.clone(), path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.extensions().get::<Errno>(),
            Some(&Errno::MissingResource)
        );
        assert_eq!(json_body(response).await, missing_resource(), "{path}");
    }
}

#[tokio::test]
async fn unmatched_urls_under_the_prefix_get_errno_111() {
    let response = get(version_layer(json!({})), "/v1/unknown").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(json_body(response).await, missing_resource());
}

#[tokio::test]
async fn handler_404s_pass_through_unchanged() {
    let layer = version_layer(json!({}));
    let response = get(layer.clone(), "/v1/records/abc/").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        json_body(response).await,
        json!({"code": 404, "errno": 110, "error": "Not Found",
               "details": {"id": "abc", "resource_name": "record"}})
    );
    let response = get(layer.clone(), "/v1/own-json-404/").await;
    assert_eq!(json_body(response).await, json!({"missing": true}));

    // A protocol errno 111 (an error layer's rewrite of "no route") counts
    // as unmatched: the trailing slash is redirected.
    let response = get(layer, "/v1/protocol-404/").await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
}

// End of service (versioning.md §3).

fn eos_service(
    json: Value,
    clock: SystemTime,
) -> (
    impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
    Arc<AtomicUsize>,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let settings = settings(json);
    let service = ServiceBuilder::new()
        .layer(
            EosLayer::from_settings(&settings)
                .unwrap()
                .clock(move || clock),
        )
        .layer(VersionLayer::from_settings(&settings).unwrap().clock(now))
        .service(app(calls.clone()));
    (service, calls)
}

#[tokio::test]
async fn no_alert_without_eos() {
    let (service, _) = eos_service(json!({"eos": ""}), now());
    for path in ["/v1/", "/", "/v1/unknown"] {
        let response = service
            .clone()
            .oneshot(request(Method::GET, path))
            .await
            .unwrap();
        assert!(response.headers().get("alert").is_none(), "{path}");
    }
}

#[tokio::test]
async fn soft_eol_alert_before_the_date() {
    let (service, calls) = eos_service(
        json!({"eos": "2023-11-15", "eos_message": "Bye", "eos_url": "http://eos"}),
        now(),
    );
    for (path, status) in [
        ("/v1/", StatusCode::OK),
        ("/", StatusCode::TEMPORARY_REDIRECT),
        ("/v1/unknown", StatusCode::NOT_FOUND),
        ("/v1/deprecated-param", StatusCode::OK),
    ] {
        let response = service
            .clone()
            .oneshot(request(Method::GET, path))
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(
            response.headers()["alert"],
            r#"{"code":"soft-eol","message":"Bye","url":"http://eos"}"#,
            "{path}"
        );
        assert_eq!(response.headers().get_all("alert").iter().count(), 1);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn hard_eol_from_the_date_on() {
    let gone = json!({"code": 410, "errno": 202, "error": "Gone",
        "message": "The service you are trying to connect no longer exists at this location."});
    // The date itself (midnight UTC) and any time after it.
    for clock in [UNIX_EPOCH + Duration::from_secs(1_699_920_000), now()] {
        let (service, calls) = eos_service(
            json!({"eos": "2023-11-14", "project_docs": "https://kinto.readthedocs.io/"}),
            clock,
        );
        for (method, path) in [
            (Method::GET, "/"),
            (Method::GET, "/v1/"),
            (Method::GET, "/v1/__heartbeat__"),
            (Method::POST, "/v1/batch"),
            (Method::DELETE, "/v1/unknown"),
            (Method::OPTIONS, "/v1/buckets"),
        ] {
            let response = service
                .clone()
                .oneshot(request(method, path))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::GONE, "{path}");
            assert_eq!(
                response.headers()["alert"],
                r#"{"code":"hard-eol","message":null,"url":"https://kinto.readthedocs.io/"}"#
            );
            assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
            assert_eq!(
                response.extensions().get::<Errno>(),
                Some(&Errno::ServiceDeprecated)
            );
            assert_eq!(json_body(response).await, gone);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}

#[tokio::test]
async fn one_second_before_the_date_is_still_soft() {
    let (service, calls) = eos_service(
        json!({"eos": "2023-11-14"}),
        UNIX_EPOCH + Duration::from_secs(1_699_920_000 - 1),
    );
    let response = service.oneshot(request(Method::GET, "/v1/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["alert"],
        r#"{"code":"soft-eol","message":null,"url":null}"#
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn eos_url_wins_over_project_docs() {
    let layer = EosLayer::from_settings(&settings(json!({
        "eos": "2099-01-01", "eos_url": "http://eos", "project_docs": "http://docs"
    })))
    .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let response = ServiceBuilder::new()
        .layer(layer)
        .service(app(calls))
        .oneshot(request(Method::GET, "/v1/"))
        .await
        .unwrap();
    assert_eq!(
        response.headers()["alert"],
        r#"{"code":"soft-eol","message":null,"url":"http://eos"}"#
    );
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let calls = Arc::new(AtomicUsize::new(0));
    let settings = settings(json!({"eos": "2000-01-01"}));
    let gone = ServiceBuilder::new()
        .layer(SecurityHeadersLayer::new())
        .layer(EosLayer::from_settings(&settings).unwrap())
        .service(app(calls.clone()));
    let served = ServiceBuilder::new()
        .layer(SecurityHeadersLayer::new())
        .layer(version_layer(json!({})))
        .service(app(calls));
    let responses = [
        gone.oneshot(request(Method::GET, "/v1/")).await.unwrap(),
        served
            .clone()
            .oneshot(request(Method::GET, "/v1/"))
            .await
            .unwrap(),
        served
            .clone()
            .oneshot(request(Method::GET, "/"))
            .await
            .unwrap(),
        served
            .oneshot(request(Method::GET, "/v1/unknown"))
            .await
            .unwrap(),
    ];
    for response in responses {
        assert_eq!(
            response.headers()[CONTENT_SECURITY_POLICY],
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
        );
        assert_eq!(response.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
    }

    // A policy the application chose is kept.
    let own = ServiceBuilder::new()
        .layer(SecurityHeadersLayer::new())
        .service(service_fn(|_: Request<Body>| async {
            let mut response = Response::new(Body::default());
            response.headers_mut().insert(
                CONTENT_SECURITY_POLICY,
                "default-src 'self'".parse().unwrap(),
            );
            Ok::<_, Infallible>(response)
        }));
    let response = own.oneshot(request(Method::GET, "/")).await.unwrap();
    assert_eq!(
        response.headers()[CONTENT_SECURITY_POLICY],
        "default-src 'self'"
    );
    assert_eq!(response.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
}

#[tokio::test]
async fn inner_errors_pass_through() {
    let service = ServiceBuilder::new()
        .layer(EosLayer::new(UNIX_EPOCH + Duration::from_secs(NOW * 2)))
        .layer(VersionLayer::new(1))
        .service(service_fn(|_: Request<Body>| async {
            Err::<Response<Body>, _>("broken")
        }));
    let error = service
        .oneshot(request(Method::GET, "/v1/"))
        .await
        .unwrap_err();
    assert_eq!(error, "broken");
}

mod axum_router {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;

    use super::*;

    fn router(json: Value, clock: SystemTime) -> Router {
        let settings = settings(json);
        let app = Router::new()
            .route("/v1/", get(|| async { "hello" }))
            .route("/v1/buckets", get(|| async { "[]" }))
            .route("/v1/with-slash/", get(|| async { "slash" }));
        let service = ServiceBuilder::new()
            .layer(SecurityHeadersLayer::new())
            .layer(
                EosLayer::from_settings(&settings)
                    .unwrap()
                    .clock(move || clock),
            )
            .layer(VersionLayer::from_settings(&settings).unwrap().clock(now));
        app.layer(service)
    }

    fn request(method: Method, uri: &str) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "localhost:8888")
            .body(Body::empty())
            .unwrap()
    }

    async fn json(response: Response<Body>) -> Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn redirects_and_404s_around_a_router() {
        let app = router(json!({}), now());
        let cases = [
            (
                "/",
                StatusCode::TEMPORARY_REDIRECT,
                Some("http://localhost:8888/v1/"),
            ),
            (
                "/buckets?a=1",
                StatusCode::TEMPORARY_REDIRECT,
                Some("http://localhost:8888/v1/buckets?a=1"),
            ),
            (
                "/v1",
                StatusCode::TEMPORARY_REDIRECT,
                Some("http://localhost:8888/v1/"),
            ),
            (
                "/v1/buckets/",
                StatusCode::TEMPORARY_REDIRECT,
                Some("http://localhost:8888/v1/buckets"),
            ),
            ("/v1/", StatusCode::OK, None),
            ("/v1/buckets", StatusCode::OK, None),
            ("/v1/with-slash/", StatusCode::OK, None),
        ];
        for (path, status, location) in cases {
            let response = app
                .clone()
                .oneshot(request(Method::GET, path))
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{path}");
            assert_eq!(
                response
                    .headers()
                    .get(LOCATION)
                    .map(|l| l.to_str().unwrap()),
                location,
                "{path}"
            );
            assert_eq!(response.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
        }

        let response = app
            .clone()
            .oneshot(request(Method::GET, "/v2/buckets"))
            .await
            .unwrap();
        assert_eq!(json(response).await["errno"], 116);
        let response = app
            .clone()
            .oneshot(request(Method::GET, "/v1/nothing"))
            .await
            .unwrap();
        assert_eq!(json(response).await["errno"], 111);
        let response = app
            .oneshot(request(Method::OPTIONS, "/buckets"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn end_of_service_around_a_router() {
        let app = router(json!({"eos": "2023-12-01", "eos_message": "Bye"}), now());
        let response = app
            .oneshot(request(Method::GET, "/v1/buckets"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["alert"],
            r#"{"code":"soft-eol","message":"Bye","url":null}"#
        );

        let app = router(json!({"eos": "2023-11-01"}), now());
        let response = app
            .oneshot(request(Method::GET, "/v1/buckets"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::GONE);
        assert_eq!(
            response.headers()["alert"],
            r#"{"code":"hard-eol","message":null,"url":null}"#
        );
        assert_eq!(json(response).await["errno"], 202);
    }
}
