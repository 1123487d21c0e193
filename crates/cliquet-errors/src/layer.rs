//! [`ErrorLayer`]: every failure of the inner service becomes a protocol error.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::response::Parts;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::{BodyExt, Limited};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::{ApiError, Errno, ResponseBody};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How much of a framework's plain-text 400 body is read to become the
/// message of the JSON error.
const REJECTION_BODY_LIMIT: usize = 4096;

/// The default of the `error_info_link` setting: the `info` of 500 errors.
pub const DEFAULT_INFO_LINK: &str = "https://github.com/Kinto/kinto/issues/";

/// The default of the `retry_after_seconds` setting.
pub const DEFAULT_RETRY_AFTER_SECONDS: u64 = 30;

/// A tower layer that makes every error the client sees a protocol error.
///
/// - A panic in the inner service (in `call` or while its future runs)
///   becomes 500 errno 999 with the configured `info` link, is logged with
///   `tracing` (and reported to Sentry with the `sentry` feature); the
///   service keeps serving.
/// - An inner `Err` becomes the [`ApiError`] it holds, if it is one (found
///   by downcast), and 500 errno 999 otherwise.
/// - An error response that is not JSON (a framework's plain-text 404, 405,
///   413, 415 or 400 rejection, or a bare status code) is rewritten into the
///   protocol's JSON with the errno its status maps to
///   ([`Errno::for_status`]); the headers it had (`Allow`, say) are kept. The
///   text of a plain 400 or 422 rejection becomes the message.
/// - 503 responses that carry an errno (and every rewritten 503), and 409
///   responses with errno 122, get `Retry-After` unless they have one.
///   A hand-made JSON 503 without an errno, such as a heartbeat's health
///   map, is left as it is.
///
/// The layer's service never fails: its error type is [`Infallible`].
#[derive(Debug, Clone)]
pub struct ErrorLayer {
    config: Arc<Config>,
}

#[derive(Debug, Clone)]
struct Config {
    retry_after: HeaderValue,
    info_link: Option<String>,
}

impl Default for ErrorLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ErrorLayer {
    /// The layer with the protocol's defaults: `Retry-After: 30`, and
    /// [`DEFAULT_INFO_LINK`] as the `info` of 500 errors.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config {
                retry_after: HeaderValue::from(DEFAULT_RETRY_AFTER_SECONDS),
                info_link: Some(DEFAULT_INFO_LINK.to_owned()),
            }),
        }
    }

    /// Sets the `Retry-After` seconds of 503 and 409 responses (the
    /// `retry_after_seconds` setting; Kinto uses 3).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        Arc::make_mut(&mut self.config).retry_after = HeaderValue::from(seconds);
        self
    }

    /// Sets the `info` of 500 errors (the `error_info_link` setting); `None`
    /// leaves it out.
    pub fn info_link(mut self, link: Option<impl Into<String>>) -> Self {
        Arc::make_mut(&mut self.config).info_link = link.map(Into::into);
        self
    }
}

impl<S> Layer<S> for ErrorLayer {
    type Service = ErrorService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`ErrorLayer`].
#[derive(Debug, Clone)]
pub struct ErrorService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> ErrorService<S> {
    /// Wraps `inner` with the default [`ErrorLayer`].
    pub fn new(inner: S) -> Self {
        ErrorLayer::new().layer(inner)
    }

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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ErrorService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // A service that cannot become ready has no request to answer: wait
        // for it, and report its failure on the next call instead.
        match self.inner.poll_ready(cx) {
            Poll::Ready(_) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let context = RequestContext::new(&request, self.config.clone());
        let state = match catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => State::Inner { future },
            Err(payload) => State::Panicked {
                payload: Some(payload),
            },
        };
        ResponseFuture { state, context }
    }
}

/// What the layer keeps of a request to describe its failures.
struct RequestContext {
    method: Method,
    uri: Uri,
    config: Arc<Config>,
    #[cfg(feature = "sentry")]
    sentry: Option<crate::sentry::Capture>,
}

