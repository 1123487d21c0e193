//! [`ResponseFuture`]: the future of [`BackoffService`](crate::BackoffService).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use cliquet_errors::Errno;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use pin_project_lite::pin_project;

use crate::layer::Shared;

/// The `Backoff` header name.
pub const BACKOFF: http::HeaderName = http::HeaderName::from_static("backoff");

pin_project! {
    /// The future of [`BackoffService`](crate::BackoffService): the inner
    /// service's future, or the read-only refusal, with the headers added
    /// once the response is there.
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
        shared: Arc<Shared>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner { #[pin] future: F },
        Ready { response: Option<Response<B>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn inner(future: F, shared: Arc<Shared>) -> Self {
        Self {
            kind: Kind::Inner { future },
            shared,
        }
    }

    pub(crate) fn ready(response: Response<B>, shared: Arc<Shared>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
            shared,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.kind.project() {
            KindProj::Inner { future } => ready!(future.poll(cx))?,
            KindProj::Ready { response } => response.take().expect("polled after completion"),
        };
        Poll::Ready(Ok(decorate(this.shared, response)))
    }
}

/// Adds `Backoff` and `Retry-After` to a response.
fn decorate<B>(shared: &Shared, mut response: Response<B>) -> Response<B> {
    if let Some(value) = shared.backoff_header() {
        response.headers_mut().insert(BACKOFF, value);
    }
    if wants_retry_after(&response) && !response.headers().contains_key(RETRY_AFTER) {
        response
            .headers_mut()
            .insert(RETRY_AFTER, shared.retry_after.clone());
    }
    response
}

/// Whether the protocol asks clients to wait before retrying this response.
fn wants_retry_after<B>(response: &Response<B>) -> bool {
    let errno = response.extensions().get::<Errno>().copied();
    match response.status() {
        // A JSON 503 without an errno is a health report (the heartbeat's),
        // which the protocol sends without `Retry-After`; every other 503
        // (a protocol error, a bare status, a plain-text page) gets it.
        StatusCode::SERVICE_UNAVAILABLE => errno.is_some() || !is_json(response),
        StatusCode::TOO_MANY_REQUESTS => true,
        StatusCode::CONFLICT => errno == Some(Errno::ConstraintViolated),
        _ => false,
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
