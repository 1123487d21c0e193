//! Start-up: the `tracing` subscriber (filter, JSON or text output,
//! OpenTelemetry, Sentry), the metrics recorder, and the guard that flushes
//! them at exit.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, layer::Layered};

use crate::mozlog::MozLog;
use crate::settings::LogFormat;
use crate::sinks::{MetricsHandle, install_metrics};
use crate::{TelemetryError, TelemetrySettings};

type Base = Layered<EnvFilter, Registry>;
type BoxedLayer = Box<dyn Layer<Base> + Send + Sync>;

/// Flushes and shuts down the OpenTelemetry exporter and the Sentry client
/// when dropped: keep it alive until the server stops.
#[must_use = "dropping the guard shuts traces and Sentry down"]
#[derive(Default)]
pub struct TelemetryGuard {
    #[cfg(feature = "otlp")]
    tracer_provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    #[cfg(feature = "sentry")]
    sentry: Option<sentry::ClientInitGuard>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("TelemetryGuard");
        #[cfg(feature = "otlp")]
        debug.field("otlp", &self.tracer_provider.is_some());
        #[cfg(feature = "sentry")]
        debug.field("sentry", &self.sentry.is_some());
        debug.finish()
    }
}

impl TelemetryGuard {
    /// Whether traces are exported over OTLP.
    pub fn exports_traces(&self) -> bool {
        #[cfg(feature = "otlp")]
        {
            self.tracer_provider.is_some()
        }
        #[cfg(not(feature = "otlp"))]
        {
            false
        }
    }

    /// Whether a Sentry client was initialised.
    pub fn reports_to_sentry(&self) -> bool {
        #[cfg(feature = "sentry")]
        {
            self.sentry.is_some()
        }
        #[cfg(not(feature = "sentry"))]
        {
            false
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.tracer_provider.take() {
            // Exports the spans still queued; an unreachable collector only
            // loses them.
            let _ = provider.shutdown();
        }
        // The Sentry guard flushes its queue when it drops, after this.
    }
}

/// What [`init`] set up: the metrics handle (for `/__metrics__`) and the
/// guard.
#[derive(Debug)]
pub struct Telemetry {
    /// The metrics handle.
    pub metrics: MetricsHandle,
    /// The guard: keep it alive until the server stops.
    pub guard: TelemetryGuard,
}

/// Sets everything up from the settings: [`init_logging`] then
/// [`install_metrics`].
pub fn init(settings: &TelemetrySettings) -> Result<Telemetry, TelemetryError> {
    let guard = init_logging(settings)?;
    let metrics = install_metrics(settings)?;
    Ok(Telemetry { metrics, guard })
}

/// Installs the global `tracing` subscriber:
///
/// - a filter from `RUST_LOG`, else `log_level`;
/// - `log_format`: MozLog JSON ([`MozLog`], `Logger` = `project_name`) or
///   text, on standard output;
/// - with feature `otlp`, spans exported over OTLP/HTTP when
///   `otlp_endpoint` or the standard `OTEL_EXPORTER_OTLP_*ENDPOINT`
///   variables are set (`OTEL_SERVICE_NAME`, else `project_name`, names
///   the service);
/// - with feature `sentry`, a Sentry client when `sentry_dsn` or
///   `SENTRY_DSN` is set (`sentry_env` or `SENTRY_ENV` its environment),
///   events at `sentry_events_min_level` or above sent as Sentry events and
///   those at `sentry_breadcrumbs_min_level` or above as breadcrumbs.
///
/// Without an endpoint or a DSN, those two are not set up at all.
pub fn init_logging(settings: &TelemetrySettings) -> Result<TelemetryGuard, TelemetryError> {
    #[cfg(any(feature = "otlp", feature = "sentry"))]
    let env = |name: &str| std::env::var(name).ok();
    let filter = match EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(_) => {
            EnvFilter::try_new(&settings.log_level).map_err(|error| TelemetryError::Settings {
                setting: "log_level",
                reason: error.to_string(),
            })?
        }
    };
    #[allow(unused_mut)]
    let mut guard = TelemetryGuard::default();
    #[allow(unused_mut)]
    let mut layers: Vec<BoxedLayer> = vec![match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(MozLog::new(settings.project_name.clone()))
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
    }];

    #[cfg(feature = "otlp")]
    if let Some(provider) = otlp::tracer_provider(settings, &env)? {
        use opentelemetry::trace::TracerProvider as _;
        let tracer = provider.tracer("cliquet");
        opentelemetry::global::set_tracer_provider(provider.clone());
        layers.push(tracing_opentelemetry::layer().with_tracer(tracer).boxed());
        guard.tracer_provider = Some(provider);
    }

    #[cfg(feature = "sentry")]
    if let Some(options) = sentry_init::client_options(settings, &env)? {
        guard.sentry = Some(sentry::init(options));
        layers.extend(sentry_init::layers(settings));
    }

    tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled("tracing subscriber"))?;
    Ok(guard)
}

