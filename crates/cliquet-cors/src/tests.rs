//! The layer under a bare `service_fn` and under an axum `Router`.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use cliquet_errors::{ApiError, Errno};
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ALLOW,
    CONTENT_TYPE,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt, service_fn};

use crate::{
    CorsLayer, CorsSettings, ExposedHeaders, OBJECT_GET_EXPOSED_HEADERS,
    PLURAL_GET_EXPOSED_HEADERS, PLURAL_HEAD_EXPOSED_HEADERS,
};

type Body = Full<Bytes>;

const DEFAULT_LIST: &[&str] = &[
    "Backoff",
    "Retry-After",
    "Alert",
    "Content-Length",
    "Content-Type",
];

/// A small router in the style of a Kinto application: a plural endpoint,
/// an object endpoint and the hello view, each answering a method it lacks
/// with 405 and `Allow`; unknown URLs get the protocol's 404; `OPTIONS /`
/// gets the empty 200 a version layer gives unversioned URLs.
fn app(
    calls: Arc<AtomicUsize>,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
    service_fn(move |request: Request<Body>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            let method = request.method().clone();
            let (methods, extra): (&str, Option<&'static [&'static str]>) =
                match request.uri().path() {
                    "/v1/mushrooms" => (
                        "HEAD, GET, POST, DELETE",
                        match method {
                            Method::GET => Some(PLURAL_GET_EXPOSED_HEADERS),
                            Method::HEAD => Some(PLURAL_HEAD_EXPOSED_HEADERS),
                            _ => None,
                        },
                    ),
                    "/v1/mushrooms/abc" => (
                        "GET, HEAD, PUT, PATCH, DELETE",
                        matches!(method, Method::GET | Method::HEAD)
                            .then_some(OBJECT_GET_EXPOSED_HEADERS),
                    ),
                    "/v1/" => ("GET, HEAD", None),
                    "/" if method == Method::OPTIONS => {
                        return Ok(Response::new(Body::default()));
                    }
                    _ => return Ok(ApiError::not_found().into_response()),
                };
            if !methods.split(", ").any(|m| m == method.as_str()) {
                let mut response = ApiError::method_not_allowed().into_response::<Body>();
                response
                    .headers_mut()
                    .insert(ALLOW, format!("{methods}, OPTIONS").parse().unwrap());
                return Ok(response);
            }
            let mut response = Response::new(Body::from("{}"));
            if let Some(extra) = extra {
                response
                    .extensions_mut()
                    .insert(ExposedHeaders::from_static(extra));
            }
            Ok(response)
        }
    })
}

fn request(method: Method, path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::default()).unwrap()
}

async fn send(layer: &CorsLayer, request: Request<Body>) -> (Response<Body>, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let response = layer
        .layer(app(calls.clone()))
        .oneshot(request)
        .await
        .unwrap();
    (response, calls.load(Ordering::SeqCst))
}

fn list(headers: &HeaderMap, name: http::HeaderName) -> BTreeSet<String> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .unwrap()
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn names(lists: &[&[&str]]) -> BTreeSet<String> {
    lists
        .iter()
        .flat_map(|l| l.iter().map(|s| (*s).to_owned()))
        .collect()
}

async fn json_body(response: Response<Body>) -> Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

fn layer(settings: Value) -> CorsLayer {
    CorsLayer::from_settings(&serde_json::from_value::<CorsSettings>(settings).unwrap())
}

// Service responses (cors.md §2.1).

#[tokio::test]
async fn no_origin_no_allow_origin_but_exposed_headers() {
    let (response, _) = send(&CorsLayer::new(), request(Method::GET, "/v1/", &[])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get(ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    assert_eq!(
        list(response.headers(), ACCESS_CONTROL_EXPOSE_HEADERS),
        names(&[DEFAULT_LIST])
    );
}

#[tokio::test]
async fn star_answers_star() {
    let (response, _) = send(
        &layer(json!({})),
        request(Method::GET, "/v1/", &[("origin", "http://foo.com")]),
    )
    .await;
    assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let (response, _) = send(
        &layer(json!({"cors_origins": "http://a.com *"})),
        request(Method::GET, "/v1/", &[("origin", "http://foo.com")]),
    )
    .await;
    assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}

#[tokio::test]
async fn listed_and_pattern_origins_are_echoed() {
    let cors = layer(json!({"cors_origins": "http://a.com http://*.example.com"}));
    for origin in ["http://a.com", "http://app.example.com"] {
        let (response, _) = send(&cors, request(Method::GET, "/v1/", &[("origin", origin)])).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], origin);
    }
}

