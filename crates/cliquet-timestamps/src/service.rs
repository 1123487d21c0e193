//! [`ConditionalGet`], the service of [`ConditionalGetLayer`].
//!
//! [`ConditionalGetLayer`]: crate::ConditionalGetLayer

use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::preconditions::Preconditions;

/// The service of [`ConditionalGetLayer`](crate::ConditionalGetLayer).
///
/// A 304 it makes from a response keeps that response's headers but drops
/// its body and the headers that describe the body or its caching:
/// `Content-Type`, `Content-Length`, `Content-Encoding`, `Content-Language`,
/// `Content-Range`, `Transfer-Encoding`, `Cache-Control`, `Expires`,
/// `Pragma`, and the protocol's list headers `Next-Page`, `Total-Objects`,
/// `Total-Records`. `Last-Modified` is added from the `ETag` when the
/// response had none.
#[derive(Debug, Clone)]
pub struct ConditionalGet<S> {
    inner: S,
}

impl<S> ConditionalGet<S> {
    /// Wraps `inner`.
    pub const fn new(inner: S) -> Self {
        Self { inner }
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ConditionalGet<S>
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

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let preconditions = match Preconditions::from_headers(request.headers()) {
            Ok(preconditions) => preconditions,
            Err(error) => return ResponseFuture::ready(error.into_response()),
        };
        let read = matches!(*request.method(), Method::GET | Method::HEAD);
        request.extensions_mut().insert(preconditions);
        let future = self.inner.call(request);
        if read && !preconditions.is_empty() {
            ResponseFuture::evaluate(future, preconditions)
        } else {
            ResponseFuture::passthrough(future)
        }
    }
}
