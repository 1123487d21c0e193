//! Building the metrics recorder from [`TelemetrySettings`]: Prometheus,
//! StatsD, both, or none; and the `/__metrics__` endpoint.

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use cliquet_errors::ApiError;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response};
use http_body_util::Full;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::layers::FanoutBuilder;
use tower_service::Service;

use crate::statsd::StatsdRecorder;
use crate::{TelemetryError, TelemetrySettings};

/// The Prometheus text exposition format's content type.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A recorder built from settings, to install globally
/// ([`install_metrics`](crate::install_metrics)) or to use locally
/// (`metrics::with_local_recorder`).
pub type BoxedRecorder = Box<dyn Recorder + Sync>;

/// What stays reachable of the recorder once it is installed: the
/// Prometheus handle that renders `/__metrics__`.
#[derive(Debug, Clone, Default)]
pub struct MetricsHandle {
    prometheus: Option<PrometheusHandle>,
    prefix: String,
}

impl MetricsHandle {
    /// The Prometheus handle, when Prometheus is enabled.
    pub fn prometheus(&self) -> Option<&PrometheusHandle> {
        self.prometheus.as_ref()
    }

    /// The normalised Prometheus prefix (`kinto`), for the capability
    /// (`"prefix": "kinto_"`).
    pub fn prometheus_prefix(&self) -> &str {
        &self.prefix
    }

    /// The text exposition of every metric, `None` without Prometheus.
    pub fn render(&self) -> Option<String> {
        self.prometheus.as_ref().map(PrometheusHandle::render)
    }

    /// Drains recent histogram samples into their buckets and summaries.
    /// Rendering does it too; [`install_metrics`] also runs it every five
    /// seconds on a thread of its own, so that an unscraped server does
    /// not grow. Call it periodically for a recorder from [`build_metrics`].
    pub fn run_upkeep(&self) {
        if let Some(prometheus) = &self.prometheus {
            prometheus.run_upkeep();
        }
    }

    /// The `GET /__metrics__` endpoint, when Prometheus is enabled.
    pub fn service(&self) -> Option<MetricsService> {
        self.prometheus.clone().map(MetricsService::new)
    }
}

/// Builds the recorder the settings ask for:
///
/// - Prometheus when `prometheus_enabled`: counters get `_total`, timers
///   (histograms whose key ends in `seconds`) get the
///   `prometheus_histogram_buckets`, other histograms (`request_size`)
///   are summaries; names are `<prefix>_<key>` with `-`, `.` and spaces
///   made `_`. The exporter writes no `_created` series, whatever
///   `prometheus_created_metrics_enabled` says; it writes quantiles in
///   summaries, which Kinto's do not have.
/// - StatsD when `statsd_url` is set (see [`StatsdRecorder`]).
/// - Both through a fan-out when both are configured; `None` when neither
///   is (the facade's no-op recorder then stays in place).
///
/// `prometheus_disabled_metrics` are dropped before any sink sees them.
pub fn build_metrics(
    settings: &TelemetrySettings,
) -> Result<Option<(BoxedRecorder, MetricsHandle)>, TelemetryError> {
    let mut handle = MetricsHandle::default();
    let disabled: Arc<HashSet<String>> = Arc::new(
        settings
            .prometheus_disabled_metrics
            .iter()
            .cloned()
            .collect(),
    );
    let mut sinks: Vec<BoxedRecorder> = Vec::new();

    if settings.prometheus_enabled {
        let buckets: Vec<f64> = settings
            .prometheus_histogram_buckets
            .iter()
            .copied()
            .filter(|bound| bound.is_finite())
            .collect();
        let mut builder = PrometheusBuilder::new().with_recommended_naming(true);
        if !buckets.is_empty() {
            builder = builder
                .set_buckets_for_metric(Matcher::Suffix("seconds".to_owned()), &buckets)
                .map_err(|error| TelemetryError::Settings {
                    setting: "prometheus_histogram_buckets",
                    reason: error.to_string(),
                })?;
        }
        let recorder = builder.build_recorder();
        handle.prometheus = Some(recorder.handle());
        handle.prefix = settings.prometheus_prefix();
        sinks.push(Box::new(Renamed {
            inner: recorder,
            prefix: handle.prefix.clone(),
            disabled: disabled.clone(),
        }));
    }

    if let Some(url) = settings.statsd_url.as_deref().filter(|url| !url.is_empty()) {
        let recorder = StatsdRecorder::new(url, settings.statsd_prefix())?;
        sinks.push(Box::new(Renamed {
            inner: recorder,
            prefix: String::new(),
            disabled,
        }));
    }

    let recorder: BoxedRecorder = match sinks.len() {
        0 => return Ok(None),
        1 => sinks.remove(0),
        _ => Box::new(
            sinks
                .into_iter()
                .fold(FanoutBuilder::default(), FanoutBuilder::add_recorder)
                .build(),
        ),
    };
    Ok(Some((recorder, handle)))
}