#[tokio::test]
async fn a_foreign_origin_is_refused_before_the_handler() {
    let cors = layer(json!({"cors_origins": ["http://a.com"]}));
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let (response, calls) = send(
            &cors,
            request(method, "/v1/mushrooms", &[("origin", "http://evil.com")]),
        )
        .await;
        assert_eq!(calls, 0);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(
            response
                .headers()
                .get(ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
        assert_eq!(
            list(response.headers(), ACCESS_CONTROL_EXPOSE_HEADERS),
            names(&[DEFAULT_LIST])
        );
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(
            response.extensions().get::<Errno>(),
            Some(&Errno::InvalidParameters)
        );
        assert_eq!(
            json_body(response).await,
            json!({"code": 400, "errno": 107, "error": "Invalid parameters",
                   "message": "Origin in header: http://evil.com not allowed",
                   "details": [{"location": "header", "name": "Origin",
                                "description": "http://evil.com not allowed"}]})
        );
    }
    // Case-sensitive, as Kinto's match.
    let (response, _) = send(
        &cors,
        request(Method::GET, "/v1/", &[("origin", "HTTP://A.COM")]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn exposed_headers_on_errors_too() {
    let (response, _) = send(
        &CorsLayer::new(),
        request(
            Method::PUT,
            "/v1/mushrooms",
            &[("origin", "http://foo.com")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(
        list(response.headers(), ACCESS_CONTROL_EXPOSE_HEADERS),
        names(&[DEFAULT_LIST])
    );
}

#[tokio::test]
async fn endpoints_add_their_exposed_headers() {
    let cases: [(Method, &str, &[&str]); 5] = [
        (Method::GET, "/v1/mushrooms", PLURAL_GET_EXPOSED_HEADERS),
        (Method::HEAD, "/v1/mushrooms", PLURAL_HEAD_EXPOSED_HEADERS),
        (Method::GET, "/v1/mushrooms/abc", OBJECT_GET_EXPOSED_HEADERS),
        (
            Method::HEAD,
            "/v1/mushrooms/abc",
            OBJECT_GET_EXPOSED_HEADERS,
        ),
        (Method::POST, "/v1/mushrooms", &[]),
    ];
    for (method, path, extra) in cases {
        let (response, _) = send(&CorsLayer::new(), request(method.clone(), path, &[])).await;
        assert_eq!(
            list(response.headers(), ACCESS_CONTROL_EXPOSE_HEADERS),
            names(&[DEFAULT_LIST, extra]),
            "{method} {path}"
        );
    }
    let (response, _) = send(
        &CorsLayer::new(),
        request(Method::GET, "/v1/mushrooms", &[]),
    )
    .await;
    assert!(
        response.headers()[ACCESS_CONTROL_EXPOSE_HEADERS]
            .to_str()
            .unwrap()
            .contains("Next-Page, Last-Modified, ETag")
    );
}

#[tokio::test]
async fn credentials_are_never_allowed() {
    let cors = layer(json!({"cors_origins": "http://a.com"}));
    for request in [
        request(Method::GET, "/v1/", &[("origin", "http://a.com")]),
        request(
            Method::OPTIONS,
            "/v1/",
            &[
                ("origin", "http://a.com"),
                ("access-control-request-method", "GET"),
            ],
        ),
    ] {
        let (response, _) = send(&cors, request).await;
        assert!(response.status().is_success());
        assert!(
            response
                .headers()
                .get(ACCESS_CONTROL_ALLOW_CREDENTIALS)
                .is_none()
        );
    }
}

// Responses outside services (cors.md §2.2).

#[tokio::test]
async fn unknown_urls_keep_their_404_with_cors_headers() {
    let (response, calls) = send(
        &CorsLayer::new(),
        request(Method::GET, "/v1/unknown", &[("origin", "http://foo.com")]),
    )
    .await;
    assert_eq!(calls, 1);
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(
        list(response.headers(), ACCESS_CONTROL_EXPOSE_HEADERS),
        names(&[DEFAULT_LIST])
    );
    assert_eq!(json_body(response).await["errno"], 111);
}

#[tokio::test]
async fn answers_of_outer_protocol_layers_are_readable_cross_origin() {
    // What an end-of-service layer (410 + Alert), a version layer (307) and
    // read-only mode (405 without Allow) answer below this layer.
    let inner = service_fn(|request: Request<Body>| async move {
        let response = match request.uri().path() {
            "/gone" => ApiError::service_deprecated()
                .with_header(
                    "alert".parse().unwrap(),
                    r#"{"code":"hard-eol","message":null,"url":null}"#.parse().unwrap(),
                )
                .into_response(),
            "/redirect" => {
                let mut response = Response::new(Body::default());
                *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                response
                    .headers_mut()
                    .insert("location", "http://h/v1/".parse().unwrap());
                response
            }
            _ => ApiError::method_not_allowed().into_response(),
        };
        Ok::<_, Infallible>(response)
    });
    let service = layer(json!({"cors_origins": "http://a.com"})).layer(inner);
    for (method, path, status) in [
        (Method::GET, "/gone", StatusCode::GONE),
        (Method::GET, "/redirect", StatusCode::TEMPORARY_REDIRECT),
        (Method::POST, "/readonly", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let response = service
            .clone()
            .oneshot(request(method, path, &[("origin", "http://a.com")]))
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(
            response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://a.com"
        );
        assert_eq!(
            list(response.headers(), ACCESS_CONTROL_EXPOSE_HEADERS),
            names(&[DEFAULT_LIST])
        );
    }
    // A preflight answered 410 by the end of service stays a 410.
    let response = service
        .oneshot(preflight(
            "/gone",
            &[
                ("origin", "http://a.com"),
                ("access-control-request-method", "GET"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    assert_eq!(
        response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://a.com"
    );
    assert!(response.headers().contains_key("alert"));
}

// Preflights (cors.md §3).

#[tokio::test]
async fn preflight_answers_keep_what_lower_layers_added() {
    // Layers below (backoff, end of service) decorate the endpoint's 405:
    // those headers stay on the preflight answer, the 405's own do not.
    let inner = service_fn(|_: Request<Body>| async {
        let mut response = ApiError::method_not_allowed().into_response::<Body>();
        let headers = response.headers_mut();
        headers.insert(ALLOW, "GET, HEAD".parse().unwrap());
        headers.insert("backoff", "10".parse().unwrap());
        headers.append("x-twice", "1".parse().unwrap());
        headers.append("x-twice", "2".parse().unwrap());
        headers.insert(ACCESS_CONTROL_MAX_AGE, "1".parse().unwrap());
        Ok::<_, Infallible>(response)
    });
    let response = CorsLayer::new()
        .layer(inner)
        .oneshot(preflight(
            "/v1/",
            &[
                ("origin", "http://foo.com"),
                ("access-control-request-method", "GET"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers["backoff"], "10");
    assert_eq!(headers.get_all("x-twice").iter().count(), 2);
    assert!(headers.get(ALLOW).is_none());
    assert_eq!(headers[ACCESS_CONTROL_MAX_AGE], "3600");
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    assert_eq!(headers.get_all(CONTENT_TYPE).iter().count(), 1);
}

fn preflight(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    request(Method::OPTIONS, path, headers)
}

#[tokio::test]
async fn a_successful_preflight() {
    let (response, calls) = send(
        &CorsLayer::new(),
        preflight(
            "/v1/mushrooms",
            &[
                ("origin", "http://foo.com"),
                ("access-control-request-method", "GET"),
                (
                    "access-control-request-headers",
                    "Authorization, If-None-Match",
                ),
            ],
        ),
    )
    .await;
    assert_eq!(calls, 1);
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(
        headers[ACCESS_CONTROL_ALLOW_METHODS],
        "HEAD,GET,POST,DELETE,OPTIONS"
    );
    assert_eq!(
        list(&headers, ACCESS_CONTROL_ALLOW_HEADERS),
        names(&[
            &["Authorization", "If-None-Match"],
            DEFAULT_LIST,
            PLURAL_HEAD_EXPOSED_HEADERS
        ])
    );
    assert_eq!(headers[ACCESS_CONTROL_MAX_AGE], "3600");
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    assert!(headers.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "null");
}

#[tokio::test]
async fn preflight_methods_are_the_endpoints() {
    let cases = [
        (
            "/v1/mushrooms/abc",
            "PATCH",
            "GET,HEAD,PUT,PATCH,DELETE,OPTIONS",
        ),
        ("/v1/", "GET", "GET,HEAD,OPTIONS"),
    ];
    for (path, method, allowed) in cases {
        let (response, _) = send(
            &CorsLayer::new(),
            preflight(
                path,
                &[
                    ("origin", "http://foo.com"),
                    ("access-control-request-method", method),
                ],
            ),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_METHODS], allowed);
    }
}

#[tokio::test]
async fn preflight_max_age_follows_the_setting() {
    let origin = [
        ("origin", "http://foo.com"),
        ("access-control-request-method", "GET"),
    ];
    let (response, _) = send(
        &layer(json!({"cors_max_age_seconds": 60})),
        preflight("/v1/", &origin),
    )
    .await;
    assert_eq!(response.headers()[ACCESS_CONTROL_MAX_AGE], "60");
    let (response, _) = send(
        &layer(json!({"cors_max_age_seconds": ""})),
        preflight("/v1/", &origin),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(ACCESS_CONTROL_MAX_AGE).is_none());
}

#[tokio::test]
async fn preflight_echoes_an_allowed_origin() {
    let (response, _) = send(
        &layer(json!({"cors_origins": "http://*.foo.com"})),
        preflight(
            "/v1/",
            &[
                ("origin", "http://app.foo.com"),
                ("access-control-request-method", "GET"),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://app.foo.com"
    );
}

#[tokio::test]
async fn any_requested_header_is_accepted() {
    let (response, _) = send(
        &CorsLayer::new(),
        preflight(
            "/v1/",
            &[
                ("origin", "http://foo.com"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "X-Anything-At-All"),
                ("access-control-request-headers", "x-second"),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let allowed = list(response.headers(), ACCESS_CONTROL_ALLOW_HEADERS);
    assert!(allowed.contains("X-Anything-At-All"));
    assert!(allowed.contains("x-second"));
}

async fn preflight_error(
    cors: &CorsLayer,
    headers: &[(&str, &str)],
    message: &str,
    detail: Value,
) -> Response<()> {
    let (response, _) = send(cors, preflight("/v1/mushrooms", headers)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{message}");
    assert_eq!(
        list(response.headers(), ACCESS_CONTROL_EXPOSE_HEADERS),
        names(&[DEFAULT_LIST])
    );
    assert!(
        response
            .headers()
            .get(ACCESS_CONTROL_ALLOW_METHODS)
            .is_none()
    );
    let (parts, body) = response.into_parts();
    let body: Value = serde_json::from_slice(&body.collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        body,
        json!({"code": 400, "errno": 107, "error": "Invalid parameters",
               "message": message, "details": [detail]})
    );
    Response::from_parts(parts, ())
}

#[tokio::test]
async fn preflight_requirements_in_order() {
    let cors = layer(json!({"cors_origins": "http://a.com"}));

    let response = preflight_error(
        &cors,
        &[("access-control-request-method", "GET")],
        "Origin in header: this header is mandatory",
        json!({"location": "header", "name": "Origin", "description": "this header is mandatory"}),
    )
    .await;
    assert!(
        response
            .headers()
            .get(ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );

    // A missing method is reported before a foreign origin.
    preflight_error(
        &cors,
        &[("origin", "http://evil.com")],
        "Access-Control-Request-Method in header: this header is mandatory",
        json!({"location": "header", "name": "Access-Control-Request-Method",
               "description": "this header is mandatory"}),
    )
    .await;

    preflight_error(
        &cors,
        &[
            ("origin", "http://evil.com"),
            ("access-control-request-method", "PATCH"),
        ],
        "Access-Control-Request-Method in header: Method not allowed",
        json!({"location": "header", "name": "Access-Control-Request-Method",
               "description": "Method not allowed"}),
    )
    .await;

    let response = preflight_error(
        &cors,
        &[
            ("origin", "http://evil.com"),
            ("access-control-request-method", "GET"),
        ],
        "Origin in header: http://evil.com not allowed",
        json!({"location": "header", "name": "Origin", "description": "http://evil.com not allowed"}),
    )
    .await;
    assert!(
        response
            .headers()
            .get(ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
}

#[tokio::test]
async fn preflight_on_an_unknown_url_is_the_404() {
    let (response, _) = send(
        &layer(json!({"cors_origins": "http://a.com"})),
        preflight(
            "/v1/unknown",
            &[
                ("origin", "http://a.com"),
                ("access-control-request-method", "GET"),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://a.com"
    );
    assert_eq!(
        list(response.headers(), ACCESS_CONTROL_EXPOSE_HEADERS),
        names(&[DEFAULT_LIST])
    );
    assert_eq!(json_body(response).await["errno"], 111);
}

#[tokio::test]
async fn options_on_an_unversioned_url_is_an_empty_200() {
    // No `Origin` at all: still not a 400, outside a service.
    for headers in [&[][..], &[("origin", "http://foo.com")][..]] {
        let (response, _) = send(&CorsLayer::new(), preflight("/", headers)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            list(response.headers(), ACCESS_CONTROL_EXPOSE_HEADERS),
            names(&[DEFAULT_LIST])
        );
        assert_eq!(
            response
                .headers()
                .get(ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_some(),
            !headers.is_empty()
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(body.is_empty());
    }
}

mod axum_router {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceBuilder;

    use super::*;

    fn router(
        cors: CorsLayer,
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send> + Clone
    {
        let router = Router::new()
            .route(
                "/v1/mushrooms",
                get(|| async {
                    let mut response = Response::new(Body::from("[]"));
                    response
                        .extensions_mut()
                        .insert(ExposedHeaders::from_static(PLURAL_GET_EXPOSED_HEADERS));
                    response
                })
                .post(|| async { (StatusCode::CREATED, "{}") }),
            )
            .route("/v1/", get(|| async { "hello" }));
        ServiceBuilder::new().layer(cors).service(router)
    }

    fn request(method: Method, path: &str, headers: &[(&str, &str)]) -> Request<Body> {
        let mut builder = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn requests_through_a_router() {
        let app = router(layer(json!({"cors_origins": "http://a.com"})));
        let response = app
            .clone()
            .oneshot(request(
                Method::GET,
                "/v1/mushrooms",
                &[("origin", "http://a.com")],
            ))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://a.com"
        );
        assert_eq!(
            list(response.headers(), ACCESS_CONTROL_EXPOSE_HEADERS),
            names(&[DEFAULT_LIST, PLURAL_GET_EXPOSED_HEADERS])
        );

        let response = app
            .clone()
            .oneshot(request(
                Method::POST,
                "/v1/mushrooms",
                &[("origin", "http://evil.com")],
            ))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["errno"], 107);

        // The router's own 404 for an unknown URL is passed through.
        let response = app
            .oneshot(request(
                Method::GET,
                "/v1/nothing",
                &[("origin", "http://a.com")],
            ))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://a.com"
        );
    }

    #[tokio::test]
    async fn preflights_through_a_router() {
        let app = router(CorsLayer::new());
        let response = app
            .clone()
            .oneshot(request(
                Method::OPTIONS,
                "/v1/mushrooms",
                &[
                    ("origin", "http://foo.com"),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", "authorization"),
                ],
            ))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        // axum lists GET, HEAD (for GET) and POST.
        assert_eq!(
            response.headers()[ACCESS_CONTROL_ALLOW_METHODS],
            "GET,HEAD,POST,OPTIONS"
        );
        assert!(list(response.headers(), ACCESS_CONTROL_ALLOW_HEADERS).contains("authorization"));
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "null");

        let response = app
            .clone()
            .oneshot(request(
                Method::OPTIONS,
                "/v1/",
                &[
                    ("origin", "http://foo.com"),
                    ("access-control-request-method", "DELETE"),
                ],
            ))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);

        let response = app
            .oneshot(request(
                Method::OPTIONS,
                "/v1/nothing",
                &[
                    ("origin", "http://foo.com"),
                    ("access-control-request-method", "GET"),
                ],
            ))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn inside_a_router_layer_the_requested_method_is_allowed() {
        // `Router::layer` wraps each route below the point where axum adds
        // `Allow`: the endpoint's methods are unknown to the layer.
        let app = Router::new()
            .route("/v1/", get(|| async { "hello" }))
            .layer(CorsLayer::new());
        let response = app
            .oneshot(request(
                Method::OPTIONS,
                "/v1/",
                &[
                    ("origin", "http://foo.com"),
                    ("access-control-request-method", "GET"),
                ],
            ))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[ACCESS_CONTROL_ALLOW_METHODS],
            "GET,OPTIONS"
        );
        assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    }
}
