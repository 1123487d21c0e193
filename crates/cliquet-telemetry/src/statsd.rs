//! A StatsD [`Recorder`](metrics::Recorder) with Kinto's mapping of metric
//! keys and labels.

use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

use crate::TelemetryError;

/// Sends metrics to a StatsD server over UDP, one datagram per sample, the
/// way Kinto's StatsD plugin lays them out:
///
/// - counter without labels: `prefix.key:n|c`;
/// - counter with labels: a set, `prefix.key:<name>.<value>.<name>.<value>…|s`
///   (`users`, `request_summary` and `authentication` count unique label
///   sets);
/// - histogram whose key ends in `seconds` (a timer): a timing in
///   milliseconds, `prefix.key.<name>.<value>…:ms|ms`;
/// - any other histogram (an observation, `request_size`): a gauge,
///   `prefix.key:value|g`, labels ignored;
/// - gauge: `prefix.key:value|g`.
///
/// `:` is removed from label values (a Telegraf limitation), and `|` and
/// newlines, which would break the line format. Sending never blocks and
/// its errors are dropped: metrics must not fail requests.
///
/// `metrics-exporter-statsd` was the other option: it sends labels as
/// DogStatsD tags and has no string sets, so Kinto's dashboards would not
/// find their keys.
#[derive(Debug, Clone)]
pub struct StatsdRecorder {
    sink: Arc<Sink>,
}

#[derive(Debug)]
struct Sink {
    socket: UdpSocket,
    target: SocketAddr,
    prefix: String,
}

impl Sink {
    fn send(&self, line: &str) {
        // Dropped on error: a full buffer or an absent server is not the
        // request's problem.
        let _ = self.socket.send_to(line.as_bytes(), self.target);
    }
}

impl StatsdRecorder {
    /// A recorder sending to `url` (`udp://host:port`) with `prefix`
    /// (`kinto` → `kinto.request_summary`; empty for none).
    pub fn new(url: &str, prefix: &str) -> Result<Self, TelemetryError> {
        let invalid = |reason: String| TelemetryError::Settings {
            setting: "statsd_url",
            reason,
        };
        let address = url
            .strip_prefix("udp://")
            .ok_or_else(|| invalid(format!("{url:?} is not a udp://host:port URL")))?
            .trim_end_matches('/');
        let target = address
            .to_socket_addrs()
            .map_err(|error| invalid(format!("cannot resolve {address:?}: {error}")))?
            .next()
            .ok_or_else(|| invalid(format!("{address:?} resolves to no address")))?;
        let bind: SocketAddr = if target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(bind)
            .and_then(|socket| socket.set_nonblocking(true).map(|()| socket))
            .map_err(|error: io::Error| TelemetryError::Io {
                what: "binding the StatsD socket",
                source: error,
            })?;
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}.")
        };
        Ok(Self {
            sink: Arc::new(Sink {
                socket,
                target,
                prefix,
            }),
        })
    }

    fn metric(&self, line: String, kind: Kind) -> Arc<Metric> {
        Arc::new(Metric {
            sink: self.sink.clone(),
            line,
            kind,
        })
    }
}

fn clean(value: &str) -> String {
    value
        .chars()
        .filter(|c| !matches!(c, ':' | '|' | '\n' | '\r'))
        .collect()
}

fn name_of(prefix: &str, key: &Key) -> String {
    format!("{prefix}{}", clean(key.name()))
}

fn labels_joined(key: &Key) -> String {
    let mut joined = String::new();
    for label in key.labels() {
        if !joined.is_empty() {
            joined.push('.');
        }
        let _ = write!(joined, "{}.{}", clean(label.key()), clean(label.value()));
    }
    joined
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `line` is the key; sends `line:n|c`.
    Count,
    /// `line` is `key:member`; sends `line|s`.
    Set,
    /// `line` is the key; sends `line:value|g`.
    Gauge,
    /// `line` is the key; sends `line:ms|ms`.
    Timer,
}

#[derive(Debug)]
struct Metric {
    sink: Arc<Sink>,
    line: String,
    kind: Kind,
}

impl CounterFn for Metric {
    fn increment(&self, value: u64) {
        match self.kind {
            Kind::Set => self.sink.send(&format!("{}|s", self.line)),
            _ => self.sink.send(&format!("{}:{value}|c", self.line)),
        }
    }

    fn absolute(&self, value: u64) {
        match self.kind {
            Kind::Set => self.sink.send(&format!("{}|s", self.line)),
            _ => self.sink.send(&format!("{}:{value}|g", self.line)),
        }
    }
}

impl GaugeFn for Metric {
    fn increment(&self, value: f64) {
        self.sink.send(&format!("{}:+{value}|g", self.line));
    }

    fn decrement(&self, value: f64) {
        self.sink.send(&format!("{}:-{value}|g", self.line));
    }

    fn set(&self, value: f64) {
        // StatsD reads a leading sign as a relative change: a negative
        // value is a reset to 0 followed by a decrement.
        if value < 0.0 {
            self.sink.send(&format!("{}:0|g", self.line));
        }
        self.sink.send(&format!("{}:{value}|g", self.line));
    }
}

impl HistogramFn for Metric {
    fn record(&self, value: f64) {
        match self.kind {
            Kind::Timer => {
                let ms = value * 1000.0;
                self.sink.send(&format!("{}:{ms}|ms", self.line));
            }
            _ => GaugeFn::set(self, value),
        }
    }
}

impl Recorder for StatsdRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let name = name_of(&self.sink.prefix, key);
        let metric = if key.labels().len() == 0 {
            self.metric(name, Kind::Count)
        } else {
            self.metric(format!("{name}:{}", labels_joined(key)), Kind::Set)
        };
        Counter::from_arc(metric)
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.metric(name_of(&self.sink.prefix, key), Kind::Gauge))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let name = name_of(&self.sink.prefix, key);
        let metric = if key.name().ends_with("seconds") {
            let labels = labels_joined(key);
            if labels.is_empty() {
                self.metric(name, Kind::Timer)
            } else {
                self.metric(format!("{name}.{labels}"), Kind::Timer)
            }
        } else {
            self.metric(name, Kind::Gauge)
        };
        Histogram::from_arc(metric)
    }
}
