//! [`BackoffService`]: the service made by [`BackoffLayer`](crate::BackoffLayer).

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use cliquet_errors::ApiError;
use http::{Method, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::BackoffLayer;
use crate::future::ResponseFuture;
use crate::layer::Shared;

/// The service of [`BackoffLayer`](crate::BackoffLayer).
#[derive(Clone)]
pub struct BackoffService<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

impl<S> BackoffService<S> {
    /// Wraps `inner` with the default [`BackoffLayer`]: no `Backoff`,
    /// `Retry-After: 30`, not read-only.
    pub fn new(inner: S) -> Self {
        BackoffLayer::new().layer(inner)
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

impl<S: std::fmt::Debug> std::fmt::Debug for BackoffService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackoffService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// Whether read-only mode lets this method through.
fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for BackoffService<S>
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
        if self.shared.state.readonly() && !is_read(request.method()) {
            // `method_not_allowed()` carries no `Allow` header: the protocol
            // sends none for the read-only refusal.
            let response = ApiError::method_not_allowed().into_response();
            return ResponseFuture::ready(response, self.shared.clone());
        }
        ResponseFuture::inner(self.inner.call(request), self.shared.clone())
    }
}
