//! Metrics: the prometheus plugin (`GET /__metrics__`) and the statsd
//! plugin, and the endpoint names the request metrics are labelled with.
//!
//! Kinto's metric keys are recorded by the toolkit's request metrics
//! layer (`request_summary`, `request_duration_seconds`, `request_size`,
//! `users`, `authentication`) through the `metrics` facade. The facade's
//! global recorder is one per process; this service does not install
//! one. Each assembled service builds its own recorder from its settings
//! ([`ServiceMetrics::from_settings`]) and runs every poll of its requests
//! with that recorder in scope ([`MetricsScope`]), so that tests and
//! several services in one process each count their own requests, and the
//! service needs nothing global to be set up before it. The recorder (its
//! sinks are not `Send` once type-erased) lives for the rest of the
//! process: a server assembles one service, a test process a few.
//!
//! - `kinto.plugins.prometheus` in `includes`: `/__metrics__` renders the
//!   text exposition; the `prometheus` capability announces
//!   `prometheus_prefix` (normalised, default `project_name`) and
//!   `prometheus_disabled_metrics`; `prometheus_histogram_buckets` sets the
//!   timer buckets.
//! - `kinto.plugins.statsd` in `includes` **and** `statsd_url` set: metrics
//!   are sent over UDP with Kinto's StatsD layout (see
//!   [`cliquet_telemetry::StatsdRecorder`]); no endpoint, no capability.
//!
//! Endpoint labels are Kinto's service names (`bucket-plural`,
//! `record-object`, `permissions-plural`, `hello`, `batch`,
//! `heartbeat`…); the URL fields of `metrics_matchdict_fields` (default
//! `bucket_id collection_id group_id record_id`) are labels too, the object
//! id being named `<resource>_id`. Subrequests of a batch are counted in
//! the batch.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use metrics::Recorder;
use std::task::{Context, Poll};
use std::time::Duration;

use cliquet_telemetry::{MetricsHandle, RequestContext, TelemetrySettings};
use http::Request;
use pin_project_lite::pin_project;
use serde_json::Value;
use tower::{Layer, Service};

use crate::Settings;
use crate::plugins::Plugins;

/// How often recent histogram samples are folded into their buckets when
/// nobody scrapes `/__metrics__`.
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// Kinto's default `metrics_matchdict_fields`.
pub const MATCHDICT_FIELDS: &str = "bucket_id collection_id group_id record_id";

/// The metrics of one assembled service.
#[derive(Clone)]
pub struct ServiceMetrics {
    recorder: &'static (dyn Recorder + Sync),
    alive: Arc<()>,
    handle: MetricsHandle,
    telemetry: TelemetrySettings,
}

impl std::fmt::Debug for ServiceMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceMetrics")
            .field("prometheus", &self.handle.prometheus().is_some())
            .finish_non_exhaustive()
    }
}

/// The telemetry settings of the metrics plugins.
pub fn telemetry_settings(settings: &Settings, plugins: &Plugins) -> TelemetrySettings {
    let core = &settings.core;
    let extra = &settings.extra;
    let mut telemetry = TelemetrySettings {
        project_name: core.project_name.clone(),
        prometheus_enabled: plugins.prometheus,
        prometheus_prefix: extra.prometheus_prefix.clone(),
        prometheus_disabled_metrics: extra.prometheus_disabled_metrics.clone(),
        metrics_matchdict_fields: core.metrics_matchdict_fields.clone(),
        statsd_url: core
            .statsd_url
            .clone()
            .filter(|url| plugins.statsd && !url.trim().is_empty()),
        ..TelemetrySettings::kinto()
    };
    if let Some(prefix) = &core.statsd_prefix {
        telemetry.statsd_prefix = prefix.clone();
    }
    if !extra.prometheus_histogram_buckets.is_empty() {
        telemetry.prometheus_histogram_buckets = extra
            .prometheus_histogram_buckets
            .iter()
            .filter_map(|bound| parse_bound(bound))
            .collect();
    }
    telemetry
}

/// A histogram bound as Kinto writes them (`0.5`, `Inf`, `+Inf`).
fn parse_bound(text: &str) -> Option<f64> {
    match text
        .trim()
        .trim_start_matches('+')
        .to_ascii_lowercase()
        .as_str()
    {
        "inf" | "infinity" => Some(f64::INFINITY),
        other => other.parse().ok(),
    }
}

impl ServiceMetrics {
    /// The recorder the settings ask for, `None` when neither metrics
    /// plugin is on (or statsd is included without `statsd_url`).
    pub fn from_settings(
        settings: &Settings,
        plugins: &Plugins,
    ) -> Result<Option<Self>, cliquet::InitError> {
        let telemetry = telemetry_settings(settings, plugins);
        let built = cliquet_telemetry::build_metrics(&telemetry)
            .map_err(|error| cliquet::InitError::new(error.to_string()))?;
        let Some((recorder, handle)) = built else {
            return Ok(None);
        };
        let recorder: &'static (dyn Recorder + Sync) = Box::leak::<'static>(recorder);
        let metrics = Self {
            recorder,
            alive: Arc::new(()),
            handle,
            telemetry,
        };
        metrics.spawn_upkeep();
        Ok(Some(metrics))
    }

