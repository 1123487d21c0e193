//! `init`: the global subscriber and recorder, in a process of their own.
//! One test function, since globals are installed once per process.

use cliquet_telemetry::{LogFormat, TelemetryError, TelemetrySettings, init, install_metrics};

#[test]
fn init_installs_globals_once_and_is_a_no_op_for_unconfigured_exporters() {
    let settings = TelemetrySettings {
        log_format: LogFormat::Json,
        prometheus_enabled: true,
        ..TelemetrySettings::kinto()
    };
    let telemetry = init(&settings).unwrap();

    // No endpoint, no DSN: neither exporter was set up.
    let unset = |name: &str| std::env::var(name).map_or(true, |value| value.trim().is_empty());
    if unset("OTEL_EXPORTER_OTLP_ENDPOINT") && unset("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        assert!(!telemetry.guard.exports_traces());
    }
    if unset("SENTRY_DSN") {
        assert!(!telemetry.guard.reports_to_sentry());
    }

    // The global recorder is the Prometheus one.
    metrics::counter!("cache_hits").increment(2);
    let text = telemetry.metrics.render().unwrap();
    assert!(text.contains("kinto_cache_hits_total 2"), "{text}");
    telemetry.metrics.run_upkeep();

    // A second installation is refused, not silently ignored.
    let again = init(&settings).unwrap_err();
    assert!(
        matches!(
            again,
            TelemetryError::AlreadyInstalled("tracing subscriber")
        ),
        "{again}"
    );
    let Err(again) = install_metrics(&settings) else {
        panic!("a second recorder was installed");
    };
    assert!(
        matches!(again, TelemetryError::AlreadyInstalled("metrics recorder")),
        "{again}"
    );

    drop(telemetry.guard);
}
