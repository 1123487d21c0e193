//! Reporting to Sentry (feature `sentry`).

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{Method, Request, Uri};
use sentry_core::Hub;
use sentry_core::protocol::{Event, Level};

/// Headers whose values never leave the server.
const FILTERED_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// What is kept of a request to report it, taken only when a Sentry client
/// is bound (so that the layer costs nothing without Sentry).
pub(crate) struct Capture {
    hub: Arc<Hub>,
    headers: BTreeMap<String, String>,
}

impl Capture {
    pub(crate) fn for_request<B>(request: &Request<B>) -> Option<Self> {
        let hub = Hub::current();
        hub.client()?;
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = if FILTERED_HEADERS.contains(&name.as_str()) {
                    "[Filtered]".to_owned()
                } else {
                    String::from_utf8_lossy(value.as_bytes()).into_owned()
                };
                (name.as_str().to_owned(), value)
            })
            .collect();
        Some(Self { hub, headers })
    }

    pub(crate) fn send(&self, method: &Method, uri: &Uri, description: &str) {
        let request = sentry_core::protocol::Request {
            method: Some(method.to_string()),
            query_string: uri.query().map(str::to_owned),
            headers: self.headers.clone(),
            ..Default::default()
        };
        let mut tags = BTreeMap::new();
        tags.insert("http.method".to_owned(), method.to_string());
        tags.insert("http.path".to_owned(), uri.path().to_owned());
        self.hub.capture_event(Event {
            level: Level::Error,
            message: Some(description.to_owned()),
            transaction: Some(format!("{method} {}", uri.path())),
            request: Some(request),
            tags,
            ..Default::default()
        });
    }
}
