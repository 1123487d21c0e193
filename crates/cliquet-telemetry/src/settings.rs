//! [`TelemetrySettings`]: the protocol's logging, metrics and error-reporting
//! settings, deserialised from the service's configuration.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The settings this crate reads. Field names are the protocol's setting
/// names, so the struct deserialises from the same map as the rest of the
/// service's settings (unknown keys are ignored).
///
/// Lists accept a sequence or a whitespace-separated string, the way Kinto
/// writes them in its `.ini` file (`"0.01 0.05 0.1 Inf"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetrySettings {
    /// `project_name`: the MozLog `Logger`, the default Prometheus prefix,
    /// the StatsD prefix when non-empty, the OpenTelemetry service name.
    pub project_name: String,
    /// `project_version`: the Sentry release, when set.
    pub project_version: Option<String>,

    /// Log output: `json` (MozLog) or `text`. Not a Kinto setting (Kinto
    /// configures logging in the `.ini` file's logging sections).
    pub log_format: LogFormat,
    /// `tracing` filter directives (`info`, `cliquet=debug,info`). The
    /// `RUST_LOG` environment variable, when set, wins.
    pub log_level: String,

    /// `statsd_url`: `udp://host:port`. Setting it enables the StatsD sink;
    /// an application that requires the plugin in `includes` as Kinto does
    /// leaves it `None` otherwise.
    pub statsd_url: Option<String>,
    /// `statsd_prefix`: the StatsD prefix when `project_name` is empty.
    pub statsd_prefix: String,

    /// Whether the Prometheus sink and its `/__metrics__` endpoint are on
    /// (Kinto: `kinto.plugins.prometheus` in `includes`).
    pub prometheus_enabled: bool,
    /// `prometheus_prefix`: defaults to `project_name`; normalised (see
    /// [`prometheus_prefix`](Self::prometheus_prefix)).
    pub prometheus_prefix: Option<String>,
    /// `prometheus_histogram_buckets`: the upper bounds of timer buckets
    /// (`+Inf` is always implied).
    #[serde(deserialize_with = "floats", serialize_with = "write_floats")]
    pub prometheus_histogram_buckets: Vec<f64>,
    /// `prometheus_created_metrics_enabled`. The exporter never writes
    /// `_created` series, so `true` cannot be honoured and `false` is what
    /// every configuration gets.
    pub prometheus_created_metrics_enabled: bool,
    /// `prometheus_disabled_metrics`: metric keys (without prefix) never
    /// recorded, by any sink.
    #[serde(deserialize_with = "strings")]
    pub prometheus_disabled_metrics: Vec<String>,

    /// `metrics_matchdict_fields`: the URL fields used as metric labels.
    #[serde(deserialize_with = "strings")]
    pub metrics_matchdict_fields: Vec<String>,

    /// `sentry_dsn`; the `SENTRY_DSN` environment variable when unset.
    pub sentry_dsn: Option<String>,
    /// `sentry_env`; the `SENTRY_ENV` environment variable when unset.
    pub sentry_env: Option<String>,
    /// `sentry_breadcrumbs_min_level`: Python level number or name (`10`, `DEBUG`).
    pub sentry_breadcrumbs_min_level: PyLevel,
    /// `sentry_events_min_level`: Python level number or name (`30`, `WARNING`).
    pub sentry_events_min_level: PyLevel,

    /// The OTLP/HTTP traces endpoint (`http://collector:4318/v1/traces`).
    /// When unset, the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` variables enable the export; with none
    /// of them, no traces are exported.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            project_name: String::new(),
            project_version: None,
            log_format: LogFormat::Text,
            log_level: "info".to_owned(),
            statsd_url: None,
            statsd_prefix: "kinto.core".to_owned(),
            prometheus_enabled: false,
            prometheus_prefix: None,
            prometheus_histogram_buckets: vec![0.01, 0.05, 0.1, 0.5, 1.0, 3.0, 6.0, f64::INFINITY],
            prometheus_created_metrics_enabled: true,
            prometheus_disabled_metrics: Vec::new(),
            metrics_matchdict_fields: Vec::new(),
            sentry_dsn: None,
            sentry_env: None,
            sentry_breadcrumbs_min_level: PyLevel(10),
            sentry_events_min_level: PyLevel(30),
            otlp_endpoint: None,
        }
    }
}

