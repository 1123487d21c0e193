//! [`VersionLayer`]: the `/v1` prefix, its redirects, and the 404s of URLs
//! no route serves.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use cliquet_errors::{ApiError, Errno};
use http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, EXPIRES, HOST, LAST_MODIFIED, LOCATION, PRAGMA,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::clock::{Clock, SystemClock};
use crate::settings::{
    DEFAULT_TRAILING_SLASH_REDIRECT_TTL_SECONDS, DEFAULT_VERSION_PREFIX_REDIRECT_TTL_SECONDS,
    SettingsError, VersionSettings,
};

/// The body of the redirects: clients must not rely on it.
const REDIRECT_PAGE: &str = "<html><head><title>307 Temporary Redirect</title></head>\
<body><h1>307 Temporary Redirect</h1><p>The resource is temporarily at the URL given in the \
Location header.</p></body></html>";

/// A tower layer for the protocol's version prefix (`/v1`).
///
/// - **Version prefix redirect** (`version_prefix_redirect_enabled`, on by
///   default): a request whose path does not start with `/v<digits>` is
///   answered, without reaching the inner service, with `307 Temporary
///   Redirect` to the same path and query string under the prefix
///   (`GET /buckets?a=1` → `Location: http://host/v1/buckets?a=1`), for
///   every method. `OPTIONS` is not redirected (a CORS preflight must not
///   be): it gets an empty `200`. Paths holding an encoded CR or LF are not
///   redirected (header injection) and end as a 404 errno 116.
/// - **404 errno 116**: when the inner service finds no route for a path
///   outside the prefix (`/v2/...` on a `/v1` server, or any unprefixed path
///   while the redirect is off), the response is the protocol's `404`
///   errno 116 `"The requested API version is not available on this
///   server."`.
/// - **Trailing slash redirect** (`trailing_slash_redirect_enabled`, on by
///   default): when the inner service finds no route for a path under the
///   prefix that ends with `/`, the answer is a `307` to the path without
///   its trailing slashes (query string kept); `/v1` is redirected to
///   `/v1/`. A route that exists with a trailing slash is served.
/// - **404 errno 111**: any other path under the prefix that no route
///   serves gets the protocol's `404` errno 111.
///
/// Redirects carry an absolute `Location` built from the request's scheme
/// (`http` when the request does not say) and authority (the request
/// target's when absolute, else the `Host` header), or from the
/// `http_scheme` / `http_host` settings; without any host the `Location`
/// is the bare path. Their cache headers follow the `*_ttl_seconds`
/// settings: negative sends none, `N > 0` sends `Cache-Control:
/// max-age=N` and `Expires`, `0` sends `Cache-Control: max-age=0,
/// must-revalidate, no-cache, no-store`, `Expires`, `Last-Modified` and
/// `Pragma: no-cache`.
///
/// "No route" is a `404` from the inner service that is a framework's
/// (no errno in its extensions and not JSON, such as axum's fallback) or a
/// protocol 404 errno 111. Any other `404` (errno 110 for a missing object,
/// a handler's own JSON) is passed through unchanged.
///
/// The layer keeps the inner response body type: the responses it writes
/// itself are built with the body's `From<Bytes>`.
#[derive(Clone)]
pub struct VersionLayer {
    config: Arc<Config>,
}

#[derive(Clone)]
struct Config {
    /// `/v1`.
    prefix: String,
    prefix_redirect: bool,
    prefix_ttl: i64,
    trailing_redirect: bool,
    trailing_ttl: i64,
    scheme: Option<String>,
    host: Option<String>,
    clock: Arc<dyn Clock>,
}

impl VersionLayer {
    /// The layer for the prefix `/v{major}`, with the protocol's defaults:
    /// both redirects on, no cache headers on version redirects, one hour on
    /// trailing-slash redirects.
    pub fn new(major: u32) -> Self {
        Self {
            config: Arc::new(Config {
                prefix: format!("/v{major}"),
                prefix_redirect: true,
                prefix_ttl: DEFAULT_VERSION_PREFIX_REDIRECT_TTL_SECONDS,
                trailing_redirect: true,
                trailing_ttl: DEFAULT_TRAILING_SLASH_REDIRECT_TTL_SECONDS,
                scheme: None,
                host: None,
                clock: Arc::new(SystemClock),
            }),
        }
    }

