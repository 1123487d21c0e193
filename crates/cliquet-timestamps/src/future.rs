//! The response future of [`ConditionalGet`](crate::ConditionalGet).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, EXPIRES, HeaderName, LAST_MODIFIED, PRAGMA, TRANSFER_ENCODING,
};
use http::{Method, Response, StatusCode};
use pin_project_lite::pin_project;

use crate::etag::ETag;
use crate::preconditions::{Current, Preconditions, Rejection};

/// The headers a 304 made from a response does not keep.
const DROPPED_ON_304: [HeaderName; 12] = [
    CONTENT_TYPE,
    CONTENT_LENGTH,
    CONTENT_ENCODING,
    CONTENT_LANGUAGE,
    CONTENT_RANGE,
    TRANSFER_ENCODING,
    CACHE_CONTROL,
    EXPIRES,
    PRAGMA,
    HeaderName::from_static("next-page"),
    HeaderName::from_static("total-objects"),
    HeaderName::from_static("total-records"),
];

pin_project! {
    /// The response future of [`ConditionalGet`](crate::ConditionalGet).
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Passthrough { #[pin] future: F },
        Evaluate { #[pin] future: F, preconditions: Preconditions },
        Ready { response: Option<Response<B>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn passthrough(future: F) -> Self {
        Self {
            kind: Kind::Passthrough { future },
        }
    }

    pub(crate) fn evaluate(future: F, preconditions: Preconditions) -> Self {
        Self {
            kind: Kind::Evaluate {
                future,
                preconditions,
            },
        }
    }

    pub(crate) fn ready(response: Response<B>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Passthrough { .. } => "Passthrough",
            Kind::Evaluate { .. } => "Evaluate",
            Kind::Ready { .. } => "Ready",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
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
            KindProj::Passthrough { future } => future.poll(cx),
            KindProj::Evaluate {
                future,
                preconditions,
            } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(conditional(response, preconditions)))
            }
            KindProj::Ready { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("ResponseFuture polled after completion"),
            },
        }
    }
}

/// Evaluates the preconditions of a read against the response's `ETag`.
fn conditional<B: From<Bytes>>(
    response: Response<B>,
    preconditions: &Preconditions,
) -> Response<B> {
    if !response.status().is_success() {
        return response;
    }
    let Some(etag) = response
        .headers()
        .get(ETAG)
        .and_then(|value| ETag::from_header(value).ok())
    else {
        return response;
    };
    match preconditions.evaluate(&Method::GET, Current::collection(etag.timestamp())) {
        Ok(()) => response,
        Err(Rejection::NotModified { current }) => not_modified(response, current),
        Err(rejection) => rejection.into_response(),
    }
}

fn not_modified<B: From<Bytes>>(response: Response<B>, current: ETag) -> Response<B> {
    let (mut parts, _body) = response.into_parts();
    parts.status = StatusCode::NOT_MODIFIED;
    for name in &DROPPED_ON_304 {
        parts.headers.remove(name);
    }
    if !parts.headers.contains_key(LAST_MODIFIED) {
        parts
            .headers
            .insert(LAST_MODIFIED, current.last_modified().into());
    }
    Response::from_parts(parts, B::from(Bytes::new()))
}
