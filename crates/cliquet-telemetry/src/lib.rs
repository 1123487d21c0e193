//! Telemetry for Cliquet / Kinto services: the request summary log,
//! the protocol's metrics (Prometheus, StatsD), OpenTelemetry traces and
//! Sentry.
//!
//! Per request, two tower layers:
//! - [`RequestLogLayer`] writes one `tracing` event per request, target
//!   `request.summary` (`subrequest.summary` in a batch), with the
//!   protocol's fields (`agent`, `path`, `method`, `lang`, `rid`, `errno`,
//!   `code`, `t`, `time`, `uid`, `authn_type`, `querystring`);
//! - [`RequestMetricsLayer`] records `request_summary`,
//!   `request_duration_seconds`, `request_size`, `users` and
//!   `authentication` through the [`metrics`] facade.
//!
//! Both read what only the application knows — the user, the endpoint
//! name, the URL fields — from a [`RequestContext`] they put in the
//! request's extensions, which the application fills (from a handler, a
//! middleware, or a [`ContextLayer`]). The errno comes from the response's
//! extensions, where `cliquet-errors` puts it. This crate depends on no
//! authentication or batch crate: the batch's subrequest marker type is
//! given to the layers with `subrequest_marker::<T>()`.
//!
//! At start-up, from [`TelemetrySettings`] (the protocol's setting names):
//! [`init_logging`] installs the `tracing` subscriber (MozLog JSON or text,
//! OTLP traces with feature `otlp`, Sentry with feature `sentry`),
//! [`build_metrics`] / [`install_metrics`] the metrics recorder
//! (Prometheus, [`StatsdRecorder`], or both), whose
//! [`MetricsHandle::service`] serves `GET /__metrics__`. [`init`] does
//! both and returns the [`TelemetryGuard`] that flushes traces and Sentry
//! when dropped. [`Timer`] times backend and policy calls.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use cliquet_telemetry::{
//!     RequestContext, RequestLogLayer, RequestMetricsLayer, TelemetrySettings, build_metrics,
//! };
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! let settings = TelemetrySettings {
//!     prometheus_enabled: true,
//!     ..TelemetrySettings::kinto()
//! };
//! let (recorder, handle) = build_metrics(&settings).unwrap().unwrap();
//!
//! let service = ServiceBuilder::new()
//!     .layer(RequestLogLayer::new())
//!     .layer(RequestMetricsLayer::new().matchdict_fields(&settings.metrics_matchdict_fields))
//!     .service(service_fn(|request: Request<Full<Bytes>>| async move {
//!         // The application names the endpoint and its URL fields.
//!         let context = request.extensions().get::<RequestContext>().unwrap();
//!         context.set_endpoint("bucket-object");
//!         context.set_field("bucket_id", "beers");
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("{}"))))
//!     }));
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! // A local recorder, for the example; a server calls `install_metrics`.
//! metrics::with_local_recorder(&recorder, || {
//!     runtime.block_on(async {
//!         let request = Request::get("/v1/buckets/beers").body(Full::default()).unwrap();
//!         let response = service.oneshot(request).await.unwrap();
//!         assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "{}");
//!     })
//! });
//!
//! let text = handle.render().unwrap();
//! assert!(text.contains(
//!     r#"kinto_request_summary_total{method="get",endpoint="bucket-object",bucket_id="beers",collection_id="",group_id="",record_id="",status="200"} 1"#
//! ), "{text}");
//! ```
//!
//! # Features
//!
//! None is on by default, so that a service that only logs and counts
//! builds no HTTP client, TLS stack or protobuf code:
//! - `otlp`: OTLP/HTTP trace export (`opentelemetry-otlp` with its blocking
//!   `reqwest` client, `tracing-opentelemetry`);
//! - `sentry`: the Sentry client and its `tracing` integration
//!   (`ErrorLayer` for events, `BreadcrumbLayer` for breadcrumbs).
//!
//! With a feature on but no endpoint or DSN configured, nothing is set up.
//!
//! # Caveats
//!
//! - The layers emit when the response head is ready: `t` and
//!   `request_duration_seconds` do not include streaming the body.
//! - Stack the log and metrics layers inside the batch layer as well to
//!   see subrequests; outside it they see the `POST /batch` only.
//! - The Prometheus exporter writes no `_created` series and adds
//!   quantiles to summaries; see [`build_metrics`].

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod context;
mod fill;
mod init;
mod log;
mod mozlog;
mod request_metrics;
mod settings;
mod sinks;
mod statsd;

pub use context::{FillContext, RequestContext, RequestId, User};
pub use fill::{ContextLayer, ContextService};
pub use init::{Telemetry, TelemetryGuard, init, init_logging};
pub use log::{RequestLog, RequestLogLayer, X_REQUEST_ID};
pub use mozlog::MozLog;
pub use request_metrics::{RequestMetrics, RequestMetricsLayer, Timer};
pub use settings::{LogFormat, PyLevel, TelemetrySettings};
pub use sinks::{
    BoxedRecorder, MetricsHandle, MetricsService, PROMETHEUS_CONTENT_TYPE, build_metrics,
    install_metrics,
};
pub use statsd::StatsdRecorder;

/// The response futures of the layers.
pub mod future {
    pub use crate::log::ResponseFuture as RequestLogFuture;
    pub use crate::request_metrics::ResponseFuture as RequestMetricsFuture;
}

/// A telemetry set-up failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// A setting has a value that cannot be used.
    #[error("setting {setting}: {reason}")]
    Settings {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An I/O failure.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A global (the `tracing` subscriber, the metrics recorder) was
    /// already installed.
    #[error("a global {0} is already installed")]
    AlreadyInstalled(&'static str),
}
