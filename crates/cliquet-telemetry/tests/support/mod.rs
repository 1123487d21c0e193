//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One captured `tracing` event: its target and its fields as strings.
#[derive(Debug, Clone)]
pub struct Captured {
    pub target: String,
    pub fields: BTreeMap<String, String>,
    /// The name and fields (at the time of the event) of its span.
    pub span: Option<(String, BTreeMap<String, String>)>,
}

impl Captured {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

type Spans = HashMap<u64, (String, BTreeMap<String, String>)>;

#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<Captured>>>, Arc<Mutex<Spans>>);

impl Capture {
    pub fn events(&self) -> Vec<Captured> {
        self.0.lock().unwrap().clone()
    }

    pub fn summaries(&self) -> Vec<Captured> {
        self.events()
            .into_iter()
            .filter(|event| event.target.ends_with(".summary"))
            .collect()
    }
}

struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S> tracing_subscriber::Layer<S> for Capture
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = Fields(BTreeMap::new());
        attrs.record(&mut fields);
        self.1.lock().unwrap().insert(
            id.into_u64(),
            (attrs.metadata().name().to_owned(), fields.0),
        );
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some((_, fields)) = self.1.lock().unwrap().get_mut(&id.into_u64()) {
            let mut recorded = Fields(std::mem::take(fields));
            values.record(&mut recorded);
            *fields = recorded.0;
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        let span = ctx
            .event_span(event)
            .and_then(|span| self.1.lock().unwrap().get(&span.id().into_u64()).cloned());
        self.0.lock().unwrap().push(Captured {
            target: event.metadata().target().to_owned(),
            fields: fields.0,
            span,
        });
    }
}

/// Runs `future` on a current-thread runtime with a capturing subscriber
/// and, when given, a local metrics recorder; returns its output and the
/// captured events.
pub fn run<T>(
    recorder: Option<&dyn metrics::Recorder>,
    future: impl Future<Output = T>,
) -> (T, Capture) {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let output = tracing::subscriber::with_default(subscriber, || match recorder {
        Some(recorder) => metrics::with_local_recorder(recorder, || runtime.block_on(future)),
        None => runtime.block_on(future),
    });
    (output, capture)
}

/// The sample lines of a Prometheus text exposition (no comments).
pub fn samples(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
}

/// Asserts that no sample line appears twice (series and values).
pub fn assert_unique(text: &str) {
    let mut seen = std::collections::HashSet::new();
    for line in samples(text) {
        let series = line.rsplit_once(' ').map_or(line, |(series, _)| series);
        assert!(
            seen.insert(series),
            "duplicate series {series:?} in\n{text}"
        );
    }
}
