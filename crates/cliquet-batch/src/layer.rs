//! [`BatchLayer`] and its service [`Batch`].

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use cliquet_errors::{ApiError, Location};
use http::header::{
    ACCEPT, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION,
    TRANSFER_ENCODING,
};
use http::uri::PathAndQuery;
use http::{Method, Request, Response, StatusCode, Uri, request, response};
use http_body::Body;
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::payload::{self, Limits, SubrequestSpec};
use crate::response::{Entry, render};
use crate::{
    AbortBatch, BatchCache, NoScope, ResponseBody, Retry, RetryBatch, ScopeHook, Subrequest,
};

/// The default of the `batch_max_requests` setting.
pub const DEFAULT_MAX_REQUESTS: usize = 25;

/// The default version prefix: the batch endpoint is `/v1/batch`.
pub const DEFAULT_PREFIX: &str = "/v1";

/// The only media type the endpoint reads and writes.
const JSON: &str = "application/json";

/// A tower layer that answers `POST {prefix}/batch` and passes every other
/// request to the inner service.
///
/// See the [crate documentation](crate) for the rules it follows.
///
/// `H` is the [`ScopeHook`] that makes a batch one unit of work; the
/// default, [`NoScope`], makes none.
pub struct BatchLayer<H = NoScope> {
    config: Arc<Config>,
    hook: Arc<H>,
}

#[derive(Debug, Clone)]
struct Config {
    prefix: String,
    endpoint: String,
    max_requests: usize,
    /// The largest batch body read; `None` reads any size.
    max_body_bytes: Option<usize>,
    /// How often a batch that lost to a concurrent one runs.
    retry: Retry,
}

impl Config {
    fn new(prefix: &str, max_requests: usize) -> Self {
        let trimmed = prefix.trim_matches('/');
        let prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        };
        Self {
            endpoint: format!("{prefix}/batch"),
            prefix,
            max_requests,
            max_body_bytes: None,
            retry: Retry::default(),
        }
    }
}

impl BatchLayer {
    /// The layer with the protocol's defaults: the endpoint is `/v1/batch`,
    /// a batch holds at most [`DEFAULT_MAX_REQUESTS`] subrequests, and
    /// there is no scope hook.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config::new(DEFAULT_PREFIX, DEFAULT_MAX_REQUESTS)),
            hook: Arc::new(NoScope),
        }
    }
}

impl Default for BatchLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<H> BatchLayer<H> {
    /// Sets the version prefix (`"/v1"`, `"/v0"`): the endpoint is
    /// `{prefix}/batch`, and subrequest paths that do not start with the
    /// prefix get it. Slashes around it are normalised (`"v1/"` is
    /// `"/v1"`); `""` serves `/batch` and prefixes nothing.
    pub fn prefix(mut self, prefix: impl AsRef<str>) -> Self {
        let mut config = Config::new(prefix.as_ref(), self.config.max_requests);
        config.max_body_bytes = self.config.max_body_bytes;
        config.retry = self.config.retry;
        self.config = Arc::new(config);
        self
    }

    /// Sets the most subrequests a batch may hold (the `batch_max_requests`
    /// setting); `0` means unlimited, as in the setting.
    pub fn max_requests(mut self, limit: usize) -> Self {
        let mut config = (*self.config).clone();
        config.max_requests = limit;
        self.config = Arc::new(config);
        self
    }

    /// Sets the largest batch body read, in bytes: a larger body is
    /// answered 413 errno 113 as soon as the limit is passed, before it is
    /// parsed. Without it a body of any size is read whole into memory.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        let mut config = (*self.config).clone();
        config.max_body_bytes = Some(limit);
        self.config = Arc::new(config);
        self
    }

    /// Sets how many times a batch whose subresponse carries
    /// [`RetryBatch`] runs ([`Retry::default`]: 3 attempts).
    pub fn retry(mut self, retry: Retry) -> Self {
        let mut config = (*self.config).clone();
        config.retry = retry;
        self.config = Arc::new(config);
        self
    }

    /// Sets the hook that makes each batch one unit of work.
    pub fn scope<T: ScopeHook>(self, hook: T) -> BatchLayer<T> {
        BatchLayer {
            config: self.config,
            hook: Arc::new(hook),
        }
    }

    /// The path of the batch endpoint (`/v1/batch`).
    pub fn endpoint(&self) -> &str {
        &self.config.endpoint
    }
}

