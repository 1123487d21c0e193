//! [`MozLog`]: the MozLog JSON line format as a `tracing-subscriber`
//! event formatter.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats each event as one MozLog JSON object, the format of Kinto's
/// `JsonLogFormatter`:
///
/// ```json
/// {"Timestamp": 1700000000000000000, "Type": "request.summary", "Logger": "kinto",
///  "Hostname": "web-1", "EnvVersion": "2.0", "Severity": 6, "Pid": 42,
///  "Fields": {"code": 200, "errno": 0, "path": "/v1/", "rid": "…", "msg": "…"}}
/// ```
///
/// `Timestamp` is in nanoseconds since the epoch, `Type` is the event's
/// target, `Logger` the project name, `Severity` the syslog level (error 3,
/// warn 4, info 6, debug and trace 7). The event's message, when there is
/// one, is `Fields.msg`.
///
/// Every event logged while a request is served gets its request id as
/// `Fields.rid`, as Kinto's request-id log handler does: it is read from
/// the `request_id` field of the enclosing span that
/// [`RequestLogLayer`](crate::RequestLogLayer) opens. That needs the span
/// fields stored as JSON: pair this formatter with
/// `.fmt_fields(JsonFields::new())`, as [`init_logging`](crate::init_logging)
/// does.
#[derive(Debug, Clone)]
pub struct MozLog {
    logger: String,
    hostname: String,
    pid: u32,
}

impl MozLog {
    /// A formatter writing `logger` as `Logger`.
    pub fn new(logger: impl Into<String>) -> Self {
        Self {
            logger: logger.into(),
            hostname: hostname(),
            pid: std::process::id(),
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

struct Fields(Map<String, Value>);

impl Fields {
    fn insert(&mut self, field: &Field, value: Value) {
        let name = match field.name() {
            "message" => "msg",
            name => name,
        };
        self.0.insert(name.to_owned(), value);
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(
            field,
            serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
        );
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.insert(field, value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.insert(field, format!("{value:?}").into());
    }
}

impl<S, N> FormatEvent<S, N> for MozLog
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        if !fields.0.contains_key("rid")
            && let Some(rid) = request_id(ctx)
        {
            fields.0.insert("rid".to_owned(), rid);
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
            });
        let metadata = event.metadata();
        let line = serde_json::json!({
            "Timestamp": timestamp,
            "Type": metadata.target(),
            "Logger": self.logger,
            "Hostname": self.hostname,
            "EnvVersion": "2.0",
            "Severity": severity(metadata.level()),
            "Pid": self.pid,
            "Fields": Value::Object(fields.0),
        });
        writeln!(writer, "{line}")
    }
}

/// The `request_id` of the innermost enclosing span that has one.
fn request_id<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<Value>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let scope = ctx.event_scope()?;
    for span in scope {
        let extensions = span.extensions();
        let Some(formatted) = extensions.get::<FormattedFields<N>>() else {
            continue;
        };
        if let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(formatted.as_str())
            && let Some(rid) = map.remove("request_id")
        {
            return Some(rid);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_one_mozlog_object_per_event() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(MozLog::new("kinto"))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "request.summary", code = 201_u16, path = "/v1/buckets", "done");
            tracing::error!(ratio = 0.5, ok = false, "broken");
            tracing::info_span!("request", request_id = "rid-1").in_scope(|| {
                tracing::info_span!("storage", table = "objects").in_scope(|| {
                    tracing::warn!("slow query");
                });
                tracing::info!(target: "request.summary", rid = "own", "summary");
            });
        });
        let output = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = output
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 4, "{output}");
        let first = &lines[0];
        assert_eq!(first["Type"], "request.summary");
        assert_eq!(first["Logger"], "kinto");
        assert_eq!(first["EnvVersion"], "2.0");
        assert_eq!(first["Severity"], 6);
        assert_eq!(first["Pid"], std::process::id());
        assert!(first["Timestamp"].as_u64().unwrap() > 1_600_000_000_000_000_000);
        assert!(!first["Hostname"].as_str().unwrap().is_empty());
        assert_eq!(
            first["Fields"],
            serde_json::json!({"code": 201, "path": "/v1/buckets", "msg": "done"})
        );
        assert_eq!(lines[1]["Severity"], 3);
        assert_eq!(lines[1]["Fields"]["ratio"], 0.5);
        assert_eq!(lines[1]["Fields"]["ok"], false);
        assert!(lines[1]["Fields"].get("rid").is_none());
        // Within a request, every line carries its id.
        assert_eq!(
            lines[2]["Fields"],
            serde_json::json!({"msg": "slow query", "rid": "rid-1"})
        );
        assert_eq!(lines[3]["Fields"]["rid"], "own");
    }
}
