//! The StatsD sink, read back from a real UDP socket on 127.0.0.1.

mod support;

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::UdpSocket;
use std::time::Duration;

use bytes::Bytes;
use cliquet_telemetry::{
    RequestContext, RequestMetricsLayer, StatsdRecorder, TelemetrySettings, Timer, build_metrics,
};
use http::{Request, Response};
use http_body_util::Full;
use support::run;
use tower::{ServiceBuilder, ServiceExt, service_fn};

type Body = Full<Bytes>;

fn server() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let url = format!("udp://{}", socket.local_addr().unwrap());
    (socket, url)
}

/// Reads `count` datagrams.
fn receive(socket: &UdpSocket, count: usize) -> Vec<String> {
    let mut buffer = [0; 2048];
    (0..count)
        .map(|_| {
            let (length, _) = socket.recv_from(&mut buffer).expect("a datagram");
            String::from_utf8(buffer[..length].to_vec()).unwrap()
        })
        .collect()
}

#[test]
fn kinto_mapping_of_keys_and_labels() {
    let (socket, url) = server();
    let recorder = StatsdRecorder::new(&url, "kinto").unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("cache_hits").increment(3);
        metrics::counter!("users", "auth" => "account", "userid" => "account:alice").increment(1);
        metrics::histogram!("backend.storage.seconds", "method" => "get_all").record(0.25);
        metrics::histogram!("plugins.history.seconds").record(1.5);
        metrics::histogram!("request_size", "method" => "get").record(120.0);
        metrics::gauge!("connections").set(4.0);
    });
    let lines = receive(&socket, 6);
    assert_eq!(
        lines,
        [
            "kinto.cache_hits:3|c",
            // A set of label values, `:` removed from them.
            "kinto.users:auth.account.userid.accountalice|s",
            // Timers: labels in the key, milliseconds.
            "kinto.backend.storage.seconds.method.get_all:250|ms",
            "kinto.plugins.history.seconds:1500|ms",
            // Observations: gauges, labels ignored.
            "kinto.request_size:120|g",
            "kinto.connections:4|g",
        ]
    );
}

#[test]
fn request_metrics_reach_statsd_through_the_layer() {
    let (socket, url) = server();
    let settings = TelemetrySettings {
        statsd_url: Some(url),
        metrics_matchdict_fields: vec!["bucket_id".to_owned()],
        ..TelemetrySettings::default()
    };
    // No project name: the StatsD prefix setting.
    let (recorder, _) = build_metrics(&settings).unwrap().unwrap();
    let service = ServiceBuilder::new()
        .layer(RequestMetricsLayer::new().matchdict_fields(&settings.metrics_matchdict_fields))
        .service(service_fn(|request: Request<Body>| async move {
            let context = request.extensions().get::<RequestContext>().unwrap();
            context.set_endpoint("bucket-object");
            context.set_field("bucket_id", "beers");
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
        }));
    let (response, _) = run(
        Some(&recorder),
        service.oneshot(
            Request::get("/v1/buckets/beers")
                .body(Body::default())
                .unwrap(),
        ),
    );
    response.unwrap();
    let lines: BTreeSet<String> = receive(&socket, 3)
        .into_iter()
        .map(|line| {
            // The duration varies: keep its key and type.
            match line.split_once(':') {
                Some((key, rest)) if rest.ends_with("|ms") => format!("{key}:_|ms"),
                _ => line,
            }
        })
        .collect();
    let expected: BTreeSet<String> = [
        "kinto.core.request_duration_seconds.method.get.endpoint.bucket-object.bucket_id.beers:_|ms",
        "kinto.core.request_size:2|g",
        "kinto.core.request_summary:method.get.endpoint.bucket-object.bucket_id.beers.status.200|s",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(lines, expected);
}

#[test]
fn both_sinks_fan_out_and_disabled_metrics_reach_neither() {
    let (socket, url) = server();
    let settings = TelemetrySettings {
        statsd_url: Some(url),
        prometheus_enabled: true,
        prometheus_disabled_metrics: vec!["cache_misses".to_owned()],
        ..TelemetrySettings::kinto()
    };
    let (recorder, handle) = build_metrics(&settings).unwrap().unwrap();
    run(Some(&recorder), async {
        metrics::counter!("cache_misses").increment(1);
        Timer::backend("cache").time("get", async {}).await;
    });
    let lines = receive(&socket, 1);
    assert!(
        lines[0].starts_with("kinto.backend.cache.seconds.method.get:"),
        "{lines:?}"
    );
    let text = handle.render().unwrap();
    assert!(
        text.contains(r#"kinto_backend_cache_seconds_count{method="get"} 1"#),
        "{text}"
    );
    assert!(!text.contains("cache_misses"), "{text}");
    // Nothing else was sent.
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buffer = [0; 512];
    assert!(socket.recv_from(&mut buffer).is_err());
}

#[test]
fn bad_urls_are_refused_with_the_setting_name() {
    for url in [
        "localhost:8125",
        "udp://",
        "udp://no-such-host.invalid:8125",
    ] {
        let error = StatsdRecorder::new(url, "kinto").unwrap_err();
        assert!(error.to_string().contains("statsd_url"), "{url}: {error}");
    }
}