impl<H> Clone for BatchLayer<H> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            hook: self.hook.clone(),
        }
    }
}

impl<H> fmt::Debug for BatchLayer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchLayer")
            .field("endpoint", &self.config.endpoint)
            .field("max_requests", &self.config.max_requests)
            .field("hook", &std::any::type_name::<H>())
            .finish()
    }
}

impl<S, H> Layer<S> for BatchLayer<H> {
    type Service = Batch<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        Batch {
            inner,
            config: self.config.clone(),
            hook: self.hook.clone(),
        }
    }
}

/// The service of [`BatchLayer`].
pub struct Batch<S, H = NoScope> {
    inner: S,
    config: Arc<Config>,
    hook: Arc<H>,
}

impl<S> Batch<S> {
    /// Wraps `inner` with the default [`BatchLayer`].
    pub fn new(inner: S) -> Self {
        BatchLayer::new().layer(inner)
    }
}

impl<S, H> Batch<S, H> {
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

impl<S: Clone, H> Clone for Batch<S, H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: self.config.clone(),
            hook: self.hook.clone(),
        }
    }
}

impl<S: fmt::Debug, H> fmt::Debug for Batch<S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("inner", &self.inner)
            .field("endpoint", &self.config.endpoint)
            .field("max_requests", &self.config.max_requests)
            .finish()
    }
}

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for Batch<S, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    H: ScopeHook,
    ReqBody: Body + From<Bytes> + Send + 'static,
    ReqBody::Data: Send,
    ResBody: Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if request.uri().path() != self.config.endpoint {
            return ResponseFuture {
                kind: Kind::Inner {
                    future: self.inner.call(request),
                },
            };
        }
        // Each subrequest runs through a clone of the inner service; the
        // one made ready by `poll_ready` is taken, as tower's docs advise.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        let run = Run {
            inner,
            config: self.config.clone(),
            hook: self.hook.clone(),
        };
        ResponseFuture {
            kind: Kind::Batch {
                future: Box::pin(run.batch(request)),
            },
        }
    }
}

type BoxFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<ResponseBody<B>>, E>> + Send>>;

pin_project! {
    /// The future of [`Batch`]: the inner service's own future for every
    /// request but the batch, a boxed one for the batch.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Inner { #[pin] future: F },
        Batch { future: BoxFuture<B, E> },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(ResponseBody::inner))),
            KindProj::Batch { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Inner { .. } => "Inner",
            Kind::Batch { .. } => "Batch",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}

/// What a batch needs, moved into its future.
struct Run<S, H> {
    inner: S,
    config: Arc<Config>,
    hook: Arc<H>,
}

/// A subresponse, its body read.
struct Sent {
    /// The path the subrequest was finally sent to (after a redirect).
    path: PathAndQuery,
    parts: response::Parts,
    body: Bytes,
}

/// Reads the batch body whole, refusing it (413 errno 113) once it grows
/// past `limit`.
async fn read_body<B: Body>(body: B, limit: Option<usize>) -> Result<Bytes, ApiError> {
    let unreadable =
        || ApiError::invalid_parameter(Location::Body, "", "The request body could not be read.");
    let Some(limit) = limit else {
        return body
            .collect()
            .await
            .map(|body| body.to_bytes())
            .map_err(|_| unreadable());
    };
    if let Some(length) = body.size_hint().exact()
        && length > limit as u64
    {
        return Err(ApiError::request_too_large());
    }
    let mut body = std::pin::pin!(body);
    let mut bytes = bytes::BytesMut::new();
    while let Some(frame) = body.as_mut().frame().await {
        let frame = frame.map_err(|_| unreadable())?;
        if let Ok(data) = frame.into_data() {
            let mut data = data;
            if bytes.len() + data.remaining() > limit {
                return Err(ApiError::request_too_large());
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                bytes.extend_from_slice(chunk);
                let read = chunk.len();
                data.advance(read);
            }
        }
    }
    Ok(bytes.freeze())
}