    /// The layer the settings describe.
    ///
    /// # Errors
    ///
    /// When a setting cannot be used (see [`VersionSettings::validate`]).
    pub fn from_settings(settings: &VersionSettings) -> Result<Self, SettingsError> {
        settings.validate()?;
        let prefix = settings.prefix()?;
        let mut layer = Self::new(0)
            .version_prefix_redirect(settings.version_prefix_redirect_enabled)
            .version_prefix_redirect_ttl(settings.version_prefix_redirect_ttl_seconds)
            .trailing_slash_redirect(settings.trailing_slash_redirect_enabled)
            .trailing_slash_redirect_ttl(settings.trailing_slash_redirect_ttl_seconds);
        let config = Arc::make_mut(&mut layer.config);
        config.prefix = prefix;
        config.scheme = settings.http_scheme.clone();
        config.host = settings.http_host.clone();
        Ok(layer)
    }

    /// Switches the redirect of unprefixed URLs.
    pub fn version_prefix_redirect(self, enabled: bool) -> Self {
        self.update(|config| config.prefix_redirect = enabled)
    }

    /// The cache lifetime of version redirects, in seconds (negative: no
    /// cache headers; 0: forbid caching).
    pub fn version_prefix_redirect_ttl(self, seconds: i64) -> Self {
        self.update(|config| config.prefix_ttl = seconds)
    }

    /// Switches the trailing-slash redirect.
    pub fn trailing_slash_redirect(self, enabled: bool) -> Self {
        self.update(|config| config.trailing_redirect = enabled)
    }

    /// The cache lifetime of trailing-slash redirects, in seconds.
    pub fn trailing_slash_redirect_ttl(self, seconds: i64) -> Self {
        self.update(|config| config.trailing_ttl = seconds)
    }

    /// Uses this scheme in redirect `Location`s (`http_scheme`).
    ///
    /// # Panics
    ///
    /// When `scheme` is not a URL scheme; [`VersionLayer::from_settings`]
    /// reports it as an error instead.
    pub fn scheme(self, scheme: impl Into<String>) -> Self {
        let scheme = scheme.into();
        assert!(
            scheme.parse::<http::uri::Scheme>().is_ok(),
            "{scheme:?} is not a URL scheme"
        );
        self.update(|config| config.scheme = Some(scheme))
    }

    /// Uses this `host[:port]` in redirect `Location`s (`http_host`).
    ///
    /// # Panics
    ///
    /// When `host` is not a `host[:port]`; [`VersionLayer::from_settings`]
    /// reports it as an error instead.
    pub fn host(self, host: impl Into<String>) -> Self {
        let host = host.into();
        assert!(
            host.parse::<http::uri::Authority>().is_ok(),
            "{host:?} is not a host[:port]"
        );
        self.update(|config| config.host = Some(host))
    }

    /// Reads the current time (for `Expires` and `Last-Modified`) from
    /// `clock` instead of the system's.
    pub fn clock(self, clock: impl Clock) -> Self {
        self.update(|config| config.clock = Arc::new(clock))
    }

    /// The prefix, such as `/v1`.
    pub fn prefix(&self) -> &str {
        &self.config.prefix
    }

    fn update(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(Arc::make_mut(&mut self.config));
        self
    }
}

impl fmt::Debug for VersionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("VersionLayer")
            .field("prefix", &c.prefix)
            .field("version_prefix_redirect", &c.prefix_redirect)
            .field("version_prefix_redirect_ttl", &c.prefix_ttl)
            .field("trailing_slash_redirect", &c.trailing_redirect)
            .field("trailing_slash_redirect_ttl", &c.trailing_ttl)
            .field("scheme", &c.scheme)
            .field("host", &c.host)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for VersionLayer {
    type Service = VersionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VersionService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`VersionLayer`].
