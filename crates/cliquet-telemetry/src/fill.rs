//! [`ContextLayer`]: fills the [`RequestContext`] from the request head.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use crate::context::{FillContext, RequestContext};

/// Runs a [`FillContext`] function on each request that carries a
/// [`RequestContext`], to report its user, endpoint name and URL fields
/// from what inner layers put in its head.
///
/// Place it inside the authentication layer (and, in axum, as a
/// `route_layer`, where the matched route is known), the telemetry layers
/// being further out:
///
/// ```
/// use cliquet_telemetry::{ContextLayer, RequestContext};
///
/// /// What an authentication layer puts in the request's extensions.
/// #[derive(Clone)]
/// struct Identity { user_id: String, policy: &'static str }
///
/// let layer = ContextLayer::new(|parts: &http::request::Parts, context: &RequestContext| {
///     if let Some(identity) = parts.extensions.get::<Identity>() {
///         context.set_user(identity.user_id.clone(), identity.policy);
///     }
/// });
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct ContextLayer {
    fill: Arc<dyn FillContext>,
}

impl std::fmt::Debug for ContextLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextLayer").finish_non_exhaustive()
    }
}

impl ContextLayer {
    /// A layer running `fill`.
    pub fn new(fill: impl FillContext) -> Self {
        Self {
            fill: Arc::new(fill),
        }
    }
}

impl<S> Layer<S> for ContextLayer {
    type Service = ContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ContextService {
            inner,
            fill: self.fill.clone(),
        }
    }
}

/// The service of [`ContextLayer`].
#[derive(Clone)]
pub struct ContextService<S> {
    inner: S,
    fill: Arc<dyn FillContext>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for ContextService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for ContextService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (parts, body) = request.into_parts();
        if let Some(context) = parts.extensions.get::<RequestContext>() {
            self.fill.fill(&parts, context);
        }
        self.inner.call(Request::from_parts(parts, body))
    }
}