/// How sending a subrequest can fail.
enum Failure<E> {
    /// The inner service failed.
    Service(E),
    /// The subresponse's body could not be read.
    Body,
}

impl<S, H> Run<S, H> {
    async fn batch<ReqBody, ResBody>(
        self,
        request: Request<ReqBody>,
    ) -> Result<Response<ResponseBody<ResBody>>, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
        H: ScopeHook,
        ReqBody: Body + From<Bytes>,
        ResBody: Body<Data = Bytes>,
    {
        let (parts, body) = request.into_parts();
        if parts.method != Method::POST {
            return Ok(error(
                ApiError::method_not_allowed().with_header(ALLOW, HeaderValue::from_static("POST")),
            ));
        }
        if !is_json(&parts.headers) {
            return Ok(error(ApiError::unsupported_media_type(&[JSON])));
        }
        if !accepts_json(&parts.headers) {
            return Ok(error(ApiError::not_acceptable(&[JSON])));
        }
        let body = match read_body(body, self.config.max_body_bytes).await {
            Ok(body) => body,
            Err(failed) => return Ok(error(failed)),
        };
        let limits = Limits {
            prefix: &self.config.prefix,
            max_requests: self.config.max_requests,
        };
        let subrequests = match payload::parse(&body, &limits) {
            Ok(subrequests) => subrequests,
            Err(invalid) => return Ok(error(*invalid)),
        };
        if subrequests.is_empty() {
            return Ok(answer(&[]));
        }

        let mut failed = 0;
        loop {
            let outcome =
                attempt(self.inner.clone(), self.hook.as_ref(), &parts, &subrequests).await?;
            match outcome {
                Attempt::Done(response) => return Ok(response),
                Attempt::Conflict(response) => {
                    // Everything of this attempt was rolled back, and its
                    // subresponses are dropped with it.
                    failed += 1;
                    if !self.config.retry.should_retry(failed) {
                        return Ok(response);
                    }
                    self.config.retry.pause(failed).await;
                }
            }
        }
    }
}

/// Runs every subrequest of a batch once, in a new scope.
///
/// The service is taken by value: `S` need not be `Sync`.
async fn attempt<S, H, ReqBody, ResBody>(
    inner: S,
    hook: &H,
    parts: &request::Parts,
    subrequests: &[SubrequestSpec],
) -> Result<Attempt<ResBody>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    H: ScopeHook,
    ReqBody: Body + From<Bytes>,
    ResBody: Body<Data = Bytes>,
{
    let scope = match hook.begin(parts).await {
        Ok(scope) => scope,
        Err(failed) => return Ok(Attempt::Done(error(failed))),
    };
    let cache = BatchCache::default();
    let count = subrequests.len();
    let mut entries = Vec::with_capacity(count);
    for (index, spec) in subrequests.iter().enumerate() {
        let marker = Subrequest::new(index, count, cache.clone());
        let sent = match send(inner.clone(), parts, spec, &scope, &marker).await {
            Ok(sent) => sent,
            Err(Failure::Service(failed)) => {
                hook.rollback(scope).await;
                return Err(failed);
            }
            Err(Failure::Body) => {
                hook.rollback(scope).await;
                return Ok(Attempt::Done(error(ApiError::internal())));
            }
        };
        let conflict = sent.parts.extensions.get::<RetryBatch>().is_some();
        if conflict || aborts(&sent.parts) {
            hook.rollback(scope).await;
            let response = Response::from_parts(sent.parts, ResponseBody::full(sent.body));
            return Ok(if conflict {
                Attempt::Conflict(response)
            } else {
                Attempt::Done(response)
            });
        }
        entries.push(Entry::new(
            sent.path.as_str(),
            &spec.method,
            sent.parts.status,
            &sent.parts.headers,
            sent.body,
        ));
    }
    match hook.commit(scope).await {
        Ok(()) => Ok(Attempt::Done(answer(&entries))),
        Err(failed) => Ok(Attempt::Done(error(failed))),
    }
}

/// How one run of a batch ended.
enum Attempt<B> {
    /// With the batch's answer.
    Done(Response<ResponseBody<B>>),
    /// Rolled back on a transaction conflict: run it again, or answer this.
    Conflict(Response<ResponseBody<B>>),
}

