//! The request summary log, under a bare `service_fn` and an axum `Router`.

mod support;

use std::convert::Infallible;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use bytes::Bytes;
use cliquet_errors::ApiError;
use cliquet_telemetry::{ContextLayer, RequestContext, RequestId, RequestLogLayer, X_REQUEST_ID};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use support::run;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tower::{ServiceBuilder, ServiceExt, service_fn};

type Body = Full<Bytes>;

async fn ok(request: Request<Body>) -> Result<Response<Body>, Infallible> {
    if let Some(context) = request.extensions().get::<RequestContext>()
        && request.headers().contains_key("authorization")
    {
        context.set_user("basicauth:abc", "basicauth");
    }
    Ok(Response::new(Full::new(Bytes::from("{}"))))
}

#[test]
fn logs_the_protocol_fields() {
    let service = ServiceBuilder::new()
        .layer(RequestLogLayer::new())
        .service(service_fn(ok));
    let request = Request::get("/v1/buckets?_limit=2&_sort=-x")
        .header("User-Agent", "kinto-http.py/11")
        .header("Accept-Language", "fr")
        .header("X-Request-Id", "abc-123")
        .header("Authorization", "Basic YTpi")
        .body(Body::default())
        .unwrap();
    let (response, capture) = run(None, service.oneshot(request));
    let response = response.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Kinto does not echo the request id unless asked.
    assert!(response.headers().get(X_REQUEST_ID).is_none());

    let summaries = capture.summaries();
    assert_eq!(summaries.len(), 1);
    let summary = &summaries[0];
    assert_eq!(summary.target, "request.summary");
    assert_eq!(summary.get("agent"), Some("kinto-http.py/11"));
    assert_eq!(summary.get("path"), Some("/v1/buckets"));
    assert_eq!(summary.get("method"), Some("GET"));
    assert_eq!(summary.get("lang"), Some("fr"));
    assert_eq!(summary.get("rid"), Some("abc-123"));
    assert_eq!(summary.get("errno"), Some("0"));
    assert_eq!(summary.get("code"), Some("200"));
    assert_eq!(summary.get("uid"), Some("basicauth:abc"));
    assert_eq!(summary.get("authn_type"), Some("basicauth"));
    assert_eq!(summary.get("querystring"), Some("_limit=2&_sort=-x"));
    // Inside the request's span, which carries the status once known.
    let (name, span) = summary.span.clone().expect("a request span");
    assert_eq!(name, "request");
    assert_eq!(span["http.request.method"], "GET");
    assert_eq!(span["url.path"], "/v1/buckets");
    assert_eq!(span["request_id"], "abc-123");
    assert_eq!(span["http.response.status_code"], "200");
    assert_eq!(span["otel.name"], "GET");
    let t: u64 = summary.get("t").unwrap().parse().unwrap();
    assert!(t < 60_000, "{t}");
    let time = OffsetDateTime::parse(summary.get("time").unwrap(), &Rfc3339).unwrap();
    assert!((OffsetDateTime::now_utc() - time).whole_minutes().abs() < 5);
}

#[test]
fn optional_fields_are_absent_and_the_id_is_generated() {
    let service = ServiceBuilder::new()
        .layer(RequestLogLayer::new().propagate_request_id(true))
        .service(service_fn(|request: Request<Body>| async move {
            let id = request.extensions().get::<RequestId>().cloned().unwrap();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(id.to_string()))))
        }));
    let request = Request::post("/v1/batch?").body(Body::default()).unwrap();
    let (response, capture) = run(None, service.oneshot(request));
    let response = response.unwrap();

    let summary = &capture.summaries()[0];
    for absent in ["agent", "lang", "uid", "authn_type", "querystring"] {
        assert_eq!(summary.get(absent), None, "{absent} in {summary:?}");
    }
    let rid = summary.get("rid").unwrap();
    assert_eq!(rid.len(), 36, "{rid}");
    assert_eq!(response.headers()[X_REQUEST_ID], rid);
}

#[test]
fn unusable_request_ids_are_replaced() {
    let service = ServiceBuilder::new()
        .layer(RequestLogLayer::new())
        .service(service_fn(ok));
    let request = Request::get("/v1/")
        .header("X-Request-Id", "x".repeat(500))
        .body(Body::default())
        .unwrap();
    let (_, capture) = run(None, service.oneshot(request));
    assert_eq!(capture.summaries()[0].get("rid").unwrap().len(), 36);
}

#[test]
fn errors_log_their_errno() {
    let service = ServiceBuilder::new()
        .layer(RequestLogLayer::new())
        .service(service_fn(|request: Request<Body>| async move {
            let response = match request.uri().path() {
                "/v1/missing" => ApiError::object_not_found("abc", "record").into_response(),
                // A plain response without an errno: the status's errno.
                _ => {
                    let mut response = Response::new(Body::default());
                    *response.status_mut() = StatusCode::FORBIDDEN;
                    response
                }
            };
            Ok::<_, Infallible>(response)
        }));
    let call = |path: &'static str| {
        let service = service.clone();
        async move {
            service
                .oneshot(Request::delete(path).body(Body::default()).unwrap())
                .await
        }
    };
    let (_, capture) = run(None, async {
        call("/v1/missing").await.unwrap();
        call("/v1/forbidden").await.unwrap();
    });
    let summaries = capture.summaries();
    assert_eq!(summaries[0].get("code"), Some("404"));
    // The errno in the response's extensions (110), not the status's (111).
    assert_eq!(summaries[0].get("errno"), Some("110"));
    assert_eq!(summaries[1].get("code"), Some("403"));
    assert_eq!(summaries[1].get("errno"), Some("121"));
}