impl TelemetrySettings {
    /// The settings with Kinto's defaults: `project_name = "kinto"` and the
    /// matchdict fields `bucket_id collection_id group_id record_id`.
    pub fn kinto() -> Self {
        Self {
            project_name: "kinto".to_owned(),
            metrics_matchdict_fields: ["bucket_id", "collection_id", "group_id", "record_id"]
                .map(str::to_owned)
                .to_vec(),
            ..Self::default()
        }
    }

    /// The Prometheus prefix: `prometheus_prefix`, else `project_name`,
    /// with `-`, `.`, spaces and `_` removed and lower-cased
    /// (`remote-settings` → `remotesettings`). Empty means no prefix.
    pub fn prometheus_prefix(&self) -> String {
        self.prometheus_prefix
            .as_deref()
            .unwrap_or(&self.project_name)
            .chars()
            .filter(|c| !matches!(c, '-' | '.' | ' ' | '_'))
            .flat_map(char::to_lowercase)
            .collect()
    }

    /// The `prometheus` capability of the root endpoint, for services that
    /// enable Prometheus:
    /// `{"description", "url", "prefix": "kinto_", "disabled_metrics": […]}`.
    pub fn prometheus_capability(&self) -> serde_json::Value {
        let prefix = self.prometheus_prefix();
        serde_json::json!({
            "description": "Prometheus metrics.",
            "url": "https://github.com/Kinto/kinto/",
            "prefix": if prefix.is_empty() { prefix } else { format!("{prefix}_") },
            "disabled_metrics": self.prometheus_disabled_metrics,
        })
    }

    /// The StatsD prefix: `project_name` when non-empty, else `statsd_prefix`.
    pub fn statsd_prefix(&self) -> &str {
        if self.project_name.is_empty() {
            &self.statsd_prefix
        } else {
            &self.project_name
        }
    }
}

/// The log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One MozLog JSON object per line: `Timestamp`, `Type`, `Logger`,
    /// `Hostname`, `EnvVersion`, `Severity`, `Pid`, `Fields`.
    Json,
    /// `tracing-subscriber`'s human-readable lines.
    Text,
}

/// A Python logging level (`DEBUG` = 10, `INFO` = 20, `WARNING` = 30,
/// `ERROR` = 40, `CRITICAL` = 50), written as a number or a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PyLevel(pub u8);

impl PyLevel {
    /// The lowest `tracing` level at or above this Python level
    /// (`WARNING` → `WARN`; `CRITICAL` maps to `ERROR`).
    pub fn tracing_level(self) -> tracing::Level {
        match self.0 {
            0..=10 => tracing::Level::DEBUG,
            11..=20 => tracing::Level::INFO,
            21..=30 => tracing::Level::WARN,
            _ => tracing::Level::ERROR,
        }
    }
}

impl<'de> Deserialize<'de> for PyLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u8),
            Name(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(PyLevel(n)),
            Raw::Name(name) => match name.trim().to_ascii_uppercase().as_str() {
                "NOTSET" => Ok(PyLevel(0)),
                "DEBUG" => Ok(PyLevel(10)),
                "INFO" => Ok(PyLevel(20)),
                "WARN" | "WARNING" => Ok(PyLevel(30)),
                "ERROR" => Ok(PyLevel(40)),
                "CRITICAL" | "FATAL" => Ok(PyLevel(50)),
                other => other.parse().map(PyLevel).map_err(|_| {
                    de::Error::custom(format!(
                        "unknown logging level {name:?} (use DEBUG, INFO, WARNING, ERROR, CRITICAL or a number)"
                    ))
                }),
            },
        }
    }
}

/// A list written as a sequence or as a whitespace-separated string.
struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list or a whitespace-separated string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(value.split_whitespace().map(str::to_owned).collect())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Item {
            Text(String),
            Number(f64),
        }
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Item>()? {
            items.push(match item {
                Item::Text(text) => text,
                Item::Number(number) => number.to_string(),
            });
        }
        Ok(items)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
}

fn strings<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    deserializer.deserialize_any(ListVisitor)
}

/// Writes infinite bounds as `"Inf"`: JSON has no infinity.
fn write_floats<S: serde::Serializer>(values: &[f64], serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = serializer.serialize_seq(Some(values.len()))?;
    for value in values {
        if value.is_finite() {
            seq.serialize_element(value)?;
        } else if *value > 0.0 {
            seq.serialize_element("Inf")?;
        } else {
            seq.serialize_element("-Inf")?;
        }
    }
    seq.end()
}