impl RequestContext {
    fn new<B>(request: &Request<B>, config: Arc<Config>) -> Self {
        Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            config,
            #[cfg(feature = "sentry")]
            sentry: crate::sentry::Capture::for_request(request),
        }
    }

    fn internal_error(&self) -> ApiError {
        let error = ApiError::internal();
        match &self.config.info_link {
            Some(link) => error.with_info(link.clone()),
            None => error,
        }
    }

    fn report(&self, description: &str) {
        tracing::error!(
            method = %self.method,
            path = %self.uri.path(),
            querystring = self.uri.query().unwrap_or_default(),
            "{description}"
        );
        #[cfg(feature = "sentry")]
        if let Some(capture) = &self.sentry {
            capture.send(&self.method, &self.uri, description);
        }
    }

    /// Adds `Retry-After` where the protocol wants it.
    fn finish<B>(&self, mut response: Response<B>) -> Response<B> {
        let errno = response.extensions().get::<Errno>().copied();
        let wants_retry_after = match response.status() {
            StatusCode::SERVICE_UNAVAILABLE => errno.is_some(),
            StatusCode::CONFLICT => errno == Some(Errno::ConstraintViolated),
            _ => false,
        };
        if wants_retry_after && !response.headers().contains_key(RETRY_AFTER) {
            response
                .headers_mut()
                .insert(RETRY_AFTER, self.config.retry_after.clone());
        }
        response
    }

    /// Reports a 5xx that the inner service answered (503s are expected
    /// outages, not bugs: they are logged by whoever raised them).
    fn report_answered(&self, status: StatusCode) {
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            self.report(&format!("the inner service answered {status}"));
        }
    }

    fn respond<B>(&self, error: ApiError) -> Response<ResponseBody<B>> {
        let response: Response<Bytes> = error.into_response();
        self.finish(response.map(ResponseBody::full))
    }

    fn panicked<B>(&self, payload: Box<dyn Any + Send>) -> Response<ResponseBody<B>> {
        let message = panic_message(&*payload);
        self.report(&format!("panic while handling the request: {message}"));
        self.respond(self.internal_error())
    }

    fn failed<B>(&self, error: BoxError) -> Response<ResponseBody<B>> {
        match error.downcast::<ApiError>() {
            Ok(error) => self.respond(*error),
            Err(error) => {
                self.report(&format!("unhandled error: {error}"));
                self.respond(self.internal_error())
            }
        }
    }

    /// The protocol error that replaces a non-JSON error response, given
    /// the text of its body when it was read.
    fn rewrite(&self, status: StatusCode, text: Option<&str>) -> ApiError {
        let errno = Errno::for_status(status);
        match status {
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
                let description = text
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .unwrap_or("Invalid request");
                ApiError::invalid_parameters([crate::ValidationDetail::new(
                    crate::Location::Body,
                    "",
                    description,
                )])
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ApiError::unsupported_media_type(&["application/json"])
            }
            StatusCode::NOT_ACCEPTABLE => ApiError::not_acceptable(&["application/json"]),
            StatusCode::NOT_FOUND => ApiError::not_found(),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::method_not_allowed(),
            StatusCode::UNAUTHORIZED => ApiError::unauthorized(),
            StatusCode::FORBIDDEN => ApiError::forbidden(),
            StatusCode::CONFLICT => ApiError::conflict(),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::request_too_large(),
            StatusCode::SERVICE_UNAVAILABLE => ApiError::backend_unavailable(),
            StatusCode::GONE => ApiError::service_deprecated(),
            StatusCode::INTERNAL_SERVER_ERROR => self.internal_error(),
            _ => ApiError::new(status, errno),
        }
    }

    /// A non-JSON error response rewritten, keeping its headers.
    fn rewritten<B>(&self, mut parts: Parts, error: ApiError) -> Response<ResponseBody<B>> {
        let errno = error.errno();
        parts.status = error.code();
        parts.headers.remove(CONTENT_LENGTH);
        parts
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in error.headers() {
            parts.headers.append(name, value.clone());
        }
        parts.extensions.insert(errno);
        self.finish(Response::from_parts(
            parts,
            ResponseBody::full(error.to_json()),
        ))
    }
}

pin_project! {
    /// The future of [`ErrorService`].
    pub struct ResponseFuture<F, B>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        #[pin]
        state: State<F, B>,
        context: RequestContext,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        Inner { #[pin] future: F },
        Reading { parts: Option<Parts>, #[pin] collect: Collect<Limited<B>> },
        Panicked { payload: Option<Box<dyn Any + Send>> },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let context = &*this.context;
            match this.state.as_mut().project() {
                StateProj::Panicked { payload } => {
                    let payload = payload.take().unwrap_or_else(|| Box::new("polled again"));
                    return Poll::Ready(Ok(context.panicked(payload)));
                }
                StateProj::Inner { future } => {
                    let polled = catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
                    let response = match polled {
                        Err(payload) => return Poll::Ready(Ok(context.panicked(payload))),
                        Ok(Poll::Pending) => return Poll::Pending,
                        Ok(Poll::Ready(Err(error))) => {
                            return Poll::Ready(Ok(context.failed(error.into())));
                        }
                        Ok(Poll::Ready(Ok(response))) => response,
                    };
                    let status = response.status();
                    context.report_answered(status);
                    if !(status.is_client_error() || status.is_server_error()) || is_json(&response)
                    {
                        return Poll::Ready(Ok(context.finish(response.map(ResponseBody::inner))));
                    }
                    let (parts, body) = response.into_parts();
                    if matches!(
                        status,
                        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY
                    ) {
                        this.state.set(State::Reading {
                            parts: Some(parts),
                            collect: Limited::new(body, REJECTION_BODY_LIMIT).collect(),
                        });
                        continue;
                    }
                    let error = context.rewrite(status, None);
                    return Poll::Ready(Ok(context.rewritten(parts, error)));
                }
                StateProj::Reading { parts, collect } => {
                    let text = match ready!(collect.poll(cx)) {
                        Ok(collected) => {
                            String::from_utf8_lossy(&collected.to_bytes()).into_owned()
                        }
                        Err(_) => String::new(),
                    };
                    let parts = parts.take().expect("polled after completion");
                    let error = context.rewrite(parts.status, Some(&text));
                    return Poll::Ready(Ok(context.rewritten(parts, error)));
                }
            }
        }
    }
}

fn is_json<B>(response: &Response<B>) -> bool {
    let Some(value) = response.headers().get(CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "opaque panic payload"
    }
}
