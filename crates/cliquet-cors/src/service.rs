//! [`CorsService`]: the service made by [`CorsLayer`](crate::CorsLayer).

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use http::{HeaderValue, Method, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::CorsLayer;
use crate::future::{Preflight, ResponseFuture};
use crate::layer::Config;

/// The service of [`CorsLayer`](crate::CorsLayer).
#[derive(Clone)]
pub struct CorsService<S> {
    pub(crate) cors: tower_http::cors::Cors<S>,
    pub(crate) config: Arc<Config>,
}

impl<S> CorsService<S> {
    /// Wraps `inner` with the default [`CorsLayer`]: every origin allowed.
    pub fn new(inner: S) -> Self {
        CorsLayer::new().layer(inner)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        self.cors.get_ref()
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        self.cors.get_mut()
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.cors.into_inner()
    }
}

impl<S: fmt::Debug> fmt::Debug for CorsService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorsService")
            .field("inner", self.cors.get_ref())
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CorsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Default,
    ResBody: Default + From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.cors.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let config = self.config.clone();
        let origin = request.headers().get(ORIGIN).cloned();

        if request.method() != Method::OPTIONS {
            if let Some(origin) = &origin
                && !config.origins.allows(origin.as_bytes())
            {
                // Refused before the inner service runs: a write from a
                // foreign origin must have no effect.
                return ResponseFuture::refused(config.origin_not_allowed(origin), config);
            }
            let any_origin = config.origins.any;
            return ResponseFuture::simple(self.cors.call(request), config, any_origin);
        }

        // `tower-http` answers preflights without calling the inner service:
        // give it a bodiless copy to compute the CORS headers, and the
        // request itself to the inner service to learn what the URL is.
        let mut copy = Request::new(ReqBody::default());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        *copy.headers_mut() = request.headers().clone();
        let preflight = Preflight {
            origin,
            method: request
                .headers()
                .get(ACCESS_CONTROL_REQUEST_METHOD)
                .cloned(),
            headers: request
                .headers()
                .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
                .iter()
                .cloned()
                .collect::<Vec<HeaderValue>>(),
        };
        let answer = self.cors.call(copy);
        let probe = self.cors.get_mut().call(request);
        ResponseFuture::preflight(probe, answer, preflight, config)
    }
}