#[cfg(any(feature = "otlp", feature = "sentry"))]
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.trim().is_empty())
}

#[cfg(feature = "otlp")]
pub(crate) mod otlp {
    use opentelemetry_otlp::WithExportConfig as _;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::non_empty;
    use crate::{TelemetryError, TelemetrySettings};

    /// The tracer provider, `None` when no endpoint is configured.
    pub(crate) fn tracer_provider(
        settings: &TelemetrySettings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<SdkTracerProvider>, TelemetryError> {
        let configured = non_empty(settings.otlp_endpoint.clone());
        let from_env = non_empty(env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
            .or_else(|| non_empty(env("OTEL_EXPORTER_OTLP_ENDPOINT")))
            .is_some();
        if configured.is_none() && !from_env {
            return Ok(None);
        }
        let mut builder = opentelemetry_otlp::SpanExporter::builder().with_http();
        if let Some(endpoint) = configured {
            builder = builder.with_endpoint(endpoint);
        }
        let exporter = builder.build().map_err(|error| TelemetryError::Settings {
            setting: "otlp_endpoint",
            reason: error.to_string(),
        })?;
        let mut resource = Resource::builder();
        if env("OTEL_SERVICE_NAME").is_none() && !settings.project_name.is_empty() {
            resource = resource.with_service_name(settings.project_name.clone());
        }
        Ok(Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource.build())
                .build(),
        ))
    }
}

#[cfg(feature = "sentry")]
pub(crate) mod sentry_init {
    use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::filter_fn;

    use super::{BoxedLayer, non_empty};
    use crate::{TelemetryError, TelemetrySettings};

    /// The client options, `None` when no DSN is configured.
    pub(crate) fn client_options(
        settings: &TelemetrySettings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<sentry::ClientOptions>, TelemetryError> {
        let Some(dsn) =
            non_empty(settings.sentry_dsn.clone()).or_else(|| non_empty(env("SENTRY_DSN")))
        else {
            return Ok(None);
        };
        let dsn: sentry::types::Dsn =
            dsn.trim()
                .parse()
                .map_err(
                    |error: sentry::types::ParseDsnError| TelemetryError::Settings {
                        setting: "sentry_dsn",
                        reason: error.to_string(),
                    },
                )?;
        let environment =
            non_empty(settings.sentry_env.clone()).or_else(|| non_empty(env("SENTRY_ENV")));
        let mut options =
            sentry::ClientOptions::new().maybe_release(settings.project_version.clone());
        options.dsn = Some(dsn);
        options.environment = environment.map(Into::into);
        Ok(Some(options))
    }

    /// Breadcrumbs from `sentry_breadcrumbs_min_level` up to below
    /// `sentry_events_min_level`; events from there up.
    pub(crate) fn layers(settings: &TelemetrySettings) -> [BoxedLayer; 2] {
        let events = settings.sentry_events_min_level.tracing_level();
        let breadcrumbs = settings.sentry_breadcrumbs_min_level.tracing_level();
        [
            BreadcrumbLayer::new()
                .with_filter(filter_fn(move |metadata| {
                    metadata.is_event()
                        && *metadata.level() <= breadcrumbs
                        && *metadata.level() > events
                }))
                .boxed(),
            ErrorLayer::new()
                .with_filter(filter_fn(move |metadata| {
                    metadata.is_event() && *metadata.level() <= events
                }))
                .boxed(),
        ]
    }
}

#[cfg(test)]
mod tests {
    #[allow(unused_imports)]
    use super::*;