    /// Folds histogram samples every few seconds while the service lives.
    fn spawn_upkeep(&self) {
        if self.handle.prometheus().is_none() {
            return;
        }
        let alive: Weak<()> = Arc::downgrade(&self.alive);
        let handle = self.handle.clone();
        // Without a thread the samples are folded at each scrape only.
        let _ = std::thread::Builder::new()
            .name("prometheus-upkeep".to_owned())
            .spawn(move || {
                while alive.strong_count() > 0 {
                    std::thread::sleep(UPKEEP_PERIOD);
                    handle.run_upkeep();
                }
            });
    }

    /// The Prometheus handle (`None` for StatsD only).
    pub fn handle(&self) -> &MetricsHandle {
        &self.handle
    }

    /// The `GET /__metrics__` route, when the prometheus plugin is on (to
    /// nest under the version prefix).
    ///
    /// The exposition is the exporter's without its blank lines (a blank
    /// line separates metric families there; Kinto's output has none, and
    /// its functional tests want every line unique).
    pub fn router(&self) -> Option<axum::Router> {
        self.handle.prometheus()?;
        let handle = self.handle.clone();
        let render = move |request: axum::extract::Request| {
            let handle = handle.clone();
            async move { exposition(&handle, request.method()) }
        };
        Some(axum::Router::new().route(
            "/__metrics__",
            axum::routing::get(render).fallback(|| async {
                cliquet_errors::ApiError::method_not_allowed().into_response::<axum::body::Body>()
            }),
        ))
    }

    /// The `prometheus` capability, when the plugin is on.
    pub fn capability(&self) -> Option<Value> {
        self.telemetry
            .prometheus_enabled
            .then(|| self.telemetry.prometheus_capability())
    }

    /// The layer that puts this recorder in scope for every request.
    pub fn scope(&self) -> MetricsScope {
        MetricsScope {
            recorder: self.recorder,
            alive: self.alive.clone(),
        }
    }
}

/// Runs every poll of the inner service's calls (and the calls
/// themselves) with one recorder as the current `metrics` recorder.
#[derive(Clone)]
pub struct MetricsScope {
    recorder: &'static (dyn Recorder + Sync),
    alive: Arc<()>,
}

impl std::fmt::Debug for MetricsScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsScope").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for MetricsScope {
    type Service = Scoped<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Scoped {
            inner,
            recorder: self.recorder,
            _alive: self.alive.clone(),
        }
    }
}

/// The service of [`MetricsScope`].
#[derive(Clone)]
pub struct Scoped<S> {
    inner: S,
    recorder: &'static (dyn Recorder + Sync),
    _alive: Arc<()>,
}

impl<S, B> Service<Request<B>> for Scoped<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ScopedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let recorder = self.recorder;
        let inner = metrics::with_local_recorder(recorder, || self.inner.call(request));
        ScopedFuture { inner, recorder }
    }
}

pin_project! {
    /// The response future of [`Scoped`].
    pub struct ScopedFuture<F> {
        #[pin]
        inner: F,
        recorder: &'static (dyn Recorder + Sync),
    }
}

impl<F: Future> Future for ScopedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let recorder: &'static (dyn Recorder + Sync) = *this.recorder;
        let inner = this.inner;
        metrics::with_local_recorder(recorder, || inner.poll(cx))
    }
}

fn exposition(handle: &MetricsHandle, method: &http::Method) -> http::Response<axum::body::Body> {
    let text = handle.render().unwrap_or_default();
    let mut lines = String::with_capacity(text.len());
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        lines.push_str(line);
        lines.push('\n');
    }
    let length = http::HeaderValue::from(lines.len());
    let body = if method == http::Method::HEAD {
        axum::body::Body::empty()
    } else {
        axum::body::Body::from(lines)
    };
    let mut response = http::Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(cliquet_telemetry::PROMETHEUS_CONTENT_TYPE),
    );
    headers.insert(http::header::CONTENT_LENGTH, length);
    response
}

