//! [`RequestLogLayer`]: one `request.summary` log entry per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use cliquet_errors::Errno;
use http::header::{ACCEPT_LANGUAGE, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tower_layer::Layer;
use tower_service::Service;

use crate::context::{RequestContext, RequestId, SubrequestMarker};

/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest `X-Request-Id` taken from a client; longer ones are replaced
/// by a generated id.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Emits one `tracing` event per request, target `request.summary`
/// (`subrequest.summary` for batch subrequests), level `INFO`, with the
/// protocol's fields:
///
/// | field | value |
/// | --- | --- |
/// | `agent` | `User-Agent` (absent when missing) |
/// | `path` | the request path |
/// | `method` | the request method |
/// | `lang` | `Accept-Language` (absent when missing) |
/// | `rid` | the [`RequestId`]: `X-Request-Id` or a generated UUID4 |
/// | `errno` | 0 below 400, else the [`Errno`] in the response's extensions (the errno of the status when there is none) |
/// | `code` | the status code (500 when the inner service fails) |
/// | `t` | milliseconds until the response head was ready |
/// | `time` | the time of the response, RFC 3339, UTC |
/// | `uid`, `authn_type` | when a user was reported through the [`RequestContext`] |
/// | `querystring` | the raw query string, when non-empty |
///
/// Kinto logs the query string as a dictionary of its decoded parameters;
/// a `tracing` field holds a string, so it is logged as it came.
///
/// The inner service runs in an `INFO` span named `request` (fields
/// `otel.name`, `otel.kind`, `http.request.method`, `url.path`,
/// `request_id`, then `http.response.status_code`), which
/// `tracing-opentelemetry` exports as the request's server span; its name
/// becomes `<METHOD> <endpoint>` once the application reported the
/// endpoint. The summary event is emitted inside it. Incoming
/// `traceparent` headers are not read: put a propagating layer outside
/// to join a caller's trace.
///
/// The request id is also put in the request's extensions, reused by
/// subrequests (the batch copies its extensions: a batch and its
/// subrequests share one id), and, with
/// [`propagate_request_id`](Self::propagate_request_id), echoed in the
/// response's `X-Request-Id` header (off by default: Kinto does not echo it).
#[derive(Debug, Clone, Copy)]
pub struct RequestLogLayer {
    marker: SubrequestMarker,
    propagate: bool,
}

impl Default for RequestLogLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestLogLayer {
    /// A layer logging every request as `request.summary`.
    pub fn new() -> Self {
        Self {
            marker: SubrequestMarker::none(),
            propagate: false,
        }
    }

    /// Requests carrying an extension of type `T` (the batch layer's
    /// subrequest marker) log as `subrequest.summary`.
    pub fn subrequest_marker<T: Send + Sync + 'static>(mut self) -> Self {
        self.marker = SubrequestMarker::of::<T>();
        self
    }

    /// Whether to set the response's `X-Request-Id` to the request id when
    /// the inner service did not set one.
    pub fn propagate_request_id(mut self, propagate: bool) -> Self {
        self.propagate = propagate;
        self
    }
}

impl<S> Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestLog {
            inner,
            layer: *self,
        }
    }
}

/// The service of [`RequestLogLayer`].
#[derive(Debug, Clone)]
pub struct RequestLog<S> {
    inner: S,
    layer: RequestLogLayer,
}

impl<S> RequestLog<S> {
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestLog<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let subrequest = (self.layer.marker.0)(request.extensions());
        let context = RequestContext::for_request(request.extensions_mut(), subrequest);
        let rid = request_id(&mut request);
        let header = |name| {
            request
                .headers()
                .get(name)
                .map(|value: &HeaderValue| String::from_utf8_lossy(value.as_bytes()).into_owned())
        };
        let head = Head {
            start,
            subrequest,
            context,
            agent: header(USER_AGENT),
            lang: header(ACCEPT_LANGUAGE),
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
            querystring: request
                .uri()
                .query()
                .filter(|query| !query.is_empty())
                .map(str::to_owned),
            rid,
            propagate: self.layer.propagate,
        };
        let span = tracing::info_span!(
            "request",
            otel.name = head.method.as_str(),
            otel.kind = "server",
            http.request.method = head.method.as_str(),
            url.path = head.path.as_str(),
            request_id = head.rid.as_str(),
            http.response.status_code = tracing::field::Empty,
        );
        let inner = span.in_scope(|| self.inner.call(request));
        ResponseFuture {
            inner,
            head: Some(head),
            span,
        }
    }
}

/// The request id: the extension a previous layer (or the batch request)
/// left, else a usable `X-Request-Id`, else a new one.
fn request_id<B>(request: &mut Request<B>) -> RequestId {
    if let Some(id) = request.extensions().get::<RequestId>() {
        return id.clone();
    }
    let id = request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty() && value.len() <= MAX_REQUEST_ID_LEN)
        .map(|value| RequestId(value.into()))
        .unwrap_or_else(RequestId::generate);
    request.extensions_mut().insert(id.clone());
    id
}

struct Head {
    start: Instant,
    subrequest: bool,
    context: RequestContext,
    agent: Option<String>,
    lang: Option<String>,
    method: Method,
    path: String,
    querystring: Option<String>,
    rid: RequestId,
    propagate: bool,
}

impl Head {
    fn emit(self, code: StatusCode, errno: u16) {
        let t = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let time = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let snapshot = self.context.snapshot();
        let span = tracing::Span::current();
        span.record("http.response.status_code", code.as_u16());
        if let Some(endpoint) = &snapshot.endpoint {
            span.record(
                "otel.name",
                format!("{} {endpoint}", self.method.as_str()).as_str(),
            );
        }
        let (uid, authn_type) = match &snapshot.user {
            Some(user) => (Some(user.user_id.as_str()), Some(user.authn_type.as_str())),
            None => (None, None),
        };
        let code = code.as_u16();
        macro_rules! summary {
            ($target:literal) => {
                tracing::info!(
                    target: $target,
                    agent = self.agent.as_deref(),
                    path = self.path.as_str(),
                    method = self.method.as_str(),
                    lang = self.lang.as_deref(),
                    rid = self.rid.as_str(),
                    errno,
                    code,
                    t,
                    time = time.as_str(),
                    uid,
                    authn_type,
                    querystring = self.querystring.as_deref(),
                )
            };
        }
        if self.subrequest {
            summary!("subrequest.summary");
        } else {
            summary!("request.summary");
        }
    }
}

pin_project! {
    /// The response future of [`RequestLog`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        head: Option<Head>,
        span: tracing::Span,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = ready!(this.inner.poll(cx));
        let Some(head) = this.head.take() else {
            return Poll::Ready(result);
        };
        match result {
            Ok(mut response) => {
                let status = response.status();
                let errno = errno_of(status, response.extensions().get::<Errno>());
                if head.propagate
                    && !response.headers().contains_key(X_REQUEST_ID)
                    && let Ok(value) = HeaderValue::from_str(head.rid.as_str())
                {
                    response.headers_mut().insert(X_REQUEST_ID, value);
                }
                head.emit(status, errno);
                Poll::Ready(Ok(response))
            }
            Err(error) => {
                head.emit(StatusCode::INTERNAL_SERVER_ERROR, Errno::Undefined.as_u16());
                Poll::Ready(Err(error))
            }
        }
    }
}

pub(crate) fn errno_of(status: StatusCode, errno: Option<&Errno>) -> u16 {
    if status.as_u16() < 400 {
        return 0;
    }
    errno
        .copied()
        .unwrap_or_else(|| Errno::for_status(status))
        .as_u16()
}