#[derive(Clone)]
pub struct VersionService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> VersionService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for VersionService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VersionService")
            .field("inner", &self.inner)
            .field("prefix", &self.config.prefix)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for VersionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let path = request.uri().path();
        if self.config.prefix_redirect && !is_versioned(path) && !has_line_break(path) {
            let response = if request.method() == Method::OPTIONS {
                let mut response = Response::new(ResBody::from(Bytes::new()));
                response
                    .headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
                response
            } else {
                let target = RequestTarget::new(&request);
                let destination = format!("{}{path}", self.config.prefix);
                self.config
                    .redirect(&target, &destination, self.config.prefix_ttl)
            };
            return ResponseFuture {
                kind: Kind::Ready {
                    response: Some(response),
                },
            };
        }
        let target = RequestTarget::new(&request);
        ResponseFuture {
            kind: Kind::Inner {
                future: self.inner.call(request),
                target: Some(target),
                config: self.config.clone(),
            },
        }
    }
}

/// What the layer keeps of a request to build a redirect or a 404 later.
struct RequestTarget {
    uri: Uri,
    host: Option<HeaderValue>,
}

impl RequestTarget {
    fn new<B>(request: &Request<B>) -> Self {
        Self {
            uri: request.uri().clone(),
            host: request.headers().get(HOST).cloned(),
        }
    }

    fn path(&self) -> &str {
        self.uri.path()
    }
}

impl Config {
    fn is_under_prefix(&self, path: &str) -> bool {
        match path.strip_prefix(self.prefix.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    /// The answer to a request no route serves.
    fn not_found<B: From<Bytes>>(&self, target: &RequestTarget) -> Option<Response<B>> {
        let path = target.path();
        if !self.is_under_prefix(path) {
            return Some(ApiError::version_not_available().into_response());
        }
        if self.trailing_redirect {
            let stripped = path.trim_end_matches('/');
            let destination = if path == self.prefix {
                Some(format!("{}/", self.prefix))
            } else if stripped.len() < path.len() && stripped != self.prefix {
                Some(stripped.to_owned())
            } else {
                // `/v1/` itself: redirecting it to `/v1` would loop.
                None
            };
            if let Some(destination) = destination {
                return Some(self.redirect(target, &destination, self.trailing_ttl));
            }
        }
        None
    }

    /// A `307` to `path` (with the request's query string).
    fn redirect<B: From<Bytes>>(
        &self,
        target: &RequestTarget,
        path: &str,
        ttl: i64,
    ) -> Response<B> {
        let mut location = String::with_capacity(path.len() + 64);
        let host = self
            .host
            .as_deref()
            .or_else(|| target.uri.authority().map(|a| a.as_str()))
            .or_else(|| target.host.as_ref().and_then(|h| h.to_str().ok()))
            .filter(|host| host.parse::<http::uri::Authority>().is_ok());
        if let Some(host) = host {
            let scheme = self
                .scheme
                .as_deref()
                .or_else(|| target.uri.scheme_str())
                .unwrap_or("http");
            location.push_str(scheme);
            location.push_str("://");
            location.push_str(host);
        }
        location.push_str(path);
        if let Some(query) = target.uri.query() {
            location.push('?');
            location.push_str(query);
        }

        let mut response = Response::new(B::from(Bytes::from_static(REDIRECT_PAGE.as_bytes())));
        *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
        let headers = response.headers_mut();
        // The path and query come from a parsed URI, the host was checked:
        // the value is valid; fall back to the bare path if it ever is not.
        let location = HeaderValue::from_str(&location)
            .or_else(|_| HeaderValue::from_str(path))
            .unwrap_or_else(|_| HeaderValue::from_static("/"));
        headers.insert(LOCATION, location);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=UTF-8"),
        );
        cache_headers(headers, ttl, self.clock.now());
        response
    }
}

/// The cache headers of a redirect, after the `*_ttl_seconds` rules.
fn cache_headers(headers: &mut HeaderMap, ttl: i64, now: SystemTime) {
    match ttl {
        ..0 => {}
        0 => {
            let now = http_date(now);
            headers.insert(
                CACHE_CONTROL,
                HeaderValue::from_static("max-age=0, must-revalidate, no-cache, no-store"),
            );
            headers.insert(EXPIRES, now.clone());
            headers.insert(LAST_MODIFIED, now);
            headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        }
        seconds => {
            let seconds = seconds.unsigned_abs();
            headers.insert(
                CACHE_CONTROL,
                HeaderValue::from_str(&format!("max-age={seconds}")).expect("digits"),
            );
            let expires = now.checked_add(Duration::from_secs(seconds)).unwrap_or(now);
            headers.insert(EXPIRES, http_date(expires));
        }
    }
}

fn http_date(moment: SystemTime) -> HeaderValue {
    HeaderValue::from_str(&httpdate::fmt_http_date(moment)).expect("an HTTP date is ASCII")
}

/// Whether a path starts with `/v<digit>` (Kinto's `^/(?!v[0-9]+)`).
fn is_versioned(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() >= 3 && bytes[0] == b'/' && bytes[1] == b'v' && bytes[2].is_ascii_digit()
}

/// Whether a path holds a percent-encoded CR or LF.
fn has_line_break(path: &str) -> bool {
    path.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && matches!(w[2], b'a' | b'A' | b'd' | b'D'))
}