fn floats<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
    strings(deserializer)?
        .iter()
        .map(|item| match item.to_ascii_lowercase().as_str() {
            "inf" | "+inf" | "infinity" => Ok(f64::INFINITY),
            "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
            _ => item.parse::<f64>().map_err(|_| {
                de::Error::custom(format!(
                    "prometheus_histogram_buckets: {item:?} is not a number"
                ))
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_protocol() {
        let settings: TelemetrySettings = serde_json::from_str("{}").unwrap();
        assert_eq!(settings, TelemetrySettings::default());
        assert_eq!(settings.statsd_prefix(), "kinto.core");
        assert!(
            settings
                .prometheus_histogram_buckets
                .last()
                .unwrap()
                .is_infinite()
        );
        assert_eq!(
            settings.sentry_events_min_level.tracing_level(),
            tracing::Level::WARN
        );
    }

    #[test]
    fn lists_parse_from_strings_and_sequences() {
        let settings: TelemetrySettings = serde_json::from_value(serde_json::json!({
            "prometheus_histogram_buckets": "0.5 2 Inf",
            "prometheus_disabled_metrics": ["users", "request_size"],
            "metrics_matchdict_fields": "bucket_id\n collection_id",
            "sentry_events_min_level": "error",
            "sentry_breadcrumbs_min_level": 20,
        }))
        .unwrap();
        assert_eq!(
            settings.prometheus_histogram_buckets,
            vec![0.5, 2.0, f64::INFINITY]
        );
        assert_eq!(
            settings.prometheus_disabled_metrics,
            ["users", "request_size"]
        );
        assert_eq!(
            settings.metrics_matchdict_fields,
            ["bucket_id", "collection_id"]
        );
        assert_eq!(settings.sentry_events_min_level, PyLevel(40));
        assert_eq!(
            settings.sentry_breadcrumbs_min_level.tracing_level(),
            tracing::Level::INFO
        );
    }

    #[test]
    fn settings_round_trip_through_json() {
        let settings = TelemetrySettings::kinto();
        let json = serde_json::to_value(&settings).unwrap();
        assert_eq!(json["prometheus_histogram_buckets"][7], "Inf");
        let back: TelemetrySettings = serde_json::from_value(json).unwrap();
        assert_eq!(back, settings);
    }

    #[test]
    fn bad_values_say_which_setting() {
        let error = serde_json::from_value::<TelemetrySettings>(serde_json::json!({
            "prometheus_histogram_buckets": "0.5 lots",
        }))
        .unwrap_err();
        assert!(
            error.to_string().contains("prometheus_histogram_buckets"),
            "{error}"
        );
        let error = serde_json::from_value::<TelemetrySettings>(serde_json::json!({
            "sentry_events_min_level": "loud",
        }))
        .unwrap_err();
        assert!(error.to_string().contains("loud"), "{error}");
    }

    #[test]
    fn prometheus_prefix_is_normalised() {
        let mut settings = TelemetrySettings::kinto();
        assert_eq!(settings.prometheus_prefix(), "kinto");
        settings.project_name = "Remote-Settings.v2 x_y".to_owned();
        assert_eq!(settings.prometheus_prefix(), "remotesettingsv2xy");
        settings.prometheus_prefix = Some(String::new());
        assert_eq!(settings.prometheus_prefix(), "");
    }

    #[test]
    fn prometheus_capability_shows_prefix_and_disabled_metrics() {
        let mut settings = TelemetrySettings::kinto();
        settings.prometheus_disabled_metrics = vec!["users".to_owned()];
        assert_eq!(
            settings.prometheus_capability(),
            serde_json::json!({
                "description": "Prometheus metrics.",
                "url": "https://github.com/Kinto/kinto/",
                "prefix": "kinto_",
                "disabled_metrics": ["users"],
            })
        );
        settings.prometheus_prefix = Some(String::new());
        assert_eq!(settings.prometheus_capability()["prefix"], "");
    }

    #[test]
    fn statsd_prefix_prefers_the_project_name() {
        let settings = TelemetrySettings::kinto();
        assert_eq!(settings.statsd_prefix(), "kinto");
    }
}