#[test]
fn a_failing_inner_service_logs_a_500() {
    let service = ServiceBuilder::new()
        .layer(RequestLogLayer::new())
        .service(service_fn(|_: Request<Body>| async {
            Err::<Response<Body>, _>("database on fire")
        }));
    let (result, capture) = run(None, service.oneshot(Request::new(Body::default())));
    assert!(result.is_err());
    let summary = &capture.summaries()[0];
    assert_eq!(summary.get("code"), Some("500"));
    assert_eq!(summary.get("errno"), Some("999"));
}

/// What a batch layer puts in its subrequests.
#[derive(Clone)]
struct Subrequest;

#[test]
fn subrequests_log_under_their_own_target_with_their_own_context() {
    let inner = service_fn(|request: Request<Body>| async move {
        let context = request
            .extensions()
            .get::<RequestContext>()
            .unwrap()
            .clone();
        if request.uri().path() == "/v1/batch" {
            context.set_user("account:outer", "account");
        }
        Ok::<_, Infallible>(Response::new(Body::default()))
    });
    let service = ServiceBuilder::new()
        .layer(RequestLogLayer::new().subrequest_marker::<Subrequest>())
        .service(inner);

    let (_, capture) = run(None, async {
        // The batch request, seen by the layer first...
        let mut batch = Request::post("/v1/batch")
            .header("X-Request-Id", "batch-1")
            .body(Body::default())
            .unwrap();
        let copied = {
            let service = service.clone();
            // ...whose extensions a batch layer copies into subrequests.
            let context = RequestContext::new();
            batch.extensions_mut().insert(context.clone());
            service.oneshot(batch).await.unwrap();
            context
        };
        let mut sub = Request::get("/v1/buckets/a").body(Body::default()).unwrap();
        sub.extensions_mut().insert(copied);
        sub.extensions_mut().insert(RequestId::generate());
        sub.extensions_mut().insert(Subrequest);
        service.clone().oneshot(sub).await.unwrap();
    });
    let summaries = capture.summaries();
    assert_eq!(summaries.len(), 2);
    assert_eq!(summaries[0].target, "request.summary");
    assert_eq!(summaries[0].get("uid"), Some("account:outer"));
    assert_eq!(summaries[1].target, "subrequest.summary");
    assert_eq!(summaries[1].get("path"), Some("/v1/buckets/a"));
    // Not the batch request's user: a fresh context.
    assert_eq!(summaries[1].get("uid"), None);
}

#[test]
fn under_an_axum_router_with_a_context_layer() {
    #[derive(Clone)]
    struct Identity(&'static str);

    let app = Router::new()
        .route(
            "/v1/buckets/{bucket_id}",
            get(|Path(bucket_id): Path<String>| async move { bucket_id }),
        )
        .route_layer(ContextLayer::new(
            |parts: &http::request::Parts, context: &RequestContext| {
                if let Some(Identity(user)) = parts.extensions.get::<Identity>() {
                    context.set_user(*user, "account");
                }
            },
        ))
        // An authentication layer, inside the log layer.
        .layer(axum::middleware::map_request(
            |mut request: Request<axum::body::Body>| async move {
                request.extensions_mut().insert(Identity("account:alice"));
                request
            },
        ))
        .layer(RequestLogLayer::new());

    let (_, capture) = run(None, async {
        let response = app
            .clone()
            .oneshot(
                Request::get("/v1/buckets/beers")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let response = app
            .oneshot(
                Request::get("/v1/nowhere")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    });
    let summaries = capture.summaries();
    assert_eq!(summaries.len(), 2);
    assert_eq!(summaries[0].get("uid"), Some("account:alice"));
    assert_eq!(summaries[0].get("authn_type"), Some("account"));
    assert_eq!(summaries[0].get("code"), Some("200"));
    // The route layer does not run for unmatched routes.
    assert_eq!(summaries[1].get("uid"), None);
    assert_eq!(summaries[1].get("code"), Some("404"));
    assert_eq!(summaries[1].get("errno"), Some("111"));
}

#[test]
fn context_layer_under_a_bare_service() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Clone)]
    struct Identity(&'static str);

    let calls = Arc::new(AtomicUsize::new(0));
    let fill = {
        let calls = calls.clone();
        ContextLayer::new(
            move |parts: &http::request::Parts, context: &RequestContext| {
                calls.fetch_add(1, Ordering::SeqCst);
                if let Some(Identity(user)) = parts.extensions.get::<Identity>() {
                    context.set_user(*user, "basicauth");
                }
            },
        )
    };
    let authenticated = ServiceBuilder::new()
        .layer(RequestLogLayer::new())
        .map_request(|mut request: Request<Body>| {
            request.extensions_mut().insert(Identity("basicauth:0f"));
            request
        })
        .layer(fill.clone())
        .service(service_fn(ok));
    let (_, capture) = run(None, authenticated.oneshot(Request::new(Body::default())));
    assert_eq!(capture.summaries()[0].get("uid"), Some("basicauth:0f"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Without the telemetry layers there is no context to fill.
    let alone = ServiceBuilder::new().layer(fill).service(service_fn(ok));
    let (response, _) = run(None, alone.oneshot(Request::new(Body::default())));
    assert_eq!(response.unwrap().status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