/// Whether an inner 404 means "no route": a framework's bare 404, or the
/// protocol's errno 111.
fn is_unrouted<B>(response: &Response<B>) -> bool {
    if response.status() != StatusCode::NOT_FOUND {
        return false;
    }
    match response.extensions().get::<Errno>() {
        Some(errno) => *errno == Errno::MissingResource,
        None => !is_json(response),
    }
}

fn is_json<B>(response: &Response<B>) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            let essence = value.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
        })
        .unwrap_or(false)
}

pin_project! {
    /// The future of [`VersionService`].
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner { #[pin] future: F, target: Option<RequestTarget>, config: Arc<Config> },
        Ready { response: Option<Response<B>> },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: From<Bytes>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner {
                future,
                target,
                config,
            } => {
                let response = ready!(future.poll(cx))?;
                if !is_unrouted(&response) {
                    return Poll::Ready(Ok(response));
                }
                let target = target.take().expect("polled after completion");
                if let Some(answer) = config.not_found(&target) {
                    return Poll::Ready(Ok(answer));
                }
                if response.extensions().get::<Errno>().is_some() {
                    // Already the protocol's 404 errno 111.
                    return Poll::Ready(Ok(response));
                }
                Poll::Ready(Ok(ApiError::not_found().into_response()))
            }
            KindProj::Ready { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_paths() {
        for path in ["/v1", "/v1/", "/v2/buckets", "/v10", "/v1abc"] {
            assert!(is_versioned(path), "{path}");
        }
        for path in ["/", "", "/v", "/version", "/buckets", "/V1/"] {
            assert!(!is_versioned(path), "{path}");
        }
    }

    #[test]
    fn line_breaks() {
        assert!(has_line_break("/a%0D%0ASet-Cookie:x"));
        assert!(has_line_break("/a%0a"));
        assert!(!has_line_break("/crlftest%E5%98%8A/"));
        assert!(!has_line_break("/a%20b"));
    }

    #[test]
    fn prefix_matching_is_by_segment() {
        let layer = VersionLayer::new(1);
        assert!(layer.config.is_under_prefix("/v1"));
        assert!(layer.config.is_under_prefix("/v1/"));
        assert!(layer.config.is_under_prefix("/v1/buckets"));
        assert!(!layer.config.is_under_prefix("/v10/buckets"));
        assert!(!layer.config.is_under_prefix("/v1abc"));
        assert!(!layer.config.is_under_prefix("/v2/"));
    }
}