/// Sends one subrequest through a clone of `inner`, and follows one
/// temporary or permanent redirect (307, 308) with the same method, headers
/// and body.
///
/// The service is taken by value: the future must be `Send`, and `S` need
/// not be `Sync`.
async fn send<S, T, ReqBody, ResBody>(
    inner: S,
    outer: &request::Parts,
    spec: &SubrequestSpec,
    scope: &T,
    marker: &Subrequest,
) -> Result<Sent, Failure<S::Error>>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    T: Clone + Send + Sync + 'static,
    ReqBody: From<Bytes>,
    ResBody: Body<Data = Bytes>,
{
    let mut sent = send_to(inner.clone(), outer, spec, &spec.path, scope, marker).await?;
    if matches!(
        sent.parts.status,
        StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
    ) {
        let target = sent
            .parts
            .headers
            .get(LOCATION)
            .and_then(|location| location.to_str().ok())
            .and_then(|location| location.parse::<Uri>().ok())
            .and_then(|location| location.path_and_query().cloned());
        if let Some(target) = target {
            sent = send_to(inner, outer, spec, &target, scope, marker).await?;
        }
    }
    Ok(sent)
}

async fn send_to<S, T, ReqBody, ResBody>(
    mut service: S,
    outer: &request::Parts,
    spec: &SubrequestSpec,
    path: &PathAndQuery,
    scope: &T,
    marker: &Subrequest,
) -> Result<Sent, Failure<S::Error>>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    T: Clone + Send + Sync + 'static,
    ReqBody: From<Bytes>,
    ResBody: Body<Data = Bytes>,
{
    let request = subrequest(outer, spec, path, scope, marker);
    poll_fn(|cx| service.poll_ready(cx))
        .await
        .map_err(Failure::Service)?;
    let response = service.call(request).await.map_err(Failure::Service)?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|_| Failure::Body)?.to_bytes();
    Ok(Sent {
        path: path.clone(),
        parts,
        body,
    })
}

/// Builds a subrequest: the batch request's head (its headers, extensions,
/// version, scheme and authority), the subrequest's method, path, headers
/// and body, the scope and the [`Subrequest`] marker.
fn subrequest<B: From<Bytes>, T: Clone + Send + Sync + 'static>(
    outer: &request::Parts,
    spec: &SubrequestSpec,
    path: &PathAndQuery,
    scope: &T,
    marker: &Subrequest,
) -> Request<B> {
    let mut uri = http::uri::Parts::default();
    uri.scheme = outer.uri.scheme().cloned();
    uri.authority = outer.uri.authority().cloned();
    uri.path_and_query = Some(path.clone());
    let uri = Uri::from_parts(uri).unwrap_or_else(|_| Uri::from(path.clone()));

    let mut headers = outer.headers.clone();
    for (name, value) in &spec.headers {
        headers.insert(name.clone(), value.clone());
    }
    // The body is another: its length and framing are neither the batch's
    // nor what the subrequest's headers may claim.
    headers.remove(CONTENT_LENGTH);
    headers.remove(TRANSFER_ENCODING);
    let body = match &spec.body {
        Some(json) => {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            headers.insert(CONTENT_LENGTH, HeaderValue::from(json.len()));
            json.clone()
        }
        None => Bytes::new(),
    };

    let mut request = Request::new(B::from(body));
    *request.method_mut() = spec.method.clone();
    *request.uri_mut() = uri;
    *request.version_mut() = outer.version;
    *request.headers_mut() = headers;
    let extensions = request.extensions_mut();
    *extensions = outer.extensions.clone();
    extensions.insert(scope.clone());
    extensions.insert(marker.clone());
    request
}

/// Whether a subresponse ends the batch: a server error, a conflict, or a
/// subresponse marked with [`AbortBatch`].
fn aborts(parts: &response::Parts) -> bool {
    parts.status.is_server_error()
        || parts.status == StatusCode::CONFLICT
        || parts.extensions.get::<AbortBatch>().is_some()
}

