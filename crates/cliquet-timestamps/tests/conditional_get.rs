//! `ConditionalGetLayer` under a bare `tower::service_fn` and under an axum
//! `Router`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::Extension;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use cliquet_timestamps::{
    ConditionalGetLayer, Current, ETag, EntityMatch, Preconditions, set_timestamp_headers,
};
use http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, EXPIRES, HeaderName, HeaderValue, IF_MATCH,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE, LAST_MODIFIED, PRAGMA,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

type Body = Full<Bytes>;

const TIMESTAMP: u64 = 1_795_429_011_912;
const ETAG_VALUE: &str = "\"1795429011912\"";
const LAST_MODIFIED_VALUE: &str = "Mon, 23 Nov 2026 10:16:51 GMT";

/// What the inner service saw and answers.
#[derive(Clone, Default)]
struct Inner {
    calls: Arc<AtomicUsize>,
    seen: Arc<Mutex<Option<Preconditions>>>,
}

impl Inner {
    /// An inner service answering `status` with the full set of headers a
    /// list endpoint sends.
    fn service(
        &self,
        status: StatusCode,
        etag: Option<&'static str>,
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
        let calls = self.calls.clone();
        let seen = self.seen.clone();
        service_fn(move |request: Request<Body>| {
            calls.fetch_add(1, Ordering::SeqCst);
            *seen.lock().unwrap() = request.extensions().get::<Preconditions>().copied();
            async move {
                let mut response = Response::new(Full::new(Bytes::from(r#"{"data":[]}"#)));
                *response.status_mut() = status;
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                if let Some(etag) = etag {
                    headers.insert(ETAG, HeaderValue::from_static(etag));
                }
                headers.insert(LAST_MODIFIED, HeaderValue::from_static(LAST_MODIFIED_VALUE));
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=60"));
                headers.insert(EXPIRES, HeaderValue::from_static(LAST_MODIFIED_VALUE));
                headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
                headers.insert("next-page", HeaderValue::from_static("http://x/?_token=a"));
                headers.insert("total-objects", HeaderValue::from_static("3"));
                headers.insert("total-records", HeaderValue::from_static("3"));
                headers.insert("backoff", HeaderValue::from_static("60"));
                headers.insert("alert", HeaderValue::from_static("{}"));
                Ok::<_, Infallible>(response)
            }
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Option<Preconditions> {
        *self.seen.lock().unwrap()
    }
}

async fn call<S>(
    service: S,
    method: Method,
    headers: &[(HeaderName, &str)],
) -> (StatusCode, http::HeaderMap, Bytes)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let mut request = Request::builder().method(method).uri("/v1/mushrooms");
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let request = request.body(Full::default()).unwrap();
    let response = service
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

fn layered(
    inner: &Inner,
    status: StatusCode,
    etag: Option<&'static str>,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
    ServiceBuilder::new()
        .layer(ConditionalGetLayer::new())
        .service(inner.service(status, etag))
}

fn json(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap()
}

#[tokio::test]
async fn a_matching_if_none_match_on_get_and_head_is_a_bodiless_304() {
    for method in [Method::GET, Method::HEAD] {
        let inner = Inner::default();
        let service = layered(&inner, StatusCode::OK, Some(ETAG_VALUE));
        let (status, headers, body) =
            call(service, method.clone(), &[(IF_NONE_MATCH, ETAG_VALUE)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{method}");
        assert!(body.is_empty());
        assert_eq!(headers[ETAG], ETAG_VALUE);
        assert_eq!(headers[LAST_MODIFIED], LAST_MODIFIED_VALUE);
        // Cross-cutting headers stay.
        assert_eq!(headers["backoff"], "60");
        assert_eq!(headers["alert"], "{}");
        // Representation, cache and list headers go.
        for gone in [
            "content-type",
            "content-length",
            "cache-control",
            "expires",
            "pragma",
            "next-page",
            "total-objects",
            "total-records",
        ] {
            assert!(headers.get(gone).is_none(), "{method} kept {gone}");
        }
    }
}

#[tokio::test]
async fn the_304_gets_last_modified_from_the_etag_when_missing() {
    let service = ServiceBuilder::new()
        .layer(ConditionalGetLayer::new())
        .service(service_fn(|_request: Request<Body>| async {
            let mut response = Response::new(Full::new(Bytes::from("{}")));
            response
                .headers_mut()
                .insert(ETAG, HeaderValue::from_static("\"1000\""));
            Ok::<_, Infallible>(response)
        }));
    let (status, headers, _) = call(service, Method::GET, &[(IF_NONE_MATCH, "\"1000\"")]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(headers[LAST_MODIFIED], "Thu, 01 Jan 1970 00:00:01 GMT");
}

#[tokio::test]
async fn a_different_if_none_match_passes_untouched() {
    let inner = Inner::default();
    let service = layered(&inner, StatusCode::OK, Some(ETAG_VALUE));
    let (status, headers, body) = call(service, Method::GET, &[(IF_NONE_MATCH, "\"1\"")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"data":[]}"#);
    assert_eq!(headers[CACHE_CONTROL], "max-age=60");
    assert_eq!(
        inner.seen().unwrap().if_none_match,
        Some(EntityMatch::Tag(ETag::new(1)))
    );
}

#[tokio::test]
async fn if_none_match_star_on_a_read_is_412_errno_114() {
    let inner = Inner::default();
    let service = layered(&inner, StatusCode::OK, Some(ETAG_VALUE));
    let (status, headers, body) = call(service, Method::GET, &[(IF_NONE_MATCH, "*")]).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(headers[ETAG], ETAG_VALUE);
    assert_eq!(headers[LAST_MODIFIED], LAST_MODIFIED_VALUE);
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    assert_eq!(
        json(&body),
        json!({"code": 412, "errno": 114, "error": "Precondition Failed",
               "message": "Resource was modified meanwhile"})
    );
}

#[tokio::test]
async fn if_match_on_a_read_compares_with_the_etag() {
    for (value, expected) in [
        (ETAG_VALUE, StatusCode::OK),
        ("*", StatusCode::OK),
        ("\"1795429011911\"", StatusCode::PRECONDITION_FAILED),
    ] {
        let inner = Inner::default();
        let service = layered(&inner, StatusCode::OK, Some(ETAG_VALUE));
        let (status, headers, _) = call(service, Method::GET, &[(IF_MATCH, value)]).await;
        assert_eq!(status, expected, "If-Match: {value}");
        assert_eq!(headers[ETAG], ETAG_VALUE);
    }
}

#[tokio::test]
async fn malformed_tags_are_400_errno_107_before_the_inner_service() {
    for method in [Method::GET, Method::HEAD, Method::POST, Method::PUT] {
        for (name, label) in [(IF_MATCH, "If-Match"), (IF_NONE_MATCH, "If-None-Match")] {
            let inner = Inner::default();
            let service = layered(&inner, StatusCode::OK, Some(ETAG_VALUE));
            let (status, headers, body) =
                call(service, method.clone(), &[(name, "1795429011912")]).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {label}");
            assert_eq!(headers[CONTENT_TYPE], "application/json");
            assert_eq!(
                json(&body),
                json!({"code": 400, "errno": 107, "error": "Invalid parameters",
                       "message": format!("{label} in header: The value should be integer between double quotes."),
                       "details": [{"location": "header", "name": label,
                                    "description": "The value should be integer between double quotes."}]})
            );
            assert_eq!(inner.calls(), 0);
        }
    }
}

#[tokio::test]
async fn writes_pass_untouched_with_their_preconditions_in_the_extensions() {
    let inner = Inner::default();
    let service = layered(&inner, StatusCode::OK, Some(ETAG_VALUE));
    let (status, _, body) = call(
        service,
        Method::PUT,
        &[(IF_NONE_MATCH, ETAG_VALUE), (IF_MATCH, "*")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"data":[]}"#);
    let seen = inner.seen().unwrap();
    assert_eq!(seen.if_match, Some(EntityMatch::Any));
    assert_eq!(
        seen.if_none_match,
        Some(EntityMatch::Tag(ETag::new(TIMESTAMP)))
    );
}

#[tokio::test]
async fn errors_and_responses_without_a_protocol_etag_pass_untouched() {
    let cases = [
        (StatusCode::NOT_FOUND, Some(ETAG_VALUE)),
        (StatusCode::FORBIDDEN, Some(ETAG_VALUE)),
        (StatusCode::OK, None),
        (StatusCode::OK, Some("W/\"1795429011912\"")),
        (StatusCode::OK, Some("\"abc\"")),
    ];
    for (inner_status, etag) in cases {
        let inner = Inner::default();
        let service = layered(&inner, inner_status, etag);
        let (status, _, body) = call(service, Method::GET, &[(IF_NONE_MATCH, "*")]).await;
        assert_eq!(status, inner_status, "{inner_status} {etag:?}");
        assert_eq!(body, r#"{"data":[]}"#);
    }
}

#[tokio::test]
async fn http_date_preconditions_are_ignored() {
    let inner = Inner::default();
    let service = layered(&inner, StatusCode::OK, Some(ETAG_VALUE));
    let (status, _, body) = call(
        service,
        Method::GET,
        &[
            (IF_MODIFIED_SINCE, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (IF_UNMODIFIED_SINCE, "Thu, 01 Jan 1970 00:00:00 GMT"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"data":[]}"#);
    let seen = inner.seen().unwrap();
    assert!(seen.if_modified_since.is_some());
    assert!(seen.if_unmodified_since.is_some());

    // Not dates: dropped, not refused.
    let inner = Inner::default();
    let service = layered(&inner, StatusCode::OK, Some(ETAG_VALUE));
    let (status, _, _) = call(service, Method::GET, &[(IF_MODIFIED_SINCE, "yesterday")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(inner.seen().unwrap(), Preconditions::default());
}

/// The stored object of the router below.
fn stored() -> Value {
    json!({"id": "abc", "title": "a", "last_modified": TIMESTAMP})
}

async fn get_object() -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    set_timestamp_headers(&mut headers, TIMESTAMP);
    (headers, axum::Json(json!({"data": stored()})))
}

async fn put_object(
    Extension(preconditions): Extension<Preconditions>,
) -> axum::response::Response {
    let stored = stored();
    if let Err(rejection) =
        preconditions.evaluate(&Method::PUT, Current::object(TIMESTAMP, &stored))
    {
        return rejection.into_response();
    }
    let mut headers = HeaderMap::new();
    set_timestamp_headers(&mut headers, TIMESTAMP + 1);
    (headers, axum::Json(json!({"data": stored}))).into_response()
}

fn router() -> axum::Router {
    axum::Router::new()
        .route("/v1/mushrooms/abc", get(get_object).put(put_object))
        .layer(ConditionalGetLayer::new())
}

async fn call_router(
    method: Method,
    headers: &[(HeaderName, &str)],
) -> (StatusCode, http::HeaderMap, Bytes) {
    let mut request = Request::builder().method(method).uri("/v1/mushrooms/abc");
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let response = router()
        .oneshot(request.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn under_an_axum_router_reads_get_304_and_412() {
    let (status, headers, body) = call_router(Method::GET, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[ETAG], ETAG_VALUE);
    assert_eq!(headers[LAST_MODIFIED], LAST_MODIFIED_VALUE);
    assert_eq!(json(&body)["data"], stored());

    let (status, headers, body) = call_router(Method::GET, &[(IF_NONE_MATCH, ETAG_VALUE)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(headers[ETAG], ETAG_VALUE);
    assert!(headers.get(CONTENT_TYPE).is_none());
    assert!(body.is_empty());

    let (status, headers, _) = call_router(Method::HEAD, &[(IF_NONE_MATCH, ETAG_VALUE)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(headers[LAST_MODIFIED], LAST_MODIFIED_VALUE);

    let (status, _, body) = call_router(Method::GET, &[(IF_NONE_MATCH, "*")]).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(json(&body)["errno"], 114);

    let (status, _, body) = call_router(Method::GET, &[(IF_MATCH, "\"*\"")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["errno"], 107);
}

#[tokio::test]
async fn under_an_axum_router_writes_evaluate_with_the_extension() {
    let (status, headers, body) = call_router(Method::PUT, &[(IF_MATCH, "\"1\"")]).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(headers[ETAG], ETAG_VALUE);
    assert_eq!(headers[LAST_MODIFIED], LAST_MODIFIED_VALUE);
    assert_eq!(
        json(&body),
        json!({"code": 412, "errno": 114, "error": "Precondition Failed",
               "message": "Resource was modified meanwhile",
               "details": {"existing": stored()}})
    );

    let (status, _, body) = call_router(Method::PUT, &[(IF_NONE_MATCH, "*")]).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(json(&body)["details"]["existing"], stored());

    let (status, headers, _) = call_router(Method::PUT, &[(IF_MATCH, ETAG_VALUE)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[ETAG], "\"1795429011913\"");

    let (status, _, body) = call_router(Method::PUT, &[(IF_NONE_MATCH, "W/\"1\"")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["errno"], 107);
}
