//! The request metrics rendered by a real Prometheus recorder, under a bare
//! `service_fn` and an axum `Router`, and the `/__metrics__` endpoint.

mod support;

use std::collections::HashMap;
use std::convert::Infallible;

use axum::Router;
use axum::extract::{MatchedPath, Path};
use axum::routing::{get, put};
use bytes::Bytes;
use cliquet_telemetry::{
    ContextLayer, MetricsHandle, PROMETHEUS_CONTENT_TYPE, RequestContext, RequestLogLayer,
    RequestMetricsLayer, TelemetrySettings, Timer, build_metrics,
};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use support::{assert_unique, run, samples};
use tower::{ServiceBuilder, ServiceExt, service_fn};

type Body = Full<Bytes>;

fn prometheus(settings: TelemetrySettings) -> (cliquet_telemetry::BoxedRecorder, MetricsHandle) {
    build_metrics(&TelemetrySettings {
        prometheus_enabled: true,
        ..settings
    })
    .unwrap()
    .expect("a recorder")
}

/// A service that answers `status` for `/status/<code>`, names the
/// endpoint `record-object` and reports the URL fields.
async fn records(request: Request<Body>) -> Result<Response<Body>, Infallible> {
    let context = request.extensions().get::<RequestContext>().unwrap();
    let path = request.uri().path().to_owned();
    let status: u16 = path.rsplit('/').next().unwrap().parse().unwrap_or(200);
    if !path.starts_with("/anonymous") {
        context.set_endpoint("record-object");
        context.set_fields([("bucket_id", "beers"), ("collection_id", "barley")]);
        context.set_field("record_id", "abc");
        context.set_user("account:alice", "account");
    }
    let mut response = Response::new(Full::new(Bytes::from_static(b"0123456789")));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    Ok(response)
}

fn layered()
-> impl tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future = impl Send>
+ Clone {
    ServiceBuilder::new()
        .layer(RequestLogLayer::new())
        .layer(
            RequestMetricsLayer::new()
                .matchdict_fields(TelemetrySettings::kinto().metrics_matchdict_fields),
        )
        .service(service_fn(records))
}