    #[cfg(feature = "otlp")]
    #[test]
    fn no_otlp_endpoint_means_no_exporter() {
        let settings = TelemetrySettings::kinto();
        let provider = otlp::tracer_provider(&settings, &|_| None).unwrap();
        assert!(provider.is_none());
        let blank = otlp::tracer_provider(&settings, &|name| {
            (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| " ".to_owned())
        })
        .unwrap();
        assert!(blank.is_none());
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn an_otlp_endpoint_builds_an_exporter() {
        let settings = TelemetrySettings {
            otlp_endpoint: Some("http://127.0.0.1:9/v1/traces".to_owned()),
            ..TelemetrySettings::kinto()
        };
        let provider = otlp::tracer_provider(&settings, &|_| None).unwrap();
        let provider = provider.expect("an exporter");
        // Nothing was queued: shutting down sends nothing.
        provider.shutdown().unwrap();
        let from_env = otlp::tracer_provider(&TelemetrySettings::kinto(), &|name| {
            (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://127.0.0.1:9".to_owned())
        })
        .unwrap();
        assert!(from_env.is_some());
    }

    #[cfg(feature = "sentry")]
    #[test]
    fn no_sentry_dsn_means_no_client() {
        let options = sentry_init::client_options(&TelemetrySettings::kinto(), &|_| None).unwrap();
        assert!(options.is_none());
    }

    #[cfg(feature = "sentry")]
    #[test]
    fn sentry_options_come_from_settings_then_environment() {
        let env = |name: &str| match name {
            "SENTRY_DSN" => Some("https://public@sentry.example.com/1".to_owned()),
            "SENTRY_ENV" => Some("stage".to_owned()),
            _ => None,
        };
        let options = sentry_init::client_options(&TelemetrySettings::kinto(), &env)
            .unwrap()
            .unwrap();
        assert_eq!(options.dsn.unwrap().host(), "sentry.example.com");
        assert_eq!(options.environment.as_deref(), Some("stage"));

        let settings = TelemetrySettings {
            sentry_dsn: Some("https://key@other.example.com/2".to_owned()),
            sentry_env: Some("prod".to_owned()),
            ..TelemetrySettings::kinto()
        };
        let options = sentry_init::client_options(&settings, &env)
            .unwrap()
            .unwrap();
        assert_eq!(options.dsn.unwrap().host(), "other.example.com");
        assert_eq!(options.environment.as_deref(), Some("prod"));
    }

    #[cfg(feature = "sentry")]
    #[test]
    fn sentry_gets_events_from_the_min_level_and_breadcrumbs_below() {
        use sentry::protocol::Level;

        let capture = |settings: TelemetrySettings| {
            sentry::test::with_captured_events(|| {
                let subscriber = tracing_subscriber::registry()
                    .with(EnvFilter::new("trace"))
                    .with(Vec::from(sentry_init::layers(&settings)));
                tracing::subscriber::with_default(subscriber, || {
                    tracing::trace!("t");
                    tracing::debug!("d");
                    tracing::info!("i");
                    tracing::warn!("w");
                    tracing::error!("e");
                });
            })
        };
        let crumbs = |event: &sentry::protocol::Event<'_>| -> Vec<String> {
            event
                .breadcrumbs
                .iter()
                .filter_map(|crumb| crumb.message.clone())
                .collect()
        };

        // Kinto's defaults: events from WARNING, breadcrumbs from DEBUG.
        let events = capture(TelemetrySettings::kinto());
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0].level, Level::Warning);
        assert_eq!(crumbs(&events[0]), ["d", "i"]);
        assert_eq!(events[1].level, Level::Error);

        let events = capture(TelemetrySettings {
            sentry_events_min_level: crate::PyLevel(40),
            sentry_breadcrumbs_min_level: crate::PyLevel(30),
            ..TelemetrySettings::kinto()
        });
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(crumbs(&events[0]), ["w"]);
    }

    #[cfg(feature = "sentry")]
    #[test]
    fn a_bad_sentry_dsn_names_the_setting() {
        let settings = TelemetrySettings {
            sentry_dsn: Some("not a dsn".to_owned()),
            ..TelemetrySettings::kinto()
        };
        let error = sentry_init::client_options(&settings, &|_| None).unwrap_err();
        assert!(error.to_string().contains("sentry_dsn"), "{error}");
    }
}