/// Builds the recorder ([`build_metrics`]) and installs it as the global
/// one, with a thread running [`MetricsHandle::run_upkeep`] every five
/// seconds when Prometheus is on. Without sinks configured, installs
/// nothing.
pub fn install_metrics(settings: &TelemetrySettings) -> Result<MetricsHandle, TelemetryError> {
    let Some((recorder, handle)) = build_metrics(settings)? else {
        return Ok(MetricsHandle::default());
    };
    metrics::set_global_recorder(recorder)
        .map_err(|_| TelemetryError::AlreadyInstalled("metrics recorder"))?;
    if let Some(prometheus) = handle.prometheus.clone() {
        // The global recorder lives as long as the process; so does this.
        std::thread::Builder::new()
            .name("prometheus-upkeep".to_owned())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_PERIOD);
                    prometheus.run_upkeep();
                }
            })
            .map_err(|source| TelemetryError::Io {
                what: "starting the Prometheus upkeep thread",
                source,
            })?;
    }
    Ok(handle)
}

const UPKEEP_PERIOD: std::time::Duration = std::time::Duration::from_secs(5);

/// Prefixes names (Prometheus) and drops disabled metrics.
struct Renamed<R> {
    inner: R,
    prefix: String,
    disabled: Arc<HashSet<String>>,
}

impl<R> Renamed<R> {
    fn disabled(&self, name: &str) -> bool {
        self.disabled.contains(name)
    }

    fn name(&self, name: &str) -> String {
        let name: String = name
            .chars()
            .map(|c| if matches!(c, '-' | '.' | ' ') { '_' } else { c })
            .collect();
        if self.prefix.is_empty() {
            name
        } else {
            format!("{}_{name}", self.prefix)
        }
    }

    fn key(&self, key: &Key) -> Key {
        if self.prefix.is_empty() {
            return key.clone();
        }
        Key::from_parts(
            self.name(key.name()),
            key.labels().cloned().collect::<Vec<_>>(),
        )
    }
}

impl<R: Recorder> Recorder for Renamed<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if !self.disabled(key.as_str()) {
            let name = self.name(key.as_str());
            self.inner.describe_counter(name.into(), unit, description);
        }
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if !self.disabled(key.as_str()) {
            let name = self.name(key.as_str());
            self.inner.describe_gauge(name.into(), unit, description);
        }
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if !self.disabled(key.as_str()) {
            let name = self.name(key.as_str());
            self.inner
                .describe_histogram(name.into(), unit, description);
        }
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        if self.disabled(key.name()) {
            return Counter::noop();
        }
        self.inner.register_counter(&self.key(key), metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if self.disabled(key.name()) {
            return Gauge::noop();
        }
        self.inner.register_gauge(&self.key(key), metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        if self.disabled(key.name()) {
            return Histogram::noop();
        }
        self.inner.register_histogram(&self.key(key), metadata)
    }
}

/// The `GET /__metrics__` endpoint: the Prometheus text exposition with its
/// content type and length. Any other method gets the protocol's 405.
///
/// Route it at `/__metrics__` without authentication
/// (`Router::route_service("/__metrics__", handle.service().unwrap())`).
#[derive(Clone)]
pub struct MetricsService {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for MetricsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsService").finish_non_exhaustive()
    }
}

impl MetricsService {
    /// An endpoint rendering `handle`.
    pub fn new(handle: PrometheusHandle) -> Self {
        Self { handle }
    }

    /// The response to a `GET`.
    pub fn render(&self) -> Response<Full<Bytes>> {
        let body = Bytes::from(self.handle.render());
        let length = HeaderValue::from(body.len());
        let mut response = Response::new(Full::new(body));
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(PROMETHEUS_CONTENT_TYPE),
        );
        response.headers_mut().insert(CONTENT_LENGTH, length);
        response
    }
}

impl<B> Service<Request<B>> for MetricsService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let response = match *request.method() {
            Method::GET | Method::HEAD => {
                let mut response = self.render();
                if request.method() == Method::HEAD {
                    *response.body_mut() = Full::default();
                }
                response
            }
            _ => ApiError::method_not_allowed().into_response(),
        };
        ready(Ok(response))
    }
}