fn get_all<S>(service: S, paths: &[&'static str]) -> impl Future<Output = ()>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    let paths = paths.to_vec();
    async move {
        for path in paths {
            service
                .clone()
                .oneshot(Request::put(path).body(Body::default()).unwrap())
                .await
                .unwrap();
        }
    }
}

#[test]
fn request_metrics_render_with_the_protocol_labels() {
    let (recorder, handle) = prometheus(TelemetrySettings::kinto());
    run(
        Some(&recorder),
        get_all(layered(), &["/records/201", "/records/201", "/records/200"]),
    );
    let text = handle.render().unwrap();
    let lines = samples(&text);
    assert!(
        lines.contains(
            &r#"kinto_request_summary_total{method="put",endpoint="record-object",bucket_id="beers",collection_id="barley",group_id="",record_id="abc",status="201"} 2"#
        ),
        "{text}"
    );
    assert!(
        lines.contains(
            &r#"kinto_request_summary_total{method="put",endpoint="record-object",bucket_id="beers",collection_id="barley",group_id="",record_id="abc",status="200"} 1"#
        ),
        "{text}"
    );
    // Timers are histograms with the settings' buckets (+Inf implied).
    let labels = r#"method="put",endpoint="record-object",bucket_id="beers",collection_id="barley",group_id="",record_id="abc""#;
    for bound in ["0.01", "0.05", "0.1", "0.5", "1", "3", "6", "+Inf"] {
        let prefix = format!(r#"kinto_request_duration_seconds_bucket{{{labels},le="{bound}"}} "#);
        assert!(
            lines.iter().any(|line| line.starts_with(&prefix)),
            "{prefix} in {text}"
        );
    }
    assert!(
        lines.contains(&format!("kinto_request_duration_seconds_count{{{labels}}} 3").as_str()),
        "{text}"
    );
    // The body size is a summary: its sum is 3 × 10 bytes.
    assert!(
        lines.contains(&format!("kinto_request_size_sum{{{labels}}} 30").as_str()),
        "{text}"
    );
    assert!(
        lines.contains(&format!("kinto_request_size_count{{{labels}}} 3").as_str()),
        "{text}"
    );
    assert!(
        lines.contains(&r#"kinto_users_total{auth="account",userid="account.alice"} 3"#),
        "{text}"
    );
    assert!(
        lines.contains(&r#"kinto_authentication_total{type="account"} 3"#),
        "{text}"
    );
    assert!(!text.contains("_created"), "{text}");
    assert_unique(&text);
}

#[test]
fn error_responses_blank_the_matchdict_labels() {
    let (recorder, handle) = prometheus(TelemetrySettings::kinto());
    run(
        Some(&recorder),
        get_all(
            layered(),
            &[
                "/records/403",
                "/records/412",
                "/anonymous/404",
                "/anonymous/204",
            ],
        ),
    );
    let text = handle.render().unwrap();
    let lines = samples(&text);
    for status in ["403", "412"] {
        let line = format!(
            r#"kinto_request_summary_total{{method="put",endpoint="record-object",bucket_id="",collection_id="",group_id="",record_id="",status="{status}"}} 1"#
        );
        assert!(lines.contains(&line.as_str()), "{line} in {text}");
    }
    // No endpoint name: `unknown` for a 404, `unnamed` otherwise.
    assert!(
        lines.contains(
            &r#"kinto_request_summary_total{method="put",endpoint="unknown",bucket_id="",collection_id="",group_id="",record_id="",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(
        lines.contains(
            &r#"kinto_request_summary_total{method="put",endpoint="unnamed",bucket_id="",collection_id="",group_id="",record_id="",status="204"} 1"#
        ),
        "{text}"
    );
    assert!(!text.contains(r#"bucket_id="beers""#), "{text}");
    assert_unique(&text);
}

#[test]
fn prefix_is_normalised_and_disabled_metrics_are_dropped() {
    let settings = TelemetrySettings {
        project_name: "Remote-Settings".to_owned(),
        prometheus_disabled_metrics: vec!["users".to_owned(), "request_size".to_owned()],
        prometheus_histogram_buckets: vec![0.25, f64::INFINITY],
        ..TelemetrySettings::default()
    };
    let (recorder, handle) = prometheus(settings);
    run(Some(&recorder), get_all(layered(), &["/records/200"]));
    let text = handle.render().unwrap();
    assert!(
        text.contains("remotesettings_request_summary_total{"),
        "{text}"
    );
    assert!(text.contains(r#"remotesettings_request_duration_seconds_bucket{method="put",endpoint="record-object",bucket_id="beers",collection_id="barley",group_id="",record_id="abc",le="0.25"} 1"#), "{text}");
    assert!(!text.contains(r#"le="0.5""#), "{text}");
    assert!(!text.contains("users"), "{text}");
    assert!(!text.contains("request_size"), "{text}");
    assert!(
        text.contains("remotesettings_authentication_total"),
        "{text}"
    );
    assert_eq!(handle.prometheus_prefix(), "remotesettings");

    // An empty prefix: no prefix at all.
    let (recorder, handle) = prometheus(TelemetrySettings {
        prometheus_prefix: Some(String::new()),
        ..TelemetrySettings::kinto()
    });
    run(Some(&recorder), get_all(layered(), &["/records/200"]));
    let text = handle.render().unwrap();
    assert!(
        samples(&text)
            .iter()
            .any(|line| line.starts_with("request_summary_total{")),
        "{text}"
    );
}

#[test]
fn backend_timers_are_histograms_with_dots_made_underscores() {
    let (recorder, handle) = prometheus(TelemetrySettings::kinto());
    run(Some(&recorder), async {
        let storage = Timer::backend("Storage");
        assert_eq!(storage.key(), "backend.storage.seconds");
        storage.time("get_all", async {}).await;
        storage.time("get_all", async {}).await;
        Timer::authentication("account")
            .time("authenticate", async {})
            .await;
    });
    let text = handle.render().unwrap();
    assert!(
        samples(&text).contains(&r#"kinto_backend_storage_seconds_count{method="get_all"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"kinto_backend_storage_seconds_bucket{method="get_all",le="0.01"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"kinto_authentication_account_seconds_count{method="authenticate"} 1"#),
        "{text}"
    );
    assert_unique(&text);
}

#[test]
fn no_sink_configured_builds_no_recorder() {
    assert!(
        build_metrics(&TelemetrySettings::kinto())
            .unwrap()
            .is_none()
    );
    let Err(bad) = build_metrics(&TelemetrySettings {
        statsd_url: Some("tcp://localhost:8125".to_owned()),
        ..TelemetrySettings::kinto()
    }) else {
        panic!("a TCP StatsD URL was accepted");
    };
    assert!(bad.to_string().contains("statsd_url"), "{bad}");
}

#[test]
fn metrics_endpoint_serves_the_text_format() {
    let (recorder, handle) = prometheus(TelemetrySettings::kinto());
    let endpoint = handle.service().unwrap();
    let ((get, post), _) = run(Some(&recorder), async {
        get_all(layered(), &["/records/201"]).await;
        let get = endpoint
            .clone()
            .oneshot(Request::get("/__metrics__").body(Body::default()).unwrap())
            .await
            .unwrap();
        let post = endpoint
            .clone()
            .oneshot(Request::post("/__metrics__").body(Body::default()).unwrap())
            .await
            .unwrap();
        (get, post)
    });
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(get.headers()[CONTENT_TYPE], PROMETHEUS_CONTENT_TYPE);
    let length: usize = get.headers()[CONTENT_LENGTH]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = futures_body(get);
    assert_eq!(body.len(), length);
    assert!(body.contains("kinto_request_summary_total{"), "{body}");
    assert_unique(&body);
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    let error: serde_json::Value = serde_json::from_str(&futures_body(post)).unwrap();
    assert_eq!(error["errno"], 115);
}

fn futures_body(response: Response<Body>) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bytes = runtime
        .block_on(response.into_body().collect())
        .unwrap()
        .to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn under_an_axum_router_with_route_names_and_path_fields() {
    let (recorder, handle) = prometheus(TelemetrySettings::kinto());
    let endpoint = handle.service().unwrap();

    // The application names its routes; the fields come from the path.
    let name_route = |parts: &http::request::Parts, context: &RequestContext| {
        let Some(path) = parts.extensions.get::<MatchedPath>() else {
            return;
        };
        let name = match path.as_str() {
            "/v1/buckets/{bucket_id}/collections/{collection_id}" => "collection-object",
            "/__metrics__" => "prometheus_metrics",
            _ => return,
        };
        context.set_endpoint(name);
    };
    let app = Router::new()
        .route(
            "/v1/buckets/{bucket_id}/collections/{collection_id}",
            put(
                |Path(fields): Path<HashMap<String, String>>,
                 axum::Extension(context): axum::Extension<RequestContext>| async move {
                    context.set_fields(fields);
                    (StatusCode::CREATED, "{}")
                },
            ),
        )
        .route("/v1/forbidden", get(|| async { StatusCode::FORBIDDEN }))
        .route_service("/__metrics__", endpoint)
        .route_layer(ContextLayer::new(name_route))
        .layer(
            ServiceBuilder::new().layer(RequestLogLayer::new()).layer(
                RequestMetricsLayer::new()
                    .matchdict_fields(TelemetrySettings::kinto().metrics_matchdict_fields),
            ),
        );

    let (body, capture) = run(Some(&recorder), async {
        for (method, path) in [
            ("PUT", "/v1/buckets/beers/collections/barley"),
            ("GET", "/v1/forbidden"),
            ("GET", "/v1/nowhere"),
        ] {
            let request = Request::builder()
                .method(method)
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap();
            app.clone().oneshot(request).await.unwrap();
        }
        let response = app
            .clone()
            .oneshot(
                Request::get("/__metrics__")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.headers()[CONTENT_TYPE], PROMETHEUS_CONTENT_TYPE);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    });
    let lines = samples(&body);
    assert!(
        lines.contains(
            &r#"kinto_request_summary_total{method="put",endpoint="collection-object",bucket_id="beers",collection_id="barley",group_id="",record_id="",status="201"} 1"#
        ),
        "{body}"
    );
    assert!(
        lines.contains(
            &r#"kinto_request_summary_total{method="get",endpoint="unnamed",bucket_id="",collection_id="",group_id="",record_id="",status="403"} 1"#
        ),
        "{body}"
    );
    assert!(
        lines.contains(
            &r#"kinto_request_summary_total{method="get",endpoint="unknown",bucket_id="",collection_id="",group_id="",record_id="",status="404"} 1"#
        ),
        "{body}"
    );
    assert_unique(&body);
    // The scrape itself is counted once its response is ready.
    let text = handle.render().unwrap();
    assert!(text.contains(r#"endpoint="prometheus_metrics""#), "{text}");
    let summaries = capture.summaries();
    assert_eq!(summaries.len(), 4);
    // The span is named after the endpoint once the application named it.
    let (_, span) = summaries[0].span.clone().unwrap();
    assert_eq!(span["otel.name"], "PUT collection-object");
    assert_eq!(span["http.response.status_code"], "201");
}