fn answer<B>(entries: &[Entry]) -> Response<ResponseBody<B>> {
    let mut response = Response::new(ResponseBody::full(render(entries)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

fn error<B>(error: ApiError) -> Response<ResponseBody<B>> {
    error.into_response::<Bytes>().map(ResponseBody::full)
}

/// Whether the request's `Content-Type` is JSON (any parameters).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or_default().trim())
        .is_some_and(|essence| essence.eq_ignore_ascii_case(JSON))
}

/// Whether the request's `Accept` allows JSON: no `Accept`, or a range
/// among `application/json`, `application/*`, `*/*` with a non-zero `q`.
/// An `Accept` that cannot be read is taken as accepting anything.
fn accepts_json(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return true;
    }
    let mut ranges = 0;
    for value in values {
        let Ok(value) = value.to_str() else {
            return true;
        };
        for range in value.split(',') {
            let mut params = range.split(';');
            let media = params.next().unwrap_or_default().trim();
            if media.is_empty() {
                continue;
            }
            ranges += 1;
            let q = params
                .filter_map(|param| param.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, q)| q.trim().parse::<f32>().ok());
            let matches = media.eq_ignore_ascii_case(JSON)
                || media.eq_ignore_ascii_case("application/*")
                || media == "*/*";
            if matches && q.is_some_and(|q| q > 0.0) {
                return true;
            }
        }
    }
    ranges == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn prefix_is_normalised() {
        assert_eq!(BatchLayer::new().endpoint(), "/v1/batch");
        assert_eq!(BatchLayer::new().prefix("v0/").endpoint(), "/v0/batch");
        assert_eq!(BatchLayer::new().prefix("/").endpoint(), "/batch");
        assert_eq!(BatchLayer::new().prefix("").endpoint(), "/batch");
        let layer = BatchLayer::new().max_requests(3).prefix("/v2");
        assert_eq!(layer.config.max_requests, 3);
        assert_eq!(layer.config.prefix, "/v2");
        let layer = BatchLayer::new().max_body_bytes(10).prefix("/v3");
        assert_eq!(layer.config.max_body_bytes, Some(10));
        assert_eq!(layer.max_requests(4).config.max_body_bytes, Some(10));
    }

    /// A body in chunks whose size is not known in advance.
    struct Chunks(Vec<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            if self.0.is_empty() {
                Poll::Ready(None)
            } else {
                Poll::Ready(Some(Ok(http_body::Frame::data(self.0.remove(0)))))
            }
        }
    }

    #[tokio::test]
    async fn body_limit() {
        let full = || http_body_util::Full::new(Bytes::from_static(b"0123456789"));
        assert_eq!(read_body(full(), None).await.unwrap().len(), 10);
        assert_eq!(read_body(full(), Some(10)).await.unwrap().len(), 10);
        let refused = read_body(full(), Some(9)).await.unwrap_err();
        assert_eq!(
            (refused.code().as_u16(), refused.errno().as_u16()),
            (413, 113)
        );

        let chunks = || {
            Chunks(vec![
                Bytes::from_static(b"01234"),
                Bytes::from_static(b"56789"),
            ])
        };
        assert_eq!(
            &read_body(chunks(), Some(10)).await.unwrap()[..],
            b"0123456789"
        );
        let refused = read_body(chunks(), Some(7)).await.unwrap_err();
        assert_eq!(
            (refused.code().as_u16(), refused.errno().as_u16()),
            (413, 113)
        );
    }

    #[test]
    fn content_type() {
        assert!(is_json(&headers(&[("content-type", "application/json")])));
        assert!(is_json(&headers(&[(
            "content-type",
            "Application/JSON; charset=utf-8"
        )])));
        assert!(!is_json(&headers(&[("content-type", "text/plain")])));
        assert!(!is_json(&headers(&[(
            "content-type",
            "application/merge-patch+json"
        )])));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn accept() {
        assert!(accepts_json(&HeaderMap::new()));
        for accept in [
            "application/json",
            "*/*",
            "application/*",
            "text/html, application/json;q=0.5",
            "text/html;level=1, */*;q=0.1",
        ] {
            assert!(accepts_json(&headers(&[("accept", accept)])), "{accept}");
        }
        for accept in ["text/html", "application/json;q=0", "text/*, image/png"] {
            assert!(!accepts_json(&headers(&[("accept", accept)])), "{accept}");
        }
        assert!(accepts_json(&headers(&[
            ("accept", "text/html"),
            ("accept", "application/json")
        ])));
    }
}
