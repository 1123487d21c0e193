//! The protocol's exposed headers, and [`ExposedHeaders`] for the ones an
//! endpoint adds.

use std::borrow::Cow;

use http::{HeaderName, HeaderValue};

/// The headers every response exposes to cross-origin scripts.
pub const DEFAULT_EXPOSED_HEADERS: &[&str] = &[
    "Backoff",
    "Retry-After",
    "Alert",
    "Content-Length",
    "Content-Type",
];

/// What a plural endpoint's `GET` exposes besides the default list.
pub const PLURAL_GET_EXPOSED_HEADERS: &[&str] = &[
    "Next-Page",
    "Last-Modified",
    "ETag",
    "Cache-Control",
    "Expires",
    "Pragma",
];

/// What a plural endpoint's `HEAD` exposes besides the default list.
pub const PLURAL_HEAD_EXPOSED_HEADERS: &[&str] = &[
    "Next-Page",
    "Last-Modified",
    "ETag",
    "Cache-Control",
    "Expires",
    "Pragma",
    "Total-Objects",
    "Total-Records",
];

/// What an object endpoint's `GET` and `HEAD` expose besides the default
/// list.
pub const OBJECT_GET_EXPOSED_HEADERS: &[&str] = &[
    "Last-Modified",
    "ETag",
    "Cache-Control",
    "Expires",
    "Pragma",
];

/// Headers an endpoint exposes besides [`DEFAULT_EXPOSED_HEADERS`]: put it
/// in the response's extensions and [`CorsLayer`](crate::CorsLayer) adds
/// them to `Access-Control-Expose-Headers`.
///
/// ```
/// use cliquet_cors::{ExposedHeaders, PLURAL_GET_EXPOSED_HEADERS};
/// use http::Response;
///
/// let mut response = Response::new(());
/// response
///     .extensions_mut()
///     .insert(ExposedHeaders::from_static(PLURAL_GET_EXPOSED_HEADERS));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExposedHeaders {
    names: Vec<Cow<'static, str>>,
}

impl ExposedHeaders {
    /// No extra header.
    pub fn new() -> Self {
        Self::default()
    }

    /// These headers, such as one of the protocol's lists.
    pub fn from_static(names: &'static [&'static str]) -> Self {
        Self {
            names: names.iter().map(|n| Cow::Borrowed(*n)).collect(),
        }
    }

    /// Adds a header.
    pub fn with(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.names.push(name.into());
        self
    }

    /// The header names.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| n.as_ref())
    }
}

/// Joins header names with `sep`, dropping duplicates (whatever their case)
/// and anything that is not a header name.
pub(crate) fn join<'a>(names: impl IntoIterator<Item = &'a str>, sep: &str) -> Option<HeaderValue> {
    let mut seen: Vec<&str> = Vec::new();
    for name in names {
        let name = name.trim();
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            continue;
        }
        if !seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            seen.push(name);
        }
    }
    if seen.is_empty() {
        return None;
    }
    HeaderValue::from_str(&seen.join(sep)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_dedups_and_drops_garbage() {
        let value = join(
            ["Backoff", " ETag ", "etag", "bad name", "", "X-Custom"],
            ", ",
        );
        assert_eq!(value.unwrap(), "Backoff, ETag, X-Custom");
        assert_eq!(join(["a b"], ","), None);
    }

    #[test]
    fn the_plural_head_list_holds_every_other_list() {
        for name in PLURAL_GET_EXPOSED_HEADERS
            .iter()
            .chain(OBJECT_GET_EXPOSED_HEADERS)
        {
            assert!(PLURAL_HEAD_EXPOSED_HEADERS.contains(name), "{name}");
        }
    }

    #[test]
    fn extension_builder() {
        let exposed = ExposedHeaders::from_static(OBJECT_GET_EXPOSED_HEADERS).with("X-Extra");
        assert_eq!(exposed.iter().count(), 6);
        assert_eq!(exposed.iter().last(), Some("X-Extra"));
        assert_eq!(ExposedHeaders::new().iter().count(), 0);
    }
}