/// Kinto's service name and URL fields of a path under the version
/// prefix (`/buckets/b/collections/c` → `collection-object`,
/// `[bucket_id = b, collection_id = c]`), `None` for a path no endpoint
/// of this service serves.
pub fn endpoint_of(path: &str) -> Option<(&'static str, Vec<(&'static str, String)>)> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let segments: Vec<&str> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    };
    let own = |s: &str| s.to_owned();
    let named = match segments.as_slice() {
        [] => ("hello", Vec::new()),
        ["batch"] => ("batch", Vec::new()),
        ["__heartbeat__"] => ("heartbeat", Vec::new()),
        ["__lbheartbeat__"] => ("lbheartbeat", Vec::new()),
        ["__version__"] => ("version", Vec::new()),
        ["__api__"] => ("openapi", Vec::new()),
        ["__metrics__"] => ("prometheus_metrics", Vec::new()),
        ["__user_data__", _] => ("user-data", Vec::new()),
        ["permissions"] => ("permissions-plural", Vec::new()),
        ["buckets"] => ("bucket-plural", Vec::new()),
        ["buckets", b] => ("bucket-object", vec![("bucket_id", own(b))]),
        ["buckets", b, "collections"] => ("collection-plural", vec![("bucket_id", own(b))]),
        ["buckets", b, "collections", c] => (
            "collection-object",
            vec![("bucket_id", own(b)), ("collection_id", own(c))],
        ),
        ["buckets", b, "groups"] => ("group-plural", vec![("bucket_id", own(b))]),
        ["buckets", b, "groups", g] => (
            "group-object",
            vec![("bucket_id", own(b)), ("group_id", own(g))],
        ),
        ["buckets", b, "collections", c, "records"] => (
            "record-plural",
            vec![("bucket_id", own(b)), ("collection_id", own(c))],
        ),
        ["buckets", b, "collections", c, "records", r] => (
            "record-object",
            vec![
                ("bucket_id", own(b)),
                ("collection_id", own(c)),
                ("record_id", own(r)),
            ],
        ),
        _ => return None,
    };
    Some(named)
}

/// Names the endpoint of a request in its [`RequestContext`], for the
/// request metrics and the request log. Requests outside the version
/// prefix (redirects) and batch subrequests are left alone.
pub fn name_endpoint(prefix: &str, parts: &http::request::Parts, context: &RequestContext) {
    if parts
        .extensions
        .get::<cliquet_batch::Subrequest>()
        .is_some()
    {
        return;
    }
    let Some(path) = parts.uri.path().strip_prefix(prefix) else {
        return;
    };
    if !(path.is_empty() || path.starts_with('/')) {
        return;
    }
    if let Some((endpoint, fields)) = endpoint_of(path) {
        context.set_endpoint(endpoint);
        context.set_fields(fields);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_kintos_service_names() {
        assert_eq!(endpoint_of("/").unwrap().0, "hello");
        assert_eq!(endpoint_of("").unwrap().0, "hello");
        let (name, fields) = endpoint_of("/buckets/b/collections/c/records/r").unwrap();
        assert_eq!(name, "record-object");
        assert_eq!(
            fields,
            [
                ("bucket_id", "b".to_owned()),
                ("collection_id", "c".to_owned()),
                ("record_id", "r".to_owned())
            ]
        );
        assert_eq!(endpoint_of("/buckets/b/groups").unwrap().0, "group-plural");
        assert_eq!(endpoint_of("/__metrics__").unwrap().0, "prometheus_metrics");
        assert!(endpoint_of("/nothing/here").is_none());
    }

    #[test]
    fn settings_reach_the_telemetry_settings() {
        let env = [
            (
                "KINTO_INCLUDES",
                "kinto.plugins.prometheus kinto.plugins.statsd",
            ),
            ("KINTO_PROMETHEUS_HISTOGRAM_BUCKETS", "0.1 0.5 Inf"),
            ("KINTO_PROMETHEUS_PREFIX", "my-app"),
            ("KINTO_STATSD_URL", "udp://127.0.0.1:8125"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let settings = crate::settings(None, env).unwrap();
        let telemetry = telemetry_settings(&settings, &Plugins::from_settings(&settings));
        assert!(telemetry.prometheus_enabled);
        assert_eq!(
            telemetry.prometheus_histogram_buckets,
            [0.1, 0.5, f64::INFINITY]
        );
        assert_eq!(telemetry.prometheus_prefix(), "myapp");
        assert_eq!(
            telemetry.statsd_url.as_deref(),
            Some("udp://127.0.0.1:8125")
        );
        assert_eq!(
            telemetry.metrics_matchdict_fields,
            ["bucket_id", "collection_id", "group_id", "record_id"]
        );

        let settings = crate::settings(
            None,
            [(
                "KINTO_STATSD_URL".to_owned(),
                "udp://127.0.0.1:8125".to_owned(),
            )],
        )
        .unwrap();
        let telemetry = telemetry_settings(&settings, &Plugins::from_settings(&settings));
        assert_eq!(telemetry.statsd_url, None, "statsd needs its plugin");
        assert!(!telemetry.prometheus_enabled);
    }

    #[test]
    fn histogram_bounds_read_kintos_infinity() {
        assert_eq!(parse_bound("Inf"), Some(f64::INFINITY));
        assert_eq!(parse_bound("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_bound("0.5"), Some(0.5));
        assert_eq!(parse_bound("x"), None);
    }
}
